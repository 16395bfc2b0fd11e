#pragma once

// The outbox events that tell notification about a campaign's alert
// (IngestEvent with PromotionAlert or PromotionAlertCancelled), built by
// clients/notification from the campaign version.

#include "absl/time/time.h"
#include "care/promotion/v1/promotion.pb.h"
#include "common/store.h"

namespace care::promotion {

// The alert of campaign version `c` (or, `cancelled`, its withdrawal), due
// `notice` before the start. The event id, promotion:<campaign>:v<version>,
// is unique per version; notification deduplicates on it.
OutboxEvent AlertEvent(const care::promotion::v1::Campaign& c, absl::Duration notice, absl::Time now, bool cancelled);

}  // namespace care::promotion
