// The pricing engine alone (pure domain): stacking order, exact rounding in
// minor units, never below zero.
#include "services/promotion/pricing.h"

#include "common/proto_time.h"
#include "gtest/gtest.h"

namespace care::promotion {
namespace {

namespace v1 = ::care::promotion::v1;

absl::Time Now() { return absl::FromUnixSeconds(1925000000); }

v1::Campaign Camp(const std::string& id, int priority = 0) {
  v1::Campaign c;
  c.set_campaign_id(id);
  c.set_version(1);
  c.set_state(v1::CAMPAIGN_STATE_ACTIVE);
  c.set_currency_code("USD");
  c.set_time_zone("UTC");
  *c.mutable_starts_at() = ToTimestamp(Now() - absl::Hours(1));
  *c.mutable_ends_at() = ToTimestamp(Now() + absl::Hours(1));
  c.mutable_rights()->set_priority(priority);
  return c;
}

v1::Effect* AddEffect(v1::Campaign& c) {
  if (c.rules().empty()) c.add_rules()->set_rule_id("r1");
  return c.mutable_rules(0)->add_effects();
}

PricingInput Input(std::vector<Line> lines, std::vector<const v1::Campaign*> camps) {
  PricingInput in;
  in.now = Now();
  in.currency_code = "USD";
  in.lines = std::move(lines);
  in.candidates = std::move(camps);
  return in;
}

TEST(PromotionPricing, FixedAmountsComeBeforePercentages) {
  // 10% off the cart and 10.00 off the cart: 100.00 - 10.00 = 90.00, then
  // 10% of 90.00 = 9.00 (not 10.00): amounts first, whatever the priority.
  v1::Campaign pct = Camp("pct", 10);
  AddEffect(pct)->mutable_cart_discount()->mutable_value()->mutable_value()->set_percent_off_bps(1000);
  v1::Campaign amt = Camp("amt", 0);
  auto* off = AddEffect(amt)->mutable_cart_discount()->mutable_value()->mutable_value()->mutable_amount_off();
  off->set_amount_minor(1000);
  v1::QuoteResponse out;
  Price(Input({{"l", "A", "", 1, 10000}}, {&pct, &amt}), &out);
  EXPECT_EQ(out.totals().items_discount().amount_minor(), 1900);
  ASSERT_EQ(out.applied_campaigns_size(), 2);
  EXPECT_EQ(out.applied_campaigns(0).campaign_id(), "pct");  // stacking order: priority first
  EXPECT_EQ(out.applied_campaigns(0).discount().amount_minor(), 900);
  EXPECT_EQ(out.applied_campaigns(1).discount().amount_minor(), 1000);
}

TEST(PromotionPricing, ItemLevelBeforeTierBeforeCart) {
  v1::Campaign item = Camp("item");
  auto* d = AddEffect(item)->mutable_item_discount();
  d->mutable_items()->add_skus("A");
  d->mutable_value()->mutable_value()->set_percent_off_bps(5000);
  v1::Campaign cart = Camp("cart");
  AddEffect(cart)->mutable_cart_discount()->mutable_value()->mutable_value()->set_percent_off_bps(1000);
  PricingInput in = Input({{"l", "A", "", 1, 10000}}, {&cart, &item});
  in.shopper.guest = false;
  in.shopper.tier_id = "gold";
  in.shopper.tier_discount_bps = 1000;
  v1::QuoteResponse out;
  Price(in, &out);
  // 100.00 -> item 50% -> 50.00 -> tier 10% -> 45.00 -> cart 10% -> 40.50.
  EXPECT_EQ(out.lines(0).total().amount_minor(), 4050);
  EXPECT_EQ(out.totals().tier_discount().amount_minor(), 500);
}

TEST(PromotionPricing, PercentagesRoundDownPerLineAndAmountsSplitExactly) {
  v1::Campaign pct = Camp("pct");
  AddEffect(pct)->mutable_cart_discount()->mutable_value()->mutable_value()->set_percent_off_bps(3333);
  v1::QuoteResponse out;
  Price(Input({{"a", "A", "", 1, 1}, {"b", "B", "", 1, 299}}, {&pct}), &out);
  EXPECT_EQ(out.lines(0).discount().amount_minor(), 0);   // floor(0.3333)
  EXPECT_EQ(out.lines(1).discount().amount_minor(), 99);  // floor(99.66)

  EXPECT_EQ(SplitLargestRemainder(100, {100, 100, 100}), (std::vector<int64_t>{34, 33, 33}));
  EXPECT_EQ(SplitLargestRemainder(10, {3, 3, 4}), (std::vector<int64_t>{3, 3, 4}));
  EXPECT_EQ(SplitLargestRemainder(1000, {10, 20}), (std::vector<int64_t>{10, 20}));  // capped at the sum
  EXPECT_EQ(PercentOf(int64_t{1} << 50, 10000), int64_t{1} << 50);
}

TEST(PromotionPricing, NeverBelowZero) {
  v1::Campaign big = Camp("big");
  big.mutable_rules();
  auto* off = AddEffect(big)->mutable_cart_discount()->mutable_value()->mutable_value()->mutable_amount_off();
  off->set_amount_minor(1000000);
  v1::Campaign item = Camp("item");
  auto* d = AddEffect(item)->mutable_item_discount();
  d->mutable_items()->add_skus("A");
  d->mutable_value()->mutable_value()->mutable_amount_off()->set_amount_minor(99999);
  v1::QuoteResponse out;
  PricingInput in = Input({{"a", "A", "", 2, 500}, {"b", "B", "", 1, 700}}, {&big, &item});
  in.shipping = 300;
  Price(in, &out);
  for (const auto& l : out.lines()) EXPECT_EQ(l.total().amount_minor(), 0);
  EXPECT_EQ(out.totals().items_total().amount_minor(), 0);
  EXPECT_EQ(out.totals().total().amount_minor(), 300);  // shipping untouched
  EXPECT_EQ(out.totals().total_discount().amount_minor(), 1700);
}

TEST(PromotionPricing, ExclusiveCampaignStandsAlone) {
  v1::Campaign excl = Camp("excl", 5);
  excl.mutable_rights()->set_stacking(v1::STACKING_MODE_EXCLUSIVE);
  AddEffect(excl)->mutable_cart_discount()->mutable_value()->mutable_value()->set_percent_off_bps(2000);
  v1::Campaign other = Camp("other", 1);
  AddEffect(other)->mutable_cart_discount()->mutable_value()->mutable_value()->set_percent_off_bps(1000);
  v1::QuoteResponse out;
  Price(Input({{"a", "A", "", 1, 1000}}, {&other, &excl}), &out);
  ASSERT_EQ(out.applied_campaigns_size(), 1);
  EXPECT_EQ(out.applied_campaigns(0).campaign_id(), "excl");
  ASSERT_EQ(out.rejected_campaigns_size(), 1);
  EXPECT_EQ(out.rejected_campaigns(0).reason(), v1::REJECTION_REASON_EXCLUDED_BY_EXCLUSIVE);
  EXPECT_EQ(out.rejected_campaigns(0).blocking_campaign_id(), "excl");
}

TEST(PromotionPricing, PerOrderCapCutsTheCampaign) {
  v1::Campaign c = Camp("capped");
  c.mutable_limits()->mutable_max_discount_per_order()->set_amount_minor(150);
  AddEffect(c)->mutable_cart_discount()->mutable_value()->mutable_value()->set_percent_off_bps(5000);
  v1::QuoteResponse out;
  Price(Input({{"a", "A", "", 1, 1000}}, {&c}), &out);
  EXPECT_EQ(out.totals().items_discount().amount_minor(), 150);
  EXPECT_TRUE(out.applied_campaigns(0).capped());
}

TEST(PromotionPricing, ABundleSetIsPricedWholeAndItsUnitsSkipLaterItemDiscounts) {
  // Shoe 100.00 + socks 10.00 as a set for 90.00; 10% off socks applies only
  // to the sock that is not in the set.
  v1::Campaign bundle = Camp("bundle", 1);
  auto* bp = AddEffect(bundle)->mutable_bundle_price();
  bp->add_components()->mutable_items()->add_skus("SHOE");
  bp->add_components()->mutable_items()->add_skus("SOCK");
  bp->mutable_price()->mutable_value()->mutable_fixed_price()->set_amount_minor(9000);
  v1::Campaign socks = Camp("socks", 0);
  auto* item = AddEffect(socks)->mutable_item_discount();
  item->mutable_items()->add_skus("SOCK");
  item->mutable_value()->mutable_value()->set_percent_off_bps(1000);
  v1::QuoteResponse out;
  Price(Input({{"s", "SHOE", "", 1, 10000}, {"k", "SOCK", "", 2, 1000}}, {&bundle, &socks}), &out);
  // The set's 20.00 off is split 100:10 by largest remainder: 18.18 and 1.82.
  EXPECT_EQ(out.lines(0).total().amount_minor(), 8182);
  EXPECT_EQ(out.lines(1).total().amount_minor(), 818 + 900);
  EXPECT_EQ(out.totals().items_total().amount_minor(), 9900);
  ASSERT_EQ(out.applied_campaigns_size(), 2);
  EXPECT_EQ(out.applied_campaigns(0).discount().amount_minor(), 2000);
  EXPECT_EQ(out.applied_campaigns(1).discount().amount_minor(), 100);

  // max_sets caps the sets; an incomplete set is not priced.
  bp->set_max_sets(1);
  v1::QuoteResponse two;
  Price(Input({{"s", "SHOE", "", 2, 10000}, {"k", "SOCK", "", 2, 1000}}, {&bundle}), &two);
  EXPECT_EQ(two.totals().items_discount().amount_minor(), 2000);
  v1::QuoteResponse none;
  Price(Input({{"s", "SHOE", "", 1, 10000}}, {&bundle}), &none);
  EXPECT_EQ(none.totals().items_discount().amount_minor(), 0);
}

}  // namespace
}  // namespace care::promotion
