// Resolution and goodwill: resolving (clocks stop, the survey goes out, the
// check-in is scheduled), compensation within approval limits, a
// supervisor's approval or rejection, and the receivers' answers.

#include "common/bounds.h"
#include "common/proto_time.h"
#include "services/complaint/complaint_service.h"
#include "services/complaint/service_internal.h"
#include "services/complaint/sla_clock.h"

namespace care::complaint {
namespace {

using care::common::v1::Role;

// The compensation a supervisor decides on: pending, and not their own.
absl::StatusOr<v1::Compensation*> PendingCompensation(v1::Complaint& c, const std::string& id, const ActorInfo& actor) {
  v1::Compensation* comp = nullptr;
  for (auto& x : *c.mutable_compensations()) {
    if (x.compensation_id() == id) comp = &x;
  }
  if (comp == nullptr) return NotFound("COMPENSATION_NOT_FOUND", "no such compensation on the complaint");
  if (comp->status() != v1::COMPENSATION_STATUS_PENDING_APPROVAL) {
    return FailedPrecondition("COMPENSATION_NOT_PENDING", "the compensation is not awaiting approval");
  }
  if (comp->requested_by().principal_id() == actor.principal) {
    return Error(absl::StatusCode::kPermissionDenied, "SELF_APPROVAL_NOT_ALLOWED",
                 "a compensation is decided by someone other than who requested it");
  }
  return comp;
}

// The approval limit of `role` for points: from the settings, else defaults.
std::optional<int64_t> PointsLimit(const v1::ComplaintSettings& settings, Role role, int64_t agent_default) {
  for (const v1::ApprovalLimit& l : settings.approval_limits()) {
    if (l.role() == role) return l.unlimited() ? std::nullopt : std::optional<int64_t>(l.max_points());
  }
  if (role == care::common::v1::ROLE_SUPERVISOR || role == care::common::v1::ROLE_ADMIN) return std::nullopt;
  return role == care::common::v1::ROLE_AGENT ? agent_default : 0;
}

// Points already granted on the complaint (issuing or issued), besides
// `except`: approval limits count per complaint, so resolving, reopening and
// resolving again cannot grant the limit twice.
int64_t GrantedPoints(const v1::Complaint& c, const std::string& except) {
  int64_t total = 0;
  for (const v1::Compensation& x : c.compensations()) {
    if (x.compensation_id() == except || x.kind() != v1::COMPENSATION_KIND_POINTS) continue;
    if (x.status() != v1::COMPENSATION_STATUS_ISSUING && x.status() != v1::COMPENSATION_STATUS_ISSUED) continue;
    // Each grant is bounded by the adapter; the sum saturates rather than wraps.
    total = CheckedAdd(total, x.points(), kMaxPointsBalance).value_or(kMaxPointsBalance);
  }
  return total;
}

bool WithinLimit(const v1::ComplaintSettings& settings, Role role, const v1::Complaint& c, const v1::Compensation& comp,
                 int64_t agent_default) {
  if (comp.kind() == v1::COMPENSATION_KIND_POINTS) {
    std::optional<int64_t> limit = PointsLimit(settings, role, agent_default);
    if (!limit) return true;
    std::optional<int64_t> total = CheckedAdd(GrantedPoints(c, comp.compensation_id()), comp.points(),
                                              kMaxPointsBalance);
    return total && *total <= *limit;
  }
  // Vouchers: only roles the settings mark unlimited, or supervisors/admins.
  for (const v1::ApprovalLimit& l : settings.approval_limits()) {
    if (l.role() == role) return l.unlimited();
  }
  return role == care::common::v1::ROLE_SUPERVISOR || role == care::common::v1::ROLE_ADMIN;
}

v1::Compensation NewCompensation(const v1::Complaint& c, const GoodwillGrant& grant, const ActorInfo& actor,
                                 absl::Time now) {
  v1::Compensation comp;
  comp.set_compensation_id(absl::StrCat(c.complaint_id(), "-comp-", c.compensations_size() + 1));
  comp.set_kind(grant.kind);
  if (grant.kind == v1::COMPENSATION_KIND_POINTS) {
    comp.set_points(grant.points);
  } else {
    *comp.mutable_voucher() = grant.voucher;
  }
  comp.set_reason_code(grant.reason_code);
  comp.set_note(grant.note);
  *comp.mutable_requested_by() = ActorProto(actor);
  *comp.mutable_request_time() = ToTimestamp(now);
  return comp;
}

absl::Status RecordCompensation(StoreTxn& tx, const v1::Complaint& c, const v1::Compensation& comp,
                                const ActorInfo& actor, absl::Time now, const std::string& reason = "") {
  v1::ComplaintEvent e = NewEvent(c, v1::COMPLAINT_EVENT_KIND_COMPENSATION, actor, now, reason);
  *e.mutable_compensation() = comp;
  return tx.AppendEvent(e);
}

}  // namespace

absl::Status ComplaintService::Issue(StoreTxn& tx, const v1::Complaint& c, v1::Compensation& comp) {
  // ISSUING until the receiver acknowledges (GoodwillOutcome): only then is
  // there a reference the customer can be given.
  comp.set_status(v1::COMPENSATION_STATUS_ISSUING);
  return tx.Enqueue(outbound_->RequestGoodwill(c, comp));
}

absl::Status ComplaintService::SendSurvey(StoreTxn& tx, v1::Complaint& c, const v1::ComplaintSettings& settings,
                                          absl::Time now) {
  bool survey = settings.has_survey() ? settings.survey().enabled() : options_.survey_enabled;
  if (!survey) return absl::OkStatus();
  std::string token = NewSurveyToken();
  absl::Duration validity = settings.has_survey() && settings.survey().has_token_validity()
                                ? FromDurationProto(settings.survey().token_validity())
                                : options_.survey_validity;
  v1::Survey* sv = c.mutable_survey();
  sv->Clear();
  sv->set_status(v1::SURVEY_STATUS_SENT);
  *sv->mutable_send_time() = ToTimestamp(now);
  *sv->mutable_expire_time() = ToTimestamp(now + validity);
  if (absl::Status s = tx.PutSurveyToken(token, c.complaint_id()); !s.ok()) return s;
  return TellCustomer(tx, c, [&](const v1::Contact* to) {
    return outbound_->InviteToSurvey(c, token, FromTimestamp(sv->expire_time()), now, to);
  });
}

absl::Status ComplaintService::ScheduleCheckIn(StoreTxn& tx, v1::Complaint& c, const v1::ComplaintSettings& settings,
                                               const ActorInfo& actor, absl::Time now) {
  bool check_in = (settings.has_check_in() ? settings.check_in().enabled() : options_.check_in_enabled) &&
                  MatchesAny(settings.check_in().categories(), c.category());
  if (!check_in) return absl::OkStatus();
  absl::Duration delay = settings.has_check_in() && settings.check_in().has_delay_after_resolution()
                             ? FromDurationProto(settings.check_in().delay_after_resolution())
                             : options_.check_in_delay;
  // Held here until due, so that a reopening can still cancel it; the SLA
  // job hands it to the notification service then.
  c.mutable_check_in()->Clear();
  c.mutable_check_in()->set_status(v1::CHECK_IN_STATUS_SCHEDULED);
  *c.mutable_check_in()->mutable_due_time() = ToTimestamp(now + delay);
  v1::ComplaintEvent e = NewEvent(c, v1::COMPLAINT_EVENT_KIND_CHECK_IN, actor, now);
  *e.mutable_check_in() = c.check_in();
  return tx.AppendEvent(e);
}

absl::Status ComplaintService::ResolveNow(StoreTxn& tx, v1::Complaint& c, const v1::ComplaintSettings& settings,
                                          const ActorInfo& actor, absl::Time now) {
  auto cal = CalendarOf(tx, c.calendar_id());
  if (!cal.ok()) return cal.status();
  if (c.status() == v1::COMPLAINT_STATUS_WAITING_ON_CUSTOMER) {
    if (absl::Status s = ResumeClock(*cal, c.mutable_resolution_sla(), now); !s.ok()) return s;
    if (absl::Status s = ResumeClock(*cal, c.mutable_first_response_sla(), now); !s.ok()) return s;
  }
  if (!c.has_first_response_time()) *c.mutable_first_response_time() = ToTimestamp(now);
  StopClock(*cal, c.mutable_first_response_sla(), FromTimestamp(c.receive_time()), now);
  StopClock(*cal, c.mutable_resolution_sla(), FromTimestamp(c.receive_time()), now);
  absl::Status s = ChangeStatus(tx, c, v1::COMPLAINT_STATUS_RESOLVED, actor, c.resolution_summary(), now);
  if (!s.ok()) return s;
  *c.mutable_resolve_time() = ToTimestamp(now);
  absl::Duration window = settings.has_reopen_window() ? FromDurationProto(settings.reopen_window())
                                                       : options_.reopen_window;
  *c.mutable_reopen_deadline() = ToTimestamp(now + window);
  // A care check-in was the desk's idea: the member hears only what an
  // agent writes to them, no resolution message, survey or follow-up.
  if (c.kind() == v1::TICKET_KIND_CARE_CHECK_IN) return absl::OkStatus();
  if (absl::Status s = SendSurvey(tx, c, settings, now); !s.ok()) return s;
  if (absl::Status s = ScheduleCheckIn(tx, c, settings, actor, now); !s.ok()) return s;
  return TellCustomer(tx, c, [&](const v1::Contact* to) {
    return outbound_->NotifyMember(c, absl::StrCat("resolved:", c.reopen_count()), MemberUpdate::kResolved,
                                   c.resolution_summary(), now, to);
  });
}

absl::Status ComplaintService::Compensate(StoreTxn& tx, v1::Complaint& c, const GoodwillGrant& grant,
                                          const v1::ComplaintSettings& settings, const ActorInfo& actor, absl::Time now,
                                          v1::ResolveComplaintResponse& out) {
  // Points and vouchers are a member's: a contact's ticket gets none.
  if (c.member_id().empty()) {
    return FailedPrecondition("GOODWILL_NEEDS_MEMBER",
                              "goodwill goes to a loyalty member; this ticket was filed by a contact without one");
  }
  v1::Compensation comp = NewCompensation(c, grant, actor, now);
  if (WithinLimit(settings, actor.role, c, comp, options_.agent_points_limit)) {
    if (absl::Status s = Issue(tx, c, comp); !s.ok()) return s;
  } else {
    // Above the requester's limit: nothing is issued and the resolution is
    // parked (the summary kept) until a supervisor decides.
    comp.set_approval_required(true);
    comp.set_status(v1::COMPENSATION_STATUS_PENDING_APPROVAL);
    out.set_pending_approval(true);
    if (absl::Status s = AlertApproval(tx, c, comp, settings, now); !s.ok()) return s;
  }
  if (absl::Status s = RecordCompensation(tx, c, comp, actor, now); !s.ok()) return s;
  *c.add_compensations() = comp;
  *out.mutable_compensation() = comp;
  return absl::OkStatus();
}

absl::StatusOr<v1::ResolveComplaintResponse> ComplaintService::Resolve(const Once& once, const Resolution& cmd,
                                                                       const ActorInfo& actor) {
  const absl::Time now = Now();
  return WriteTicket<v1::ResolveComplaintResponse>(
      store_, once, [&](StoreTxn& tx, v1::ResolveComplaintResponse& out) -> absl::Status {
        auto c = Require(tx, cmd.complaint_id);
        if (!c.ok()) return c.status();
        if (absl::Status gone = RefuseErasedTicket(tx, *c); !gone.ok()) return gone;
        if (absl::Status bad = CheckVersion(c->version(), cmd.expected_version, "the complaint"); !bad.ok()) {
          return bad;
        }
        if (absl::Status bad = RequireNotClosed(*c); !bad.ok()) return bad;
        if (!Open(c->status())) return InvalidTransition(c->status(), v1::COMPLAINT_STATUS_RESOLVED);
        for (const v1::Compensation& existing : c->compensations()) {
          if (existing.status() == v1::COMPENSATION_STATUS_PENDING_APPROVAL) {
            return FailedPrecondition("COMPENSATION_PENDING", "a compensation awaits approval");
          }
        }
        // The summary goes to the customer (now, or when a parked resolution
        // is approved): checked like a reply.
        if (absl::Status bad = CheckCustomerText(tx, *c, "resolution_summary", cmd.summary); !bad.ok()) return bad;
        auto settings = LoadSettings(tx);
        if (!settings.ok()) return settings.status();
        c->set_resolution_summary(cmd.summary);
        AddConsultation(*c, cmd.consultation_time);
        if (cmd.compensation) {
          if (absl::Status s = Compensate(tx, *c, *cmd.compensation, *settings, actor, now, out); !s.ok()) return s;
        }
        if (!out.pending_approval()) {
          if (absl::Status s = ResolveNow(tx, *c, *settings, actor, now); !s.ok()) return s;
        }
        if (absl::Status s = Save(tx, *c, now); !s.ok()) return s;
        *out.mutable_complaint() = *c;
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Complaint> ComplaintService::Approve(const Once& once, const Decision& cmd, const ActorInfo& actor) {
  const absl::Time now = Now();
  return WriteTicket<v1::Complaint>(store_, once, [&](StoreTxn& tx, v1::Complaint& out) -> absl::Status {
    auto c = Require(tx, cmd.complaint_id);
    if (!c.ok()) return c.status();
    if (absl::Status gone = RefuseErasedTicket(tx, *c); !gone.ok()) return gone;
    auto found = PendingCompensation(*c, cmd.compensation_id, actor);
    if (!found.ok()) return found.status();
    v1::Compensation* comp = *found;
    auto settings = LoadSettings(tx);
    if (!settings.ok()) return settings.status();
    if (!WithinLimit(*settings, actor.role, *c, *comp, options_.agent_points_limit)) {
      return Error(absl::StatusCode::kPermissionDenied, "APPROVAL_LIMIT_EXCEEDED",
                   "the compensation is above your approval limit");
    }
    *comp->mutable_decided_by() = ActorProto(actor);
    comp->set_decision_reason(cmd.reason);
    *comp->mutable_decide_time() = ToTimestamp(now);
    if (absl::Status s = Issue(tx, *c, *comp); !s.ok()) return s;
    if (absl::Status s = RecordCompensation(tx, *c, *comp, actor, now, cmd.reason); !s.ok()) return s;
    // The parked resolution goes ahead now.
    if (Open(c->status())) {
      if (absl::Status s = ResolveNow(tx, *c, *settings, actor, now); !s.ok()) return s;
    }
    if (absl::Status s = Save(tx, *c, now); !s.ok()) return s;
    out = *c;
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Complaint> ComplaintService::Reject(const Once& once, const Decision& cmd, const ActorInfo& actor) {
  const absl::Time now = Now();
  return WriteTicket<v1::Complaint>(store_, once, [&](StoreTxn& tx, v1::Complaint& out) -> absl::Status {
    auto c = Require(tx, cmd.complaint_id);
    if (!c.ok()) return c.status();
    if (absl::Status gone = RefuseErasedTicket(tx, *c); !gone.ok()) return gone;
    auto found = PendingCompensation(*c, cmd.compensation_id, actor);
    if (!found.ok()) return found.status();
    v1::Compensation* comp = *found;
    comp->set_status(v1::COMPENSATION_STATUS_REJECTED);
    *comp->mutable_decided_by() = ActorProto(actor);
    comp->set_decision_reason(cmd.reason);
    *comp->mutable_decide_time() = ToTimestamp(now);
    // The parked resolution is dropped; the agent may resolve again.
    if (Open(c->status())) c->clear_resolution_summary();
    if (absl::Status s = RecordCompensation(tx, *c, *comp, actor, now, cmd.reason); !s.ok()) return s;
    if (absl::Status s = Save(tx, *c, now); !s.ok()) return s;
    out = *c;
    return absl::OkStatus();
  });
}

absl::Status ComplaintService::GoodwillOutcome(StoreTxn& tx, const OutboxEvent& event, const absl::Status& result,
                                               const std::string& response) {
  const absl::Time now = Now();
  // Not a goodwill event of ours: not ours to fix; the relay goes on.
  std::optional<GoodwillReceipt> receipt = outbound_->ReadGoodwill(event, response);
  if (!receipt) return absl::OkStatus();
  auto found = tx.GetComplaint(receipt->complaint_id);
  if (!found.ok()) return found.status();
  if (!*found) return absl::OkStatus();
  v1::Complaint c = **std::move(found);
  v1::Compensation* comp = nullptr;
  for (auto& x : *c.mutable_compensations()) {
    if (x.compensation_id() == receipt->compensation_id) comp = &x;
  }
  // Only an issuing (or failed, then replayed) compensation moves.
  if (comp == nullptr ||
      (comp->status() != v1::COMPENSATION_STATUS_ISSUING && comp->status() != v1::COMPENSATION_STATUS_FAILED)) {
    return absl::OkStatus();
  }
  if (result.ok()) {
    if (receipt->reference) comp->set_issued_reference(*receipt->reference);
    if (receipt->voucher_code) comp->set_voucher_code(*receipt->voucher_code);
    comp->set_status(v1::COMPENSATION_STATUS_ISSUED);
    comp->clear_failure_reason();
    *comp->mutable_issue_time() = ToTimestamp(now);
  } else {
    comp->set_status(v1::COMPENSATION_STATUS_FAILED);
    comp->set_failure_reason(ErrorReason(result));
  }
  ActorInfo system{"system:outbox", care::common::v1::ROLE_UNSPECIFIED, true};
  const std::string why = result.ok() ? "acknowledged by the receiving service" : std::string(result.message());
  if (absl::Status s = RecordCompensation(tx, c, *comp, system, now, why); !s.ok()) return s;
  return Save(tx, c, now);
}

}  // namespace care::complaint
