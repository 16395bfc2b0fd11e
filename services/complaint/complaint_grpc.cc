#include "services/complaint/complaint_grpc.h"

#include <algorithm>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/audit.h"
#include "common/auth.h"
#include "common/errors.h"
#include "common/filter_limits.h"
#include "common/log.h"
#include "common/pagination.h"
#include "common/privacy.h"
#include "common/proto_time.h"
#include "common/server_stream.h"
#include "google/protobuf/util/field_mask_util.h"
#include "services/complaint/request_checks.h"

namespace care::complaint {
namespace {

using care::common::v1::Role;

// The audit log's name for a script (common/audit.h): "script:<category>/<locale>".
std::string ScriptTarget(const v1::Script& script) {
  return absl::StrCat("script:", v1::Category_Name(script.category()), "/", script.locale());
}

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
    case care::loyalty::v1::SUPPORT_PRIORITY_HIGH:
      return v1::PRIORITY_HIGH;
    case care::loyalty::v1::SUPPORT_PRIORITY_URGENT:
      return v1::PRIORITY_URGENT;
    default:
      return v1::PRIORITY_NORMAL;
  }
}

std::vector<int> Ints(const google::protobuf::RepeatedField<int>& values) {
  return std::vector<int>(values.begin(), values.end());
}

std::optional<absl::Time> OptionalTime(bool has, const google::protobuf::Timestamp& t) {
  if (!has) return std::nullopt;
  return FromTimestamp(t);
}

NewComplaint NewComplaintOf(const v1::CreateComplaintRequest& req) {
  NewComplaint cmd;
  cmd.member_id = req.member_id();
  cmd.contact_id = req.contact_id();
  cmd.kind = req.kind();
  cmd.channel = req.channel();
  cmd.category = req.category();
  cmd.order_id = req.order_id();
  cmd.subject = req.subject();
  cmd.description = req.description();
  cmd.locale = req.locale();
  cmd.priority = req.priority();
  cmd.team_id = req.team_id();
  cmd.assignee_agent_id = req.assignee_agent_id();
  cmd.received_time = OptionalTime(req.has_received_time(), req.received_time());
  return cmd;
}

Resolution ResolutionOf(const v1::ResolveComplaintRequest& req) {
  Resolution cmd{req.complaint_id(), req.expected_version(), req.resolution_summary(), req.consultation_time()};
  if (req.has_compensation()) {
    const v1::CompensationRequest& in = req.compensation();
    GoodwillGrant grant;
    if (in.grant_case() == v1::CompensationRequest::kPoints) {
      grant.kind = v1::COMPENSATION_KIND_POINTS;
      grant.points = in.points();
    } else {
      grant.kind = v1::COMPENSATION_KIND_VOUCHER;
      grant.voucher = in.voucher();
    }
    grant.reason_code = in.reason_code();
    grant.note = in.note();
    cmd.compensation = std::move(grant);
  }
  return cmd;
}

}  // namespace

template <typename Request, typename Response, typename Fn>
grpc::ServerUnaryReactor* ComplaintGrpc::Answer(ServerContext* ctx, const Request& req, Response* resp, Fn fn) {
  return rpc_.Unary(ctx, req, [resp, fn](const Caller& caller) { return Respond(fn(caller), resp); });
}

// A List RPC over a short configuration list, paged by position (the cursor
// is the index of the next item).
template <typename Request, typename Response, typename Fetch, typename Add>
grpc::ServerUnaryReactor* ComplaintGrpc::AnswerList(ServerContext* ctx, const Request* req, Response* resp, Fetch fetch,
                                                    Add add) {
  return Answer(ctx, *req, resp, [req, fetch, add](const Caller&) -> absl::StatusOr<Response> {
    auto page = ReadPageRequest(*req, req->page_size(), req->page_token());
    if (!page.ok()) return page.status();
    if (page->cursor < 0) return InvalidPageToken();
    auto all = fetch();
    if (!all.ok()) return all.status();
    // One more than the page, each with its position, to learn whether more follow.
    using Item = typename decltype(all)::value_type::value_type;
    std::vector<std::pair<size_t, const Item*>> rows;
    for (size_t i = static_cast<size_t>(page->cursor);
         i < all->size() && rows.size() <= static_cast<size_t>(page->size); ++i) {
      rows.emplace_back(i, &(*all)[i]);
    }
    Response out;
    out.set_next_page_token(TrimPage(rows, page->size, *req, [](const auto& row) { return row.first + 1; }));
    for (const auto& row : rows) add(*row.second, &out);
    return out;
  });
}

using Reactor = ComplaintGrpc::Reactor;

Reactor* ComplaintGrpc::CreateComplaint(ServerContext* ctx, const v1::CreateComplaintRequest* req,
                                        v1::CreateComplaintResponse* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::CreateComplaintResponse> {
    // Among peers only loyalty, and only its care cadence's check-ins.
    if (absl::Status s = AuthorizePeer(*caller.principal, {"svc:loyalty"}, "CreateComplaint"); !s.ok()) return s;
    if (caller.principal->roles.count(care::common::v1::ROLE_PEER) > 0 &&
        req->kind() != v1::TICKET_KIND_CARE_CHECK_IN) {
      return Error(absl::StatusCode::kPermissionDenied, "PEER_NOT_ALLOWED", "a peer files only CARE_CHECK_IN tickets",
                   {{"method", "CreateComplaint"}, {"principal", caller.principal->name}});
    }
    if (absl::Status bad = CheckCreateComplaint(req); !bad.ok()) return bad;
    // A contact has no tier: their ticket is untiered (UNAVAILABLE).
    TierAtIntake tier;
    tier.info.set_source(v1::TIER_SOURCE_UNAVAILABLE);
    if (req->contact_id().empty()) {
      auto found = TierOf(req->member_id());
      if (!found.ok()) return found.status();
      tier = *std::move(found);
    }
    return service_.Create(OnceFor(caller, "CreateComplaint", req->request_id(), *req), NewComplaintOf(*req), tier,
                           ActorOf(caller));
  });
}

absl::StatusOr<TierAtIntake> ComplaintGrpc::TierOf(const std::string& member_id) {
  // Before the tier lookup: loyalty no longer knows an erased member.
  if (absl::Status gone = service_.RefuseErased(member_id); !gone.ok()) return gone;
  // The member's tier through the tier cache; without it the ticket is
  // still taken (untiered), never lost.
  TierAtIntake tier;
  tier.info.set_source(v1::TIER_SOURCE_UNAVAILABLE);
  if (tiers_ == nullptr) return tier;
  auto snapshot = tiers_->Get(member_id);
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
  return tier;
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
    if (absl::Status s = CheckFilterValues("kinds", req->kinds_size()); !s.ok()) return s;
    FieldErrors errors;
    errors.RequireNonEmpty("complaint_id", req->complaint_id());
    PageSize(req->page_size(), errors);
    if (!errors.empty()) return errors.ToStatus();
    auto page = ReadPageRequest(*req, req->page_size(), req->page_token());
    if (!page.ok()) return page.status();
    auto events = service_.Events(req->complaint_id(), page->cursor, page->size + 1);
    if (!events.ok()) return events.status();
    v1::ListComplaintEventsResponse out;
    out.set_next_page_token(TrimPage(*events, page->size, *req,
                                     [](const v1::ComplaintEvent& e) { return e.sequence(); }));
    for (auto& e : *events) *out.add_events() = std::move(e);
    return out;
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
    errors.RequireMaxLength("reason", req->reason(), 2000);
    if (!errors.empty()) return errors.ToStatus();
    return service_.Transition(OnceFor(caller, "TransitionComplaint", req->request_id(), *req),
                               {req->complaint_id(), req->expected_version(), req->to_status(), req->reason()},
                               ActorOf(caller));
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
    if (req->validate_only()) return service_.CheckReply(req->complaint_id(), req->text());
    AgentReply cmd{req->complaint_id(), req->expected_version(), req->text(), std::nullopt, req->wait_for_customer()};
    if (req->has_consultation_time()) cmd.consultation_time = req->consultation_time();
    return service_.Reply(OnceFor(caller, "ReplyToComplaint", req->request_id(), *req), cmd, ActorOf(caller));
  });
}

Reactor* ComplaintGrpc::ResolveComplaint(ServerContext* ctx, const v1::ResolveComplaintRequest* req,
                                         v1::ResolveComplaintResponse* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::ResolveComplaintResponse> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireNonEmpty("complaint_id", req->complaint_id());
    if (errors.RequireNonEmpty("resolution_summary", req->resolution_summary())) {
      errors.RequireMaxLength("resolution_summary", req->resolution_summary(), 5000);
    }
    if (req->has_compensation()) CheckCompensation(errors, req->compensation());
    if (!errors.empty()) return errors.ToStatus();
    return service_.Resolve(OnceFor(caller, "ResolveComplaint", req->request_id(), *req), ResolutionOf(*req),
                            ActorOf(caller));
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
    return service_.Approve(OnceFor(caller, "ApproveCompensation", req->request_id(), *req),
                            {req->complaint_id(), req->compensation_id(), req->reason()}, ActorOf(caller));
  });
}

Reactor* ComplaintGrpc::SubmitSurveyResponse(ServerContext* ctx, const v1::SubmitSurveyResponseRequest* req,
                                             v1::SurveyResponse* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::SurveyResponse> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireNonEmpty("survey_token", req->survey_token());
    errors.RequireRange("score", req->score(), 1, 5);
    errors.RequireMaxLength("comment", req->comment(), 5000);
    if (!errors.empty()) return errors.ToStatus();
    return service_.AnswerSurvey(OnceFor(caller, "SubmitSurveyResponse", req->request_id(), *req),
                                 {req->survey_token(), req->score(), req->comment()});
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
    return service_.PutPhrases(AuditedOnce(caller, "PutForbiddenPhrases", req->request_id(), *req,
                                           AuditOf(caller, absl::StrCat("phrases:", req->list().locale()))),
                               req->list(), req->expected_version(), ActorOf(caller));
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
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::BusinessCalendar> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    ValidateCalendar(errors, req->calendar());
    if (!errors.empty()) return errors.ToStatus();
    return service_.CreateCalendar(AuditedOnce(caller, "CreateBusinessCalendar", req->request_id(), *req,
                                               AuditOf(caller,
                                                       absl::StrCat("calendar:", req->calendar().calendar_id()))),
                                   req->calendar());
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
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::SlaPolicy> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    ValidatePolicy(errors, req->policy());
    if (!errors.empty()) return errors.ToStatus();
    return service_.CreatePolicy(AuditedOnce(caller, "CreateSlaPolicy", req->request_id(), *req,
                                             AuditOf(caller,
                                                     absl::StrCat("sla_policy:", req->policy().sla_policy_id()))),
                                 req->policy());
  });
}

Reactor* ComplaintGrpc::GetSlaPolicy(ServerContext* ctx, const v1::GetSlaPolicyRequest* req, v1::SlaPolicy* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller&) -> absl::StatusOr<v1::SlaPolicy> {
    if (req->sla_policy_id().empty()) return InvalidField("sla_policy_id", "is required");
    if (req->version() < 0) return InvalidField("version", "must not be negative");
    return service_.GetPolicy(req->sla_policy_id(), req->version());
  });
}

Reactor* ComplaintGrpc::GetComplaintSettings(ServerContext* ctx, const v1::GetComplaintSettingsRequest* req,
                                             v1::ComplaintSettings* resp) {
  return Answer(ctx, *req, resp, [this](const Caller&) { return service_.GetSettings(); });
}

Reactor* ComplaintGrpc::UpdateComplaintSettings(ServerContext* ctx, const v1::UpdateComplaintSettingsRequest* req,
                                                v1::ComplaintSettings* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::ComplaintSettings> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    const v1::ComplaintSettings& s = req->settings();
    if (s.has_reopen_window()) RequireDuration(errors, "settings.reopen_window", s.reopen_window(), true);
    for (int i = 0; i < s.approval_limits_size(); ++i) {
      if (s.approval_limits(i).max_points() < 0) {
        errors.Add(absl::StrCat("settings.approval_limits[", i, "].max_points"), "must not be negative");
      }
    }
    ValidateStaff(errors, s);
    if (!errors.empty()) return errors.ToStatus();
    return service_.UpdateSettings(AuditedOnce(caller, "UpdateComplaintSettings", req->request_id(), *req,
                                               AuditOf(caller, "settings")),
                                   req->settings(), req->update_mask());
  });
}

Reactor* ComplaintGrpc::GetComplaintMetrics(ServerContext* ctx, const v1::GetComplaintMetricsRequest* req,
                                            v1::ComplaintMetrics* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller&) -> absl::StatusOr<v1::ComplaintMetrics> {
    if (absl::Status s = CheckFilterValues("group_by", req->group_by_size()); !s.ok()) return s;
    FieldErrors errors;
    auto required_time = [&errors](const char* field, bool has, const google::protobuf::Timestamp& t) {
      if (has) {
        CheckTimestamp(errors, field, t);
      } else {
        errors.Add(field, "is required");
      }
    };
    required_time("start_time", req->has_start_time(), req->start_time());
    required_time("end_time", req->has_end_time(), req->end_time());
    if (errors.empty() && FromTimestamp(req->end_time()) <= FromTimestamp(req->start_time())) {
      errors.Add("end_time", "must be after start_time");
    }
    if (errors.empty() && FromTimestamp(req->end_time()) - FromTimestamp(req->start_time()) > absl::Hours(24 * 400)) {
      errors.Add("end_time", "must be at most 400 days after start_time");
    }
    std::vector<v1::MetricsDimension> group_by;
    for (int d : req->group_by()) {
      auto dim = static_cast<v1::MetricsDimension>(d);
      if (dim == v1::METRICS_DIMENSION_UNSPECIFIED || !v1::MetricsDimension_IsValid(d)) {
        errors.Add("group_by", "must name a dimension");
      } else if (std::find(group_by.begin(), group_by.end(), dim) != group_by.end()) {
        errors.Add("group_by", "repeats a dimension");
      }
      group_by.push_back(dim);
    }
    for (int i = 0; i < req->order_counts_size(); ++i) {
      if (req->order_counts(i).orders() < 0) errors.Add(absl::StrCat("order_counts[", i, "].orders"), "must be >= 0");
    }
    if (!errors.empty()) return errors.ToStatus();
    return service_.Metrics(FromTimestamp(req->start_time()), FromTimestamp(req->end_time()), group_by,
                            {req->order_counts().begin(), req->order_counts().end()});
  });
}

namespace {

// The queue a ListComplaints request asks for; bad filters name their fields.
absl::StatusOr<ComplaintService::ListFilter> ListFilterOf(const v1::ListComplaintsRequest& req) {
  FieldErrors errors;
  PageSize(req.page_size(), errors);
  ComplaintService::ListFilter f;
  ComplaintQuery& q = f.query;
  if (req.order_by().empty() || req.order_by() == "receive_time desc") {
    q.order = ComplaintQuery::Order::kNewestFirst;
  } else if (req.order_by() == "receive_time") {
    q.order = ComplaintQuery::Order::kOldestFirst;
  } else if (req.order_by() == "due_time") {
    q.order = ComplaintQuery::Order::kDueFirst;
  } else {
    errors.Add("order_by", "must be \"\", \"receive_time desc\", \"receive_time\" or \"due_time\"");
  }
  CheckOptionalTimestamp(errors, "received_after", req.has_received_after(), req.received_after());
  CheckOptionalTimestamp(errors, "received_before", req.has_received_before(), req.received_before());
  if (!req.contact_id().empty()) errors.RequireId("contact_id", req.contact_id());
  for (int k : req.kinds()) {
    if (k == v1::TICKET_KIND_UNSPECIFIED || !v1::TicketKind_IsValid(k))
      errors.Add("kinds", "must be COMPLAINT, INQUIRY or CARE_CHECK_IN");
  }
  if (!errors.empty()) return errors.ToStatus();
  q.received_after = OptionalTime(req.has_received_after(), req.received_after());
  q.received_before = OptionalTime(req.has_received_before(), req.received_before());
  q.statuses = Ints(req.statuses());
  q.channels = Ints(req.channels());
  q.categories = Ints(req.categories());
  q.priorities = Ints(req.priorities());
  q.member_id = req.member_id();
  q.contact_id = req.contact_id();
  f.kinds = Ints(req.kinds());
  q.team_id = req.team_id();
  q.assignee_agent_id = req.assignee_agent_id();
  q.unassigned_only = req.unassigned_only();
  q.order_id = req.order_id();
  q.breached_only = req.breached_only();
  f.compensation_statuses = Ints(req.compensation_statuses());
  f.escalation_notified_agent_id = req.escalation_notified_agent_id();
  return f;
}

// A ListComplaints cursor is "<sort key>/<complaint id>" ("" from the start).
absl::StatusOr<std::optional<std::pair<int64_t, std::string>>> ComplaintCursor(const std::string& cursor) {
  if (cursor.empty()) return std::nullopt;
  size_t slash = cursor.find('/');
  int64_t key = 0;
  if (slash == std::string::npos || !absl::SimpleAtoi(cursor.substr(0, slash), &key)) return InvalidPageToken();
  return std::make_pair(key, cursor.substr(slash + 1));
}

}  // namespace

Reactor* ComplaintGrpc::ListComplaints(ServerContext* ctx, const v1::ListComplaintsRequest* req,
                                       v1::ListComplaintsResponse* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller&) -> absl::StatusOr<v1::ListComplaintsResponse> {
    if (absl::Status s = CheckFilterValues({{"statuses", req->statuses_size()},
                                            {"channels", req->channels_size()},
                                            {"categories", req->categories_size()},
                                            {"priorities", req->priorities_size()},
                                            {"compensation_statuses", req->compensation_statuses_size()},
                                            {"kinds", req->kinds_size()}});
        !s.ok()) {
      return s;
    }
    auto filter = ListFilterOf(*req);
    if (!filter.ok()) return filter.status();
    auto page_request = ReadPageCursor(*req, req->page_size(), req->page_token());
    if (!page_request.ok()) return page_request.status();
    auto after = ComplaintCursor(page_request->cursor);
    if (!after.ok()) return after.status();
    filter->query.after = *after;
    auto page = service_.List(*filter, page_request->size);
    if (!page.ok()) return page.status();
    v1::ListComplaintsResponse out;
    for (auto& c : page->complaints) *out.add_complaints() = std::move(c);
    if (page->next) {
      out.set_next_page_token(EncodePageToken(*req, absl::StrCat(page->next->first, "/", page->next->second)));
    }
    return out;
  });
}

Reactor* ComplaintGrpc::UpdateComplaint(ServerContext* ctx, const v1::UpdateComplaintRequest* req,
                                        v1::Complaint* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::Complaint> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireNonEmpty("complaint.complaint_id", req->complaint().complaint_id());
    if (req->update_mask().paths().empty()) errors.Add("update_mask", "must name at least one field");
    for (const std::string& path : req->update_mask().paths()) {
      if (path != "category" && path != "priority" && path != "order_id" && path != "subject" && path != "locale") {
        errors.Add("update_mask", absl::StrCat("\"", path, "\" cannot be updated"));
      }
      if (path == "category" && req->complaint().category() == v1::CATEGORY_UNSPECIFIED) {
        errors.Add("complaint.category", "must be set");
      }
      if (path == "priority" && req->complaint().priority() == v1::PRIORITY_UNSPECIFIED) {
        errors.Add("complaint.priority", "must be set");
      }
    }
    errors.RequireMaxLength("complaint.subject", req->complaint().subject(), 200);
    errors.RequireMaxLength("complaint.order_id", req->complaint().order_id(), 128);
    if (!errors.empty()) return errors.ToStatus();
    ComplaintEdit cmd{req->complaint().complaint_id(),
                      req->expected_version(),
                      req->complaint(),
                      {req->update_mask().paths().begin(), req->update_mask().paths().end()},
                      req->reason()};
    return service_.Update(OnceFor(caller, "UpdateComplaint", req->request_id(), *req), cmd, ActorOf(caller));
  });
}

Reactor* ComplaintGrpc::ReopenComplaint(ServerContext* ctx, const v1::ReopenComplaintRequest* req,
                                        v1::Complaint* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::Complaint> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireNonEmpty("complaint_id", req->complaint_id());
    if (errors.RequireNonEmpty("reason", req->reason())) errors.RequireMaxLength("reason", req->reason(), 2000);
    if (!errors.empty()) return errors.ToStatus();
    return service_.Reopen(OnceFor(caller, "ReopenComplaint", req->request_id(), *req),
                           {req->complaint_id(), req->expected_version(), req->reason()}, ActorOf(caller));
  });
}

Reactor* ComplaintGrpc::AssignComplaint(ServerContext* ctx, const v1::AssignComplaintRequest* req,
                                        v1::Complaint* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::Complaint> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireNonEmpty("complaint_id", req->complaint_id());
    if (req->agent_id().empty() && req->team_id().empty()) errors.Add("agent_id", "agent_id or team_id is required");
    if (!errors.empty()) return errors.ToStatus();
    return service_.Assign(OnceFor(caller, "AssignComplaint", req->request_id(), *req),
                           {req->complaint_id(), req->expected_version(), req->agent_id(), req->team_id(),
                            req->reason()},
                           ActorOf(caller));
  });
}

Reactor* ComplaintGrpc::TransferComplaint(ServerContext* ctx, const v1::TransferComplaintRequest* req,
                                          v1::Complaint* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::Complaint> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireNonEmpty("complaint_id", req->complaint_id());
    if (req->to_agent_id().empty() && req->to_team_id().empty()) {
      errors.Add("to_agent_id", "to_agent_id or to_team_id is required");
    }
    if (errors.RequireNonEmpty("handover_note", req->handover_note())) {
      errors.RequireMaxLength("handover_note", req->handover_note(), 5000);
    }
    if (!errors.empty()) return errors.ToStatus();
    Handover cmd{req->complaint_id(), req->expected_version(), req->to_agent_id(),
                 req->to_team_id(),   req->handover_note(),    req->reason()};
    return service_.Transfer(OnceFor(caller, "TransferComplaint", req->request_id(), *req), cmd, ActorOf(caller));
  });
}

Reactor* ComplaintGrpc::RecordCustomerMessage(ServerContext* ctx, const v1::RecordCustomerMessageRequest* req,
                                              v1::RecordCustomerMessageResponse* resp) {
  return Answer(
      ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::RecordCustomerMessageResponse> {
        FieldErrors errors;
        errors.RequireId("request_id", req->request_id());
        errors.RequireNonEmpty("complaint_id", req->complaint_id());
        if (errors.RequireNonEmpty("text", req->text())) errors.RequireMaxLength("text", req->text(), 10000);
        if (req->channel() == v1::CHANNEL_UNSPECIFIED || !v1::Channel_IsValid(req->channel())) {
          errors.Add("channel", "must be set");
        }
        CheckOptionalTimestamp(errors, "received_time", req->has_received_time(), req->received_time());
        if (req->has_received_time() && ValidTimestamp(req->received_time()) &&
            FromTimestamp(req->received_time()) > service_.Now()) {
          errors.Add("received_time", "must not be in the future");
        }
        if (req->has_consultation_time()) RequireDuration(errors, "consultation_time", req->consultation_time(), false);
        if (!errors.empty()) return errors.ToStatus();
        CustomerContact cmd{req->complaint_id(), req->text(), req->channel(), std::nullopt, req->consultation_time()};
        if (req->has_received_time()) cmd.received_time = req->received_time();
        return service_.CustomerMessage(OnceFor(caller, "RecordCustomerMessage", req->request_id(), *req), cmd,
                                        ActorOf(caller));
      });
}

Reactor* ComplaintGrpc::AddNote(ServerContext* ctx, const v1::AddNoteRequest* req, v1::AddNoteResponse* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::AddNoteResponse> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireNonEmpty("complaint_id", req->complaint_id());
    if (errors.RequireNonEmpty("text", req->text())) errors.RequireMaxLength("text", req->text(), 10000);
    if (req->has_consultation_time()) RequireDuration(errors, "consultation_time", req->consultation_time(), false);
    if (!errors.empty()) return errors.ToStatus();
    return service_.AddNote(OnceFor(caller, "AddNote", req->request_id(), *req),
                            {req->complaint_id(), req->text(), req->consultation_time()}, ActorOf(caller));
  });
}

Reactor* ComplaintGrpc::RejectCompensation(ServerContext* ctx, const v1::RejectCompensationRequest* req,
                                           v1::Complaint* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::Complaint> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireNonEmpty("complaint_id", req->complaint_id());
    errors.RequireNonEmpty("compensation_id", req->compensation_id());
    if (errors.RequireNonEmpty("reason", req->reason())) errors.RequireMaxLength("reason", req->reason(), 2000);
    if (!errors.empty()) return errors.ToStatus();
    return service_.Reject(OnceFor(caller, "RejectCompensation", req->request_id(), *req),
                           {req->complaint_id(), req->compensation_id(), req->reason()}, ActorOf(caller));
  });
}

Reactor* ComplaintGrpc::PutScript(ServerContext* ctx, const v1::PutScriptRequest* req, v1::Script* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::Script> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    const v1::Script& sc = req->script();
    if (sc.category() == v1::CATEGORY_UNSPECIFIED || !v1::Category_IsValid(sc.category())) {
      errors.Add("script.category", "must be set");
    }
    if (!sc.locale().empty()) errors.RequireId("script.locale", sc.locale());
    errors.RequireMaxLength("script.title", sc.title(), 200);
    if (sc.steps_size() == 0 && sc.faqs_size() == 0) errors.Add("script.steps", "at least one step or FAQ");
    for (int i = 0; i < sc.steps_size(); ++i) {
      errors.RequireNonEmpty(absl::StrCat("script.steps[", i, "].title"), sc.steps(i).title());
    }
    for (int i = 0; i < sc.faqs_size(); ++i) {
      errors.RequireNonEmpty(absl::StrCat("script.faqs[", i, "].question"), sc.faqs(i).question());
      errors.RequireNonEmpty(absl::StrCat("script.faqs[", i, "].answer"), sc.faqs(i).answer());
    }
    if (!errors.empty()) return errors.ToStatus();
    return service_.PutScript(AuditedOnce(caller, "PutScript", req->request_id(), *req,
                                          AuditOf(caller, ScriptTarget(req->script()))),
                              req->script(), req->expected_version(), ActorOf(caller));
  });
}

Reactor* ComplaintGrpc::GetScript(ServerContext* ctx, const v1::GetScriptRequest* req, v1::Script* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller&) -> absl::StatusOr<v1::Script> {
    if (req->category() == v1::CATEGORY_UNSPECIFIED) return InvalidField("category", "is required");
    if (req->version() < 0) return InvalidField("version", "must not be negative");
    return service_.GetScript(req->category(), req->locale(), req->version());
  });
}

Reactor* ComplaintGrpc::GetScriptForComplaint(ServerContext* ctx, const v1::GetScriptForComplaintRequest* req,
                                              v1::Script* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller&) -> absl::StatusOr<v1::Script> {
    if (req->complaint_id().empty()) return InvalidField("complaint_id", "is required");
    return service_.ScriptForComplaint(req->complaint_id());
  });
}

Reactor* ComplaintGrpc::ListScripts(ServerContext* ctx, const v1::ListScriptsRequest* req,
                                    v1::ListScriptsResponse* resp) {
  return AnswerList(
      ctx, req, resp, [this, req] { return service_.ListScripts(req->category()); },
      [](const v1::Script& x, v1::ListScriptsResponse* out) { *out->add_scripts() = x; });
}

Reactor* ComplaintGrpc::ListForbiddenPhrases(ServerContext* ctx, const v1::ListForbiddenPhrasesRequest* req,
                                             v1::ListForbiddenPhrasesResponse* resp) {
  return AnswerList(
      ctx, req, resp, [this, req] { return service_.ListPhrases(); },
      [](const v1::ForbiddenPhraseList& x, v1::ListForbiddenPhrasesResponse* out) { *out->add_lists() = x; });
}

Reactor* ComplaintGrpc::ListBusinessCalendars(ServerContext* ctx, const v1::ListBusinessCalendarsRequest* req,
                                              v1::ListBusinessCalendarsResponse* resp) {
  return AnswerList(
      ctx, req, resp, [this, req] { return service_.ListCalendars(); },
      [](const v1::BusinessCalendar& x, v1::ListBusinessCalendarsResponse* out) { *out->add_calendars() = x; });
}

Reactor* ComplaintGrpc::UpdateBusinessCalendar(ServerContext* ctx, const v1::UpdateBusinessCalendarRequest* req,
                                               v1::BusinessCalendar* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::BusinessCalendar> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireNonEmpty("calendar.calendar_id", req->calendar().calendar_id());
    if (req->update_mask().paths().empty()) errors.Add("update_mask", "must name at least one field");
    for (const std::string& path : req->update_mask().paths()) {
      if (path != "display_name" && path != "time_zone" && path != "weekly_hours" && path != "holidays") {
        errors.Add("update_mask", absl::StrCat("\"", path, "\" cannot be updated"));
      } else if (path == "time_zone") {
        errors.RequireTimeZone("calendar.time_zone", req->calendar().time_zone());
      }
    }
    if (!errors.empty()) return errors.ToStatus();
    return service_.UpdateCalendar(AuditedOnce(caller, "UpdateBusinessCalendar", req->request_id(), *req,
                                               AuditOf(caller,
                                                       absl::StrCat("calendar:", req->calendar().calendar_id()))),
                                   req->calendar(), req->update_mask());
  });
}

Reactor* ComplaintGrpc::DeleteBusinessCalendar(ServerContext* ctx, const v1::DeleteBusinessCalendarRequest* req,
                                               v1::DeleteBusinessCalendarResponse* resp) {
  return Answer(ctx, *req, resp,
                [this, req](const Caller& caller) -> absl::StatusOr<v1::DeleteBusinessCalendarResponse> {
                  FieldErrors errors;
                  errors.RequireId("request_id", req->request_id());
                  errors.RequireNonEmpty("calendar_id", req->calendar_id());
                  if (!errors.empty()) return errors.ToStatus();
                  absl::Status s = service_.DeleteCalendar(
                      AuditedOnce(caller, "DeleteBusinessCalendar", req->request_id(), *req,
                                  AuditOf(caller, absl::StrCat("calendar:", req->calendar_id()))),
                      req->calendar_id(), req->expected_version());
                  if (!s.ok()) return s;
                  return v1::DeleteBusinessCalendarResponse();
                });
}

Reactor* ComplaintGrpc::ListSlaPolicies(ServerContext* ctx, const v1::ListSlaPoliciesRequest* req,
                                        v1::ListSlaPoliciesResponse* resp) {
  return AnswerList(
      ctx, req, resp, [this, req] { return service_.ListPolicies(); },
      [](const v1::SlaPolicy& x, v1::ListSlaPoliciesResponse* out) { *out->add_policies() = x; });
}

Reactor* ComplaintGrpc::UpdateSlaPolicy(ServerContext* ctx, const v1::UpdateSlaPolicyRequest* req,
                                        v1::SlaPolicy* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::SlaPolicy> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    if (req->update_mask().paths().empty()) errors.Add("update_mask", "must name at least one field");
    for (const std::string& path : req->update_mask().paths()) {
      if (path == "sla_policy_id" || path == "version" || path == "create_time" || path == "update_time") {
        errors.Add("update_mask", absl::StrCat("\"", path, "\" is output only or the identifier"));
      } else if (!v1::SlaPolicy::descriptor()->FindFieldByName(path)) {
        errors.Add("update_mask", absl::StrCat("\"", path, "\" is not a policy field"));
      }
    }
    ValidatePolicy(errors, req->policy());
    if (!errors.empty()) return errors.ToStatus();
    return service_.UpdatePolicy(AuditedOnce(caller, "UpdateSlaPolicy", req->request_id(), *req,
                                             AuditOf(caller,
                                                     absl::StrCat("sla_policy:", req->policy().sla_policy_id()))),
                                 req->policy(), req->update_mask());
  });
}

Reactor* ComplaintGrpc::DeleteSlaPolicy(ServerContext* ctx, const v1::DeleteSlaPolicyRequest* req,
                                        v1::DeleteSlaPolicyResponse* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::DeleteSlaPolicyResponse> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireNonEmpty("sla_policy_id", req->sla_policy_id());
    if (!errors.empty()) return errors.ToStatus();
    absl::Status s = service_.DeletePolicy(AuditedOnce(caller, "DeleteSlaPolicy", req->request_id(), *req,
                                                       AuditOf(caller,
                                                               absl::StrCat("sla_policy:", req->sla_policy_id()))),
                                           req->sla_policy_id(), req->expected_version());
    if (!s.ok()) return s;
    return v1::DeleteSlaPolicyResponse();
  });
}

// ------------------------------------------------------------ personal data

namespace {
// Items of one export batch: a slow reader holds at most this many.
constexpr int kExportBatch = 200;
}  // namespace

grpc::ServerWriteReactor<v1::ComplaintPersonalData>* ComplaintGrpc::ExportPersonalData(
    ServerContext* ctx, const care::common::v1::ExportPersonalDataRequest* req) {
  using Writer = BatchedWriter<v1::ComplaintPersonalData>;
  auto audit = std::make_shared<PersonalDataExportAudit>(digests_);
  auto fetch = [this, req, audit, cursor = ExportCursor(),
                contacts = ContactExportCursor()](const Caller& caller) mutable -> absl::StatusOr<Writer::Batch> {
    auto write = [this](const AuditRecord& r) { return service_.AuditRead(r); };
    if (absl::Status s = audit->Start(caller, *req, write); !s.ok()) return s;
    Writer::Batch batch;
    // First the contacts with the subject's address or linked to the member,
    // with their own tickets, a batch of contacts per read.
    if (!contacts.done) {
      const care::common::v1::DataSubject& subject = req->subject();
      auto items = service_.ExportContacts({subject.email(), subject.phone(), subject.member_id(), ""}, contacts);
      if (!items.ok()) return items.status();
      batch.items = std::move(*items);
      audit->Count(batch.items.size());
      return batch;
    }
    // A member's tickets are filed by member id.
    if (!req->subject().member_id().empty()) {
      auto items = service_.ExportPersonalData(req->subject().member_id(), cursor, kExportBatch);
      if (!items.ok()) return items.status();
      for (auto& item : *items) batch.items.push_back(std::move(item));
    }
    batch.last = req->subject().member_id().empty() || cursor.done;
    audit->Count(batch.items.size());
    return batch;
  };
  return new Writer(rpc_, ctx, *req, std::move(fetch));
}

Reactor* ComplaintGrpc::ErasePersonalData(ServerContext* ctx, const care::common::v1::ErasePersonalDataRequest* req,
                                          care::common::v1::ErasureReceipt* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<care::common::v1::ErasureReceipt> {
    // Erasure reaches complaint from loyalty's ErasePerson alone.
    if (absl::Status s = AuthorizePeer(*caller.principal, {"svc:loyalty"}, "ErasePersonalData"); !s.ok()) {
      return s;
    }
    if (absl::Status bad = CheckErasureRequest(*req); !bad.ok()) return bad;
    Erasure cmd{req->erasure_id(),           req->subject().member_id(), req->subject().email(), req->subject().phone(),
                SubjectKeys(req->subject()), req->pseudonym(),           req->reason()};
    LogWarn("personal data erasure",
            {{"principal", caller.principal->name}, {"erasure_id", req->erasure_id()}, {"reason", req->reason()}});
    return service_.ErasePersonalData(SharedOnce("ErasePersonalData", req->erasure_id(), *req), cmd);
  });
}

Reactor* ComplaintGrpc::CreateContact(ServerContext* ctx, const v1::CreateContactRequest* req, v1::Contact* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::Contact> {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    ValidateContact(errors, req->contact());
    if (!errors.empty()) return errors.ToStatus();
    return service_.CreateContact(OnceFor(caller, "CreateContact", req->request_id(), *req), req->contact(),
                                  ActorOf(caller));
  });
}

Reactor* ComplaintGrpc::UpdateContact(ServerContext* ctx, const v1::UpdateContactRequest* req, v1::Contact* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::Contact> {
    static const std::set<std::string> kUpdatable = {"display_name", "email",   "phone",    "locale",
                                                     "time_zone",    "channel", "consents", "prospect"};
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireId("contact.contact_id", req->contact().contact_id());
    if (req->update_mask().paths().empty()) errors.Add("update_mask", "must name at least one field");
    for (const std::string& path : req->update_mask().paths()) {
      if (kUpdatable.count(path) == 0) errors.Add("update_mask", absl::StrCat("\"", path, "\" cannot be updated"));
    }
    if (req->expected_version() < 0) errors.Add("expected_version", "must be >= 0");
    if (!errors.empty()) return errors.ToStatus();
    // A retry is the same request when the fields it changes are: what the
    // contact carries outside the mask (a re-read version, dates) is ignored.
    v1::UpdateContactRequest asked = *req;
    google::protobuf::FieldMask kept = req->update_mask();
    kept.add_paths("contact_id");
    google::protobuf::util::FieldMaskUtil::TrimMessage(kept, asked.mutable_contact());
    ComplaintService::ContactEdit cmd{req->contact().contact_id(),
                                      req->expected_version(),
                                      req->contact(),
                                      {req->update_mask().paths().begin(), req->update_mask().paths().end()}};
    const std::string target = absl::StrCat("contact:", req->contact().contact_id());
    return service_.UpdateContact(
        AuditedOnce(caller, "UpdateContact", req->request_id(), asked, AuditOf(caller, target)), cmd, ActorOf(caller));
  });
}

Reactor* ComplaintGrpc::GetContact(ServerContext* ctx, const v1::GetContactRequest* req, v1::Contact* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller&) -> absl::StatusOr<v1::Contact> {
    FieldErrors errors;
    errors.RequireId("contact_id", req->contact_id());
    if (!errors.empty()) return errors.ToStatus();
    return service_.GetContact(req->contact_id());
  });
}

namespace {
// The audit entry of one page of ListContacts: who, why, the filters it
// named (never their values: an e-mail address is one) and how many
// contacts the page holds.
AuditRecord ContactListAudit(const Caller& caller, const v1::ListContactsRequest& req, size_t count) {
  AuditRecord entry = AuditOf(caller, "contacts", req.reason());
  std::vector<std::string> parts = {absl::StrCat("count=", count)};
  if (req.prospects_only()) parts.push_back("prospects_only");
  if (!req.source().empty()) parts.push_back("source");
  if (!req.interest().empty()) parts.push_back("interest");
  if (req.consented_channel() != 0) parts.push_back("consented_channel");
  if (!req.email().empty()) parts.push_back("email");
  if (!req.page_token().empty()) parts.push_back("next_page");
  entry.detail = absl::StrJoin(parts, " ").substr(0, 200);
  return entry;
}
}  // namespace

Reactor* ComplaintGrpc::ListContacts(ServerContext* ctx, const v1::ListContactsRequest* req,
                                     v1::ListContactsResponse* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::ListContactsResponse> {
    FieldErrors errors;
    errors.RequireMaxLength("reason", req->reason(), 500);
    if (!req->source().empty()) errors.RequireId("source", req->source());
    errors.RequireMaxLength("interest", req->interest(), 100);
    if (!req->email().empty() && !IsEmail(req->email())) errors.Add("email", "not an e-mail address");
    const int channel = req->consented_channel();
    if (channel != 0 && channel != care::common::v1::MESSAGE_CHANNEL_EMAIL &&
        channel != care::common::v1::MESSAGE_CHANNEL_WEBHOOK && channel != care::common::v1::MESSAGE_CHANNEL_IN_APP) {
      errors.Add("consented_channel", "must be EMAIL, WEBHOOK or IN_APP");
    }
    if (!errors.empty()) return errors.ToStatus();
    auto page_request = ReadPageCursor(*req, req->page_size(), req->page_token());
    if (!page_request.ok()) return page_request.status();
    ComplaintService::ContactFilter f;
    // A source or an interest is a prospect's.
    f.query.prospects_only = req->prospects_only() || !req->source().empty() || !req->interest().empty();
    f.query.source = req->source();
    f.query.email = req->email();
    f.query.after = page_request->cursor;
    f.interest = req->interest();
    f.consented_channel = channel;
    auto page = service_.ListContacts(f, page_request->size);
    if (!page.ok()) return page.status();
    // Personal data in bulk: audited before it is sent (none without its entry).
    if (absl::Status s = service_.AuditRead(ContactListAudit(caller, *req, page->contacts.size())); !s.ok()) return s;
    v1::ListContactsResponse out;
    for (auto& c : page->contacts) *out.add_contacts() = std::move(c);
    if (!page->next.empty()) out.set_next_page_token(EncodePageToken(*req, page->next));
    return out;
  });
}

Reactor* ComplaintGrpc::LinkContacts(ServerContext* ctx, const v1::LinkContactsRequest* req,
                                     v1::LinkContactsResponse* resp) {
  return Answer(ctx, *req, resp, [this, req](const Caller& caller) -> absl::StatusOr<v1::LinkContactsResponse> {
    // Among peers only loyalty, which enrols members, links them.
    if (absl::Status s = AuthorizePeer(*caller.principal, {"svc:loyalty"}, "LinkContacts"); !s.ok()) return s;
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireId("member_id", req->member_id());
    if (req->email().empty() && req->phone().empty()) errors.Add("email", "an e-mail address or a phone is required");
    if (!req->email().empty() && !IsEmail(req->email())) errors.Add("email", "not an e-mail address");
    if (!req->phone().empty() && !IsE164(req->phone())) errors.Add("phone", "not an E.164 number");
    if (!errors.empty()) return errors.ToStatus();
    return service_.LinkContacts(OnceFor(caller, "LinkContacts", req->request_id(), *req), req->member_id(),
                                 req->email(), req->phone());
  });
}

}  // namespace care::complaint
