#include "common/retention.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/audit.h"
#include "common/idempotency.h"
#include "common/jobs.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/outbox.h"

namespace care {
namespace {

absl::Duration Bounded(ConfigReader& c, absl::string_view name, absl::string_view help) {
  absl::Duration d = c.Duration(name, absl::Hours(24 * 30), help);
  if (d < RetentionOptions::kMin || d > RetentionOptions::kMax) {
    c.AddError(absl::StrCat(name, " must be between 24h (the contracts' promise) and 8784h (366 days), not ",
                            absl::FormatDuration(d)));
  }
  return d;
}

std::string Days(absl::Duration d) {
  return d % absl::Hours(24) == absl::ZeroDuration() ? absl::StrCat(d / absl::Hours(24), " days")
                                                     : absl::FormatDuration(d);
}

// One batch of `purge`; true when it was full.
template <typename Purge>
bool PurgeBatch(Database& db, absl::string_view table, int batch, Purge purge) {
  int64_t deleted = 0;
  absl::Status s = db.Write([&](Txn& txn) -> absl::Status {
    auto n = purge(txn);
    if (!n.ok()) return n.status();
    deleted = *n;
    return absl::OkStatus();
  });
  if (!s.ok()) {
    LogWarn("retention purge failed", {{"table", table}, {"error", s.message()}});
    return false;
  }
  if (deleted > 0) metrics::RetentionPurged().Inc({table}, static_cast<double>(deleted));
  return deleted >= batch;
}

}  // namespace

RetentionOptions RetentionOptions::Read(ConfigReader& c) {
  RetentionOptions o;
  o.idempotency = Bounded(c, "idempotency_retention",
                          "how long the first answer to a request id or event id is kept for retries "
                          "(24h..366d; natural keys such as order ids are kept for good)");
  o.outbox = Bounded(c, "outbox_retention",
                     "how long delivered outbox events are kept (24h..366d; "
                     "pending and dead events are never purged)");
  o.audit = ReadRetention(c, "audit_retention", o.audit, RetentionOptions::kAuditMin, RetentionOptions::kAuditMax,
                          "how long audit log entries (who changed or exported personal data and settings) are "
                          "kept (30d..3660d)");
  return o;
}

absl::Duration ReadRetention(ConfigReader& c, absl::string_view name, absl::Duration def, absl::Duration min,
                             absl::Duration max, absl::string_view help) {
  absl::Duration d = c.Duration(name, def, help);
  if (d < min || d > max) {
    c.AddError(absl::StrCat(name, " must be between ", Days(min), " and ", Days(max), ", not ",
                            absl::FormatDuration(d)));
  }
  return d;
}

bool CountPurged(absl::string_view job, absl::string_view table, const absl::StatusOr<int64_t>& deleted, int batch) {
  if (!deleted.ok()) {
    LogJobFailure(job, deleted.status());
    return false;
  }
  if (*deleted > 0) metrics::RetentionPurged().Inc({table}, static_cast<double>(*deleted));
  return *deleted >= batch;
}

bool PurgeExpired(Database& db, absl::Time now, const RetentionOptions& o) {
  bool more = PurgeBatch(db, "idempotency", o.batch,
                         [&](Txn& txn) { return PurgeIdempotencyBefore(txn, now - o.idempotency, o.batch); });
  more |= PurgeBatch(db, "outbox", o.batch,
                     [&](Txn& txn) { return PurgeDeliveredOutboxBefore(txn, now - o.outbox, o.batch); });
  more |= PurgeBatch(db, "audit_log", o.batch, [&](Txn& txn) { return PurgeAuditBefore(txn, now - o.audit, o.batch); });
  // Rows of replicas gone for a day (each new pod name leaves one): a live
  // replica rewrites its own every few seconds. Wall clock, as they are.
  more |= PurgeBatch(db, "write_probe", o.batch, [&](Txn& txn) {
    return txn.Exec("DELETE FROM write_probe WHERE at < ?1", absl::ToUnixMicros(absl::Now() - absl::Hours(24)));
  });
  return more;
}

}  // namespace care
