#include "services/complaint/sla_clock.h"

#include <algorithm>

#include "common/proto_time.h"

namespace care::complaint {
namespace {

absl::Weekday ToWeekday(v1::Weekday d) {
  static constexpr absl::Weekday kDays[] = {absl::Weekday::monday,    absl::Weekday::monday,   absl::Weekday::tuesday,
                                            absl::Weekday::wednesday, absl::Weekday::thursday, absl::Weekday::friday,
                                            absl::Weekday::saturday,  absl::Weekday::sunday};
  return kDays[std::clamp(static_cast<int>(d), 0, 7)];
}

template <typename T>
bool MatchesAny(const google::protobuf::RepeatedField<int>& list, T value) {
  return list.empty() || std::find(list.begin(), list.end(), static_cast<int>(value)) != list.end();
}

const v1::SlaClock& ClockOf(const v1::Complaint& c, v1::SlaTarget target) {
  return target == v1::SLA_TARGET_FIRST_RESPONSE ? c.first_response_sla() : c.resolution_sla();
}

}  // namespace

Calendar FromProto(const v1::BusinessCalendar& c) {
  Calendar out;
  if (!absl::LoadTimeZone(c.time_zone(), &out.zone)) out.zone = absl::UTCTimeZone();
  for (const auto& h : c.weekly_hours()) {
    int end = h.end().hours() * 60 + h.end().minutes();
    out.hours.push_back({ToWeekday(h.day()), h.start().hours() * 60 + h.start().minutes(), end == 0 ? 24 * 60 : end});
  }
  for (const auto& d : c.holidays()) {
    out.holidays.push_back(absl::CivilDay(d.date().year(), d.date().month(), d.date().day()));
  }
  return out;
}

Calendar AlwaysOpen() {
  Calendar out;
  out.zone = absl::UTCTimeZone();
  for (int d = 0; d < 7; ++d) out.hours.push_back({static_cast<absl::Weekday>(d), 0, 24 * 60});
  return out;
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

absl::Duration Remaining(const Calendar& cal, const v1::SlaClock& clock, absl::Time now) {
  absl::Time due = FromTimestamp(clock.due_time());
  return now <= due ? BusinessTimeBetween(cal, now, due) : -BusinessTimeBetween(cal, due, now);
}

bool Running(const v1::SlaClock& clock) { return clock.has_target() && !clock.has_met_time() && !clock.paused(); }

absl::Status StartClock(const Calendar& cal, v1::SlaClock* clock, absl::Duration target, absl::Time from) {
  if (target <= absl::ZeroDuration()) return absl::OkStatus();  // the policy sets no such target
  *clock->mutable_target() = ToDurationProto(target);
  auto due = AddBusinessTime(cal, from, target);
  if (!due.ok()) return due.status();
  *clock->mutable_due_time() = ToTimestamp(*due);
  *clock->mutable_elapsed() = ToDurationProto(absl::ZeroDuration());
  return absl::OkStatus();
}

void StopClock(const Calendar& cal, v1::SlaClock* clock, absl::Time start, absl::Time now) {
  if (clock->has_met_time()) return;
  if (!clock->has_target()) {
    *clock->mutable_elapsed() = ToDurationProto(BusinessTimeBetween(cal, start, now));
  } else if (!clock->paused()) {
    *clock->mutable_elapsed() = ToDurationProto(FromDurationProto(clock->target()) - Remaining(cal, *clock, now));
  }
  // Met late, before the job noticed: still a breach.
  if (clock->has_target() && !clock->breached() &&
      FromDurationProto(clock->elapsed()) > FromDurationProto(clock->target())) {
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

void ShowTimeToBreach(const Calendar& cal, v1::Complaint& c, absl::Time now) {
  for (v1::SlaClock* clock : {c.mutable_first_response_sla(), c.mutable_resolution_sla()}) {
    if (!clock->has_target() || clock->has_met_time()) continue;
    if (clock->paused()) {
      *clock->mutable_time_to_breach() = ToDurationProto(FromDurationProto(clock->target()) -
                                                         FromDurationProto(clock->elapsed()));
      continue;
    }
    *clock->mutable_time_to_breach() = ToDurationProto(Remaining(cal, *clock, now));
    *clock->mutable_wall_time_to_breach() = ToDurationProto(FromTimestamp(clock->due_time()) - now);
    *clock->mutable_elapsed() = ToDurationProto(FromDurationProto(clock->target()) - Remaining(cal, *clock, now));
  }
}

absl::StatusOr<absl::Time> FireTime(const Calendar& cal, const v1::Complaint& c, const v1::SlaClock& clock,
                                    const v1::EscalationLevel& level) {
  absl::Duration offset = FromDurationProto(level.offset());
  if (offset >= absl::ZeroDuration()) return AddBusinessTime(cal, FromTimestamp(clock.due_time()), offset);
  return AddBusinessTime(cal, FromTimestamp(c.receive_time()), FromDurationProto(clock.target()) + offset);
}

std::optional<absl::Time> BreachWarningTime(const Calendar& cal, const v1::SlaPolicy& policy, const v1::Complaint& c,
                                            const v1::SlaClock& clock) {
  const absl::Duration before = FromDurationProto(policy.breach_warning_before());
  if (before <= absl::ZeroDuration() || !Running(clock) || clock.breached() || clock.breach_warning_sent() ||
      !clock.has_due_time()) {
    return std::nullopt;
  }
  const absl::Time due = FromTimestamp(clock.due_time());
  auto left = [&](absl::Time t) { return BusinessTimeBetween(cal, t, due); };
  // Business time left only shrinks as time passes, and at `before` of wall
  // time ahead of the due time at most `before` is left: the instant lies
  // between the receipt (a clock never starts earlier) and there.
  absl::Time hi = due - before;
  absl::Time lo = std::min(FromTimestamp(c.receive_time()), hi);
  if (left(lo) <= before) return lo;
  while (hi - lo > absl::Seconds(1)) {
    // Whole seconds from lo, at least one, so the search always moves.
    absl::Time mid = lo + std::max(absl::Seconds(1), absl::Floor((hi - lo) / 2, absl::Seconds(1)));
    (left(mid) <= before ? hi : lo) = mid;
  }
  return hi;
}

std::optional<absl::Time> NextCheck(const Calendar& cal, const v1::SlaPolicy* policy, const v1::Complaint& c) {
  std::optional<absl::Time> next;
  auto consider = [&](absl::Time t) {
    if (!next || t < *next) next = t;
  };
  for (v1::SlaTarget target : {v1::SLA_TARGET_FIRST_RESPONSE, v1::SLA_TARGET_RESOLUTION}) {
    const v1::SlaClock& clock = ClockOf(c, target);
    if (!Running(clock)) continue;
    if (!clock.breached()) consider(FromTimestamp(clock.due_time()));
    if (policy == nullptr) continue;
    if (auto warn = BreachWarningTime(cal, *policy, c, clock)) consider(*warn);
    for (const v1::EscalationLevel& level : policy->escalation_levels()) {
      if (level.target() != target || level.level() <= clock.escalation_level()) continue;
      auto at = FireTime(cal, c, clock, level);
      if (at.ok()) consider(*at);
    }
  }
  if (c.check_in().status() == v1::CHECK_IN_STATUS_SCHEDULED) consider(FromTimestamp(c.check_in().due_time()));
  if (c.status() == v1::COMPLAINT_STATUS_RESOLVED && c.has_reopen_deadline()) {
    consider(FromTimestamp(c.reopen_deadline()));
  }
  return next;
}

}  // namespace care::complaint
