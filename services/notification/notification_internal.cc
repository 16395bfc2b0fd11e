#include "services/notification/notification_internal.h"

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/proto_time.h"

namespace care::notification {

DeliveryFilter DeliveryFilterOf(const v1::DeliveryFilter& f) {
  DeliveryFilter out;
  out.member_id = f.member_id();
  out.campaign_id = f.campaign_id();
  out.message_key = f.message_key();
  out.schedule_id = f.schedule_id();
  out.complaint_id = f.complaint_id();
  out.statuses.assign(f.statuses().begin(), f.statuses().end());
  out.suppression_reason = f.suppression_reason();
  out.channels.assign(f.channels().begin(), f.channels().end());
  out.kinds.assign(f.kinds().begin(), f.kinds().end());
  if (f.has_created_after()) out.created_after = FromTimestamp(f.created_after());
  if (f.has_created_before()) out.created_before = FromTimestamp(f.created_before());
  return out;
}

absl::Status ApplyLoyaltyConsents(StoreTxn& tx, const std::string& member_id,
                                  const std::vector<AudienceMember::Consent>& consents, const std::string& origin,
                                  absl::Time now) {
  for (const auto& c : consents) {
    auto held = tx.GetConsent(member_id, c.channel);
    if (!held.ok()) return held.status();
    if (*held && ((*held)->effective_at >= c.update_time || (*held)->granted == c.granted)) continue;
    if (absl::Status st = tx.PutConsent(member_id, c.channel, ConsentState{c.granted, c.update_time}); !st.ok()) {
      return st;
    }
    v1::ConsentRecord record;
    record.set_consent_id(StableId("con-", absl::StrCat(member_id, "\n", c.channel, "\n",
                                                        absl::ToUnixMicros(c.update_time), "\n", c.granted)));
    record.set_member_id(member_id);
    record.set_channel(static_cast<care::common::v1::MessageChannel>(c.channel));
    record.set_granted(c.granted);
    record.set_source(v1::CONSENT_SOURCE_LOYALTY_PROFILE);
    record.set_legal_basis(v1::LEGAL_BASIS_CONSENT);
    record.set_actor("loyalty");
    *record.mutable_effective_time() = ToTimestamp(c.update_time);
    *record.mutable_record_time() = ToTimestamp(now);
    record.set_applied(true);
    record.set_origin_id(origin);
    if (absl::Status st = tx.AppendConsentRecord(record); !st.ok()) return st;
  }
  return absl::OkStatus();
}

bool PreferenceEnabled(const std::optional<v1::Preferences>& prefs, int channel, int category) {
  if (!prefs) return true;
  for (const auto& p : prefs->channel_preferences()) {
    if (p.channel() == channel && p.category() == category) return p.enabled();
  }
  return true;
}

absl::TimeZone ZoneOrUtc(const std::string& name) {
  absl::TimeZone zone;
  if (name.empty() || !absl::LoadTimeZone(name, &zone)) return absl::UTCTimeZone();
  return zone;
}

std::string MemberZone(const MemberRow& member, const std::string& fallback) {
  if (member.preferences && !member.preferences->time_zone().empty()) return member.preferences->time_zone();
  if (!member.profile_zone.empty()) return member.profile_zone;
  return fallback;
}

Window MemberWindow(const std::optional<v1::Preferences>& prefs, const v1::Settings& settings) {
  return prefs && prefs->has_send_window() ? ToWindow(prefs->send_window()) : ToWindow(settings.default_send_window());
}

}  // namespace care::notification
