#pragma once

// Helpers the notification domain's concern files share (ingest, fan-out,
// dispatch, rendering); not part of the service's API.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "care/notification/v1/notification.pb.h"
#include "services/notification/notification_service.h"
#include "services/notification/notification_store.h"
#include "services/notification/recipient_time.h"

namespace care::notification {

// The member-id ranges (chunks) a new fan-out's audience is split in;
// members up to `after` count as stored.
std::vector<FanOutChunk> SplitAudience(const std::string& schedule_id, const std::string& after, int count);

// Loyalty's consents for a member: the newest effective time wins, and each
// change is kept in the consent history with source LOYALTY_PROFILE.
absl::Status ApplyLoyaltyConsents(StoreTxn& tx, const std::string& member_id,
                                  const std::vector<AudienceMember::Consent>& consents, const std::string& origin,
                                  absl::Time now);

// The contract's delivery filter in the store's terms.
DeliveryFilter DeliveryFilterOf(const v1::DeliveryFilter& filter);

// An absent (channel, category) preference is enabled.
bool PreferenceEnabled(const std::optional<v1::Preferences>& prefs, int channel, int category);

// The named zone; UTC when it is empty or unknown.
absl::TimeZone ZoneOrUtc(const std::string& name);

// The member's zone name: their own preference, else their profile's zone,
// else `fallback`.
std::string MemberZone(const MemberRow& member, const std::string& fallback);

// The member's send window: their own preference, else the default.
Window MemberWindow(const std::optional<v1::Preferences>& prefs, const v1::Settings& settings);

// Why `d` must not be sent now (UNSPECIFIED = send it): cancelled or ended
// campaign, preference off, no consent, channel or address missing,
// frequency cap. `unsubscribe`: whether this service can sign unsubscribe
// links (MARKETING e-mail needs one).
absl::StatusOr<v1::SuppressionReason> Check(StoreTxn& tx, const v1::Delivery& d, const v1::Settings& settings,
                                            absl::Time now, bool unsubscribe);

// The staff alert a staff delivery (Delivery.staff_id set) was made from;
// nullopt when its event is gone (deleted under retention).
absl::StatusOr<std::optional<v1::StaffAlert>> StaffAlertOf(StoreTxn& tx, const v1::Delivery& d);

// The contact a complaint message names instead of a member (the event's
// ContactRecipient); nullptr for a member's event.
const v1::ContactRecipient* ContactRecipientOf(const Event::Payload& p);
// How a contact's events and tombstone are keyed here ("contact:<id>"): an
// erased contact's later message is dropped, not delivered again.
inline std::string ContactKey(absl::string_view contact_id) { return absl::StrCat("contact:", contact_id); }
// The contact a contact's delivery (Delivery.contact_id set) goes to;
// nullopt when its event is gone (deleted under retention).
absl::StatusOr<std::optional<v1::ContactRecipient>> ContactOf(StoreTxn& tx, const v1::Delivery& d);

// FAILED_PRECONDITION, reason SUBJECT_ERASED, when the member was erased
// here (privacy.cc): a call must not re-create them.
absl::Status RefuseErasedMember(StoreTxn& tx, const std::string& member_id);

// Subject, body and addresses of `d` (render.cc); false (and `d` FAILED)
// when it cannot be rendered.
absl::StatusOr<bool> Render(StoreTxn& tx, v1::Delivery& d, const v1::Settings& settings, OutgoingMessage& out);

}  // namespace care::notification
