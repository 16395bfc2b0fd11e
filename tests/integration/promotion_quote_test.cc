// Quotes and redemptions through the real care_promotion, with tiers read
// from the real care_loyalty through the shared Redis tier cache.
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/integration/promotion_fixture.h"

namespace care::testing {
namespace {

class PromotionQuoteTest : public PromotionTest {
 protected:
  void SetUp() override {
    PromotionTest::SetUp();
    if (HasFatalFailure()) return;
    StartPromotion();
  }
};

TEST_F(PromotionQuoteTest, GoldAndSilverGetTheirTiersDiscountAndAnUpgradeShowsAtOnce) {
  MakeTier("g1", "gold");
  MakeTier("s1", "silver");
  Live("tiers", TierCampaign());
  auto cart = [](const std::string& m) { return Cart(m, {CartLine("l1", "SHOE-1", "shoes", 1, 10000)}); };

  pv1::QuoteResponse gold = Quote(cart("g1"));
  EXPECT_EQ(gold.customer().tier_id(), "gold");
  EXPECT_EQ(gold.totals().items_discount().amount_minor(), 2000);
  EXPECT_TRUE(gold.tier_discount_suppressed());
  pv1::QuoteResponse silver = Quote(cart("s1"));
  EXPECT_EQ(silver.customer().tier_id(), "silver");
  EXPECT_EQ(silver.totals().items_discount().amount_minor(), 1000);
  ASSERT_EQ(silver.applied_campaigns_size(), 1);
  EXPECT_EQ(silver.applied_campaigns(0).campaign_version(), 2);  // created 1, announced 2

  // The upgrade is acknowledged by loyalty; the very next quote uses gold.
  Purchase("s1", "upgrade-s1", 400000);
  pv1::QuoteResponse upgraded = Quote(cart("s1"));
  EXPECT_EQ(upgraded.customer().tier_id(), "gold");
  EXPECT_EQ(upgraded.totals().items_discount().amount_minor(), 2000);
}

TEST_F(PromotionQuoteTest, FreeShippingOnACombo) {
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  auto* rule = c.add_rules();
  auto* combo = rule->add_conditions()->mutable_combo();
  combo->add_components()->mutable_items()->add_skus("SHOE-1");
  combo->add_components()->mutable_items()->add_skus("SOCK-1");
  rule->add_effects()->mutable_free_shipping();
  Live("combo-ship", c);

  pv1::QuoteResponse both = Quote(
      Cart("", {CartLine("a", "SHOE-1", "shoes", 1, 5000), CartLine("b", "SOCK-1", "socks", 1, 500)}, 700));
  EXPECT_TRUE(both.shipping().free_shipping());
  EXPECT_EQ(both.totals().shipping_total().amount_minor(), 0);
  EXPECT_EQ(both.totals().total().amount_minor(), 5500);

  pv1::QuoteResponse one = Quote(Cart("", {CartLine("a", "SHOE-1", "shoes", 1, 5000)}, 700));
  EXPECT_FALSE(one.shipping().free_shipping());
  EXPECT_EQ(one.totals().total().amount_minor(), 5700);
  EXPECT_EQ(Rejection(one, "combo-ship"), pv1::REJECTION_REASON_COMBO_INCOMPLETE);
}

TEST_F(PromotionQuoteTest, SecondItemDiscounted) {
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  auto* nth = c.add_rules()->add_effects()->mutable_nth_item_discount();
  nth->mutable_items()->add_categories("shirts");
  nth->set_nth(2);
  *nth->mutable_value()->mutable_value() = Percent(5000);
  Live("second-half", c);

  // Three shirts: one unit (the second) is half price; a guest qualifies.
  pv1::QuoteRequest req = Cart("", {CartLine("a", "TEE-1", "shirts", 3, 2001)});
  req.set_view(pv1::QUOTE_VIEW_FULL);  // to see the units the adjustment touched
  pv1::QuoteResponse q = Quote(req);
  EXPECT_EQ(q.totals().items_discount().amount_minor(), 1000);  // floor(2001 * 50%)
  EXPECT_EQ(q.lines(0).adjustments(0).units(), 1);
  EXPECT_EQ(q.lines(0).total().amount_minor(), 3 * 2001 - 1000);
}

TEST_F(PromotionQuoteTest, TheBasicViewIsTheFullQuoteWithoutItsAdjustments) {
  pv1::Campaign shoes = BaseCampaign(Base());
  shoes.clear_starts_at();
  auto* off = shoes.add_rules()->add_effects()->mutable_item_discount();
  off->mutable_items()->add_skus("SHOE-1");
  *off->mutable_value()->mutable_value()->mutable_amount_off() = Usd(700);
  Live("shoes-7", shoes);
  pv1::Campaign cart = BaseCampaign(Base());
  cart.clear_starts_at();
  auto* rule = cart.add_rules();
  *rule->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
  rule->add_effects()->mutable_free_shipping();
  Live("cart-10", cart);

  pv1::QuoteRequest req = Cart("",
                               {CartLine("a", "SHOE-1", "shoes", 2, 5000), CartLine("b", "SOCK-1", "socks", 3, 333)},
                               700);
  pv1::QuoteResponse basic = Quote(req);  // unset view = BASIC
  req.set_view(pv1::QUOTE_VIEW_FULL);
  pv1::QuoteResponse full = Quote(req);

  // FULL explains every line's discount and the free shipping, rule by rule.
  ASSERT_EQ(full.lines_size(), 2);
  ASSERT_EQ(full.lines(0).adjustments_size(), 2);  // 7.00 off each shoe, then 10 %
  for (const pv1::LineResult& l : full.lines()) {
    int64_t sum = 0;
    for (const pv1::Adjustment& a : l.adjustments()) sum += a.amount().amount_minor();
    EXPECT_GT(l.discount().amount_minor(), 0) << l.line_id();
    EXPECT_EQ(sum, l.discount().amount_minor()) << l.line_id();
  }
  EXPECT_EQ(full.lines(0).adjustments(0).campaign_id(), "shoes-7");
  EXPECT_EQ(full.lines(0).adjustments(0).amount().amount_minor(), 1400);
  ASSERT_EQ(full.shipping().adjustments_size(), 1);
  EXPECT_EQ(full.shipping().adjustments(0).effect(), pv1::EFFECT_KIND_FREE_SHIPPING);

  // BASIC is the same quote, amounts and token alike, without them.
  for (const pv1::LineResult& l : basic.lines()) EXPECT_EQ(l.adjustments_size(), 0) << l.line_id();
  EXPECT_EQ(basic.shipping().adjustments_size(), 0);
  pv1::QuoteResponse stripped = full;
  for (pv1::LineResult& l : *stripped.mutable_lines()) l.clear_adjustments();
  stripped.mutable_shipping()->clear_adjustments();
  for (pv1::QuoteResponse* q : {&stripped, &basic}) {  // two quotes, two quote times
    q->clear_quote_token();
    q->clear_quote_time();
    q->clear_expire_time();
  }
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(basic, stripped)) << basic.DebugString() << "\nvs\n"
                                                                                   << stripped.DebugString();
  EXPECT_EQ(basic.totals().total().amount_minor(), (10000 - 1400 + 999) - (8600 + 999) / 10);
  pv1::Redemption r;
  ASSERT_TRUE(
      Redeem("basic-1", Quote(Cart("", {CartLine("a", "SHOE-1", "shoes", 2, 5000)}, 700)).quote_token(), &r).ok());
  EXPECT_EQ(r.totals().total().amount_minor(), 8600 - 860);

  // An unknown view is refused by name.
  req.set_view(static_cast<pv1::QuoteView>(7));
  pv1::QuoteResponse out;
  grpc::Status s = promo().Quote(Ctx(svc()).get(), req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(BadFields(s), (std::vector<std::string>{"view"}));
}

TEST_F(PromotionQuoteTest, FreeReturnsForGoldOnly) {
  MakeTier("g1", "gold");
  MakeTier("s1", "silver");
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  auto* rule = c.add_rules();
  rule->add_conditions()->mutable_customer_tier()->add_tier_ids("gold");
  rule->add_effects()->mutable_free_returns()->add_tier_ids("gold");
  Live("gold-returns", c);
  auto cart = [](const std::string& m) { return Cart(m, {CartLine("l1", "BAG-1", "bags", 1, 3000)}); };
  pv1::QuoteResponse gold = Quote(cart("g1"));
  EXPECT_TRUE(gold.free_returns());
  ASSERT_EQ(gold.applied_campaigns_size(), 1);
  EXPECT_TRUE(gold.applied_campaigns(0).free_returns());
  pv1::QuoteResponse silver = Quote(cart("s1"));
  EXPECT_FALSE(silver.free_returns());
  EXPECT_EQ(Rejection(silver, "gold-returns"), pv1::REJECTION_REASON_TIER_CONDITION_NOT_MET);
}

TEST_F(PromotionQuoteTest, ExplainAllListsTheCampaignsThatCouldNotTouchTheCartWithTheirReason) {
  MakeTier("s1", "silver");
  pv1::Campaign bags = BaseCampaign(Base());
  bags.clear_starts_at();
  auto* off = bags.add_rules()->add_effects()->mutable_item_discount();
  off->mutable_items()->add_categories("bags");
  *off->mutable_value()->mutable_value() = Percent(1000);
  Live("bags-10", bags);
  pv1::Campaign gold = TierCampaign();
  gold.mutable_audience()->add_tier_ids("gold");
  Live("gold-only", gold);
  pv1::QuoteRequest req = Cart("s1", {CartLine("l1", "SHOE-1", "shoes", 1, 10000)});

  // Normally neither is evaluated: one is for bags, the other for gold.
  pv1::QuoteResponse plain = Quote(req);
  EXPECT_EQ(plain.rejected_campaigns_size(), 0);
  EXPECT_EQ(plain.applied_campaigns_size(), 0);

  req.set_explain_all(true);
  pv1::QuoteResponse explained = Quote(req);
  EXPECT_EQ(Rejection(explained, "bags-10"), pv1::REJECTION_REASON_NO_EFFECT);
  EXPECT_EQ(Rejection(explained, "gold-only"), pv1::REJECTION_REASON_TIER_NOT_TARGETED);
  // The price is the same either way.
  EXPECT_EQ(explained.totals().total().amount_minor(), plain.totals().total().amount_minor());
  EXPECT_EQ(explained.applied_campaigns_size(), 0);
}

TEST_F(PromotionQuoteTest, CampaignNamesComeInTheReadersLanguageAlongTheFallbackChain) {
  MakeTier("s1", "silver");
  pv1::Campaign shoes = BaseCampaign(Base());
  shoes.clear_starts_at();
  (*shoes.mutable_localized_display_names())["ja"] = "春のセール";
  (*shoes.mutable_localized_display_names())["vi-VN"] = "Khuyến mãi mùa xuân";
  *shoes.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
  Live("spring", shoes);
  pv1::Campaign gold = TierCampaign();
  gold.set_display_name("Gold week");
  (*gold.mutable_localized_display_names())["ja"] = "ゴールド週間";
  gold.mutable_audience()->add_tier_ids("gold");
  Live("gold-week", gold);
  pv1::QuoteRequest req = Cart("s1", {CartLine("l1", "SHOE-1", "shoes", 1, 10000)});
  req.set_explain_all(true);
  auto names = [&](const std::string& locale) {
    req.set_language_code(locale);
    pv1::QuoteResponse q = Quote(req);
    EXPECT_EQ(q.applied_campaigns_size(), 1);
    EXPECT_EQ(q.rejected_campaigns_size(), 1);
    std::vector<std::string> out;
    for (const auto& a : q.applied_campaigns()) out.push_back(a.display_name());
    for (const auto& r : q.rejected_campaigns()) out.push_back(r.display_name());
    return out;
  };
  // "ja-JP" falls back to "ja"; applied and rejected campaigns alike.
  EXPECT_EQ(names("ja-JP"), (std::vector<std::string>{"春のセール", "ゴールド週間"}));
  // A text only for "vi-VN" is not picked for plain "vi", which gets the
  // default; no language is the default too.
  EXPECT_EQ(names("vi-VN"), (std::vector<std::string>{"Khuyến mãi mùa xuân", "Gold week"}));
  EXPECT_EQ(names("vi"), (std::vector<std::string>{"Spring sale", "Gold week"}));
  EXPECT_EQ(names(""), (std::vector<std::string>{"Spring sale", "Gold week"}));

  // The redemption of a Japanese quote still redeems the campaign.
  req.set_explain_all(false);
  req.set_language_code("JA");
  pv1::QuoteResponse ja = Quote(req);
  ASSERT_EQ(ja.applied_campaigns_size(), 1);
  EXPECT_EQ(ja.applied_campaigns(0).display_name(), "春のセール");
  pv1::Redemption r;
  grpc::Status s = Redeem("ja-order", ja.quote_token(), &r);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(r.campaigns(0).campaign_id(), "spring");

  req.set_language_code("not a tag");
  pv1::QuoteResponse out;
  s = promo().Quote(Ctx(svc()).get(), req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"language_code"});

  // A voucher's campaign is named in the reader's language too.
  pv1::Campaign coded = shoes;
  coded.set_voucher_required(true);
  Live("spring-coded", coded);
  pv1::GenerateVouchersRequest gen;
  gen.set_request_id("spring-codes");
  gen.set_campaign_id("spring-coded");
  gen.set_count(1);
  pv1::GenerateVouchersResponse batch;
  s = promo().GenerateVouchers(Ctx(admin()).get(), gen, &batch);
  ASSERT_TRUE(s.ok()) << Describe(s);
  auto voucher_name = [&](const std::string& locale) {
    pv1::ValidateVoucherRequest check;
    check.set_code(batch.vouchers(0).code());
    check.mutable_customer()->set_member_id("s1");
    check.set_language_code(locale);
    pv1::ValidateVoucherResponse v;
    grpc::Status st = promo().ValidateVoucher(Ctx(svc()).get(), check, &v);
    EXPECT_TRUE(st.ok()) << Describe(st);
    EXPECT_TRUE(v.valid()) << v.detail();
    return v.campaign_display_name();
  };
  EXPECT_EQ(voucher_name("ja-JP"), "春のセール");
  EXPECT_EQ(voucher_name("vi"), "Spring sale");
  EXPECT_EQ(voucher_name(""), "Spring sale");
  pv1::ValidateVoucherRequest bad;
  bad.set_code(batch.vouchers(0).code());
  bad.set_language_code("not a tag");
  pv1::ValidateVoucherResponse ignored;
  s = promo().ValidateVoucher(Ctx(svc()).get(), bad, &ignored);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"language_code"});
}

TEST_F(PromotionQuoteTest, QuotesHonourWhatTheLimitsLeaveBudgetsCapTheDiscount) {
  // 10% off, at most 1,500 of budget in total and one order per customer.
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
  *c.mutable_limits()->mutable_max_discount_total() = Usd(1500);
  c.mutable_limits()->set_max_redemptions_per_customer(1);
  Live("limited", c);
  auto cart = [](const std::string& guest_key) {
    pv1::QuoteRequest req = Cart("", {CartLine("l1", "BAG-1", "bags", 1, 10000)});
    req.mutable_customer()->mutable_guest()->set_guest_key(guest_key);
    return req;
  };

  pv1::QuoteResponse first = Quote(cart("g-1"));
  EXPECT_EQ(first.totals().items_discount().amount_minor(), 1000);
  pv1::Redemption r;
  ASSERT_TRUE(Redeem("limit-o1", first.quote_token(), &r).ok());

  // The same guest has used the campaign up; another guest gets only the
  // 500 the budget has left, marked capped.
  EXPECT_EQ(Rejection(Quote(cart("g-1")), "limited"), pv1::REJECTION_REASON_CUSTOMER_LIMIT_REACHED);
  pv1::QuoteResponse second = Quote(cart("g-2"));
  ASSERT_TRUE(Applied(second, "limited"));
  EXPECT_EQ(second.totals().items_discount().amount_minor(), 500);
  EXPECT_TRUE(second.applied_campaigns(0).capped());
  ASSERT_TRUE(Redeem("limit-o2", second.quote_token(), &r).ok());
  EXPECT_EQ(Report("limited").discount_given().amount_minor(), 1500);

  // Nothing left: the next quote says so instead of a discount RedeemQuote
  // would refuse; a guest without a key cannot be counted at all.
  EXPECT_EQ(Rejection(Quote(cart("g-3")), "limited"), pv1::REJECTION_REASON_BUDGET_EXHAUSTED);
  EXPECT_EQ(Rejection(Quote(cart("")), "limited"), pv1::REJECTION_REASON_CUSTOMER_UNIDENTIFIED);

  // Cancelling the first order gives its 1,000 back.
  pv1::CancelRedemptionRequest cancel;
  cancel.set_order_id("limit-o1");
  cancel.set_request_id("cancel-limit-o1");
  pv1::Redemption cancelled;
  grpc::Status st = promo().CancelRedemption(Ctx(svc()).get(), cancel, &cancelled);
  ASSERT_TRUE(st.ok()) << Describe(st);
  EXPECT_EQ(Quote(cart("g-3")).totals().items_discount().amount_minor(), 1000);
}

TEST_F(PromotionQuoteTest, MemberPriceOnlyForOptedInMembers) {
  Enrol("in", [](lv1::Member* m) {
    auto* consent = m->add_marketing_consents();
    consent->set_channel(care::common::v1::MESSAGE_CHANNEL_EMAIL);
    consent->set_granted(true);
  });
  Enrol("out");
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  c.mutable_audience()->set_opted_in_only(true);
  auto* price = c.add_rules()->add_effects()->mutable_member_price()->add_prices();
  price->set_sku("TEA-1");
  price->mutable_unit_price()->mutable_value()->mutable_fixed_price()->CopyFrom(Usd(800));
  Live("member-price", c);
  auto cart = [](const std::string& m) { return Cart(m, {CartLine("l1", "TEA-1", "tea", 2, 1000)}); };

  pv1::QuoteResponse in = Quote(cart("in"));
  EXPECT_TRUE(in.customer().offers_opt_in());
  EXPECT_EQ(in.lines(0).total().amount_minor(), 1600);
  EXPECT_EQ(Rejection(Quote(cart("out")), "member-price"), pv1::REJECTION_REASON_NOT_OPTED_IN);
  EXPECT_EQ(Rejection(Quote(cart("")), "member-price"), pv1::REJECTION_REASON_GUEST_NOT_ELIGIBLE);
}

// Loyalty down: a member whose tier is in the tier cache is still tiered,
// but an opt-in-only campaign needs their opt-in, which only loyalty has. The
// quote says that it is the opt-in that could not be read; a member the cache
// does not hold cannot even be tiered.
TEST_F(PromotionQuoteTest, AnUnreadableOptInIsMemberProfileUnavailable) {
  Enrol("in", [](lv1::Member* m) {
    auto* consent = m->add_marketing_consents();
    consent->set_channel(care::common::v1::MESSAGE_CHANNEL_EMAIL);
    consent->set_granted(true);
  });
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  c.mutable_audience()->set_opted_in_only(true);
  auto* price = c.add_rules()->add_effects()->mutable_member_price()->add_prices();
  price->set_sku("TEA-1");
  price->mutable_unit_price()->mutable_value()->mutable_fixed_price()->CopyFrom(Usd(800));
  Live("member-price", c);
  auto cart = [](const std::string& m) { return Cart(m, {CartLine("l1", "TEA-1", "tea", 2, 1000)}); };
  ASSERT_TRUE(Quote(cart("in")).customer().offers_opt_in());

  service_->Kill();
  pv1::QuoteResponse out;
  grpc::Status s = promo().Quote(Ctx(svc()).get(), cart("in"), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(s);
  EXPECT_EQ(Reason(s), "MEMBER_PROFILE_UNAVAILABLE") << Describe(s);
  s = promo().Quote(Ctx(svc()).get(), cart("never-enrolled"), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(s);
  EXPECT_EQ(Reason(s), "TIER_UNAVAILABLE") << Describe(s);
}

TEST_F(PromotionQuoteTest, CampaignThatEarnsNoPoints) {
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  c.mutable_rights()->set_earns_points(false);
  auto* cd = c.add_rules()->add_effects()->mutable_cart_discount();
  cd->mutable_value()->mutable_value()->mutable_amount_off()->CopyFrom(Usd(500));
  Live("no-points", c);
  pv1::QuoteResponse q = Quote(Cart("", {CartLine("a", "X", "x", 1, 3000), CartLine("b", "Y", "y", 1, 1000)}));
  EXPECT_FALSE(q.earns_points());
  EXPECT_EQ(q.totals().items_discount().amount_minor(), 500);
  // Spread 3:1 by largest remainder.
  EXPECT_EQ(q.lines(0).discount().amount_minor(), 375);
  EXPECT_EQ(q.lines(1).discount().amount_minor(), 125);
  pv1::Redemption r;
  ASSERT_TRUE(Redeem("order-np", q.quote_token(), &r).ok());
  EXPECT_FALSE(r.earns_points());
}

TEST_F(PromotionQuoteTest, HappyHourInHoChiMinhCity) {
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  c.set_time_zone("Asia/Ho_Chi_Minh");  // UTC+7, no DST
  auto* w = c.add_windows();
  w->mutable_start_time()->set_hours(17);
  w->mutable_end_time()->set_hours(19);
  *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
  Live("hcm-happy-hour", c);
  auto cart = Cart("", {CartLine("a", "PHO", "food", 1, 10000)});
  absl::TimeZone hcm;
  ASSERT_TRUE(absl::LoadTimeZone("Asia/Ho_Chi_Minh", &hcm));
  // 17:00 local on 15 Jan 2031 = 10:00 UTC.
  SetPromoTime(absl::FromCivil(absl::CivilSecond(2031, 1, 15, 17, 0, 0), hcm));
  EXPECT_TRUE(Applied(Quote(cart), "hcm-happy-hour"));
  SetPromoTime(absl::FromCivil(absl::CivilSecond(2031, 1, 15, 18, 59, 0), hcm));
  EXPECT_TRUE(Applied(Quote(cart), "hcm-happy-hour"));
  SetPromoTime(absl::FromCivil(absl::CivilSecond(2031, 1, 15, 19, 0, 0), hcm));
  EXPECT_EQ(Rejection(Quote(cart), "hcm-happy-hour"), pv1::REJECTION_REASON_OUTSIDE_WINDOW);
  // 17:30 UTC is 00:30 local next day: outside.
  SetPromoTime(absl::FromCivil(absl::CivilSecond(2031, 1, 15, 17, 30, 0), absl::UTCTimeZone()));
  EXPECT_EQ(Rejection(Quote(cart), "hcm-happy-hour"), pv1::REJECTION_REASON_OUTSIDE_WINDOW);
}

TEST_F(PromotionQuoteTest, MorningWindowKeepsLocalTimeAcrossDaylightSaving) {
  // New York moves to EDT on Sunday 9 March 2031: 09:00-12:00 local is
  // 14:00-17:00 UTC before and 13:00-16:00 UTC after.
  absl::Time starts = absl::FromCivil(absl::CivilSecond(2031, 3, 1, 0, 0, 0), absl::UTCTimeZone());
  pv1::Campaign c = BaseCampaign(starts);
  c.set_time_zone("America/New_York");
  auto* w = c.add_windows();
  w->mutable_start_time()->set_hours(9);
  w->mutable_end_time()->set_hours(12);
  *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
  SetPromoTime(starts - absl::Hours(1));
  Live("ny-mornings", c);
  auto cart = Cart("", {CartLine("a", "BAGEL", "food", 1, 1000)});
  auto at = [](int d, int h, int m) {
    return absl::FromCivil(absl::CivilSecond(2031, 3, d, h, m, 0), absl::UTCTimeZone());
  };
  SetPromoTime(at(8, 13, 30));  // Saturday 08:30 EST
  EXPECT_FALSE(Applied(Quote(cart), "ny-mornings"));
  SetPromoTime(at(8, 14, 0));  // Saturday 09:00 EST
  EXPECT_TRUE(Applied(Quote(cart), "ny-mornings"));
  SetPromoTime(at(10, 12, 30));  // Monday 08:30 EDT (would be 07:30 EST)
  EXPECT_FALSE(Applied(Quote(cart), "ny-mornings"));
  SetPromoTime(at(10, 13, 30));  // Monday 09:30 EDT (08:30 EST: outside if the zone were ignored)
  EXPECT_TRUE(Applied(Quote(cart), "ny-mornings"));
  SetPromoTime(at(10, 16, 30));  // Monday 12:30 EDT
  EXPECT_FALSE(Applied(Quote(cart), "ny-mornings"));
}

TEST_F(PromotionQuoteTest, RedeemIsIdempotentAndRefusesStaleTokens) {
  pv1::Campaign c = TierCampaign();
  (*c.mutable_rules(0)->mutable_effects(0)->mutable_cart_discount()->mutable_value()->mutable_value()) = Percent(1000);
  Live("ten-off", c);
  auto cart = Cart("", {CartLine("a", "X", "x", 2, 1500)});
  pv1::QuoteResponse q = Quote(cart);
  ASSERT_EQ(q.totals().items_discount().amount_minor(), 300);

  pv1::Redemption first, again;
  ASSERT_TRUE(Redeem("order-1", q.quote_token(), &first).ok());
  grpc::Status s = Redeem("order-1", q.quote_token(), &again);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(again.redemption_id(), first.redemption_id());
  EXPECT_EQ(Report("ten-off").redemptions(), 1);  // the retry consumed nothing

  // The same order with another quote: refused.
  pv1::QuoteResponse other = Quote(Cart("", {CartLine("a", "X", "x", 1, 1500)}));
  s = Redeem("order-1", other.quote_token(), &again);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Reason(s), "ORDER_ALREADY_REDEEMED");

  // A forged token.
  std::string forged = q.quote_token();
  forged[3] = forged[3] == 'A' ? 'B' : 'A';
  s = Redeem("order-forged", forged, &again);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(s), "QUOTE_TOKEN_INVALID");
  // A correctly signed payload in another format (no format prefix, as an
  // earlier release wrote them) is refused, not read as this one.
  ASSERT_EQ(q.quote_token().substr(0, 3), "q3.");
  s = Redeem("order-old-format", q.quote_token().substr(3), &again);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(s), "QUOTE_TOKEN_INVALID");

  // Expired: quotes live 15 minutes.
  pv1::QuoteResponse old = Quote(cart);
  SetPromoTime(Base() + absl::Minutes(16));
  s = Redeem("order-late", old.quote_token(), &again);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(s), "QUOTE_EXPIRED");

  // Changed: the campaign was rescheduled after the quote.
  pv1::QuoteResponse before = Quote(cart);
  pv1::RescheduleCampaignRequest move;
  move.set_request_id("extend");
  move.set_campaign_id("ten-off");
  *move.mutable_ends_at() = ToTimestamp(Base() + absl::Hours(24 * 60));
  pv1::Campaign moved;
  ASSERT_TRUE(promo().RescheduleCampaign(Ctx(admin()).get(), move, &moved).ok());
  s = Redeem("order-changed", before.quote_token(), &again);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(s), "CAMPAIGN_CHANGED");
  EXPECT_EQ(ReasonMetadata(s, "campaign_id"), "ten-off");

  // Cancelled campaign.
  pv1::QuoteResponse fresh = Quote(cart);
  pv1::CancelCampaignRequest cancel;
  cancel.set_request_id("stop");
  cancel.set_campaign_id("ten-off");
  ASSERT_TRUE(promo().CancelCampaign(Ctx(admin()).get(), cancel, &moved).ok());
  s = Redeem("order-cancelled", fresh.quote_token(), &again);
  EXPECT_EQ(Reason(s), "CAMPAIGN_NOT_ACTIVE");
  EXPECT_FALSE(Applied(Quote(cart), "ten-off"));
}

TEST_F(PromotionQuoteTest, TheReportSplitsRedemptionsByTierAndByVersionQuoted) {
  MakeTier("bt-gold", "gold");
  MakeTier("bt-silver", "silver");
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  c.mutable_rights()->set_tier_discount_applies(false);  // round figures: the campaign's discount only
  *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
  pv1::Campaign live = Live("split", c);
  auto quote = [&](const std::string& member) {
    return Quote(Cart(member, {CartLine("a", "X", "x", 1, 2000)})).quote_token();
  };
  pv1::Redemption r;
  ASSERT_TRUE(Redeem("bt-1", quote("bt-gold"), &r).ok());
  ASSERT_TRUE(Redeem("bt-2", quote("bt-gold"), &r).ok());
  ASSERT_TRUE(Redeem("bt-3", quote(""), &r).ok());  // a guest
  // A new version (15 % off); the next order is counted against it.
  pv1::UpdateCampaignRequest update;
  update.set_request_id("bt-edit");
  update.mutable_campaign()->set_campaign_id("split");
  *update.mutable_campaign()->add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() =
      Percent(1500);
  update.mutable_update_mask()->add_paths("rules");
  pv1::Campaign edited;
  ASSERT_TRUE(promo().UpdateCampaign(Ctx(admin()).get(), update, &edited).ok());
  ASSERT_TRUE(Redeem("bt-4", quote("bt-silver"), &r).ok());
  pv1::CancelRedemptionRequest cancel;
  cancel.set_order_id("bt-2");
  ASSERT_TRUE(promo().CancelRedemption(Ctx(svc()).get(), cancel, &r).ok());

  auto figures = [](const google::protobuf::RepeatedPtrField<pv1::ReportBreakdown>& parts, bool by_tier) {
    std::vector<std::string> out;
    for (const auto& p : parts) {
      out.push_back(absl::StrCat(by_tier ? p.tier_id() : absl::StrCat("v", p.campaign_version()), ":", p.redemptions(),
                                 ":", p.discount_given().amount_minor()));
    }
    return out;
  };
  pv1::CampaignReport rep = Report("split");
  EXPECT_EQ(rep.redemptions(), 3);
  EXPECT_EQ(rep.discount_given().amount_minor(), 700);
  // Largest discount first; guests under "".
  EXPECT_THAT(figures(rep.by_tier(), true), ::testing::ElementsAre("silver:1:300", ":1:200", "gold:1:200"));
  EXPECT_THAT(figures(rep.by_version(), false), ::testing::ElementsAre(absl::StrCat("v", live.version(), ":2:400"),
                                                                       absl::StrCat("v", edited.version(), ":1:300")));
}

TEST_F(PromotionQuoteTest, ABadCartLineIsNamedByItsIndexAndField) {
  pv1::QuoteRequest cart = Cart("", {CartLine("a", "X", "x", 1, 1000), CartLine("b", "Y", "y", 0, 500),
                                     CartLine("", "Z", "z", 1, -1), CartLine("d", "W", "w", 2, 700)});
  cart.mutable_lines(3)->mutable_unit_price()->set_currency_code("EUR");
  pv1::QuoteResponse out;
  grpc::Status s = promo().Quote(Ctx(svc()).get(), cart, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(s), "INVALID_FIELD");
  EXPECT_EQ(BadFields(s),
            (std::vector<std::string>{"lines[1].quantity", "lines[2].line_id", "lines[2].unit_price.amount_minor",
                                      "lines[3].unit_price.currency_code"}));
}

TEST_F(PromotionQuoteTest, CancelReleasesAndTheReportCountsIt) {
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  c.mutable_limits()->set_max_redemptions(2);
  c.mutable_limits()->mutable_max_discount_total()->CopyFrom(Usd(10000));
  *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
  Live("limited", c);
  auto token = [&] { return Quote(Cart("", {CartLine("a", "X", "x", 1, 2500)})).quote_token(); };
  pv1::Redemption r;
  // Three quotes while two uses are left; the third order comes too late.
  const std::string t1 = token(), t2 = token(), t3 = token();
  ASSERT_TRUE(Redeem("o1", t1, &r).ok());
  ASSERT_TRUE(Redeem("o2", t2, &r).ok());
  grpc::Status s = Redeem("o3", t3, &r);
  EXPECT_EQ(Reason(s), "REDEMPTION_LIMIT_REACHED");
  // A quote taken now already says so.
  EXPECT_EQ(Rejection(Quote(Cart("", {CartLine("a", "X", "x", 1, 2500)})), "limited"),
            pv1::REJECTION_REASON_REDEMPTION_LIMIT_REACHED);

  pv1::CampaignReport rep = Report("limited");
  EXPECT_EQ(rep.redemptions(), 2);
  EXPECT_EQ(rep.discount_given().amount_minor(), 500);
  EXPECT_EQ(rep.budget_left().amount_minor(), 9500);
  EXPECT_EQ(rep.redemptions_left(), 0);

  pv1::CancelRedemptionRequest cancel;
  cancel.set_order_id("o1");
  cancel.set_reason("customer cancelled");
  ASSERT_TRUE(promo().CancelRedemption(Ctx(svc()).get(), cancel, &r).ok());
  EXPECT_EQ(r.state(), pv1::REDEMPTION_STATE_CANCELLED);
  EXPECT_EQ(r.discount_released().amount_minor(), 250);
  ASSERT_TRUE(promo().CancelRedemption(Ctx(svc()).get(), cancel, &r).ok());  // idempotent

  rep = Report("limited");
  EXPECT_EQ(rep.redemptions(), 1);
  EXPECT_EQ(rep.cancelled_redemptions(), 1);
  EXPECT_EQ(rep.discount_given().amount_minor(), 250);
  EXPECT_EQ(rep.budget_left().amount_minor(), 9750);
  ASSERT_TRUE(Redeem("o3", token(), &r).ok());  // the released use is available again
}

TEST_F(PromotionQuoteTest, AnEditAfterAnnouncementIsANewVersionThatOlderQuotesCannotRedeem) {
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
  pv1::Campaign live = Live("edited", c);
  pv1::QuoteResponse before = Quote(Cart("", {CartLine("a", "X", "x", 1, 10000)}));
  ASSERT_EQ(before.applied_campaigns(0).discount().amount_minor(), 1000);

  pv1::UpdateCampaignRequest update;
  update.set_request_id("edit-1");
  update.mutable_campaign()->set_campaign_id("edited");
  *update.mutable_campaign()->add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() =
      Percent(2000);
  update.mutable_update_mask()->add_paths("rules");
  pv1::Campaign edited;
  ASSERT_TRUE(promo().UpdateCampaign(Ctx(admin()).get(), update, &edited).ok());
  EXPECT_EQ(edited.version(), live.version() + 1);
  EXPECT_EQ(edited.display_name(), live.display_name());  // not in the mask: kept

  // The next quote uses the new version; the old token names the old one.
  pv1::QuoteResponse after = Quote(Cart("", {CartLine("a", "X", "x", 1, 10000)}));
  EXPECT_EQ(after.applied_campaigns(0).discount().amount_minor(), 2000);
  EXPECT_EQ(after.applied_campaigns(0).campaign_version(), edited.version());
  pv1::Redemption r;
  grpc::Status stale = Redeem("order-stale", before.quote_token(), &r);
  EXPECT_EQ(stale.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(stale), "CAMPAIGN_CHANGED");
  ASSERT_TRUE(Redeem("order-fresh", after.quote_token(), &r).ok());
  pv1::GetCampaignRequest old_version;
  old_version.set_campaign_id("edited");
  old_version.set_version(live.version());
  pv1::Campaign v;
  ASSERT_TRUE(promo().GetCampaign(Ctx(admin()).get(), old_version, &v).ok());
  EXPECT_EQ(v.rules(0).effects(0).cart_discount().value().value().percent_off_bps(), 1000);

  // Dates move only through RescheduleCampaign; output fields are not editable.
  update.set_request_id("edit-2");
  update.mutable_update_mask()->clear_paths();
  update.mutable_update_mask()->add_paths("ends_at");
  grpc::Status immutable = promo().UpdateCampaign(Ctx(admin()).get(), update, &edited);
  EXPECT_EQ(immutable.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(immutable), "FIELD_IMMUTABLE");
  update.set_request_id("edit-3");
  update.mutable_update_mask()->clear_paths();
  update.mutable_update_mask()->add_paths("version");
  EXPECT_EQ(BadFields(promo().UpdateCampaign(Ctx(admin()).get(), update, &edited)),
            std::vector<std::string>{"update_mask"});
}

TEST_F(PromotionQuoteTest, ReturnsReleaseTheDiscountOfTheReturnedUnitsAndTheLastOneTheRedemption) {
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  c.mutable_limits()->set_max_redemptions(5);
  *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
  Live("returns", c);
  // 3 x 10.00 and 1 x 20.00: 10% off is 3.00 on the first line, 2.00 on the second.
  pv1::QuoteResponse q = Quote(Cart("", {CartLine("a", "A", "x", 3, 1000), CartLine("b", "B", "x", 1, 2000)}));
  pv1::Redemption r;
  ASSERT_TRUE(Redeem("order-r", q.quote_token(), &r).ok());
  ASSERT_EQ(Report("returns").discount_given().amount_minor(), 500);

  auto give_back = [&](const std::string& return_id, const std::vector<std::pair<std::string, int>>& lines,
                       pv1::ReturnRedemptionResponse* out) {
    pv1::ReturnRedemptionRequest req;
    req.set_order_id("order-r");
    req.set_return_id(return_id);
    for (const auto& [id, n] : lines) {
      auto* l = req.add_lines();
      l->set_line_id(id);
      l->set_quantity(n);
    }
    return promo().ReturnRedemption(Ctx(svc()).get(), req, out);
  };
  pv1::ReturnRedemptionResponse one;
  ASSERT_TRUE(give_back("ret-1", {{"a", 1}}, &one).ok());
  EXPECT_EQ(one.return_record().discount_on_returned_units().amount_minor(), 100);  // a third of 3.00
  EXPECT_EQ(one.return_record().discount_released().amount_minor(), 100);
  EXPECT_EQ(one.redemption().state(), pv1::REDEMPTION_STATE_PARTIALLY_RETURNED);
  pv1::CampaignReport rep = Report("returns");
  EXPECT_EQ(rep.discount_given().amount_minor(), 400);
  EXPECT_EQ(rep.redemptions(), 1);

  pv1::ReturnRedemptionResponse again;
  ASSERT_TRUE(give_back("ret-1", {{"a", 1}}, &again).ok());  // a retry: the first answer
  EXPECT_EQ(again.return_record().create_time().seconds(), one.return_record().create_time().seconds());
  EXPECT_EQ(Report("returns").discount_given().amount_minor(), 400);
  EXPECT_EQ(Reason(give_back("ret-1", {{"b", 1}}, &again)), "RETURN_ID_CONFLICT");
  EXPECT_EQ(Reason(give_back("ret-2", {{"a", 3}}, &again)), "RETURN_EXCEEDS_QUANTITY");

  // The rest of the order: everything released, the redemption count too.
  pv1::ReturnRedemptionResponse rest;
  ASSERT_TRUE(give_back("ret-3", {}, &rest).ok());
  EXPECT_EQ(rest.return_record().discount_on_returned_units().amount_minor(), 400);
  EXPECT_TRUE(rest.return_record().usage_released());
  EXPECT_EQ(rest.redemption().state(), pv1::REDEMPTION_STATE_RETURNED);
  rep = Report("returns");
  EXPECT_EQ(rep.discount_given().amount_minor(), 0);
  EXPECT_EQ(rep.redemptions(), 0);
  EXPECT_EQ(rep.returned_redemptions(), 1);
  EXPECT_EQ(rep.redemptions_left(), 5);
  grpc::Status done = give_back("ret-4", {}, &again);
  EXPECT_EQ(done.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(PromotionQuoteTest, ListsPageThroughCampaignsTheirVersionsAndRedemptions) {
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(500);
  for (const char* id : {"l-one", "l-two", "l-three"}) Live(id, c);
  pv1::Campaign draft;
  ASSERT_TRUE(Create("l-draft", BaseCampaign(Base() + absl::Hours(200)), &draft).ok());

  // Active campaigns, newest first, two per page.
  pv1::ListCampaignsRequest list;
  list.add_states(pv1::CAMPAIGN_STATE_ACTIVE);
  list.set_page_size(2);
  std::vector<std::string> ids;
  for (int pages = 0; pages < 5; ++pages) {
    pv1::ListCampaignsResponse page;
    ASSERT_TRUE(promo().ListCampaigns(Ctx(svc()).get(), list, &page).ok());
    for (const auto& x : page.campaigns()) ids.push_back(x.campaign_id());
    if (page.next_page_token().empty()) break;
    list.set_page_token(page.next_page_token());
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"l-three", "l-two", "l-one"}));

  pv1::ListCampaignVersionsRequest versions;
  versions.set_campaign_id("l-one");
  pv1::ListCampaignVersionsResponse vs;
  ASSERT_TRUE(promo().ListCampaignVersions(Ctx(svc()).get(), versions, &vs).ok());
  ASSERT_EQ(vs.versions_size(), 2);
  EXPECT_EQ(vs.versions(0).change(), pv1::CAMPAIGN_CHANGE_CREATED);
  EXPECT_EQ(vs.versions(1).change(), pv1::CAMPAIGN_CHANGE_ANNOUNCED);
  EXPECT_EQ(vs.versions(1).changed_fields().paths_size(), 0);

  // Edits name what they changed: the update mask, the dates that moved.
  pv1::UpdateCampaignRequest update;
  update.set_request_id("l-edit");
  update.mutable_campaign()->set_campaign_id("l-one");
  update.mutable_campaign()->set_display_name("Spring sale, extended");
  update.mutable_campaign()->set_description("Now with more days");
  update.mutable_update_mask()->add_paths("display_name");
  update.mutable_update_mask()->add_paths("description");
  pv1::Campaign edited;
  ASSERT_TRUE(promo().UpdateCampaign(Ctx(admin()).get(), update, &edited).ok());
  pv1::RescheduleCampaignRequest move;
  move.set_request_id("l-move");
  move.set_campaign_id("l-one");
  *move.mutable_starts_at() = edited.starts_at();  // unchanged: not a moved date
  *move.mutable_ends_at() = ToTimestamp(FromTimestamp(edited.ends_at()) + absl::Hours(24));
  ASSERT_TRUE(promo().RescheduleCampaign(Ctx(admin()).get(), move, &edited).ok());
  pv1::ListCampaignVersionsResponse more;
  ASSERT_TRUE(promo().ListCampaignVersions(Ctx(svc()).get(), versions, &more).ok());
  ASSERT_EQ(more.versions_size(), 4);
  EXPECT_EQ(more.versions(2).change(), pv1::CAMPAIGN_CHANGE_UPDATED);
  EXPECT_THAT(more.versions(2).changed_fields().paths(), ::testing::ElementsAre("display_name", "description"));
  EXPECT_EQ(more.versions(3).change(), pv1::CAMPAIGN_CHANGE_RESCHEDULED);
  EXPECT_THAT(more.versions(3).changed_fields().paths(), ::testing::ElementsAre("ends_at"));

  MakeTier("lena", "silver");
  pv1::Redemption r;
  ASSERT_TRUE(Redeem("l-order-1", Quote(Cart("lena", {CartLine("a", "X", "x", 1, 1000)})).quote_token(), &r).ok());
  ASSERT_TRUE(Redeem("l-order-2", Quote(Cart("", {CartLine("a", "X", "x", 1, 1000)})).quote_token(), &r).ok());
  pv1::ListRedemptionsRequest mine;
  mine.set_member_id("lena");
  pv1::ListRedemptionsResponse rs;
  ASSERT_TRUE(promo().ListRedemptions(Ctx(svc()).get(), mine, &rs).ok());
  ASSERT_EQ(rs.redemptions_size(), 1);
  EXPECT_EQ(rs.redemptions(0).order_id(), "l-order-1");
  mine.clear_member_id();
  mine.set_campaign_id("l-two");
  ASSERT_TRUE(promo().ListRedemptions(Ctx(svc()).get(), mine, &rs).ok());
  EXPECT_EQ(rs.redemptions_size(), 2);
}

TEST_F(PromotionQuoteTest, ASegmentCampaignReachesOnlyMembersOfThatSegment) {
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  c.mutable_audience()->add_segments("vip");
  *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
  Live("vip-only", c);
  Enrol("seg-vip", [](lv1::Member* m) { m->set_segment("vip"); });
  Enrol("seg-retail", [](lv1::Member* m) { m->set_segment("retail"); });
  EXPECT_TRUE(Applied(Quote(Cart("seg-vip", {CartLine("a", "X", "x", 1, 1000)})), "vip-only"));
  EXPECT_EQ(Rejection(Quote(Cart("seg-retail", {CartLine("a", "X", "x", 1, 1000)})), "vip-only"),
            pv1::REJECTION_REASON_SEGMENT_NOT_TARGETED);
  EXPECT_EQ(Rejection(Quote(Cart("", {CartLine("a", "X", "x", 1, 1000)})), "vip-only"),
            pv1::REJECTION_REASON_GUEST_NOT_ELIGIBLE);
}

}  // namespace
}  // namespace care::testing
