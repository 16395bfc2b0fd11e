#include "services/notification/notification_service.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/proto_time.h"
#include "common/store.h"
#include "services/notification/prometheus.h"
#include "services/notification/templates.h"

namespace care::notification {
namespace {

using care::common::v1::MessageChannel;

constexpr char kIngestScope[] = "notification.IngestEvent";
constexpr char kMarkReadScope[] = "notification.MarkInboxMessageRead";

uint64_t Fnv(absl::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string HexId(absl::string_view prefix, absl::string_view key) {
  return absl::StrFormat("%s%016x", prefix, Fnv(key));
}

// Loyalty's consents for a member: the newest effective time wins, and each
// change is kept in the consent history with source LOYALTY_PROFILE.
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
    record.set_consent_id(HexId("con-", absl::StrCat(member_id, "\n", c.channel, "\n",
                                                      absl::ToUnixMicros(c.update_time), "\n", c.granted)));
    record.set_member_id(member_id);
    record.set_channel(static_cast<MessageChannel>(c.channel));
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

bool Deferred(v1::MessageKind kind) {
  switch (kind) {
    case v1::MESSAGE_KIND_TIER_CHANGED:
    case v1::MESSAGE_KIND_POINTS_EXPIRING:
    case v1::MESSAGE_KIND_BIRTHDAY_REWARD:
    case v1::MESSAGE_KIND_VISIT_REWARD:
    case v1::MESSAGE_KIND_SATISFACTION_SURVEY:
    case v1::MESSAGE_KIND_PROACTIVE_CHECK_IN:
      return true;
    default:
      return false;
  }
}

// An absent (channel, category) preference is enabled.
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

std::vector<int> AlertChannels(const v1::PromotionAlert& alert, const v1::Settings& settings) {
  std::vector<int> out;
  for (int c : alert.channels()) {
    if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  }
  if (!out.empty()) return out;
  for (const auto& kc : settings.kind_channels()) {
    if (kc.kind() == v1::MESSAGE_KIND_PROMOTION_ALERT) return std::vector<int>(kc.channels().begin(), kc.channels().end());
  }
  return {care::common::v1::MESSAGE_CHANNEL_IN_APP, care::common::v1::MESSAGE_CHANNEL_EMAIL};
}

// True when the alert's due time is a promise to keep (starts_at - notice):
// nothing is sent after it. Not after short notice or an event that came
// after its due time: then due is the ingest time and the alert goes at
// once, within the member's window.
bool KeepsNotice(const v1::Schedule& s) {
  const v1::PromotionAlert& a = s.promotion_alert();
  return s.has_promotion_alert() && !a.short_notice() &&
         FromTimestamp(s.due_time()) == FromTimestamp(a.starts_at()) - FromDurationProto(a.notice());
}

}  // namespace

Window ToWindow(const v1::SendWindow& w) {
  return Window{w.start().hours() * 60 + w.start().minutes(), w.end().hours() * 60 + w.end().minutes()};
}

NotificationService::NotificationService(NotificationStore& store, const Clock& clock, AudienceSource* audience,
                                         NotificationOptions options)
    : store_(store), clock_(clock), audience_(audience), options_(options) {}

std::string NotificationService::DeliveryId(const std::string& member_id, const std::string& message_key,
                                            int channel) {
  // The message's hash first, then the member: one fan-out's deliveries
  // (members streamed in id order) are appended side by side in the id
  // indexes instead of landing on random pages of tables that hold millions.
  return absl::StrFormat("dlv-%016x-%s", (Fnv(absl::StrCat(message_key, "\n", channel))),
                         member_id);
}

v1::Settings NotificationService::DefaultSettings() {
  v1::Settings s;
  s.mutable_frequency_cap()->set_max_messages(5);
  *s.mutable_frequency_cap()->mutable_window() = ToDurationProto(absl::Hours(168));
  s.mutable_retry_policy()->set_max_attempts(8);
  *s.mutable_retry_policy()->mutable_initial_backoff() = ToDurationProto(absl::Seconds(10));
  *s.mutable_retry_policy()->mutable_max_backoff() = ToDurationProto(absl::Minutes(15));
  s.mutable_retry_policy()->set_multiplier(2.0);
  s.mutable_default_send_window()->mutable_start()->set_hours(8);
  s.mutable_default_send_window()->mutable_end()->set_hours(21);
  s.set_default_time_zone("UTC");
  s.set_default_locale("en");
  *s.mutable_quiet_hours_margin() = ToDurationProto(absl::Minutes(15));
  *s.mutable_in_app()->mutable_retention() = ToDurationProto(absl::Hours(24 * 365));
  *s.mutable_in_app()->mutable_replay_window() = ToDurationProto(absl::Hours(24 * 7));
  return s;
}

absl::StatusOr<v1::Settings> NotificationService::CurrentSettings() {
  v1::Settings out = DefaultSettings();
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto stored = tx.GetSettings();
    if (!stored.ok()) return stored.status();
    if (*stored) out = **stored;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

// ------------------------------------------------------------------ ingest

absl::StatusOr<v1::IngestEventResponse> NotificationService::Ingest(const v1::IngestEventRequest& request) {
  auto settings = CurrentSettings();
  if (!settings.ok()) return settings.status();
  // Deduplicated on event_id alone (the fingerprint covers only the id),
  // within the sending service's own ids: its principal owns them.
  v1::IngestEventRequest fingerprint;
  fingerprint.set_event_id(request.event_id());
  const std::string sender = CallerIdentity::Current();
  const IdempotencyKey key{sender, kIngestScope, request.event_id()};
  v1::IngestEventResponse resp;
  absl::Status s = store_.Write([&](StoreTxn& tx) -> absl::Status {
    resp.Clear();
    auto replayed = tx.Replay(key, fingerprint, &resp);
    if (!replayed.ok()) return replayed.status();
    if (*replayed) {
      resp.set_duplicate(true);
      return absl::OkStatus();
    }
    resp.set_event_id(request.event_id());
    absl::Status applied;
    switch (request.event_case()) {
      case v1::IngestEventRequest::kPromotionAlert:
        applied = ApplyAlert(tx, request, *settings, &resp);
        break;
      case v1::IngestEventRequest::kPromotionAlertCancelled:
        applied = ApplyCancel(tx, request, &resp);
        break;
      case v1::IngestEventRequest::kMemberProfileChanged:
        applied = ApplyProfile(tx, request, &resp);
        break;
      case v1::IngestEventRequest::kComplaintUpdate:
      case v1::IngestEventRequest::kSatisfactionSurvey:
      case v1::IngestEventRequest::kProactiveCheckIn:
      case v1::IngestEventRequest::kTierChanged:
      case v1::IngestEventRequest::kPointsExpiring:
      case v1::IngestEventRequest::kBirthdayReward:
      case v1::IngestEventRequest::kVisitRewardEarned:
      case v1::IngestEventRequest::kTransactional:
        applied = ApplyDirect(tx, request, *settings, clock_.Now(), &resp);
        break;
      default:
        resp.set_outcome(v1::INGEST_OUTCOME_STALE_IGNORED);
        break;
    }
    if (!applied.ok()) return applied;
    return tx.Remember(key, fingerprint, resp);
  });
  if (!s.ok()) return s;
  return resp;
}

absl::Status NotificationService::ApplyAlert(StoreTxn& tx, const v1::IngestEventRequest& req,
                                             const v1::Settings& settings, v1::IngestEventResponse* resp) {
  const v1::PromotionAlert& alert = req.promotion_alert();
  const absl::Time now = clock_.Now();
  resp->set_message_key(PromotionAlertKey(alert.campaign_id()));
  auto existing = tx.GetScheduleByCampaign(alert.campaign_id());
  if (!existing.ok()) return existing.status();
  ScheduleRow row;
  if (*existing) {
    row = std::move(**existing);
    v1::Schedule& s = row.schedule;
    resp->set_schedule_id(s.schedule_id());
    if (s.state() == v1::SCHEDULE_STATE_CANCELLED || alert.campaign_version() <= s.campaign_version()) {
      resp->set_outcome(v1::INGEST_OUTCOME_STALE_IGNORED);
      return absl::OkStatus();
    }
    if (s.state() == v1::SCHEDULE_STATE_COMPLETED) {
      resp->set_outcome(v1::INGEST_OUTCOME_ALREADY_SENT);
      return absl::OkStatus();
    }
  } else {
    row.schedule.set_schedule_id(HexId("sch-", "promotion-alert\n" + alert.campaign_id()));
    row.schedule.set_kind(v1::MESSAGE_KIND_PROMOTION_ALERT);
    row.schedule.set_campaign_id(alert.campaign_id());
    row.schedule.set_message_key(PromotionAlertKey(alert.campaign_id()));
    row.schedule.set_state(v1::SCHEDULE_STATE_SCHEDULED);
    *row.schedule.mutable_create_time() = ToTimestamp(now);
    resp->set_schedule_id(row.schedule.schedule_id());
  }
  v1::Schedule& s = row.schedule;
  s.set_campaign_version(alert.campaign_version());
  *s.mutable_promotion_alert() = alert;
  s.set_last_event_id(req.event_id());
  *s.mutable_update_time() = ToTimestamp(now);
  s.set_version(s.version() + 1);
  s.clear_channels();
  for (int c : AlertChannels(alert, settings)) s.add_channels(static_cast<MessageChannel>(c));
  // A RUNNING fan-out keeps its timing; the new text is used for what is
  // still to be sent.
  if (s.state() == v1::SCHEDULE_STATE_SCHEDULED) {
    absl::Time due = FromTimestamp(alert.starts_at()) - FromDurationProto(alert.notice());
    if (alert.short_notice() || due < now) due = now;
    // Members' own windows may be as short as a minute, so the fan-out
    // starts a whole (daylight-saving-lengthened) night ahead: every
    // member's previous window is then still to come.
    absl::Duration lead = kMaxQuietSpan + std::max(absl::ZeroDuration(), FromDurationProto(settings.quiet_hours_margin()));
    *s.mutable_due_time() = ToTimestamp(due);
    *s.mutable_fan_out_time() = ToTimestamp(due - lead);
  }
  resp->set_outcome(v1::INGEST_OUTCOME_APPLIED);
  return tx.PutSchedule(row);
}

absl::Status NotificationService::ApplyCancel(StoreTxn& tx, const v1::IngestEventRequest& req,
                                              v1::IngestEventResponse* resp) {
  const v1::PromotionAlertCancelled& cancel = req.promotion_alert_cancelled();
  const absl::Time now = clock_.Now();
  resp->set_message_key(PromotionAlertKey(cancel.campaign_id()));
  auto existing = tx.GetScheduleByCampaign(cancel.campaign_id());
  if (!existing.ok()) return existing.status();
  ScheduleRow row;
  if (*existing) {
    row = std::move(**existing);
    resp->set_schedule_id(row.schedule.schedule_id());
    if (row.schedule.state() == v1::SCHEDULE_STATE_CANCELLED ||
        cancel.campaign_version() < row.schedule.campaign_version()) {
      resp->set_outcome(v1::INGEST_OUTCOME_STALE_IGNORED);
      return absl::OkStatus();
    }
    if (row.schedule.state() == v1::SCHEDULE_STATE_COMPLETED) {
      // Everything is fanned out; what is not sent yet is suppressed below.
    }
  } else {
    // Never seen: recorded so a late alert cannot revive the campaign.
    row.schedule.set_schedule_id(HexId("sch-", "promotion-alert\n" + cancel.campaign_id()));
    row.schedule.set_kind(v1::MESSAGE_KIND_PROMOTION_ALERT);
    row.schedule.set_campaign_id(cancel.campaign_id());
    row.schedule.set_message_key(PromotionAlertKey(cancel.campaign_id()));
    *row.schedule.mutable_create_time() = ToTimestamp(now);
    *row.schedule.mutable_due_time() = ToTimestamp(now);
    *row.schedule.mutable_fan_out_time() = ToTimestamp(now);
    resp->set_schedule_id(row.schedule.schedule_id());
  }
  v1::Schedule& s = row.schedule;
  s.set_state(v1::SCHEDULE_STATE_CANCELLED);
  s.set_campaign_version(std::max(s.campaign_version(), cancel.campaign_version()));
  *s.mutable_cancel_time() = ToTimestamp(now);
  *s.mutable_update_time() = ToTimestamp(now);
  s.set_last_event_id(req.event_id());
  s.set_version(s.version() + 1);
  resp->set_outcome(v1::INGEST_OUTCOME_APPLIED);
  if (absl::Status st = tx.PutSchedule(row); !st.ok()) return st;
  // Deliveries not sent yet end SUPPRESSED / CAMPAIGN_CANCELLED (the
  // dispatcher also checks the schedule before each send).
  int64_t after = 0;
  for (;;) {
    auto pending = tx.PendingOfSchedule(s.schedule_id(), after, 1000);
    if (!pending.ok()) return pending.status();
    for (auto& [seq, d] : *pending) {
      after = seq;
      d.set_status(v1::DELIVERY_STATUS_SUPPRESSED);
      d.set_suppression_reason(v1::SUPPRESSION_REASON_CAMPAIGN_CANCELLED);
      d.clear_next_attempt_time();
      *d.mutable_update_time() = ToTimestamp(now);
      if (absl::Status st = tx.UpdateDelivery(d); !st.ok()) return st;
    }
    if (pending->size() < 1000) break;
  }
  return absl::OkStatus();
}

absl::Status NotificationService::ApplyDirect(StoreTxn& tx, const v1::IngestEventRequest& req,
                                              const v1::Settings& settings, absl::Time now,
                                              v1::IngestEventResponse* resp) {
  v1::Delivery d;
  absl::Time send_after = now;
  std::string message_key;
  std::vector<int> channels;
  switch (req.event_case()) {
    case v1::IngestEventRequest::kComplaintUpdate: {
      const auto& u = req.complaint_update();
      d.set_member_id(u.member_id());
      d.set_complaint_id(u.complaint_id());
      d.set_kind(u.kind() == v1::COMPLAINT_UPDATE_KIND_ACKNOWLEDGED ? v1::MESSAGE_KIND_COMPLAINT_ACKNOWLEDGED
                 : u.kind() == v1::COMPLAINT_UPDATE_KIND_RESOLVED   ? v1::MESSAGE_KIND_COMPLAINT_RESOLVED
                                                                    : v1::MESSAGE_KIND_COMPLAINT_UPDATED);
      break;
    }
    case v1::IngestEventRequest::kSatisfactionSurvey:
      d.set_member_id(req.satisfaction_survey().member_id());
      d.set_complaint_id(req.satisfaction_survey().complaint_id());
      d.set_kind(v1::MESSAGE_KIND_SATISFACTION_SURVEY);
      break;
    case v1::IngestEventRequest::kProactiveCheckIn:
      d.set_member_id(req.proactive_check_in().member_id());
      d.set_complaint_id(req.proactive_check_in().complaint_id());
      d.set_kind(v1::MESSAGE_KIND_PROACTIVE_CHECK_IN);
      if (req.proactive_check_in().has_due_time()) {
        send_after = std::max(now, FromTimestamp(req.proactive_check_in().due_time()));
      }
      break;
    case v1::IngestEventRequest::kTierChanged:
      d.set_member_id(req.tier_changed().member_id());
      d.set_kind(v1::MESSAGE_KIND_TIER_CHANGED);
      // One message per tier version, whichever event carried it.
      message_key = absl::StrCat("tier-changed/v", req.tier_changed().version());
      break;
    case v1::IngestEventRequest::kPointsExpiring:
      d.set_member_id(req.points_expiring().member_id());
      d.set_kind(v1::MESSAGE_KIND_POINTS_EXPIRING);
      message_key = absl::StrCat("points-expiring/", absl::ToUnixSeconds(FromTimestamp(req.points_expiring().expire_time())));
      break;
    case v1::IngestEventRequest::kBirthdayReward:
      d.set_member_id(req.birthday_reward().member_id());
      d.set_kind(v1::MESSAGE_KIND_BIRTHDAY_REWARD);
      break;
    case v1::IngestEventRequest::kVisitRewardEarned:
      d.set_member_id(req.visit_reward_earned().member_id());
      d.set_kind(v1::MESSAGE_KIND_VISIT_REWARD);
      message_key = absl::StrCat("visit-reward/", req.visit_reward_earned().visit_count());
      break;
    case v1::IngestEventRequest::kTransactional: {
      const v1::Transactional& t = req.transactional();
      d.set_member_id(t.member_id());
      d.set_kind(v1::MESSAGE_KIND_TRANSACTIONAL);
      // The template must exist in some locale and channel before anything is queued.
      v1::ListTemplatesRequest filter;
      filter.set_kind(v1::MESSAGE_KIND_TRANSACTIONAL);
      filter.set_template_key(t.template_key());
      auto found = tx.ListTemplates(filter, std::nullopt, 1);
      if (!found.ok()) return found.status();
      if (found->empty()) {
        return FailedPrecondition("TEMPLATE_NOT_FOUND", absl::StrCat("no template with key ", t.template_key()));
      }
      if (!t.message_key().empty()) message_key = absl::StrCat("transactional/", t.template_key(), "/", t.message_key());
      for (int c : t.channels()) channels.push_back(c);
      break;
    }
    default:
      return absl::OkStatus();
  }
  if (channels.empty()) channels.push_back(care::common::v1::MESSAGE_CHANNEL_IN_APP);
  // Non-urgent kinds wait for the member's next send window ("defer");
  // complaint news and generic transactional messages go at once.
  if (Deferred(d.kind())) {
    auto member = tx.GetMember(d.member_id());
    if (!member.ok()) return member.status();
    std::optional<v1::Preferences> prefs = *member ? (*member)->preferences : std::nullopt;
    std::string zone = prefs && !prefs->time_zone().empty() ? prefs->time_zone()
                       : *member && !(*member)->profile_zone.empty() ? (*member)->profile_zone
                                                                     : settings.default_time_zone();
    Window window = prefs && prefs->has_send_window() ? ToWindow(prefs->send_window())
                                                      : ToWindow(settings.default_send_window());
    SendTime when = DeferredSendTime(send_after, now, ZoneOrUtc(zone), window);
    send_after = when.send_after;
    d.set_quiet_hours_adjusted(when.adjusted);
  }
  // One message per source event unless the event has a natural key.
  d.set_message_key(message_key.empty() ? req.event_id() : message_key);
  d.set_category(v1::MESSAGE_CATEGORY_TRANSACTIONAL);
  d.set_event_id(req.event_id());
  d.set_source(req.source());
  d.set_status(v1::DELIVERY_STATUS_PENDING);
  *d.mutable_send_after() = ToTimestamp(send_after);
  *d.mutable_create_time() = ToTimestamp(now);
  *d.mutable_update_time() = ToTimestamp(now);
  for (int channel : channels) {
    d.set_channel(static_cast<MessageChannel>(channel));
    d.set_delivery_id(DeliveryId(d.member_id(), d.message_key(), d.channel()));
    if (absl::Status s = tx.PutDeliveryEvent(d.delivery_id(), req); !s.ok()) return s;
    auto inserted = tx.InsertDelivery(d);
    if (!inserted.ok()) return inserted.status();
  }
  resp->set_outcome(v1::INGEST_OUTCOME_APPLIED);
  resp->set_message_key(d.message_key());
  return absl::OkStatus();
}

absl::Status NotificationService::ApplyProfile(StoreTxn& tx, const v1::IngestEventRequest& req,
                                               v1::IngestEventResponse* resp) {
  const v1::MemberProfileChanged& p = req.member_profile_changed();
  const absl::Time occurred = FromTimestamp(req.occurred_at());
  auto stored = tx.GetMember(p.member_id());
  if (!stored.ok()) return stored.status();
  MemberRow member = stored->value_or(MemberRow{});
  // Events may arrive out of order: an older profile does not overwrite a newer one.
  if (*stored && member.profile_at > occurred) {
    resp->set_outcome(v1::INGEST_OUTCOME_STALE_IGNORED);
    return absl::OkStatus();
  }
  member.member_id = p.member_id();
  member.name = p.name();
  member.email = p.email();
  member.phone = p.phone();
  member.profile_locale = p.locale();
  member.profile_zone = p.time_zone();
  member.profile_at = occurred;
  if (absl::Status s = tx.PutMember(member); !s.ok()) return s;
  std::vector<AudienceMember::Consent> consents;
  for (const auto& c : p.consents()) {
    consents.push_back({c.channel(), c.granted(), c.has_update_time() ? FromTimestamp(c.update_time()) : occurred});
  }
  if (absl::Status s = ApplyLoyaltyConsents(tx, p.member_id(), consents, req.event_id(), clock_.Now()); !s.ok()) {
    return s;
  }
  resp->set_outcome(v1::INGEST_OUTCOME_APPLIED);
  return absl::OkStatus();
}

// ----------------------------------------------------------------- fan-out

bool NotificationService::RunFanOut() {
  if (audience_ == nullptr) return false;
  auto settings = CurrentSettings();
  if (!settings.ok()) return false;
  std::vector<ScheduleRow> due;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto rows = tx.DueSchedules(clock_.Now(), absl::Now(), 1);
    if (!rows.ok()) return rows.status();
    due = std::move(*rows);
    return absl::OkStatus();
  });
  if (!s.ok() || due.empty()) return false;
  absl::Status done = FanOut(due.front(), *settings);
  if (!done.ok()) {
    LogWarn(absl::StrCat("fan-out of schedule ", due.front().schedule.schedule_id(), " stopped: ", done.message()));
    std::string id = due.front().schedule.schedule_id();
    std::string error = absl::IsCancelled(done) ? "" : "loyalty unavailable, retrying";
    (void)store_.Write([&](StoreTxn& tx) -> absl::Status {
      auto row = tx.GetSchedule(id);
      if (!row.ok() || !*row) return row.status();
      if ((*row)->schedule.state() != v1::SCHEDULE_STATE_RUNNING) return absl::OkStatus();
      (*row)->schedule.set_last_error(error);
      (*row)->retry_at = absl::Now() + options_.fan_out_retry;
      return tx.PutSchedule(**row);
    });
    return false;
  }
  return true;  // maybe another schedule is due
}

absl::Status NotificationService::FanOut(const ScheduleRow& start, const v1::Settings& settings) {
  const std::string id = start.schedule.schedule_id();
  AudienceQuery query;
  const v1::PromotionAlert& alert = start.schedule.promotion_alert();
  query.tier_ids.assign(alert.target_tier_ids().begin(), alert.target_tier_ids().end());
  query.segments.assign(alert.target_segments().begin(), alert.target_segments().end());
  query.after_member_id = start.after_member_id;
  // Enter RUNNING (durably) before reading the audience.
  if (start.schedule.state() == v1::SCHEDULE_STATE_SCHEDULED) {
    absl::Status s = store_.Write([&](StoreTxn& tx) -> absl::Status {
      auto row = tx.GetSchedule(id);
      if (!row.ok()) return row.status();
      if (!*row || (*row)->schedule.state() != v1::SCHEDULE_STATE_SCHEDULED) return absl::OkStatus();
      (*row)->schedule.set_state(v1::SCHEDULE_STATE_RUNNING);
      *(*row)->schedule.mutable_start_time() = ToTimestamp(clock_.Now());
      (*row)->schedule.set_version((*row)->schedule.version() + 1);
      return tx.PutSchedule(**row);
    });
    if (!s.ok()) return s;
  }
  absl::Status streamed = audience_->Stream(query, options_.fan_out_batch, [&](std::vector<AudienceMember> batch) {
    return StoreBatch(id, batch, settings);
  });
  if (!streamed.ok()) return streamed;
  return store_.Write([&](StoreTxn& tx) -> absl::Status {
    auto row = tx.GetSchedule(id);
    if (!row.ok()) return row.status();
    if (!*row || (*row)->schedule.state() != v1::SCHEDULE_STATE_RUNNING) return absl::OkStatus();
    v1::Schedule& s = (*row)->schedule;
    s.set_state(v1::SCHEDULE_STATE_COMPLETED);
    s.clear_last_error();
    *s.mutable_complete_time() = ToTimestamp(clock_.Now());
    s.set_version(s.version() + 1);
    return tx.PutSchedule(**row);
  });
}

absl::Status NotificationService::StoreBatch(const std::string& schedule_id, const std::vector<AudienceMember>& batch,
                                             const v1::Settings& settings) {
  const absl::Time now = clock_.Now();
  std::map<std::pair<int, int>, int64_t> outcomes;
  std::vector<std::string> inboxes;  // members given an inbox message
  absl::Status stored = store_.Write([&](StoreTxn& tx) -> absl::Status {
    outcomes.clear();
    inboxes.clear();
    auto row = tx.GetSchedule(schedule_id);
    if (!row.ok()) return row.status();
    if (!*row || (*row)->schedule.state() != v1::SCHEDULE_STATE_RUNNING) {
      return absl::CancelledError("schedule no longer running");
    }
    v1::Schedule& s = (*row)->schedule;
    const v1::PromotionAlert& alert = s.promotion_alert();
    MarketingDue due;
    due.due = FromTimestamp(s.due_time());
    due.keep_notice = KeepsNotice(s);
    due.margin = FromDurationProto(settings.quiet_hours_margin());
    if (alert.has_ends_at()) due.ends_at = FromTimestamp(alert.ends_at());
    due.grace = kFanOutGrace;
    for (const AudienceMember& m : batch) {
      if (m.member_id <= (*row)->after_member_id) continue;  // already stored before a restart
      // Loyalty's profile as of now; the member's own preferences stay.
      auto stored = tx.GetMember(m.member_id);
      if (!stored.ok()) return stored.status();
      MemberRow member = stored->value_or(MemberRow{});
      member.member_id = m.member_id;
      member.name = m.name;
      member.email = m.email;
      member.phone = m.phone;
      member.profile_locale = m.locale;
      member.profile_zone = m.time_zone;
      member.profile_at = now;
      if (absl::Status st = tx.PutMember(member); !st.ok()) return st;
      if (absl::Status st = ApplyLoyaltyConsents(tx, m.member_id, m.consents, s.schedule_id(), now); !st.ok()) {
        return st;
      }
      // Recipient time.
      std::string zone_name = member.preferences && !member.preferences->time_zone().empty()
                                  ? member.preferences->time_zone()
                                  : !m.time_zone.empty()               ? m.time_zone
                                  : !alert.campaign_time_zone().empty() ? alert.campaign_time_zone()
                                                                        : settings.default_time_zone();
      Window window = member.preferences && member.preferences->has_send_window()
                          ? ToWindow(member.preferences->send_window())
                          : ToWindow(settings.default_send_window());
      SendTime when = MarketingSendTime(due, now, ZoneOrUtc(zone_name), window);
      for (int channel : s.channels()) {
        v1::Delivery d;
        d.set_delivery_id(DeliveryId(m.member_id, s.message_key(), channel));
        d.set_member_id(m.member_id);
        d.set_message_key(s.message_key());
        d.set_channel(static_cast<MessageChannel>(channel));
        d.set_kind(v1::MESSAGE_KIND_PROMOTION_ALERT);
        d.set_category(v1::MESSAGE_CATEGORY_MARKETING);
        d.set_event_id(s.last_event_id());
        d.set_schedule_id(s.schedule_id());
        d.set_campaign_id(s.campaign_id());
        d.set_source("promotion");
        d.set_status(v1::DELIVERY_STATUS_PENDING);
        *d.mutable_send_after() = ToTimestamp(when.send_after);
        d.set_quiet_hours_adjusted(when.adjusted);
        if (when.suppress != NoSendTime::kNone) {
          d.set_status(v1::DELIVERY_STATUS_SUPPRESSED);
          d.set_suppression_reason(when.suppress == NoSendTime::kExpired ? v1::SUPPRESSION_REASON_EXPIRED
                                                                         : v1::SUPPRESSION_REASON_NO_WINDOW_BEFORE_DUE);
        }
        *d.mutable_create_time() = ToTimestamp(now);
        *d.mutable_update_time() = ToTimestamp(now);
        if (d.status() == v1::DELIVERY_STATUS_PENDING && channel == care::common::v1::MESSAGE_CHANNEL_IN_APP &&
            when.send_after <= now) {
          // Due already: delivered here, in the transaction that creates it,
          // exactly as the dispatcher would at once; a million-member
          // fan-out then writes each delivery once instead of twice.
          auto existing = tx.GetDeliveryByKey(d.member_id(), d.message_key(), channel);
          if (!existing.ok()) return existing.status();
          if (*existing) continue;
          std::vector<OutgoingMessage> none;  // IN_APP claims nothing
          if (absl::Status st = Attempt(tx, d, settings, now, none); !st.ok()) return st;
          ++outcomes[{channel, d.status()}];
          if (!d.inbox_message_id().empty() && d.status() == v1::DELIVERY_STATUS_SENT) inboxes.push_back(m.member_id);
        }
        auto inserted = tx.InsertDelivery(d);
        if (!inserted.ok()) return inserted.status();
        if (*inserted) s.set_deliveries_created(s.deliveries_created() + 1);
      }
      s.set_members_resolved(s.members_resolved() + 1);
      (*row)->after_member_id = m.member_id;
    }
    s.clear_last_error();
    *s.mutable_update_time() = ToTimestamp(now);
    return tx.PutSchedule(**row);
  });
  if (stored.ok()) {
    ExportOutcomes(outcomes);
    inbox_watch_.Changed(inboxes);  // committed: their subscribers read now
  }
  return stored;
}

// ---------------------------------------------------------------- dispatch

absl::StatusOr<v1::SuppressionReason> NotificationService::Check(StoreTxn& tx, const v1::Delivery& d,
                                                                 const v1::Settings& settings, absl::Time now) {
  if (!d.schedule_id().empty()) {
    auto sched = tx.GetSchedule(d.schedule_id());
    if (!sched.ok()) return sched.status();
    if (*sched) {
      const v1::Schedule& s = (*sched)->schedule;
      if (s.state() == v1::SCHEDULE_STATE_CANCELLED) return v1::SUPPRESSION_REASON_CAMPAIGN_CANCELLED;
      if (s.has_promotion_alert() && s.promotion_alert().has_ends_at() &&
          now >= FromTimestamp(s.promotion_alert().ends_at())) {
        return v1::SUPPRESSION_REASON_EXPIRED;
      }
    }
  }
  auto member = tx.GetMember(d.member_id());
  if (!member.ok()) return member.status();
  std::optional<v1::Preferences> prefs = *member ? (*member)->preferences : std::nullopt;
  if (!PreferenceEnabled(prefs, d.channel(), d.category())) return v1::SUPPRESSION_REASON_OPTED_OUT;
  if (d.category() == v1::MESSAGE_CATEGORY_MARKETING) {
    auto consent = tx.GetConsent(d.member_id(), d.channel());
    if (!consent.ok()) return consent.status();
    if (!*consent || !(*consent)->granted) return v1::SUPPRESSION_REASON_NO_CONSENT;
  }
  switch (d.channel()) {
    case care::common::v1::MESSAGE_CHANNEL_WEBHOOK:
      if (settings.webhook().url().empty()) return v1::SUPPRESSION_REASON_CHANNEL_NOT_CONFIGURED;
      if (!*member || (*member)->phone.empty()) return v1::SUPPRESSION_REASON_NO_ADDRESS;
      break;
    case care::common::v1::MESSAGE_CHANNEL_EMAIL:
      if (settings.email().smtp_url().empty()) return v1::SUPPRESSION_REASON_CHANNEL_NOT_CONFIGURED;
      if (!*member || (*member)->email.empty()) return v1::SUPPRESSION_REASON_NO_ADDRESS;
      break;
    default:
      break;
  }
  if (d.category() == v1::MESSAGE_CATEGORY_MARKETING && settings.frequency_cap().max_messages() > 0) {
    auto sent = tx.MarketingSentSince(d.member_id(),
                                      now - FromDurationProto(settings.frequency_cap().window()));
    if (!sent.ok()) return sent.status();
    if (*sent >= settings.frequency_cap().max_messages()) {
      // The same message already sent on another channel does not count twice.
      bool counted = false;
      for (int c : {1, 2, 3}) {
        if (c == d.channel()) continue;
        auto other = tx.GetDeliveryByKey(d.member_id(), d.message_key(), c);
        if (!other.ok()) return other.status();
        if (*other && (*other)->status() == v1::DELIVERY_STATUS_SENT) counted = true;
      }
      if (!counted) return v1::SUPPRESSION_REASON_FREQUENCY_CAP;
    }
  }
  return v1::SUPPRESSION_REASON_UNSPECIFIED;
}

absl::StatusOr<bool> NotificationService::Render(StoreTxn& tx, v1::Delivery& d, const v1::Settings& settings,
                                                OutgoingMessage& out) {
  auto member = tx.GetMember(d.member_id());
  if (!member.ok()) return member.status();
  MemberRow m = member->value_or(MemberRow{});
  std::map<std::string, std::string> vars{{"member_id", d.member_id()}, {"member_name", m.name}};
  std::string zone_name = m.preferences && !m.preferences->time_zone().empty() ? m.preferences->time_zone()
                          : !m.profile_zone.empty()                            ? m.profile_zone
                                                                               : settings.default_time_zone();
  absl::TimeZone zone = ZoneOrUtc(zone_name);
  std::map<std::string, std::string> attributes;
  if (!d.schedule_id().empty()) {
    auto sched = tx.GetSchedule(d.schedule_id());
    if (!sched.ok()) return sched.status();
    if (*sched && (*sched)->schedule.has_promotion_alert()) {
      const v1::PromotionAlert& a = (*sched)->schedule.promotion_alert();
      for (const auto& [k, v] : a.variables()) vars[k] = v;
      vars["campaign_id"] = a.campaign_id();
      vars["campaign_title"] = a.title();
      vars["campaign_description"] = a.description();
      vars["starts_at"] = absl::FormatTime("%Y-%m-%d %H:%M", FromTimestamp(a.starts_at()), zone);
      vars["ends_at"] = absl::FormatTime("%Y-%m-%d %H:%M", FromTimestamp(a.ends_at()), zone);
      attributes["campaign_id"] = a.campaign_id();
    }
  }
  std::string locale = m.preferences && !m.preferences->locale().empty() ? m.preferences->locale()
                                                                        : m.profile_locale;
  std::string template_key;
  if (d.schedule_id().empty()) {
    auto event = tx.GetDeliveryEvent(d.delivery_id());
    if (!event.ok()) return event.status();
    if (*event) {
      if ((*event)->has_transactional()) template_key = (*event)->transactional().template_key();
      vars["complaint_id"] = d.complaint_id();
      attributes["complaint_id"] = d.complaint_id();
      if ((*event)->has_complaint_update()) vars["message"] = (*event)->complaint_update().message();
      if ((*event)->has_tier_changed()) {
        const v1::TierChanged& t = (*event)->tier_changed();
        vars["old_tier_id"] = t.old_tier_id();
        vars["new_tier_id"] = t.new_tier_id();
        vars["tier_display_name"] = t.tier_display_name();
      }
      if ((*event)->has_points_expiring()) {
        vars["points"] = absl::StrCat((*event)->points_expiring().points());
        vars["expire_time"] =
            absl::FormatTime("%Y-%m-%d %H:%M", FromTimestamp((*event)->points_expiring().expire_time()), zone);
      }
      if ((*event)->has_birthday_reward()) vars["points"] = absl::StrCat((*event)->birthday_reward().points());
      if ((*event)->has_transactional()) {
        for (const auto& [k, v] : (*event)->transactional().variables()) vars[k] = v;
      }
      if ((*event)->has_visit_reward_earned()) {
        vars["visit_count"] = absl::StrCat((*event)->visit_reward_earned().visit_count());
        vars["reward"] = (*event)->visit_reward_earned().reward();
      }
      if ((*event)->has_satisfaction_survey()) {
        vars["survey_token"] = (*event)->satisfaction_survey().survey_token();
        attributes["survey_token"] = (*event)->satisfaction_survey().survey_token();
      }
    }
  }
  v1::TemplateKey key;
  key.set_kind(d.kind());
  key.set_channel(d.channel());
  key.set_locale(locale);
  key.set_template_key(template_key);
  auto resolved = ResolveTemplate(tx, key, settings.default_locale());
  if (!resolved.ok()) return resolved.status();
  std::optional<v1::Template>& tmpl = *resolved;
  if (!tmpl) {
    d.set_status(v1::DELIVERY_STATUS_FAILED);
    d.set_last_error_code("TEMPLATE_NOT_FOUND");
    d.set_last_error("no template for the kind, channel and locale chain");
    return false;
  }
  auto subject = RenderText(tmpl->subject(), vars, "subject");
  auto body = RenderText(tmpl->body(), vars, "body");
  if (!subject.ok() || !body.ok()) {
    d.set_status(v1::DELIVERY_STATUS_FAILED);
    d.set_last_error_code("TEMPLATE_SYNTAX_ERROR");
    return false;
  }
  d.set_locale(tmpl->locale());
  d.set_template_version(tmpl->version());
  out.delivery_id = d.delivery_id();
  out.message_key = d.message_key();
  out.member_id = d.member_id();
  out.kind = v1::MessageKind_Name(d.kind());
  out.category = v1::MessageCategory_Name(d.category());
  out.locale = tmpl->locale();
  out.subject = *subject;
  out.body = *body;
  out.phone = m.phone;
  out.email = m.email;
  out.member_name = m.name;
  out.campaign_id = d.campaign_id();
  out.complaint_id = d.complaint_id();
  out.attempt = d.attempts();
  out.attributes = std::move(attributes);
  return true;
}

absl::Status NotificationService::SendInApp(StoreTxn& tx, v1::Delivery& d, const v1::Settings& settings,
                                            absl::Time now) {
  OutgoingMessage rendered;
  auto ok = Render(tx, d, settings, rendered);
  if (!ok.ok()) return ok.status();
  if (!*ok) return absl::OkStatus();
  v1::InboxMessage msg;
  msg.set_message_id("msg-" + d.delivery_id().substr(4));
  msg.set_member_id(d.member_id());
  msg.set_delivery_id(d.delivery_id());
  msg.set_message_key(d.message_key());
  msg.set_kind(d.kind());
  msg.set_category(d.category());
  msg.set_subject(rendered.subject);
  msg.set_body(rendered.body);
  msg.set_locale(rendered.locale);
  for (const auto& [k, v] : rendered.attributes) (*msg.mutable_attributes())[k] = v;
  *msg.mutable_create_time() = ToTimestamp(now);
  *msg.mutable_expire_time() = ToTimestamp(now + FromDurationProto(settings.in_app().retention()));
  if (absl::Status st = tx.InsertInbox(msg); !st.ok()) return st;
  d.set_status(v1::DELIVERY_STATUS_SENT);
  d.set_inbox_message_id(msg.message_id());
  *d.mutable_sent_time() = ToTimestamp(now);
  return absl::OkStatus();
}

namespace {

absl::Duration ChannelTimeout(const v1::Settings& settings, int channel) {
  const google::protobuf::Duration& t = channel == care::common::v1::MESSAGE_CHANNEL_EMAIL
                                            ? settings.email().timeout()
                                            : settings.webhook().timeout();
  absl::Duration d = FromDurationProto(t);
  return d > absl::ZeroDuration() ? d : absl::Seconds(30);
}

// Exponential backoff with jitter: uniform in [delay/2, delay], delay =
// initial * multiplier^(attempts-1) capped at max, so retries of one
// receiver outage spread out instead of arriving together.
absl::Duration RetryDelay(const v1::RetryPolicy& p, int attempts) {
  absl::Duration initial = FromDurationProto(p.initial_backoff());
  if (initial <= absl::ZeroDuration()) initial = absl::Seconds(10);
  absl::Duration cap = FromDurationProto(p.max_backoff());
  if (cap < initial) cap = std::max(initial, absl::Minutes(15));
  const double multiplier = p.multiplier() >= 1.0 ? p.multiplier() : 2.0;
  absl::Duration delay = initial;
  for (int i = 1; i < attempts && delay < cap; ++i) delay = delay * multiplier;
  delay = std::min(delay, cap);
  thread_local absl::BitGen gen;
  return delay * absl::Uniform(gen, 0.5, 1.0);
}

// Applies one attempt's result to a claimed delivery.
void ApplySendResult(v1::Delivery& d, const SendResult& r, const v1::RetryPolicy& policy, absl::Time now) {
  *d.mutable_update_time() = ToTimestamp(now);
  d.clear_next_attempt_time();
  if (r.outcome == SendResult::Outcome::kSent) {
    d.set_status(v1::DELIVERY_STATUS_SENT);
    d.set_provider_message_id(r.provider_message_id);
    d.clear_last_error_code();
    d.clear_last_error();
    *d.mutable_sent_time() = ToTimestamp(now);
    return;
  }
  d.set_last_error_code(r.error_code);
  d.set_last_error(ReceiverText(r.error, 200));
  const int max_attempts = policy.max_attempts() > 0 ? policy.max_attempts() : 8;
  if (r.outcome == SendResult::Outcome::kPermanent) {
    d.set_status(v1::DELIVERY_STATUS_FAILED);
  } else if (d.attempts() >= max_attempts) {
    d.set_status(v1::DELIVERY_STATUS_DEAD_LETTER);
    *d.mutable_dead_letter_time() = ToTimestamp(now);
  } else {
    *d.mutable_next_attempt_time() = ToTimestamp(now + RetryDelay(policy, d.attempts()));
  }
}

}  // namespace

Channel* NotificationService::TransportFor(int channel, const v1::Settings& settings) {
  const std::string config = channel == care::common::v1::MESSAGE_CHANNEL_EMAIL ? settings.email().SerializeAsString()
                                                                                : settings.webhook().SerializeAsString();
  Transport& t = transports_[channel];
  if (!t.channel || t.config != config) {
    t.channel = options_.channels(channel, settings);
    t.config = config;
  }
  return t.channel.get();
}

void NotificationService::SendClaimed(const v1::Settings& settings, const std::vector<OutgoingMessage>& claimed,
                                      std::map<std::pair<int, int>, int64_t>& outcomes) {
  // Each channel's messages go out together (concurrently, over reused
  // connections), then every outcome is recorded in one short transaction.
  std::map<int, std::vector<OutgoingMessage>> by_channel;
  for (const OutgoingMessage& m : claimed) by_channel[m.channel].push_back(m);
  std::vector<std::pair<const OutgoingMessage*, SendResult>> sent;
  for (const auto& [channel_id, messages] : by_channel) {
    Channel* channel = TransportFor(channel_id, settings);
    std::vector<SendResult> results;
    if (channel) {
      results = channel->SendAll(messages);
    } else {
      SendResult unavailable;
      unavailable.outcome = SendResult::Outcome::kTransient;
      unavailable.error_code = "CHANNEL_UNAVAILABLE";
      results.assign(messages.size(), unavailable);
    }
    for (size_t i = 0; i < messages.size(); ++i) sent.emplace_back(&messages[i], std::move(results[i]));
  }
  const absl::Time now = clock_.Now();
  std::map<std::pair<int, int>, int64_t> recorded;
  absl::Status s = store_.Write([&](StoreTxn& tx) -> absl::Status {
    recorded.clear();
    for (const auto& [m, r] : sent) {
      auto current = tx.GetDelivery(m->delivery_id);
      if (!current.ok()) return current.status();
      // Only the claim that made this attempt records it: a replay or a
      // re-claim after an expired lease owns the delivery now.
      if (!*current || (*current)->status() != v1::DELIVERY_STATUS_PENDING || (*current)->attempts() != m->attempt) {
        continue;
      }
      v1::Delivery d = **current;
      ApplySendResult(d, r, settings.retry_policy(), now);
      if (absl::Status st = tx.UpdateDelivery(d); !st.ok()) return st;
      if (d.status() != v1::DELIVERY_STATUS_PENDING) ++recorded[{m->channel, d.status()}];
    }
    return absl::OkStatus();
  });
  if (!s.ok()) {
    // The leases make them due again; receivers deduplicate on the id.
    LogWarn(absl::StrCat("recording sends failed: ", s.message()));
    return;
  }
  for (const auto& [key, n] : recorded) outcomes[key] += n;
}

absl::Status NotificationService::Attempt(StoreTxn& tx, v1::Delivery& d, const v1::Settings& settings, absl::Time now,
                                          std::vector<OutgoingMessage>& claimed) {
  auto reason = Check(tx, d, settings, now);
  if (!reason.ok()) return reason.status();
  d.set_attempts(d.attempts() + 1);
  *d.mutable_last_attempt_time() = ToTimestamp(now);
  *d.mutable_update_time() = ToTimestamp(now);
  d.clear_next_attempt_time();
  if (*reason != v1::SUPPRESSION_REASON_UNSPECIFIED) {
    d.set_status(v1::DELIVERY_STATUS_SUPPRESSED);
    d.set_suppression_reason(*reason);
  } else if (d.channel() == care::common::v1::MESSAGE_CHANNEL_IN_APP) {
    return SendInApp(tx, d, settings, now);
  } else if (!options_.channels) {
    d.set_status(v1::DELIVERY_STATUS_SUPPRESSED);
    d.set_suppression_reason(v1::SUPPRESSION_REASON_CHANNEL_NOT_CONFIGURED);
  } else {
    OutgoingMessage m;
    auto rendered = Render(tx, d, settings, m);
    if (!rendered.ok()) return rendered.status();
    if (*rendered) {
      // Claimed: still PENDING but not due again until the lease ends, so
      // no other dispatch sends it meanwhile and a crash mid-send retries.
      m.channel = d.channel();
      *d.mutable_next_attempt_time() = ToTimestamp(now + options_.send_lease + ChannelTimeout(settings, d.channel()));
      claimed.push_back(std::move(m));
    }
  }
  return absl::OkStatus();
}

void NotificationService::ExportOutcomes(const std::map<std::pair<int, int>, int64_t>& outcomes) {
  for (const auto& [key, n] : outcomes) {
    std::string channel(care::common::v1::MessageChannel_Name(static_cast<care::common::v1::MessageChannel>(key.first)));
    std::string status(v1::DeliveryStatus_Name(static_cast<v1::DeliveryStatus>(key.second)));
    DeliveriesMetric().Inc({std::string(absl::StripPrefix(channel, "MESSAGE_CHANNEL_")),
                                           std::string(absl::StripPrefix(status, "DELIVERY_STATUS_"))},
                                          static_cast<double>(n));
  }
}

bool NotificationService::RunDispatch() {
  auto settings = CurrentSettings();
  if (!settings.ok()) return false;
  const absl::Time now = clock_.Now();
  size_t handled = 0;
  // Outcomes by (channel, status), exported once the batch has committed.
  std::map<std::pair<int, int>, int64_t> outcomes;
  std::vector<OutgoingMessage> claimed;
  std::vector<std::string> inboxes;  // members with a new inbox message
  absl::Status s = store_.Write([&](StoreTxn& tx) -> absl::Status {
    outcomes.clear();
    claimed.clear();
    inboxes.clear();
    auto due = tx.DueDeliveries(now, options_.dispatch_batch);
    if (!due.ok()) return due.status();
    handled = due->size();
    for (v1::Delivery& d : *due) {
      if (absl::Status st = Attempt(tx, d, *settings, now, claimed); !st.ok()) return st;
      if (absl::Status st = tx.UpdateDelivery(d); !st.ok()) return st;
      if (d.status() != v1::DELIVERY_STATUS_PENDING) ++outcomes[{d.channel(), d.status()}];
      if (!d.inbox_message_id().empty() && d.status() == v1::DELIVERY_STATUS_SENT) inboxes.push_back(d.member_id());
    }
    return absl::OkStatus();
  });
  if (!s.ok()) {
    LogWarn(absl::StrCat("dispatch failed: ", s.message()));
    return false;
  }
  // Committed: subscribers of these inboxes read the feed now.
  inbox_watch_.Changed(inboxes);
  if (!claimed.empty()) SendClaimed(*settings, claimed, outcomes);
  ExportOutcomes(outcomes);
  return handled == static_cast<size_t>(options_.dispatch_batch);
}

// ----------------------------------------------------------------- queries

absl::StatusOr<v1::Schedule> NotificationService::GetSchedule(const std::string& schedule_id,
                                                              const std::string& campaign_id) {
  std::optional<ScheduleRow> row;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto r = schedule_id.empty() ? tx.GetScheduleByCampaign(campaign_id) : tx.GetSchedule(schedule_id);
    if (!r.ok()) return r.status();
    row = std::move(*r);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!row) {
    return schedule_id.empty() ? NotFound("CAMPAIGN_NOT_FOUND", "no alert was ever ingested for the campaign")
                               : NotFound("SCHEDULE_NOT_FOUND", "no such schedule");
  }
  return row->schedule;
}

absl::StatusOr<std::vector<v1::Schedule>> NotificationService::ListSchedules(
    const ScheduleFilter& filter, const std::optional<ScheduleCursor>& after, int limit) {
  std::vector<v1::Schedule> out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto r = tx.ListSchedules(filter, after, limit);
    if (!r.ok()) return r.status();
    out = std::move(*r);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::Delivery> NotificationService::GetDelivery(const std::string& delivery_id,
                                                              const v1::DeliveryKey* key) {
  std::optional<v1::Delivery> d;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto r = key ? tx.GetDeliveryByKey(key->member_id(), key->message_key(), key->channel())
                 : tx.GetDelivery(delivery_id);
    if (!r.ok()) return r.status();
    d = std::move(*r);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!d) return NotFound("DELIVERY_NOT_FOUND", "no such delivery");
  return *d;
}

absl::StatusOr<std::vector<std::pair<int64_t, v1::Delivery>>> NotificationService::ListDeliveries(
    const v1::DeliveryFilter& filter, int64_t before_seq, int limit) {
  std::vector<std::pair<int64_t, v1::Delivery>> out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto r = tx.ListDeliveries(filter, before_seq, limit);
    if (!r.ok()) return r.status();
    out = std::move(*r);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::CampaignDeliveryStats> NotificationService::CampaignStats(const std::string& campaign_id) {
  v1::CampaignDeliveryStats stats;
  bool found = false;
  const absl::Time now = clock_.Now();
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto row = tx.GetScheduleByCampaign(campaign_id);
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
    found = true;
    stats.set_campaign_id(campaign_id);
    stats.set_schedule_id((*row)->schedule.schedule_id());
    stats.set_schedule_state((*row)->schedule.state());
    stats.set_members_resolved((*row)->schedule.members_resolved());
    auto counts = tx.CampaignCounts(campaign_id);
    if (!counts.ok()) return counts.status();
    for (const auto& c : *counts) {
      *stats.add_counts() = c;
      stats.set_total_deliveries(stats.total_deliveries() + c.count());
    }
    *stats.mutable_as_of() = ToTimestamp(now);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!found) return NotFound("CAMPAIGN_NOT_FOUND", "no alert was ever ingested for the campaign");
  return stats;
}

// ------------------------------------------------------------------- inbox

absl::StatusOr<NotificationService::InboxPage> NotificationService::ListInbox(InboxFilter filter, int64_t before_seq,
                                                                              int limit) {
  filter.now = clock_.Now();
  InboxPage page;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto r = tx.ListInbox(filter, before_seq, limit);
    if (!r.ok()) return r.status();
    page.messages = std::move(*r);
    auto unread = tx.UnreadCount(filter.member_id, filter.now);
    if (!unread.ok()) return unread.status();
    page.unread_count = *unread;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return page;
}

absl::StatusOr<v1::InboxMessage> NotificationService::MarkRead(const v1::MarkInboxMessageReadRequest& request) {
  const absl::Time now = clock_.Now();
  auto read = WriteOnce<v1::InboxMessage>(store_, kMarkReadScope, request.request_id(), request,
                                     [&](StoreTxn& tx, v1::InboxMessage& out) -> absl::Status {
    auto msg = tx.GetInbox(request.message_id());
    if (!msg.ok()) return msg.status();
    if (!*msg || (*msg)->member_id() != request.member_id()) {
      return NotFound("INBOX_MESSAGE_NOT_FOUND", "no such message in the member's inbox");
    }
    if (!(*msg)->has_read_time()) {
      if (absl::Status st = tx.MarkInboxRead(request.message_id(), now); !st.ok()) return st;
      *(*msg)->mutable_read_time() = ToTimestamp(now);
    }
    out = **msg;
    return absl::OkStatus();
  });
  // A replayed request wakes its subscribers once more: harmless (one read).
  if (read.ok()) inbox_watch_.Changed({request.member_id()});
  return read;
}

}  // namespace care::notification
