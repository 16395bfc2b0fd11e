// ReplayDeadLetters: dead (and optionally failed) deliveries back to PENDING
// with a fresh attempt budget, once per request id.
#include "common/errors.h"
#include "common/proto_time.h"
#include "common/store.h"
#include "services/notification/notification_internal.h"
#include "services/notification/notification_service.h"

namespace care::notification {
namespace {

constexpr int kMaxReplay = 100000;
constexpr int kPage = 1000;

bool Replayable(const v1::Delivery& d, bool include_failed) {
  return d.status() == v1::DELIVERY_STATUS_DEAD_LETTER || (include_failed && d.status() == v1::DELIVERY_STATUS_FAILED);
}

}  // namespace

absl::StatusOr<v1::ReplayDeadLettersResponse> NotificationService::ReplayDeadLetters(const Once& once,
                                                                                     const DeadLetterReplay& what) {
  const absl::Time now = clock_.Now();
  const int max = what.max_deliveries > 0 && what.max_deliveries < kMaxReplay ? what.max_deliveries : kMaxReplay;
  return WriteOnce<v1::ReplayDeadLettersResponse>(store_, once, [&](StoreTxn& tx, v1::ReplayDeadLettersResponse& out) {
    auto replay = [&](v1::Delivery d) -> absl::Status {
      d.set_status(v1::DELIVERY_STATUS_PENDING);
      d.set_attempts(0);
      d.set_replay_count(d.replay_count() + 1);
      d.clear_provider_message_id();
      // Due at once; the dispatcher checks consent and expiry again.
      *d.mutable_next_attempt_time() = ToTimestamp(now);
      *d.mutable_update_time() = ToTimestamp(now);
      out.set_replayed_count(out.replayed_count() + 1);
      return tx.UpdateDelivery(d);
    };
    if (!what.delivery_ids.empty()) {
      for (const std::string& id : what.delivery_ids) {
        auto d = tx.GetDelivery(id);
        if (!d.ok()) return d.status();
        if (!*d || !Replayable(**d, what.include_failed) || out.replayed_count() >= max) {
          out.set_skipped_count(out.skipped_count() + 1);
          continue;
        }
        if (absl::Status s = replay(**d); !s.ok()) return s;
      }
      return absl::OkStatus();
    }
    DeliveryFilter filter = DeliveryFilterOf(what.filter);
    filter.statuses = {v1::DELIVERY_STATUS_DEAD_LETTER};
    if (what.include_failed) filter.statuses.push_back(v1::DELIVERY_STATUS_FAILED);
    int64_t before = 0;
    for (;;) {
      auto page = tx.ListDeliveries(filter, before, kPage);
      if (!page.ok()) return page.status();
      for (auto& [seq, d] : *page) {
        if (out.replayed_count() >= max) {
          out.set_more_remaining(true);
          return absl::OkStatus();
        }
        if (absl::Status s = replay(std::move(d)); !s.ok()) return s;
        before = seq;
      }
      if (page->size() < static_cast<size_t>(kPage)) return absl::OkStatus();
    }
  });
}

}  // namespace care::notification
