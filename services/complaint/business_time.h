#pragma once

// Business time: SLA targets count only the hours a team works, in the
// calendar's own time zone, skipping holidays. Pure functions of plain values
// so the SLA arithmetic is tested without a server.

#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace care::complaint {

// Opening hours on one weekday, local wall-clock minutes since midnight:
// [start, end). Several spans per day are allowed (a lunch break).
struct DaySpan {
  absl::Weekday day;
  int start_minute = 0;
  int end_minute = 0;
};

struct Calendar {
  absl::TimeZone zone;
  std::vector<DaySpan> hours;
  std::vector<absl::CivilDay> holidays;  // local dates with no business hours
};

// Checks spans (0 <= start < end <= 1440, no overlap on a day) and that some
// business time exists each week.
absl::Status ValidateCalendar(const Calendar& calendar);

// The instant at which `amount` of business time has passed since `from`.
// `from` outside business hours starts counting at the next opening.
// Gives up (OUT_OF_RANGE) beyond ten years of calendar.
absl::StatusOr<absl::Time> AddBusinessTime(const Calendar& calendar, absl::Time from, absl::Duration amount);

// Business time in [from, to); zero when to <= from.
absl::Duration BusinessTimeBetween(const Calendar& calendar, absl::Time from, absl::Time to);

}  // namespace care::complaint
