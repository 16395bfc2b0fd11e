// Tickets: intake, reads and queues, the lifecycle, replies, customer
// messages, notes, hand-over and surveys. Resolution and goodwill are in
// goodwill.cc.

#include <algorithm>

#include "common/proto_time.h"
#include "services/complaint/complaint_service.h"
#include "services/complaint/service_internal.h"
#include "services/complaint/sla_clock.h"

namespace care::complaint {
namespace {

v1::Complaint NewTicket(const NewComplaint& cmd, const TierAtIntake& tier, const ActorInfo& actor, absl::Time now) {
  v1::Complaint c;
  c.set_complaint_id(NewId("c-"));
  c.set_member_id(cmd.member_id);
  c.set_contact_id(cmd.contact_id);
  c.set_kind(cmd.kind == v1::TICKET_KIND_UNSPECIFIED ? v1::TICKET_KIND_COMPLAINT : cmd.kind);
  c.set_channel(cmd.channel);
  c.set_category(cmd.category);
  c.set_order_id(cmd.order_id);
  c.set_subject(cmd.subject);
  c.set_description(cmd.description);
  c.set_locale(cmd.locale);
  c.set_status(v1::COMPLAINT_STATUS_NEW);
  // Higher tiers are answered faster ("special care"): the tier's support
  // priority is the default priority.
  c.set_priority(cmd.priority != v1::PRIORITY_UNSPECIFIED ? cmd.priority : tier.support_priority);
  *c.mutable_tier() = tier.info;
  c.set_team_id(cmd.team_id);
  c.set_assignee_agent_id(cmd.assignee_agent_id);
  *c.mutable_receive_time() = ToTimestamp(cmd.received_time.value_or(now));
  *c.mutable_create_time() = ToTimestamp(now);
  *c.mutable_created_by() = ActorProto(actor);
  return c;
}

// The first enabled policy (by evaluation order) that matches sets the clocks.
absl::Status StartSla(StoreTxn& tx, v1::Complaint& c) {
  auto policies = tx.Policies();
  if (!policies.ok()) return policies.status();
  std::stable_sort(policies->begin(), policies->end(),
                   [](const auto& a, const auto& b) { return a.evaluation_order() < b.evaluation_order(); });
  const absl::Time received = FromTimestamp(c.receive_time());
  for (const v1::SlaPolicy& p : *policies) {
    if (!PolicyMatches(p, c)) continue;
    c.set_sla_policy_id(p.sla_policy_id());
    c.set_sla_policy_version(p.version());
    c.set_calendar_id(p.calendar_id());
    auto cal = CalendarOf(tx, p.calendar_id());
    if (!cal.ok()) return cal.status();
    absl::Status s = StartClock(*cal, c.mutable_first_response_sla(), FromDurationProto(p.first_response_target()),
                                received);
    if (!s.ok()) return s;
    return StartClock(*cal, c.mutable_resolution_sla(), FromDurationProto(p.resolution_target()), received);
  }
  return absl::OkStatus();
}

// The CREATED event and, for a likely duplicate, DUPLICATE_LINKED.
absl::Status RecordIntake(StoreTxn& tx, const v1::Complaint& c, const ActorInfo& actor, absl::Time now) {
  v1::ComplaintEvent created = NewEvent(c, v1::COMPLAINT_EVENT_KIND_CREATED, actor, now);
  created.mutable_created()->set_channel(c.channel());
  created.mutable_created()->set_category(c.category());
  created.mutable_created()->set_priority(c.priority());
  *created.mutable_created()->mutable_tier() = c.tier();
  created.mutable_created()->set_sla_policy_id(c.sla_policy_id());
  if (absl::Status s = tx.AppendEvent(created); !s.ok()) return s;
  if (c.duplicate_of_complaint_id().empty()) return absl::OkStatus();
  v1::ComplaintEvent linked = NewEvent(c, v1::COMPLAINT_EVENT_KIND_DUPLICATE_LINKED, actor, now,
                                       "same member, order and category as an open complaint");
  return tx.AppendEvent(linked);
}

// The fields of an edit that differ, applied to `c`; a priority change has
// its own audit entry (the SLA clocks keep their targets).
absl::StatusOr<std::vector<std::string>> ApplyEdit(StoreTxn& tx, v1::Complaint& c, const ComplaintEdit& cmd,
                                                   const ActorInfo& actor, absl::Time now) {
  const v1::Complaint& in = cmd.values;
  std::vector<std::string> changed;
  for (const std::string& path : cmd.paths) {
    if (path == "category" && c.category() != in.category()) {
      c.set_category(in.category());
    } else if (path == "order_id" && c.order_id() != in.order_id()) {
      c.set_order_id(in.order_id());
    } else if (path == "subject" && c.subject() != in.subject()) {
      c.set_subject(in.subject());
    } else if (path == "locale" && c.locale() != in.locale()) {
      c.set_locale(in.locale());
    } else if (path == "priority" && c.priority() != in.priority()) {
      v1::ComplaintEvent pe = NewEvent(c, v1::COMPLAINT_EVENT_KIND_PRIORITY_CHANGED, actor, now, cmd.reason);
      pe.mutable_priority_changed()->set_from_priority(c.priority());
      pe.mutable_priority_changed()->set_to_priority(in.priority());
      if (absl::Status s = tx.AppendEvent(pe); !s.ok()) return s;
      c.set_priority(in.priority());
    } else {
      continue;
    }
    changed.push_back(path);
  }
  return changed;
}

// A contact's ticket: the contact must exist; it speaks the contact's
// language unless the request named one, and a contact linked to a member
// since files under the member too.
absl::Status FromContact(StoreTxn& tx, v1::Complaint& c) {
  if (c.contact_id().empty()) return absl::OkStatus();
  auto contact = tx.GetContact(c.contact_id());
  if (!contact.ok()) return contact.status();
  if (!*contact) return NotFound("CONTACT_NOT_FOUND", "no contact with this contact_id");
  if (c.locale().empty()) c.set_locale((*contact)->locale());
  c.set_member_id((*contact)->member_id());
  // A contact linked to a member since erased files nothing under them.
  if (c.member_id().empty()) return absl::OkStatus();
  return tx.RefuseIfErased({MemberSubject(c.member_id())});
}

// Whether a listed complaint passes the filters the store does not index.
bool Keep(const ComplaintService::ListFilter& filter, const v1::Complaint& c) {
  // Tickets stored before kinds existed are complaints.
  const int kind = c.kind() == v1::TICKET_KIND_UNSPECIFIED ? v1::TICKET_KIND_COMPLAINT : c.kind();
  if (!filter.kinds.empty() && std::find(filter.kinds.begin(), filter.kinds.end(), kind) == filter.kinds.end()) {
    return false;
  }
  if (!filter.compensation_statuses.empty()) {
    const auto& wanted = filter.compensation_statuses;
    bool any = false;
    for (const auto& comp : c.compensations()) {
      any = any || std::find(wanted.begin(), wanted.end(), static_cast<int>(comp.status())) != wanted.end();
    }
    if (!any) return false;
  }
  if (!filter.escalation_notified_agent_id.empty()) {
    bool any = false;
    for (const auto& e : c.escalations()) any = any || e.notified_agent_id() == filter.escalation_notified_agent_id;
    if (!any) return false;
  }
  return true;
}

}  // namespace

template <typename Fn>
absl::StatusOr<v1::Complaint> ComplaintService::ChangeOpen(const Once& once, const std::string& complaint_id,
                                                           int64_t expected_version, absl::Time now, Fn fn) {
  return WriteTicket<v1::Complaint>(store_, once, [&](StoreTxn& tx, v1::Complaint& out) -> absl::Status {
    auto c = Require(tx, complaint_id);
    if (!c.ok()) return c.status();
    if (absl::Status gone = RefuseErasedTicket(tx, *c); !gone.ok()) return gone;
    if (absl::Status bad = CheckVersion(c->version(), expected_version, "the complaint"); !bad.ok()) return bad;
    if (absl::Status bad = RequireNotClosed(*c); !bad.ok()) return bad;
    if (absl::Status s = fn(tx, *c); !s.ok()) return s;
    if (absl::Status s = Save(tx, *c, now); !s.ok()) return s;
    out = *c;
    return absl::OkStatus();
  });
}

absl::Status ComplaintService::AcknowledgeIntake(StoreTxn& tx, const v1::Complaint& c, absl::Time now) {
  const std::string received = c.kind() == v1::TICKET_KIND_INQUIRY ? "We have received your inquiry."
                                                                   : "We have received your complaint.";
  return TellCustomer(tx, c, [&](const v1::Contact* to) {
    return outbound_->NotifyMember(c, "received", MemberUpdate::kAcknowledged, received, now, to);
  });
}

absl::StatusOr<v1::CreateComplaintResponse> ComplaintService::Create(const Once& once, const NewComplaint& cmd,
                                                                     const TierAtIntake& tier, const ActorInfo& actor) {
  const absl::Time now = Now();
  return WriteTicket<v1::CreateComplaintResponse>(
      store_, once, [&](StoreTxn& tx, v1::CreateComplaintResponse& out) -> absl::Status {
        // An erased member is not re-created by a later ticket.
        if (absl::Status gone = tx.RefuseIfErased({MemberSubject(cmd.member_id)}); !gone.ok()) return gone;
        v1::Complaint c = NewTicket(cmd, tier, actor, now);
        if (absl::Status s = FromContact(tx, c); !s.ok()) return s;
        if (absl::Status s = StartSla(tx, c); !s.ok()) return s;
        // Duplicates are a member's; a contact's order is not theirs to match.
        if (!c.order_id().empty() && !c.member_id().empty()) {
          auto dup = tx.OpenDuplicate(c.member_id(), c.order_id(), c.category());
          if (!dup.ok()) return dup.status();
          if (*dup) c.set_duplicate_of_complaint_id(**dup);
        }
        if (absl::Status s = Save(tx, c, now); !s.ok()) return s;
        if (absl::Status s = RecordIntake(tx, c, actor, now); !s.ok()) return s;
        // A check-in is the desk's idea, not the member's: nothing to acknowledge.
        if (c.kind() != v1::TICKET_KIND_CARE_CHECK_IN) {
          if (absl::Status s = AcknowledgeIntake(tx, c, now); !s.ok()) return s;
        }
        *out.mutable_complaint() = c;
        *out.mutable_tier() = c.tier();
        out.set_likely_duplicate_of(c.duplicate_of_complaint_id());
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Complaint> ComplaintService::Get(const std::string& id) {
  v1::Complaint out;
  const absl::Time now = Now();
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto c = Require(tx, id);
    if (!c.ok()) return c.status();
    out = std::move(*c);
    auto cal = CalendarOf(tx, out.calendar_id());
    if (!cal.ok()) return cal.status();
    ShowTimeToBreach(*cal, out, now);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<v1::ComplaintEvent>> ComplaintService::Events(const std::string& id, int64_t after,
                                                                         int limit) {
  std::vector<v1::ComplaintEvent> out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto c = Require(tx, id);
    if (!c.ok()) return c.status();
    auto events = tx.Events(id, after, limit);
    if (!events.ok()) return events.status();
    out = std::move(*events);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<ComplaintService::Page> ComplaintService::List(const ListFilter& filter, int page_size) {
  Page page;
  const bool post_filtered = !filter.compensation_statuses.empty() || !filter.escalation_notified_agent_id.empty() ||
                             !filter.kinds.empty();
  ComplaintQuery query = filter.query;
  // Filters the store does not index are applied to bounded chunks; a page
  // may come back short with a cursor to continue from.
  const int chunk = post_filtered ? std::max(page_size * 4, 500) : page_size + 1;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    for (int round = 0; round < 20; ++round) {
      auto rows = tx.FindComplaints(query, chunk);
      if (!rows.ok()) return rows.status();
      for (ListedComplaint& row : *rows) {
        if (static_cast<int>(page.complaints.size()) == page_size) {
          // One more match exists beyond this page.
          page.next = query.after;
          return absl::OkStatus();
        }
        query.after = std::make_pair(row.sort_key, row.complaint.complaint_id());
        if (Keep(filter, row.complaint)) page.complaints.push_back(std::move(row.complaint));
      }
      if (static_cast<int>(rows->size()) < chunk) return absl::OkStatus();
    }
    page.next = query.after;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return page;
}

absl::StatusOr<v1::Complaint> ComplaintService::Update(const Once& once, const ComplaintEdit& cmd,
                                                       const ActorInfo& actor) {
  const absl::Time now = Now();
  return WriteTicket<v1::Complaint>(store_, once, [&](StoreTxn& tx, v1::Complaint& out) -> absl::Status {
    auto c = Require(tx, cmd.complaint_id);
    if (!c.ok()) return c.status();
    if (absl::Status gone = RefuseErasedTicket(tx, *c); !gone.ok()) return gone;
    if (absl::Status bad = CheckVersion(c->version(), cmd.expected_version, "the complaint"); !bad.ok()) return bad;
    if (absl::Status bad = RequireNotClosed(*c); !bad.ok()) return bad;
    auto changed = ApplyEdit(tx, *c, cmd, actor, now);
    if (!changed.ok()) return changed.status();
    if (!changed->empty()) {
      v1::ComplaintEvent e = NewEvent(*c, v1::COMPLAINT_EVENT_KIND_UPDATED, actor, now, cmd.reason);
      for (const std::string& path : *changed) e.mutable_updated()->add_paths(path);
      if (absl::Status s = tx.AppendEvent(e); !s.ok()) return s;
      if (absl::Status s = Save(tx, *c, now); !s.ok()) return s;
    }
    out = *c;
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Complaint> ComplaintService::Transition(const Once& once, const StatusChange& cmd,
                                                           const ActorInfo& actor) {
  const absl::Time now = Now();
  return ChangeOpen(
      once, cmd.complaint_id, cmd.expected_version, now, [&](StoreTxn& tx, v1::Complaint& c) -> absl::Status {
        if (!TransitionAllowed(c.status(), cmd.to_status)) return InvalidTransition(c.status(), cmd.to_status);
        if (cmd.to_status == v1::COMPLAINT_STATUS_CLOSED && Open(c.status()) && cmd.reason.empty()) {
          return InvalidField("reason", "is required to close an unresolved complaint");
        }
        if (absl::Status s = ChangeStatus(tx, c, cmd.to_status, actor, cmd.reason, now); !s.ok()) return s;
        if (cmd.to_status == v1::COMPLAINT_STATUS_CLOSED) {
          *c.mutable_close_time() = ToTimestamp(now);
          c.mutable_check_in()->set_status(c.check_in().status() == v1::CHECK_IN_STATUS_SCHEDULED
                                               ? v1::CHECK_IN_STATUS_CANCELLED
                                               : c.check_in().status());
        }
        if (cmd.to_status != v1::COMPLAINT_STATUS_ACKNOWLEDGED) return absl::OkStatus();
        // Acknowledging is the first response: the customer hears of it, with
        // the agent's reason as the message.
        if (absl::Status bad = CheckCustomerText(tx, c, "reason", cmd.reason); !bad.ok()) return bad;
        if (absl::Status s = FirstResponse(tx, c, now); !s.ok()) return s;
        const std::string message = cmd.reason.empty() ? "We are looking into your complaint." : cmd.reason;
        return TellCustomer(tx, c, [&](const v1::Contact* to) {
          return outbound_->NotifyMember(c, "acknowledged", MemberUpdate::kAcknowledged, message, now, to);
        });
      });
}

absl::StatusOr<v1::ReplyToComplaintResponse> ComplaintService::CheckReply(const std::string& complaint_id,
                                                                          const std::string& text) {
  v1::ReplyToComplaintResponse out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto c = Require(tx, complaint_id);
    if (!c.ok()) return c.status();
    if (absl::Status bad = CheckCustomerText(tx, *c, "text", text); !bad.ok()) return bad;
    *out.mutable_complaint() = *std::move(c);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::ReplyToComplaintResponse> ComplaintService::Reply(const Once& once, const AgentReply& cmd,
                                                                     const ActorInfo& actor) {
  const absl::Time now = Now();
  return WriteTicket<v1::ReplyToComplaintResponse>(
      store_, once, [&](StoreTxn& tx, v1::ReplyToComplaintResponse& out) -> absl::Status {
        auto c = Require(tx, cmd.complaint_id);
        if (!c.ok()) return c.status();
        if (absl::Status bad = CheckVersion(c->version(), cmd.expected_version, "the complaint"); !bad.ok()) {
          return bad;
        }
        if (absl::Status bad = RequireNotClosed(*c); !bad.ok()) return bad;
        if (absl::Status gone = RefuseErasedTicket(tx, *c); !gone.ok()) return gone;
        // Checked before anything is stored or sent; a refused reply leaves no trace.
        if (absl::Status bad = CheckCustomerText(tx, *c, "text", cmd.text); !bad.ok()) return bad;
        bool first = !c->has_first_response_time();
        if (absl::Status s = FirstResponse(tx, *c, now); !s.ok()) return s;
        AddConsultation(*c, cmd.consultation_time.value_or(google::protobuf::Duration()));
        v1::ComplaintEvent e = NewEvent(*c, v1::COMPLAINT_EVENT_KIND_REPLY, actor, now);
        e.mutable_reply()->set_text(cmd.text);
        e.mutable_reply()->set_locale(c->locale());
        if (cmd.consultation_time) *e.mutable_reply()->mutable_consultation_time() = *cmd.consultation_time;
        e.mutable_reply()->set_first_response(first);
        if (absl::Status s = tx.AppendEvent(e); !s.ok()) return s;
        v1::ComplaintStatus next = cmd.wait_for_customer ? v1::COMPLAINT_STATUS_WAITING_ON_CUSTOMER
                                   : c->status() == v1::COMPLAINT_STATUS_WAITING_ON_CUSTOMER
                                       ? c->status()
                                       : v1::COMPLAINT_STATUS_IN_PROGRESS;
        if (Open(c->status()) && next != c->status()) {
          if (absl::Status s = ChangeStatus(tx, *c, next, actor, "reply", now); !s.ok()) return s;
        }
        if (absl::Status s = TellCustomer(tx, *c,
                                          [&](const v1::Contact* to) {
                                            return outbound_->NotifyMember(*c, absl::StrCat("reply:", e.sequence()),
                                                                           MemberUpdate::kUpdated, cmd.text, now, to);
                                          });
            !s.ok()) {
          return s;
        }
        if (absl::Status s = Save(tx, *c, now); !s.ok()) return s;
        *out.mutable_complaint() = *c;
        *out.mutable_event() = e;
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::Complaint> ComplaintService::Reopen(const Once& once, const Reopening& cmd, const ActorInfo& actor) {
  const absl::Time now = Now();
  return ChangeOpen(
      once, cmd.complaint_id, cmd.expected_version, now, [&](StoreTxn& tx, v1::Complaint& c) -> absl::Status {
        if (c.status() != v1::COMPLAINT_STATUS_RESOLVED)
          return InvalidTransition(c.status(), v1::COMPLAINT_STATUS_REOPENED);
        if (now >= FromTimestamp(c.reopen_deadline())) {
          return FailedPrecondition("REOPEN_WINDOW_EXPIRED", "the reopen window of this complaint has ended");
        }
        if (absl::Status s = ChangeStatus(tx, c, v1::COMPLAINT_STATUS_REOPENED, actor, cmd.reason, now); !s.ok()) {
          return s;
        }
        c.set_reopen_count(c.reopen_count() + 1);
        c.clear_reopen_deadline();
        if (absl::Status s = AlertReopened(tx, c, now); !s.ok()) return s;
        // A check-in not yet sent is no longer wanted.
        if (c.check_in().status() == v1::CHECK_IN_STATUS_SCHEDULED) {
          c.mutable_check_in()->set_status(v1::CHECK_IN_STATUS_CANCELLED);
          v1::ComplaintEvent e = NewEvent(c, v1::COMPLAINT_EVENT_KIND_CHECK_IN, actor, now, "reopened");
          *e.mutable_check_in() = c.check_in();
          if (absl::Status s = tx.AppendEvent(e); !s.ok()) return s;
        }
        // A new resolution clock, with the target of the policy version the
        // complaint started with; its escalation levels may fire again.
        auto policy = PolicyOf(tx, c);
        if (!policy.ok()) return policy.status();
        c.clear_resolution_sla();
        if (!*policy) return absl::OkStatus();
        auto cal = CalendarOf(tx, c.calendar_id());
        if (!cal.ok()) return cal.status();
        return StartClock(*cal, c.mutable_resolution_sla(), FromDurationProto((*policy)->resolution_target()), now);
      });
}

absl::StatusOr<v1::Complaint> ComplaintService::Assign(const Once& once, const Assignment& cmd,
                                                       const ActorInfo& actor) {
  const absl::Time now = Now();
  return ChangeOpen(once, cmd.complaint_id, cmd.expected_version, now,
                    [&](StoreTxn& tx, v1::Complaint& c) -> absl::Status {
                      v1::ComplaintEvent e = NewEvent(c, v1::COMPLAINT_EVENT_KIND_ASSIGNED, actor, now, cmd.reason);
                      v1::AssignmentDetails* a = e.mutable_assignment();
                      a->set_from_agent_id(c.assignee_agent_id());
                      a->set_from_team_id(c.team_id());
                      c.set_assignee_agent_id(cmd.agent_id);
                      if (!cmd.team_id.empty()) c.set_team_id(cmd.team_id);
                      a->set_to_agent_id(c.assignee_agent_id());
                      a->set_to_team_id(c.team_id());
                      return tx.AppendEvent(e);
                    });
}

absl::StatusOr<v1::Complaint> ComplaintService::Transfer(const Once& once, const Handover& cmd,
                                                         const ActorInfo& actor) {
  const absl::Time now = Now();
  return ChangeOpen(once, cmd.complaint_id, cmd.expected_version, now,
                    [&](StoreTxn& tx, v1::Complaint& c) -> absl::Status {
                      // The hand-over note is what the next agent sees first.
                      v1::Handover h;
                      h.set_from_agent_id(c.assignee_agent_id());
                      h.set_from_team_id(c.team_id());
                      h.set_to_agent_id(cmd.to_agent_id);
                      h.set_to_team_id(cmd.to_team_id);
                      h.set_note(cmd.handover_note);
                      *h.mutable_actor() = ActorProto(actor);
                      *h.mutable_create_time() = ToTimestamp(now);
                      c.set_assignee_agent_id(cmd.to_agent_id);
                      if (!cmd.to_team_id.empty()) c.set_team_id(cmd.to_team_id);
                      *c.mutable_handover() = h;
                      v1::ComplaintEvent e = NewEvent(c, v1::COMPLAINT_EVENT_KIND_TRANSFERRED, actor, now, cmd.reason);
                      v1::AssignmentDetails* a = e.mutable_assignment();
                      a->set_from_agent_id(h.from_agent_id());
                      a->set_from_team_id(h.from_team_id());
                      a->set_to_agent_id(c.assignee_agent_id());
                      a->set_to_team_id(c.team_id());
                      a->set_handover_note(h.note());
                      return tx.AppendEvent(e);
                    });
}

absl::StatusOr<v1::RecordCustomerMessageResponse> ComplaintService::CustomerMessage(const Once& once,
                                                                                    const CustomerContact& cmd,
                                                                                    const ActorInfo& actor) {
  const absl::Time now = Now();
  return WriteTicket<v1::RecordCustomerMessageResponse>(
      store_, once, [&](StoreTxn& tx, v1::RecordCustomerMessageResponse& out) -> absl::Status {
        auto c = Require(tx, cmd.complaint_id);
        if (!c.ok()) return c.status();
        if (absl::Status bad = RequireNotClosed(*c); !bad.ok()) return bad;
        if (absl::Status gone = RefuseErasedTicket(tx, *c); !gone.ok()) return gone;
        AddConsultation(*c, cmd.consultation_time);
        v1::ComplaintEvent e = NewEvent(*c, v1::COMPLAINT_EVENT_KIND_CUSTOMER_MESSAGE, actor, now);
        e.mutable_customer_message()->set_text(cmd.text);
        e.mutable_customer_message()->set_channel(cmd.channel);
        *e.mutable_customer_message()->mutable_receive_time() = cmd.received_time.value_or(ToTimestamp(now));
        *e.mutable_customer_message()->mutable_consultation_time() = cmd.consultation_time;
        if (absl::Status s = tx.AppendEvent(e); !s.ok()) return s;
        // The customer answered: the ball is back with us and the clocks resume.
        if (c->status() == v1::COMPLAINT_STATUS_WAITING_ON_CUSTOMER) {
          absl::Status s = ChangeStatus(tx, *c, v1::COMPLAINT_STATUS_IN_PROGRESS, actor, "customer replied", now);
          if (!s.ok()) return s;
        }
        if (absl::Status s = Save(tx, *c, now); !s.ok()) return s;
        *out.mutable_complaint() = *c;
        *out.mutable_event() = e;
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::AddNoteResponse> ComplaintService::AddNote(const Once& once, const Note& cmd,
                                                              const ActorInfo& actor) {
  const absl::Time now = Now();
  return WriteTicket<v1::AddNoteResponse>(store_, once, [&](StoreTxn& tx, v1::AddNoteResponse& out) -> absl::Status {
    auto c = Require(tx, cmd.complaint_id);
    if (!c.ok()) return c.status();
    if (absl::Status gone = RefuseErasedTicket(tx, *c); !gone.ok()) return gone;
    // A note would bring text back to a ticket the retention blanked.
    if (absl::Status bad = RequireTextsKept(*c); !bad.ok()) return bad;
    AddConsultation(*c, cmd.consultation_time);
    v1::ComplaintEvent e = NewEvent(*c, v1::COMPLAINT_EVENT_KIND_NOTE, actor, now);
    e.mutable_note()->set_text(cmd.text);
    *e.mutable_note()->mutable_consultation_time() = cmd.consultation_time;
    if (absl::Status s = tx.AppendEvent(e); !s.ok()) return s;
    if (absl::Status s = Save(tx, *c, now); !s.ok()) return s;
    *out.mutable_complaint() = *c;
    *out.mutable_event() = e;
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::SurveyResponse> ComplaintService::AnswerSurvey(const Once& once, const SurveyAnswer& cmd) {
  const absl::Time now = Now();
  return WriteTicket<v1::SurveyResponse>(store_, once, [&](StoreTxn& tx, v1::SurveyResponse& out) -> absl::Status {
    auto id = tx.SurveyComplaint(cmd.token);
    if (!id.ok()) return id.status();
    if (!*id) return NotFound("SURVEY_NOT_FOUND", "unknown survey token");
    auto c = Require(tx, **id);
    if (!c.ok()) return c.status();
    if (absl::Status gone = RefuseErasedTicket(tx, *c); !gone.ok()) return gone;
    v1::Survey* sv = c->mutable_survey();
    if (sv->status() == v1::SURVEY_STATUS_ANSWERED) {
      return AlreadyExists("SURVEY_ALREADY_ANSWERED", "this survey has been answered");
    }
    if (sv->status() != v1::SURVEY_STATUS_SENT || now >= FromTimestamp(sv->expire_time())) {
      return FailedPrecondition("SURVEY_EXPIRED", "the survey is no longer open");
    }
    sv->set_status(v1::SURVEY_STATUS_ANSWERED);
    sv->set_score(cmd.score);
    sv->set_comment(cmd.comment);
    *sv->mutable_answer_time() = ToTimestamp(now);
    // The customer answers: the member, or the contact of a contact's ticket.
    const std::string& customer = c->member_id().empty() ? c->contact_id() : c->member_id();
    v1::ComplaintEvent e = NewEvent(*c, v1::COMPLAINT_EVENT_KIND_SURVEY, ActorInfo{customer}, now);
    *e.mutable_survey() = *sv;
    if (absl::Status s = tx.AppendEvent(e); !s.ok()) return s;
    if (absl::Status s = Save(tx, *c, now); !s.ok()) return s;
    out.set_complaint_id(c->complaint_id());
    out.set_member_id(c->member_id());
    out.set_score(cmd.score);
    out.set_comment(cmd.comment);
    *out.mutable_submit_time() = ToTimestamp(now);
    return absl::OkStatus();
  });
}

}  // namespace care::complaint
