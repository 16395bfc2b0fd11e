// The SLA job (`complaint.sla`): reads the complaints whose next check is
// due (the store indexes it), marks breaches, fires the escalation levels
// that are due (each once), hands due check-ins to the notification service
// and closes resolved complaints whose reopen window ended.

#include "absl/strings/strip.h"
#include "common/jobs.h"
#include "common/metrics.h"
#include "common/proto_time.h"
#include "services/complaint/complaint_service.h"
#include "services/complaint/prometheus.h"
#include "services/complaint/service_internal.h"
#include "services/complaint/sla_clock.h"

namespace care::complaint {

struct ComplaintService::SlaRound {
  size_t handled = 0;
  std::vector<std::pair<v1::Priority, v1::SlaTarget>> breaches;
};

namespace {

constexpr int kSlaBatch = 200;
constexpr char kSlaJob[] = "complaint.sla";

const ActorInfo& SlaActor() {
  static const ActorInfo kSystem{"system:sla", care::common::v1::ROLE_UNSPECIFIED, true};
  return kSystem;
}

// Marks a running clock breached once its due time passed. Returns whether
// it did.
absl::StatusOr<bool> MarkBreach(StoreTxn& tx, const v1::Complaint& c, v1::SlaClock& clock, v1::SlaTarget target,
                                absl::Time now) {
  absl::Time due_time = FromTimestamp(clock.due_time());
  if (clock.breached() || due_time > now) return false;
  clock.set_breached(true);
  *clock.mutable_breach_time() = ToTimestamp(due_time);
  v1::ComplaintEvent e = NewEvent(c, v1::COMPLAINT_EVENT_KIND_SLA_BREACHED, SlaActor(), now);
  e.mutable_sla_breached()->set_target(target);
  *e.mutable_sla_breached()->mutable_due_time() = clock.due_time();
  if (absl::Status s = tx.AppendEvent(e); !s.ok()) return s;
  return true;
}

// RAISE_PRIORITY: to the level's priority, else one step up (at most URGENT).
absl::Status RaisePriority(StoreTxn& tx, v1::Complaint& c, const v1::EscalationLevel& level, absl::Time now,
                           v1::EscalationRecord& record) {
  v1::Priority to = level.raise_priority_to() != v1::PRIORITY_UNSPECIFIED
                        ? level.raise_priority_to()
                        : static_cast<v1::Priority>(std::min<int>(c.priority() + 1, v1::PRIORITY_URGENT));
  if (to > c.priority()) {
    v1::ComplaintEvent pe = NewEvent(c, v1::COMPLAINT_EVENT_KIND_PRIORITY_CHANGED, SlaActor(), now, "escalation");
    pe.mutable_priority_changed()->set_from_priority(c.priority());
    pe.mutable_priority_changed()->set_to_priority(to);
    if (absl::Status s = tx.AppendEvent(pe); !s.ok()) return s;
    c.set_priority(to);
  }
  record.set_new_priority(c.priority());
  return absl::OkStatus();
}

// NOTIFY_TEAM_LEAD: the lead of the complaint's team, from the settings, is
// recorded on the ticket.
absl::Status NotifyTeamLead(StoreTxn& tx, const v1::Complaint& c, v1::EscalationRecord& record) {
  auto settings = tx.GetSettings();
  if (!settings.ok()) return settings.status();
  if (!*settings) return absl::OkStatus();
  for (const auto& team : (*settings)->teams()) {
    if (team.team_id() == c.team_id()) record.set_notified_agent_id(team.lead_agent_id());
  }
  return absl::OkStatus();
}

// Fires one escalation level: its actions, recorded on the ticket and in the
// audit trail. The clock remembers the highest level reached, so a level
// fires once.
absl::Status FireLevel(StoreTxn& tx, v1::Complaint& c, v1::SlaClock& clock, v1::SlaTarget target,
                       const v1::EscalationLevel& level, absl::Time now) {
  clock.set_escalation_level(level.level());
  v1::EscalationRecord record;
  record.set_level(level.level());
  record.set_target(target);
  *record.mutable_fire_time() = ToTimestamp(now);
  for (int action : level.actions()) {
    record.add_actions(static_cast<v1::EscalationAction>(action));
    absl::Status s = absl::OkStatus();
    if (action == v1::ESCALATION_ACTION_RAISE_PRIORITY) {
      s = RaisePriority(tx, c, level, now, record);
    } else if (action == v1::ESCALATION_ACTION_REASSIGN_TO_SUPERVISOR_QUEUE) {
      c.set_team_id(level.supervisor_queue_team_id());
      c.clear_assignee_agent_id();
      record.set_reassigned_team_id(level.supervisor_queue_team_id());
    } else if (action == v1::ESCALATION_ACTION_NOTIFY_TEAM_LEAD) {
      s = NotifyTeamLead(tx, c, record);
    }
    if (!s.ok()) return s;
  }
  *c.add_escalations() = record;
  v1::ComplaintEvent e = NewEvent(c, v1::COMPLAINT_EVENT_KIND_ESCALATED, SlaActor(), now);
  *e.mutable_escalation() = record;
  return tx.AppendEvent(e);
}

// The levels of `target` in the policy that are due and not fired yet.
absl::Status FireDueLevels(StoreTxn& tx, v1::Complaint& c, v1::SlaClock& clock, v1::SlaTarget target,
                           const Calendar& cal, const v1::SlaPolicy& policy, absl::Time now) {
  for (const v1::EscalationLevel& level : policy.escalation_levels()) {
    if (level.target() != target || level.level() <= clock.escalation_level()) continue;
    auto at = FireTime(cal, c, clock, level);
    if (!at.ok() || *at > now) continue;
    if (absl::Status s = FireLevel(tx, c, clock, target, level, now); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// A resolved complaint closes when its reopen window ends.
absl::Status CloseAfterReopenWindow(StoreTxn& tx, v1::Complaint& c, absl::Time now) {
  if (c.status() != v1::COMPLAINT_STATUS_RESOLVED || !c.has_reopen_deadline() ||
      FromTimestamp(c.reopen_deadline()) > now) {
    return absl::OkStatus();
  }
  absl::Status s = ChangeStatus(tx, c, v1::COMPLAINT_STATUS_CLOSED, SlaActor(), "reopen window ended", now);
  if (!s.ok()) return s;
  *c.mutable_close_time() = ToTimestamp(now);
  return absl::OkStatus();
}

void CountBreaches(const std::vector<std::pair<v1::Priority, v1::SlaTarget>>& breaches) {
  for (const auto& [priority, target] : breaches) {
    std::string p(absl::StripPrefix(v1::Priority_Name(priority), "PRIORITY_"));
    std::string t(absl::StripPrefix(v1::SlaTarget_Name(target), "SLA_TARGET_"));
    SlaBreachesMetric().Inc({p, t});
  }
}

}  // namespace

absl::Status ComplaintService::CheckDue(StoreTxn& tx, v1::Complaint& c, absl::Time now, SlaRound& round) {
  auto cal = CalendarOf(tx, c.calendar_id());
  if (!cal.ok()) return cal.status();
  auto policy = PolicyOf(tx, c);
  if (!policy.ok()) return policy.status();
  for (v1::SlaTarget target : {v1::SLA_TARGET_FIRST_RESPONSE, v1::SLA_TARGET_RESOLUTION}) {
    v1::SlaClock& clock = target == v1::SLA_TARGET_FIRST_RESPONSE ? *c.mutable_first_response_sla()
                                                                  : *c.mutable_resolution_sla();
    if (!Running(clock)) continue;
    auto breached = MarkBreach(tx, c, clock, target, now);
    if (!breached.ok()) return breached.status();
    if (*breached) round.breaches.emplace_back(c.priority(), target);
    if (!*policy) continue;
    const int fired_before = c.escalations_size();
    if (absl::Status s = FireDueLevels(tx, c, clock, target, *cal, **policy, now); !s.ok()) return s;
    if (absl::Status s = AlertEscalations(tx, c, fired_before, now); !s.ok()) return s;
  }
  if (*policy) {
    if (absl::Status s = WarnBeforeBreach(tx, c, *cal, **policy, now); !s.ok()) return s;
  }
  if (c.check_in().status() == v1::CHECK_IN_STATUS_SCHEDULED && FromTimestamp(c.check_in().due_time()) <= now) {
    if (absl::Status s = TellCustomer(tx, c, [&](const v1::Contact* to) { return outbound_->CheckIn(c, now, to); });
        !s.ok()) {
      return s;
    }
    c.mutable_check_in()->set_status(v1::CHECK_IN_STATUS_SENT);
    *c.mutable_check_in()->mutable_send_time() = ToTimestamp(now);
    v1::ComplaintEvent e = NewEvent(c, v1::COMPLAINT_EVENT_KIND_CHECK_IN, SlaActor(), now);
    *e.mutable_check_in() = c.check_in();
    if (absl::Status s = tx.AppendEvent(e); !s.ok()) return s;
  }
  if (absl::Status s = CloseAfterReopenWindow(tx, c, now); !s.ok()) return s;
  return Save(tx, c, now);
}

absl::Status ComplaintService::CheckSla(StoreTxn& tx, absl::Time now, SlaRound& round) {
  auto due = tx.DueForSla(now, kSlaBatch);
  if (!due.ok()) return due.status();
  round.handled = due->size();
  for (const std::string& id : *due) {
    auto c = Require(tx, id);
    if (!c.ok()) return c.status();
    if (absl::Status s = CheckDue(tx, *c, now, round); !s.ok()) return s;
  }
  return absl::OkStatus();
}

bool ComplaintService::RunSlaChecks() {
  const absl::Time now = Now();
  SlaRound round;
  absl::Status s = store_.Write([&](StoreTxn& tx) -> absl::Status {
    round = SlaRound();
    return CheckSla(tx, now, round);
  });
  if (!s.ok()) {
    LogJobFailure(kSlaJob, s);
    return false;
  }
  CountBreaches(round.breaches);
  return round.handled == static_cast<size_t>(kSlaBatch);
}

}  // namespace care::complaint
