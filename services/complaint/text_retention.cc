// The text retention job (`complaint.text_retention`, docs/privacy.md): a
// closed ticket's free texts are deleted, not hidden, once it has been closed
// for --closed_complaint_text_retention. They are blanked exactly as an
// erasure blanks them (BlankTicket), so the ticket keeps every fact the desk's
// metrics read and GetComplaintMetrics answers as before.

#include "common/jobs.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/proto_time.h"
#include "common/retention.h"
#include "services/complaint/complaint_service.h"
#include "services/complaint/service_internal.h"

namespace care::complaint {
namespace {

constexpr char kTextRetentionJob[] = "complaint.text_retention";
// Tickets per transaction: each brings its audit trail, so fewer than the
// 1,000 rows of the other purges.
constexpr int kTextBatch = 100;

}  // namespace

bool ComplaintService::RunTextRetention() {
  const absl::Time now = Now();
  const absl::Time cutoff = now - options_.closed_text_retention;
  int64_t taken = 0;
  int64_t blanked = 0;
  TextCounts counts;
  absl::Status s = store_.Write([&](StoreTxn& tx) -> absl::Status {
    // A PostgreSQL retry starts the round afresh.
    taken = blanked = 0;
    counts.clear();
    auto due = tx.ClosedTextsDue(cutoff, kTextBatch);
    if (!due.ok()) return due.status();
    taken = static_cast<int64_t>(due->size());
    for (const std::string& id : *due) {
      auto c = Require(tx, id);
      if (!c.ok()) return c.status();
      // The ticket's own closing time decides; the index may hold the
      // migration's earlier estimate.
      std::optional<absl::Time> closed = ClosedAt(*c);
      if (!closed || *closed > cutoff) {
        if (absl::Status r = tx.RedateClose(id, closed); !r.ok()) return r;
        continue;
      }
      // Pending and dead events stay (goodwill still owed is still paid),
      // blanked once delivered.
      if (absl::Status b = BlankTicket(tx, *c, TaggedEvents::kDelivered, nullptr, counts); !b.ok()) return b;
      *c->mutable_texts_removed_time() = ToTimestamp(now);
      if (absl::Status w = Save(tx, *c, now); !w.ok()) return w;
      ++blanked;
    }
    return absl::OkStatus();
  });
  CountPurged(kTextRetentionJob, "complaint_texts",
              s.ok() ? absl::StatusOr<int64_t>(blanked) : absl::StatusOr<int64_t>(s), kTextBatch);
  if (!s.ok()) return false;
  if (blanked == 0) return taken >= kTextBatch;
  for (const auto& [table, kind] :
       {std::pair<const char*, const char*>{"idempotency", "idempotency_record"}, {"outbox", "outbox_event"}}) {
    if (counts[kind] > 0) metrics::RetentionPurged().Inc({table}, static_cast<double>(counts[kind]));
  }
  LogInfo("closed complaint texts removed", {{"complaints", blanked},
                                             {"replies", counts["reply"]},
                                             {"notes", counts["note"]},
                                             {"customer_messages", counts["customer_message"]},
                                             {"idempotency_records", counts["idempotency_record"]},
                                             {"outbox_events", counts["outbox_event"]}});
  // What was overwritten or deleted leaves the SQLite files too.
  if (options_.scrub != nullptr) options_.scrub->Request(kTextRetentionJob);
  return taken >= kTextBatch;
}

}  // namespace care::complaint
