#include "services/complaint/business_time.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/errors.h"

namespace care::complaint {
namespace {

constexpr int kMaxDays = 3660;  // ten years: a calendar with no hours never loops forever

bool IsHoliday(const Calendar& c, absl::CivilDay day) {
  return std::find(c.holidays.begin(), c.holidays.end(), day) != c.holidays.end();
}

// The day's open intervals as instants, in order. Local times are converted
// with the zone's rules of that day, so a 09:00 opening stays 09:00 local
// across daylight-saving changes.
std::vector<std::pair<absl::Time, absl::Time>> OpenIntervals(const Calendar& c, absl::CivilDay day) {
  std::vector<std::pair<absl::Time, absl::Time>> out;
  if (IsHoliday(c, day)) return out;
  absl::Weekday weekday = absl::GetWeekday(day);
  for (const DaySpan& span : c.hours) {
    if (span.day != weekday) continue;
    absl::Time start = absl::FromCivil(absl::CivilMinute(day) + span.start_minute, c.zone);
    absl::Time end = absl::FromCivil(absl::CivilMinute(day) + span.end_minute, c.zone);
    if (end > start) out.emplace_back(start, end);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

absl::Status ValidateCalendar(const Calendar& calendar) {
  FieldErrors errors;
  for (size_t i = 0; i < calendar.hours.size(); ++i) {
    const DaySpan& a = calendar.hours[i];
    std::string field = absl::StrCat("calendar.weekly_hours[", i, "]");
    if (a.start_minute < 0 || a.end_minute > 24 * 60 || a.start_minute >= a.end_minute) {
      errors.Add(field, "start must be before end, within the day");
      continue;
    }
    for (size_t j = 0; j < i; ++j) {
      const DaySpan& b = calendar.hours[j];
      if (a.day == b.day && a.start_minute < b.end_minute && b.start_minute < a.end_minute) {
        errors.Add(field, absl::StrCat("overlaps weekly_hours[", j, "]"));
      }
    }
  }
  if (calendar.hours.empty()) errors.Add("calendar.weekly_hours", "needs at least one span");
  return errors.ToStatus();
}

absl::StatusOr<absl::Time> AddBusinessTime(const Calendar& calendar, absl::Time from, absl::Duration amount) {
  absl::Duration left = amount;
  absl::CivilDay day = absl::ToCivilDay(from, calendar.zone);
  for (int i = 0; i < kMaxDays; ++i, ++day) {
    for (const auto& [start, end] : OpenIntervals(calendar, day)) {
      absl::Time begin = std::max(start, from);
      if (begin >= end) continue;
      if (end - begin >= left) return begin + left;
      left -= end - begin;
    }
  }
  return absl::OutOfRangeError("the calendar has no business time within ten years");
}

absl::Duration BusinessTimeBetween(const Calendar& calendar, absl::Time from, absl::Time to) {
  absl::Duration total = absl::ZeroDuration();
  if (to <= from) return total;
  absl::CivilDay last = absl::ToCivilDay(to, calendar.zone);
  int guard = 0;
  for (absl::CivilDay day = absl::ToCivilDay(from, calendar.zone); day <= last && guard < kMaxDays; ++day, ++guard) {
    for (const auto& [start, end] : OpenIntervals(calendar, day)) {
      absl::Time begin = std::max(start, from);
      absl::Time finish = std::min(end, to);
      if (finish > begin) total += finish - begin;
    }
  }
  return total;
}

}  // namespace care::complaint
