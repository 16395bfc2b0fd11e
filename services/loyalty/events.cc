#include "services/loyalty/events.h"

#include <type_traits>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "clients/complaint/check_in_ticket.h"
#include "clients/notification/ingest_events.h"
#include "common/localized.h"
#include "common/privacy.h"

namespace care::loyalty {
namespace {

namespace notify = ::care::clients::notification;

// Ids end with a number or an entry id, so a member id holding ':' cannot
// make two ids collide.
std::string EventId(const Event& event) {
  return std::visit(
      [](const auto& e) -> std::string {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, ProfileChanged>) {
          return absl::StrCat("loyalty:profile:", e.member_id, ":", e.version);
        } else if constexpr (std::is_same_v<T, TierChanged>) {
          return absl::StrCat("loyalty:tier:", e.member_id, ":", e.version);
        } else if constexpr (std::is_same_v<T, PointsExpiring>) {
          return absl::StrCat("loyalty:expiring:", e.member_id, ":", absl::ToUnixSeconds(e.expire_time));
        } else if constexpr (std::is_same_v<T, BirthdayRewarded>) {
          return absl::StrCat("loyalty:birthday:", e.member_id, ":", e.year);
        } else if constexpr (std::is_same_v<T, OccasionRewarded>) {
          return absl::StrCat("loyalty:occasion:", e.occasion_id, ":", e.member_id, ":", e.occurrence);
        } else if constexpr (std::is_same_v<T, CheckInDue>) {
          return absl::StrCat("loyalty:checkin:", e.rule_id, ":", e.member_id, ":", e.contact);
        } else {
          // The entry id is "<member>/<seq>"; '/' is not allowed in an event
          // id (notification refused every visit reward as INVALID_FIELD).
          return absl::StrCat("loyalty:visit:", absl::StrReplaceAll(e.entry_id, {{"/", ":"}}));
        }
      },
      event);
}

notify::MemberProfileChange Payload(const ProfileChanged& e) {
  notify::MemberProfileChange out{
      e.member_id, e.profile.name, e.profile.locale, e.profile.time_zone, e.profile.email, e.profile.phone, {}};
  for (const Consent& c : e.profile.consents) out.consents.push_back({c.channel, c.granted, c.update_time});
  return out;
}
notify::TierChange Payload(const TierChanged& e) {
  return {e.member_id, e.old_tier_id, e.new_tier_id, e.tier_display_name, e.version, e.localized_tier_display_names};
}
notify::PointsExpiry Payload(const PointsExpiring& e) { return {e.member_id, e.points, e.expire_time}; }
notify::BirthdayReward Payload(const BirthdayRewarded& e) { return {e.member_id, e.points}; }
notify::OccasionReward Payload(const OccasionRewarded& e) {
  return {e.member_id,   e.occasion_id,           e.occurrence, e.occasion_name, e.localized_occasion_names, e.points,
          e.reward_name, e.localized_reward_names};
}
notify::CareCheckIn Payload(const CheckInDue& e) {
  return {e.member_id, e.rule_id, e.contact, e.rule_name, e.localized_rule_names};
}
notify::VisitReward Payload(const VisitRewarded& e) {
  return {e.member_id, e.visit_count, e.reward_name, e.localized_reward_names};
}

}  // namespace

OutboxEvent EventToOutbox(const Event& event, absl::Time occurred) {
  const notify::EventHeader header{EventId(event), "loyalty", occurred};
  return std::visit(
      [&](const auto& e) {
        OutboxEvent out = notify::IngestEvent(header, Payload(e));
        // Every payload names the member: an erasure deletes it, pending or not.
        out.subject = MemberSubject(e.member_id);
        return out;
      },
      event);
}

OutboxEvent CheckInToOutbox(const CadenceRule& rule, const Member& m, int contact, absl::Time occurred) {
  if (rule.action != CadenceRule::Action::kAgentTask) {
    return EventToOutbox(
        CheckInDue{m.member_id, rule.rule_id, contact, rule.display_name, rule.localized_display_names}, occurred);
  }
  const std::string& subject = PickLocalized(rule.localized_display_names, LocaleFallbackChain(m.profile.locale, ""),
                                             rule.display_name);
  return care::clients::complaint::CheckInTicketEvent({m.member_id, rule.rule_id, contact, subject, m.profile.locale,
                                                       rule.team_id});
}

}  // namespace care::loyalty
