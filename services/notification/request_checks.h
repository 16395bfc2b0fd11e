#pragma once

// Request checks of the gRPC adapter that need no server, so fuzz/ can call
// them directly. Each answers OK or INVALID_ARGUMENT naming every bad field.

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "care/notification/v1/notification.pb.h"
#include "common/auth.h"

namespace care::notification {

// IngestEvent; `now` is the server clock (occurred_at may lead it by 5 min).
absl::Status ValidateIngest(const care::notification::v1::IngestEventRequest& r, absl::Time now);
// IngestEvent's sender: each kind only from the peer (ROLE_PEER) whose
// principal owns it (PromotionAlert* from svc:promotion, loyalty's events from
// svc:loyalty, complaint's from svc:complaint), Transactional from any caller
// the method admits. PERMISSION_DENIED / MISSING_ROLE for a caller without
// ROLE_PEER, EVENT_SOURCE_MISMATCH for another peer or a `source` that does
// not name the sender ("promotion" for svc:promotion).
absl::Status CheckEventSender(const care::notification::v1::IngestEventRequest& r, const Principal& sender);
// The principal that owns an event kind; "" when any caller may send it.
absl::string_view EventOwner(care::notification::v1::IngestEventRequest::EventCase kind);
absl::Status ValidatePreferences(const care::notification::v1::UpdatePreferencesRequest& r);
absl::Status ValidateConsent(const care::notification::v1::SetConsentRequest& r, absl::Time now);

}  // namespace care::notification
