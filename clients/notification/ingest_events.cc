#include "clients/notification/ingest_events.h"

#include "care/notification/v1/notification.pb.h"
#include "clients/timestamps.h"
#include "common/proto_time.h"

namespace care::clients::notification {
namespace {

namespace nv1 = ::care::notification::v1;
using ::care::common::v1::MessageChannel;

nv1::IngestEventRequest Request(const EventHeader& header) {
  nv1::IngestEventRequest request;
  request.set_event_id(header.event_id);
  request.set_source(header.source);
  *request.mutable_occurred_at() = ToTimestamp(header.occurred);
  return request;
}

OutboxEvent Event(const nv1::IngestEventRequest& request) {
  return OutboxEvent{request.event_id(), "notification", kIngestEventMethod, request.SerializeAsString()};
}

nv1::MessageKind StaffKind(StaffAlertKind kind) {
  switch (kind) {
    case StaffAlertKind::kEscalation:
      return nv1::MESSAGE_KIND_STAFF_ESCALATION;
    case StaffAlertKind::kBreachWarning:
      return nv1::MESSAGE_KIND_STAFF_BREACH_WARNING;
    case StaffAlertKind::kCompensationApproval:
      return nv1::MESSAGE_KIND_STAFF_COMPENSATION_APPROVAL;
    case StaffAlertKind::kReopened:
      return nv1::MESSAGE_KIND_STAFF_REOPENED;
  }
  return nv1::MESSAGE_KIND_UNSPECIFIED;
}

}  // namespace

OutboxEvent IngestEvent(const EventHeader& header, const MemberProfileChange& e) {
  nv1::IngestEventRequest request = Request(header);
  nv1::MemberProfileChanged* m = request.mutable_member_profile_changed();
  m->set_member_id(e.member_id);
  m->set_name(e.name);
  m->set_locale(e.locale);
  m->set_time_zone(e.time_zone);
  m->set_email(e.email);
  m->set_phone(e.phone);
  for (const MemberProfileChange::Consent& c : e.consents) {
    nv1::MarketingConsent* pc = m->add_consents();
    pc->set_channel(static_cast<MessageChannel>(c.channel));
    pc->set_granted(c.granted);
    if (c.update_time != absl::InfinitePast()) *pc->mutable_update_time() = ToTimestamp(c.update_time);
  }
  return Event(request);
}

OutboxEvent IngestEvent(const EventHeader& header, const TierChange& e) {
  nv1::IngestEventRequest request = Request(header);
  nv1::TierChanged* m = request.mutable_tier_changed();
  m->set_member_id(e.member_id);
  m->set_old_tier_id(e.old_tier_id);
  m->set_new_tier_id(e.new_tier_id);
  m->set_tier_display_name(e.tier_display_name);
  m->set_version(e.version);
  m->mutable_localized_tier_display_names()->insert(e.localized_tier_display_names.begin(),
                                                    e.localized_tier_display_names.end());
  return Event(request);
}

OutboxEvent IngestEvent(const EventHeader& header, const PointsExpiry& e) {
  nv1::IngestEventRequest request = Request(header);
  nv1::PointsExpiring* m = request.mutable_points_expiring();
  m->set_member_id(e.member_id);
  m->set_points(e.points);
  *m->mutable_expire_time() = ToTimestamp(e.expire_time);
  return Event(request);
}

OutboxEvent IngestEvent(const EventHeader& header, const BirthdayReward& e) {
  nv1::IngestEventRequest request = Request(header);
  nv1::BirthdayReward* m = request.mutable_birthday_reward();
  m->set_member_id(e.member_id);
  m->set_points(e.points);
  return Event(request);
}

OutboxEvent IngestEvent(const EventHeader& header, const VisitReward& e) {
  nv1::IngestEventRequest request = Request(header);
  nv1::VisitRewardEarned* m = request.mutable_visit_reward_earned();
  m->set_member_id(e.member_id);
  m->set_visit_count(e.visit_count);
  m->set_reward(e.reward);
  m->mutable_localized_rewards()->insert(e.localized_rewards.begin(), e.localized_rewards.end());
  return Event(request);
}

OutboxEvent IngestEvent(const EventHeader& header, const OccasionReward& e) {
  nv1::IngestEventRequest request = Request(header);
  nv1::OccasionReward* m = request.mutable_occasion_reward();
  m->set_member_id(e.member_id);
  m->set_occasion_id(e.occasion_id);
  m->set_occurrence(e.occurrence);
  m->set_occasion_name(e.occasion_name);
  m->mutable_localized_occasion_names()->insert(e.localized_occasion_names.begin(), e.localized_occasion_names.end());
  m->set_points(e.points);
  m->set_reward_name(e.reward_name);
  m->mutable_localized_reward_names()->insert(e.localized_reward_names.begin(), e.localized_reward_names.end());
  return Event(request);
}

OutboxEvent IngestEvent(const EventHeader& header, const CareCheckIn& e) {
  nv1::IngestEventRequest request = Request(header);
  nv1::CareCheckIn* m = request.mutable_care_check_in();
  m->set_member_id(e.member_id);
  m->set_rule_id(e.rule_id);
  m->set_contact(e.contact);
  m->set_rule_name(e.rule_name);
  m->mutable_localized_rule_names()->insert(e.localized_rule_names.begin(), e.localized_rule_names.end());
  return Event(request);
}

OutboxEvent IngestEvent(const EventHeader& header, const PromotionAlert& e) {
  nv1::IngestEventRequest request = Request(header);
  nv1::PromotionAlert* a = request.mutable_promotion_alert();
  a->set_campaign_id(e.campaign_id);
  a->set_campaign_version(e.campaign_version);
  a->set_title(e.title);
  a->set_description(e.description);
  for (const std::string& t : e.target_tier_ids) a->add_target_tier_ids(t);
  for (const std::string& s : e.target_segments) a->add_target_segments(s);
  for (int c : e.channels) a->add_channels(static_cast<MessageChannel>(c));
  // The campaign's own times, to the nanosecond it was given.
  *a->mutable_starts_at() = ExactTimestamp(e.starts_at);
  *a->mutable_ends_at() = ExactTimestamp(e.ends_at);
  *a->mutable_notice() = ToDurationProto(e.notice);
  a->set_short_notice(e.short_notice);
  a->set_campaign_time_zone(e.campaign_time_zone);
  for (const auto& [k, v] : e.variables) (*a->mutable_variables())[k] = v;
  a->mutable_localized_titles()->insert(e.localized_titles.begin(), e.localized_titles.end());
  a->mutable_localized_descriptions()->insert(e.localized_descriptions.begin(), e.localized_descriptions.end());
  return Event(request);
}

OutboxEvent IngestEvent(const EventHeader& header, const PromotionAlertCancel& e) {
  nv1::IngestEventRequest request = Request(header);
  nv1::PromotionAlertCancelled* a = request.mutable_promotion_alert_cancelled();
  a->set_campaign_id(e.campaign_id);
  a->set_campaign_version(e.campaign_version);
  return Event(request);
}

OutboxEvent IngestEvent(const EventHeader& header, const CampaignRedemption& e) {
  nv1::IngestEventRequest request = Request(header);
  nv1::CampaignRedeemed* r = request.mutable_campaign_redeemed();
  r->set_member_id(e.member_id);
  r->set_campaign_id(e.campaign_id);
  r->set_order_id(e.order_id);
  *r->mutable_redeem_time() = ExactTimestamp(e.redeem_time);
  return Event(request);
}

namespace {

void SetContact(const std::optional<ContactRecipient>& in, nv1::ContactRecipient* out) {
  out->set_contact_id(in->contact_id);
  out->set_name(in->name);
  out->set_locale(in->locale);
  out->set_time_zone(in->time_zone);
  out->set_channel(static_cast<MessageChannel>(in->channel));
  out->set_email(in->email);
  out->set_phone(in->phone);
}

}  // namespace

OutboxEvent IngestEvent(const EventHeader& header, const ComplaintUpdate& e) {
  nv1::IngestEventRequest request = Request(header);
  nv1::ComplaintUpdate* u = request.mutable_complaint_update();
  u->set_member_id(e.member_id);
  u->set_complaint_id(e.complaint_id);
  u->set_kind(static_cast<nv1::ComplaintUpdateKind>(e.kind));
  u->set_message(e.message);
  u->set_locale_hint(e.locale_hint);
  if (e.contact) SetContact(e.contact, u->mutable_contact());
  return Event(request);
}

OutboxEvent IngestEvent(const EventHeader& header, const SatisfactionSurvey& e) {
  nv1::IngestEventRequest request = Request(header);
  nv1::SatisfactionSurvey* s = request.mutable_satisfaction_survey();
  s->set_member_id(e.member_id);
  s->set_complaint_id(e.complaint_id);
  s->set_survey_token(e.survey_token);
  *s->mutable_expire_time() = ExactTimestamp(e.expire_time);
  if (e.contact) SetContact(e.contact, s->mutable_contact());
  return Event(request);
}

OutboxEvent IngestEvent(const EventHeader& header, const ProactiveCheckIn& e) {
  nv1::IngestEventRequest request = Request(header);
  nv1::ProactiveCheckIn* c = request.mutable_proactive_check_in();
  c->set_member_id(e.member_id);
  c->set_complaint_id(e.complaint_id);
  *c->mutable_due_time() = ExactTimestamp(e.due_time);
  if (e.contact) SetContact(e.contact, c->mutable_contact());
  return Event(request);
}

OutboxEvent IngestEvent(const EventHeader& header, const StaffAlert& e) {
  nv1::IngestEventRequest request = Request(header);
  nv1::StaffAlert* a = request.mutable_staff_alert();
  nv1::StaffRecipient* r = a->mutable_recipient();
  r->set_staff_id(e.staff_id);
  r->set_name(e.name);
  r->set_locale(e.locale);
  r->set_time_zone(e.time_zone);
  r->set_channel(static_cast<MessageChannel>(e.channel));
  r->set_email(e.email);
  r->set_webhook_address(e.webhook_address);
  a->set_kind(StaffKind(e.kind));
  a->set_complaint_id(e.complaint_id);
  a->set_alert_key(e.alert_key);
  a->set_level(e.level);
  a->set_sla_target(e.sla_target);
  a->set_priority(e.priority);
  if (e.due_time != absl::InfinitePast()) *a->mutable_due_time() = ExactTimestamp(e.due_time);
  a->set_compensation_id(e.compensation_id);
  a->set_compensation(e.compensation);
  a->set_reopen_count(e.reopen_count);
  return Event(request);
}

}  // namespace care::clients::notification
