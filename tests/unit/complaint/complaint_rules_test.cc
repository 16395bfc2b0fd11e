// Complaint rules without a server: business-time arithmetic for SLA clocks,
// the SLA clock engine, forbidden-phrase matching, the events complaint sends,
// the free texts erasure and the text retention blank.
#include "absl/strings/match.h"
#include "care/notification/v1/notification.pb.h"
#include "common/proto_time.h"
#include "gtest/gtest.h"
#include "services/complaint/business_time.h"
#include "services/complaint/outbound.h"
#include "services/complaint/phrases.h"
#include "services/complaint/sla_clock.h"
#include "services/complaint/ticket_texts.h"

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

// The breach warning counts business time back from the due time: across
// a weekend it comes on Friday evening or Monday morning, never on Sunday.
TEST(SlaClockTest, TheBreachWarningIsTheFirstInstantWithThatMuchBusinessTimeLeft) {
  Calendar cal = Weekdays("Asia/Ho_Chi_Minh");
  absl::Time filed = Local(cal, 2026, 11, 27, 17, 30);  // a Friday; due Monday 12:30
  v1::Complaint c;
  *c.mutable_receive_time() = ToTimestamp(filed);
  ASSERT_TRUE(StartClock(cal, c.mutable_first_response_sla(), absl::Hours(4), filed).ok());
  v1::SlaPolicy policy;
  *policy.mutable_breach_warning_before() = ToDurationProto(absl::Hours(3));
  EXPECT_EQ(BreachWarningTime(cal, policy, c, c.first_response_sla()), Local(cal, 2026, 11, 30, 9, 30));
  EXPECT_EQ(NextCheck(cal, &policy, c), Local(cal, 2026, 11, 30, 9, 30));
  *policy.mutable_breach_warning_before() = ToDurationProto(absl::Minutes(220));
  EXPECT_EQ(BreachWarningTime(cal, policy, c, c.first_response_sla()), Local(cal, 2026, 11, 27, 17, 50));
  c.mutable_first_response_sla()->set_breach_warning_sent(true);
  EXPECT_EQ(BreachWarningTime(cal, policy, c, c.first_response_sla()), std::nullopt) << "sent once";
  EXPECT_EQ(NextCheck(cal, &policy, c), Local(cal, 2026, 11, 30, 12, 30));
  policy.clear_breach_warning_before();
  c.mutable_first_response_sla()->set_breach_warning_sent(false);
  EXPECT_EQ(BreachWarningTime(cal, policy, c, c.first_response_sla()), std::nullopt) << "no warning set";
}

TEST(OutboundTest, AStaffAlertNamesItsRecipientAndKeepsOneIdPerOccurrence) {
  std::unique_ptr<Outbound> out = NewOutbound();
  v1::Complaint c;
  c.set_complaint_id("c-1");
  c.set_member_id("m-1");
  StaffAlert alert;
  alert.kind = StaffAlertKind::kEscalation;
  alert.recipient.set_agent_id("lead-ja");
  alert.recipient.set_locale("ja");
  alert.recipient.set_alert_channel(care::common::v1::MESSAGE_CHANNEL_WEBHOOK);
  alert.occurrence = "esc:SLA_TARGET_FIRST_RESPONSE:1:0";
  alert.level = 1;
  alert.target = v1::SLA_TARGET_FIRST_RESPONSE;
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  OutboxEvent first = out->AlertStaff(c, alert, now);
  EXPECT_EQ(first.event_id, out->AlertStaff(c, alert, now + absl::Hours(1)).event_id) << "stable across runs";
  EXPECT_TRUE(absl::StartsWith(first.event_id, "complaint:c-1:staff:esc:")) << first.event_id;
  EXPECT_LE(first.event_id.size(), 128u);
  alert.recipient.set_agent_id("lead-vi");
  EXPECT_NE(first.event_id, out->AlertStaff(c, alert, now).event_id) << "one per recipient";
  care::notification::v1::IngestEventRequest req;
  ASSERT_TRUE(req.ParseFromString(first.payload));
  EXPECT_EQ(req.staff_alert().kind(), care::notification::v1::MESSAGE_KIND_STAFF_ESCALATION);
  EXPECT_EQ(req.staff_alert().recipient().staff_id(), "lead-ja");
  EXPECT_EQ(req.staff_alert().alert_key(), "c-1:esc:SLA_TARGET_FIRST_RESPONSE:1:0");
  EXPECT_EQ(req.staff_alert().sla_target(), "FIRST_RESPONSE");
}

TEST(OutboundTest, MemberMessagesAndGoodwillCarryStableEventIds) {
  std::unique_ptr<Outbound> out = NewOutbound();
  v1::Complaint c;
  c.set_complaint_id("c-1");
  c.set_member_id("m-1");
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  OutboxEvent update = out->NotifyMember(c, "received", MemberUpdate::kAcknowledged, "hello", now, nullptr);
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

TEST(OutboundTest, AContactsMessagesNameTheContactAndTheirAddressInsteadOfAMember) {
  std::unique_ptr<Outbound> out = NewOutbound();
  v1::Complaint c;
  c.set_complaint_id("c-2");
  c.set_contact_id("ct-1");
  v1::Contact contact;
  contact.set_contact_id("ct-1");
  contact.set_display_name("Lan");
  contact.set_email("lan@example.com");
  contact.set_locale("vi");
  contact.set_channel(care::common::v1::MESSAGE_CHANNEL_EMAIL);
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  care::notification::v1::IngestEventRequest req;
  ASSERT_TRUE(
      req.ParseFromString(out->InviteToSurvey(c, "token-123456789", now + absl::Hours(24), now, &contact).payload));
  EXPECT_TRUE(req.satisfaction_survey().member_id().empty());
  EXPECT_EQ(req.satisfaction_survey().contact().contact_id(), "ct-1");
  EXPECT_EQ(req.satisfaction_survey().contact().email(), "lan@example.com");
  EXPECT_EQ(req.satisfaction_survey().contact().channel(), care::common::v1::MESSAGE_CHANNEL_EMAIL);
  ASSERT_TRUE(
      req.ParseFromString(out->NotifyMember(c, "received", MemberUpdate::kAcknowledged, "hi", now, &contact).payload));
  EXPECT_EQ(req.complaint_update().contact().locale(), "vi");
}

constexpr char kWords[] = "wombat-lantern-5521";

// A closed ticket with every free text filled, and the facts metrics read.
v1::Complaint FullTicket() {
  v1::Complaint c;
  c.set_complaint_id("cmp_1");
  c.set_member_id("m1");
  c.set_channel(v1::CHANNEL_EMAIL);
  c.set_category(v1::CATEGORY_DELIVERY);
  c.set_status(v1::COMPLAINT_STATUS_CLOSED);
  c.set_subject(kWords);
  c.set_description(kWords);
  c.set_resolution_summary(kWords);
  c.mutable_handover()->set_note(kWords);
  c.mutable_handover()->set_to_team_id("desk");
  c.mutable_survey()->set_score(4);
  c.mutable_survey()->set_comment(kWords);
  v1::Compensation* comp = c.add_compensations();
  comp->set_points(100);
  comp->set_status(v1::COMPENSATION_STATUS_ISSUED);
  comp->set_note(kWords);
  comp->set_decision_reason(kWords);
  comp->set_issued_reference("le_9");
  *c.mutable_receive_time() = ToTimestamp(absl::FromUnixSeconds(1000));
  *c.mutable_close_time() = ToTimestamp(absl::FromUnixSeconds(5000));
  *c.mutable_update_time() = ToTimestamp(absl::FromUnixSeconds(6000));
  c.mutable_resolution_sla()->set_breached(true);
  return c;
}

TEST(TicketTextsTest, BlankingATicketRemovesEveryTextAndKeepsTheFacts) {
  v1::Complaint c = FullTicket();
  TextCounts counts;
  BlankTicketTexts(c, counts);
  EXPECT_EQ(c.DebugString().find(kWords), std::string::npos) << c.DebugString();
  EXPECT_EQ(counts, (TextCounts{{"complaint_text", 1}, {"survey_comment", 1}}));
  // Everything else is as it was: the texts put back give the same ticket.
  v1::Complaint refilled = c;
  const v1::Complaint full = FullTicket();
  refilled.set_subject(kWords);
  refilled.set_description(kWords);
  refilled.set_resolution_summary(kWords);
  refilled.mutable_handover()->set_note(kWords);
  refilled.mutable_survey()->set_comment(kWords);
  refilled.mutable_compensations(0)->set_note(kWords);
  refilled.mutable_compensations(0)->set_decision_reason(kWords);
  EXPECT_EQ(refilled.SerializeAsString(), full.SerializeAsString()) << refilled.ShortDebugString();
  // Once more: nothing left to count.
  TextCounts again;
  BlankTicketTexts(c, again);
  EXPECT_TRUE(again.empty());
}

TEST(TicketTextsTest, BlankingAnEventRemovesItsReasonAndText) {
  std::vector<v1::ComplaintEvent> events(6);
  events[0].mutable_reply()->set_text(kWords);
  events[1].mutable_note()->set_text(kWords);
  events[2].mutable_customer_message()->set_text(kWords);
  events[2].mutable_customer_message()->set_channel(v1::CHANNEL_PHONE);
  events[3].mutable_assignment()->set_handover_note(kWords);
  events[3].mutable_assignment()->set_to_agent_id("a2");
  events[4].mutable_compensation()->set_note(kWords);
  events[4].mutable_compensation()->set_points(50);
  events[5].mutable_survey()->set_comment(kWords);
  events[5].mutable_survey()->set_score(2);
  TextCounts counts;
  for (v1::ComplaintEvent& e : events) {
    e.set_reason(kWords);
    e.set_sequence(7);
    EXPECT_TRUE(BlankEventTexts(e, counts)) << e.ShortDebugString();
    EXPECT_EQ(e.DebugString().find(kWords), std::string::npos) << e.DebugString();
    EXPECT_EQ(e.sequence(), 7);
    EXPECT_FALSE(BlankEventTexts(e, counts)) << "a blank event does not change again";
  }
  EXPECT_EQ(counts, (TextCounts{{"customer_message", 1}, {"note", 1}, {"reply", 1}}));
  // The facts stay.
  EXPECT_EQ(events[2].customer_message().channel(), v1::CHANNEL_PHONE);
  EXPECT_EQ(events[3].assignment().to_agent_id(), "a2");
  EXPECT_EQ(events[4].compensation().points(), 50);
  EXPECT_EQ(events[5].survey().score(), 2);
}

TEST(TicketTextsTest, ATicketIsClosedAtItsCloseTimeElseItsLastChange) {
  v1::Complaint c = FullTicket();
  EXPECT_EQ(ClosedAt(c), absl::FromUnixSeconds(5000));
  c.clear_close_time();
  EXPECT_EQ(ClosedAt(c), absl::FromUnixSeconds(6000));
  c.set_status(v1::COMPLAINT_STATUS_RESOLVED);
  EXPECT_EQ(ClosedAt(c), std::nullopt);
  EXPECT_EQ(TicketKey("cmp_1"), "complaint:cmp_1");
}

}  // namespace
}  // namespace care::complaint
