// Three care_promotion replicas on one PostgreSQL database: concurrent
// redemptions quoted and redeemed on different replicas use a voucher and a
// budget exactly, to the minor unit, none twice.
#include "tests/integration/promotion_fixture.h"
#include "tests/integration/replicas_fixture.h"

namespace care::testing {
namespace {

class ReplicasPromotionTest : public PromotionTest {
 protected:
  void SetUp() override {
    if (!TestPostgres()) GTEST_SKIP() << kSkipOnSqlite;
    PromotionTest::SetUp();  // one loyalty (tiers), configured
    if (HasFatalFailure()) return;
    WriteQuoteKeys(quote_keys_);
    std::vector<std::string> args{"--fake_clock",
                                  "--redis_port=" + std::to_string(redis_.port()),
                                  "--loyalty_target=" + service_->address(),
                                  "--service_token_file=" + dir_.path() + "/promotion_token",
                                  "--quote_token_secret_file=" + dir_.path() + "/quote_secret",
                                  "--outbox_interval=50ms",
                                  "--log_level=warn"};
    promos_ = std::make_unique<Replicas>(CARE_PROMOTION_BIN, kPromotionHealth, kReplicaCount, args, tokens_);
    // Replica 0 first: the campaigns are made before the others start and
    // load them (how a change reaches running replicas is another test's).
    absl::Status started = StartTogether({&(*promos_)[0]});
    ASSERT_TRUE(started.ok()) << started;
    pstub_ = pv1::PromotionService::NewStub((*promos_)[0].channel());
    pclock_ = care::common::v1::ClockControl::NewStub((*promos_)[0].channel());
    SetPromoTime(Base());
  }

  // Starts the other replicas, once the campaigns exist.
  void StartOthers() {
    std::vector<ServiceProcess*> others;
    for (size_t i = 1; i < promos_->size(); ++i) others.push_back(&(*promos_)[i]);
    absl::Status started = StartTogether(others);
    ASSERT_TRUE(started.ok()) << started;
    SetClocks(*promos_, Base(), admin());
    stubs_ = StubsOf<pv1::PromotionService>(*promos_);
  }

  pv1::PromotionService::Stub& on(size_t replica) { return *stubs_[replica % stubs_.size()]; }

  // Quotes `carts` round-robin over the replicas; each must apply `campaign`.
  std::vector<pv1::QuoteResponse> QuoteAll(const std::vector<pv1::QuoteRequest>& carts, const std::string& campaign) {
    std::vector<pv1::QuoteResponse> quotes(carts.size());
    for (size_t i = 0; i < carts.size(); ++i) {
      grpc::Status s = on(i).Quote(Ctx(svc()).get(), carts[i], &quotes[i]);
      EXPECT_TRUE(s.ok()) << "replica " << i % stubs_.size() << ": " << Describe(s);
      EXPECT_TRUE(Applied(quotes[i], campaign)) << "replica " << i % stubs_.size();
    }
    return quotes;
  }

  // Redeems every quote at once, each order on the replica after the one
  // that quoted it (a retry after ABORTED on the next one). Every refusal
  // must carry `refusal`; returns the redemptions, empty where refused.
  std::vector<std::optional<pv1::Redemption>> RedeemAll(const std::vector<pv1::QuoteResponse>& quotes,
                                                        const std::string& refusal) {
    std::vector<std::optional<pv1::Redemption>> out(quotes.size());
    std::vector<grpc::Status> status(quotes.size());
    RunConcurrently(static_cast<int>(quotes.size()), static_cast<int>(quotes.size()), [&](int i) {
      pv1::RedeemQuoteRequest req;
      req.set_order_id(absl::StrCat("order-", i));
      req.set_quote_token(quotes[i].quote_token());
      pv1::Redemption r;
      status[i] = RetryAborted([&](int attempt) { return on(i + 1 + attempt).RedeemQuote(Ctx(svc()).get(), req, &r); });
      if (status[i].ok()) out[i] = r;
    });
    for (const grpc::Status& s : status) {
      if (!s.ok()) {
        EXPECT_EQ(Reason(s), refusal) << Describe(s);
      }
    }
    return out;
  }

  static int Count(const std::vector<std::optional<pv1::Redemption>>& redemptions) {
    int n = 0;
    for (const auto& r : redemptions) n += r.has_value() ? 1 : 0;
    return n;
  }

  pv1::Voucher GetVoucherOn(size_t replica, const std::string& code) {
    pv1::GetVoucherRequest req;
    req.set_code(code);
    pv1::Voucher out;
    grpc::Status s = on(replica).GetVoucher(Ctx(svc()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  std::unique_ptr<Replicas> promos_;
  std::vector<std::unique_ptr<pv1::PromotionService::Stub>> stubs_;
};

TEST_F(ReplicasPromotionTest, HundredRedemptionsOfATenUseVoucherOverThreeReplicasUseItExactlyTenTimes) {
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  c.set_voucher_required(true);
  *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
  Live("vip-code", c);
  pv1::GenerateVouchersRequest gen;
  gen.set_request_id("gen-1");
  gen.set_campaign_id("vip-code");
  gen.set_count(1);
  gen.set_max_uses(10);
  pv1::GenerateVouchersResponse generated;
  ASSERT_TRUE(promo().GenerateVouchers(Ctx(admin()).get(), gen, &generated).ok());
  const std::string code = generated.vouchers(0).code();
  StartOthers();
  if (HasFatalFailure()) return;

  std::vector<pv1::QuoteRequest> carts;
  for (int i = 0; i < 100; ++i) {
    carts.push_back(Cart("", {CartLine("a", "X", "x", 1, 1000 + i)}));
    carts.back().add_voucher_codes(code);
  }
  std::vector<std::optional<pv1::Redemption>> redeemed = RedeemAll(QuoteAll(carts, "vip-code"), "VOUCHER_EXHAUSTED");
  EXPECT_EQ(Count(redeemed), 10);
  for (size_t r = 0; r < stubs_.size(); ++r) {
    pv1::Voucher v = GetVoucherOn(r, code);
    EXPECT_EQ(v.uses(), 10) << "replica " << r;
    EXPECT_EQ(v.state(), pv1::VOUCHER_STATE_EXHAUSTED) << "replica " << r;
  }
  pv1::CampaignReport report = Report("vip-code");
  EXPECT_EQ(report.redemptions(), 10);
}

TEST_F(ReplicasPromotionTest, HundredRedemptionsAgainstABudgetOverThreeReplicasNeverExceedItByOneMinorUnit) {
  // Budget 10,000; each order is quoted 333 off (10% of 33.33): 30 orders
  // fit (9,990), a 31st would exceed it by 323.
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  c.mutable_limits()->mutable_max_discount_total()->CopyFrom(Usd(10000));
  *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
  Live("budget", c);
  StartOthers();
  if (HasFatalFailure()) return;

  std::vector<pv1::QuoteRequest> carts(100, Cart("", {CartLine("a", "X", "x", 1, 3333)}));
  std::vector<pv1::QuoteResponse> quotes = QuoteAll(carts, "budget");
  for (const auto& q : quotes) ASSERT_EQ(q.applied_campaigns(0).discount().amount_minor(), 333);
  std::vector<std::optional<pv1::Redemption>> redeemed = RedeemAll(quotes, "BUDGET_EXHAUSTED");
  EXPECT_EQ(Count(redeemed), 30);
  int64_t given = 0;
  for (const auto& r : redeemed) {
    if (r) given += r->totals().total_discount().amount_minor();
  }
  EXPECT_EQ(given, 9990);
  for (size_t r = 0; r < stubs_.size(); ++r) {
    pv1::GetCampaignReportRequest req;
    req.set_campaign_id("budget");
    pv1::CampaignReport report;
    ASSERT_TRUE(on(r).GetCampaignReport(Ctx(admin()).get(), req, &report).ok());
    EXPECT_EQ(report.redemptions(), 30) << "replica " << r;
    EXPECT_EQ(report.discount_given().amount_minor(), 9990) << "replica " << r;
    EXPECT_EQ(report.budget_left().amount_minor(), 10) << "replica " << r;
  }
}

}  // namespace
}  // namespace care::testing
