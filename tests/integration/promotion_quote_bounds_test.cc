// Issue 15: the largest cart the contract accepts is priced arithmetically
// (defect 2) and money beyond the documented bound is refused naming the
// field, never wrapped (defect 5); through the real care_promotion.
#include <cstdint>
#include <limits>

#include "tests/integration/promotion_fixture.h"

namespace care::testing {
namespace {

constexpr int64_t kMaxMoney = 1'000'000'000'000'000;  // common/bounds.h kMaxMoneyMinor

class PromotionQuoteBoundsTest : public PromotionTest {
 protected:
  void SetUp() override {
    PromotionTest::SetUp();
    if (HasFatalFailure()) return;
    StartPromotion();
  }

  // The status of a quote expected to fail.
  grpc::Status QuoteStatus(const pv1::QuoteRequest& req) {
    pv1::QuoteResponse out;
    return promo().Quote(Ctx(svc()).get(), req, &out);
  }
};

TEST_F(PromotionQuoteBoundsTest, TheLargestAcceptedCartUnderABundleIsPricedWithOneAdjustmentPerLine) {
  // "Any 2 units of the category for 15.00". 1000 lines x 10,000 units
  // (the contract's maxima); even lines at 7.00, odd lines at 10.00. Cheapest
  // first, the 7.00 units make 2.5M sets worth 14.00 each, already below the
  // bundle price (nothing off), and the 10.00 units 2.5M sets worth 20.00
  // each (5.00 off): 12,500,000.00 off, spread by value over the odd lines.
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  auto* bundle = c.add_rules()->add_effects()->mutable_bundle_price();
  auto* any = bundle->add_components();
  any->mutable_items()->add_categories("bench");
  any->set_quantity(2);
  bundle->mutable_price()->mutable_value()->mutable_fixed_price()->set_amount_minor(1500);
  Live("any-two", c);

  constexpr int kLines = 1000, kUnits = 10000;
  std::vector<pv1::CartLine> lines;
  for (int i = 0; i < kLines; ++i) {
    lines.push_back(CartLine(absl::StrCat("l", i), absl::StrCat("SKU-", i), "bench", kUnits, i % 2 ? 1000 : 700));
  }
  pv1::QuoteRequest req = Cart("", lines);
  req.set_view(pv1::QUOTE_VIEW_FULL);
  pv1::QuoteResponse q = Quote(req);
  ASSERT_EQ(q.lines_size(), kLines);

  int adjustments = 0;
  for (int i = 0; i < kLines; ++i) {
    const pv1::LineResult& l = q.lines(i);
    adjustments += l.adjustments_size();
    if (i % 2 == 0) {
      EXPECT_EQ(l.adjustments_size(), 0) << l.line_id();
      EXPECT_EQ(l.total().amount_minor(), int64_t{700} * kUnits) << l.line_id();
      continue;
    }
    ASSERT_EQ(l.adjustments_size(), 1) << l.line_id();  // one per line and effect, not one per set
    EXPECT_EQ(l.adjustments(0).effect(), pv1::EFFECT_KIND_BUNDLE_PRICE);
    EXPECT_EQ(l.adjustments(0).units(), kUnits);
    EXPECT_EQ(l.adjustments(0).amount().amount_minor(), 2'500'000);  // 5,000 sets x 5.00
    EXPECT_EQ(l.total().amount_minor(), 7'500'000) << l.line_id();
  }
  EXPECT_LE(adjustments, kLines * 1);  // lines x effects
  EXPECT_EQ(adjustments, kLines / 2);
  EXPECT_EQ(q.totals().subtotal().amount_minor(), 8'500'000'000);
  EXPECT_EQ(q.totals().items_discount().amount_minor(), 1'250'000'000);
  EXPECT_EQ(q.totals().total().amount_minor(), 7'250'000'000);
  ASSERT_EQ(q.applied_campaigns_size(), 1);
  EXPECT_EQ(q.applied_campaigns(0).discount().amount_minor(), 1'250'000'000);

  // The BASIC view prices it the same, and the quote redeems.
  req.set_view(pv1::QUOTE_VIEW_BASIC);
  pv1::QuoteResponse basic = Quote(req);
  EXPECT_EQ(basic.totals().total().amount_minor(), 7'250'000'000);
  pv1::Redemption r;
  grpc::Status s = Redeem("order-largest", basic.quote_token(), &r);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(r.totals().total().amount_minor(), 7'250'000'000);
}

TEST_F(PromotionQuoteBoundsTest, TheLargestCartWithTheLongestIdsRedeems) {
  // Every token the service signs must verify: 1000 lines whose line ids
  // (64 characters) and skus (128) are 3-byte Japanese characters bind to
  // about 600 KB, far past the 96 KiB a token was once capped at.
  std::string id64, sku128;
  for (int i = 0; i < 61; ++i) id64 += "\u30c6";     // テ
  for (int i = 0; i < 128; ++i) sku128 += "\u5546";  // 商
  std::vector<pv1::CartLine> lines;
  for (int i = 0; i < 1000; ++i) {
    std::string n = absl::StrCat(1000 + i).substr(1);  // 3 digits: 64 characters in all
    lines.push_back(CartLine(id64 + n, sku128.substr(0, sku128.size() - 9) + n, "x", 1, 100));
  }
  pv1::QuoteResponse q = Quote(Cart("", lines));
  ASSERT_GT(q.quote_token().size(), 96u * 1024);
  pv1::Redemption r;
  grpc::Status s = Redeem("order-longest-ids", q.quote_token(), &r);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(r.totals().total().amount_minor(), 100'000);
}

TEST_F(PromotionQuoteBoundsTest, AMaxInt64UnitPriceIsRefusedNamingTheLine) {
  grpc::Status s = QuoteStatus(Cart("", {CartLine("a", "A", "x", 1, 100),
                                         CartLine("b", "B", "x", 1, std::numeric_limits<int64_t>::max())}));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_EQ(Reason(s), "INVALID_FIELD");
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"lines[1].unit_price.amount_minor"});
}

TEST_F(PromotionQuoteBoundsTest, AQuantityBeyondTheBoundIsRefusedNamingTheLine) {
  grpc::Status s = QuoteStatus(Cart("", {CartLine("a", "A", "x", 10001, 100)}));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"lines[0].quantity"});
}

TEST_F(PromotionQuoteBoundsTest, AHugeShippingIsRefusedNeverANegativeTotal) {
  pv1::QuoteRequest max = Cart("", {CartLine("a", "A", "x", 1, 100)});
  *max.mutable_shipping() = Usd(std::numeric_limits<int64_t>::max());
  grpc::Status s = QuoteStatus(max);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"shipping.amount_minor"});

  // Each amount within the bound, their sum one past it.
  pv1::QuoteRequest over = Cart("", {CartLine("a", "A", "x", 1, 100)}, kMaxMoney - 99);
  s = QuoteStatus(over);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_EQ(Reason(s), "INVALID_FIELD");
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"shipping"});

  // At the bound exactly: priced.
  pv1::QuoteResponse at = Quote(Cart("", {CartLine("a", "A", "x", 1, 100)}, kMaxMoney - 100));
  EXPECT_EQ(at.totals().total().amount_minor(), kMaxMoney);
}

TEST_F(PromotionQuoteBoundsTest, LinesWhoseSumIsJustOverTheBoundAreRefused) {
  // 10^11 x 10,000 = 10^15, the bound itself; one more unit of 0.01 is over.
  pv1::QuoteResponse at = Quote(Cart("", {CartLine("a", "A", "x", 10000, kMaxMoney / 10000)}));
  EXPECT_EQ(at.totals().total().amount_minor(), kMaxMoney);

  grpc::Status s = QuoteStatus(Cart("", {CartLine("a", "A", "x", 10000, kMaxMoney / 10000),
                                         CartLine("b", "B", "x", 1, 1)}));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_EQ(Reason(s), "INVALID_FIELD");
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"lines"});

  // One line whose unit_price x quantity alone is over the bound (each
  // field within its own): the line is named.
  s = QuoteStatus(Cart("", {CartLine("a", "A", "x", 1, 5), CartLine("b", "B", "x", 10000, kMaxMoney / 1000)}));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"lines[1]"});
}

TEST_F(PromotionQuoteBoundsTest, CampaignMoneyBeyondTheBoundIsRefused) {
  pv1::Campaign c = BaseCampaign(Base() + absl::Hours(100));
  c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value()->set_percent_off_bps(100);
  *c.mutable_limits()->mutable_max_discount_total() = Usd(std::numeric_limits<int64_t>::max());
  pv1::Campaign out;
  grpc::Status s = Create("too-big-budget", c, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"campaign.limits.max_discount_total.amount_minor"});
}

}  // namespace
}  // namespace care::testing
