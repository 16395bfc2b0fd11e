#pragma once

// The Prometheus families the notification service exports beside the
// runtime's (common/metrics.h); main() adds DeclareMetrics to the catalog.

#include "common/metrics.h"

namespace care::notification {

// care_notification_deliveries_total{channel,status}: deliveries by outcome.
inline metrics::Counter& DeliveriesMetric() {
  static auto& f = metrics::Registry::Global().Counter("care_notification_deliveries_total",
                                                       "Notification deliveries by channel and status.",
                                                       {"channel", "status"});
  return f;
}

// care_notification_inbox_feed_reads_total: SubscribeInbox reads of the feed
// (an idle stream makes none until a change for its members commits).
inline metrics::Counter& InboxFeedReadsMetric() {
  static auto& f = metrics::Registry::Global().Counter("care_notification_inbox_feed_reads_total",
                                                       "SubscribeInbox reads of the inbox feed (database queries).");
  return f;
}

inline void DeclareMetrics() {
  DeliveriesMetric();
  InboxFeedReadsMetric();
}

}  // namespace care::notification
