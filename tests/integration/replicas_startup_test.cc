// Three replicas of each of the four services, all started at the same
// moment against empty databases, come up (each service's replicas migrate
// their one database concurrently) and each replica answers calls that read
// and write that database.
#include <fstream>

#include "care/complaint/v1/complaint.grpc.pb.h"
#include "care/loyalty/v1/loyalty.grpc.pb.h"
#include "care/notification/v1/notification.grpc.pb.h"
#include "care/promotion/v1/promotion.grpc.pb.h"
#include "tests/integration/loyalty_fixture.h"
#include "tests/integration/replicas_fixture.h"

namespace care::testing {
namespace {

namespace pv1 = ::care::promotion::v1;
namespace kv1 = ::care::complaint::v1;

// The loyalty tests' program (a protected helper of their fixture).
struct Programs : LoyaltyTest {
  using LoyaltyTest::DefaultProgram;
};

class ReplicasStartupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!TestPostgres()) GTEST_SKIP() << kSkipOnSqlite;
    ASSERT_TRUE(redis_.ok()) << redis_.status();
    tokens_ = WriteTokens(dir_.path());
    std::ofstream(dir_.path() + "/quote_secret") << "test-1 test-quote-secret-0123456789abcdef0123456789\n";
  }

  // Flags every service gets, plus its own peer token file and `extra`.
  std::vector<std::string> Args(const std::string& name, const std::string& peer_token,
                                const std::vector<std::string>& extra) {
    std::vector<std::string> args{"--fake_clock", "--redis_port=" + std::to_string(redis_.port()),
                                  "--service_token_file=" + WriteTokenFile(dir_.path(), name, peer_token),
                                  "--log_level=warn"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  TempDir dir_;
  Tokens tokens_;
  RedisServer redis_;
};

TEST_F(ReplicasStartupTest, AllReplicasOfAllServicesStartedAtOnceOnEmptyDatabasesComeUpAndAnswer) {
  Replicas loyalty(CARE_LOYALTY_BIN, "care.loyalty.v1.LoyaltyService", kReplicaCount, {}, tokens_);
  Replicas promotion(CARE_PROMOTION_BIN, "care.promotion.v1.PromotionService", kReplicaCount, {}, tokens_);
  Replicas complaint(CARE_COMPLAINT_BIN, "care.complaint.v1.ComplaintService", kReplicaCount, {}, tokens_);
  Replicas notification(CARE_NOTIFICATION_BIN, "care.notification.v1.NotificationService", kReplicaCount, {}, tokens_);
  // Fixed ports, so each service's peers are named before any of them runs.
  std::vector<int> loyalty_ports = FreePorts(kReplicaCount);
  std::vector<int> notification_ports = FreePorts(kReplicaCount);
  std::vector<int> promotion_ports = FreePorts(kReplicaCount);
  const std::string to_loyalty = "--loyalty_target=" + TargetOf(loyalty_ports);
  const std::string to_notification = "--notification_target=" + TargetOf(notification_ports);
  PinPorts(loyalty, loyalty_ports, Args("loyalty", tokens_.peer_loyalty, {to_notification}));
  PinPorts(promotion, promotion_ports,
           Args("promotion", tokens_.peer_promotion,
                {to_loyalty, to_notification, "--quote_token_secret_file=" + dir_.path() + "/quote_secret"}));
  PinPorts(complaint, Args("complaint", tokens_.peer_complaint,
                           {to_loyalty, to_notification, "--promotion_target=" + TargetOf(promotion_ports)}));
  PinPorts(notification, notification_ports,
           Args("notification", tokens_.peer_notification, {to_loyalty, "--egress_allowlist=127.0.0.1/32"}));

  std::vector<ServiceProcess*> all;
  for (Replicas* r : {&loyalty, &promotion, &complaint, &notification}) {
    for (ServiceProcess* p : Processes(*r)) all.push_back(p);
  }
  absl::Status started = StartTogether(all, absl::Seconds(100));
  ASSERT_TRUE(started.ok()) << started;

  // Each replica writes; every replica reads what each wrote.
  auto loyalty_stubs = StubsOf<lv1::LoyaltyService>(loyalty);
  auto complaint_stubs = StubsOf<kv1::ComplaintService>(complaint);
  lv1::UpdateProgramRequest program;
  program.set_request_id("program-1");
  *program.mutable_program() = Programs::DefaultProgram();
  lv1::Program configured;
  grpc::Status configure = loyalty_stubs[0]->UpdateProgram(Ctx(tokens_.admin).get(), program, &configured);
  ASSERT_TRUE(configure.ok()) << Describe(configure);
  for (int i = 0; i < kReplicaCount; ++i) {
    lv1::EnrolMemberRequest enrol;
    enrol.set_request_id(absl::StrCat("enrol-", i));
    enrol.mutable_member()->set_member_id(absl::StrCat("m", i));
    enrol.mutable_member()->set_name("Member");
    enrol.mutable_member()->set_email(absl::StrCat("m", i, "@example.com"));
    lv1::Member member;
    grpc::Status s = loyalty_stubs[i]->EnrolMember(Ctx(tokens_.service).get(), enrol, &member);
    EXPECT_TRUE(s.ok()) << "loyalty " << i << ": " << Describe(s);

    kv1::CreateBusinessCalendarRequest calendar;
    calendar.set_request_id(absl::StrCat("cal-", i));
    calendar.mutable_calendar()->set_calendar_id(absl::StrCat("cal-", i));
    calendar.mutable_calendar()->set_time_zone("UTC");
    kv1::BusinessHours* hours = calendar.mutable_calendar()->add_weekly_hours();
    hours->set_day(kv1::WEEKDAY_MONDAY);
    hours->mutable_start()->set_hours(9);
    hours->mutable_end()->set_hours(17);
    kv1::BusinessCalendar made;
    s = complaint_stubs[i]->CreateBusinessCalendar(Ctx(tokens_.admin).get(), calendar, &made);
    EXPECT_TRUE(s.ok()) << "complaint " << i << ": " << Describe(s);
  }
  for (int reader = 0; reader < kReplicaCount; ++reader) {
    for (int writer = 0; writer < kReplicaCount; ++writer) {
      lv1::GetMemberRequest get;
      get.set_member_id(absl::StrCat("m", writer));
      lv1::Member member;
      grpc::Status s = loyalty_stubs[reader]->GetMember(Ctx(tokens_.service).get(), get, &member);
      EXPECT_TRUE(s.ok()) << "loyalty " << reader << ": " << Describe(s);
      kv1::GetBusinessCalendarRequest cal;
      cal.set_calendar_id(absl::StrCat("cal-", writer));
      kv1::BusinessCalendar calendar;
      s = complaint_stubs[reader]->GetBusinessCalendar(Ctx(tokens_.admin).get(), cal, &calendar);
      EXPECT_TRUE(s.ok()) << "complaint " << reader << ": " << Describe(s);
    }
  }
  auto promotion_stubs = StubsOf<pv1::PromotionService>(promotion);
  auto notification_stubs = StubsOf<nv1::NotificationService>(notification);
  for (int i = 0; i < kReplicaCount; ++i) {
    pv1::ListCampaignsRequest list;
    pv1::ListCampaignsResponse campaigns;
    grpc::Status s = promotion_stubs[i]->ListCampaigns(Ctx(tokens_.admin).get(), list, &campaigns);
    EXPECT_TRUE(s.ok()) << "promotion " << i << ": " << Describe(s);
    nv1::ListInboxRequest inbox;
    inbox.set_member_id("m0");
    nv1::ListInboxResponse messages;
    s = notification_stubs[i]->ListInbox(Ctx(tokens_.service).get(), inbox, &messages);
    EXPECT_TRUE(s.ok()) << "notification " << i << ": " << Describe(s);
  }
}

}  // namespace
}  // namespace care::testing
