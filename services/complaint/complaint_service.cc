// The complaint domain's shared steps (loading, saving, the audit trail,
// status changes, the forbidden-phrase check), the transition table and the
// metrics scan. Commands are in tickets.cc, goodwill.cc and config.cc; the
// SLA job in sla_job.cc.

#include "services/complaint/complaint_service.h"

#include <map>
#include <set>

#include "absl/strings/str_join.h"
#include "common/proto_time.h"
#include "services/complaint/desk_metrics.h"
#include "services/complaint/phrases.h"
#include "services/complaint/service_internal.h"
#include "services/complaint/sla_clock.h"

namespace care::complaint {

v1::Actor ActorProto(const ActorInfo& a) {
  v1::Actor out;
  out.set_principal_id(a.principal);
  out.set_role(a.role);
  out.set_system(a.system);
  return out;
}

absl::StatusOr<v1::Complaint> Require(StoreTxn& tx, const std::string& id) {
  auto c = tx.GetComplaint(id);
  if (!c.ok()) return c.status();
  if (!*c) return NotFound("COMPLAINT_NOT_FOUND", "no such complaint");
  return std::move(**c);
}

absl::StatusOr<v1::ComplaintSettings> LoadSettings(StoreTxn& tx) {
  auto stored = tx.GetSettings();
  if (!stored.ok()) return stored.status();
  return *stored ? std::move(**stored) : v1::ComplaintSettings();
}

absl::StatusOr<Calendar> CalendarOf(StoreTxn& tx, const std::string& calendar_id) {
  if (calendar_id.empty()) return AlwaysOpen();
  auto c = tx.GetCalendar(calendar_id);
  if (!c.ok()) return c.status();
  if (!*c) return AlwaysOpen();
  return FromProto(**c);
}

absl::StatusOr<std::optional<v1::SlaPolicy>> PolicyOf(StoreTxn& tx, const v1::Complaint& c) {
  if (c.sla_policy_id().empty()) return std::nullopt;
  auto versioned = tx.GetPolicyVersion(c.sla_policy_id(), c.sla_policy_version());
  if (!versioned.ok() || *versioned) return versioned;
  return tx.GetPolicy(c.sla_policy_id());
}

absl::Status Save(StoreTxn& tx, v1::Complaint& c, absl::Time now) {
  c.set_version(c.version() + 1);
  *c.mutable_update_time() = ToTimestamp(now);
  auto cal = CalendarOf(tx, c.calendar_id());
  if (!cal.ok()) return cal.status();
  auto policy = PolicyOf(tx, c);
  if (!policy.ok()) return policy.status();
  return tx.PutComplaint(c, NextCheck(*cal, *policy ? &**policy : nullptr, c));
}

v1::ComplaintEvent NewEvent(const v1::Complaint& c, v1::ComplaintEventKind kind, const ActorInfo& actor, absl::Time now,
                            const std::string& reason) {
  v1::ComplaintEvent e;
  e.set_complaint_id(c.complaint_id());
  e.set_kind(kind);
  *e.mutable_actor() = ActorProto(actor);
  *e.mutable_create_time() = ToTimestamp(now);
  e.set_reason(reason);
  e.set_complaint_version(c.version());
  return e;
}

absl::Status ChangeStatus(StoreTxn& tx, v1::Complaint& c, v1::ComplaintStatus to, const ActorInfo& actor,
                          const std::string& reason, absl::Time now) {
  v1::ComplaintStatus from = c.status();
  if (from == to) return absl::OkStatus();
  auto cal = CalendarOf(tx, c.calendar_id());
  if (!cal.ok()) return cal.status();
  // The customer holds the ball: SLA clocks pause while we wait on them.
  if (to == v1::COMPLAINT_STATUS_WAITING_ON_CUSTOMER) {
    PauseClock(*cal, c.mutable_first_response_sla(), now);
    PauseClock(*cal, c.mutable_resolution_sla(), now);
  } else if (from == v1::COMPLAINT_STATUS_WAITING_ON_CUSTOMER) {
    if (absl::Status s = ResumeClock(*cal, c.mutable_first_response_sla(), now); !s.ok()) return s;
    if (absl::Status s = ResumeClock(*cal, c.mutable_resolution_sla(), now); !s.ok()) return s;
  }
  c.set_status(to);
  v1::ComplaintEvent e = NewEvent(c, v1::COMPLAINT_EVENT_KIND_STATUS_CHANGED, actor, now, reason);
  e.mutable_status_changed()->set_from_status(from);
  e.mutable_status_changed()->set_to_status(to);
  return tx.AppendEvent(e);
}

absl::Status InvalidTransition(v1::ComplaintStatus from, v1::ComplaintStatus to) {
  return Error(absl::StatusCode::kFailedPrecondition, "INVALID_TRANSITION",
               absl::StrCat("cannot go from ", v1::ComplaintStatus_Name(from), " to ", v1::ComplaintStatus_Name(to)),
               {{"from", v1::ComplaintStatus_Name(from)}, {"to", v1::ComplaintStatus_Name(to)}});
}

absl::Status FirstResponse(StoreTxn& tx, v1::Complaint& c, absl::Time now) {
  if (c.has_first_response_time()) return absl::OkStatus();
  auto cal = CalendarOf(tx, c.calendar_id());
  if (!cal.ok()) return cal.status();
  *c.mutable_first_response_time() = ToTimestamp(now);
  StopClock(*cal, c.mutable_first_response_sla(), FromTimestamp(c.receive_time()), now);
  return absl::OkStatus();
}

void AddConsultation(v1::Complaint& c, const google::protobuf::Duration& spent) {
  *c.mutable_total_consultation_time() = ToDurationProto(FromDurationProto(c.total_consultation_time()) +
                                                         FromDurationProto(spent));
}

absl::Status RequireNotClosed(const v1::Complaint& c) {
  if (c.status() == v1::COMPLAINT_STATUS_CLOSED) {
    return FailedPrecondition("COMPLAINT_CLOSED", "the complaint is closed");
  }
  return absl::OkStatus();
}

absl::Status RequireTextsKept(const v1::Complaint& c) {
  if (c.has_texts_removed_time()) {
    return FailedPrecondition("COMPLAINT_CLOSED", "the complaint is closed and its texts were removed under retention");
  }
  return absl::OkStatus();
}

absl::Status CheckCustomerText(StoreTxn& tx, const v1::Complaint& c, absl::string_view field, absl::string_view text) {
  if (text.empty()) return absl::OkStatus();
  std::vector<std::string> phrases;
  std::set<std::string> seen;
  std::vector<std::string> locales = {c.locale(), "", "*"};
  if (size_t dash = c.locale().find('-'); dash != std::string::npos) locales.push_back(c.locale().substr(0, dash));
  for (const std::string& locale : locales) {
    auto list = tx.GetPhrases(locale);
    if (!list.ok()) return list.status();
    if (!*list) continue;
    for (const std::string& p : (*list)->phrases()) {
      if (seen.insert(p).second) phrases.push_back(p);
    }
  }
  std::vector<std::string> found = FindForbidden(phrases, text);
  if (found.empty()) return absl::OkStatus();
  return Error(absl::StatusCode::kInvalidArgument, "FORBIDDEN_PHRASE",
               absl::StrCat(field, " contains forbidden phrases: ", absl::StrJoin(found, ", ")),
               {{"field", std::string(field)}, {"phrases", absl::StrJoin(found, "\n")}, {"locale", c.locale()}});
}

bool TransitionAllowed(v1::ComplaintStatus from, v1::ComplaintStatus to) {
  using S = v1::ComplaintStatus;
  // The contract's table (ComplaintStatus); RESOLVED and REOPENED are entered
  // through ResolveComplaint and ReopenComplaint.
  static const std::map<S, std::vector<S>> kAllowed = {
      {v1::COMPLAINT_STATUS_NEW,
       {v1::COMPLAINT_STATUS_ACKNOWLEDGED, v1::COMPLAINT_STATUS_IN_PROGRESS, v1::COMPLAINT_STATUS_WAITING_ON_CUSTOMER,
        v1::COMPLAINT_STATUS_RESOLVED, v1::COMPLAINT_STATUS_CLOSED}},
      {v1::COMPLAINT_STATUS_ACKNOWLEDGED,
       {v1::COMPLAINT_STATUS_IN_PROGRESS, v1::COMPLAINT_STATUS_WAITING_ON_CUSTOMER, v1::COMPLAINT_STATUS_RESOLVED,
        v1::COMPLAINT_STATUS_CLOSED}},
      {v1::COMPLAINT_STATUS_IN_PROGRESS,
       {v1::COMPLAINT_STATUS_WAITING_ON_CUSTOMER, v1::COMPLAINT_STATUS_RESOLVED, v1::COMPLAINT_STATUS_CLOSED}},
      {v1::COMPLAINT_STATUS_WAITING_ON_CUSTOMER,
       {v1::COMPLAINT_STATUS_IN_PROGRESS, v1::COMPLAINT_STATUS_RESOLVED, v1::COMPLAINT_STATUS_CLOSED}},
      {v1::COMPLAINT_STATUS_REOPENED,
       {v1::COMPLAINT_STATUS_IN_PROGRESS, v1::COMPLAINT_STATUS_WAITING_ON_CUSTOMER, v1::COMPLAINT_STATUS_RESOLVED,
        v1::COMPLAINT_STATUS_CLOSED}},
      {v1::COMPLAINT_STATUS_RESOLVED, {v1::COMPLAINT_STATUS_REOPENED, v1::COMPLAINT_STATUS_CLOSED}},
  };
  auto it = kAllowed.find(from);
  return it != kAllowed.end() && std::find(it->second.begin(), it->second.end(), to) != it->second.end();
}

ComplaintService::ComplaintService(ComplaintStore& store, const Clock& clock, ComplaintOptions options,
                                   std::unique_ptr<Outbound> outbound)
    : store_(store),
      clock_(clock),
      options_(options),
      outbound_(std::move(outbound)),
      metrics_pool_(std::make_unique<WorkPool>(
          kMetricSlices, static_cast<size_t>(std::max(1, options_.metrics_concurrency) * kMetricSlices))) {}

ComplaintService::~ComplaintService() = default;

absl::StatusOr<v1::ComplaintMetrics> ComplaintService::Metrics(absl::Time from, absl::Time to,
                                                               const std::vector<v1::MetricsDimension>& group_by,
                                                               const std::vector<v1::OrderCount>& order_counts) {
  // Heavy scans are bounded: a caller beyond the limit is told to retry
  // rather than queued (a queued call would hold a work-pool thread).
  if (metrics_running_.fetch_add(1) >= std::max(1, options_.metrics_concurrency)) {
    --metrics_running_;
    return Error(absl::StatusCode::kResourceExhausted, "METRICS_BUSY",
                 absl::StrCat(options_.metrics_concurrency, " metric computations are running; retry with backoff"));
  }
  struct Release {
    std::atomic<int>& n;
    ~Release() { --n; }
  } release{metrics_running_};
  // Rolled-up groups where they are exact, raw rows for the rest.
  MetricsPlan plan;
  auto groups = RolledUpGroups(from, to, plan);
  if (!groups.ok()) return groups.status();
  auto slices = RawMetricRows(plan.raw);
  if (!slices.ok()) return slices.status();
  v1::ComplaintMetrics out = ComputeMetrics(*groups, *slices, group_by, order_counts);
  *out.mutable_compute_time() = ToTimestamp(Now());
  return out;
}

}  // namespace care::complaint
