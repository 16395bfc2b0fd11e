#pragma once

// The SLA clock engine: a complaint's first-response and resolution clocks in
// business time (start, pause, resume, stop, re-time after a calendar edit),
// the escalation levels of its policy and when the SLA job must look at it
// next. Pure functions of contract values and a Calendar: no storage.

#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "care/complaint/v1/complaint.pb.h"
#include "services/complaint/business_time.h"

namespace care::complaint {

// The contract's calendar as the business-time rules need it (an unknown
// zone counts in UTC).
Calendar FromProto(const v1::BusinessCalendar& c);
// Round the clock, every day: the calendar of a policy that names none.
Calendar AlwaysOpen();

// Whether an enabled policy applies to the complaint (an empty list matches all).
bool PolicyMatches(const v1::SlaPolicy& p, const v1::Complaint& c);

// A clock with a target, not met and not paused.
bool Running(const v1::SlaClock& clock);
// Business time left on a running clock at `now`; negative once past due.
absl::Duration Remaining(const Calendar& cal, const v1::SlaClock& clock, absl::Time now);

// Starts `clock` at `from` with `target` (none when the policy sets none).
absl::Status StartClock(const Calendar& cal, v1::SlaClock* clock, absl::Duration target, absl::Time from);
// Stops a clock at `now`. A clock without a target (no policy) still records
// the business time it took, from `start`, for metrics; met late is a breach.
void StopClock(const Calendar& cal, v1::SlaClock* clock, absl::Time start, absl::Time now);
// Pausing keeps the business time used in `elapsed`; resuming sets a new due
// time from the time left.
void PauseClock(const Calendar& cal, v1::SlaClock* clock, absl::Time now);
absl::Status ResumeClock(const Calendar& cal, v1::SlaClock* clock, absl::Time now);

// The running clocks of `c`, counted so far in `before`, re-timed to finish
// in `after` (a calendar edit). A clock already past due keeps its breach.
absl::Status Retime(const Calendar& before, const Calendar& after, v1::Complaint& c, absl::Time now);

// Fills time_to_breach (and for a running clock its wall time and elapsed
// business time) as of `now`, for a read.
void ShowTimeToBreach(const Calendar& cal, v1::Complaint& c, absl::Time now);

// When an escalation level fires: `offset` business time after the due time,
// or, negative, that much before it (counted from receipt: pauses are not
// taken back out of a warning).
absl::StatusOr<absl::Time> FireTime(const Calendar& cal, const v1::Complaint& c, const v1::SlaClock& clock,
                                    const v1::EscalationLevel& level);

// When the breach warning of a running, unbreached clock is due: the first
// instant with at most the policy's breach_warning_before of business time
// left. nullopt without a warning, or once it was sent.
std::optional<absl::Time> BreachWarningTime(const Calendar& cal, const v1::SlaPolicy& policy, const v1::Complaint& c,
                                            const v1::SlaClock& clock);

// When the SLA job must next look at `c`: the earliest unbreached due time,
// the next escalation level of a running clock (`policy` may be null), a
// scheduled check-in or the end of the reopen window.
std::optional<absl::Time> NextCheck(const Calendar& cal, const v1::SlaPolicy* policy, const v1::Complaint& c);

}  // namespace care::complaint
