// Client-side balancing over replicas: care_promotion reaches two care_loyalty
// processes through one `ipv4:` target, spread round-robin over
// health-checked connections. Killing either replica (-9) while quotes are
// in flight fails no quote: its calls go to the other one. carectl takes the
// same targets, and a target that is not one stops a service at start-up.
#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "tests/integration/promotion_fixture.h"

namespace care::testing {
namespace {

class LbFailoverTest : public PromotionTest {
 protected:
  // Each replica keeps its port across a restart, as a pod's address in an
  // ipv4: list would.
  std::vector<std::string> ExtraArgs() override { return {"--port=" + std::to_string(port1_)}; }

  void SetUp() override {
    PromotionTest::SetUp();
    if (HasFatalFailure()) return;
    MakeTier("ann", "silver");
    // The second replica has a database of its own, holding the same
    // program and member, so that either replica answers alike.
    second_ = std::make_unique<ServiceProcess>(
        CARE_LOYALTY_BIN, kLoyaltyHealth,
        std::vector<std::string>{"--fake_clock", "--redis_port=" + std::to_string(redis_.port()),
                                 "--port=" + std::to_string(port2_), "--log_level=warn"},
        tokens_);
    absl::Status started = second_->Start();
    ASSERT_TRUE(started.ok()) << started;
    OnSecond([&] {
      SetTime(Base());
      Configure();
      MakeTier("ann", "silver");
    });
    if (HasFatalFailure()) return;
    // Promotion reads a tier cache of its own, which stays empty: every
    // member's tier is asked of loyalty, through the balanced target.
    ASSERT_TRUE(promo_redis_.ok()) << promo_redis_.status();
    StartPromotion("", {"--redis_port=" + std::to_string(promo_redis_.port()), "--loyalty_target=" + Target()});
    if (HasFatalFailure()) return;
    Live("tiers", TierCampaign());
  }

  std::string Target() const { return absl::StrCat("ipv4:127.0.0.1:", port1_, ",127.0.0.1:", port2_); }

  // Runs `fn` with the fixture's loyalty helpers pointed at the second replica.
  template <typename Fn>
  void OnSecond(Fn fn) {
    std::swap(service_, second_);
    Connect();
    fn();
    std::swap(service_, second_);
    Connect();
  }

  // A member quote that needs ann's tier (silver: 10% off).
  grpc::Status TierQuote(pv1::QuoteResponse* out) {
    return promo().Quote(Ctx(svc()).get(), Cart("ann", {CartLine("l1", "SHOE-1", "shoes", 1, 10000)}), out);
  }

  // Quotes from 4 threads until stopped; every failure is recorded.
  class QuoteLoad {
   public:
    explicit QuoteLoad(LbFailoverTest& t) {
      for (int i = 0; i < 4; ++i) {
        threads_.emplace_back([this, &t] {
          while (!stop_.load()) {
            pv1::QuoteResponse q;
            grpc::Status s = t.TierQuote(&q);
            std::lock_guard lock(mu_);
            if (s.ok() && Applied(q, "tiers")) {
              ++ok_;
            } else {
              failures_.push_back(s.ok() ? "the tier campaign was not applied" : Describe(s));
            }
          }
        });
      }
    }
    // Stops the threads; the failures seen.
    std::vector<std::string> Stop() {
      stop_ = true;
      for (auto& t : threads_) t.join();
      return failures_;
    }
    int ok() {
      std::lock_guard lock(mu_);
      return ok_;
    }

   private:
    std::atomic<bool> stop_{false};
    std::vector<std::thread> threads_;
    std::mutex mu_;
    int ok_ = 0;
    std::vector<std::string> failures_;
  };

  // Quotes keep coming while `kill` runs; none may fail.
  void ExpectNoFailedQuoteAcross(const std::function<void()>& kill) {
    QuoteLoad load(*this);
    ASSERT_TRUE(Eventually([&] { return load.ok() >= 20; }));
    kill();
    int at_kill = load.ok();
    ASSERT_TRUE(Eventually([&] { return load.ok() >= at_kill + 100; }, absl::Seconds(20)));
    std::vector<std::string> failures = load.Stop();
    EXPECT_TRUE(failures.empty()) << failures.size() << " quotes failed, the first: " << failures.front();
  }

  int port1_ = FreePort();
  int port2_ = FreePort();
  RedisServer promo_redis_;
  std::unique_ptr<ServiceProcess> second_;
};

TEST_F(LbFailoverTest, QuotesKeepSucceedingWhileEitherLoyaltyReplicaIsKilled) {
  for (int i = 0; i < 10; ++i) {
    pv1::QuoteResponse q;
    grpc::Status s = TierQuote(&q);
    ASSERT_TRUE(s.ok()) << Describe(s);
    EXPECT_TRUE(Applied(q, "tiers"));
  }
  // The first replica dies under load: its calls go to the second.
  ExpectNoFailedQuoteAcross([&] { service_->Kill(); });
  if (HasFatalFailure()) return;

  // It comes back on its address, and the promotion's channel takes it back
  // into the rotation (reconnect backoff at most 5 seconds); then the second
  // dies, and the first carries every call alone.
  absl::Status restarted = service_->Start();
  ASSERT_TRUE(restarted.ok()) << restarted;
  absl::SleepFor(absl::Seconds(6));
  ExpectNoFailedQuoteAcross([&] { second_->Kill(); });
}

TEST_F(LbFailoverTest, CarectlBalancesOverTheSameTargets) {
  std::string token_file = WriteTokenFile(dir_.path(), "operator", svc());
  auto tier = [&] {
    return RunToExit({CARECTL_BIN, "--target=" + Target(), "--token_file=" + token_file, "loyalty", "tier", "ann"});
  };
  Exited both = tier();
  EXPECT_EQ(both.code, 0) << both.log;
  EXPECT_TRUE(absl::StrContains(both.log, "silver")) << both.log;
  service_->Kill();
  for (int i = 0; i < 3; ++i) {
    Exited one = tier();
    EXPECT_EQ(one.code, 0) << one.log;
    EXPECT_TRUE(absl::StrContains(one.log, "silver")) << one.log;
  }
}

TEST_F(LbFailoverTest, ATargetThatIsNotOneStopsStartUp) {
  for (const char* target : {"ipv4:127.0.0.1:1,nonsense", "dns:///no-port", "127.0.0.1"}) {
    Exited e = RunToExit(ServiceArgv(CARE_PROMOTION_BIN, tokens_.file, dir_.path() + "/bad",
                                     {std::string("--loyalty_target=") + target,
                                      "--redis_port=" + std::to_string(redis_.port())}));
    EXPECT_EQ(e.code, 2) << target << "\n" << e.log;
    EXPECT_TRUE(absl::StrContains(e.log, "loyalty_target")) << e.log;
  }
}

}  // namespace
}  // namespace care::testing
