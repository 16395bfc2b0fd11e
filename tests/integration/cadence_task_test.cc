// Issue 22 item 7, the other action, through the binaries: a care cadence
// rule with action AGENT_TASK makes loyalty file a proactive check-in ticket
// (TICKET_KIND_CARE_CHECK_IN) in the real complaint service through its
// outbox, once per member and period across job runs and a restart of
// loyalty, in the rule's team queue, unassigned, under the SLA policy that
// matches, named in the member's language, held in loyalty's outbox while
// complaint is down; the member is sent nothing, an erased member gets none.
// Among peers only loyalty may file tickets, and only check-ins.
#include "absl/strings/match.h"
#include "tests/integration/complaint_fixture.h"

namespace care::testing {
namespace {

constexpr absl::Duration kDay = absl::Hours(24);

class CadenceTaskTest : public ComplaintTest {
 protected:
  // Loyalty reaches complaint on a fixed port; complaint starts after it
  // (its tickets wait in loyalty's outbox until then).
  std::vector<std::string> ExtraArgs() override {
    return {"--port=" + std::to_string(loyalty_port_),
            "--complaint_target=127.0.0.1:" + std::to_string(complaint_port_)};
  }
  std::vector<std::string> ExtraComplaintArgs() override { return {"--port=" + std::to_string(complaint_port_)}; }

  static lv1::CadenceRule CheckInTask(const std::string& team) {
    lv1::CadenceRule r;
    r.set_rule_id("call-the-quiet");
    r.set_display_name("Call a quiet member");
    (*r.mutable_localized_display_names())["ja"] = "お久しぶりのお客様に電話";
    *r.mutable_no_purchase_for() = ToDurationProto(60 * kDay);
    *r.mutable_period() = ToDurationProto(90 * kDay);
    r.set_action(lv1::CADENCE_ACTION_AGENT_TASK);
    r.set_team_id(team);
    return r;
  }

  // The care desk's check-in tickets in `team`'s unclaimed queue.
  std::vector<kv1::Complaint> TeamCheckIns(const std::string& team) {
    kv1::ListComplaintsRequest req;
    req.add_kinds(kv1::TICKET_KIND_CARE_CHECK_IN);
    req.set_team_id(team);
    req.set_unassigned_only(true);
    req.set_order_by("receive_time");
    req.set_page_size(100);
    kv1::ListComplaintsResponse out;
    grpc::Status s = complaints().ListComplaints(Ctx(agent()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return {out.complaints().begin(), out.complaints().end()};
  }

  std::vector<kv1::Complaint> CheckInsOf(const std::string& team, const std::string& member) {
    std::vector<kv1::Complaint> out;
    for (auto& c : TeamCheckIns(team)) {
      if (c.member_id() == member) out.push_back(std::move(c));
    }
    return out;
  }

  // A 4-hour first response on the round-the-clock calendar, without
  // escalations (which would move tickets to another queue).
  void FourHourPolicy() {
    UtcCalendar();
    kv1::CreateSlaPolicyRequest req;
    req.set_request_id("policy-everyone");
    kv1::SlaPolicy* p = req.mutable_policy();
    p->set_sla_policy_id("everyone");
    p->set_enabled(true);
    *p->mutable_first_response_target() = ToDurationProto(absl::Hours(4));
    *p->mutable_resolution_target() = ToDurationProto(absl::Hours(48));
    p->set_calendar_id("utc");
    kv1::SlaPolicy out;
    grpc::Status s = complaints().CreateSlaPolicy(Ctx(admin()).get(), req, &out);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  int complaint_port_ = FreePort();
};

TEST_F(CadenceTaskTest, AQuietMemberGetsOneCheckInTicketPerPeriodInTheTeamQueueAcrossARestart) {
  FourHourPolicy();
  lv1::Program program = DefaultProgram();
  *program.add_cadence_rules() = CheckInTask("care-team");
  Configure(program);
  Enrol("quiet", [](lv1::Member* m) { m->set_locale("ja"); });
  Enrol("buyer");
  Enrol("gone");
  Purchase("quiet", "q-1", 1000);
  Purchase("buyer", "b-1", 1000);
  Purchase("gone", "g-1", 1000);
  SetBoth(Base() + 30 * kDay);
  Purchase("buyer", "b-2", 1000);  // starts buyer's 60 days again
  // An erased member is no one's task.
  lv1::ErasePersonRequest erase;
  erase.set_request_id("erase-gone");
  erase.mutable_subject()->set_member_id("gone");
  erase.set_reason("DSR-1");
  lv1::Erasure erasure;
  grpc::Status erased = stub().ErasePerson(Ctx(admin()).get(), erase, &erasure);
  ASSERT_TRUE(erased.ok()) << Describe(erased);

  SetBoth(Base() + 60 * kDay - absl::Minutes(1));
  LetJobsRun();
  EXPECT_TRUE(TeamCheckIns("care-team").empty());
  SetBoth(Base() + 60 * kDay);
  ASSERT_TRUE(Eventually([&] { return CheckInsOf("care-team", "quiet").size() == 1u; }));
  // The job runs again, then loyalty restarts and runs it once more.
  SetBoth(Base() + 60 * kDay + absl::Hours(1));
  LetJobsRun();
  service_->Kill();
  ASSERT_TRUE(service_->Restart().ok()) << service_->log();
  Connect();
  SetBoth(Base() + 61 * kDay);
  LetJobsRun();
  std::vector<kv1::Complaint> quiet = CheckInsOf("care-team", "quiet");
  ASSERT_EQ(quiet.size(), 1u);
  const kv1::Complaint& task = quiet[0];
  EXPECT_EQ(task.kind(), kv1::TICKET_KIND_CARE_CHECK_IN);
  EXPECT_EQ(task.status(), kv1::COMPLAINT_STATUS_NEW);
  EXPECT_EQ(task.subject(), "お久しぶりのお客様に電話");
  EXPECT_EQ(task.locale(), "ja");
  EXPECT_TRUE(task.assignee_agent_id().empty());
  EXPECT_TRUE(absl::StrContains(task.description(), "call-the-quiet")) << task.description();
  // Like any ticket, under the policy that matches: first response due in 4 h.
  EXPECT_EQ(task.sla_policy_id(), "everyone");
  EXPECT_EQ(FromTimestamp(task.first_response_sla().due_time()), Base() + 60 * kDay + absl::Hours(4));
  EXPECT_TRUE(CheckInsOf("care-team", "buyer").empty());
  EXPECT_TRUE(CheckInsOf("care-team", "gone").empty());
  // The agent calls and resolves it. The member did not write in: no
  // acknowledgement, no resolution message, survey or follow-up, and no
  // check-in message either.
  kv1::ResolveComplaintResponse resolved;
  grpc::Status s = complaints().ResolveComplaint(Ctx(agent()).get(), ResolveRequest(task.complaint_id(), 0), &resolved);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(resolved.complaint().status(), kv1::COMPLAINT_STATUS_RESOLVED);
  SetBoth(Base() + 61 * kDay + absl::Hours(1));
  LetJobsRun();
  for (const auto& e : notification_.Events(nv1::IngestEventRequest::kComplaintUpdate)) {
    EXPECT_NE(e.complaint_update().complaint_id(), task.complaint_id());
  }
  for (const auto& e : notification_.Events(nv1::IngestEventRequest::kSatisfactionSurvey)) {
    EXPECT_NE(e.satisfaction_survey().complaint_id(), task.complaint_id());
  }
  EXPECT_TRUE(notification_.Events(nv1::IngestEventRequest::kCareCheckIn).empty());

  // 60 days after buyer's last purchase; quiet's next waits for the period.
  SetBoth(Base() + 90 * kDay);
  ASSERT_TRUE(Eventually([&] { return CheckInsOf("care-team", "buyer").size() == 1u; }));
  EXPECT_EQ(CheckInsOf("care-team", "buyer")[0].subject(), "Call a quiet member");  // en: the plain name
  SetBoth(Base() + 149 * kDay);
  LetJobsRun();
  EXPECT_EQ(CheckInsOf("care-team", "quiet").size(), 1u);
  // Complaint is down when the next one comes due: the ticket waits in
  // loyalty's outbox and is filed once complaint is back.
  complaint_->Kill();
  SetTime(Base() + 150 * kDay);
  LetJobsRun();
  ASSERT_TRUE(complaint_->Restart().ok()) << complaint_->log();
  cstub_ = kv1::ComplaintService::NewStub(complaint_->channel());
  cclock_ = care::common::v1::ClockControl::NewStub(complaint_->channel());
  SetBoth(Base() + 150 * kDay);
  ASSERT_TRUE(Eventually([&] { return CheckInsOf("care-team", "quiet").size() == 2u; }));
  LetJobsRun();
  EXPECT_EQ(TeamCheckIns("care-team").size(), 3u);
  for (const auto& e : notification_.Events(nv1::IngestEventRequest::kProactiveCheckIn)) {
    EXPECT_NE(e.proactive_check_in().complaint_id(), task.complaint_id());
  }
  // Complaints are not check-ins: the kinds filter keeps them apart.
  const kv1::Complaint complaint = File("quiet");
  for (const auto& c : TeamCheckIns("care-team")) EXPECT_NE(c.complaint_id(), complaint.complaint_id());
}

TEST_F(CadenceTaskTest, AmongPeersOnlyLoyaltyFilesTicketsAndOnlyCheckIns) {
  Enrol("m1");
  kv1::CreateComplaintRequest req;
  req.set_request_id("peer-1");
  req.set_member_id("m1");
  req.set_kind(kv1::TICKET_KIND_CARE_CHECK_IN);
  req.set_category(kv1::CATEGORY_OTHER);
  req.set_description("Check in");
  kv1::CreateComplaintResponse out;
  grpc::Status s = complaints().CreateComplaint(Ctx(tokens_.peer_promotion).get(), req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
  EXPECT_EQ(Reason(s), "PEER_NOT_ALLOWED");
  req.set_kind(kv1::TICKET_KIND_COMPLAINT);
  req.set_channel(kv1::CHANNEL_PHONE);
  s = complaints().CreateComplaint(Ctx(tokens_.peer_loyalty).get(), req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
  EXPECT_EQ(Reason(s), "PEER_NOT_ALLOWED");
  // A check-in needs no channel (nobody wrote in); a complaint does.
  req.clear_channel();
  s = complaints().CreateComplaint(Ctx(agent()).get(), req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  req.set_kind(kv1::TICKET_KIND_CARE_CHECK_IN);
  s = complaints().CreateComplaint(Ctx(tokens_.peer_loyalty).get(), req, &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(out.complaint().kind(), kv1::TICKET_KIND_CARE_CHECK_IN);
  EXPECT_EQ(out.complaint().channel(), kv1::CHANNEL_UNSPECIFIED);
}

}  // namespace
}  // namespace care::testing
