// Staff alerts: what reaches employees through notification (webhook or
// e-mail, in their language), addressed from the staff directory
// (ComplaintSettings.staff). Each is an outbox event written in the
// transaction of the change it reports, with an id stable per complaint,
// occurrence and recipient, so a retried write, a second SLA run or a
// restart never sends one twice.

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "services/complaint/complaint_service.h"
#include "services/complaint/service_internal.h"
#include "services/complaint/sla_clock.h"

namespace care::complaint {
namespace {

const v1::StaffMember* StaffMemberOf(const v1::ComplaintSettings& s, const std::string& agent_id) {
  if (agent_id.empty()) return nullptr;
  for (const v1::StaffMember& m : s.staff()) {
    if (m.agent_id() == agent_id) return &m;
  }
  return nullptr;
}

std::string TeamLeadOf(const v1::ComplaintSettings& s, const std::string& team_id) {
  for (const v1::TeamSettings& t : s.teams()) {
    if (t.team_id() == team_id) return t.lead_agent_id();
  }
  return "";
}

// Who answers for the complaint now: its assignee, else its team's lead.
std::string OwnerOf(const v1::ComplaintSettings& s, const v1::Complaint& c) {
  if (!c.assignee_agent_id().empty() && StaffMemberOf(s, c.assignee_agent_id()) != nullptr) {
    return c.assignee_agent_id();
  }
  return TeamLeadOf(s, c.team_id());
}

// What a compensation grants, for the approver ("500 points",
// "voucher 1000 VND", "voucher 15% off"); amounts in minor units.
std::string GrantText(const v1::Compensation& comp) {
  if (comp.kind() == v1::COMPENSATION_KIND_POINTS) return absl::StrCat(comp.points(), " points");
  if (comp.voucher().has_amount()) {
    return absl::StrCat("voucher ", comp.voucher().amount().amount_minor(), " ",
                        comp.voucher().amount().currency_code(), " (minor units)");
  }
  const int bps = comp.voucher().percent_off_bps();
  return absl::StrCat("voucher ", bps / 100, bps % 100 == 0 ? "" : absl::StrCat(".", bps % 100 / 10, bps % 10),
                      "% off");
}

}  // namespace

absl::Status ComplaintService::AlertStaff(StoreTxn& tx, const v1::Complaint& c, const v1::ComplaintSettings& settings,
                                          const std::string& agent_id, StaffAlert alert, absl::Time now) {
  const v1::StaffMember* member = StaffMemberOf(settings, agent_id);
  if (member == nullptr) return absl::OkStatus();
  alert.recipient = *member;
  return tx.Enqueue(outbound_->AlertStaff(c, alert, now));
}

absl::Status ComplaintService::AlertEscalations(StoreTxn& tx, const v1::Complaint& c, int first, absl::Time now) {
  if (first >= c.escalations_size()) return absl::OkStatus();
  auto settings = LoadSettings(tx);
  if (!settings.ok()) return settings.status();
  for (int i = first; i < c.escalations_size(); ++i) {
    const v1::EscalationRecord& r = c.escalations(i);
    if (r.notified_agent_id().empty()) continue;
    StaffAlert alert;
    alert.kind = StaffAlertKind::kEscalation;
    // A level fires once per clock and cycle; a reopening starts a new cycle.
    alert.occurrence = absl::StrCat("esc:", v1::SlaTarget_Name(r.target()), ":", r.level(), ":", c.reopen_count());
    alert.level = r.level();
    alert.target = r.target();
    alert.priority = c.priority();
    if (absl::Status s = AlertStaff(tx, c, *settings, r.notified_agent_id(), alert, now); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ComplaintService::WarnBeforeBreach(StoreTxn& tx, v1::Complaint& c, const Calendar& cal,
                                                const v1::SlaPolicy& policy, absl::Time now) {
  const absl::Duration before = FromDurationProto(policy.breach_warning_before());
  if (before <= absl::ZeroDuration()) return absl::OkStatus();
  std::optional<v1::ComplaintSettings> settings;
  for (v1::SlaTarget target : {v1::SLA_TARGET_FIRST_RESPONSE, v1::SLA_TARGET_RESOLUTION}) {
    v1::SlaClock& clock = target == v1::SLA_TARGET_FIRST_RESPONSE ? *c.mutable_first_response_sla()
                                                                  : *c.mutable_resolution_sla();
    std::optional<absl::Time> at = BreachWarningTime(cal, policy, c, clock);
    // Found only after the breach (the job was down): the breach says it.
    if (!at || *at > now || FromTimestamp(clock.due_time()) <= now) continue;
    clock.set_breach_warning_sent(true);
    if (!settings) {
      auto loaded = LoadSettings(tx);
      if (!loaded.ok()) return loaded.status();
      settings = *std::move(loaded);
    }
    StaffAlert alert;
    alert.kind = StaffAlertKind::kBreachWarning;
    alert.occurrence = absl::StrCat("warn:", v1::SlaTarget_Name(target), ":", c.reopen_count());
    alert.target = target;
    alert.due_time = FromTimestamp(clock.due_time());
    if (absl::Status s = AlertStaff(tx, c, *settings, OwnerOf(*settings, c), alert, now); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ComplaintService::AlertApproval(StoreTxn& tx, const v1::Complaint& c, const v1::Compensation& comp,
                                             const v1::ComplaintSettings& settings, absl::Time now) {
  StaffAlert alert;
  alert.kind = StaffAlertKind::kCompensationApproval;
  alert.occurrence = absl::StrCat("approval:", comp.compensation_id());
  alert.compensation_id = comp.compensation_id();
  alert.compensation = GrantText(comp);
  return AlertStaff(tx, c, settings, TeamLeadOf(settings, c.team_id()), alert, now);
}

absl::Status ComplaintService::AlertReopened(StoreTxn& tx, const v1::Complaint& c, absl::Time now) {
  auto settings = LoadSettings(tx);
  if (!settings.ok()) return settings.status();
  StaffAlert alert;
  alert.kind = StaffAlertKind::kReopened;
  alert.occurrence = absl::StrCat("reopen:", c.reopen_count());
  alert.reopen_count = c.reopen_count();
  return AlertStaff(tx, c, *settings, OwnerOf(*settings, c), alert, now);
}

}  // namespace care::complaint
