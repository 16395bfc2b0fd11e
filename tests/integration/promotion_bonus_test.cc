// Bonus points from campaigns (issue 22, item 4) through the real
// care_promotion and care_loyalty: the quote shows them, the redemption
// carries them and holds them of the campaign's points budget, and loyalty's
// RecordPurchase credits them once, reading the redemption from promotion
// (never the caller's number).
#include <algorithm>
#include <atomic>
#include <thread>

#include "tests/integration/promotion_fixture.h"

namespace care::testing {
namespace {

class PromotionBonusTest : public LinkedPromotionTest {
 protected:
  // 50 points per order and 10 per unit of TEA (5 units at most); points
  // budget `budget` (0 = unlimited).
  pv1::Campaign BonusCampaign(int64_t budget) {
    pv1::Campaign c = BaseCampaign(Base());
    c.clear_starts_at();
    c.mutable_limits()->set_points_budget(budget);
    auto* bp = c.add_rules()->add_effects()->mutable_bonus_points();
    bp->set_points_per_order(50);
    bp->set_points_per_unit(10);
    bp->mutable_items()->add_skus("TEA");
    bp->set_max_units(5);
    return c;
  }

  pv1::Redemption RedeemOk(const std::string& order_id, const std::string& token) {
    pv1::Redemption r;
    grpc::Status s = Redeem(order_id, token, &r);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return r;
  }

  // Returns `quantity` units of line `line_id` of `order_id`.
  pv1::ReturnRedemptionResponse ReturnOk(const std::string& order_id, const std::string& return_id,
                                         const std::string& line_id, int quantity) {
    pv1::ReturnRedemptionRequest req;
    req.set_order_id(order_id);
    req.set_return_id(return_id);
    pv1::ReturnLine* line = req.add_lines();
    line->set_line_id(line_id);
    line->set_quantity(quantity);
    pv1::ReturnRedemptionResponse out;
    grpc::Status s = promo().ReturnRedemption(Ctx(svc()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  grpc::Status PurchaseWith(const std::string& member_id, const std::string& order_id, int64_t amount,
                            const std::string& redemption_id, lv1::RecordPurchaseResponse* out) {
    lv1::RecordPurchaseRequest req = PurchaseRequest(member_id, order_id, amount);
    req.set_promotion_redemption_id(redemption_id);
    return stub().RecordPurchase(Ctx(svc()).get(), req, out);
  }
};

TEST_F(PromotionBonusTest, QuoteShowsTheBonusAndLoyaltyCreditsItOnce) {
  Live("tea-bonus", BonusCampaign(10000));
  Enrol("m-ada");
  // 3 TEA units: 50 + 3 x 10 = 80 points; no money off.
  pv1::QuoteResponse q = Quote(Cart("m-ada",
                                    {CartLine("a", "TEA", "drinks", 3, 1000), CartLine("b", "CUP", "", 1, 2000)}));
  ASSERT_EQ(q.applied_campaigns_size(), 1);
  EXPECT_EQ(q.applied_campaigns(0).campaign_id(), "tea-bonus");
  EXPECT_EQ(q.applied_campaigns(0).bonus_points(), 80);
  EXPECT_EQ(q.applied_campaigns(0).discount().amount_minor(), 0);
  EXPECT_EQ(q.bonus_points(), 80);
  EXPECT_EQ(q.totals().total().amount_minor(), 5000);
  // max_units: 9 TEA units count as 5.
  EXPECT_EQ(Quote(Cart("m-ada", {CartLine("a", "TEA", "drinks", 9, 1000)})).bonus_points(), 100);
  // A guest is given none: the campaign has nothing for them.
  pv1::QuoteResponse guest = Quote(Cart("", {CartLine("a", "TEA", "drinks", 3, 1000)}));
  EXPECT_EQ(guest.bonus_points(), 0);
  EXPECT_EQ(Rejection(guest, "tea-bonus"), pv1::REJECTION_REASON_NO_EFFECT);

  pv1::Redemption r = RedeemOk("order-1", q.quote_token());
  EXPECT_EQ(r.bonus_points(), 80);
  ASSERT_EQ(r.campaigns_size(), 1);
  EXPECT_EQ(r.campaigns(0).bonus_points(), 80);
  pv1::CampaignReport rep = Report("tea-bonus");
  EXPECT_EQ(rep.points_given(), 80);
  EXPECT_EQ(rep.points_budget_left(), 9920);

  // 50.00 paid earns 50 points, plus the redemption's 80.
  lv1::RecordPurchaseResponse first;
  grpc::Status s = PurchaseWith("m-ada", "order-1", 5000, r.redemption_id(), &first);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(first.points_earned(), 130);
  EXPECT_EQ(first.campaign_bonus_points(), 80);
  EXPECT_EQ(first.points_balance(), 130);
  ASSERT_GE(first.entries_size(), 1);
  const lv1::EarnCalculation& calc = first.entries(0).purchase().calculation();
  EXPECT_EQ(first.entries(0).kind(), lv1::LEDGER_ENTRY_KIND_EARN);
  EXPECT_EQ(calc.campaign_bonus_points(), 80);
  EXPECT_EQ(calc.promotion_redemption_id(), r.redemption_id());

  // A retry is the first answer: credited once.
  lv1::RecordPurchaseResponse again;
  s = PurchaseWith("m-ada", "order-1", 5000, r.redemption_id(), &again);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(again.points_earned(), 130);
  EXPECT_EQ(again.points_balance(), 130);
  EXPECT_EQ(Balance("m-ada").balance(), 130);

  // Another order cannot claim the redemption: its own order has none ...
  lv1::RecordPurchaseResponse other;
  s = PurchaseWith("m-ada", "order-2", 5000, r.redemption_id(), &other);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(s);
  EXPECT_EQ(Reason(s), "REDEMPTION_NOT_FOUND");
  // ... or another one, whose id is not this one.
  pv1::Redemption r3 = RedeemOk("order-3", Quote(Cart("m-ada", {CartLine("a", "TEA", "", 1, 1000)})).quote_token());
  EXPECT_EQ(r3.bonus_points(), 60);
  s = PurchaseWith("m-ada", "order-3", 1000, r.redemption_id(), &other);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(s);
  EXPECT_EQ(Reason(s), "REDEMPTION_MISMATCH");
  EXPECT_EQ(ReasonMetadata(s, "field"), "promotion_redemption_id");
  // Another member's redemption is not this member's bonus.
  Enrol("m-bob");
  pv1::Redemption bobs = RedeemOk("order-4", Quote(Cart("m-bob", {CartLine("a", "TEA", "", 1, 1000)})).quote_token());
  s = PurchaseWith("m-ada", "order-4", 1000, bobs.redemption_id(), &other);
  EXPECT_EQ(Reason(s), "REDEMPTION_MISMATCH") << Describe(s);
  // A cancelled redemption gives nothing, and its points go back to the budget.
  pv1::CancelRedemptionRequest cancel;
  cancel.set_order_id("order-3");
  pv1::Redemption cancelled;
  s = promo().CancelRedemption(Ctx(svc()).get(), cancel, &cancelled);
  ASSERT_TRUE(s.ok()) << Describe(s);
  s = PurchaseWith("m-ada", "order-3", 1000, r3.redemption_id(), &other);
  EXPECT_EQ(Reason(s), "REDEMPTION_MISMATCH") << Describe(s);
  EXPECT_EQ(Balance("m-ada").balance(), 130);
  EXPECT_EQ(Report("tea-bonus").points_given(), 80 + 60);  // order-1 and bob's order-4

  // The order-3 purchase without the bonus is still recorded normally.
  lv1::RecordPurchaseResponse plain = Purchase("m-ada", "order-3", 1000);
  EXPECT_EQ(plain.points_earned(), 10);
  EXPECT_EQ(plain.campaign_bonus_points(), 0);

  // A full return takes back the whole EARN entry, bonus included.
  lv1::RecordReturnRequest ret;
  ret.set_request_id("ret-1");
  ret.set_return_id("ret-1");
  ret.set_order_id("order-1");
  ret.set_kind(lv1::RETURN_KIND_FULL);
  lv1::RecordReturnResponse returned;
  s = stub().RecordReturn(Ctx(svc()).get(), ret, &returned);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(returned.points_reversed(), 130);
  EXPECT_EQ(Balance("m-ada").balance(), 10);
}

TEST_F(PromotionBonusTest, ThePointsBudgetIsNeverExceededByConcurrentRedemptions) {
  // 1000 points; each order is quoted 100 (50 + 5 TEA x 10): ten fit.
  Live("tea-budget", BonusCampaign(1000));
  Enrol("m-cy");
  std::vector<std::string> tokens;
  for (int i = 0; i < 30; ++i) {
    pv1::QuoteResponse q = Quote(Cart("m-cy", {CartLine("a", "TEA", "", 5, 1000 + i)}));
    ASSERT_EQ(q.bonus_points(), 100);
    tokens.push_back(q.quote_token());
  }
  std::atomic<int> ok{0};
  std::vector<grpc::Status> failures(tokens.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < tokens.size(); ++i) {
    threads.emplace_back([&, i] {
      pv1::Redemption r;
      grpc::Status s = Redeem(absl::StrCat("order-", i), tokens[i], &r);
      if (s.ok()) {
        ok.fetch_add(1);
      } else {
        failures[i] = s;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 10);
  for (const grpc::Status& s : failures) {
    if (s.ok()) continue;
    EXPECT_EQ(Reason(s), "BUDGET_EXHAUSTED") << Describe(s);
    EXPECT_EQ(ReasonMetadata(s, "budget"), "points");
  }
  pv1::CampaignReport rep = Report("tea-budget");
  EXPECT_EQ(rep.points_given(), 1000);
  EXPECT_EQ(rep.points_budget_left(), 0);
  // Used up: the campaign no longer applies.
  pv1::QuoteResponse after = Quote(Cart("m-cy", {CartLine("a", "TEA", "", 5, 1000)}));
  EXPECT_EQ(Rejection(after, "tea-budget"), pv1::REJECTION_REASON_BUDGET_EXHAUSTED);
  EXPECT_EQ(after.bonus_points(), 0);
}

TEST_F(PromotionBonusTest, AQuoteIsCappedAtThePointsLeftAndReleasesComeBack) {
  Live("tea-cap", BonusCampaign(150));
  Enrol("m-di");
  pv1::Redemption first = RedeemOk("order-a", Quote(Cart("m-di", {CartLine("a", "TEA", "", 5, 1000)})).quote_token());
  EXPECT_EQ(first.bonus_points(), 100);
  // 50 left: the next order is quoted 50, capped.
  pv1::QuoteResponse q = Quote(Cart("m-di", {CartLine("a", "TEA", "", 5, 1000)}));
  ASSERT_EQ(q.applied_campaigns_size(), 1);
  EXPECT_EQ(q.applied_campaigns(0).bonus_points(), 50);
  EXPECT_TRUE(q.applied_campaigns(0).capped());
  // A partial return gives back the returned share of the order's value (2
  // of 5 equal units: 40 of 100); the last unit gives back the rest.
  pv1::ReturnRedemptionResponse partial = ReturnOk("order-a", "ret-a1", "a", 2);
  EXPECT_EQ(partial.return_record().bonus_points_released(), 40);
  ASSERT_EQ(partial.redemption().campaigns_size(), 1);
  EXPECT_EQ(partial.redemption().campaigns(0).bonus_points_released(), 40);
  EXPECT_EQ(partial.redemption().bonus_points(), 100);
  EXPECT_EQ(Report("tea-cap").points_given(), 60);
  // A retry gives back nothing more.
  EXPECT_EQ(ReturnOk("order-a", "ret-a1", "a", 2).return_record().bonus_points_released(), 40);
  EXPECT_EQ(Report("tea-cap").points_given(), 60);
  pv1::ReturnRedemptionRequest rest;
  rest.set_order_id("order-a");
  rest.set_return_id("ret-a2");
  pv1::ReturnRedemptionResponse full;
  grpc::Status s = promo().ReturnRedemption(Ctx(svc()).get(), rest, &full);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(full.return_record().bonus_points_released(), 60);
  EXPECT_EQ(full.redemption().bonus_points_released(), 100);
  EXPECT_EQ(Report("tea-cap").points_given(), 0);
  EXPECT_EQ(Report("tea-cap").points_budget_left(), 150);
  // The capped quote of 50 still redeems.
  EXPECT_EQ(RedeemOk("order-b", q.quote_token()).bonus_points(), 50);
}

TEST_F(PromotionBonusTest, APartialReturnThenACancelGiveBackTheBonusExactlyOnce) {
  Live("tea-part", BonusCampaign(1000));
  Enrol("m-ed");
  // Two lines of different value, 3 x 1000 and 1 x 7000: 50 + 4 x 10 points.
  pv1::Redemption r = RedeemOk(
      "order-e",
      Quote(Cart("m-ed", {CartLine("a", "TEA", "", 3, 1000), CartLine("b", "TEA", "", 1, 7000)})).quote_token());
  ASSERT_EQ(r.bonus_points(), 90);
  pv1::ReturnRedemptionResponse partial = ReturnOk("order-e", "ret-e1", "a", 1);
  // 1000 of the order's 10000: floor(90 / 10) = 9 points.
  EXPECT_EQ(partial.return_record().bonus_points_released(), 9);
  EXPECT_EQ(Report("tea-part").points_given(), 81);
  // A purchase recorded after the return is credited what the campaign still
  // holds, not the share it gave back.
  lv1::RecordPurchaseResponse bought;
  grpc::Status s = PurchaseWith("m-ed", "order-e", 9000, r.redemption_id(), &bought);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(bought.campaign_bonus_points(), 81);
  pv1::CancelRedemptionRequest cancel;
  cancel.set_request_id("cancel-e");
  cancel.set_order_id("order-e");
  pv1::Redemption cancelled;
  s = promo().CancelRedemption(Ctx(svc()).get(), cancel, &cancelled);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(cancelled.bonus_points_released(), 90);
  EXPECT_EQ(Report("tea-part").points_given(), 0);
  EXPECT_EQ(Report("tea-part").points_budget_left(), 1000);
  // Cancelling again gives back nothing more.
  s = promo().CancelRedemption(Ctx(svc()).get(), cancel, &cancelled);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(Report("tea-part").points_budget_left(), 1000);
}

TEST_F(PromotionBonusTest, AmongPeersOnlyLoyaltyReadsRedemptions) {
  Live("tea-peer", BonusCampaign(0));
  Enrol("m-fay");
  RedeemOk("order-p", Quote(Cart("m-fay", {CartLine("a", "TEA", "", 1, 1000)})).quote_token());
  pv1::GetRedemptionRequest get;
  get.set_order_id("order-p");
  pv1::Redemption seen;
  grpc::Status s = promo().GetRedemption(Ctx(tokens_.peer_loyalty).get(), get, &seen);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(seen.bonus_points(), 60);
  s = promo().GetRedemption(Ctx(tokens_.peer_complaint).get(), get, &seen);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
  EXPECT_EQ(Reason(s), "PEER_NOT_ALLOWED");
}

TEST_F(PromotionBonusTest, BadBonusSettingsAreRefusedNamingTheField) {
  pv1::Campaign none = BonusCampaign(0);
  none.mutable_rules(0)->mutable_effects(0)->mutable_bonus_points()->set_points_per_order(0);
  none.mutable_rules(0)->mutable_effects(0)->mutable_bonus_points()->set_points_per_unit(0);
  pv1::Campaign out;
  grpc::Status s = Create("no-points", none, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_EQ(Reason(s), "INVALID_FIELD");
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"campaign.rules[0].effects[0].bonus_points"});

  pv1::Campaign huge = BonusCampaign(0);
  huge.mutable_rules(0)->mutable_effects(0)->mutable_bonus_points()->set_points_per_unit(1'000'000'001);
  huge.mutable_rules(0)->mutable_effects(0)->mutable_bonus_points()->set_max_units(-1);
  huge.mutable_limits()->set_points_budget(-5);
  s = Create("huge-points", huge, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  std::vector<std::string> fields = BadFields(s);
  std::sort(fields.begin(), fields.end());
  EXPECT_EQ(fields, (std::vector<std::string>{"campaign.limits.points_budget",
                                              "campaign.rules[0].effects[0].bonus_points.max_units",
                                              "campaign.rules[0].effects[0].bonus_points.points_per_unit"}));

  Enrol("m-ed");
  lv1::RecordPurchaseResponse resp;
  s = PurchaseWith("m-ed", "order-x", 1000, "not an id!", &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"promotion_redemption_id"});
  EXPECT_EQ(Balance("m-ed").balance(), 0);
}

}  // namespace
}  // namespace care::testing
