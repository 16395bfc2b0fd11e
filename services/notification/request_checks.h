#pragma once

// Request checks of the gRPC adapter that need no server, so fuzz/ can call
// them directly. Each answers OK or INVALID_ARGUMENT naming every bad field.

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "care/notification/v1/notification.pb.h"

namespace care::notification {

// IngestEvent; `now` is the server clock (occurred_at may lead it by 5 min).
absl::Status ValidateIngest(const care::notification::v1::IngestEventRequest& r, absl::Time now);
absl::Status ValidatePreferences(const care::notification::v1::UpdatePreferencesRequest& r);
absl::Status ValidateConsent(const care::notification::v1::SetConsentRequest& r, absl::Time now);

}  // namespace care::notification
