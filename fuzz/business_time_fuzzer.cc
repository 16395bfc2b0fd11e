// Complaint business time (services/complaint/business_time.h) on calendars
// in zones with daylight saving, half-hour and midnight transitions and a
// skipped day. Checks, for every calendar ValidateCalendar accepts:
//  - ValidateCalendar accepts exactly the calendars its contract describes;
//  - business time in [a, b) is at most b - a (never counted twice), is
//    monotonic in b and additive: [a, c) = [a, b) + [b, c);
//  - AddBusinessTime(from, d) = t: t >= from and [from, t) holds exactly d.

#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "fuzz/fuzz_support.h"
#include "services/complaint/business_time.h"

namespace {

using care::complaint::Calendar;
using care::complaint::DaySpan;
using care::fuzz::ByteReader;

constexpr const char* kZones[] = {
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/Santiago",
    "America/Havana",
    "Asia/Kolkata",
    "Pacific/Apia",
    "Asia/Ho_Chi_Minh",
    "Africa/Casablanca",
    "Pacific/Chatham",
    "Asia/Tehran",
    "America/St_Johns",
    "Europe/Dublin",
    "Antarctica/Troll",
};

bool ReferenceValid(const std::vector<DaySpan>& hours) {
  if (hours.empty()) return false;
  for (size_t i = 0; i < hours.size(); ++i) {
    const DaySpan& a = hours[i];
    if (a.start_minute < 0 || a.end_minute > 1440 || a.start_minute >= a.end_minute) return false;
    for (size_t j = 0; j < i; ++j) {
      const DaySpan& b = hours[j];
      if (a.day == b.day && a.start_minute < b.end_minute && b.start_minute < a.end_minute) return false;
    }
  }
  return true;
}

std::string Describe(const Calendar& c, absl::Time a, absl::Time b) {
  std::string s = "zone " + c.zone.name() + " from " + absl::FormatTime(a) + " to " + absl::FormatTime(b) + " spans";
  for (const DaySpan& d : c.hours) {
    s += " " + std::to_string(static_cast<int>(d.day)) + ":" + std::to_string(d.start_minute) + "-" +
         std::to_string(d.end_minute);
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteReader r(data, size);
  Calendar cal;
  const char* zone = kZones[r.Range(0, std::size(kZones) - 1)];
  if (!absl::LoadTimeZone(zone, &cal.zone)) return 0;  // zone data missing on this machine
  const int spans = static_cast<int>(r.Range(0, 10));
  for (int i = 0; i < spans; ++i) {
    DaySpan d;
    d.day = static_cast<absl::Weekday>(r.Range(0, 6));
    d.start_minute = static_cast<int>(r.Range(-5, 1445));
    d.end_minute = static_cast<int>(r.Range(-5, 1445));
    cal.hours.push_back(d);
  }
  const absl::Time from = absl::FromUnixSeconds(r.Range(946684800, 2208988800));  // 2000..2040
  const int holidays = static_cast<int>(r.Range(0, 5));
  for (int i = 0; i < holidays; ++i) {
    cal.holidays.push_back(absl::ToCivilDay(from, cal.zone) + r.Range(-2, 40));
  }
  const absl::Status valid = care::complaint::ValidateCalendar(cal);
  care::fuzz::CheckValidationStatus(valid, "ValidateCalendar");
  CARE_FUZZ_CHECK(valid.ok() == ReferenceValid(cal.hours), "ValidateCalendar: " + valid.ToString());
  if (!valid.ok()) return 0;

  // Three instants within 60 days, in order.
  absl::Duration d1 = absl::Seconds(r.Range(0, 60 * 86400)), d2 = absl::Seconds(r.Range(0, 60 * 86400));
  if (d2 < d1) std::swap(d1, d2);
  const absl::Time a = from, b = from + d1, c = from + d2;
  const absl::Duration ab = care::complaint::BusinessTimeBetween(cal, a, b);
  const absl::Duration bc = care::complaint::BusinessTimeBetween(cal, b, c);
  const absl::Duration ac = care::complaint::BusinessTimeBetween(cal, a, c);
  CARE_FUZZ_CHECK(ab >= absl::ZeroDuration() && ab <= b - a,
                  "business time beyond elapsed time: " + absl::FormatDuration(ab) + " in " +
                      absl::FormatDuration(b - a) + "; " + Describe(cal, a, b));
  CARE_FUZZ_CHECK(ac <= c - a, "business time beyond elapsed time: " + Describe(cal, a, c));
  CARE_FUZZ_CHECK(ab <= ac, "business time not monotonic: " + Describe(cal, a, c));
  CARE_FUZZ_CHECK(ac == ab + bc, "business time not additive: " + Describe(cal, a, c));
  CARE_FUZZ_CHECK(care::complaint::BusinessTimeBetween(cal, c, a) == absl::ZeroDuration(), "reversed range");

  const absl::Duration amount = absl::Seconds(r.Range(0, 30 * 86400));
  auto due = care::complaint::AddBusinessTime(cal, from, amount);
  if (!due.ok()) {
    CARE_FUZZ_CHECK(due.status().code() == absl::StatusCode::kOutOfRange, due.status().ToString());
    return 0;
  }
  CARE_FUZZ_CHECK(*due >= from, "due before start: " + Describe(cal, from, *due));
  const absl::Duration held = care::complaint::BusinessTimeBetween(cal, from, *due);
  CARE_FUZZ_CHECK(held == amount, "AddBusinessTime(" + absl::FormatDuration(amount) + ") holds " +
                                      absl::FormatDuration(held) + ": " + Describe(cal, from, *due));
  return 0;
}
