#include "services/complaint/complaint_service.h"

#include <algorithm>
#include <future>
#include <map>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "care/loyalty/v1/loyalty.pb.h"
#include "care/notification/v1/notification.pb.h"
#include "care/promotion/v1/promotion.pb.h"
#include "common/bounds.h"
#include "common/errors.h"
#include "common/metrics.h"
#include "common/proto_time.h"
#include "common/random.h"
#include "services/complaint/metrics.h"
#include "services/complaint/phrases.h"
#include "services/complaint/prometheus.h"
#include "services/complaint/service_internal.h"

namespace care::complaint {

using care::common::v1::Role;
namespace nv1 = care::notification::v1;

namespace {
constexpr int kSlaBatch = 200;
}  // namespace

// ------------------------------------------------------------- small helpers

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

absl::Weekday ToWeekday(v1::Weekday d) {
  static constexpr absl::Weekday kDays[] = {absl::Weekday::monday,   absl::Weekday::monday,
                                            absl::Weekday::tuesday,  absl::Weekday::wednesday,
                                            absl::Weekday::thursday, absl::Weekday::friday,
                                            absl::Weekday::saturday, absl::Weekday::sunday};
  return kDays[std::clamp(static_cast<int>(d), 0, 7)];
}

// The contract's calendar as the business-time rules need it.
Calendar FromProto(const v1::BusinessCalendar& c) {
  Calendar out;
  if (!absl::LoadTimeZone(c.time_zone(), &out.zone)) out.zone = absl::UTCTimeZone();
  for (const auto& h : c.weekly_hours()) {
    int end = h.end().hours() * 60 + h.end().minutes();
    out.hours.push_back({ToWeekday(h.day()), h.start().hours() * 60 + h.start().minutes(), end == 0 ? 24 * 60 : end});
  }
  for (const auto& d : c.holidays()) out.holidays.push_back(absl::CivilDay(d.date().year(), d.date().month(), d.date().day()));
  return out;
}

// Round the clock, every day: the calendar of a policy that names none.
Calendar AlwaysOpen() {
  Calendar out;
  out.zone = absl::UTCTimeZone();
  for (int d = 0; d < 7; ++d) out.hours.push_back({static_cast<absl::Weekday>(d), 0, 24 * 60});
  return out;
}

absl::StatusOr<Calendar> CalendarOf(StoreTxn& tx, const std::string& calendar_id) {
  if (calendar_id.empty()) return AlwaysOpen();
  auto c = LoadDoc<v1::BusinessCalendar>(tx, DocKind::kCalendar, calendar_id);
  if (!c.ok()) return c.status();
  if (!*c) return AlwaysOpen();  // deleted since: keep counting rather than stop
  return FromProto(**c);
}

template <typename T>
bool MatchesAny(const google::protobuf::RepeatedField<int>& list, T value) {
  return list.empty() || std::find(list.begin(), list.end(), static_cast<int>(value)) != list.end();
}

bool PolicyMatches(const v1::SlaPolicy& p, const v1::Complaint& c) {
  if (!p.enabled()) return false;
  if (!MatchesAny(p.priorities(), c.priority()) || !MatchesAny(p.channels(), c.channel()) ||
      !MatchesAny(p.categories(), c.category())) {
    return false;
  }
  return p.tier_ids().empty() ||
         std::find(p.tier_ids().begin(), p.tier_ids().end(), c.tier().tier_id()) != p.tier_ids().end();
}

// Business time left on a running clock at `now`; negative once past due.
absl::Duration Remaining(const Calendar& cal, const v1::SlaClock& clock, absl::Time now) {
  absl::Time due = FromTimestamp(clock.due_time());
  return now <= due ? BusinessTimeBetween(cal, now, due) : -BusinessTimeBetween(cal, due, now);
}

bool Running(const v1::SlaClock& clock) {
  return clock.has_target() && !clock.has_met_time() && !clock.paused();
}

absl::Status StartClock(const Calendar& cal, v1::SlaClock* clock, absl::Duration target, absl::Time from) {
  if (target <= absl::ZeroDuration()) return absl::OkStatus();  // the policy sets no such target
  *clock->mutable_target() = ToDurationProto(target);
  auto due = AddBusinessTime(cal, from, target);
  if (!due.ok()) return due.status();
  *clock->mutable_due_time() = ToTimestamp(*due);
  *clock->mutable_elapsed() = ToDurationProto(absl::ZeroDuration());
  return absl::OkStatus();
}

// Stops a clock at `now`. A clock without a target (no policy) still records
// the business time it took, from `start`, for metrics.
void StopClock(const Calendar& cal, v1::SlaClock* clock, absl::Time start, absl::Time now) {
  if (clock->has_met_time()) return;
  if (!clock->has_target()) {
    *clock->mutable_elapsed() = ToDurationProto(BusinessTimeBetween(cal, start, now));
  } else if (!clock->paused()) {
    *clock->mutable_elapsed() = ToDurationProto(FromDurationProto(clock->target()) - Remaining(cal, *clock, now));
  }
  // Met late, before the job noticed: still a breach.
  if (clock->has_target() && !clock->breached() && FromDurationProto(clock->elapsed()) > FromDurationProto(clock->target())) {
    clock->set_breached(true);
    *clock->mutable_breach_time() = clock->due_time();
  }
  clock->set_paused(false);
  *clock->mutable_met_time() = ToTimestamp(now);
}

void PauseClock(const Calendar& cal, v1::SlaClock* clock, absl::Time now) {
  if (!Running(*clock)) return;
  *clock->mutable_elapsed() = ToDurationProto(FromDurationProto(clock->target()) - Remaining(cal, *clock, now));
  clock->set_paused(true);
}

absl::Status ResumeClock(const Calendar& cal, v1::SlaClock* clock, absl::Time now) {
  if (!clock->has_target() || clock->has_met_time() || !clock->paused()) return absl::OkStatus();
  absl::Duration left = FromDurationProto(clock->target()) - FromDurationProto(clock->elapsed());
  auto due = AddBusinessTime(cal, now, std::max(left, absl::ZeroDuration()));
  if (!due.ok()) return due.status();
  *clock->mutable_due_time() = ToTimestamp(*due);
  clock->set_paused(false);
  return absl::OkStatus();
}

// When an escalation level fires: `offset` business time after the due time,
// or, negative, that much before it (counted from receipt: pauses are not
// taken back out of a warning).
absl::StatusOr<absl::Time> FireTime(const Calendar& cal, const v1::Complaint& c, const v1::SlaClock& clock,
                                    const v1::EscalationLevel& level) {
  absl::Duration offset = FromDurationProto(level.offset());
  if (offset >= absl::ZeroDuration()) return AddBusinessTime(cal, FromTimestamp(clock.due_time()), offset);
  return AddBusinessTime(cal, FromTimestamp(c.receive_time()), FromDurationProto(clock.target()) + offset);
}

// When the SLA job must next look at `c`: the earliest unbreached due time or
// the next escalation level of a running clock.
std::optional<absl::Time> NextCheck(const Calendar& cal, const v1::SlaPolicy* policy, const v1::Complaint& c) {
  std::optional<absl::Time> next;
  auto consider = [&](absl::Time t) {
    if (!next || t < *next) next = t;
  };
  for (v1::SlaTarget target : {v1::SLA_TARGET_FIRST_RESPONSE, v1::SLA_TARGET_RESOLUTION}) {
    const v1::SlaClock& clock =
        target == v1::SLA_TARGET_FIRST_RESPONSE ? c.first_response_sla() : c.resolution_sla();
    if (!Running(clock)) continue;
    absl::Time due = FromTimestamp(clock.due_time());
    if (!clock.breached()) consider(due);
    if (policy == nullptr) continue;
    for (const v1::EscalationLevel& level : policy->escalation_levels()) {
      if (level.target() != target || level.level() <= clock.escalation_level()) continue;
      auto at = FireTime(cal, c, clock, level);
      if (at.ok()) consider(*at);
    }
  }
  if (c.check_in().status() == v1::CHECK_IN_STATUS_SCHEDULED) consider(FromTimestamp(c.check_in().due_time()));
  if (c.status() == v1::COMPLAINT_STATUS_RESOLVED && c.has_reopen_deadline()) consider(FromTimestamp(c.reopen_deadline()));
  return next;
}

OutboxEvent NotificationEvent(const std::string& id, absl::Time now, nv1::IngestEventRequest req) {
  req.set_event_id(absl::StrCat("complaint:", id));
  req.set_source("complaint");
  *req.mutable_occurred_at() = ToTimestamp(now);
  return OutboxEvent{req.event_id(), "notification", "/care.notification.v1.NotificationService/IngestEvent",
                     req.SerializeAsString()};
}

// `what` makes the event id unique per message of the complaint.
OutboxEvent CustomerUpdate(const v1::Complaint& c, const std::string& what, nv1::ComplaintUpdateKind kind,
                           const std::string& message, absl::Time now) {
  nv1::IngestEventRequest req;
  nv1::ComplaintUpdate* u = req.mutable_complaint_update();
  u->set_member_id(c.member_id());
  u->set_complaint_id(c.complaint_id());
  u->set_kind(kind);
  u->set_message(message);
  u->set_locale_hint(c.locale());
  return NotificationEvent(absl::StrCat(c.complaint_id(), ":", what), now, std::move(req));
}

v1::ComplaintEvent NewEvent(const v1::Complaint& c, v1::ComplaintEventKind kind, const ActorInfo& actor,
                            absl::Time now, const std::string& reason = "") {
  v1::ComplaintEvent e;
  e.set_complaint_id(c.complaint_id());
  e.set_kind(kind);
  *e.mutable_actor() = ActorProto(actor);
  *e.mutable_create_time() = ToTimestamp(now);
  e.set_reason(reason);
  e.set_complaint_version(c.version());
  return e;
}

// The policy version whose targets and escalation levels the complaint
// started with (the current one for complaints filed before versions were kept).
absl::StatusOr<std::optional<v1::SlaPolicy>> PolicyOf(StoreTxn& tx, const v1::Complaint& c) {
  if (c.sla_policy_id().empty()) return std::nullopt;
  auto versioned =
      LoadDoc<v1::SlaPolicy>(tx, DocKind::kSlaPolicyVersion, PolicyVersionId(c.sla_policy_id(), c.sla_policy_version()));
  if (!versioned.ok() || *versioned) return versioned;
  return LoadDoc<v1::SlaPolicy>(tx, DocKind::kSlaPolicy, c.sla_policy_id());
}

absl::Status Retime(const Calendar& before, const Calendar& after, v1::Complaint& c, absl::Time now) {
  for (v1::SlaClock* clock : {c.mutable_first_response_sla(), c.mutable_resolution_sla()}) {
    if (!Running(*clock)) continue;
    absl::Duration left = Remaining(before, *clock, now);
    if (left <= absl::ZeroDuration()) continue;  // already past due: the breach stands
    auto due = AddBusinessTime(after, now, left);
    if (!due.ok()) return due.status();
    *clock->mutable_due_time() = ToTimestamp(*due);
  }
  return absl::OkStatus();
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

bool Open(v1::ComplaintStatus s) {
  return s != v1::COMPLAINT_STATUS_RESOLVED && s != v1::COMPLAINT_STATUS_CLOSED;
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

// The first reply or acknowledgement stops the first-response clock.
absl::Status FirstResponse(StoreTxn& tx, v1::Complaint& c, absl::Time now) {
  if (c.has_first_response_time()) return absl::OkStatus();
  auto cal = CalendarOf(tx, c.calendar_id());
  if (!cal.ok()) return cal.status();
  *c.mutable_first_response_time() = ToTimestamp(now);
  StopClock(*cal, c.mutable_first_response_sla(), FromTimestamp(c.receive_time()), now);
  return absl::OkStatus();
}

void AddConsultation(v1::Complaint& c, const google::protobuf::Duration& spent) {
  *c.mutable_total_consultation_time() =
      ToDurationProto(FromDurationProto(c.total_consultation_time()) + FromDurationProto(spent));
}

absl::Status CheckVersion(const v1::Complaint& c, int64_t expected) {
  if (expected != 0 && expected != c.version()) return VersionMismatch("the complaint");
  return absl::OkStatus();
}

// Every change but a note is refused on a closed complaint.
absl::Status RequireNotClosed(const v1::Complaint& c) {
  if (c.status() == v1::COMPLAINT_STATUS_CLOSED) return FailedPrecondition("COMPLAINT_CLOSED", "the complaint is closed");
  return absl::OkStatus();
}

// The compensation a supervisor decides on: pending, and not their own.
absl::StatusOr<v1::Compensation*> PendingCompensation(v1::Complaint& c, const std::string& id,
                                                      const ActorInfo& actor) {
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

bool WithinLimit(const v1::ComplaintSettings& settings, Role role, const v1::Complaint& c,
                 const v1::Compensation& comp, int64_t agent_default) {
  if (comp.kind() == v1::COMPENSATION_KIND_POINTS) {
    std::optional<int64_t> limit = PointsLimit(settings, role, agent_default);
    if (!limit) return true;
    std::optional<int64_t> total = CheckedAdd(GrantedPoints(c, comp.compensation_id()), comp.points(), kMaxPointsBalance);
    return total && *total <= *limit;
  }
  // Vouchers: only roles the settings mark unlimited, or supervisors/admins.
  for (const v1::ApprovalLimit& l : settings.approval_limits()) {
    if (l.role() == role) return l.unlimited();
  }
  return role == care::common::v1::ROLE_SUPERVISOR || role == care::common::v1::ROLE_ADMIN;
}

// Hands the compensation to loyalty (points) or promotion (voucher) through
// the outbox; its id is their request id, so it is applied exactly once.
absl::Status Issue(StoreTxn& tx, const v1::Complaint& c, v1::Compensation& comp) {
  OutboxEvent event;
  if (comp.kind() == v1::COMPENSATION_KIND_POINTS) {
    care::loyalty::v1::AdjustPointsRequest req;
    req.set_request_id(comp.compensation_id());
    req.set_member_id(c.member_id());
    req.set_points_delta(comp.points());
    req.set_reason_code(comp.reason_code().empty() ? "GOODWILL" : comp.reason_code());
    req.set_complaint_id(c.complaint_id());
    req.set_note(comp.note());
    event = {absl::StrCat("complaint:", comp.compensation_id()), "loyalty", kAdjustPointsMethod,
             req.SerializeAsString()};
  } else {
    care::promotion::v1::IssueVoucherRequest req;
    req.set_request_id(comp.compensation_id());
    req.set_member_id(c.member_id());
    if (comp.voucher().has_amount()) {
      *req.mutable_value() = comp.voucher().amount();
    } else {
      req.set_percent_off_bps(comp.voucher().percent_off_bps());
    }
    if (comp.voucher().has_validity()) *req.mutable_validity() = comp.voucher().validity();
    req.set_reason_code(comp.reason_code().empty() ? "GOODWILL" : comp.reason_code());
    req.set_complaint_id(c.complaint_id());
    req.set_note(comp.note());
    req.set_issued_by(comp.requested_by().principal_id());
    event = {absl::StrCat("complaint:", comp.compensation_id()), "promotion", kIssueVoucherMethod,
             req.SerializeAsString()};
  }
  // ISSUING until the receiver acknowledges (GoodwillOutcome): only then is
  // there a reference the customer can be given.
  comp.set_status(v1::COMPENSATION_STATUS_ISSUING);
  return tx.Enqueue(event);
}

// Agent-written text the customer will see (a reply, an acknowledgement, a
// resolution summary) must hold none of the forbidden phrases of the
// complaint's locale, its base language ("vi" for "vi-VN") and every locale
// ("" and the older "*"). INVALID_ARGUMENT / FORBIDDEN_PHRASE naming `field`.
absl::Status CheckCustomerText(StoreTxn& tx, const v1::Complaint& c, absl::string_view field,
                               absl::string_view text) {
  if (text.empty()) return absl::OkStatus();
  std::vector<std::string> phrases;
  std::set<std::string> seen;
  std::vector<std::string> locales = {c.locale(), "", "*"};
  if (size_t dash = c.locale().find('-'); dash != std::string::npos) locales.push_back(c.locale().substr(0, dash));
  for (const std::string& locale : locales) {
    auto list = LoadDoc<v1::ForbiddenPhraseList>(tx, DocKind::kPhrases, locale);
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

// 128 bits from the CSPRNG: survey tokens are bearer secrets.
std::string NewToken() { return RandomToken(32, kLowerHex); }

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

namespace {
// A year of tickets is a million index entries: the range is read in
// slices on parallel reader connections (the scan is the cost).
constexpr int kMetricSlices = 4;
}  // namespace

ComplaintService::ComplaintService(ComplaintStore& store, const Clock& clock, ComplaintOptions options)
    : store_(store),
      clock_(clock),
      options_(options),
      metrics_pool_(std::make_unique<WorkPool>(
          kMetricSlices, static_cast<size_t>(std::max(1, options_.metrics_concurrency) * kMetricSlices))) {}

// ------------------------------------------------------------------ tickets

absl::StatusOr<v1::CreateComplaintResponse> ComplaintService::Create(const v1::CreateComplaintRequest& req,
                                                                     const TierAtIntake& tier,
                                                                     const ActorInfo& actor) {
  const absl::Time now = Now();
  return Mutate<v1::CreateComplaintResponse>("CreateComplaint", req.request_id(), req,
                                             [&](StoreTxn& tx, v1::CreateComplaintResponse& out) -> absl::Status {
    v1::Complaint c;
    c.set_complaint_id(absl::StrCat("c-", NewToken().substr(0, 16)));
    c.set_member_id(req.member_id());
    c.set_channel(req.channel());
    c.set_category(req.category());
    c.set_order_id(req.order_id());
    c.set_subject(req.subject());
    c.set_description(req.description());
    c.set_locale(req.locale());
    c.set_status(v1::COMPLAINT_STATUS_NEW);
    // Higher tiers are answered faster ("special care"): the tier's support
    // priority is the default priority.
    c.set_priority(req.priority() != v1::PRIORITY_UNSPECIFIED ? req.priority() : tier.support_priority);
    *c.mutable_tier() = tier.info;
    c.set_team_id(req.team_id());
    c.set_assignee_agent_id(req.assignee_agent_id());
    absl::Time received = req.has_received_time() ? FromTimestamp(req.received_time()) : now;
    *c.mutable_receive_time() = ToTimestamp(received);
    *c.mutable_create_time() = ToTimestamp(now);
    *c.mutable_created_by() = ActorProto(actor);

    // The first enabled policy (by evaluation order) that matches sets the clocks.
    auto docs = tx.Documents(DocKind::kSlaPolicy);
    if (!docs.ok()) return docs.status();
    std::vector<v1::SlaPolicy> policies;
    for (const std::string& bytes : *docs) {
      v1::SlaPolicy p;
      if (p.ParseFromString(bytes)) policies.push_back(std::move(p));
    }
    std::stable_sort(policies.begin(), policies.end(), [](const auto& a, const auto& b) {
      return a.evaluation_order() < b.evaluation_order();
    });
    for (const v1::SlaPolicy& p : policies) {
      if (!PolicyMatches(p, c)) continue;
      c.set_sla_policy_id(p.sla_policy_id());
      c.set_sla_policy_version(p.version());
      c.set_calendar_id(p.calendar_id());
      auto cal = CalendarOf(tx, p.calendar_id());
      if (!cal.ok()) return cal.status();
      if (absl::Status s = StartClock(*cal, c.mutable_first_response_sla(), FromDurationProto(p.first_response_target()), received); !s.ok()) return s;
      if (absl::Status s = StartClock(*cal, c.mutable_resolution_sla(), FromDurationProto(p.resolution_target()), received); !s.ok()) return s;
      break;
    }

    if (!c.order_id().empty()) {
      auto dup = tx.OpenDuplicate(c.member_id(), c.order_id(), c.category());
      if (!dup.ok()) return dup.status();
      if (*dup) c.set_duplicate_of_complaint_id(**dup);
    }
    if (absl::Status s = Save(tx, c, now); !s.ok()) return s;
    v1::ComplaintEvent created = NewEvent(c, v1::COMPLAINT_EVENT_KIND_CREATED, actor, now);
    created.mutable_created()->set_channel(c.channel());
    created.mutable_created()->set_category(c.category());
    created.mutable_created()->set_priority(c.priority());
    *created.mutable_created()->mutable_tier() = c.tier();
    created.mutable_created()->set_sla_policy_id(c.sla_policy_id());
    if (absl::Status s = tx.AppendEvent(created); !s.ok()) return s;
    if (!c.duplicate_of_complaint_id().empty()) {
      v1::ComplaintEvent linked = NewEvent(c, v1::COMPLAINT_EVENT_KIND_DUPLICATE_LINKED, actor, now,
                                           "same member, order and category as an open complaint");
      if (absl::Status s = tx.AppendEvent(linked); !s.ok()) return s;
    }
    if (absl::Status s = tx.Enqueue(CustomerUpdate(c, "received", nv1::COMPLAINT_UPDATE_KIND_ACKNOWLEDGED,
                                                   "We have received your complaint.", now));
        !s.ok()) {
      return s;
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
    // Time to breach, as of this read.
    for (v1::SlaClock* clock : {out.mutable_first_response_sla(), out.mutable_resolution_sla()}) {
      if (!clock->has_target() || clock->has_met_time()) continue;
      if (clock->paused()) {
        *clock->mutable_time_to_breach() =
            ToDurationProto(FromDurationProto(clock->target()) - FromDurationProto(clock->elapsed()));
        continue;
      }
      *clock->mutable_time_to_breach() = ToDurationProto(Remaining(*cal, *clock, now));
      *clock->mutable_wall_time_to_breach() = ToDurationProto(FromTimestamp(clock->due_time()) - now);
      *clock->mutable_elapsed() =
          ToDurationProto(FromDurationProto(clock->target()) - Remaining(*cal, *clock, now));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::ListComplaintEventsResponse> ComplaintService::Events(const std::string& id, int64_t after,
                                                                         int limit) {
  v1::ListComplaintEventsResponse out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto c = Require(tx, id);
    if (!c.ok()) return c.status();
    auto events = tx.Events(id, after, limit + 1);
    if (!events.ok()) return events.status();
    for (auto& e : *events) {
      if (out.events_size() == limit) {
        out.set_next_page_token(absl::StrCat(out.events(limit - 1).sequence()));
        break;
      }
      *out.add_events() = std::move(e);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

// A change to one open complaint: idempotent by request id, its version
// checked, refused once closed, saved with one more version and returned.
template <typename Fn>
absl::StatusOr<v1::Complaint> ComplaintService::Change(absl::string_view scope, const google::protobuf::Message& req,
                                                       const std::string& complaint_id, int64_t expected_version,
                                                       absl::Time now, Fn fn) {
  const std::string& request_id =
      req.GetReflection()->GetString(req, req.GetDescriptor()->FindFieldByName("request_id"));
  return Mutate<v1::Complaint>(scope, request_id, req, [&](StoreTxn& tx, v1::Complaint& out) -> absl::Status {
    auto c = Require(tx, complaint_id);
    if (!c.ok()) return c.status();
    if (absl::Status bad = CheckVersion(*c, expected_version); !bad.ok()) return bad;
    if (absl::Status bad = RequireNotClosed(*c); !bad.ok()) return bad;
    if (absl::Status s = fn(tx, *c); !s.ok()) return s;
    if (absl::Status s = Save(tx, *c, now); !s.ok()) return s;
    out = *c;
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Complaint> ComplaintService::Transition(const v1::TransitionComplaintRequest& req, const ActorInfo& actor) {
  const absl::Time now = Now();
  return Change("TransitionComplaint", req, req.complaint_id(), req.expected_version(), now,
                [&](StoreTxn& tx, v1::Complaint& c) -> absl::Status {
    if (!TransitionAllowed(c.status(), req.to_status())) return InvalidTransition(c.status(), req.to_status());
    if (req.to_status() == v1::COMPLAINT_STATUS_CLOSED && Open(c.status()) && req.reason().empty()) {
      return InvalidField("reason", "is required to close an unresolved complaint");
    }
    if (absl::Status s = ChangeStatus(tx, c, req.to_status(), actor, req.reason(), now); !s.ok()) return s;
    if (req.to_status() == v1::COMPLAINT_STATUS_CLOSED) {
      *c.mutable_close_time() = ToTimestamp(now);
      c.mutable_check_in()->set_status(c.check_in().status() == v1::CHECK_IN_STATUS_SCHEDULED
                                            ? v1::CHECK_IN_STATUS_CANCELLED
                                            : c.check_in().status());
    }
    // Acknowledging is the first response: the customer hears of it, with
    // the agent's reason as the message.
    if (req.to_status() == v1::COMPLAINT_STATUS_ACKNOWLEDGED) {
      if (absl::Status bad = CheckCustomerText(tx, c, "reason", req.reason()); !bad.ok()) return bad;
      if (absl::Status s = FirstResponse(tx, c, now); !s.ok()) return s;
      if (absl::Status s = tx.Enqueue(CustomerUpdate(c, "acknowledged", nv1::COMPLAINT_UPDATE_KIND_ACKNOWLEDGED,
                                                     req.reason().empty() ? "We are looking into your complaint."
                                                                          : req.reason(),
                                                     now));
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::ReplyToComplaintResponse> ComplaintService::Reply(const v1::ReplyToComplaintRequest& req,
                                                                     const ActorInfo& actor) {
  const absl::Time now = Now();
  // Checked before anything is stored or sent; a refused reply leaves no trace.
  auto check = [&](StoreTxn& tx, const v1::Complaint& c) { return CheckCustomerText(tx, c, "text", req.text()); };
  if (req.validate_only()) {
    v1::ReplyToComplaintResponse out;
    absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
      auto c = Require(tx, req.complaint_id());
      if (!c.ok()) return c.status();
      if (absl::Status bad = check(tx, *c); !bad.ok()) return bad;
      *out.mutable_complaint() = *c;
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return out;
  }
  return Mutate<v1::ReplyToComplaintResponse>("ReplyToComplaint", req.request_id(), req,
                                              [&](StoreTxn& tx, v1::ReplyToComplaintResponse& out) -> absl::Status {
    auto c = Require(tx, req.complaint_id());
    if (!c.ok()) return c.status();
    if (absl::Status bad = CheckVersion(*c, req.expected_version()); !bad.ok()) return bad;
    if (absl::Status bad = RequireNotClosed(*c); !bad.ok()) return bad;
    if (absl::Status bad = check(tx, *c); !bad.ok()) return bad;
    bool first = !c->has_first_response_time();
    if (absl::Status s = FirstResponse(tx, *c, now); !s.ok()) return s;
    AddConsultation(*c, req.consultation_time());
    v1::ComplaintEvent e = NewEvent(*c, v1::COMPLAINT_EVENT_KIND_REPLY, actor, now);
    e.mutable_reply()->set_text(req.text());
    e.mutable_reply()->set_locale(c->locale());
    if (req.has_consultation_time()) *e.mutable_reply()->mutable_consultation_time() = req.consultation_time();
    e.mutable_reply()->set_first_response(first);
    if (absl::Status s = tx.AppendEvent(e); !s.ok()) return s;
    v1::ComplaintStatus next = req.wait_for_customer() ? v1::COMPLAINT_STATUS_WAITING_ON_CUSTOMER
                               : c->status() == v1::COMPLAINT_STATUS_WAITING_ON_CUSTOMER ? c->status()
                                                                                        : v1::COMPLAINT_STATUS_IN_PROGRESS;
    if (Open(c->status()) && next != c->status()) {
      if (absl::Status s = ChangeStatus(tx, *c, next, actor, "reply", now); !s.ok()) return s;
    }
    if (absl::Status s = tx.Enqueue(CustomerUpdate(*c, absl::StrCat("reply:", e.sequence()), nv1::COMPLAINT_UPDATE_KIND_UPDATED, req.text(), now));
        !s.ok()) {
      return s;
    }
    if (absl::Status s = Save(tx, *c, now); !s.ok()) return s;
    *out.mutable_complaint() = *c;
    *out.mutable_event() = e;
    return absl::OkStatus();
  });
}

// Resolution itself: clocks stop, the customer is told, the survey goes out
// and the check-in is scheduled. Also run when a parked resolution is approved.
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
  if (absl::Status s = ChangeStatus(tx, c, v1::COMPLAINT_STATUS_RESOLVED, actor, c.resolution_summary(), now); !s.ok()) {
    return s;
  }
  *c.mutable_resolve_time() = ToTimestamp(now);
  absl::Duration window = settings.has_reopen_window() ? FromDurationProto(settings.reopen_window()) : options_.reopen_window;
  *c.mutable_reopen_deadline() = ToTimestamp(now + window);
  bool survey = settings.has_survey() ? settings.survey().enabled() : options_.survey_enabled;
  if (survey) {
    std::string token = NewToken();
    absl::Duration validity = settings.has_survey() && settings.survey().has_token_validity()
                                  ? FromDurationProto(settings.survey().token_validity())
                                  : options_.survey_validity;
    if (c.survey().status() == v1::SURVEY_STATUS_SENT) c.mutable_survey()->set_status(v1::SURVEY_STATUS_SUPERSEDED);
    v1::Survey* sv = c.mutable_survey();
    sv->Clear();
    sv->set_status(v1::SURVEY_STATUS_SENT);
    *sv->mutable_send_time() = ToTimestamp(now);
    *sv->mutable_expire_time() = ToTimestamp(now + validity);
    if (absl::Status s = tx.PutSurveyToken(token, c.complaint_id()); !s.ok()) return s;
    nv1::IngestEventRequest invite;
    nv1::SatisfactionSurvey* ss = invite.mutable_satisfaction_survey();
    ss->set_member_id(c.member_id());
    ss->set_complaint_id(c.complaint_id());
    ss->set_survey_token(token);
    *ss->mutable_expire_time() = sv->expire_time();
    if (absl::Status s = tx.Enqueue(NotificationEvent(absl::StrCat(c.complaint_id(), ":survey:", token.substr(0, 8)),
                                                      now, std::move(invite)));
        !s.ok()) {
      return s;
    }
  }
  bool check_in = (settings.has_check_in() ? settings.check_in().enabled() : options_.check_in_enabled) &&
                  MatchesAny(settings.check_in().categories(), c.category());
  if (check_in) {
    absl::Duration delay = settings.has_check_in() && settings.check_in().has_delay_after_resolution()
                               ? FromDurationProto(settings.check_in().delay_after_resolution())
                               : options_.check_in_delay;
    // Held here until due, so that a reopening can still cancel it; the
    // SLA job hands it to the notification service then.
    c.mutable_check_in()->Clear();
    c.mutable_check_in()->set_status(v1::CHECK_IN_STATUS_SCHEDULED);
    *c.mutable_check_in()->mutable_due_time() = ToTimestamp(now + delay);
    v1::ComplaintEvent e = NewEvent(c, v1::COMPLAINT_EVENT_KIND_CHECK_IN, actor, now);
    *e.mutable_check_in() = c.check_in();
    if (absl::Status s = tx.AppendEvent(e); !s.ok()) return s;
  }
  if (absl::Status s = tx.Enqueue(CustomerUpdate(c, absl::StrCat("resolved:", c.reopen_count()), nv1::COMPLAINT_UPDATE_KIND_RESOLVED,
                                                 c.resolution_summary(), now));
      !s.ok()) {
    return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ResolveComplaintResponse> ComplaintService::Resolve(const v1::ResolveComplaintRequest& req,
                                                                       const ActorInfo& actor) {
  const absl::Time now = Now();
  return Mutate<v1::ResolveComplaintResponse>("ResolveComplaint", req.request_id(), req,
                                              [&](StoreTxn& tx, v1::ResolveComplaintResponse& out) -> absl::Status {
    auto c = Require(tx, req.complaint_id());
    if (!c.ok()) return c.status();
    if (absl::Status bad = CheckVersion(*c, req.expected_version()); !bad.ok()) return bad;
    if (absl::Status bad = RequireNotClosed(*c); !bad.ok()) return bad;
    if (!Open(c->status())) return InvalidTransition(c->status(), v1::COMPLAINT_STATUS_RESOLVED);
    for (const v1::Compensation& existing : c->compensations()) {
      if (existing.status() == v1::COMPENSATION_STATUS_PENDING_APPROVAL) {
        return FailedPrecondition("COMPENSATION_PENDING", "a compensation awaits approval");
      }
    }
    // The summary goes to the customer (now, or when a parked resolution is
    // approved): checked like a reply.
    if (absl::Status bad = CheckCustomerText(tx, *c, "resolution_summary", req.resolution_summary()); !bad.ok()) {
      return bad;
    }
    auto settings = LoadSettings(tx);
    if (!settings.ok()) return settings.status();
    c->set_resolution_summary(req.resolution_summary());
    AddConsultation(*c, req.consultation_time());

    if (req.has_compensation()) {
      v1::Compensation comp;
      comp.set_compensation_id(absl::StrCat(c->complaint_id(), "-comp-", c->compensations_size() + 1));
      if (req.compensation().grant_case() == v1::CompensationRequest::kPoints) {
        comp.set_kind(v1::COMPENSATION_KIND_POINTS);
        comp.set_points(req.compensation().points());
      } else {
        comp.set_kind(v1::COMPENSATION_KIND_VOUCHER);
        *comp.mutable_voucher() = req.compensation().voucher();
      }
      comp.set_reason_code(req.compensation().reason_code());
      comp.set_note(req.compensation().note());
      *comp.mutable_requested_by() = ActorProto(actor);
      *comp.mutable_request_time() = ToTimestamp(now);
      if (WithinLimit(*settings, actor.role, *c, comp, options_.agent_points_limit)) {
        if (absl::Status s = Issue(tx, *c, comp); !s.ok()) return s;
      } else {
        // Above the requester's limit: nothing is issued and the resolution is
        // parked (the summary kept) until a supervisor decides.
        comp.set_approval_required(true);
        comp.set_status(v1::COMPENSATION_STATUS_PENDING_APPROVAL);
        out.set_pending_approval(true);
      }
      v1::ComplaintEvent e = NewEvent(*c, v1::COMPLAINT_EVENT_KIND_COMPENSATION, actor, now);
      *e.mutable_compensation() = comp;
      if (absl::Status s = tx.AppendEvent(e); !s.ok()) return s;
      *c->add_compensations() = comp;
      *out.mutable_compensation() = comp;
    }
    if (!out.pending_approval()) {
      if (absl::Status s = ResolveNow(tx, *c, *settings, actor, now); !s.ok()) return s;
    }
    if (absl::Status s = Save(tx, *c, now); !s.ok()) return s;
    *out.mutable_complaint() = *c;
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Complaint> ComplaintService::Approve(const v1::ApproveCompensationRequest& req,
                                                        const ActorInfo& actor) {
  const absl::Time now = Now();
  return Mutate<v1::Complaint>("ApproveCompensation", req.request_id(), req,
                               [&](StoreTxn& tx, v1::Complaint& out) -> absl::Status {
    auto c = Require(tx, req.complaint_id());
    if (!c.ok()) return c.status();
    auto found = PendingCompensation(*c, req.compensation_id(), actor);
    if (!found.ok()) return found.status();
    v1::Compensation* comp = *found;
    auto settings_or = LoadSettings(tx);
    if (!settings_or.ok()) return settings_or.status();
    const v1::ComplaintSettings& settings = *settings_or;
    if (!WithinLimit(settings, actor.role, *c, *comp, options_.agent_points_limit)) {
      return Error(absl::StatusCode::kPermissionDenied, "APPROVAL_LIMIT_EXCEEDED",
                   "the compensation is above your approval limit");
    }
    *comp->mutable_decided_by() = ActorProto(actor);
    comp->set_decision_reason(req.reason());
    *comp->mutable_decide_time() = ToTimestamp(now);
    if (absl::Status s = Issue(tx, *c, *comp); !s.ok()) return s;
    v1::ComplaintEvent e = NewEvent(*c, v1::COMPLAINT_EVENT_KIND_COMPENSATION, actor, now, req.reason());
    *e.mutable_compensation() = *comp;
    if (absl::Status s = tx.AppendEvent(e); !s.ok()) return s;
    // The parked resolution goes ahead now.
    if (Open(c->status())) {
      if (absl::Status s = ResolveNow(tx, *c, settings, actor, now); !s.ok()) return s;
    }
    if (absl::Status s = Save(tx, *c, now); !s.ok()) return s;
    out = *c;
    return absl::OkStatus();
  });
}

absl::Status ComplaintService::GoodwillOutcome(StoreTxn& tx, const OutboxEvent& event, const absl::Status& result,
                                              const std::string& response) {
  const absl::Time now = Now();
  std::string complaint_id, compensation_id;
  if (event.method == kAdjustPointsMethod) {
    care::loyalty::v1::AdjustPointsRequest req;
    if (!req.ParseFromString(event.payload)) return absl::OkStatus();  // not ours to fix; the relay goes on
    complaint_id = req.complaint_id();
    compensation_id = req.request_id();
  } else if (event.method == kIssueVoucherMethod) {
    care::promotion::v1::IssueVoucherRequest req;
    if (!req.ParseFromString(event.payload)) return absl::OkStatus();
    complaint_id = req.complaint_id();
    compensation_id = req.request_id();
  } else {
    return absl::OkStatus();
  }
  auto found = tx.GetComplaint(complaint_id);
  if (!found.ok()) return found.status();
  if (!*found) return absl::OkStatus();
  v1::Complaint c = **std::move(found);
  v1::Compensation* comp = nullptr;
  for (auto& x : *c.mutable_compensations()) {
    if (x.compensation_id() == compensation_id) comp = &x;
  }
  // Only an issuing (or failed, then replayed) compensation moves.
  if (comp == nullptr || (comp->status() != v1::COMPENSATION_STATUS_ISSUING &&
                          comp->status() != v1::COMPENSATION_STATUS_FAILED)) {
    return absl::OkStatus();
  }
  if (result.ok()) {
    if (event.method == kAdjustPointsMethod) {
      care::loyalty::v1::AdjustPointsResponse resp;
      if (resp.ParseFromString(response)) comp->set_issued_reference(resp.entry().entry_id());
    } else {
      care::promotion::v1::Voucher resp;
      if (resp.ParseFromString(response)) {
        comp->set_issued_reference(resp.code());
        comp->set_voucher_code(resp.code());
      }
    }
    comp->set_status(v1::COMPENSATION_STATUS_ISSUED);
    comp->clear_failure_reason();
    *comp->mutable_issue_time() = ToTimestamp(now);
  } else {
    comp->set_status(v1::COMPENSATION_STATUS_FAILED);
    comp->set_failure_reason(ErrorReason(result));
  }
  ActorInfo system{"system:outbox", care::common::v1::ROLE_UNSPECIFIED, true};
  v1::ComplaintEvent e = NewEvent(c, v1::COMPLAINT_EVENT_KIND_COMPENSATION, system, now,
                                  result.ok() ? "acknowledged by the receiving service"
                                              : std::string(result.message()));
  *e.mutable_compensation() = *comp;
  if (absl::Status s = tx.AppendEvent(e); !s.ok()) return s;
  return Save(tx, c, now);
}

absl::StatusOr<v1::SurveyResponse> ComplaintService::AnswerSurvey(const v1::SubmitSurveyResponseRequest& req) {
  const absl::Time now = Now();
  return Mutate<v1::SurveyResponse>("SubmitSurveyResponse", req.request_id(), req,
                                    [&](StoreTxn& tx, v1::SurveyResponse& out) -> absl::Status {
    auto id = tx.SurveyComplaint(req.survey_token());
    if (!id.ok()) return id.status();
    if (!*id) return NotFound("SURVEY_NOT_FOUND", "unknown survey token");
    auto c = Require(tx, **id);
    if (!c.ok()) return c.status();
    v1::Survey* sv = c->mutable_survey();
    if (sv->status() == v1::SURVEY_STATUS_ANSWERED) {
      return AlreadyExists("SURVEY_ALREADY_ANSWERED", "this survey has been answered");
    }
    if (sv->status() != v1::SURVEY_STATUS_SENT || now >= FromTimestamp(sv->expire_time())) {
      return FailedPrecondition("SURVEY_EXPIRED", "the survey is no longer open");
    }
    sv->set_status(v1::SURVEY_STATUS_ANSWERED);
    sv->set_score(req.score());
    sv->set_comment(req.comment());
    *sv->mutable_answer_time() = ToTimestamp(now);
    v1::ComplaintEvent e = NewEvent(*c, v1::COMPLAINT_EVENT_KIND_SURVEY, ActorInfo{c->member_id()}, now);
    *e.mutable_survey() = *sv;
    if (absl::Status s = tx.AppendEvent(e); !s.ok()) return s;
    if (absl::Status s = Save(tx, *c, now); !s.ok()) return s;
    out.set_complaint_id(c->complaint_id());
    out.set_member_id(c->member_id());
    out.set_score(req.score());
    out.set_comment(req.comment());
    *out.mutable_submit_time() = ToTimestamp(now);
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Complaint> ComplaintService::Reject(const v1::RejectCompensationRequest& req,
                                                       const ActorInfo& actor) {
  const absl::Time now = Now();
  return Mutate<v1::Complaint>("RejectCompensation", req.request_id(), req,
                               [&](StoreTxn& tx, v1::Complaint& out) -> absl::Status {
    auto c = Require(tx, req.complaint_id());
    if (!c.ok()) return c.status();
    auto found = PendingCompensation(*c, req.compensation_id(), actor);
    if (!found.ok()) return found.status();
    v1::Compensation* comp = *found;
    comp->set_status(v1::COMPENSATION_STATUS_REJECTED);
    *comp->mutable_decided_by() = ActorProto(actor);
    comp->set_decision_reason(req.reason());
    *comp->mutable_decide_time() = ToTimestamp(now);
    // The parked resolution is dropped; the agent may resolve again.
    if (Open(c->status())) c->clear_resolution_summary();
    v1::ComplaintEvent e = NewEvent(*c, v1::COMPLAINT_EVENT_KIND_COMPENSATION, actor, now, req.reason());
    *e.mutable_compensation() = *comp;
    if (absl::Status s = tx.AppendEvent(e); !s.ok()) return s;
    if (absl::Status s = Save(tx, *c, now); !s.ok()) return s;
    out = *c;
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Complaint> ComplaintService::Reopen(const v1::ReopenComplaintRequest& req, const ActorInfo& actor) {
  const absl::Time now = Now();
  return Change("ReopenComplaint", req, req.complaint_id(), req.expected_version(), now,
                [&](StoreTxn& tx, v1::Complaint& c) -> absl::Status {
    if (c.status() != v1::COMPLAINT_STATUS_RESOLVED) return InvalidTransition(c.status(), v1::COMPLAINT_STATUS_REOPENED);
    if (now >= FromTimestamp(c.reopen_deadline())) {
      return FailedPrecondition("REOPEN_WINDOW_EXPIRED", "the reopen window of this complaint has ended");
    }
    if (absl::Status s = ChangeStatus(tx, c, v1::COMPLAINT_STATUS_REOPENED, actor, req.reason(), now); !s.ok()) return s;
    c.set_reopen_count(c.reopen_count() + 1);
    c.clear_reopen_deadline();
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
    if (*policy) {
      auto cal = CalendarOf(tx, c.calendar_id());
      if (!cal.ok()) return cal.status();
      if (absl::Status s = StartClock(*cal, c.mutable_resolution_sla(), FromDurationProto((*policy)->resolution_target()), now);
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Complaint> ComplaintService::Assign(const v1::AssignComplaintRequest& req, const ActorInfo& actor) {
  const absl::Time now = Now();
  return Change("AssignComplaint", req, req.complaint_id(), req.expected_version(), now,
                [&](StoreTxn& tx, v1::Complaint& c) -> absl::Status {
    v1::ComplaintEvent e = NewEvent(c, v1::COMPLAINT_EVENT_KIND_ASSIGNED, actor, now, req.reason());
    v1::AssignmentDetails* a = e.mutable_assignment();
    a->set_from_agent_id(c.assignee_agent_id());
    a->set_from_team_id(c.team_id());
    c.set_assignee_agent_id(req.agent_id());
    if (!req.team_id().empty()) c.set_team_id(req.team_id());
    a->set_to_agent_id(c.assignee_agent_id());
    a->set_to_team_id(c.team_id());
    if (absl::Status s = tx.AppendEvent(e); !s.ok()) return s;
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Complaint> ComplaintService::Transfer(const v1::TransferComplaintRequest& req, const ActorInfo& actor) {
  const absl::Time now = Now();
  return Change("TransferComplaint", req, req.complaint_id(), req.expected_version(), now,
                [&](StoreTxn& tx, v1::Complaint& c) -> absl::Status {
    // The hand-over note is what the next agent sees first.
    v1::Handover h;
    h.set_from_agent_id(c.assignee_agent_id());
    h.set_from_team_id(c.team_id());
    h.set_to_agent_id(req.to_agent_id());
    h.set_to_team_id(req.to_team_id());
    h.set_note(req.handover_note());
    *h.mutable_actor() = ActorProto(actor);
    *h.mutable_create_time() = ToTimestamp(now);
    c.set_assignee_agent_id(req.to_agent_id());
    if (!req.to_team_id().empty()) c.set_team_id(req.to_team_id());
    *c.mutable_handover() = h;
    v1::ComplaintEvent e = NewEvent(c, v1::COMPLAINT_EVENT_KIND_TRANSFERRED, actor, now, req.reason());
    v1::AssignmentDetails* a = e.mutable_assignment();
    a->set_from_agent_id(h.from_agent_id());
    a->set_from_team_id(h.from_team_id());
    a->set_to_agent_id(c.assignee_agent_id());
    a->set_to_team_id(c.team_id());
    a->set_handover_note(h.note());
    if (absl::Status s = tx.AppendEvent(e); !s.ok()) return s;
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::RecordCustomerMessageResponse> ComplaintService::CustomerMessage(
    const v1::RecordCustomerMessageRequest& req, const ActorInfo& actor) {
  const absl::Time now = Now();
  return Mutate<v1::RecordCustomerMessageResponse>(
      "RecordCustomerMessage", req.request_id(), req,
      [&](StoreTxn& tx, v1::RecordCustomerMessageResponse& out) -> absl::Status {
    auto c = Require(tx, req.complaint_id());
    if (!c.ok()) return c.status();
    if (absl::Status bad = RequireNotClosed(*c); !bad.ok()) return bad;
    AddConsultation(*c, req.consultation_time());
    v1::ComplaintEvent e = NewEvent(*c, v1::COMPLAINT_EVENT_KIND_CUSTOMER_MESSAGE, actor, now);
    e.mutable_customer_message()->set_text(req.text());
    e.mutable_customer_message()->set_channel(req.channel());
    *e.mutable_customer_message()->mutable_receive_time() =
        req.has_received_time() ? req.received_time() : ToTimestamp(now);
    *e.mutable_customer_message()->mutable_consultation_time() = req.consultation_time();
    if (absl::Status s = tx.AppendEvent(e); !s.ok()) return s;
    // The customer answered: the ball is back with us and the clocks resume.
    if (c->status() == v1::COMPLAINT_STATUS_WAITING_ON_CUSTOMER) {
      if (absl::Status s = ChangeStatus(tx, *c, v1::COMPLAINT_STATUS_IN_PROGRESS, actor, "customer replied", now);
          !s.ok()) {
        return s;
      }
    }
    if (absl::Status s = Save(tx, *c, now); !s.ok()) return s;
    *out.mutable_complaint() = *c;
    *out.mutable_event() = e;
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::AddNoteResponse> ComplaintService::AddNote(const v1::AddNoteRequest& req, const ActorInfo& actor) {
  const absl::Time now = Now();
  return Mutate<v1::AddNoteResponse>("AddNote", req.request_id(), req,
                                     [&](StoreTxn& tx, v1::AddNoteResponse& out) -> absl::Status {
    auto c = Require(tx, req.complaint_id());
    if (!c.ok()) return c.status();
    AddConsultation(*c, req.consultation_time());
    v1::ComplaintEvent e = NewEvent(*c, v1::COMPLAINT_EVENT_KIND_NOTE, actor, now);
    e.mutable_note()->set_text(req.text());
    *e.mutable_note()->mutable_consultation_time() = req.consultation_time();
    if (absl::Status s = tx.AppendEvent(e); !s.ok()) return s;
    if (absl::Status s = Save(tx, *c, now); !s.ok()) return s;
    *out.mutable_complaint() = *c;
    *out.mutable_event() = e;
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Complaint> ComplaintService::Update(const v1::UpdateComplaintRequest& req, const ActorInfo& actor) {
  const absl::Time now = Now();
  return Mutate<v1::Complaint>("UpdateComplaint", req.request_id(), req,
                               [&](StoreTxn& tx, v1::Complaint& out) -> absl::Status {
    auto c = Require(tx, req.complaint().complaint_id());
    if (!c.ok()) return c.status();
    if (absl::Status bad = CheckVersion(*c, req.expected_version()); !bad.ok()) return bad;
    if (absl::Status bad = RequireNotClosed(*c); !bad.ok()) return bad;
    const v1::Complaint& in = req.complaint();
    std::vector<std::string> changed;
    for (const std::string& path : req.update_mask().paths()) {
      if (path == "category" && c->category() != in.category()) {
        c->set_category(in.category());
      } else if (path == "order_id" && c->order_id() != in.order_id()) {
        c->set_order_id(in.order_id());
      } else if (path == "subject" && c->subject() != in.subject()) {
        c->set_subject(in.subject());
      } else if (path == "locale" && c->locale() != in.locale()) {
        c->set_locale(in.locale());
      } else if (path == "priority" && c->priority() != in.priority()) {
        // A priority change has its own audit entry; the SLA clocks keep their targets.
        v1::ComplaintEvent pe = NewEvent(*c, v1::COMPLAINT_EVENT_KIND_PRIORITY_CHANGED, actor, now, req.reason());
        pe.mutable_priority_changed()->set_from_priority(c->priority());
        pe.mutable_priority_changed()->set_to_priority(in.priority());
        if (absl::Status s = tx.AppendEvent(pe); !s.ok()) return s;
        c->set_priority(in.priority());
      } else {
        continue;
      }
      changed.push_back(path);
    }
    if (!changed.empty()) {
      v1::ComplaintEvent e = NewEvent(*c, v1::COMPLAINT_EVENT_KIND_UPDATED, actor, now, req.reason());
      for (const std::string& path : changed) e.mutable_updated()->add_paths(path);
      if (absl::Status s = tx.AppendEvent(e); !s.ok()) return s;
      if (absl::Status s = Save(tx, *c, now); !s.ok()) return s;
    }
    out = *c;
    return absl::OkStatus();
  });
}

absl::StatusOr<ComplaintService::Page> ComplaintService::List(const ListFilter& filter, int page_size) {
  Page page;
  const bool post_filtered = !filter.compensation_statuses.empty() || !filter.escalation_notified_agent_id.empty();
  auto keep = [&](const v1::Complaint& c) {
    if (!filter.compensation_statuses.empty()) {
      bool any = false;
      for (const auto& comp : c.compensations()) {
        any = any || std::find(filter.compensation_statuses.begin(), filter.compensation_statuses.end(),
                               static_cast<int>(comp.status())) != filter.compensation_statuses.end();
      }
      if (!any) return false;
    }
    if (!filter.escalation_notified_agent_id.empty()) {
      bool any = false;
      for (const auto& e : c.escalations()) any = any || e.notified_agent_id() == filter.escalation_notified_agent_id;
      if (!any) return false;
    }
    return true;
  };
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
          page.next = std::make_pair(query.after->first, query.after->second);
          return absl::OkStatus();
        }
        query.after = std::make_pair(row.sort_key, row.complaint.complaint_id());
        if (keep(row.complaint)) page.complaints.push_back(std::move(row.complaint));
      }
      if (static_cast<int>(rows->size()) < chunk) return absl::OkStatus();
    }
    page.next = query.after;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return page;
}

absl::StatusOr<v1::ComplaintMetrics> ComplaintService::Metrics(absl::Time from, absl::Time to,
                                                               const std::vector<v1::MetricsDimension>& group_by,
                                                               const std::vector<v1::OrderCount>& order_counts) {
  // Heavy scans are bounded: a caller beyond the limit is told to retry
  // rather than queued (a queued call would hold a work-pool thread).
  if (metrics_running_.fetch_add(1) >= std::max(1, options_.metrics_concurrency)) {
    --metrics_running_;
    return Error(absl::StatusCode::kResourceExhausted, "METRICS_BUSY",
                 absl::StrCat(options_.metrics_concurrency,
                              " metric computations are running; retry with backoff"));
  }
  struct Release {
    std::atomic<int>& n;
    ~Release() { --n; }
  } release{metrics_running_};
  using Part = absl::StatusOr<std::vector<MetricRow>>;
  std::vector<std::future<Part>> parts;
  const absl::Duration step = (to - from) / kMetricSlices;
  for (int i = 0; i < kMetricSlices; ++i) {
    absl::Time a = from + step * i, b = i + 1 == kMetricSlices ? to : from + step * (i + 1);
    auto task = std::make_shared<std::packaged_task<Part()>>([this, a, b]() -> Part {
      std::vector<MetricRow> rows;
      absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
        auto r = tx.MetricRows(a, b);
        if (!r.ok()) return r.status();
        rows = std::move(*r);
        return absl::OkStatus();
      });
      if (!s.ok()) return s;
      return rows;
    });
    parts.push_back(task->get_future());
    // The queue holds every slice of the admitted computations; should it
    // refuse anyway (stopping), the slice runs here.
    if (!metrics_pool_->TrySubmit([task] { (*task)(); })) (*task)();
  }
  // Every slice ends before this call does (they use the slot it holds).
  for (auto& part : parts) part.wait();
  std::vector<MetricRow> rows;
  for (auto& part : parts) {
    auto r = part.get();
    if (!r.ok()) return r.status();
    if (rows.empty()) {
      rows = std::move(*r);
    } else {
      rows.insert(rows.end(), std::make_move_iterator(r->begin()), std::make_move_iterator(r->end()));
    }
  }
  v1::ComplaintMetrics out = ComputeMetrics(rows, group_by, order_counts);
  *out.mutable_compute_time() = ToTimestamp(Now());
  return out;
}

// ---------------------------------------------------------------- SLA job

bool ComplaintService::RunSlaChecks() {
  const absl::Time now = Now();
  size_t handled = 0;
  std::vector<std::pair<v1::Priority, v1::SlaTarget>> breaches;
  absl::Status s = store_.Write([&](StoreTxn& tx) -> absl::Status {
    breaches.clear();
    auto due = tx.DueForSla(now, kSlaBatch);
    if (!due.ok()) return due.status();
    handled = due->size();
    ActorInfo system{"system:sla", care::common::v1::ROLE_UNSPECIFIED, true};
    for (const std::string& id : *due) {
      auto c = Require(tx, id);
      if (!c.ok()) return c.status();
      auto cal = CalendarOf(tx, c->calendar_id());
      if (!cal.ok()) return cal.status();
      auto policy = PolicyOf(tx, *c);
      if (!policy.ok()) return policy.status();
      for (v1::SlaTarget target : {v1::SLA_TARGET_FIRST_RESPONSE, v1::SLA_TARGET_RESOLUTION}) {
        v1::SlaClock* clock =
            target == v1::SLA_TARGET_FIRST_RESPONSE ? c->mutable_first_response_sla() : c->mutable_resolution_sla();
        if (!Running(*clock)) continue;
        absl::Time due_time = FromTimestamp(clock->due_time());
        if (!clock->breached() && due_time <= now) {
          clock->set_breached(true);
          *clock->mutable_breach_time() = ToTimestamp(due_time);
          v1::ComplaintEvent e = NewEvent(*c, v1::COMPLAINT_EVENT_KIND_SLA_BREACHED, system, now);
          e.mutable_sla_breached()->set_target(target);
          *e.mutable_sla_breached()->mutable_due_time() = clock->due_time();
          if (absl::Status st = tx.AppendEvent(e); !st.ok()) return st;
          breaches.emplace_back(c->priority(), target);
        }
        if (!*policy) continue;
        for (const v1::EscalationLevel& level : (*policy)->escalation_levels()) {
          if (level.target() != target || level.level() <= clock->escalation_level()) continue;
          auto at = FireTime(*cal, *c, *clock, level);
          if (!at.ok() || *at > now) continue;
          // Fires once: the clock remembers the highest level reached.
          clock->set_escalation_level(level.level());
          v1::EscalationRecord record;
          record.set_level(level.level());
          record.set_target(target);
          *record.mutable_fire_time() = ToTimestamp(now);
          for (int action : level.actions()) {
            record.add_actions(static_cast<v1::EscalationAction>(action));
            if (action == v1::ESCALATION_ACTION_RAISE_PRIORITY) {
              v1::Priority to = level.raise_priority_to() != v1::PRIORITY_UNSPECIFIED
                                    ? level.raise_priority_to()
                                    : static_cast<v1::Priority>(std::min<int>(c->priority() + 1, v1::PRIORITY_URGENT));
              if (to > c->priority()) {
                v1::ComplaintEvent pe = NewEvent(*c, v1::COMPLAINT_EVENT_KIND_PRIORITY_CHANGED, system, now, "escalation");
                pe.mutable_priority_changed()->set_from_priority(c->priority());
                pe.mutable_priority_changed()->set_to_priority(to);
                if (absl::Status st = tx.AppendEvent(pe); !st.ok()) return st;
                c->set_priority(to);
              }
              record.set_new_priority(c->priority());
            } else if (action == v1::ESCALATION_ACTION_REASSIGN_TO_SUPERVISOR_QUEUE) {
              c->set_team_id(level.supervisor_queue_team_id());
              c->clear_assignee_agent_id();
              record.set_reassigned_team_id(level.supervisor_queue_team_id());
            } else if (action == v1::ESCALATION_ACTION_NOTIFY_TEAM_LEAD) {
              auto settings = LoadDoc<v1::ComplaintSettings>(tx, DocKind::kSettings, kSettingsId);
              if (!settings.ok()) return settings.status();
              if (*settings) {
                for (const auto& team : (*settings)->teams()) {
                  if (team.team_id() == c->team_id()) record.set_notified_agent_id(team.lead_agent_id());
                }
              }
            }
          }
          *c->add_escalations() = record;
          v1::ComplaintEvent ee = NewEvent(*c, v1::COMPLAINT_EVENT_KIND_ESCALATED, system, now);
          *ee.mutable_escalation() = record;
          if (absl::Status st = tx.AppendEvent(ee); !st.ok()) return st;
        }
      }
      if (c->check_in().status() == v1::CHECK_IN_STATUS_SCHEDULED && FromTimestamp(c->check_in().due_time()) <= now) {
        nv1::IngestEventRequest ev;
        nv1::ProactiveCheckIn* ci = ev.mutable_proactive_check_in();
        ci->set_member_id(c->member_id());
        ci->set_complaint_id(c->complaint_id());
        *ci->mutable_due_time() = c->check_in().due_time();
        if (absl::Status st = tx.Enqueue(NotificationEvent(
                absl::StrCat(c->complaint_id(), ":check-in:", c->reopen_count()), now, std::move(ev)));
            !st.ok()) {
          return st;
        }
        c->mutable_check_in()->set_status(v1::CHECK_IN_STATUS_SENT);
        *c->mutable_check_in()->mutable_send_time() = ToTimestamp(now);
        v1::ComplaintEvent e = NewEvent(*c, v1::COMPLAINT_EVENT_KIND_CHECK_IN, system, now);
        *e.mutable_check_in() = c->check_in();
        if (absl::Status st = tx.AppendEvent(e); !st.ok()) return st;
      }
      if (c->status() == v1::COMPLAINT_STATUS_RESOLVED && c->has_reopen_deadline() &&
          FromTimestamp(c->reopen_deadline()) <= now) {
        if (absl::Status st = ChangeStatus(tx, *c, v1::COMPLAINT_STATUS_CLOSED, system, "reopen window ended", now);
            !st.ok()) {
          return st;
        }
        *c->mutable_close_time() = ToTimestamp(now);
      }
      if (absl::Status st = Save(tx, *c, now); !st.ok()) return st;
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return false;
  for (const auto& [priority, target] : breaches) {
    std::string p(absl::StripPrefix(v1::Priority_Name(priority), "PRIORITY_"));
    std::string t(absl::StripPrefix(v1::SlaTarget_Name(target), "SLA_TARGET_"));
    SlaBreachesMetric().Inc({p, t});
  }
  return handled == static_cast<size_t>(kSlaBatch);
}

}  // namespace care::complaint
