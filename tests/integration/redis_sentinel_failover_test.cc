// Redis high availability: care_loyalty finds the tier cache's master
// through three Redis Sentinels and follows a failover. The test starts a
// primary, a replica and the sentinels, kills the primary (-9) and checks
// that RecordPurchase and GetTier keep working throughout, that no tier
// read is ever older than the database's (the new master may lack the last
// writes), and that the cache on the new master catches up.
#include <atomic>
#include <mutex>
#include <thread>

#include "tests/harness/redis_sentinel.h"
#include "tests/integration/loyalty_fixture.h"

namespace care::testing {
namespace {

class RedisSentinelFailoverTest : public LoyaltyTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(group_.ok()) << group_.status();
    LoyaltyTest::SetUp();
    if (HasFatalFailure()) return;
    Configure();
  }

  // Sentinels instead of --redis_port; no memo, so every GetTier reads Redis.
  std::vector<std::string> ExtraArgs() override {
    return {"--redis_sentinels=" + group_.sentinels(), "--redis_master_name=" + RedisSentinelGroup::master_name(),
            "--redis_password_file=" + group_.password_file(), "--tier_cache_key_file=" + group_.tier_key_file(),
            "--tier_memo_entries=0"};
  }

  // The member's cached snapshot on data server `server`, read directly.
  std::optional<lv1::TierSnapshot> CachedOn(int server, const std::string& member_id) {
    RedisOptions options;
    options.port = group_.port(server);
    options.password = group_.password();
    options.pool_size = 1;
    options.retry_after = absl::ZeroDuration();
    RedisPool pool(options);
    auto got = pool.GetVersioned(TierCacheKey(member_id));
    if (!got.ok() || !got->has_value()) return std::nullopt;
    lv1::TierSnapshot snapshot;
    if (!snapshot.ParseFromString((*got)->value)) return std::nullopt;
    return snapshot;
  }

  // Reads ann's tier every few milliseconds from another thread until
  // Stop(); what it saw that was not `tier` at `version` or later.
  class Reader {
   public:
    Reader(RedisSentinelFailoverTest& t, std::string tier, int64_t version)
        : thread_([this, &t, tier = std::move(tier), version] {
            while (!stop_.load()) {
              lv1::TierSnapshot out;
              lv1::GetTierRequest req;
              req.set_member_id("ann");
              grpc::Status s = t.stub().GetTier(Ctx(t.svc()).get(), req, &out);
              std::lock_guard lock(mu_);
              ++reads_;
              if (!s.ok()) {
                wrong_.push_back(Describe(s));
              } else if (out.tier_id() != tier || out.version() < version) {
                wrong_.push_back(absl::StrCat(out.tier_id(), " at version ", out.version()));
              }
              absl::SleepFor(absl::Milliseconds(5));
            }
          }) {}
    ~Reader() {
      if (thread_.joinable()) Stop();
    }
    std::vector<std::string> Stop() {
      stop_ = true;
      thread_.join();
      return wrong_;
    }
    int reads() {
      std::lock_guard lock(mu_);
      return reads_;
    }

   private:
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    int reads_ = 0;
    std::vector<std::string> wrong_;
    std::thread thread_;
  };

  RedisSentinelGroup group_;
};

TEST_F(RedisSentinelFailoverTest, LoyaltyFollowsAFailoverWithoutServingAnOlderTier) {
  ASSERT_EQ(group_.NamedMaster(), 0);
  Enrol("ann");
  Purchase("ann", "o-1", 150000);
  lv1::TierSnapshot silver = GetTier("ann");
  ASSERT_EQ(silver.tier_id(), "silver");
  // Written through to the master, and replicated.
  ASSERT_TRUE(Eventually([&] {
    auto cached = CachedOn(0, "ann");
    return cached && cached->version() == silver.version();
  }));
  ASSERT_TRUE(group_.WaitReplicated(0, 1));
  ASSERT_EQ(CachedOn(1, "ann")->tier_id(), "silver");

  // The primary crashes. Until the sentinels promote the replica, loyalty
  // answers from its database; a purchase made now makes ann gold, which
  // the replica (soon the master) does not have.
  group_.KillServer(0);
  Purchase("ann", "o-2", 400000);
  lv1::TierSnapshot gold = GetTier("ann");
  ASSERT_EQ(gold.tier_id(), "gold");
  ASSERT_GT(gold.version(), silver.version());
  // The sentinels promote the replica, which holds silver. From the
  // moment loyalty may switch to it, every read must still say gold.
  absl::StatusOr<int> master = group_.WaitForFailover(0);
  ASSERT_TRUE(master.ok()) << master.status();
  ASSERT_EQ(*master, 1);
  Reader reader(*this, "gold", gold.version());
  absl::SleepFor(absl::Seconds(5));
  int reads = reader.reads();
  std::vector<std::string> wrong = reader.Stop();
  EXPECT_GT(reads, 100);
  EXPECT_TRUE(wrong.empty()) << wrong.size() << " of " << reads << " reads were wrong, the first: " << wrong.front();
  // Loyalty's repair job has written gold to the new master.
  ASSERT_TRUE(Eventually([&] {
    auto cached = CachedOn(1, "ann");
    return cached && cached->tier_id() == "gold" && cached->version() >= gold.version();
  })) << group_.logs()
      << service_->log();

  // Writes after the failover go to the new master directly.
  Purchase("ann", "o-3", 10000);
  lv1::TierSnapshot now = GetTier("ann");
  EXPECT_EQ(now.tier_id(), "gold");
  EXPECT_GT(GetMember("ann").points_balance(), 0);
  ASSERT_TRUE(Eventually([&] {
    auto cached = CachedOn(1, "ann");
    return cached && cached->version() == now.version();
  }));
  ExpectLedgerConsistent("ann");
}

TEST_F(RedisSentinelFailoverTest, SentinelFlagsAreChecked) {
  for (const auto& [flags, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--redis_sentinels=127.0.0.1:1"}, "redis_master_name is required"},
           {{"--redis_master_name=care"}, "redis_master_name needs redis_sentinels"},
           {{"--redis_sentinels=127.0.0.1", "--redis_master_name=care"}, "is not host:port"}}) {
    Exited e = RunToExit(ServiceArgv(CARE_LOYALTY_BIN, tokens_.file, dir_.path() + "/bad", flags));
    EXPECT_EQ(e.code, 2) << e.log;
    EXPECT_TRUE(e.log.find(message) != std::string::npos) << e.log;
  }
}

}  // namespace
}  // namespace care::testing
