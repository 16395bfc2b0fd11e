// IngestEvent: events from other services become schedules (promotion
// alerts), member profiles and consents, or one message per member and
// natural key.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/ids.h"
#include "common/privacy.h"
#include "common/proto_time.h"
#include "common/store.h"
#include "services/notification/notification_internal.h"
#include "services/notification/notification_service.h"

namespace care::notification {
namespace {

using care::common::v1::MessageChannel;

constexpr int kCancelPage = 1000;

bool Deferred(v1::MessageKind kind) {
  switch (kind) {
    case v1::MESSAGE_KIND_TIER_CHANGED:
    case v1::MESSAGE_KIND_POINTS_EXPIRING:
    case v1::MESSAGE_KIND_BIRTHDAY_REWARD:
    case v1::MESSAGE_KIND_VISIT_REWARD:
    case v1::MESSAGE_KIND_OCCASION_REWARD:
    case v1::MESSAGE_KIND_CARE_CHECK_IN:
    case v1::MESSAGE_KIND_SATISFACTION_SURVEY:
    case v1::MESSAGE_KIND_PROACTIVE_CHECK_IN:
      return true;
    default:
      return false;
  }
}

std::vector<int> AlertChannels(const v1::PromotionAlert& alert, const v1::Settings& settings) {
  std::vector<int> out;
  for (int c : alert.channels()) {
    if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  }
  if (!out.empty()) return out;
  for (const auto& kc : settings.kind_channels()) {
    if (kc.kind() == v1::MESSAGE_KIND_PROMOTION_ALERT) {
      return std::vector<int>(kc.channels().begin(), kc.channels().end());
    }
  }
  return {care::common::v1::MESSAGE_CHANNEL_IN_APP, care::common::v1::MESSAGE_CHANNEL_EMAIL};
}

// The schedule of a campaign seen for the first time.
ScheduleRow NewAlertSchedule(const std::string& campaign_id, absl::Time now) {
  ScheduleRow row;
  row.schedule.set_schedule_id(StableId("sch-", "promotion-alert\n" + campaign_id));
  row.schedule.set_kind(v1::MESSAGE_KIND_PROMOTION_ALERT);
  row.schedule.set_campaign_id(campaign_id);
  row.schedule.set_message_key(NotificationService::PromotionAlertKey(campaign_id));
  *row.schedule.mutable_create_time() = ToTimestamp(now);
  return row;
}

// Due = starts_at - notice (now for short notice or when that passed). The
// fan-out starts a whole (daylight-saving-lengthened) night ahead, since
// members' own windows may be as short as a minute: every member's previous
// window is then still to come.
void TimeAlert(v1::Schedule& s, const v1::PromotionAlert& alert, const v1::Settings& settings, absl::Time now) {
  absl::Time due = FromTimestamp(alert.starts_at()) - FromDurationProto(alert.notice());
  if (alert.short_notice() || due < now) due = now;
  absl::Duration lead = kMaxQuietSpan +
                        std::max(absl::ZeroDuration(), FromDurationProto(settings.quiet_hours_margin()));
  *s.mutable_due_time() = ToTimestamp(due);
  *s.mutable_fan_out_time() = ToTimestamp(due - lead);
}

// Deliveries of a cancelled schedule not sent yet end SUPPRESSED /
// CAMPAIGN_CANCELLED (the dispatcher also checks the schedule before each
// send).
absl::Status SuppressPending(StoreTxn& tx, const std::string& schedule_id, absl::Time now) {
  int64_t after = 0;
  for (;;) {
    auto pending = tx.PendingOfSchedule(schedule_id, after, kCancelPage);
    if (!pending.ok()) return pending.status();
    for (auto& [seq, d] : *pending) {
      after = seq;
      d.set_status(v1::DELIVERY_STATUS_SUPPRESSED);
      d.set_suppression_reason(v1::SUPPRESSION_REASON_CAMPAIGN_CANCELLED);
      d.clear_next_attempt_time();
      *d.mutable_update_time() = ToTimestamp(now);
      if (absl::Status st = tx.UpdateDelivery(d); !st.ok()) return st;
    }
    if (pending->size() < kCancelPage) return absl::OkStatus();
  }
}

// What a member-addressed event asks for, before timing.
struct DirectMessage {
  v1::Delivery delivery;      // member, kind and complaint set
  std::string message_key;    // empty: one message per source event
  std::vector<int> channels;  // empty: IN_APP
  absl::Time not_before = absl::InfinitePast();
};

DirectMessage Direct(const std::string& member_id, v1::MessageKind kind, const std::string& complaint_id = "") {
  DirectMessage m;
  m.delivery.set_member_id(member_id);
  m.delivery.set_kind(kind);
  if (!complaint_id.empty()) m.delivery.set_complaint_id(complaint_id);
  return m;
}

v1::MessageKind ComplaintKind(v1::ComplaintUpdateKind kind) {
  switch (kind) {
    case v1::COMPLAINT_UPDATE_KIND_ACKNOWLEDGED:
      return v1::MESSAGE_KIND_COMPLAINT_ACKNOWLEDGED;
    case v1::COMPLAINT_UPDATE_KIND_RESOLVED:
      return v1::MESSAGE_KIND_COMPLAINT_RESOLVED;
    default:
      return v1::MESSAGE_KIND_COMPLAINT_UPDATED;
  }
}

// The message of each member-addressed event kind; nullopt for the others.
// Events with a natural key (a tier version, an expiry, a visit count, a
// transactional message key) give one message per key, whichever event
// carried it.
std::optional<DirectMessage> MemberOrContactMessageOf(const Event::Payload& p);

// A complaint message for a contact goes to them on their channel, keyed by
// the contact instead of a member.
std::optional<DirectMessage> DirectMessageOf(const Event::Payload& p) {
  std::optional<DirectMessage> m = MemberOrContactMessageOf(p);
  if (!m) return m;
  if (const v1::ContactRecipient* contact = ContactRecipientOf(p)) {
    m->delivery.clear_member_id();
    m->delivery.set_contact_id(contact->contact_id());
    m->channels = {contact->channel()};
  }
  return m;
}

std::optional<DirectMessage> MemberOrContactMessageOf(const Event::Payload& p) {
  if (const auto* u = std::get_if<v1::ComplaintUpdate>(&p)) {
    return Direct(u->member_id(), ComplaintKind(u->kind()), u->complaint_id());
  }
  if (const auto* s = std::get_if<v1::SatisfactionSurvey>(&p)) {
    return Direct(s->member_id(), v1::MESSAGE_KIND_SATISFACTION_SURVEY, s->complaint_id());
  }
  if (const auto* c = std::get_if<v1::ProactiveCheckIn>(&p)) {
    DirectMessage m = Direct(c->member_id(), v1::MESSAGE_KIND_PROACTIVE_CHECK_IN, c->complaint_id());
    if (c->has_due_time()) m.not_before = FromTimestamp(c->due_time());
    return m;
  }
  if (const auto* t = std::get_if<v1::TierChanged>(&p)) {
    DirectMessage m = Direct(t->member_id(), v1::MESSAGE_KIND_TIER_CHANGED);
    m.message_key = absl::StrCat("tier-changed/v", t->version());
    return m;
  }
  if (const auto* e = std::get_if<v1::PointsExpiring>(&p)) {
    DirectMessage m = Direct(e->member_id(), v1::MESSAGE_KIND_POINTS_EXPIRING);
    m.message_key = absl::StrCat("points-expiring/", absl::ToUnixSeconds(FromTimestamp(e->expire_time())));
    return m;
  }
  if (const auto* b = std::get_if<v1::BirthdayReward>(&p)) {
    return Direct(b->member_id(), v1::MESSAGE_KIND_BIRTHDAY_REWARD);
  }
  if (const auto* v = std::get_if<v1::VisitRewardEarned>(&p)) {
    DirectMessage m = Direct(v->member_id(), v1::MESSAGE_KIND_VISIT_REWARD);
    m.message_key = absl::StrCat("visit-reward/", v->visit_count());
    return m;
  }
  if (const auto* o = std::get_if<v1::OccasionReward>(&p)) {
    DirectMessage m = Direct(o->member_id(), v1::MESSAGE_KIND_OCCASION_REWARD);
    m.message_key = absl::StrCat("occasion/", o->occasion_id(), "/", o->occurrence());
    return m;
  }
  if (const auto* c = std::get_if<v1::CareCheckIn>(&p)) {
    DirectMessage m = Direct(c->member_id(), v1::MESSAGE_KIND_CARE_CHECK_IN);
    m.message_key = absl::StrCat("care-check-in/", c->rule_id(), "/", c->contact());
    return m;
  }
  if (const auto* a = std::get_if<v1::StaffAlert>(&p)) {
    // To an employee: no member, one message per (staff member, alert).
    DirectMessage m = Direct("", a->kind(), a->complaint_id());
    m.delivery.set_staff_id(a->recipient().staff_id());
    m.message_key = absl::StrCat("staff/", a->recipient().staff_id(), "/", a->alert_key());
    m.channels.push_back(a->recipient().channel());
    return m;
  }
  if (const auto* t = std::get_if<v1::Transactional>(&p)) {
    DirectMessage m = Direct(t->member_id(), v1::MESSAGE_KIND_TRANSACTIONAL);
    if (!t->message_key().empty()) {
      m.message_key = absl::StrCat("transactional/", t->template_key(), "/", t->message_key());
    }
    m.channels.assign(t->channels().begin(), t->channels().end());
    return m;
  }
  return std::nullopt;
}

// A care check-in is the one member-addressed kind that is marketing: the
// member did nothing to ask for it, so it needs their consent on the channel
// and counts toward the frequency cap (dispatch's Check).
v1::MessageCategory DirectCategory(v1::MessageKind kind) {
  return kind == v1::MESSAGE_KIND_CARE_CHECK_IN ? v1::MESSAGE_CATEGORY_MARKETING : v1::MESSAGE_CATEGORY_TRANSACTIONAL;
}

// The channels Settings.kind_channels names for `kind`; empty if none.
std::vector<int> KindChannels(const v1::Settings& settings, v1::MessageKind kind) {
  for (const auto& kc : settings.kind_channels()) {
    if (kc.kind() == kind) return std::vector<int>(kc.channels().begin(), kc.channels().end());
  }
  return {};
}

// A transactional message needs its template (in some locale and channel)
// before anything is queued.
absl::Status RequireTransactionalTemplate(StoreTxn& tx, const Event::Payload& p) {
  const auto* t = std::get_if<v1::Transactional>(&p);
  if (t == nullptr) return absl::OkStatus();
  TemplateFilter filter;
  filter.kind = v1::MESSAGE_KIND_TRANSACTIONAL;
  filter.template_key = t->template_key();
  auto found = tx.ListTemplates(filter, std::nullopt, 1);
  if (!found.ok()) return found.status();
  if (found->empty()) {
    return FailedPrecondition("TEMPLATE_NOT_FOUND", absl::StrCat("no template with key ", t->template_key()));
  }
  return absl::OkStatus();
}

// Whom a direct message's delivery id is keyed by.
const std::string& Addressee(const v1::Delivery& d) {
  if (!d.staff_id().empty()) return d.staff_id();
  if (!d.contact_id().empty()) return d.contact_id();
  return d.member_id();
}

// A contact has no preferences here: the default send window in the zone
// their event names.
absl::Time ContactSendAfter(const v1::ContactRecipient& contact, v1::Delivery& d, absl::Time earliest,
                            const v1::Settings& settings, absl::Time now) {
  MemberRow row;
  row.profile_zone = contact.time_zone();
  SendTime when = DeferredSendTime(earliest, now, ZoneOrUtc(MemberZone(row, settings.default_time_zone())),
                                   MemberWindow(std::nullopt, settings));
  d.set_quiet_hours_adjusted(when.adjusted);
  return when.send_after;
}

// Non-urgent kinds wait for the start of the member's next send window;
// complaint news and generic transactional messages go at once.
absl::StatusOr<absl::Time> DirectSendAfter(StoreTxn& tx, const Event::Payload& p, v1::Delivery& d, absl::Time earliest,
                                           const v1::Settings& settings, absl::Time now) {
  if (!Deferred(d.kind())) return earliest;
  if (const v1::ContactRecipient* contact = ContactRecipientOf(p)) {
    return ContactSendAfter(*contact, d, earliest, settings, now);
  }
  auto stored = tx.GetMember(d.member_id());
  if (!stored.ok()) return stored.status();
  const MemberRow member = stored->value_or(MemberRow{});
  SendTime when = DeferredSendTime(earliest, now, ZoneOrUtc(MemberZone(member, settings.default_time_zone())),
                                   MemberWindow(member.preferences, settings));
  d.set_quiet_hours_adjusted(when.adjusted);
  return when.send_after;
}

// The subject key of the member an event is about (common/privacy.h): of a
// profile change or a message to one member; none for campaign events. Its
// tombstone is what refuses the event: an address the profile carries is no
// key to a member (another member erased with the same address does not
// make this one erased).
std::vector<std::string> EventSubjectKeys(const Event::Payload& p) {
  if (const auto* profile = std::get_if<v1::MemberProfileChanged>(&p)) return {MemberSubject(profile->member_id())};
  if (const auto* redeemed = std::get_if<v1::CampaignRedeemed>(&p)) return {MemberSubject(redeemed->member_id())};
  if (std::get_if<v1::StaffAlert>(&p) != nullptr) return {};  // about an employee, not a member
  if (const v1::ContactRecipient* contact = ContactRecipientOf(p)) return {ContactKey(contact->contact_id())};
  if (std::optional<DirectMessage> m = DirectMessageOf(p)) return {MemberSubject(m->delivery.member_id())};
  return {};
}

}  // namespace

absl::StatusOr<v1::IngestEventResponse> NotificationService::Ingest(const Once& once, const Event& event) {
  auto settings = CurrentSettings();
  if (!settings.ok()) return settings.status();
  const std::vector<std::string> subject = EventSubjectKeys(event.payload);
  Once tagged = once;
  if (!subject.empty()) tagged.subject = subject.front();
  v1::IngestEventResponse resp;
  absl::Status s = store_.Write([&](StoreTxn& tx) -> absl::Status {
    resp.Clear();
    auto replayed = tx.Replay(tagged, &resp);
    if (!replayed.ok()) return replayed.status();
    if (*replayed) {
      resp.set_duplicate(true);
      return absl::OkStatus();
    }
    resp.set_event_id(event.event_id);
    // An event for an erased person is acknowledged (the sender's outbox
    // stops retrying it) and dropped: it must not re-create them.
    auto erased = tx.IsErased(subject);
    if (!erased.ok()) return erased.status();
    if (*erased) {
      resp.set_outcome(v1::INGEST_OUTCOME_SUBJECT_ERASED);
      return tx.Remember(tagged, resp);
    }
    if (absl::Status applied = Apply(tx, event, *settings, resp); !applied.ok()) return applied;
    return tx.Remember(tagged, resp);
  });
  if (!s.ok()) return s;
  return resp;
}

absl::Status NotificationService::Apply(StoreTxn& tx, const Event& event, const v1::Settings& settings,
                                        v1::IngestEventResponse& resp) {
  if (const auto* alert = std::get_if<v1::PromotionAlert>(&event.payload)) {
    return ApplyAlert(tx, event.event_id, *alert, settings, resp);
  }
  if (const auto* cancel = std::get_if<v1::PromotionAlertCancelled>(&event.payload)) {
    return ApplyCancel(tx, event.event_id, *cancel, resp);
  }
  if (const auto* profile = std::get_if<v1::MemberProfileChanged>(&event.payload)) {
    return ApplyProfile(tx, event, *profile, resp);
  }
  if (const auto* redeemed = std::get_if<v1::CampaignRedeemed>(&event.payload)) {
    return ApplyRedeemed(tx, *redeemed, resp);
  }
  if (std::holds_alternative<std::monostate>(event.payload)) {
    resp.set_outcome(v1::INGEST_OUTCOME_STALE_IGNORED);
    return absl::OkStatus();
  }
  return ApplyDirect(tx, event, settings, resp);
}

absl::Status NotificationService::ApplyAlert(StoreTxn& tx, const std::string& event_id, const v1::PromotionAlert& alert,
                                             const v1::Settings& settings, v1::IngestEventResponse& resp) {
  const absl::Time now = clock_.Now();
  resp.set_message_key(PromotionAlertKey(alert.campaign_id()));
  auto existing = tx.GetScheduleByCampaign(alert.campaign_id());
  if (!existing.ok()) return existing.status();
  ScheduleRow row;
  if (*existing) {
    row = std::move(**existing);
    resp.set_schedule_id(row.schedule.schedule_id());
    if (row.schedule.state() == v1::SCHEDULE_STATE_CANCELLED ||
        alert.campaign_version() <= row.schedule.campaign_version()) {
      resp.set_outcome(v1::INGEST_OUTCOME_STALE_IGNORED);
      return absl::OkStatus();
    }
    if (row.schedule.state() == v1::SCHEDULE_STATE_COMPLETED) {
      resp.set_outcome(v1::INGEST_OUTCOME_ALREADY_SENT);
      return absl::OkStatus();
    }
  } else {
    row = NewAlertSchedule(alert.campaign_id(), now);
    row.schedule.set_state(v1::SCHEDULE_STATE_SCHEDULED);
    resp.set_schedule_id(row.schedule.schedule_id());
  }
  v1::Schedule& s = row.schedule;
  s.set_campaign_version(alert.campaign_version());
  *s.mutable_promotion_alert() = alert;
  s.set_last_event_id(event_id);
  *s.mutable_update_time() = ToTimestamp(now);
  s.set_version(s.version() + 1);
  s.clear_channels();
  for (int c : AlertChannels(alert, settings)) s.add_channels(static_cast<MessageChannel>(c));
  // A RUNNING fan-out keeps its timing; the new text is used for what is
  // still to be sent.
  if (s.state() == v1::SCHEDULE_STATE_SCHEDULED) TimeAlert(s, alert, settings, now);
  resp.set_outcome(v1::INGEST_OUTCOME_APPLIED);
  return tx.PutSchedule(row);
}

absl::Status NotificationService::ApplyCancel(StoreTxn& tx, const std::string& event_id,
                                              const v1::PromotionAlertCancelled& cancel,
                                              v1::IngestEventResponse& resp) {
  const absl::Time now = clock_.Now();
  resp.set_message_key(PromotionAlertKey(cancel.campaign_id()));
  auto existing = tx.GetScheduleByCampaign(cancel.campaign_id());
  if (!existing.ok()) return existing.status();
  ScheduleRow row;
  if (*existing) {
    // A COMPLETED schedule is cancelled too: what is not sent yet is
    // suppressed below.
    row = std::move(**existing);
    if (row.schedule.state() == v1::SCHEDULE_STATE_CANCELLED ||
        cancel.campaign_version() < row.schedule.campaign_version()) {
      resp.set_schedule_id(row.schedule.schedule_id());
      resp.set_outcome(v1::INGEST_OUTCOME_STALE_IGNORED);
      return absl::OkStatus();
    }
  } else {
    // Never seen: recorded so a late alert cannot revive the campaign.
    row = NewAlertSchedule(cancel.campaign_id(), now);
    *row.schedule.mutable_due_time() = ToTimestamp(now);
    *row.schedule.mutable_fan_out_time() = ToTimestamp(now);
  }
  resp.set_schedule_id(row.schedule.schedule_id());
  v1::Schedule& s = row.schedule;
  s.set_state(v1::SCHEDULE_STATE_CANCELLED);
  s.set_campaign_version(std::max(s.campaign_version(), cancel.campaign_version()));
  *s.mutable_cancel_time() = ToTimestamp(now);
  *s.mutable_update_time() = ToTimestamp(now);
  s.set_last_event_id(event_id);
  s.set_version(s.version() + 1);
  resp.set_outcome(v1::INGEST_OUTCOME_APPLIED);
  if (absl::Status st = tx.PutSchedule(row); !st.ok()) return st;
  return SuppressPending(tx, s.schedule_id(), now);
}

absl::Status NotificationService::ApplyDirect(StoreTxn& tx, const Event& event, const v1::Settings& settings,
                                              v1::IngestEventResponse& resp) {
  std::optional<DirectMessage> message = DirectMessageOf(event.payload);
  if (!message) return absl::OkStatus();
  if (absl::Status st = RequireTransactionalTemplate(tx, event.payload); !st.ok()) return st;
  const absl::Time now = clock_.Now();
  v1::Delivery& d = message->delivery;
  auto send_after = DirectSendAfter(tx, event.payload, d, std::max(now, message->not_before), settings, now);
  if (!send_after.ok()) return send_after.status();
  if (message->channels.empty() && d.kind() == v1::MESSAGE_KIND_CARE_CHECK_IN) {
    message->channels = KindChannels(settings, d.kind());
  }
  if (message->channels.empty()) message->channels.push_back(care::common::v1::MESSAGE_CHANNEL_IN_APP);
  d.set_message_key(message->message_key.empty() ? event.event_id : message->message_key);
  d.set_category(DirectCategory(d.kind()));
  d.set_event_id(event.event_id);
  d.set_source(event.source);
  d.set_status(v1::DELIVERY_STATUS_PENDING);
  *d.mutable_send_after() = ToTimestamp(*send_after);
  *d.mutable_create_time() = ToTimestamp(now);
  *d.mutable_update_time() = ToTimestamp(now);
  for (int channel : message->channels) {
    d.set_channel(static_cast<MessageChannel>(channel));
    d.set_delivery_id(DeliveryId(Addressee(d), d.message_key(), d.channel()));
    if (absl::Status s = tx.PutDeliveryEvent(d.delivery_id(), event); !s.ok()) return s;
    auto inserted = tx.InsertDelivery(d);
    if (!inserted.ok()) return inserted.status();
  }
  resp.set_outcome(v1::INGEST_OUTCOME_APPLIED);
  resp.set_message_key(d.message_key());
  return absl::OkStatus();
}

// Conversion counts members alerted who then redeemed: only an alert SENT
// whose sending began before the redemption converts (an e-mail opened and
// redeemed while its send was still being recorded counts), each delivery
// (member, campaign, channel) once, so a second redemption or a re-sent
// event adds nothing. convert_time is the first redemption notification
// learns of (events of two redemptions may arrive out of order). A cancel
// or return later does not undo it.
absl::Status NotificationService::ApplyRedeemed(StoreTxn& tx, const v1::CampaignRedeemed& redeemed,
                                                v1::IngestEventResponse& resp) {
  const std::string key = PromotionAlertKey(redeemed.campaign_id());
  const absl::Time redeem_time = FromTimestamp(redeemed.redeem_time());
  resp.set_message_key(key);
  resp.set_outcome(v1::INGEST_OUTCOME_APPLIED);
  for (int channel : {MessageChannel::MESSAGE_CHANNEL_IN_APP, MessageChannel::MESSAGE_CHANNEL_WEBHOOK,
                      MessageChannel::MESSAGE_CHANNEL_EMAIL}) {
    auto found = tx.GetDeliveryByKey(redeemed.member_id(), key, channel);
    if (!found.ok()) return found.status();
    if (!*found) continue;
    v1::Delivery& d = **found;
    const absl::Time began = d.has_last_attempt_time() ? FromTimestamp(d.last_attempt_time())
                                                       : FromTimestamp(d.sent_time());
    if (d.status() != v1::DELIVERY_STATUS_SENT || d.has_convert_time() || began > redeem_time) continue;
    *d.mutable_convert_time() = redeemed.redeem_time();
    *d.mutable_update_time() = ToTimestamp(clock_.Now());
    if (absl::Status st = tx.UpdateDelivery(d); !st.ok()) return st;
    if (absl::Status st = tx.AddConversion(redeemed.campaign_id(), channel, redeemed.member_id()); !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

absl::Status NotificationService::ApplyProfile(StoreTxn& tx, const Event& event, const v1::MemberProfileChanged& p,
                                               v1::IngestEventResponse& resp) {
  auto stored = tx.GetMember(p.member_id());
  if (!stored.ok()) return stored.status();
  MemberRow member = stored->value_or(MemberRow{});
  // Events may arrive out of order: an older profile does not overwrite a newer one.
  if (*stored && member.profile_at > event.occurred_at) {
    resp.set_outcome(v1::INGEST_OUTCOME_STALE_IGNORED);
    return absl::OkStatus();
  }
  member.member_id = p.member_id();
  member.name = p.name();
  member.email = p.email();
  member.phone = p.phone();
  member.profile_locale = p.locale();
  member.profile_zone = p.time_zone();
  member.profile_at = event.occurred_at;
  if (absl::Status s = tx.PutMember(member); !s.ok()) return s;
  std::vector<AudienceMember::Consent> consents;
  for (const auto& c : p.consents()) {
    consents.push_back({c.channel(), c.granted(),
                        c.has_update_time() ? FromTimestamp(c.update_time()) : event.occurred_at});
  }
  if (absl::Status s = ApplyLoyaltyConsents(tx, p.member_id(), consents, event.event_id, clock_.Now()); !s.ok()) {
    return s;
  }
  resp.set_outcome(v1::INGEST_OUTCOME_APPLIED);
  return absl::OkStatus();
}

}  // namespace care::notification
