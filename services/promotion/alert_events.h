#pragma once

// The outbox events that tell notification about a campaign's alert
// (IngestEvent with PromotionAlert or PromotionAlertCancelled), built by
// clients/notification from the campaign version.

#include <vector>

#include "absl/time/time.h"
#include "care/promotion/v1/promotion.pb.h"
#include "common/store.h"

namespace care::promotion {

// The alert of campaign version `c` (or, `cancelled`, its withdrawal), due
// `notice` before the start. The event id, promotion:<campaign>:v<version>,
// is unique per version; notification deduplicates on it.
OutboxEvent AlertEvent(const care::promotion::v1::Campaign& c, absl::Duration notice, absl::Time now, bool cancelled);

// A member's redemption `r` tells notification which campaigns it applied
// (CampaignRedeemed: alert -> redemption conversion), one event per applied
// campaign with the id promotion:redeemed:<digest of order and campaign>;
// a guest's redemption, none. They go to their own outbox destination,
// kConversionDestination (the same peer), so conversions held back by a
// retry never delay an alert or its cancel behind them.
inline constexpr char kConversionDestination[] = "notification.conversions";
std::vector<OutboxEvent> RedeemedEvents(const care::promotion::v1::Redemption& r, absl::Time now);

}  // namespace care::promotion
