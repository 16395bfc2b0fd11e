// Two care_loyalty processes on one PostgreSQL database and one Redis: a
// tier changed through one is what GetTier answers on the other at once
// (the in-memory tier memo holds only a process's own writes, so it is off
// on PostgreSQL unless asked for), and the Redis entry keeps the newest
// version.
#include "tests/integration/loyalty_fixture.h"

namespace care::testing {
namespace {

class TierMemoReplicasTest : public LoyaltyTest {
 protected:
  std::vector<std::string> ExtraArgs() override {
    cluster_ = TestPostgres();
    if (!cluster_) return {};
    auto url = CreateTestDatabase(*cluster_);
    if (!url.ok()) {
      ADD_FAILURE() << url.status();
      return {};
    }
    shared_ = {"--database_url=" + *url, "--database_password_file=" + cluster_->password_file};
    return shared_;
  }

  void SetUp() override {
    LoyaltyTest::SetUp();
    if (HasFatalFailure()) return;
    if (!cluster_) GTEST_SKIP() << "several writers of one database: PostgreSQL only (SQLite has one writer)";
    std::vector<std::string> args{"--fake_clock", "--redis_port=" + std::to_string(redis_.port()),
                                  "--service_token_file=" + dir_.path() + "/loyalty_token", "--log_level=warn"};
    args.insert(args.end(), shared_.begin(), shared_.end());
    other_ = std::make_unique<ServiceProcess>(CARE_LOYALTY_BIN, kLoyaltyHealth, args, tokens_);
    absl::Status started = other_->Start();
    ASSERT_TRUE(started.ok()) << started;
    other_stub_ = lv1::LoyaltyService::NewStub(other_->channel());
    auto clock = care::common::v1::ClockControl::NewStub(other_->channel());
    care::common::v1::SetTimeRequest req;
    *req.mutable_time() = ToTimestamp(Base());
    care::common::v1::GetTimeResponse r;
    grpc::Status s = clock->SetTime(Ctx(admin()).get(), req, &r);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  lv1::TierSnapshot OtherTier(const std::string& member_id) {
    lv1::GetTierRequest req;
    req.set_member_id(member_id);
    lv1::TierSnapshot out;
    grpc::Status s = other_stub_->GetTier(Ctx(svc()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  std::optional<PostgresCluster> cluster_;
  std::vector<std::string> shared_;
  std::unique_ptr<ServiceProcess> other_;
  std::unique_ptr<lv1::LoyaltyService::Stub> other_stub_;
};

TEST_F(TierMemoReplicasTest, AnUpgradeThroughOneReplicaIsWhatTheOtherAnswers) {
  Configure();
  // Enrolled (and its tier read) through the other replica: a memo there
  // would now hold "member" version 1.
  lv1::EnrolMemberRequest enrol;
  enrol.set_request_id("enrol-ann");
  enrol.mutable_member()->set_member_id("ann");
  enrol.mutable_member()->set_name("Ann");
  enrol.mutable_member()->set_email("ann@example.com");
  lv1::Member member;
  grpc::Status s = other_stub_->EnrolMember(Ctx(svc()).get(), enrol, &member);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(OtherTier("ann").tier_id(), "member");

  lv1::RecordPurchaseResponse upgraded = Purchase("ann", "o-1", 100000);  // through this replica
  ASSERT_TRUE(upgraded.tier_changed());
  lv1::TierSnapshot seen = OtherTier("ann");
  EXPECT_EQ(seen.tier_id(), "silver");
  EXPECT_EQ(seen.version(), 2);
  std::optional<lv1::TierSnapshot> cached = CachedTier("ann");
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ(cached->version(), 2);

  // And back: a change through the other replica is what this one answers.
  lv1::RecordPurchaseResponse gold;
  s = other_stub_->RecordPurchase(Ctx(svc()).get(), PurchaseRequest("ann", "o-2", 500000), &gold);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(GetTier("ann").tier_id(), "gold");
  EXPECT_EQ(OtherTier("ann").tier_id(), "gold");
}

}  // namespace
}  // namespace care::testing
