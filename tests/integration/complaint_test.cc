// Complaint service end to end: the real care_complaint and care_loyalty
// binaries under fake clocks with a private redis-server; customer messages
// go to a recording notification service. Only generated stubs are used.
#include <atomic>
#include <thread>

#include "tests/integration/complaint_fixture.h"

namespace care::testing {
namespace {

TEST_F(ComplaintTest, FridayEveningComplaintBreachesMondayAtHalfPastTwelveAndEscalatesOncePerLevel) {
  Calendar("office");
  Policy("standard", 10, absl::Hours(4), "office");
  Enrol("m1");
  SetBoth(HanoiTime(2031, 1, 17, 17, 30));  // a Friday
  kv1::Complaint c = File("m1", "o-1");
  EXPECT_EQ(c.sla_policy_id(), "standard");
  EXPECT_EQ(FromTimestamp(c.first_response_sla().due_time()), HanoiTime(2031, 1, 20, 12, 30));

  SetBoth(HanoiTime(2031, 1, 20, 12, 29));
  LetJobsRun();
  kv1::Complaint before = Get(c.complaint_id());
  EXPECT_FALSE(before.first_response_sla().breached());
  EXPECT_EQ(FromDurationProto(before.first_response_sla().time_to_breach()), absl::Minutes(1));

  SetBoth(HanoiTime(2031, 1, 20, 12, 31));
  ASSERT_TRUE(Eventually([&] { return Get(c.complaint_id()).first_response_sla().breached(); }));
  kv1::Complaint breached = Get(c.complaint_id());
  EXPECT_EQ(FromTimestamp(breached.first_response_sla().breach_time()), HanoiTime(2031, 1, 20, 12, 30));
  ASSERT_EQ(breached.escalations_size(), 1);
  EXPECT_EQ(breached.escalations(0).level(), 1);

  // Level 2 one business hour later: priority raised, supervisor queue; then nothing more.
  SetBoth(HanoiTime(2031, 1, 20, 13, 31));
  ASSERT_TRUE(Eventually([&] { return Get(c.complaint_id()).escalations_size() == 2; }));
  SetBoth(HanoiTime(2031, 1, 22, 9, 0));
  LetJobsRun();
  kv1::Complaint after = Get(c.complaint_id());
  EXPECT_EQ(after.escalations_size(), 2);
  EXPECT_EQ(after.team_id(), "supervisors");
  EXPECT_GT(after.priority(), c.priority());
  EXPECT_EQ(CountEvents(c.complaint_id(), kv1::COMPLAINT_EVENT_KIND_SLA_BREACHED), 1);
  EXPECT_EQ(CountEvents(c.complaint_id(), kv1::COMPLAINT_EVENT_KIND_ESCALATED), 2);
}

// Many writers on one ticket while the SLA job escalates it: every note
// keeps its own place in the audit trail (no sequence taken twice, none
// skipped) and each escalation level still fires once. On PostgreSQL the
// writers run as concurrent transactions and the losers are re-run.
TEST_F(ComplaintTest, ConcurrentNotesKeepTheAuditTrailInOrderWhileEachLevelEscalatesOnce) {
  Calendar("office");
  Policy("standard", 10, absl::Hours(4), "office");
  Enrol("m1");
  SetBoth(HanoiTime(2031, 1, 17, 17, 30));  // a Friday
  kv1::Complaint c = File("m1", "o-1");
  // Both levels are due (12:30 and 13:30) while the notes come in.
  SetBoth(HanoiTime(2031, 1, 20, 13, 31));
  constexpr int kWriters = 8, kNotes = 5;
  std::atomic<int> failed{0};
  std::vector<std::thread> writers;
  writers.reserve(kWriters);
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int n = 0; n < kNotes; ++n) {
        kv1::AddNoteRequest req;
        req.set_request_id(absl::StrCat("note-", w, "-", n));
        req.set_complaint_id(c.complaint_id());
        req.set_text(absl::StrCat("note ", w, "/", n));
        kv1::AddNoteResponse out;
        grpc::Status s = complaints().AddNote(Ctx(agent()).get(), req, &out);
        if (!s.ok()) {
          ADD_FAILURE() << Describe(s);
          ++failed;
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  EXPECT_EQ(failed.load(), 0);
  ASSERT_TRUE(Eventually([&] { return Get(c.complaint_id()).escalations_size() == 2; }));
  LetJobsRun();
  EXPECT_EQ(Get(c.complaint_id()).escalations_size(), 2);
  std::vector<kv1::ComplaintEvent> events = Events(c.complaint_id());
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].sequence(), static_cast<int64_t>(i + 1));
  EXPECT_EQ(CountEvents(c.complaint_id(), kv1::COMPLAINT_EVENT_KIND_NOTE), kWriters * kNotes);
  EXPECT_EQ(CountEvents(c.complaint_id(), kv1::COMPLAINT_EVENT_KIND_SLA_BREACHED), 1);
  EXPECT_EQ(CountEvents(c.complaint_id(), kv1::COMPLAINT_EVENT_KIND_ESCALATED), 2);
}

TEST_F(ComplaintTest, AHolidayMovesTheBreachAndWaitingOnTheCustomerPausesIt) {
  kv1::Date monday;
  monday.set_year(2031);
  monday.set_month(1);
  monday.set_day(20);
  Calendar("office", {monday});
  Policy("standard", 10, absl::Hours(4), "office");
  Enrol("m1");
  SetBoth(HanoiTime(2031, 1, 17, 17, 30));
  kv1::Complaint holiday = File("m1", "o-1");
  EXPECT_EQ(FromTimestamp(holiday.first_response_sla().due_time()), HanoiTime(2031, 1, 21, 12, 30));

  SetBoth(HanoiTime(2031, 1, 17, 17, 45));
  kv1::Complaint waiting = File("m1", "o-2");
  SetBoth(HanoiTime(2031, 1, 17, 18, 45));  // after hours: the first 15 minutes were business time
  kv1::TransitionComplaintRequest wait;
  wait.set_request_id("wait-1");
  wait.set_complaint_id(waiting.complaint_id());
  wait.set_to_status(kv1::COMPLAINT_STATUS_WAITING_ON_CUSTOMER);
  kv1::Complaint out;
  ASSERT_TRUE(complaints().TransitionComplaint(Ctx(agent()).get(), wait, &out).ok());

  SetBoth(HanoiTime(2031, 1, 23, 10, 0));  // well past both due times
  ASSERT_TRUE(Eventually([&] { return Get(holiday.complaint_id()).first_response_sla().breached(); }));
  kv1::Complaint paused = Get(waiting.complaint_id());
  EXPECT_FALSE(paused.first_response_sla().breached());
  EXPECT_TRUE(paused.first_response_sla().paused());
  // Filed 17:45 Friday, so 15 minutes were used: 3h45m are left, whatever the date.
  EXPECT_EQ(FromDurationProto(paused.first_response_sla().time_to_breach()), absl::Minutes(225));

  // The customer answers: the clock runs again from now.
  wait.set_request_id("wait-2");
  wait.set_to_status(kv1::COMPLAINT_STATUS_IN_PROGRESS);
  ASSERT_TRUE(complaints().TransitionComplaint(Ctx(agent()).get(), wait, &out).ok());
  EXPECT_EQ(FromTimestamp(out.first_response_sla().due_time()), HanoiTime(2031, 1, 23, 13, 45));
}

TEST_F(ComplaintTest, AGoldMemberGetsTheGoldTarget) {
  Calendar("office");
  Policy("gold", 1, absl::Hours(1), "office", {"gold"});
  Policy("standard", 10, absl::Hours(4), "office");
  Enrol("gold-1");
  Purchase("gold-1", "big-order", 600000);
  Enrol("member-1");
  SetBoth(HanoiTime(2031, 1, 20, 10, 0));  // Monday
  kv1::Complaint gold = File("gold-1");
  kv1::Complaint member = File("member-1");
  EXPECT_EQ(gold.tier().tier_id(), "gold");
  EXPECT_EQ(gold.sla_policy_id(), "gold");
  EXPECT_EQ(FromTimestamp(gold.first_response_sla().due_time()), HanoiTime(2031, 1, 20, 11, 0));
  EXPECT_EQ(member.sla_policy_id(), "standard");
  EXPECT_EQ(FromTimestamp(member.first_response_sla().due_time()), HanoiTime(2031, 1, 20, 14, 0));
  EXPECT_GT(gold.priority(), kv1::PRIORITY_NORMAL);  // the tier's support priority
}

TEST_F(ComplaintTest, RepliesWithForbiddenPhrasesAreRefusedInEnglishAndVietnamese) {
  Enrol("m1");
  for (auto [locale, phrase] : {std::pair<std::string, std::string>{"en", "calm down"}, {"vi", "không thể"}}) {
    kv1::PutForbiddenPhrasesRequest put;
    put.set_request_id("phrases-" + locale);
    put.mutable_list()->set_locale(locale);
    put.mutable_list()->add_phrases(phrase);
    kv1::ForbiddenPhraseList list;
    ASSERT_TRUE(complaints().PutForbiddenPhrases(Ctx(admin()).get(), put, &list).ok());
  }
  kv1::Complaint en = File("m1", "o-1", kv1::CATEGORY_DELIVERY, "en");
  kv1::Complaint vi = File("m1", "o-2", kv1::CATEGORY_DELIVERY, "vi");
  auto updates = [&] { return notification_.Events(nv1::IngestEventRequest::kComplaintUpdate).size(); };
  ASSERT_TRUE(Eventually([&] { return updates() == 2; }));  // the two acknowledgements

  kv1::ReplyToComplaintResponse out;
  grpc::Status s = Reply(en.complaint_id(), "Please CALM DOWN, we are checking.", &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(s), "FORBIDDEN_PHRASE");
  EXPECT_EQ(ReasonMetadata(s, "phrases"), "calm down");
  // Upper case with combining accents (NFD), as some keyboards send it.
  s = Reply(vi.complaint_id(), "Chúng tôi KHO\xCC\x82NG THE\xCC\x82\xCC\x89 hoàn tiền", &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ReasonMetadata(s, "phrases"), "không thể");

  LetJobsRun();
  EXPECT_EQ(CountEvents(en.complaint_id(), kv1::COMPLAINT_EVENT_KIND_REPLY), 0);
  EXPECT_EQ(CountEvents(vi.complaint_id(), kv1::COMPLAINT_EVENT_KIND_REPLY), 0);
  EXPECT_FALSE(Get(en.complaint_id()).has_first_response_time());
  EXPECT_EQ(updates(), 2u);  // nothing sent

  ASSERT_TRUE(Reply(vi.complaint_id(), "Chúng tôi sẽ hoàn tiền trong hôm nay", &out).ok());
  EXPECT_TRUE(out.event().reply().first_response());
  ASSERT_TRUE(Eventually([&] { return updates() == 3; }));
}

TEST_F(ComplaintTest, GoodwillPointsReachLoyaltyExactlyOnceEvenWhenLoyaltyWasDown) {
  Enrol("m1");
  kv1::Complaint first = File("m1", "o-1");
  kv1::Complaint second = File("m1", "o-2", kv1::CATEGORY_PRODUCT);

  kv1::ResolveComplaintResponse r1;
  ASSERT_TRUE(complaints().ResolveComplaint(Ctx(agent()).get(), ResolveRequest(first.complaint_id(), 100), &r1).ok());
  // ISSUING until loyalty acknowledged it (issue 15, defect 11).
  EXPECT_EQ(r1.compensation().status(), kv1::COMPENSATION_STATUS_ISSUING);
  kv1::ResolveComplaintResponse again;
  ASSERT_TRUE(
      complaints().ResolveComplaint(Ctx(agent()).get(), ResolveRequest(first.complaint_id(), 100), &again).ok());
  EXPECT_EQ(again.compensation().compensation_id(), r1.compensation().compensation_id());
  ASSERT_TRUE(Eventually([&] { return Balance("m1").balance() == 100; }));

  // Loyalty down while the second is resolved: the points wait, then arrive once.
  service_->Kill();
  kv1::ResolveComplaintResponse r2;
  ASSERT_TRUE(complaints().ResolveComplaint(Ctx(agent()).get(), ResolveRequest(second.complaint_id(), 50), &r2).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(service_->Start().ok());
  Connect();
  ASSERT_TRUE(Eventually([&] { return Balance("m1").balance() == 150; }, absl::Seconds(15)));
  LetJobsRun();
  EXPECT_EQ(Balance("m1").balance(), 150);
  int adjustments = 0;
  for (const auto& e : Ledger("m1")) adjustments += e.kind() == lv1::LEDGER_ENTRY_KIND_ADJUST;
  EXPECT_EQ(adjustments, 2);
}

TEST_F(ComplaintTest, AboveTheAgentsLimitNothingIsIssuedUntilASupervisorApproves) {
  Enrol("m1");
  kv1::Complaint c = File("m1", "o-1");
  kv1::ResolveComplaintResponse r;
  ASSERT_TRUE(complaints().ResolveComplaint(Ctx(agent()).get(), ResolveRequest(c.complaint_id(), 2000), &r).ok());
  EXPECT_TRUE(r.pending_approval());
  EXPECT_EQ(r.compensation().status(), kv1::COMPENSATION_STATUS_PENDING_APPROVAL);
  LetJobsRun();
  EXPECT_EQ(Balance("m1").balance(), 0);

  kv1::ApproveCompensationRequest approve;
  approve.set_request_id("approve-1");
  approve.set_complaint_id(c.complaint_id());
  approve.set_compensation_id(r.compensation().compensation_id());
  kv1::Complaint out;
  grpc::Status denied = complaints().ApproveCompensation(Ctx(agent()).get(), approve, &out);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(complaints().ApproveCompensation(Ctx(supervisor()).get(), approve, &out).ok());
  EXPECT_EQ(out.compensations(0).status(), kv1::COMPENSATION_STATUS_ISSUING);
  ASSERT_TRUE(Eventually([&] { return Balance("m1").balance() == 2000; }));
  ASSERT_TRUE(Eventually([&] {
    return Get(c.complaint_id()).compensations(0).status() == kv1::COMPENSATION_STATUS_ISSUED;
  }));
  grpc::Status twice = complaints().ApproveCompensation(
      Ctx(supervisor()).get(),
      [&] {
        approve.set_request_id("approve-2");
        return approve;
      }(),
      &out);
  EXPECT_EQ(Reason(twice), "COMPENSATION_NOT_PENDING");
}

TEST_F(ComplaintTest, TheSurveyIsAnsweredOnceAndMetricsMatchHandComputedValues) {
  Enrol("m1");
  // Three complaints with no SLA policy (round-the-clock business time):
  // first responses after 10, 20 and 60 minutes; two resolved.
  std::vector<kv1::Complaint> cs = {File("m1", "o-1"), File("m1", "o-2"), File("m1", "o-3")};
  std::string dup_of;
  File("m1", "o-1", kv1::CATEGORY_DELIVERY, "en", &dup_of);
  EXPECT_EQ(dup_of, cs[0].complaint_id());
  kv1::ReplyToComplaintResponse out;
  for (auto [c, at] : {std::pair<int, int>{0, 10}, {1, 20}, {2, 60}}) {
    SetBoth(Base() + absl::Minutes(at));
    ASSERT_TRUE(Reply(cs[c].complaint_id(), "We are on it", &out).ok());
  }
  kv1::ResolveComplaintResponse r;
  ASSERT_TRUE(complaints().ResolveComplaint(Ctx(agent()).get(), ResolveRequest(cs[0].complaint_id(), 0), &r).ok());
  ASSERT_TRUE(complaints().ResolveComplaint(Ctx(agent()).get(), ResolveRequest(cs[1].complaint_id(), 0), &r).ok());

  // The invitation carries the token; the member answers once.
  std::vector<nv1::IngestEventRequest> invites;
  ASSERT_TRUE(Eventually([&] {
    invites = notification_.Events(nv1::IngestEventRequest::kSatisfactionSurvey);
    return invites.size() == 2;
  }));
  kv1::SubmitSurveyResponseRequest answer;
  answer.set_request_id("answer-1");
  answer.set_survey_token(invites[0].satisfaction_survey().survey_token());
  answer.set_score(4);
  kv1::SurveyResponse sr;
  ASSERT_TRUE(complaints().SubmitSurveyResponse(Ctx(svc()).get(), answer, &sr).ok());
  ASSERT_TRUE(complaints().SubmitSurveyResponse(Ctx(svc()).get(), answer, &sr).ok());  // a retry
  answer.set_request_id("answer-2");
  answer.set_score(1);
  grpc::Status second = complaints().SubmitSurveyResponse(Ctx(svc()).get(), answer, &sr);
  EXPECT_EQ(second.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Reason(second), "SURVEY_ALREADY_ANSWERED");

  kv1::GetComplaintMetricsRequest mreq;
  *mreq.mutable_start_time() = ToTimestamp(Base() - absl::Hours(1));
  *mreq.mutable_end_time() = ToTimestamp(Base() + absl::Hours(1));
  kv1::ComplaintMetrics m;
  ASSERT_TRUE(complaints().GetComplaintMetrics(Ctx(supervisor()).get(), mreq, &m).ok());
  const kv1::MetricsGroup& g = m.overall();
  EXPECT_EQ(g.complaint_count(), 4);
  EXPECT_EQ(g.resolved_count(), 2);
  EXPECT_DOUBLE_EQ(g.resolution_rate(), 0.5);
  // Round-the-clock business time: 10, 20 and 60 minutes; both resolutions at 60.
  EXPECT_EQ(g.first_response_time().count(), 3);
  EXPECT_EQ(FromDurationProto(g.first_response_time().median()), absl::Minutes(20));
  EXPECT_EQ(FromDurationProto(g.first_response_time().p90()), absl::Minutes(60));
  EXPECT_EQ(g.resolution_time().count(), 2);
  EXPECT_EQ(FromDurationProto(g.resolution_time().median()), absl::Minutes(60));
  EXPECT_EQ(g.satisfaction().response_count(), 1);
  EXPECT_DOUBLE_EQ(g.satisfaction().average_score(), 4.0);
  ASSERT_EQ(g.satisfaction().score_counts_size(), 5);
  EXPECT_EQ(g.satisfaction().score_counts(3), 1);
}

TEST_F(ComplaintTest, InvalidTransitionsAndBadInputGetSpecificErrors) {
  Enrol("m1");
  kv1::Complaint c = File("m1", "o-1");
  kv1::TransitionComplaintRequest t;
  t.set_request_id("t-1");
  t.set_complaint_id(c.complaint_id());
  t.set_to_status(kv1::COMPLAINT_STATUS_IN_PROGRESS);
  kv1::Complaint out;
  ASSERT_TRUE(complaints().TransitionComplaint(Ctx(agent()).get(), t, &out).ok());
  // IN_PROGRESS cannot go back to ACKNOWLEDGED.
  t.set_request_id("t-2");
  t.set_to_status(kv1::COMPLAINT_STATUS_ACKNOWLEDGED);
  grpc::Status s = complaints().TransitionComplaint(Ctx(agent()).get(), t, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(s), "INVALID_TRANSITION");
  // Closing an unresolved complaint needs a reason (spam, duplicate...).
  t.set_request_id("t-3");
  t.set_to_status(kv1::COMPLAINT_STATUS_CLOSED);
  s = complaints().TransitionComplaint(Ctx(agent()).get(), t, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"reason"});

  kv1::CreateComplaintRequest bad;
  bad.set_request_id("bad-1");
  bad.set_member_id("m1");
  kv1::CreateComplaintResponse r;
  s = complaints().CreateComplaint(Ctx(agent()).get(), bad, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto fields = BadFields(s);
  EXPECT_TRUE(std::count(fields.begin(), fields.end(), "channel"));
  EXPECT_TRUE(std::count(fields.begin(), fields.end(), "description"));

  kv1::GetComplaintRequest missing;
  missing.set_complaint_id("nope");
  s = complaints().GetComplaint(Ctx(agent()).get(), missing, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Reason(s), "COMPLAINT_NOT_FOUND");
}

}  // namespace
}  // namespace care::testing
