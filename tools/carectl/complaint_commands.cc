// carectl complaint ...: tickets for support staff (care.complaint.v1):
// file, show, list, the audit trail, reply, move, assign, transfer, resolve
// with goodwill, approve, reopen, and the metrics.

#include "absl/strings/str_cat.h"
#include "care/complaint/v1/complaint.grpc.pb.h"
#include "common/proto_time.h"
#include "tools/carectl/commands.h"

namespace carectl {
namespace {

namespace v1 = care::complaint::v1;

std::unique_ptr<v1::ComplaintService::Stub> Stub(const Context& c) {
  return v1::ComplaintService::NewStub(c.channel());
}

std::string Clock(const v1::SlaClock& s) {
  if (!s.has_target()) return "-";
  if (s.has_met_time()) return absl::StrCat("met ", Time(s.met_time()), s.breached() ? " (after breach)" : "");
  if (s.breached()) return absl::StrCat("BREACHED at ", Time(s.breach_time()));
  if (s.paused()) return "paused (waiting on customer)";
  return absl::StrCat("due ", Time(s.due_time()), ", ",
                      absl::FormatDuration(care::FromDurationProto(s.time_to_breach())), " business time left");
}

void PrintComplaint(const v1::Complaint& c) {
  PrintFields({{"COMPLAINT", c.complaint_id()},
               {"MEMBER", c.member_id().empty() ? "-" : c.member_id()},
               {"CONTACT", c.contact_id().empty() ? "-" : c.contact_id()},
               {"KIND", EnumName(v1::TicketKind_descriptor(), c.kind())},
               {"STATUS", EnumName(v1::ComplaintStatus_descriptor(), c.status())},
               {"PRIORITY", EnumName(v1::Priority_descriptor(), c.priority())},
               {"CHANNEL", EnumName(v1::Channel_descriptor(), c.channel())},
               {"CATEGORY", EnumName(v1::Category_descriptor(), c.category())},
               {"ORDER", c.order_id().empty() ? "-" : c.order_id()},
               {"TIER", c.tier().tier_id().empty() ? "-" : c.tier().tier_id()},
               {"TEAM", c.team_id().empty() ? "-" : c.team_id()},
               {"SLA POLICY", c.sla_policy_id().empty() ? "-" : c.sla_policy_id()},
               {"FIRST RESPONSE", Clock(c.first_response_sla())},
               {"RESOLUTION", Clock(c.resolution_sla())},
               {"ESCALATIONS", absl::StrCat(c.escalations_size())},
               {"DUPLICATE OF", c.duplicate_of_complaint_id().empty() ? "-" : c.duplicate_of_complaint_id()}});
  for (const auto& comp : c.compensations()) {
    std::printf("compensation %s: %s %s\n", comp.compensation_id().c_str(),
                comp.kind() == v1::COMPENSATION_KIND_POINTS ? absl::StrCat(comp.points(), " points").c_str()
                                                            : "voucher",
                EnumName(v1::CompensationStatus_descriptor(), comp.status()).c_str());
  }
}

int File(Context& c, Args& a) {
  v1::CreateComplaintRequest req;
  // A member files by id; a contact without membership by --contact.
  const std::string contact = a.Flag("contact");
  if (contact.empty()) {
    req.set_member_id(a.Positional("member_id"));
  } else {
    req.set_contact_id(contact);
  }
  req.set_kind(static_cast<v1::TicketKind>(ParseEnum(v1::TicketKind_descriptor(), "--kind",
                                                     a.Flag("kind", "complaint"))));
  req.set_channel(static_cast<v1::Channel>(ParseEnum(v1::Channel_descriptor(), "--channel",
                                                     a.Flag("channel", "phone"))));
  req.set_category(static_cast<v1::Category>(ParseEnum(v1::Category_descriptor(), "--category",
                                                       a.Flag("category", "other"))));
  req.set_order_id(a.Flag("order"));
  req.set_description(a.Flag("description"));
  req.set_locale(a.Flag("locale"));
  req.set_request_id(RequestId(a));
  a.Done();
  if (req.description().empty()) throw UsageError("--description is required");
  v1::CreateComplaintResponse resp;
  return c.Finish(Stub(c)->CreateComplaint(c.NewCall().get(), req, &resp), resp, [&] {
    PrintComplaint(resp.complaint());
    if (!resp.likely_duplicate_of().empty())
      std::printf("likely duplicate of %s\n", resp.likely_duplicate_of().c_str());
  });
}

int Show(Context& c, Args& a) {
  v1::GetComplaintRequest req;
  req.set_complaint_id(a.Positional("complaint_id"));
  a.Done();
  v1::Complaint resp;
  return c.Finish(Stub(c)->GetComplaint(c.NewCall().get(), req, &resp), resp, [&] { PrintComplaint(resp); });
}

int History(Context& c, Args& a) {
  v1::ListComplaintEventsRequest req;
  req.set_complaint_id(a.Positional("complaint_id"));
  req.set_page_size(static_cast<int32_t>(a.IntFlag("page_size", 50)));
  req.set_page_token(a.Flag("page_token"));
  a.Done();
  v1::ListComplaintEventsResponse resp;
  return c.Finish(Stub(c)->ListComplaintEvents(c.NewCall().get(), req, &resp), resp, [&] {
    Table t({"#", "TIME", "KIND", "BY", "REASON"});
    for (const auto& e : resp.events()) {
      t.Row({absl::StrCat(e.sequence()), Time(e.create_time()), EnumName(v1::ComplaintEventKind_descriptor(), e.kind()),
             e.actor().principal_id(), e.reason().empty() ? "-" : e.reason()});
    }
    t.Print("(no events)");
    PrintNextPage(resp.next_page_token());
  });
}

int Reply(Context& c, Args& a) {
  v1::ReplyToComplaintRequest req;
  req.set_complaint_id(a.Positional("complaint_id"));
  req.set_text(a.Positional("text"));
  req.set_wait_for_customer(a.BoolFlag("wait"));
  req.set_validate_only(a.BoolFlag("check"));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::ReplyToComplaintResponse resp;
  return c.Finish(Stub(c)->ReplyToComplaint(c.NewCall().get(), req, &resp), resp, [&] {
    std::printf(req.validate_only() ? "reply passes the checks (not sent)\n" : "reply sent\n");
    PrintComplaint(resp.complaint());
  });
}

int Move(Context& c, Args& a) {
  v1::TransitionComplaintRequest req;
  req.set_complaint_id(a.Positional("complaint_id"));
  req.set_to_status(static_cast<v1::ComplaintStatus>(ParseEnum(v1::ComplaintStatus_descriptor(), "status",
                                                               a.Positional("status"))));
  req.set_reason(a.Flag("reason"));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::Complaint resp;
  return c.Finish(Stub(c)->TransitionComplaint(c.NewCall().get(), req, &resp), resp, [&] { PrintComplaint(resp); });
}

int Resolve(Context& c, Args& a) {
  v1::ResolveComplaintRequest req;
  req.set_complaint_id(a.Positional("complaint_id"));
  req.set_resolution_summary(a.Positional("summary"));
  if (int64_t points = a.IntFlag("points", 0); points > 0) {
    req.mutable_compensation()->set_points(points);
    req.mutable_compensation()->set_reason_code(a.Flag("reason_code", "GOODWILL"));
  }
  req.set_request_id(RequestId(a));
  a.Done();
  v1::ResolveComplaintResponse resp;
  return c.Finish(Stub(c)->ResolveComplaint(c.NewCall().get(), req, &resp), resp, [&] {
    PrintComplaint(resp.complaint());
    if (resp.pending_approval()) std::printf("compensation waits for a supervisor's approval\n");
  });
}

int Approve(Context& c, Args& a) {
  v1::ApproveCompensationRequest req;
  req.set_complaint_id(a.Positional("complaint_id"));
  req.set_compensation_id(a.Positional("compensation_id"));
  req.set_reason(a.Flag("reason"));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::Complaint resp;
  return c.Finish(Stub(c)->ApproveCompensation(c.NewCall().get(), req, &resp), resp, [&] { PrintComplaint(resp); });
}

int List(Context& c, Args& a) {
  v1::ListComplaintsRequest req;
  req.set_member_id(a.Flag("member"));
  req.set_assignee_agent_id(a.Flag("agent"));
  req.set_team_id(a.Flag("team"));
  req.set_unassigned_only(a.BoolFlag("unassigned"));
  req.set_breached_only(a.BoolFlag("breached"));
  if (std::string status = a.Flag("status"); !status.empty()) {
    req.add_statuses(static_cast<v1::ComplaintStatus>(ParseEnum(v1::ComplaintStatus_descriptor(), "--status", status)));
  }
  if (std::string kind = a.Flag("kind"); !kind.empty()) {
    req.add_kinds(static_cast<v1::TicketKind>(ParseEnum(v1::TicketKind_descriptor(), "--kind", kind)));
  }
  req.set_order_by(a.Flag("order_by"));
  req.set_page_size(static_cast<int32_t>(a.IntFlag("page_size", 50)));
  req.set_page_token(a.Flag("page_token"));
  a.Done();
  v1::ListComplaintsResponse resp;
  return c.Finish(Stub(c)->ListComplaints(c.NewCall().get(), req, &resp), resp, [&] {
    Table t({"COMPLAINT", "MEMBER", "KIND", "STATUS", "PRIORITY", "AGENT", "TEAM", "RECEIVED"});
    for (const auto& x : resp.complaints()) {
      t.Row({x.complaint_id(), x.member_id(), EnumName(v1::TicketKind_descriptor(), x.kind()),
             EnumName(v1::ComplaintStatus_descriptor(), x.status()), EnumName(v1::Priority_descriptor(), x.priority()),
             x.assignee_agent_id().empty() ? "-" : x.assignee_agent_id(), x.team_id().empty() ? "-" : x.team_id(),
             Time(x.receive_time())});
    }
    t.Print("(no complaints)");
    PrintNextPage(resp.next_page_token());
  });
}

int Assign(Context& c, Args& a) {
  v1::AssignComplaintRequest req;
  req.set_complaint_id(a.Positional("complaint_id"));
  req.set_agent_id(a.Flag("agent"));
  req.set_team_id(a.Flag("team"));
  req.set_reason(a.Flag("reason"));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::Complaint resp;
  return c.Finish(Stub(c)->AssignComplaint(c.NewCall().get(), req, &resp), resp, [&] { PrintComplaint(resp); });
}

int Transfer(Context& c, Args& a) {
  v1::TransferComplaintRequest req;
  req.set_complaint_id(a.Positional("complaint_id"));
  req.set_handover_note(a.Positional("handover_note"));
  req.set_to_agent_id(a.Flag("agent"));
  req.set_to_team_id(a.Flag("team"));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::Complaint resp;
  return c.Finish(Stub(c)->TransferComplaint(c.NewCall().get(), req, &resp), resp, [&] {
    PrintComplaint(resp);
    std::printf("hand-over note: %s\n", resp.handover().note().c_str());
  });
}

int Reopen(Context& c, Args& a) {
  v1::ReopenComplaintRequest req;
  req.set_complaint_id(a.Positional("complaint_id"));
  req.set_reason(a.Positional("reason"));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::Complaint resp;
  return c.Finish(Stub(c)->ReopenComplaint(c.NewCall().get(), req, &resp), resp, [&] { PrintComplaint(resp); });
}

int Metrics(Context& c, Args& a) {
  v1::GetComplaintMetricsRequest req;
  *req.mutable_start_time() = ParseTime("--from", a.Flag("from"));
  *req.mutable_end_time() = ParseTime("--to", a.Flag("to"));
  a.Done();
  v1::ComplaintMetrics resp;
  return c.Finish(Stub(c)->GetComplaintMetrics(c.NewCall().get(), req, &resp), resp, [&] {
    const auto& g = resp.overall();
    PrintFields(
        {{"COMPLAINTS", absl::StrCat(g.complaint_count())},
         {"RESOLVED", absl::StrCat(g.resolved_count(), " (", static_cast<int>(g.resolution_rate() * 100), "%)")},
         {"FIRST RESPONSE",
          absl::StrCat("median ", absl::FormatDuration(care::FromDurationProto(g.first_response_time().median())),
                       ", p90 ", absl::FormatDuration(care::FromDurationProto(g.first_response_time().p90())))},
         {"RESOLUTION",
          absl::StrCat("median ", absl::FormatDuration(care::FromDurationProto(g.resolution_time().median())), ", p90 ",
                       absl::FormatDuration(care::FromDurationProto(g.resolution_time().p90())))},
         {"SLA BREACHES", absl::StrCat(g.first_response_sla().breached_count(), " first response, ",
                                       g.resolution_sla().breached_count(), " resolution")},
         {"SATISFACTION",
          absl::StrCat(g.satisfaction().average_score(), " from ", g.satisfaction().response_count(), " answers")}});
  });
}

}  // namespace

std::vector<Command> ComplaintCommands() {
  return {
      {"complaint", "file",
       "[<member_id>] --description=TEXT [--contact=] [--kind=complaint|inquiry] [--channel=phone] "
       "[--category=other] [--order=] [--locale=] [--request-id=ID]",
       "files a complaint or an inquiry, for a member (its tier from loyalty) or a --contact without "
       "membership; its SLA clocks start (CreateComplaint)",
       File},
      {"complaint", "show", "<complaint_id>", "shows a complaint with its SLA clocks (GetComplaint)", Show},
      {"complaint", "history", "<complaint_id> [--page-size=50] [--page-token=]",
       "lists the audit trail: every change, reply and escalation (ListComplaintEvents)", History},
      {"complaint", "reply", "<complaint_id> <text> [--wait] [--check] [--request-id=ID]",
       "replies to the customer; refused if it holds a forbidden phrase; --check only checks (ReplyToComplaint)",
       Reply},
      {"complaint", "move",
       "<complaint_id> <acknowledged|in_progress|waiting_on_customer|closed> [--reason=] "
       "[--request-id=ID]",
       "changes the status (TransitionComplaint)", Move},
      {"complaint", "resolve", "<complaint_id> <summary> [--points=N --reason-code=GOODWILL] [--request-id=ID]",
       "resolves, with goodwill points if given (ResolveComplaint)", Resolve},
      {"complaint", "approve", "<complaint_id> <compensation_id> [--reason=] [--request-id=ID]",
       "approves a compensation above the requester's limit (ApproveCompensation)", Approve},
      {"complaint", "list",
       "[--member=] [--agent=] [--team=] [--unassigned] [--breached] [--status=] "
       "[--kind=complaint|inquiry|care_check_in] [--order-by=due_time] [--page-size=50] [--page-token=]",
       "lists complaints: a queue, a member's history, the care cadence's check-in tasks (ListComplaints)", List},
      {"complaint", "assign", "<complaint_id> [--agent=] [--team=] [--reason=] [--request-id=ID]",
       "assigns to an agent and/or a team queue (AssignComplaint)", Assign},
      {"complaint", "transfer", "<complaint_id> <handover_note> [--agent=] [--team=] [--request-id=ID]",
       "hands over with a note the next agent sees first (TransferComplaint)", Transfer},
      {"complaint", "reopen", "<complaint_id> <reason> [--request-id=ID]",
       "reopens a resolved complaint within its reopen window (ReopenComplaint)", Reopen},
      {"complaint", "metrics", "--from=RFC3339 --to=RFC3339",
       "response and resolution times, SLA breaches, satisfaction (GetComplaintMetrics)", Metrics},
  };
}

}  // namespace carectl
