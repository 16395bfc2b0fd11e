// Two care_promotion processes on one PostgreSQL database: a campaign
// created, changed or cancelled through one is in the other's quotes within
// the contract's bound (1 second), and redemptions through both share the
// limits exactly.
#include <atomic>
#include <functional>
#include <thread>

#include "tests/integration/promotion_fixture.h"

namespace care::testing {
namespace {

constexpr absl::Duration kBound = absl::Seconds(1);

class PromotionReplicasTest : public PromotionTest {
 protected:
  void SetUp() override {
    PromotionTest::SetUp();
    if (HasFatalFailure()) return;
    auto cluster = TestPostgres();
    if (!cluster) GTEST_SKIP() << "several writers of one database: PostgreSQL only (SQLite has one writer)";
    auto url = CreateTestDatabase(*cluster);
    ASSERT_TRUE(url.ok()) << url.status();
    const std::vector<std::string> shared{"--database_url=" + *url,
                                          "--database_password_file=" + cluster->password_file};
    StartPromotion("", shared);
    if (HasFatalFailure()) return;
    other_ = std::make_unique<ServiceProcess>(CARE_PROMOTION_BIN, kPromotionHealth, PromotionArgs("", shared), tokens_);
    absl::Status started = other_->Start();
    ASSERT_TRUE(started.ok()) << started;
    other_stub_ = pv1::PromotionService::NewStub(other_->channel());
    auto clock = care::common::v1::ClockControl::NewStub(other_->channel());
    care::common::v1::SetTimeRequest req;
    *req.mutable_time() = ToTimestamp(Base());
    care::common::v1::GetTimeResponse r;
    grpc::Status s = clock->SetTime(Ctx(admin()).get(), req, &r);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  // The other replica's quote of a one-line 100.00 guest cart.
  pv1::QuoteResponse OtherQuote() {
    pv1::QuoteResponse out;
    grpc::Status s = other_stub_->Quote(Ctx(svc()).get(), Cart("", {CartLine("a", "X", "x", 1, 10000)}), &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  // Quotes on the other replica from `changed` (when the change was
  // acknowledged) until `seen` holds; every quote begun after the bound
  // must see it. Returns how long it took.
  absl::Duration SeenWithinBound(absl::Time changed, const std::function<bool(const pv1::QuoteResponse&)>& seen) {
    for (;;) {
      const absl::Time begun = absl::Now();
      if (seen(OtherQuote())) return begun - changed;
      if (begun - changed > kBound) {
        ADD_FAILURE() << "a quote begun " << (begun - changed) << " after the change does not reflect it";
        return begun - changed;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  }

  grpc::Status Update(const std::string& id, int bps, pv1::Campaign* out) {
    pv1::UpdateCampaignRequest req;
    req.set_request_id(absl::StrCat("update-", id, "-", bps));
    req.mutable_campaign()->set_campaign_id(id);
    *req.mutable_campaign()->add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() =
        Percent(bps);
    req.mutable_update_mask()->add_paths("rules");
    return promo().UpdateCampaign(Ctx(admin()).get(), req, out);
  }

  grpc::Status Cancel(const std::string& id, pv1::Campaign* out) {
    pv1::CancelCampaignRequest req;
    req.set_request_id("cancel-" + id);
    req.set_campaign_id(id);
    req.set_reason("test");
    return promo().CancelCampaign(Ctx(admin()).get(), req, out);
  }

  static int64_t Discount(const pv1::QuoteResponse& q) {
    return q.applied_campaigns_size() == 1 ? q.applied_campaigns(0).discount().amount_minor() : 0;
  }

  std::unique_ptr<ServiceProcess> other_;
  std::unique_ptr<pv1::PromotionService::Stub> other_stub_;
};

TEST_F(PromotionReplicasTest, CampaignChangesThroughOneReplicaReachTheOthersQuotesWithinOneSecond) {
  // The other replica has quoted (its index is fresh) before each change,
  // so what it sees afterwards comes from its refresh, not its start-up.
  EXPECT_EQ(OtherQuote().applied_campaigns_size(), 0);
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
  Live("spread", c);
  absl::Time changed = absl::Now();
  absl::Duration took = SeenWithinBound(changed, [](const pv1::QuoteResponse& q) { return Discount(q) == 1000; });
  RecordProperty("created_seen_ms", static_cast<int>(absl::ToInt64Milliseconds(took)));

  pv1::Campaign out;
  grpc::Status s = Update("spread", 2000, &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  changed = absl::Now();
  took = SeenWithinBound(changed, [](const pv1::QuoteResponse& q) { return Discount(q) == 2000; });
  RecordProperty("updated_seen_ms", static_cast<int>(absl::ToInt64Milliseconds(took)));
  // The other replica's token names the new version: it redeems there and here.
  pv1::QuoteResponse q = OtherQuote();
  ASSERT_EQ(q.applied_campaigns_size(), 1);
  EXPECT_EQ(q.applied_campaigns(0).campaign_version(), out.version());
  pv1::Redemption r;
  s = Redeem("order-1", q.quote_token(), &r);
  EXPECT_TRUE(s.ok()) << Describe(s);

  s = Cancel("spread", &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  changed = absl::Now();
  took = SeenWithinBound(changed, [](const pv1::QuoteResponse& q) { return q.applied_campaigns_size() == 0; });
  RecordProperty("cancelled_seen_ms", static_cast<int>(absl::ToInt64Milliseconds(took)));
}

TEST_F(PromotionReplicasTest, RedemptionsSpreadOverBothReplicasShareTheBudgetExactly) {
  // Budget 100,000 at 1,000 an order: exactly 100 of 160 fit, whichever
  // replica takes them.
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  c.mutable_limits()->mutable_max_discount_total()->CopyFrom(Usd(100000));
  *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
  Live("shared", c);
  std::vector<std::string> tokens;
  tokens.reserve(160);
  for (int i = 0; i < 160; ++i) tokens.push_back(Quote(Cart("", {CartLine("a", "X", "x", 1, 10000)})).quote_token());
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  std::vector<grpc::Status> failures(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    threads.emplace_back([&, i] {
      pv1::RedeemQuoteRequest req;
      req.set_order_id(absl::StrCat("order-", i));
      req.set_quote_token(tokens[i]);
      pv1::Redemption r;
      auto& stub = i % 2 == 0 ? promo() : *other_stub_;
      grpc::Status s = stub.RedeemQuote(Ctx(svc()).get(), req, &r);
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
      EXPECT_EQ(Reason(s), "BUDGET_EXHAUSTED") << Describe(s);
    }
  }
  EXPECT_EQ(ok.load(), 100);
  pv1::CampaignReport rep = Report("shared");
  EXPECT_EQ(rep.discount_given().amount_minor(), 100000);
  EXPECT_EQ(rep.budget_left().amount_minor(), 0);
}

}  // namespace
}  // namespace care::testing
