// Complaint rules without a server: business-time arithmetic for SLA clocks,
// forbidden-phrase matching.
#include "gtest/gtest.h"
#include "services/complaint/business_time.h"
#include "services/complaint/phrases.h"

namespace care::complaint {
namespace {

absl::TimeZone Zone(const char* name) {
  absl::TimeZone z;
  EXPECT_TRUE(absl::LoadTimeZone(name, &z)) << name;
  return z;
}

// Mon-Fri 09:00-18:00 in `zone`.
Calendar Weekdays(const char* zone) {
  Calendar c;
  c.zone = Zone(zone);
  for (absl::Weekday d : {absl::Weekday::monday, absl::Weekday::tuesday, absl::Weekday::wednesday,
                          absl::Weekday::thursday, absl::Weekday::friday}) {
    c.hours.push_back({d, 9 * 60, 18 * 60});
  }
  return c;
}

absl::Time Local(const Calendar& c, int y, int m, int d, int hh, int mm) {
  return absl::FromCivil(absl::CivilMinute(y, m, d, hh, mm), c.zone);
}

TEST(BusinessTimeTest, FridayEveningPlusFourHoursIsMondayHalfPastTwelve) {
  Calendar c = Weekdays("Asia/Ho_Chi_Minh");
  absl::Time filed = Local(c, 2026, 11, 27, 17, 30);  // a Friday
  auto due = AddBusinessTime(c, filed, absl::Hours(4));
  ASSERT_TRUE(due.ok()) << due.status();
  EXPECT_EQ(*due, Local(c, 2026, 11, 30, 12, 30));
  EXPECT_EQ(BusinessTimeBetween(c, filed, *due), absl::Hours(4));
  EXPECT_EQ(BusinessTimeBetween(c, filed, *due - absl::Minutes(1)), absl::Hours(4) - absl::Minutes(1));
}

TEST(BusinessTimeTest, AHolidayMovesTheDueTimeByAWorkingDay) {
  Calendar c = Weekdays("Asia/Ho_Chi_Minh");
  c.holidays.push_back(absl::CivilDay(2026, 11, 30));
  auto due = AddBusinessTime(c, Local(c, 2026, 11, 27, 17, 30), absl::Hours(4));
  ASSERT_TRUE(due.ok());
  EXPECT_EQ(*due, Local(c, 2026, 12, 1, 12, 30));
}

TEST(BusinessTimeTest, OpeningHoursKeepLocalTimeAcrossDaylightSaving) {
  Calendar c = Weekdays("America/New_York");
  // Friday 6 March 2026 17:00; clocks go forward on Sunday 8 March.
  auto due = AddBusinessTime(c, Local(c, 2026, 3, 6, 17, 0), absl::Hours(2));
  ASSERT_TRUE(due.ok());
  EXPECT_EQ(*due, Local(c, 2026, 3, 9, 10, 0));
  EXPECT_EQ(absl::FormatTime("%H:%M", *due, c.zone), "10:00");
}

TEST(BusinessTimeTest, StartingOutsideHoursCountsFromTheNextOpening) {
  Calendar c = Weekdays("Asia/Tokyo");
  auto due = AddBusinessTime(c, Local(c, 2026, 11, 28, 3, 0), absl::Minutes(30));  // Saturday
  ASSERT_TRUE(due.ok());
  EXPECT_EQ(*due, Local(c, 2026, 11, 30, 9, 30));
  EXPECT_EQ(BusinessTimeBetween(c, Local(c, 2026, 11, 28, 0, 0), Local(c, 2026, 11, 29, 23, 0)),
            absl::ZeroDuration());
}

TEST(BusinessTimeTest, ACalendarWithoutHoursIsRefused) {
  Calendar c;
  c.zone = absl::UTCTimeZone();
  EXPECT_EQ(ValidateCalendar(c).code(), absl::StatusCode::kInvalidArgument);
  c.hours.push_back({absl::Weekday::monday, 10 * 60, 9 * 60});
  EXPECT_EQ(ValidateCalendar(c).code(), absl::StatusCode::kInvalidArgument);
  c.hours = {{absl::Weekday::monday, 9 * 60, 12 * 60}, {absl::Weekday::monday, 11 * 60, 13 * 60}};
  EXPECT_EQ(ValidateCalendar(c).code(), absl::StatusCode::kInvalidArgument);
  c.hours = {{absl::Weekday::monday, 9 * 60, 12 * 60}, {absl::Weekday::monday, 13 * 60, 18 * 60}};
  EXPECT_TRUE(ValidateCalendar(c).ok());
  Calendar closed = c;
  closed.hours.clear();  // never open: no due time, rather than a loop
  EXPECT_EQ(AddBusinessTime(closed, absl::UnixEpoch(), absl::Hours(1)).status().code(),
            absl::StatusCode::kOutOfRange);
}

TEST(PhrasesTest, WhiteSpaceInsideAPhraseDoesNotHideIt) {
  const std::vector<std::string> phrases = {"calm down", "không thể"};
  for (const char* text : {"please calm  down", "please CALM\ndown", "please calm\t\r\n down",
                           "please calm\xC2\xA0" "down", "please calm\xE3\x80\x80" "down", "  calm down  "}) {
    EXPECT_EQ(FindForbidden(phrases, text), std::vector<std::string>{"calm down"}) << text;
  }
  // A phrase stored with odd spacing still matches the plain text.
  EXPECT_EQ(FindForbidden({" calm \n down "}, "calm down now"), std::vector<std::string>{" calm \n down "});
  EXPECT_EQ(FindForbidden(phrases, "Chúng tôi KHÔNG\n\nTHỂ"), std::vector<std::string>{"không thể"});
  EXPECT_TRUE(FindForbidden(phrases, "calmdown, please").empty());
  EXPECT_EQ(FoldForMatch("  A\t\tB \n"), "a b");
}

}  // namespace
}  // namespace care::complaint
