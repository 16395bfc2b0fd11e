// Complaint rules without a server: business-time arithmetic for SLA clocks,
// the SLA clock engine, forbidden-phrase matching, the events complaint sends.
#include "care/notification/v1/notification.pb.h"
#include "common/proto_time.h"
#include "gtest/gtest.h"
#include "services/complaint/business_time.h"
#include "services/complaint/outbound.h"
#include "services/complaint/phrases.h"
#include "services/complaint/sla_clock.h"

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
  EXPECT_EQ(BusinessTimeBetween(c, Local(c, 2026, 11, 28, 0, 0), Local(c, 2026, 11, 29, 23, 0)), absl::ZeroDuration());
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
  EXPECT_EQ(AddBusinessTime(closed, absl::UnixEpoch(), absl::Hours(1)).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(PhrasesTest, WhiteSpaceInsideAPhraseDoesNotHideIt) {
  const std::vector<std::string> phrases = {"calm down", "không thể"};
  for (const char* text : {"please calm  down", "please CALM\ndown", "please calm\t\r\n down",
                           "please calm\xC2\xA0"
                           "down",
                           "please calm\xE3\x80\x80"
                           "down",
                           "  calm down  "}) {
    EXPECT_EQ(FindForbidden(phrases, text), std::vector<std::string>{"calm down"}) << text;
  }
  // A phrase stored with odd spacing still matches the plain text.
  EXPECT_EQ(FindForbidden({" calm \n down "}, "calm down now"), std::vector<std::string>{" calm \n down "});
  EXPECT_EQ(FindForbidden(phrases, "Chúng tôi KHÔNG\n\nTHỂ"), std::vector<std::string>{"không thể"});
  EXPECT_TRUE(FindForbidden(phrases, "calmdown, please").empty());
  EXPECT_EQ(FoldForMatch("  A\t\tB \n"), "a b");
}

TEST(SlaClockTest, APausedClockKeepsTheTimeItUsedAndResumesWithTheRest) {
  Calendar cal = AlwaysOpen();
  absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  v1::SlaClock clock;
  ASSERT_TRUE(StartClock(cal, &clock, absl::Hours(4), t0).ok());
  EXPECT_EQ(FromTimestamp(clock.due_time()), t0 + absl::Hours(4));
  PauseClock(cal, &clock, t0 + absl::Hours(1));
  EXPECT_TRUE(clock.paused());
  EXPECT_FALSE(Running(clock));
  EXPECT_EQ(FromDurationProto(clock.elapsed()), absl::Hours(1));
  ASSERT_TRUE(ResumeClock(cal, &clock, t0 + absl::Hours(10)).ok());
  EXPECT_EQ(FromTimestamp(clock.due_time()), t0 + absl::Hours(13));
  StopClock(cal, &clock, t0, t0 + absl::Hours(14));
  EXPECT_TRUE(clock.breached()) << "met after its due time";
  EXPECT_TRUE(clock.has_met_time());
}

TEST(SlaClockTest, NextCheckIsTheEarliestOfDueTimeAndEscalationLevels) {
  Calendar cal = AlwaysOpen();
  absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  v1::Complaint c;
  *c.mutable_receive_time() = ToTimestamp(t0);
  ASSERT_TRUE(StartClock(cal, c.mutable_resolution_sla(), absl::Hours(8), t0).ok());
  EXPECT_EQ(NextCheck(cal, nullptr, c), t0 + absl::Hours(8));
  v1::SlaPolicy policy;
  v1::EscalationLevel* warn = policy.add_escalation_levels();
  warn->set_level(1);
  warn->set_target(v1::SLA_TARGET_RESOLUTION);
  *warn->mutable_offset() = ToDurationProto(-absl::Hours(2));
  EXPECT_EQ(NextCheck(cal, &policy, c), t0 + absl::Hours(6));
  c.mutable_resolution_sla()->set_escalation_level(1);
  EXPECT_EQ(NextCheck(cal, &policy, c), t0 + absl::Hours(8)) << "a level fires once";
}

TEST(OutboundTest, MemberMessagesAndGoodwillCarryStableEventIds) {
  std::unique_ptr<Outbound> out = NewOutbound();
  v1::Complaint c;
  c.set_complaint_id("c-1");
  c.set_member_id("m-1");
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  OutboxEvent update = out->NotifyMember(c, "received", MemberUpdate::kAcknowledged, "hello", now);
  EXPECT_EQ(update.event_id, "complaint:c-1:received");
  EXPECT_EQ(update.destination, "notification");
  care::notification::v1::IngestEventRequest req;
  ASSERT_TRUE(req.ParseFromString(update.payload));
  EXPECT_EQ(req.complaint_update().kind(), care::notification::v1::COMPLAINT_UPDATE_KIND_ACKNOWLEDGED);

  v1::Compensation comp;
  comp.set_compensation_id("c-1-comp-1");
  comp.set_kind(v1::COMPENSATION_KIND_POINTS);
  comp.set_points(100);
  OutboxEvent goodwill = out->RequestGoodwill(c, comp);
  EXPECT_EQ(goodwill.event_id, "complaint:c-1-comp-1");
  EXPECT_EQ(goodwill.method, kAdjustPointsMethod);
  std::optional<GoodwillReceipt> receipt = out->ReadGoodwill(goodwill, "");
  ASSERT_TRUE(receipt.has_value());
  EXPECT_EQ(receipt->complaint_id, "c-1");
  EXPECT_EQ(receipt->compensation_id, "c-1-comp-1");
  EXPECT_FALSE(out->ReadGoodwill(update, "").has_value()) << "not a goodwill event";
}

}  // namespace
}  // namespace care::complaint
