// Issue 22 item 7 through the binaries: care cadence rules (seed 000, "how
// often to contact") send a proactive check-in to members who have not bought
// for a while, or a while after they joined, at most once per member per
// period, across re-runs and a restart; the check-in is marketing, so the
// real notification service delivers it only with the member's consent, in
// their language.
#include <memory>
#include <optional>
#include <thread>

#include "tests/integration/loyalty_fixture.h"

namespace care::testing {
namespace {

using CadenceTest = LoyaltyTest;
using care::common::v1::MESSAGE_CHANNEL_IN_APP;

constexpr absl::Duration kDay = absl::Hours(24);

lv1::CadenceRule NoPurchaseFor(const std::string& id, absl::Duration quiet, absl::Duration period) {
  lv1::CadenceRule r;
  r.set_rule_id(id);
  r.set_display_name("We miss you");
  (*r.mutable_localized_display_names())["ja"] = "お久しぶりです";
  *r.mutable_no_purchase_for() = ToDurationProto(quiet);
  *r.mutable_period() = ToDurationProto(period);
  return r;
}

lv1::CadenceRule SinceEnrolment(const std::string& id, absl::Duration after) {
  lv1::CadenceRule r;
  r.set_rule_id(id);
  r.set_display_name("How are we doing?");
  *r.mutable_since_enrolment() = ToDurationProto(after);
  return r;
}

void Settle() { std::this_thread::sleep_for(std::chrono::milliseconds(400)); }

// The check-ins loyalty sent to `member` (under `rule`, if given), in order.
std::vector<nv1::CareCheckIn> CheckIns(FakeNotification& n, const std::string& member, const std::string& rule = "") {
  std::vector<nv1::CareCheckIn> out;
  for (const auto& e : n.Events(nv1::IngestEventRequest::kCareCheckIn)) {
    if (e.care_check_in().member_id() == member && (rule.empty() || e.care_check_in().rule_id() == rule)) {
      out.push_back(e.care_check_in());
    }
  }
  return out;
}

TEST_F(CadenceTest, AQuietMemberIsCheckedOnOncePerPeriodAcrossARestart) {
  lv1::Program program = DefaultProgram();
  lv1::CadenceRule rule = NoPurchaseFor("we-miss-you", 60 * kDay, 90 * kDay);
  rule.add_tier_ids("member");
  *program.add_cadence_rules() = rule;
  Configure(program);
  Enrol("quiet");
  Enrol("buyer");
  Enrol("vip");
  Purchase("quiet", "q-1", 1000);
  Purchase("buyer", "b-1", 1000);
  Purchase("vip", "v-1", 500000);  // gold: outside the rule's tiers
  ASSERT_EQ(GetTier("vip").tier_id(), "gold");
  SetTime(Base() + 30 * kDay);
  Purchase("buyer", "b-2", 1000);  // starts buyer's 60 days again

  SetTime(Base() + 60 * kDay - absl::Minutes(1));
  Settle();
  EXPECT_TRUE(CheckIns(notification_, "quiet").empty());
  SetTime(Base() + 60 * kDay);
  ASSERT_TRUE(Eventually([&] { return CheckIns(notification_, "quiet").size() == 1u; }));
  // The job runs again (every clock move), then the service restarts.
  SetTime(Base() + 60 * kDay + absl::Hours(1));
  Settle();
  service_->Kill();
  ASSERT_TRUE(service_->Restart().ok());
  Connect();
  SetTime(Base() + 61 * kDay);
  Settle();
  std::vector<nv1::CareCheckIn> quiet = CheckIns(notification_, "quiet");
  ASSERT_EQ(quiet.size(), 1u);
  EXPECT_EQ(quiet[0].rule_id(), "we-miss-you");
  EXPECT_EQ(quiet[0].contact(), 1);
  EXPECT_EQ(quiet[0].rule_name(), "We miss you");
  EXPECT_EQ(quiet[0].localized_rule_names().at("ja"), "お久しぶりです");
  EXPECT_TRUE(CheckIns(notification_, "buyer").empty());

  // 60 days after buyer's last purchase.
  SetTime(Base() + 90 * kDay);
  ASSERT_TRUE(Eventually([&] { return CheckIns(notification_, "buyer").size() == 1u; }));

  // Still quiet: the next check-in waits for the period, not the 60 days.
  SetTime(Base() + 149 * kDay);
  Settle();
  EXPECT_EQ(CheckIns(notification_, "quiet").size(), 1u);
  SetTime(Base() + 150 * kDay);
  ASSERT_TRUE(Eventually([&] { return CheckIns(notification_, "quiet").size() == 2u; }));
  EXPECT_EQ(CheckIns(notification_, "quiet")[1].contact(), 2);
  EXPECT_TRUE(CheckIns(notification_, "vip").empty());

  // Moved into the segment of another rule, a member quiet for long is
  // checked on at once (not at the rule's next pass over everyone).
  lv1::Program next = program;
  lv1::CadenceRule vip_care = NoPurchaseFor("vip-care", 60 * kDay, 90 * kDay);
  vip_care.add_segments("vip");
  *next.add_cadence_rules() = vip_care;
  lv1::Program out;
  grpc::Status s = UpdateProgram(next, 1, &out, {"cadence_rules"});
  ASSERT_TRUE(s.ok()) << Describe(s);
  SetTime(Base() + 151 * kDay);
  Settle();
  EXPECT_TRUE(CheckIns(notification_, "vip", "vip-care").empty());
  lv1::UpdateMemberRequest req;
  req.set_request_id("vip-segment");
  req.mutable_member()->set_member_id("vip");
  req.mutable_member()->set_segment("vip");
  req.mutable_update_mask()->add_paths("segment");
  lv1::Member member;
  s = stub().UpdateMember(Ctx(svc()).get(), req, &member);
  ASSERT_TRUE(s.ok()) << Describe(s);
  SetTime(Base() + 151 * kDay + absl::Minutes(1));
  ASSERT_TRUE(Eventually([&] { return CheckIns(notification_, "vip", "vip-care").size() == 1u; }));
  Settle();
  EXPECT_EQ(CheckIns(notification_, "vip").size(), 1u);
  EXPECT_EQ(CheckIns(notification_, "quiet").size(), 2u);
}

TEST_F(CadenceTest, ASinceEnrolmentRuleFiresOnceAndARuleAddedLaterReachesWhomItShould) {
  lv1::Program program = DefaultProgram();
  *program.add_cadence_rules() = SinceEnrolment("thirty-days", 30 * kDay);
  Configure(program);
  Enrol("new");
  SetTime(Base() + 30 * kDay - absl::Minutes(1));
  Settle();
  EXPECT_TRUE(CheckIns(notification_, "new").empty());
  SetTime(Base() + 30 * kDay);
  ASSERT_TRUE(Eventually([&] { return CheckIns(notification_, "new").size() == 1u; }));
  SetTime(Base() + 95 * kDay);
  Settle();
  EXPECT_EQ(CheckIns(notification_, "new").size(), 1u);

  // A second welcome rule added 95 days after "new" joined is past its
  // catch-up week for them; a lapsed-customer rule reaches them at once
  // (the walk after the change), and a member who joins now gets both.
  lv1::Program next = program;
  *next.add_cadence_rules() = SinceEnrolment("welcome-b", 30 * kDay);
  *next.add_cadence_rules() = NoPurchaseFor("lapsed", 60 * kDay, 90 * kDay);
  lv1::Program out;
  grpc::Status s = UpdateProgram(next, 1, &out, {"cadence_rules"});
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_EQ(out.cadence_rules_size(), 3);
  Enrol("late");
  SetTime(Base() + 95 * kDay + absl::Minutes(1));
  ASSERT_TRUE(Eventually([&] { return CheckIns(notification_, "new", "lapsed").size() == 1u; }));
  SetTime(Base() + 125 * kDay);
  ASSERT_TRUE(Eventually([&] { return CheckIns(notification_, "late").size() == 2u; }));
  Settle();
  EXPECT_TRUE(CheckIns(notification_, "new", "welcome-b").empty());
  EXPECT_EQ(CheckIns(notification_, "new", "thirty-days").size(), 1u);
}

TEST_F(CadenceTest, BadCadenceRulesAreRefusedNamingTheField) {
  Configure();
  lv1::Program program = DefaultProgram();
  lv1::CadenceRule bad_id = NoPurchaseFor("Not Valid!", 60 * kDay, 90 * kDay);
  lv1::CadenceRule no_trigger = NoPurchaseFor("no-trigger", 60 * kDay, 90 * kDay);
  no_trigger.clear_no_purchase_for();
  lv1::CadenceRule short_quiet = NoPurchaseFor("short", absl::Hours(1), 90 * kDay);
  lv1::CadenceRule no_period = NoPurchaseFor("no-period", 60 * kDay, absl::ZeroDuration());
  no_period.clear_period();
  lv1::CadenceRule once_with_period = SinceEnrolment("once", 30 * kDay);
  *once_with_period.mutable_period() = ToDurationProto(90 * kDay);
  lv1::CadenceRule tier = SinceEnrolment("tier", 30 * kDay);
  tier.add_tier_ids("platinum");
  tier.set_display_name("");
  for (const auto& r : {bad_id, no_trigger, short_quiet, no_period, once_with_period, tier}) {
    *program.add_cadence_rules() = r;
  }
  *program.add_cadence_rules() = SinceEnrolment("tier", 10 * kDay);  // duplicate id
  lv1::CadenceRule no_such_action = SinceEnrolment("action", 30 * kDay);
  no_such_action.set_action(static_cast<lv1::CadenceAction>(7));
  lv1::CadenceRule message_with_team = SinceEnrolment("message-team", 30 * kDay);
  message_with_team.set_team_id("care-team");
  lv1::CadenceRule bad_team = SinceEnrolment("bad-team", 30 * kDay);
  bad_team.set_action(lv1::CADENCE_ACTION_AGENT_TASK);
  bad_team.set_team_id("care team!");
  for (const auto& r : {no_such_action, message_with_team, bad_team}) *program.add_cadence_rules() = r;
  lv1::Program out;
  grpc::Status s = UpdateProgram(program, 1, &out);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  std::vector<std::string> fields = BadFields(s);
  for (const char* f :
       {"program.cadence_rules[0].rule_id", "program.cadence_rules[1].trigger",
        "program.cadence_rules[2].no_purchase_for", "program.cadence_rules[3].period",
        "program.cadence_rules[4].period", "program.cadence_rules[5].tier_ids[0]",
        "program.cadence_rules[5].display_name", "program.cadence_rules[6].rule_id", "program.cadence_rules[7].action",
        "program.cadence_rules[8].team_id", "program.cadence_rules[9].team_id"}) {
    EXPECT_NE(std::find(fields.begin(), fields.end(), f), fields.end()) << f << " in " << Describe(s);
  }
  // 21 rules: over the bound.
  program.clear_cadence_rules();
  for (int i = 0; i < 21; ++i) *program.add_cadence_rules() = SinceEnrolment(absl::StrCat("r", i), 30 * kDay);
  s = UpdateProgram(program, 1, &out);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  fields = BadFields(s);
  EXPECT_NE(std::find(fields.begin(), fields.end(), "program.cadence_rules"), fields.end()) << Describe(s);
  // A good one is stored and read back as given.
  program.clear_cadence_rules();
  *program.add_cadence_rules() = NoPurchaseFor("we-miss-you", 60 * kDay, 90 * kDay);
  s = UpdateProgram(program, 1, &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_EQ(out.cadence_rules_size(), 1);
  EXPECT_EQ(out.cadence_rules(0).no_purchase_for().seconds(), 60 * 86400);
  EXPECT_EQ(out.cadence_rules(0).period().seconds(), 90 * 86400);
  EXPECT_EQ(out.cadence_rules(0).localized_display_names().at("ja"), "お久しぶりです");
  EXPECT_EQ(out.cadence_rules(0).action(), lv1::CADENCE_ACTION_MESSAGE);  // the default, shown
  // An agent task with its team.
  lv1::CadenceRule task = SinceEnrolment("welcome-call", 30 * kDay);
  task.set_action(lv1::CADENCE_ACTION_AGENT_TASK);
  task.set_team_id("care-team");
  *program.add_cadence_rules() = task;
  s = UpdateProgram(program, out.version(), &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_EQ(out.cadence_rules_size(), 2);
  EXPECT_EQ(out.cadence_rules(1).action(), lv1::CADENCE_ACTION_AGENT_TASK);
  EXPECT_EQ(out.cadence_rules(1).team_id(), "care-team");
}

// Loyalty's outbox goes to the real notification: the check-in is marketing,
// so it reaches only the member who consented on the channel, in their
// language; the other's delivery is recorded as suppressed for want of
// consent.
class CadenceDeliveryTest : public LoyaltyTest {
 protected:
  std::vector<std::string> ExtraArgs() override {
    return {"--notification_target=127.0.0.1:" + std::to_string(notification_port_)};
  }

  void SetUp() override {
    LoyaltyTest::SetUp();
    if (HasFatalFailure()) return;
    notif_ = std::make_unique<ServiceProcess>(CARE_NOTIFICATION_BIN, "care.notification.v1.NotificationService",
                                              NotificationArgs({"--port=" + std::to_string(notification_port_)}),
                                              tokens_);
    absl::Status started = notif_->Start();
    ASSERT_TRUE(started.ok()) << started;
    nstub_ = nv1::NotificationService::NewStub(notif_->channel());
    nclock_ = care::common::v1::ClockControl::NewStub(notif_->channel());
    SetBothClocks(Base());
  }

  void SetBothClocks(absl::Time t) {
    care::common::v1::SetTimeRequest req;
    *req.mutable_time() = ToTimestamp(t);
    care::common::v1::GetTimeResponse r;
    ASSERT_TRUE(nclock_->SetTime(Ctx(admin()).get(), req, &r).ok());
    SetTime(t);
  }

  std::vector<nv1::Delivery> CheckInDeliveries(const std::string& member) {
    nv1::ListDeliveriesRequest req;
    req.mutable_filter()->set_member_id(member);
    req.mutable_filter()->add_kinds(nv1::MESSAGE_KIND_CARE_CHECK_IN);
    nv1::ListDeliveriesResponse resp;
    grpc::Status s = nstub_->ListDeliveries(Ctx(admin()).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return {resp.deliveries().begin(), resp.deliveries().end()};
  }

  std::vector<nv1::InboxMessage> Inbox(const std::string& member) {
    nv1::ListInboxRequest req;
    req.set_member_id(member);
    req.add_kinds(nv1::MESSAGE_KIND_CARE_CHECK_IN);
    nv1::ListInboxResponse resp;
    grpc::Status s = nstub_->ListInbox(Ctx(svc()).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return {resp.messages().begin(), resp.messages().end()};
  }

  int notification_port_ = FreePort();
  std::unique_ptr<ServiceProcess> notif_;
  std::unique_ptr<nv1::NotificationService::Stub> nstub_;
  std::unique_ptr<care::common::v1::ClockControl::Stub> nclock_;
};

TEST_F(CadenceDeliveryTest, ACheckInReachesOnlyAConsentingMemberInTheirLanguage) {
  lv1::Program program = DefaultProgram();
  *program.add_cadence_rules() = NoPurchaseFor("we-miss-you", 60 * kDay, 90 * kDay);
  Configure(program);
  Enrol("yes", [](lv1::Member* m) {
    m->set_locale("ja");
    auto* c = m->add_marketing_consents();
    c->set_channel(MESSAGE_CHANNEL_IN_APP);
    c->set_granted(true);
  });
  Enrol("no", [](lv1::Member* m) { m->set_locale("ja"); });

  // Noon, 60 days on: due, and inside the members' send window.
  SetBothClocks(Base() + 60 * kDay + absl::Hours(2));
  std::vector<nv1::InboxMessage> inbox;
  ASSERT_TRUE(Eventually(
      [&] {
        inbox = Inbox("yes");
        return !inbox.empty();
      },
      absl::Seconds(20)))
      << notif_->log();
  ASSERT_EQ(inbox.size(), 1u);
  EXPECT_EQ(inbox[0].subject(), "お久しぶりです");
  EXPECT_EQ(inbox[0].body(), "Member yes様、その後お変わりありませんか?お困りのことがあれば、お気軽にご返信ください。");
  std::vector<nv1::Delivery> refused;
  ASSERT_TRUE(Eventually(
      [&] {
        refused = CheckInDeliveries("no");
        return refused.size() == 1u && refused[0].status() == nv1::DELIVERY_STATUS_SUPPRESSED;
      },
      absl::Seconds(20)));
  EXPECT_EQ(refused[0].suppression_reason(), nv1::SUPPRESSION_REASON_NO_CONSENT);
  EXPECT_EQ(refused[0].category(), nv1::MESSAGE_CATEGORY_MARKETING);
  EXPECT_TRUE(Inbox("no").empty());

  // Once per period: the clock moves on, nothing more.
  SetBothClocks(Base() + 61 * kDay + absl::Hours(2));
  Settle();
  EXPECT_EQ(Inbox("yes").size(), 1u);
  EXPECT_EQ(CheckInDeliveries("yes").size(), 1u);
}

}  // namespace
}  // namespace care::testing
