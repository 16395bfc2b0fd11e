#pragma once

// The payloads services send to notification's IngestEvent through their
// outbox. Each builder takes plain values and returns the OutboxEvent to
// enqueue (destination "notification"); the sender names the event id, on
// which notification deduplicates.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/store.h"  // OutboxEvent

namespace care::clients::notification {

inline constexpr char kIngestEventMethod[] = "/care.notification.v1.NotificationService/IngestEvent";

// Who sends the event, when it happened, and its unique id.
struct EventHeader {
  std::string event_id;
  std::string source;  // "loyalty", "promotion", "complaint"
  absl::Time occurred;
};

// Loyalty's events.
struct MemberProfileChange {
  std::string member_id, name, locale, time_zone, email, phone;
  struct Consent {
    int channel = 0;  // care.common.v1.MessageChannel
    bool granted = false;
    absl::Time update_time = absl::InfinitePast();  // InfinitePast: not known
  };
  std::vector<Consent> consents;
};
struct TierChange {
  std::string member_id, old_tier_id, new_tier_id, tier_display_name;
  int64_t version = 0;
  std::map<std::string, std::string> localized_tier_display_names;  // locale -> name
};
struct PointsExpiry {
  std::string member_id;
  int64_t points = 0;
  absl::Time expire_time;
};
struct BirthdayReward {
  std::string member_id;
  int64_t points = 0;
};
struct VisitReward {
  std::string member_id;
  int32_t visit_count = 0;
  std::string reward;
  std::map<std::string, std::string> localized_rewards;  // locale -> text
};
// A care cadence rule's check-in (loyalty's CadenceRule).
struct CareCheckIn {
  std::string member_id, rule_id;
  int32_t contact = 0;  // the member's n-th check-in under the rule
  std::string rule_name;
  std::map<std::string, std::string> localized_rule_names;  // locale -> name
};
struct OccasionReward {
  std::string member_id, occasion_id;
  int32_t occurrence = 0;  // a year, or an anniversary number
  std::string occasion_name;
  std::map<std::string, std::string> localized_occasion_names;  // locale -> name
  int64_t points = 0;
  std::string reward_name;                                    // the reward given with it, "" if none
  std::map<std::string, std::string> localized_reward_names;  // locale -> name
};

// Promotion's events: a campaign's alert, and its cancellation.
struct PromotionAlert {
  std::string campaign_id;
  int64_t campaign_version = 0;
  std::string title, description;
  std::vector<std::string> target_tier_ids, target_segments;
  std::vector<int> channels;  // care.common.v1.MessageChannel
  absl::Time starts_at, ends_at;
  absl::Duration notice;
  bool short_notice = false;
  std::string campaign_time_zone;
  std::map<std::string, std::string> variables;
  // locale -> text; notification picks one per member (common/localized.h).
  std::map<std::string, std::string> localized_titles, localized_descriptions;
};
struct PromotionAlertCancel {
  std::string campaign_id;
  int64_t campaign_version = 0;
};
// A member's redemption applied the campaign (alert -> redemption
// conversion); one per redemption and applied campaign.
struct CampaignRedemption {
  std::string member_id, campaign_id, order_id;
  absl::Time redeem_time;
};

// Complaint's events. A ticket filed by a contact without membership names
// the contact (with their address) instead of a member.
struct ContactRecipient {
  std::string contact_id, name, locale, time_zone;
  int channel = 0;  // care.common.v1.MessageChannel: EMAIL or WEBHOOK
  std::string email, phone;
};
enum class ComplaintUpdateKind { kUnspecified = 0, kAcknowledged = 1, kUpdated = 2, kResolved = 3 };
struct ComplaintUpdate {
  std::string member_id, complaint_id;
  ComplaintUpdateKind kind = ComplaintUpdateKind::kUnspecified;
  std::string message, locale_hint;
  std::optional<ContactRecipient> contact;
};
struct SatisfactionSurvey {
  std::string member_id, complaint_id, survey_token;
  absl::Time expire_time;
  std::optional<ContactRecipient> contact;
};
struct ProactiveCheckIn {
  std::string member_id, complaint_id;
  absl::Time due_time;
  std::optional<ContactRecipient> contact;
};

// An alert for one employee (complaint's staff directory entry) about one
// complaint; notification delivers it once per (staff_id, alert_key).
enum class StaffAlertKind { kEscalation, kBreachWarning, kCompensationApproval, kReopened };
struct StaffAlert {
  std::string staff_id, name, locale, time_zone;
  int channel = 0;  // care.common.v1.MessageChannel: WEBHOOK or EMAIL
  std::string email, webhook_address;
  StaffAlertKind kind = StaffAlertKind::kEscalation;  // the MESSAGE_KIND_STAFF_* kind
  std::string complaint_id, alert_key;
  int32_t level = 0;
  std::string sla_target, priority;
  absl::Time due_time = absl::InfinitePast();  // InfinitePast: none
  std::string compensation_id, compensation;
  int32_t reopen_count = 0;
};

OutboxEvent IngestEvent(const EventHeader& header, const MemberProfileChange& event);
OutboxEvent IngestEvent(const EventHeader& header, const TierChange& event);
OutboxEvent IngestEvent(const EventHeader& header, const PointsExpiry& event);
OutboxEvent IngestEvent(const EventHeader& header, const BirthdayReward& event);
OutboxEvent IngestEvent(const EventHeader& header, const VisitReward& event);
OutboxEvent IngestEvent(const EventHeader& header, const OccasionReward& event);
OutboxEvent IngestEvent(const EventHeader& header, const CareCheckIn& event);
OutboxEvent IngestEvent(const EventHeader& header, const PromotionAlert& event);
OutboxEvent IngestEvent(const EventHeader& header, const PromotionAlertCancel& event);
OutboxEvent IngestEvent(const EventHeader& header, const CampaignRedemption& event);
OutboxEvent IngestEvent(const EventHeader& header, const ComplaintUpdate& event);
OutboxEvent IngestEvent(const EventHeader& header, const SatisfactionSurvey& event);
OutboxEvent IngestEvent(const EventHeader& header, const ProactiveCheckIn& event);
OutboxEvent IngestEvent(const EventHeader& header, const StaffAlert& event);

}  // namespace care::clients::notification
