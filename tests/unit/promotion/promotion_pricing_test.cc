// The pricing engine alone (pure domain): stacking order, exact rounding in
// minor units, never below zero.
#include <algorithm>
#include <limits>
#include <random>

#include "common/bounds.h"
#include "common/errors.h"
#include "common/proto_time.h"
#include "gtest/gtest.h"
#include "services/promotion/pricing.h"

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
  ASSERT_TRUE(Price(Input({{"l", "A", "", 1, 10000}}, {&pct, &amt}), &out).ok());
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
  ASSERT_TRUE(Price(in, &out).ok());
  // 100.00 -> item 50% -> 50.00 -> tier 10% -> 45.00 -> cart 10% -> 40.50.
  EXPECT_EQ(out.lines(0).total().amount_minor(), 4050);
  EXPECT_EQ(out.totals().tier_discount().amount_minor(), 500);
}

TEST(PromotionPricing, PercentagesRoundDownPerLineAndAmountsSplitExactly) {
  v1::Campaign pct = Camp("pct");
  AddEffect(pct)->mutable_cart_discount()->mutable_value()->mutable_value()->set_percent_off_bps(3333);
  v1::QuoteResponse out;
  ASSERT_TRUE(Price(Input({{"a", "A", "", 1, 1}, {"b", "B", "", 1, 299}}, {&pct}), &out).ok());
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
  ASSERT_TRUE(Price(in, &out).ok());
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
  ASSERT_TRUE(Price(Input({{"a", "A", "", 1, 1000}}, {&other, &excl}), &out).ok());
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
  ASSERT_TRUE(Price(Input({{"a", "A", "", 1, 1000}}, {&c}), &out).ok());
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
  ASSERT_TRUE(Price(Input({{"s", "SHOE", "", 1, 10000}, {"k", "SOCK", "", 2, 1000}}, {&bundle, &socks}), &out).ok());
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
  ASSERT_TRUE(Price(Input({{"s", "SHOE", "", 2, 10000}, {"k", "SOCK", "", 2, 1000}}, {&bundle}), &two).ok());
  EXPECT_EQ(two.totals().items_discount().amount_minor(), 2000);
  v1::QuoteResponse none;
  ASSERT_TRUE(Price(Input({{"s", "SHOE", "", 1, 10000}}, {&bundle}), &none).ok());
  EXPECT_EQ(none.totals().items_discount().amount_minor(), 0);
}

// A bundle priced set by set, the slow way: each component's free units
// cheapest first (ties: line order), set j made of each component's j-th
// slice; only for components that share no line. The engine must agree
// while never looping over sets.
int64_t BundleDiscountSetBySet(const std::vector<Line>& lines, const std::vector<std::vector<std::string>>& skus,
                               const std::vector<int>& per_set, int64_t price, int64_t max_sets) {
  std::vector<std::vector<int64_t>> units(skus.size());
  for (size_t j = 0; j < skus.size(); ++j) {
    for (const Line& l : lines) {
      if (std::find(skus[j].begin(), skus[j].end(), l.sku) == skus[j].end()) continue;
      for (int u = 0; u < l.quantity; ++u) units[j].push_back(l.unit_price);
    }
    std::sort(units[j].begin(), units[j].end());
  }
  int64_t discount = 0;
  for (int64_t set = 0; max_sets == 0 || set < max_sets; ++set) {
    int64_t value = 0;
    for (size_t j = 0; j < skus.size(); ++j) {
      if (static_cast<int64_t>(units[j].size()) < (set + 1) * per_set[j]) return discount;
      for (int64_t u = set * per_set[j]; u < (set + 1) * per_set[j]; ++u) value += units[j][u];
    }
    discount += std::max<int64_t>(0, value - price);
  }
  return discount;
}

TEST(PromotionPricing, BundleSetsAreCountedArithmeticallyAsIfPricedOneByOne) {
  std::mt19937_64 rng(15);
  for (int round = 0; round < 300; ++round) {
    const int components = 1 + round % 3;
    std::vector<std::vector<std::string>> skus(components);
    std::vector<int> per_set(components);
    std::vector<Line> lines;
    for (int j = 0; j < components; ++j) {
      per_set[j] = 1 + static_cast<int>(rng() % 3);
      const int n = 1 + static_cast<int>(rng() % 4);
      for (int x = 0; x < n; ++x) {
        std::string sku = absl::StrCat("C", j, "-", x);
        skus[j].push_back(sku);
        lines.push_back(Line{absl::StrCat("l", lines.size()), sku, "", 1 + static_cast<int>(rng() % 7),
                             100 + static_cast<int64_t>(rng() % 5) * 50});
      }
    }
    std::shuffle(lines.begin(), lines.end(), rng);
    const int64_t price = 100 * (1 + static_cast<int64_t>(rng() % 6));
    const int64_t max_sets = rng() % 3 == 0 ? 1 + static_cast<int64_t>(rng() % 4) : 0;
    v1::Campaign bundle = Camp("bundle");
    auto* bp = AddEffect(bundle)->mutable_bundle_price();
    for (int j = 0; j < components; ++j) {
      auto* comp = bp->add_components();
      for (const std::string& s : skus[j]) comp->mutable_items()->add_skus(s);
      comp->set_quantity(per_set[j]);
    }
    bp->set_max_sets(static_cast<int32_t>(max_sets));
    bp->mutable_price()->mutable_value()->mutable_fixed_price()->set_amount_minor(price);
    PricingInput in = Input(lines, {&bundle});
    in.adjustments = true;
    v1::QuoteResponse out;
    ASSERT_TRUE(Price(in, &out).ok());
    const int64_t want = BundleDiscountSetBySet(lines, skus, per_set, price, max_sets);
    ASSERT_EQ(out.totals().items_discount().amount_minor(), want) << "round " << round;
    for (const auto& l : out.lines()) {
      ASSERT_LE(l.adjustments_size(), 1);
      if (l.adjustments_size() == 1) {
        EXPECT_EQ(l.adjustments(0).amount().amount_minor(), l.discount().amount_minor());
      }
      EXPECT_GE(l.total().amount_minor(), 0);
    }
  }
}

TEST(PromotionPricing, TheLargestCartIsPricedWithAtMostOneAdjustmentPerLineAndEffect) {
  // 1000 lines x 10,000 units under a bundle, an nth-item and an item
  // discount on the same lines: 3 effects, so at most 3,000 adjustments.
  v1::Campaign bundle = Camp("bundle", 3);
  auto* bp = AddEffect(bundle)->mutable_bundle_price();
  bp->add_components()->mutable_items()->add_categories("c");
  bp->mutable_components(0)->set_quantity(3);
  bp->set_max_sets(1'000'000);
  bp->mutable_price()->mutable_value()->mutable_fixed_price()->set_amount_minor(2000);
  v1::Campaign nth = Camp("nth", 2);
  auto* nd = AddEffect(nth)->mutable_nth_item_discount();
  nd->mutable_items()->add_categories("c");
  nd->set_nth(2);
  nd->mutable_value()->mutable_value()->set_percent_off_bps(5000);
  v1::Campaign item = Camp("item", 1);
  auto* id = AddEffect(item)->mutable_item_discount();
  id->mutable_items()->add_categories("c");
  id->mutable_value()->mutable_value()->mutable_amount_off()->set_amount_minor(10);
  std::vector<Line> lines;
  for (int i = 0; i < 1000; ++i) lines.push_back(Line{absl::StrCat("l", i), absl::StrCat("S", i), "c", 10000, 900 + i});
  PricingInput in = Input(lines, {&bundle, &nth, &item});
  in.adjustments = true;
  v1::QuoteResponse out;
  ASSERT_TRUE(Price(in, &out).ok());
  int adjustments = 0;
  int64_t discount = 0;
  for (const auto& l : out.lines()) {
    adjustments += l.adjustments_size();
    int64_t sum = 0;
    for (const auto& a : l.adjustments()) sum += a.amount().amount_minor();
    EXPECT_EQ(sum, l.discount().amount_minor());
    EXPECT_EQ(l.subtotal().amount_minor() - l.discount().amount_minor(), l.total().amount_minor());
    discount += l.discount().amount_minor();
  }
  EXPECT_LE(adjustments, 3000);
  EXPECT_EQ(discount, out.totals().items_discount().amount_minor());
  EXPECT_EQ(out.applied_campaigns_size(), 3);
}

TEST(PromotionPricing, PricingStopsWhenTheCallerGaveUp) {
  v1::Campaign a = Camp("a");
  AddEffect(a)->mutable_cart_discount()->mutable_value()->mutable_value()->set_percent_off_bps(1000);
  v1::Campaign b = Camp("b");
  AddEffect(b)->mutable_cart_discount()->mutable_value()->mutable_value()->set_percent_off_bps(1000);
  PricingInput in = Input({{"l", "A", "", 1, 10000}}, {&a, &b});
  int asked = 0;
  in.interrupted = [&asked]() -> absl::Status {
    return ++asked > 2 ? absl::DeadlineExceededError("deadline") : absl::OkStatus();
  };
  v1::QuoteResponse out;
  EXPECT_EQ(Price(in, &out).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(asked, 3);  // the first refusal stops it: asked no more

  in.interrupted = [] { return absl::CancelledError("gone"); };
  out.Clear();
  EXPECT_EQ(Price(in, &out).code(), absl::StatusCode::kCancelled);

  in.interrupted = [] { return absl::OkStatus(); };
  out.Clear();
  ASSERT_TRUE(Price(in, &out).ok());
  EXPECT_EQ(out.totals().items_discount().amount_minor(), 1900);
}

TEST(PromotionPricing, ACartBeyondTheMoneyBoundIsRefusedNamingTheField) {
  auto field = [](const absl::Status& s) { return ErrorMetadataValue(s, "field"); };
  const int64_t max = std::numeric_limits<int64_t>::max();
  v1::QuoteResponse out;
  absl::Status s = Price(Input({{"a", "A", "", 1, 1}, {"b", "B", "", 2, max}}, {}), &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(field(s), "lines[1]");
  s = CheckCartBounds({{"a", "A", "", 10, kMaxMoneyMinor / 10}, {"b", "B", "", 1, 1}}, 0);
  EXPECT_EQ(field(s), "lines");
  s = CheckCartBounds({{"a", "A", "", 10, kMaxMoneyMinor / 10}}, 1);
  EXPECT_EQ(field(s), "shipping");
  s = CheckCartBounds({{"a", "A", "", 1, 1}}, max);
  EXPECT_EQ(field(s), "shipping");
  EXPECT_TRUE(CheckCartBounds({{"a", "A", "", 10, kMaxMoneyMinor / 10}}, 0).ok());

  // Campaign values past any bound are cut to the running amounts.
  v1::Campaign huge = Camp("huge");
  AddEffect(huge)->mutable_cart_discount()->mutable_value()->mutable_value()->mutable_amount_off()->set_amount_minor(
      max);
  v1::Campaign pct = Camp("pct");
  AddEffect(pct)->mutable_cart_discount()->mutable_value()->mutable_value()->set_percent_off_bps(
      std::numeric_limits<int32_t>::max());
  out.Clear();
  ASSERT_TRUE(Price(Input({{"a", "A", "", 10, kMaxMoneyMinor / 10}}, {&huge, &pct}), &out).ok());
  EXPECT_EQ(out.totals().total().amount_minor(), 0);
  EXPECT_EQ(out.totals().items_discount().amount_minor(), kMaxMoneyMinor);
  EXPECT_EQ(PercentOf(kMaxMoneyMinor, std::numeric_limits<int32_t>::max()), kMaxMoneyMinor);
  EXPECT_EQ(SplitLargestRemainder(max, {max, max}), (std::vector<int64_t>{max / 2 + 1, max / 2}));
}

}  // namespace
}  // namespace care::promotion

namespace care::promotion {
namespace {

v1::BonusPoints Bonus(int64_t per_order, int64_t per_unit, int32_t max_units = 0) {
  v1::BonusPoints b;
  b.set_points_per_order(per_order);
  b.set_points_per_unit(per_unit);
  b.set_max_units(max_units);
  return b;
}

TEST(PromotionBonusPoints, PerOrderPlusPerUnitWithinMaxUnits) {
  EXPECT_EQ(BonusPointsOf(Bonus(50, 10), 3), 80);
  EXPECT_EQ(BonusPointsOf(Bonus(50, 10, 5), 9), 100);  // 5 units counted
  EXPECT_EQ(BonusPointsOf(Bonus(50, 10), 0), 50);
  EXPECT_EQ(BonusPointsOf(Bonus(0, 10), -4), 0);  // never negative
}

TEST(PromotionBonusPoints, SaturatesAtTheEntryBoundWithoutOverflow) {
  EXPECT_EQ(BonusPointsOf(Bonus(0, kMaxPointsPerEntry), kMaxLineQuantity * 1000), kMaxPointsPerEntry);
  EXPECT_EQ(BonusPointsOf(Bonus(kMaxPointsPerEntry, kMaxPointsPerEntry), std::numeric_limits<int64_t>::max()),
            kMaxPointsPerEntry);
  EXPECT_EQ(BonusPointsOf(Bonus(kMaxPointsPerEntry, 1), 1), kMaxPointsPerEntry);
  EXPECT_EQ(BonusPointsCap(std::nullopt), kMaxPointsPerEntry);
  EXPECT_EQ(BonusPointsCap(250), 250);
  EXPECT_EQ(BonusPointsCap(-3), 0);
  EXPECT_EQ(BonusPointsCap(kMaxPointsBalance), kMaxPointsPerEntry);
}

TEST(PromotionBonusPoints, QuotedPerCampaignCappedAtThePointsLeftNeverForGuests) {
  v1::Campaign c = Camp("bonus");
  v1::BonusPoints* b = AddEffect(c)->mutable_bonus_points();
  *b = Bonus(50, 10);
  b->mutable_items()->add_skus("TEA");
  *AddEffect(c)->mutable_bonus_points() = Bonus(5, 0);  // a second effect adds up
  PricingInput in = Input({{"l1", "TEA", "", 3, 1000}, {"l2", "CUP", "", 2, 500}}, {&c});
  in.shopper.guest = false;
  in.shopper.member_id = "m-1";
  v1::QuoteResponse out;
  ASSERT_TRUE(Price(in, &out).ok());
  ASSERT_EQ(out.applied_campaigns_size(), 1);
  EXPECT_EQ(out.applied_campaigns(0).bonus_points(), 85);
  EXPECT_FALSE(out.applied_campaigns(0).capped());
  EXPECT_EQ(out.bonus_points(), 85);
  EXPECT_EQ(out.totals().total_discount().amount_minor(), 0);  // points are not money

  in.left["bonus"].points = 60;
  v1::QuoteResponse capped;
  ASSERT_TRUE(Price(in, &capped).ok());
  ASSERT_EQ(capped.applied_campaigns_size(), 1);
  EXPECT_EQ(capped.applied_campaigns(0).bonus_points(), 60);
  EXPECT_TRUE(capped.applied_campaigns(0).capped());

  in.left.clear();
  in.shopper = Shopper{};  // a guest
  v1::QuoteResponse guest;
  ASSERT_TRUE(Price(in, &guest).ok());
  EXPECT_EQ(guest.applied_campaigns_size(), 0);
  EXPECT_EQ(guest.bonus_points(), 0);
  ASSERT_EQ(guest.rejected_campaigns_size(), 1);
  EXPECT_EQ(guest.rejected_campaigns(0).reason(), v1::REJECTION_REASON_NO_EFFECT);
}

}  // namespace
}  // namespace care::promotion
