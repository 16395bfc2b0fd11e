// Limits and budgets under concurrent redemptions through the real binary:
// each order redeems its own quote, all at once.
#include <atomic>
#include <thread>

#include "tests/harness/scrape.h"
#include "tests/integration/promotion_fixture.h"

namespace care::testing {
namespace {

class PromotionConcurrencyTest : public PromotionTest {
 protected:
  void SetUp() override {
    PromotionTest::SetUp();
    if (HasFatalFailure()) return;
    StartPromotion("", {"--metrics_port=0", "--metrics_port_file=" + dir_.path() + "/promo_metrics_port"});
  }

  // Write transactions PostgreSQL ran again after a serialization conflict.
  double ConflictRetries() {
    auto body = HttpGet(std::stoi(ReadFile(dir_.path() + "/promo_metrics_port")), "/metrics");
    EXPECT_TRUE(body.ok()) << body.status();
    return Sample(ParseExposition(body.ok() ? *body : ""), "care_sql_conflict_retries_total{outcome=\"retried\"}");
  }

  // Redeems `tokens` concurrently (one order each); returns the successes
  // and checks every failure is the expected refusal.
  int RedeemAll(const std::vector<std::string>& tokens, const std::string& refusal) {
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    std::vector<grpc::Status> failures(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
      threads.emplace_back([&, i] {
        pv1::RedeemQuoteRequest req;
        req.set_order_id(absl::StrCat("order-", i));
        req.set_quote_token(tokens[i]);
        pv1::Redemption r;
        grpc::Status s = promo().RedeemQuote(Ctx(svc()).get(), req, &r);
        if (s.ok()) {
          ok.fetch_add(1);
        } else {
          failures[i] = s;
        }
      });
    }
    for (auto& t : threads) t.join();
    for (const auto& s : failures) {
      if (!s.ok()) {
        EXPECT_EQ(Reason(s), refusal) << Describe(s);
      }
    }
    return ok.load();
  }
};

TEST_F(PromotionConcurrencyTest, HundredRedemptionsOfATenUseCampaignExactlyTenSucceed) {
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  c.mutable_limits()->set_max_redemptions(10);
  *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
  Live("ten-uses", c);
  std::vector<std::string> tokens;
  tokens.reserve(100);
  for (int i = 0; i < 100; ++i) {
    tokens.push_back(Quote(Cart("", {CartLine("a", "X", "x", 1, 1000 + i)})).quote_token());
  }
  EXPECT_EQ(RedeemAll(tokens, "REDEMPTION_LIMIT_REACHED"), 10);
  pv1::CampaignReport rep = Report("ten-uses");
  EXPECT_EQ(rep.redemptions(), 10);
  EXPECT_EQ(rep.redemptions_left(), 0);
}

TEST_F(PromotionConcurrencyTest, BudgetIsNeverExceededByOneMinorUnit) {
  // Budget 10,000; each order is quoted 333 off (3.33 of 33.33): at most 30
  // orders fit (9,990), the 31st would exceed by 323.
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  c.mutable_limits()->mutable_max_discount_total()->CopyFrom(Usd(10000));
  *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
  Live("budget", c);
  std::vector<std::string> tokens;
  for (int i = 0; i < 60; ++i) {
    pv1::QuoteResponse q = Quote(Cart("", {CartLine("a", "X", "x", 1, 3333)}));
    ASSERT_EQ(q.applied_campaigns(0).discount().amount_minor(), 333);
    tokens.push_back(q.quote_token());
  }
  EXPECT_EQ(RedeemAll(tokens, "BUDGET_EXHAUSTED"), 30);
  pv1::CampaignReport rep = Report("budget");
  EXPECT_EQ(rep.discount_given().amount_minor(), 9990);
  EXPECT_EQ(rep.budget_left().amount_minor(), 10);
}

TEST_F(PromotionConcurrencyTest, FourHundredRedemptionsOfOneHotCampaignQueueAndStayExact) {
  // Every redemption updates the same usage row: on PostgreSQL they queue
  // on its lock rather than fail at commit and run again (at SERIALIZABLE
  // some lost more than 30 times: ABORTED / CONCURRENT_UPDATE). Budget
  // 100,000 at 333 an order: exactly 300 fit (99,900).
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  c.mutable_limits()->mutable_max_discount_total()->CopyFrom(Usd(100000));
  c.mutable_limits()->set_max_redemptions_per_customer(1);
  *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
  Live("hot", c);
  std::vector<std::string> tokens;
  for (int i = 0; i < 400; ++i) {
    pv1::QuoteRequest req = Cart("", {CartLine("a", "X", "x", 1, 3333)});
    req.mutable_customer()->mutable_guest()->set_guest_key(absl::StrCat("guest-", i));
    pv1::QuoteResponse q = Quote(req);
    ASSERT_EQ(q.applied_campaigns_size(), 1);
    ASSERT_EQ(q.applied_campaigns(0).discount().amount_minor(), 333);
    tokens.push_back(q.quote_token());
  }
  const double retries = ConflictRetries();
  EXPECT_EQ(RedeemAll(tokens, "BUDGET_EXHAUSTED"), 300);
  // They waited for the lock: none lost a conflict and ran again.
  EXPECT_EQ(ConflictRetries() - retries, 0);
  pv1::CampaignReport rep = Report("hot");
  EXPECT_EQ(rep.redemptions(), 300);
  EXPECT_EQ(rep.discount_given().amount_minor(), 99900);
  EXPECT_EQ(rep.budget_left().amount_minor(), 100);
}

}  // namespace
}  // namespace care::testing
