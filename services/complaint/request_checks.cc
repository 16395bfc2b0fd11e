// The request checks of the gRPC adapter that need no server.

#include "services/complaint/request_checks.h"

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/localized.h"
#include "common/privacy.h"
#include "common/proto_time.h"

namespace care::complaint {

void RequireDuration(FieldErrors& errors, const std::string& field, const google::protobuf::Duration& d,
                     bool required) {
  if (!required && d.seconds() == 0 && d.nanos() == 0) return;
  if (d.seconds() <= 0 || d.seconds() > 365LL * 86400) errors.Add(field, "must be positive and at most a year");
}

void ValidateCalendar(FieldErrors& errors, const v1::BusinessCalendar& c) {
  errors.RequireId("calendar.calendar_id", c.calendar_id());
  errors.RequireTimeZone("calendar.time_zone", c.time_zone());
  for (int i = 0; i < c.weekly_hours_size(); ++i) {
    const auto& h = c.weekly_hours(i);
    std::string f = absl::StrCat("calendar.weekly_hours[", i, "]");
    if (h.day() < v1::WEEKDAY_MONDAY || h.day() > v1::WEEKDAY_SUNDAY) errors.Add(f + ".day", "must be a weekday");
    for (const auto* t : {&h.start(), &h.end()}) {
      if (t->hours() < 0 || t->hours() > 23 || t->minutes() < 0 || t->minutes() > 59) {
        errors.Add(f, "times must be 00:00..23:59");
      }
    }
  }
  for (int i = 0; i < c.holidays_size(); ++i) {
    const auto& d = c.holidays(i).date();
    if (d.year() < 1970 || d.month() < 1 || d.month() > 12 || d.day() < 1 || d.day() > 31) {
      errors.Add(absl::StrCat("calendar.holidays[", i, "].date"), "is not a valid date");
    }
  }
}

void ValidatePolicy(FieldErrors& errors, const v1::SlaPolicy& p) {
  errors.RequireId("policy.sla_policy_id", p.sla_policy_id());
  RequireDuration(errors, "policy.first_response_target", p.first_response_target(), false);
  RequireDuration(errors, "policy.resolution_target", p.resolution_target(), false);
  if (p.has_breach_warning_before() && FromDurationProto(p.breach_warning_before()) != absl::ZeroDuration()) {
    // Before a breach and after receipt: shorter than either target.
    const absl::Duration warn = FromDurationProto(p.breach_warning_before());
    if (warn < absl::Minutes(1) || warn > absl::Hours(24 * 30)) {
      errors.Add("policy.breach_warning_before", "must be 1 minute..30 days");
    } else {
      for (const auto* target : {&p.first_response_target(), &p.resolution_target()}) {
        const absl::Duration t = FromDurationProto(*target);
        if (t > absl::ZeroDuration() && warn >= t) {
          errors.Add("policy.breach_warning_before", "must be less than both targets");
          break;
        }
      }
    }
  }
  for (int i = 0; i < p.escalation_levels_size(); ++i) {
    const auto& l = p.escalation_levels(i);
    std::string f = absl::StrCat("policy.escalation_levels[", i, "]");
    if (l.level() < 1) errors.Add(f + ".level", "must be 1 or more");
    if (l.target() == v1::SLA_TARGET_UNSPECIFIED) errors.Add(f + ".target", "must be set");
    if (l.actions_size() == 0) errors.Add(f + ".actions", "at least one");
    for (int a : l.actions()) {
      if (a == v1::ESCALATION_ACTION_REASSIGN_TO_SUPERVISOR_QUEUE && l.supervisor_queue_team_id().empty()) {
        errors.Add(f + ".supervisor_queue_team_id", "is required with REASSIGN_TO_SUPERVISOR_QUEUE");
      }
    }
  }
}

void ValidateStaff(FieldErrors& errors, const v1::ComplaintSettings& s) {
  constexpr int kMaxStaff = 1000;
  if (s.staff_size() > kMaxStaff) errors.Add("settings.staff", absl::StrCat("at most ", kMaxStaff, " entries"));
  std::set<std::string> seen;
  for (int i = 0; i < s.staff_size() && i < kMaxStaff; ++i) {
    const v1::StaffMember& m = s.staff(i);
    const std::string f = absl::StrCat("settings.staff[", i, "]");
    if (errors.RequireId(f + ".agent_id", m.agent_id())) {
      errors.RequireMaxLength(f + ".agent_id", m.agent_id(), 64);
      if (!seen.insert(m.agent_id()).second) errors.Add(f + ".agent_id", "listed twice");
    }
    if (errors.RequireNonEmpty(f + ".display_name", m.display_name())) {
      errors.RequireMaxLength(f + ".display_name", m.display_name(), 200);
    }
    if (!m.team_id().empty()) errors.RequireId(f + ".team_id", m.team_id());
    if (!m.locale().empty() && !IsLocaleTag(m.locale())) errors.Add(f + ".locale", "not a BCP 47 tag");
    if (!m.time_zone().empty()) errors.RequireTimeZone(f + ".time_zone", m.time_zone());
    if (m.alert_channel() == care::common::v1::MESSAGE_CHANNEL_EMAIL) {
      if (!IsEmail(m.email())) errors.Add(f + ".email", "an e-mail address is required with EMAIL");
    } else if (m.alert_channel() != care::common::v1::MESSAGE_CHANNEL_WEBHOOK) {
      errors.Add(f + ".alert_channel", "must be WEBHOOK or EMAIL");
    }
    if (!m.email().empty() && !IsEmail(m.email())) errors.Add(f + ".email", "not an e-mail address");
    errors.RequireMaxLength(f + ".webhook_address", m.webhook_address(), 500);
  }
}

namespace {

void ValidateProspect(FieldErrors& errors, const v1::Prospect& p) {
  errors.RequireId("contact.prospect.source", p.source());
  if (p.interests_size() > 20) errors.Add("contact.prospect.interests", "at most 20");
  for (int i = 0; i < p.interests_size() && i < 20; ++i) {
    const std::string f = absl::StrCat("contact.prospect.interests[", i, "]");
    if (errors.RequireNonEmpty(f, p.interests(i))) errors.RequireMaxLength(f, p.interests(i), 100);
  }
  if (!v1::FollowUpState_IsValid(p.follow_up())) errors.Add("contact.prospect.follow_up", "unknown state");
}

void ValidateConsents(FieldErrors& errors, const v1::Contact& c) {
  std::set<int> seen;
  for (int i = 0; i < c.consents_size(); ++i) {
    const int channel = c.consents(i).channel();
    const std::string f = absl::StrCat("contact.consents[", i, "].channel");
    if (channel != care::common::v1::MESSAGE_CHANNEL_EMAIL && channel != care::common::v1::MESSAGE_CHANNEL_WEBHOOK &&
        channel != care::common::v1::MESSAGE_CHANNEL_IN_APP) {
      errors.Add(f, "must be EMAIL, WEBHOOK or IN_APP");
    } else if (!seen.insert(channel).second) {
      errors.Add(f, "repeats a channel");
    }
    if (c.consents(i).has_update_time()) {
      CheckTimestamp(errors, absl::StrCat("contact.consents[", i, "].update_time"), c.consents(i).update_time());
    }
  }
}

}  // namespace

void ValidateContact(FieldErrors& errors, const v1::Contact& c) {
  if (errors.RequireNonEmpty("contact.display_name", c.display_name())) {
    errors.RequireMaxLength("contact.display_name", c.display_name(), 200);
  }
  if (c.email().empty() && c.phone().empty()) errors.Add("contact.email", "an e-mail address or a phone is required");
  if (!c.email().empty() && !IsEmail(c.email())) errors.Add("contact.email", "not an e-mail address");
  if (!c.phone().empty() && !IsE164(c.phone())) errors.Add("contact.phone", "not an E.164 number");
  if (!c.locale().empty() && !IsLocaleTag(c.locale())) errors.Add("contact.locale", "not a BCP 47 tag");
  if (!c.time_zone().empty()) errors.RequireTimeZone("contact.time_zone", c.time_zone());
  if (c.channel() == care::common::v1::MESSAGE_CHANNEL_EMAIL && c.email().empty()) {
    errors.Add("contact.channel", "EMAIL needs an e-mail address");
  } else if (c.channel() == care::common::v1::MESSAGE_CHANNEL_WEBHOOK && c.phone().empty()) {
    errors.Add("contact.channel", "WEBHOOK needs a phone");
  } else if (c.channel() != care::common::v1::MESSAGE_CHANNEL_UNSPECIFIED &&
             c.channel() != care::common::v1::MESSAGE_CHANNEL_EMAIL &&
             c.channel() != care::common::v1::MESSAGE_CHANNEL_WEBHOOK) {
    errors.Add("contact.channel", "must be EMAIL or WEBHOOK");
  }
  ValidateConsents(errors, c);
  if (c.has_prospect()) ValidateProspect(errors, c.prospect());
}

absl::Status CheckCreateComplaint(const v1::CreateComplaintRequest* req) {
  FieldErrors errors;
  errors.RequireId("request_id", req->request_id());
  // A member or a contact files it, never both.
  if (req->contact_id().empty()) {
    errors.RequireId("member_id", req->member_id());
  } else if (!req->member_id().empty()) {
    errors.Add("member_id", "must be empty with contact_id");
  } else {
    errors.RequireId("contact_id", req->contact_id());
  }
  if (!v1::TicketKind_IsValid(req->kind())) errors.Add("kind", "must be COMPLAINT, INQUIRY or CARE_CHECK_IN");
  // A check-in is proactive: the member did not contact us on any channel.
  const bool channel_optional = req->kind() == v1::TICKET_KIND_CARE_CHECK_IN &&
                                req->channel() == v1::CHANNEL_UNSPECIFIED;
  if (!channel_optional && (req->channel() == v1::CHANNEL_UNSPECIFIED || !v1::Channel_IsValid(req->channel()))) {
    errors.Add("channel", "must be PHONE, EMAIL, CHAT, SOCIAL, IN_PERSON or WEB");
  }
  if (req->category() == v1::CATEGORY_UNSPECIFIED || !v1::Category_IsValid(req->category())) {
    errors.Add("category", "must be set");
  }
  if (!req->order_id().empty()) errors.RequireId("order_id", req->order_id());
  if (errors.RequireNonEmpty("description", req->description())) {
    errors.RequireMaxLength("description", req->description(), 10000);
  }
  errors.RequireMaxLength("subject", req->subject(), 200);
  if (!v1::Priority_IsValid(req->priority())) errors.Add("priority", "is not a priority");
  CheckOptionalTimestamp(errors, "received_time", req->has_received_time(), req->received_time());
  return errors.ToStatus();
}

void CheckCompensation(FieldErrors& errors, const v1::CompensationRequest& c) {
  switch (c.grant_case()) {
    case v1::CompensationRequest::kPoints:
      errors.RequireRange("compensation.points", c.points(), 1, 1000000);
      break;
    case v1::CompensationRequest::kVoucher:
      if (c.voucher().has_amount()) {
        if (c.voucher().amount().amount_minor() <= 0) {
          errors.Add("compensation.voucher.amount", "must be positive");
        } else {
          errors.RequireMoney("compensation.voucher.amount.amount_minor", c.voucher().amount().amount_minor());
        }
        errors.RequireCurrency("compensation.voucher.amount.currency_code", c.voucher().amount().currency_code());
      } else {
        errors.RequireRange("compensation.voucher.percent_off_bps", c.voucher().percent_off_bps(), 1, 10000);
      }
      break;
    default:
      errors.Add("compensation", "needs points or a voucher");
  }
  // The receivers' limits (loyalty's ledger note 500, promotion's 1,000):
  // a longer note would be refused for good after the resolution.
  errors.RequireMaxLength("compensation.note", c.note(),
                          c.grant_case() == v1::CompensationRequest::kPoints ? 500 : 1000);
  // Passed on to loyalty/promotion, which refuse anything else for good:
  // refused here, before anything is stored (empty: "GOODWILL").
  bool code_ok = c.reason_code().size() <= 64;
  for (char ch : c.reason_code())
    code_ok = code_ok && ((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_');
  if (!code_ok) errors.Add("compensation.reason_code", "must match [A-Z0-9_]{1,64}");
}

}  // namespace care::complaint
