// A delivery's text: the member's locale and zone, the variables of the
// alert or event it came from (localized texts picked along the member's
// locale chain), the template resolved along the same chain.
#include <map>

#include "absl/strings/str_cat.h"
#include "common/localized.h"
#include "common/proto_time.h"
#include "services/notification/notification_internal.h"
#include "services/notification/templates.h"

namespace care::notification {
namespace {

constexpr char kTimeFormat[] = "%Y-%m-%d %H:%M";

// What a delivery's templates are rendered with.
struct RenderInputs {
  std::string locale;  // the member's, or the language of their ticket
  std::string default_locale;
  // LocaleFallbackChain(locale, default_locale): the template and every
  // localized text (campaign title, tier name) are picked along it.
  std::vector<std::string> locales;

  void SetLocale(const std::string& l) {
    locale = l;
    locales = LocaleFallbackChain(locale, default_locale);
  }
  std::map<std::string, std::string> vars;
  std::map<std::string, std::string> attributes;  // passed to webhooks beside the text
  std::string template_key;                       // transactional messages name theirs
};

void AddAlertVariables(const v1::PromotionAlert& a, const absl::TimeZone& zone, RenderInputs& in) {
  for (const auto& [k, v] : a.variables()) in.vars[k] = v;
  in.vars["campaign_id"] = a.campaign_id();
  in.vars["campaign_title"] = PickLocalized(a.localized_titles(), in.locales, a.title());
  in.vars["campaign_description"] = PickLocalized(a.localized_descriptions(), in.locales, a.description());
  in.vars["starts_at"] = absl::FormatTime(kTimeFormat, FromTimestamp(a.starts_at()), zone);
  in.vars["ends_at"] = absl::FormatTime(kTimeFormat, FromTimestamp(a.ends_at()), zone);
  in.attributes["campaign_id"] = a.campaign_id();
}

// The variables each member-addressed event kind supplies.
void AddEventVariables(const Event& e, const v1::Delivery& d, const absl::TimeZone& zone, RenderInputs& in) {
  const Event::Payload& p = e.payload;
  in.vars["complaint_id"] = d.complaint_id();
  in.attributes["complaint_id"] = d.complaint_id();
  if (const auto* u = std::get_if<v1::ComplaintUpdate>(&p)) {
    in.vars["message"] = u->message();
    // The agent wrote in the ticket's language: the frame follows it.
    if (IsLocaleTag(u->locale_hint())) in.SetLocale(u->locale_hint());
  }
  if (const auto* t = std::get_if<v1::TierChanged>(&p)) {
    in.vars["old_tier_id"] = t->old_tier_id();
    in.vars["new_tier_id"] = t->new_tier_id();
    in.vars["tier_display_name"] = PickLocalized(t->localized_tier_display_names(), in.locales, t->tier_display_name());
  }
  if (const auto* x = std::get_if<v1::PointsExpiring>(&p)) {
    in.vars["points"] = absl::StrCat(x->points());
    in.vars["expire_time"] = absl::FormatTime(kTimeFormat, FromTimestamp(x->expire_time()), zone);
  }
  if (const auto* b = std::get_if<v1::BirthdayReward>(&p)) in.vars["points"] = absl::StrCat(b->points());
  if (const auto* t = std::get_if<v1::Transactional>(&p)) {
    in.template_key = t->template_key();
    for (const auto& [k, v] : t->variables()) in.vars[k] = v;
  }
  if (const auto* v = std::get_if<v1::VisitRewardEarned>(&p)) {
    in.vars["visit_count"] = absl::StrCat(v->visit_count());
    in.vars["reward"] = PickLocalized(v->localized_rewards(), in.locales, v->reward());
  }
  if (const auto* o = std::get_if<v1::OccasionReward>(&p)) {
    in.vars["occasion_name"] = PickLocalized(o->localized_occasion_names(), in.locales, o->occasion_name());
    in.vars["points"] = absl::StrCat(o->points());
    in.vars["occurrence"] = absl::StrCat(o->occurrence());
    in.vars["reward_name"] = PickLocalized(o->localized_reward_names(), in.locales, o->reward_name());
  }
  if (const auto* c = std::get_if<v1::CareCheckIn>(&p)) {
    in.vars["rule_name"] = PickLocalized(c->localized_rule_names(), in.locales, c->rule_name());
    in.vars["contact"] = absl::StrCat(c->contact());
  }
  if (const auto* s = std::get_if<v1::SatisfactionSurvey>(&p)) {
    in.vars["survey_token"] = s->survey_token();
    in.attributes["survey_token"] = s->survey_token();
  }
}

// A staff alert's variables (StaffAlert): to an employee, its times in
// their zone; the webhook gateway learns whom it is for from the
// attributes.
void AddStaffVariables(const v1::StaffAlert& a, const absl::TimeZone& zone, RenderInputs& in) {
  const v1::StaffRecipient& r = a.recipient();
  in.vars["staff_id"] = r.staff_id();
  in.vars["staff_name"] = r.name();
  in.vars["complaint_id"] = a.complaint_id();
  in.vars["level"] = absl::StrCat(a.level());
  in.vars["sla_target"] = a.sla_target();
  in.vars["priority"] = a.priority();
  if (a.has_due_time()) in.vars["due_time"] = absl::FormatTime(kTimeFormat, FromTimestamp(a.due_time()), zone);
  in.vars["compensation_id"] = a.compensation_id();
  in.vars["compensation"] = a.compensation();
  in.vars["reopen_count"] = absl::StrCat(a.reopen_count());
  in.attributes["complaint_id"] = a.complaint_id();
  in.attributes["staff_id"] = r.staff_id();
  if (!r.webhook_address().empty()) in.attributes["staff_address"] = r.webhook_address();
}

// The variables of what `d` was made from: its schedule's alert or its event.
absl::Status AddSourceVariables(StoreTxn& tx, const v1::Delivery& d, const absl::TimeZone& zone, RenderInputs& in) {
  if (!d.schedule_id().empty()) {
    auto sched = tx.GetSchedule(d.schedule_id());
    if (!sched.ok()) return sched.status();
    if (*sched && (*sched)->schedule.has_promotion_alert()) {
      AddAlertVariables((*sched)->schedule.promotion_alert(), zone, in);
    }
    return absl::OkStatus();
  }
  auto event = tx.GetDeliveryEvent(d.delivery_id());
  if (!event.ok()) return event.status();
  if (*event) AddEventVariables(**event, d, zone, in);
  return absl::OkStatus();
}

void Fail(v1::Delivery& d, const std::string& code, const std::string& error) {
  d.set_status(v1::DELIVERY_STATUS_FAILED);
  d.set_last_error_code(code);
  if (!error.empty()) d.set_last_error(error);
}

void FillMessage(const v1::Delivery& d, const MemberRow& m, const v1::Template& tmpl, RenderInputs& in,
                 std::string subject, std::string body, OutgoingMessage& out) {
  out.delivery_id = d.delivery_id();
  out.message_key = d.message_key();
  out.member_id = d.member_id();
  out.kind = v1::MessageKind_Name(d.kind());
  out.category = v1::MessageCategory_Name(d.category());
  out.locale = tmpl.locale();
  out.subject = std::move(subject);
  out.body = std::move(body);
  out.phone = m.phone;
  out.email = m.email;
  out.member_name = m.name;
  out.campaign_id = d.campaign_id();
  out.complaint_id = d.complaint_id();
  out.attempt = d.attempts();
  out.attributes = std::move(in.attributes);
}

// A staff alert's recipient as the one addressed: their name, e-mail,
// locale and zone come with the alert, not from a member record.
absl::StatusOr<bool> StaffInputs(StoreTxn& tx, v1::Delivery& d, MemberRow& m, RenderInputs& in) {
  auto alert = StaffAlertOf(tx, d);
  if (!alert.ok()) return alert.status();
  if (!*alert) {
    Fail(d, "EVENT_NOT_FOUND", "the staff alert's event is gone");
    return false;
  }
  const v1::StaffRecipient& r = (*alert)->recipient();
  m.name = r.name();
  m.email = r.email();
  in.SetLocale(r.locale());
  in.vars = {{"member_id", ""}, {"member_name", r.name()}};
  AddStaffVariables(**alert, ZoneOrUtc(r.time_zone().empty() ? "UTC" : r.time_zone()), in);
  return true;
}

// A contact's name, addresses, locale and zone come with their event, not
// from a member record; the event's variables as for a member.
absl::StatusOr<bool> ContactInputs(StoreTxn& tx, v1::Delivery& d, const v1::Settings& settings, MemberRow& m,
                                   RenderInputs& in) {
  auto event = tx.GetDeliveryEvent(d.delivery_id());
  if (!event.ok()) return event.status();
  const v1::ContactRecipient* r = *event ? ContactRecipientOf((*event)->payload) : nullptr;
  if (r == nullptr) {
    Fail(d, "EVENT_NOT_FOUND", "the contact's event is gone");
    return false;
  }
  m.name = r->name();
  m.email = r->email();
  m.phone = r->phone();
  m.profile_zone = r->time_zone();
  in.SetLocale(r->locale());
  in.vars = {{"member_id", ""}, {"member_name", r->name()}};
  in.attributes["contact_id"] = r->contact_id();
  AddEventVariables(**event, d, ZoneOrUtc(MemberZone(m, settings.default_time_zone())), in);
  return true;
}

// The sentence naming an occasion's gift in the language of the template
// the member reads, for the built-in texts' {{gift}}; "" when no reward came
// with the occasion (templates have no conditionals).
std::string GiftSentence(const std::string& reward_name, const std::string& template_locale) {
  if (reward_name.empty()) return "";
  const std::string language = template_locale.substr(0, template_locale.find('-'));
  if (language == "vi") return absl::StrCat(" Quà tặng của bạn: ", reward_name, ".");
  if (language == "ja") return absl::StrCat("記念品: ", reward_name, "。");
  return absl::StrCat(" Your gift: ", reward_name, ".");
}

}  // namespace

absl::StatusOr<bool> Render(StoreTxn& tx, v1::Delivery& d, const v1::Settings& settings, OutgoingMessage& out) {
  MemberRow m;
  RenderInputs in;
  in.default_locale = settings.default_locale();
  if (!d.staff_id().empty()) {
    auto ok = StaffInputs(tx, d, m, in);
    if (!ok.ok() || !*ok) return ok;
  } else if (!d.contact_id().empty()) {
    auto ok = ContactInputs(tx, d, settings, m, in);
    if (!ok.ok() || !*ok) return ok;
  } else {
    auto member = tx.GetMember(d.member_id());
    if (!member.ok()) return member.status();
    m = member->value_or(MemberRow{});
    in.SetLocale(m.preferences && !m.preferences->locale().empty() ? m.preferences->locale() : m.profile_locale);
    in.vars = {{"member_id", d.member_id()}, {"member_name", m.name}};
    const absl::TimeZone zone = ZoneOrUtc(MemberZone(m, settings.default_time_zone()));
    if (absl::Status s = AddSourceVariables(tx, d, zone, in); !s.ok()) return s;
  }
  v1::TemplateKey key;
  key.set_kind(d.kind());
  key.set_channel(d.channel());
  key.set_locale(in.locale);
  key.set_template_key(in.template_key);
  auto tmpl = ResolveTemplate(tx, key, settings.default_locale());
  if (!tmpl.ok()) return tmpl.status();
  if (!*tmpl) {
    Fail(d, "TEMPLATE_NOT_FOUND", "no template for the kind, channel and locale chain");
    return false;
  }
  if (auto gift = in.vars.find("reward_name"); gift != in.vars.end()) {
    in.vars["gift"] = GiftSentence(gift->second, (*tmpl)->locale());
  }
  auto subject = RenderText((*tmpl)->subject(), in.vars, "subject");
  auto body = RenderText((*tmpl)->body(), in.vars, "body");
  if (!subject.ok() || !body.ok()) {
    Fail(d, "TEMPLATE_SYNTAX_ERROR", "");
    return false;
  }
  d.set_locale((*tmpl)->locale());
  d.set_template_version((*tmpl)->version());
  FillMessage(d, m, **tmpl, in, std::move(*subject), std::move(*body), out);
  return true;
}

}  // namespace care::notification
