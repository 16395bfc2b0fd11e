// Retention: inbox messages and deliveries are deleted, not hidden, once
// past their time (docs/privacy.md).

#include "common/retention.h"

#include "services/notification/notification_service.h"

namespace care::notification {
namespace {

constexpr char kRetentionJob[] = "notification.retention";

}  // namespace

bool NotificationService::RunRetention() {
  const absl::Time now = clock_.Now();
  const int batch = options_.retention_batch;
  auto purge_batch = [&](absl::string_view table, auto purge) {
    absl::StatusOr<int64_t> deleted = 0;
    absl::Status s = store_.Write([&](StoreTxn& tx) -> absl::Status {
      deleted = purge(tx);
      return deleted.status();
    });
    if (!s.ok()) deleted = s;
    return CountPurged(kRetentionJob, table, deleted, batch);
  };
  // An expired message is hidden at once (ListInbox); it is deleted
  // inbox_retention later.
  bool more = purge_batch("inbox",
                          [&](StoreTxn& tx) { return tx.PurgeExpiredInbox(now - options_.inbox_retention, batch); });
  more |= purge_batch("deliveries",
                      [&](StoreTxn& tx) { return tx.PurgeFinalDeliveries(now - options_.delivery_retention, batch); });
  return more;
}

}  // namespace care::notification
