#include "services/complaint/complaint_grpc.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/proto_time.h"

namespace care::complaint {
namespace {

using care::common::v1::Role;

// The highest role the caller holds: approval limits follow it.
ActorInfo ActorOf(const Caller& caller) {
  ActorInfo a;
  a.principal = caller.principal->name;
  for (Role r : {care::common::v1::ROLE_SERVICE, care::common::v1::ROLE_AGENT, care::common::v1::ROLE_SUPERVISOR,
                 care::common::v1::ROLE_ADMIN}) {
    if (caller.principal->roles.count(r)) a.role = r;
  }
  return a;
}

v1::Priority FromSupport(care::loyalty::v1::SupportPriority p) {
  switch (p) {
    case care::loyalty::v1::SUPPORT_PRIORITY_HIGH: return v1::PRIORITY_HIGH;
    case care::loyalty::v1::SUPPORT_PRIORITY_URGENT: return v1::PRIORITY_URGENT;
    default: return v1::PRIORITY_NORMAL;
  }
}

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

}  // namespace

template <typename Request, typename Response, typename Fn>
grpc::ServerUnaryReactor* ComplaintGrpc::Answer(ServerContext* ctx, const Request& req, Response* resp, Fn fn) {
  return rpc_.Unary(ctx, req, [this, resp, fn](const Caller& caller) -> absl::Status {
    auto r = fn(caller);
    if (!r.ok()) return r.status();
    *resp = std::move(*r);
    return absl::OkStatus();
  });
}

using Reactor = ComplaintGrpc::Reactor;

Reactor* ComplaintGrpc::CreateComplaint(ServerContext* ctx, const v1::CreateComplaintRequest* req,
                                        v1::CreateComplaintResponse* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::CreateComplaintResponse> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireId("member_id", req->member_id());
    if (req->channel() == v1::CHANNEL_UNSPECIFIED || !v1::Channel_IsValid(req->channel())) {
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
    if (req->has_received_time() && !ValidTimestamp(req->received_time())) {
      errors.Add("received_time", "is not a valid timestamp");
    }
    if (!errors.empty()) return errors.ToStatus();
    // The member's tier through the tier cache; without it the ticket is
    // still taken (untiered), never lost.
    TierAtIntake tier;
    tier.info.set_source(v1::TIER_SOURCE_UNAVAILABLE);
    if (tiers_ != nullptr) {
      auto snapshot = tiers_->Get(req->member_id());
      if (snapshot.ok()) {
        tier.info.set_tier_id(snapshot->tier_id());
        tier.info.set_tier_display_name(snapshot->tier_display_name());
        tier.info.set_tier_rank(snapshot->tier_rank());
        tier.info.set_tier_version(snapshot->version());
        tier.info.set_source(v1::TIER_SOURCE_CACHE);
        tier.support_priority = FromSupport(snapshot->benefits().support_priority());
      } else if (snapshot.status().code() == absl::StatusCode::kNotFound) {
        return NotFound("MEMBER_NOT_FOUND", "loyalty has no such member");
      }
    }
    return service_.Create(*req, tier, ActorOf(caller));
  });
}

Reactor* ComplaintGrpc::GetComplaint(ServerContext* ctx, const v1::GetComplaintRequest* req, v1::Complaint* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller&) -> absl::StatusOr<v1::Complaint> {
    if (req->complaint_id().empty()) return InvalidField("complaint_id", "is required");
    return service_.Get(req->complaint_id());
  });
}

Reactor* ComplaintGrpc::ListComplaintEvents(ServerContext* ctx, const v1::ListComplaintEventsRequest* req,
                                            v1::ListComplaintEventsResponse* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller&) -> absl::StatusOr<v1::ListComplaintEventsResponse> {
    FieldErrors errors;
    errors.RequireNonEmpty("complaint_id", req->complaint_id());
    if (req->page_size() < 0) errors.Add("page_size", "must not be negative");
    int64_t after = 0;
    if (!req->page_token().empty() && !absl::SimpleAtoi(req->page_token(), &after)) {
      return Error(absl::StatusCode::kInvalidArgument, "INVALID_PAGE_TOKEN", "page_token is not one we issued");
    }
    if (!errors.empty()) return errors.ToStatus();
    int size = req->page_size() == 0 ? 50 : std::min(req->page_size(), 1000);
    return service_.Events(req->complaint_id(), after, size);
  });
}

Reactor* ComplaintGrpc::TransitionComplaint(ServerContext* ctx, const v1::TransitionComplaintRequest* req,
                                            v1::Complaint* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::Complaint> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireNonEmpty("complaint_id", req->complaint_id());
    if (req->to_status() == v1::COMPLAINT_STATUS_UNSPECIFIED || !v1::ComplaintStatus_IsValid(req->to_status())) {
      errors.Add("to_status", "must be set");
    } else if (req->to_status() == v1::COMPLAINT_STATUS_RESOLVED || req->to_status() == v1::COMPLAINT_STATUS_REOPENED ||
               req->to_status() == v1::COMPLAINT_STATUS_NEW) {
      errors.Add("to_status", "NEW cannot be re-entered; use ResolveComplaint and ReopenComplaint");
    }
    if (!errors.empty()) return errors.ToStatus();
    return service_.Transition(*req, ActorOf(caller));
  });
}

Reactor* ComplaintGrpc::ReplyToComplaint(ServerContext* ctx, const v1::ReplyToComplaintRequest* req,
                                         v1::ReplyToComplaintResponse* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::ReplyToComplaintResponse> {
    FieldErrors errors;
    if (!req->validate_only()) errors.RequireId("request_id", req->request_id());
    errors.RequireNonEmpty("complaint_id", req->complaint_id());
    if (errors.RequireNonEmpty("text", req->text())) errors.RequireMaxLength("text", req->text(), 10000);
    if (req->has_consultation_time()) RequireDuration(errors, "consultation_time", req->consultation_time(), false);
    if (!errors.empty()) return errors.ToStatus();
    return service_.Reply(*req, ActorOf(caller));
  });
}

Reactor* ComplaintGrpc::ResolveComplaint(ServerContext* ctx, const v1::ResolveComplaintRequest* req,
                                         v1::ResolveComplaintResponse* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::ResolveComplaintResponse> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireNonEmpty("complaint_id", req->complaint_id());
    errors.RequireNonEmpty("resolution_summary", req->resolution_summary());
    if (req->has_compensation()) {
      const v1::CompensationRequest& c = req->compensation();
      switch (c.grant_case()) {
        case v1::CompensationRequest::kPoints:
          errors.RequireRange("compensation.points", c.points(), 1, 1000000);
          break;
        case v1::CompensationRequest::kVoucher:
          if (c.voucher().has_amount()) {
            if (c.voucher().amount().amount_minor() <= 0) errors.Add("compensation.voucher.amount", "must be positive");
            errors.RequireCurrency("compensation.voucher.amount.currency_code", c.voucher().amount().currency_code());
          } else {
            errors.RequireRange("compensation.voucher.percent_off_bps", c.voucher().percent_off_bps(), 1, 10000);
          }
          break;
        default:
          errors.Add("compensation", "needs points or a voucher");
      }
      errors.RequireMaxLength("compensation.note", c.note(), 1000);
    }
    if (!errors.empty()) return errors.ToStatus();
    return service_.Resolve(*req, ActorOf(caller));
  });
}

Reactor* ComplaintGrpc::ApproveCompensation(ServerContext* ctx, const v1::ApproveCompensationRequest* req,
                                            v1::Complaint* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::Complaint> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireNonEmpty("complaint_id", req->complaint_id());
    errors.RequireNonEmpty("compensation_id", req->compensation_id());
    if (!errors.empty()) return errors.ToStatus();
    return service_.Approve(*req, ActorOf(caller));
  });
}

Reactor* ComplaintGrpc::SubmitSurveyResponse(ServerContext* ctx, const v1::SubmitSurveyResponseRequest* req,
                                             v1::SurveyResponse* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller&) -> absl::StatusOr<v1::SurveyResponse> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireNonEmpty("survey_token", req->survey_token());
    errors.RequireRange("score", req->score(), 1, 5);
    errors.RequireMaxLength("comment", req->comment(), 2000);
    if (!errors.empty()) return errors.ToStatus();
    return service_.AnswerSurvey(*req);
  });
}

Reactor* ComplaintGrpc::PutForbiddenPhrases(ServerContext* ctx, const v1::PutForbiddenPhrasesRequest* req,
                                            v1::ForbiddenPhraseList* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::ForbiddenPhraseList> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    if (req->list().locale() != "*") errors.RequireId("list.locale", req->list().locale());
    if (req->list().phrases_size() > 1000) errors.Add("list.phrases", "at most 1000 phrases");
    for (int i = 0; i < req->list().phrases_size(); ++i) {
      std::string f = absl::StrCat("list.phrases[", i, "]");
      if (errors.RequireNonEmpty(f, req->list().phrases(i))) errors.RequireMaxLength(f, req->list().phrases(i), 200);
    }
    if (!errors.empty()) return errors.ToStatus();
    return service_.PutPhrases(*req, ActorOf(caller));
  });
}

Reactor* ComplaintGrpc::GetForbiddenPhrases(ServerContext* ctx, const v1::GetForbiddenPhrasesRequest* req,
                                            v1::ForbiddenPhraseList* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller&) -> absl::StatusOr<v1::ForbiddenPhraseList> {
    if (req->locale().empty()) return InvalidField("locale", "is required");
    return service_.GetPhrases(req->locale());
  });
}

Reactor* ComplaintGrpc::CreateBusinessCalendar(ServerContext* ctx, const v1::CreateBusinessCalendarRequest* req,
                                               v1::BusinessCalendar* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller&) -> absl::StatusOr<v1::BusinessCalendar> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    ValidateCalendar(errors, req->calendar());
    if (!errors.empty()) return errors.ToStatus();
    return service_.CreateCalendar(*req);
  });
}

Reactor* ComplaintGrpc::GetBusinessCalendar(ServerContext* ctx, const v1::GetBusinessCalendarRequest* req,
                                            v1::BusinessCalendar* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller&) -> absl::StatusOr<v1::BusinessCalendar> {
    if (req->calendar_id().empty()) return InvalidField("calendar_id", "is required");
    return service_.GetCalendar(req->calendar_id());
  });
}

Reactor* ComplaintGrpc::CreateSlaPolicy(ServerContext* ctx, const v1::CreateSlaPolicyRequest* req,
                                        v1::SlaPolicy* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller&) -> absl::StatusOr<v1::SlaPolicy> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    const v1::SlaPolicy& p = req->policy();
    errors.RequireId("policy.sla_policy_id", p.sla_policy_id());
    RequireDuration(errors, "policy.first_response_target", p.first_response_target(), false);
    RequireDuration(errors, "policy.resolution_target", p.resolution_target(), false);
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
    if (!errors.empty()) return errors.ToStatus();
    return service_.CreatePolicy(*req);
  });
}

Reactor* ComplaintGrpc::GetSlaPolicy(ServerContext* ctx, const v1::GetSlaPolicyRequest* req, v1::SlaPolicy* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller&) -> absl::StatusOr<v1::SlaPolicy> {
    if (req->sla_policy_id().empty()) return InvalidField("sla_policy_id", "is required");
    return service_.GetPolicy(req->sla_policy_id());
  });
}

Reactor* ComplaintGrpc::GetComplaintSettings(ServerContext* ctx, const v1::GetComplaintSettingsRequest* req,
                                             v1::ComplaintSettings* resp) {
  return Answer(ctx, *req, resp, [this](const Caller&) { return service_.GetSettings(); });
}

Reactor* ComplaintGrpc::UpdateComplaintSettings(ServerContext* ctx, const v1::UpdateComplaintSettingsRequest* req,
                                                v1::ComplaintSettings* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller&) -> absl::StatusOr<v1::ComplaintSettings> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    const v1::ComplaintSettings& s = req->settings();
    if (s.has_reopen_window()) RequireDuration(errors, "settings.reopen_window", s.reopen_window(), true);
    for (int i = 0; i < s.approval_limits_size(); ++i) {
      if (s.approval_limits(i).max_points() < 0) {
        errors.Add(absl::StrCat("settings.approval_limits[", i, "].max_points"), "must not be negative");
      }
    }
    if (!errors.empty()) return errors.ToStatus();
    return service_.UpdateSettings(*req);
  });
}

Reactor* ComplaintGrpc::GetComplaintMetrics(ServerContext* ctx, const v1::GetComplaintMetricsRequest* req,
                                            v1::ComplaintMetrics* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller&) -> absl::StatusOr<v1::ComplaintMetrics> {
    FieldErrors errors;
    if (!req->has_start_time() || !ValidTimestamp(req->start_time())) errors.Add("start_time", "is required");
    if (!req->has_end_time() || !ValidTimestamp(req->end_time())) errors.Add("end_time", "is required");
    if (errors.empty() && FromTimestamp(req->end_time()) <= FromTimestamp(req->start_time())) {
      errors.Add("end_time", "must be after start_time");
    }
    if (!errors.empty()) return errors.ToStatus();
    return service_.Metrics(FromTimestamp(req->start_time()), FromTimestamp(req->end_time()));
  });
}

}  // namespace care::complaint
