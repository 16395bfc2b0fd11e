// Money and input invariants of the promotion service (issue 15), through
// the generated client against the real binaries: releases never give back
// more than a redemption holds, one quote token redeems one order, the quote
// index never keeps a cancelled campaign, every write path validates the
// whole campaign, text limits count characters, and the smaller promises
// (report voucher uses, rejection details, configuration errors).
#include <atomic>
#include <thread>

#include "gmock/gmock.h"
#include "tests/integration/promotion_fixture.h"

namespace care::testing {
namespace {

class PromotionInvariantsTest : public PromotionTest {
 protected:
  void SetUp() override {
    PromotionTest::SetUp();
    if (HasFatalFailure()) return;
    StartPromotion();
  }

  grpc::Status Cancel(const std::string& order_id, pv1::Redemption* out) {
    pv1::CancelRedemptionRequest req;
    req.set_order_id(order_id);
    return promo().CancelRedemption(Ctx(svc()).get(), req, out);
  }

  grpc::Status GiveBack(const std::string& order_id, const std::string& return_id,
                        std::vector<std::pair<std::string, int>> lines, pv1::ReturnRedemptionResponse* out) {
    pv1::ReturnRedemptionRequest req;
    req.set_order_id(order_id);
    req.set_return_id(return_id);
    for (auto& [id, n] : lines) {
      auto* l = req.add_lines();
      l->set_line_id(id);
      l->set_quantity(n);
    }
    return promo().ReturnRedemption(Ctx(svc()).get(), req, out);
  }

  pv1::Voucher Voucher(const std::string& code) {
    pv1::GetVoucherRequest req;
    req.set_code(code);
    pv1::Voucher out;
    grpc::Status s = promo().GetVoucher(Ctx(svc()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  // budget given + budget left = budget, and the counts within [0, limit].
  void ExpectHeld(const std::string& id, int64_t budget, int64_t max_redemptions, int64_t given, int64_t live) {
    pv1::CampaignReport rep = Report(id);
    EXPECT_EQ(rep.discount_given().amount_minor(), given) << id;
    EXPECT_EQ(rep.discount_given().amount_minor() + rep.budget_left().amount_minor(), budget) << id;
    EXPECT_EQ(rep.redemptions(), live) << id;
    EXPECT_GE(rep.redemptions(), 0);
    EXPECT_LE(rep.redemptions(), max_redemptions);
    EXPECT_EQ(rep.redemptions_left(), max_redemptions - live) << id;
  }

  grpc::Status Update(const std::string& request_id, const pv1::Campaign& c, std::vector<std::string> paths,
                      pv1::Campaign* out) {
    pv1::UpdateCampaignRequest req;
    req.set_request_id(request_id);
    *req.mutable_campaign() = c;
    for (auto& p : paths) req.mutable_update_mask()->add_paths(p);
    return promo().UpdateCampaign(Ctx(admin()).get(), req, out);
  }

  static pv1::Campaign TenPercent() {
    pv1::Campaign c = BaseCampaign(Base());
    c.clear_starts_at();
    *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
    return c;
  }

  // `n` copies of a character of `utf8` (one code point).
  static std::string Repeat(const std::string& utf8, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += utf8;
    return out;
  }
};

// Defect 1: a partial return and then a cancellation released the whole
// discount and the counts a second time.
TEST_F(PromotionInvariantsTest, EveryReleaseGivesBackOnlyWhatIsStillHeld) {
  pv1::Campaign c = TenPercent();
  c.mutable_limits()->set_max_redemptions(1);
  *c.mutable_limits()->mutable_max_discount_total() = Usd(10000);
  Live("once", c);
  // 3 x 10.00 and 1 x 20.00: 10% is 3.00 on the first line, 2.00 on the second.
  auto cart = [] { return Cart("", {CartLine("a", "A", "x", 3, 1000), CartLine("b", "B", "x", 1, 2000)}); };
  pv1::Redemption r;
  ASSERT_TRUE(Redeem("o1", Quote(cart()).quote_token(), &r).ok());
  ExpectHeld("once", 10000, 1, 500, 1);

  pv1::ReturnRedemptionResponse ret;
  ASSERT_TRUE(GiveBack("o1", "o1-r1", {{"a", 1}}, &ret).ok());
  EXPECT_EQ(ret.return_record().discount_released().amount_minor(), 100);
  ExpectHeld("once", 10000, 1, 400, 1);

  // The cancellation releases the 4.00 still held, not the 5.00 quoted.
  ASSERT_TRUE(Cancel("o1", &r).ok());
  EXPECT_EQ(r.state(), pv1::REDEMPTION_STATE_CANCELLED);
  EXPECT_EQ(r.discount_released().amount_minor(), 500);  // 1.00 by the return + 4.00 now
  ExpectHeld("once", 10000, 1, 0, 0);
  ASSERT_TRUE(Cancel("o1", &r).ok());  // idempotent: nothing more
  ExpectHeld("once", 10000, 1, 0, 0);
  // A return after the cancellation releases nothing.
  EXPECT_EQ(Reason(GiveBack("o1", "o1-r2", {{"a", 1}}, &ret)), "REDEMPTION_CANCELLED");
  ExpectHeld("once", 10000, 1, 0, 0);

  // The one redemption is free again: exactly one more order gets it (both
  // quoted while it is free).
  std::string t2 = Quote(cart()).quote_token(), t3 = Quote(cart()).quote_token();
  ASSERT_TRUE(Redeem("o2", t2, &r).ok());
  ExpectHeld("once", 10000, 1, 500, 1);
  EXPECT_EQ(Reason(Redeem("o3", t3, &r)), "REDEMPTION_LIMIT_REACHED");

  // Returned in two steps, then cancelled: the cancellation finds nothing
  // left and the redemption stays RETURNED.
  ASSERT_TRUE(GiveBack("o2", "o2-r1", {{"a", 2}, {"b", 1}}, &ret).ok());
  ASSERT_TRUE(GiveBack("o2", "o2-r2", {}, &ret).ok());
  EXPECT_EQ(ret.redemption().state(), pv1::REDEMPTION_STATE_RETURNED);
  EXPECT_EQ(ret.redemption().discount_released().amount_minor(), 500);
  ExpectHeld("once", 10000, 1, 0, 0);
  ASSERT_TRUE(Cancel("o2", &r).ok());
  EXPECT_EQ(r.state(), pv1::REDEMPTION_STATE_RETURNED);
  EXPECT_EQ(r.discount_released().amount_minor(), 500);
  ExpectHeld("once", 10000, 1, 0, 0);

  // Still exactly one live redemption possible.
  std::string t4 = Quote(cart()).quote_token(), t5 = Quote(cart()).quote_token();
  ASSERT_TRUE(Redeem("o4", t4, &r).ok());
  EXPECT_EQ(Reason(Redeem("o5", t5, &r)), "REDEMPTION_LIMIT_REACHED");
  ExpectHeld("once", 10000, 1, 500, 1);
}

TEST_F(PromotionInvariantsTest, VoucherUsesAreReleasedOncePerRedemption) {
  pv1::Campaign c = TenPercent();
  c.set_voucher_required(true);
  Live("coded", c);
  pv1::GenerateVouchersRequest gen;
  gen.set_request_id("gen-1");
  gen.set_campaign_id("coded");
  gen.set_count(1);
  gen.set_max_uses(2);
  pv1::GenerateVouchersResponse batch;
  ASSERT_TRUE(promo().GenerateVouchers(Ctx(admin()).get(), gen, &batch).ok());
  const std::string code = batch.vouchers(0).code();
  auto token = [&] {
    pv1::QuoteRequest q = Cart("", {CartLine("a", "A", "x", 2, 1000)});
    q.add_voucher_codes(code);
    return Quote(q).quote_token();
  };
  pv1::Redemption r;
  ASSERT_TRUE(Redeem("v1", token(), &r).ok());
  ASSERT_TRUE(Redeem("v2", token(), &r).ok());
  EXPECT_EQ(Voucher(code).uses(), 2);
  // v1 returned in full, then cancelled: its one use comes back once; v2
  // still holds the other.
  pv1::ReturnRedemptionResponse ret;
  ASSERT_TRUE(GiveBack("v1", "v1-r1", {}, &ret).ok());
  ASSERT_TRUE(Cancel("v1", &r).ok());
  EXPECT_EQ(Voucher(code).uses(), 1);
  EXPECT_EQ(Report("coded").voucher_uses(), 1);
  std::string t3 = token(), t4 = token();  // both quoted with one use left
  ASSERT_TRUE(Redeem("v3", t3, &r).ok());
  EXPECT_EQ(Reason(Redeem("v4", t4, &r)), "VOUCHER_EXHAUSTED");
  EXPECT_EQ(Voucher(code).uses(), 2);
}

// Defect 6: one token redeemed any number of orders, all with one id.
TEST_F(PromotionInvariantsTest, OneQuoteTokenRedeemsOneOrder) {
  Live("ten", TenPercent());
  auto cart = [] { return Cart("", {CartLine("a", "A", "x", 1, 1000)}); };
  const std::string token = Quote(cart()).quote_token();
  pv1::Redemption first, retry, other;
  ASSERT_TRUE(Redeem("t-1", token, &first).ok());
  ASSERT_TRUE(Redeem("t-1", token, &retry).ok());  // a retry: the first answer
  EXPECT_EQ(retry.redemption_id(), first.redemption_id());
  grpc::Status again = Redeem("t-2", token, &other);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::ALREADY_EXISTS) << Describe(again);
  EXPECT_EQ(Reason(again), "QUOTE_TOKEN_USED");
  EXPECT_EQ(ReasonMetadata(again, "order_id"), "t-1");
  EXPECT_EQ(Report("ten").redemptions(), 1);
  // Not even once the first order is cancelled.
  ASSERT_TRUE(Cancel("t-1", &other).ok());
  EXPECT_EQ(Reason(Redeem("t-3", token, &other)), "QUOTE_TOKEN_USED");
  // Another order with its own quote gets its own redemption id.
  ASSERT_TRUE(Redeem("t-4", Quote(cart()).quote_token(), &other).ok());
  EXPECT_NE(other.redemption_id(), first.redemption_id());
  EXPECT_EQ(Report("ten").redemptions(), 1);
}

// Defect 3: concurrent update and cancel of one campaign left the old
// version in the quote index.
TEST_F(PromotionInvariantsTest, ConcurrentUpdatesAndCancelsNeverLeaveACancelledCampaignApplied) {
  constexpr int kCampaigns = 250;  // the race showed in 2 of 120 before the fix: more draws
  pv1::Campaign c = BaseCampaign(Base());
  c.clear_starts_at();
  *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(10);
  for (int i = 0; i < kCampaigns; ++i) Live(absl::StrCat("race-", i), c);
  ASSERT_EQ(Quote(Cart("", {CartLine("a", "A", "x", 1, 100000)})).applied_campaigns_size(), kCampaigns);

  std::atomic<int> next{0}, cancelled{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&] {
      for (int i = next.fetch_add(1); i < kCampaigns; i = next.fetch_add(1)) {
        const std::string id = absl::StrCat("race-", i);
        std::thread update([&, id] {
          pv1::Campaign edit;
          edit.set_campaign_id(id);
          *edit.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(20);
          pv1::Campaign out;
          pv1::UpdateCampaignRequest req;
          req.set_request_id("edit-" + id);
          *req.mutable_campaign() = edit;
          req.mutable_update_mask()->add_paths("rules");
          promo().UpdateCampaign(Ctx(admin()).get(), req, &out);  // may come after the cancel: refused
        });
        pv1::CancelCampaignRequest cancel;
        cancel.set_request_id("cancel-" + id);
        cancel.set_campaign_id(id);
        pv1::Campaign out;
        if (promo().CancelCampaign(Ctx(admin()).get(), cancel, &out).ok()) cancelled.fetch_add(1);
        update.join();
      }
    });
  }
  for (auto& t : workers) t.join();
  ASSERT_EQ(cancelled.load(), kCampaigns);
  pv1::QuoteResponse q = Quote(Cart("", {CartLine("a", "A", "x", 1, 100000)}));
  std::vector<std::string> still;
  for (const auto& a : q.applied_campaigns()) still.push_back(a.campaign_id());
  EXPECT_THAT(still, ::testing::IsEmpty());
  pv1::QuoteRequest all = Cart("", {CartLine("a", "A", "x", 1, 100000)});
  all.set_explain_all(true);
  EXPECT_EQ(Quote(all).rejected_campaigns_size(), 0);  // none left in the index at all
}

// Defect 7: UpdateCampaign skipped every check CreateCampaign makes.
TEST_F(PromotionInvariantsTest, UpdateValidatesTheMergedCampaignLikeCreate) {
  pv1::Campaign live = Live("checked", TenPercent());
  pv1::Campaign edit;
  edit.set_campaign_id("checked");
  pv1::Campaign out;

  edit.set_display_name(std::string(100 * 1024, 'x'));
  grpc::Status s = Update("u-name", edit, {"display_name"}, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(s), "INVALID_FIELD");
  EXPECT_THAT(BadFields(s), ::testing::ElementsAre("campaign.display_name"));

  edit.set_time_zone("Mars/Olympus_Mons");
  s = Update("u-zone", edit, {"time_zone"}, &out);
  EXPECT_THAT(BadFields(s), ::testing::ElementsAre("campaign.time_zone"));

  edit.mutable_limits()->set_max_redemptions(-5);
  s = Update("u-limit", edit, {"limits.max_redemptions"}, &out);
  EXPECT_THAT(BadFields(s), ::testing::ElementsAre("campaign.limits.max_redemptions"));

  // An amount in EUR in a USD campaign, by update and by create.
  pv1::Campaign eur;
  eur.set_campaign_id("checked");
  eur.mutable_limits()->mutable_max_discount_total()->set_amount_minor(5000);
  eur.mutable_limits()->mutable_max_discount_total()->set_currency_code("EUR");
  s = Update("u-eur", eur, {"limits.max_discount_total"}, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(s), "CURRENCY_MISMATCH");
  EXPECT_THAT(BadFields(s), ::testing::ElementsAre("campaign.limits.max_discount_total.currency_code"));
  pv1::Campaign rule;
  rule.set_campaign_id("checked");
  auto* amount = rule.add_rules()->add_effects()->mutable_item_discount();
  amount->mutable_items()->add_skus("A");
  amount->mutable_value()->mutable_value()->mutable_amount_off()->set_amount_minor(100);
  amount->mutable_value()->mutable_value()->mutable_amount_off()->set_currency_code("EUR");
  s = Update("u-rule-eur", rule, {"rules"}, &out);
  EXPECT_EQ(Reason(s), "CURRENCY_MISMATCH");
  EXPECT_THAT(BadFields(s), ::testing::ElementsAre(
                                "campaign.rules[0].effects[0].item_discount.value.value.amount_off.currency_code"));
  pv1::Campaign created = TenPercent();
  *created.mutable_rules(0)->add_conditions()->mutable_min_spend()->mutable_amount() = Usd(100);
  created.mutable_rules(0)->mutable_conditions(0)->mutable_min_spend()->mutable_amount()->set_currency_code("EUR");
  s = Create("created-eur", created, &out);
  EXPECT_EQ(Reason(s), "CURRENCY_MISMATCH");

  // Nothing was stored by any of them.
  pv1::GetCampaignRequest get;
  get.set_campaign_id("checked");
  ASSERT_TRUE(promo().GetCampaign(Ctx(admin()).get(), get, &out).ok());
  EXPECT_EQ(out.version(), live.version());
  EXPECT_EQ(out.display_name(), live.display_name());

  // A cart line priced in another currency than the cart's.
  pv1::QuoteRequest cart = Cart("", {CartLine("a", "A", "x", 1, 1000)});
  cart.mutable_lines(0)->mutable_unit_price()->set_currency_code("EUR");
  pv1::QuoteResponse q;
  s = promo().Quote(Ctx(svc()).get(), cart, &q);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(s), "CURRENCY_MISMATCH");
  EXPECT_THAT(BadFields(s), ::testing::ElementsAre("lines[0].unit_price.currency_code"));
}

TEST_F(PromotionInvariantsTest, GoodwillVouchersFollowTheContract) {
  Enrol("gw-ann");
  pv1::IssueVoucherRequest issue;
  issue.set_request_id("comp-1");
  issue.set_member_id("gw-ann");
  *issue.mutable_value() = Usd(500);
  issue.set_reason_code("late delivery");
  issue.mutable_validity()->set_seconds(int64_t{367} * 24 * 3600);
  pv1::Voucher v;
  grpc::Status s = promo().IssueVoucher(Ctx(goodwill()).get(), issue, &v);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(BadFields(s), ::testing::UnorderedElementsAre("validity", "reason_code"));
  issue.set_reason_code("LATE_DELIVERY");
  issue.mutable_validity()->set_seconds(int64_t{366} * 24 * 3600);
  ASSERT_TRUE(promo().IssueVoucher(Ctx(goodwill()).get(), issue, &v).ok());

  // A member loyalty does not know is refused for good.
  issue.set_request_id("comp-2");
  issue.set_member_id("gw-nobody");
  s = promo().IssueVoucher(Ctx(goodwill()).get(), issue, &v);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(s);
  EXPECT_EQ(Reason(s), "MEMBER_NOT_FOUND");

  // Loyalty down: the member cannot be verified, retry later (UNAVAILABLE);
  // the retry after loyalty is back issues it once.
  service_->Kill();
  issue.set_request_id("comp-3");
  issue.set_member_id("gw-bob");
  s = promo().IssueVoucher(Ctx(goodwill()).get(), issue, &v);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(s);
  EXPECT_EQ(Reason(s), "MEMBER_UNVERIFIED");
  ASSERT_TRUE(service_->Restart().ok());
  Connect();
  SetTime(Base());
  Enrol("gw-bob");
  pv1::Voucher first, again;
  ASSERT_TRUE(Eventually([&] { return promo().IssueVoucher(Ctx(goodwill()).get(), issue, &first).ok(); }));
  ASSERT_TRUE(promo().IssueVoucher(Ctx(goodwill()).get(), issue, &again).ok());
  EXPECT_EQ(again.code(), first.code());
}

// Defect 8: 200 Vietnamese or Japanese characters were "over 200".
TEST_F(PromotionInvariantsTest, TextLimitsCountCharacters) {
  pv1::Campaign out;
  int n = 0;
  for (const std::string& ch : {std::string("ế"), std::string("割")}) {  // Vietnamese, Japanese
    ++n;
    pv1::Campaign c = TenPercent();
    c.set_display_name(Repeat(ch, 200));
    grpc::Status s = Create(absl::StrCat("name-", n, "-200"), c, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    c.set_display_name(Repeat(ch, 201));
    s = Create(absl::StrCat("name-", n, "-201"), c, &out);
    EXPECT_THAT(BadFields(s), ::testing::ElementsAre("campaign.display_name"));
    // Updates count the same way.
    pv1::Campaign edit;
    edit.set_campaign_id(absl::StrCat("name-", n, "-200"));
    edit.set_display_name(Repeat(ch, 199) + "!");
    EXPECT_TRUE(Update(absl::StrCat("rename-ok-", n), edit, {"display_name"}, &out).ok());
    edit.set_display_name(Repeat(ch, 201));
    EXPECT_THAT(BadFields(Update(absl::StrCat("rename-", n), edit, {"display_name"}, &out)),
                ::testing::ElementsAre("campaign.display_name"));
  }
  // Cart line ids and skus too.
  pv1::QuoteRequest cart = Cart("", {CartLine(Repeat("割", 64), Repeat("ế", 128), "x", 1, 1000)});
  pv1::QuoteResponse q;
  grpc::Status s = promo().Quote(Ctx(svc()).get(), cart, &q);
  EXPECT_TRUE(s.ok()) << Describe(s);
  cart = Cart("", {CartLine(Repeat("割", 65), Repeat("ế", 129), "x", 1, 1000)});
  EXPECT_THAT(BadFields(promo().Quote(Ctx(svc()).get(), cart, &q)),
              ::testing::ElementsAre("lines[0].line_id", "lines[0].sku"));
}

// Defect 14: the report counted 0 voucher uses after 10 redemptions.
TEST_F(PromotionInvariantsTest, TheReportCountsVoucherUses) {
  pv1::Campaign c = TenPercent();
  c.set_voucher_required(true);
  Live("report-codes", c);
  pv1::GenerateVouchersRequest gen;
  gen.set_request_id("gen-report");
  gen.set_campaign_id("report-codes");
  gen.set_count(3);
  gen.set_max_uses(10);
  pv1::GenerateVouchersResponse batch;
  ASSERT_TRUE(promo().GenerateVouchers(Ctx(admin()).get(), gen, &batch).ok());
  pv1::Redemption r;
  for (int i = 0; i < 10; ++i) {
    pv1::QuoteRequest q = Cart("", {CartLine("a", "A", "x", 1, 1000)});
    q.add_voucher_codes(batch.vouchers(i % 3).code());
    ASSERT_TRUE(Redeem(absl::StrCat("rep-", i), Quote(q).quote_token(), &r).ok());
  }
  pv1::CampaignReport rep = Report("report-codes");
  EXPECT_EQ(rep.redemptions(), 10);
  EXPECT_EQ(rep.vouchers_generated(), 3);
  EXPECT_EQ(rep.voucher_uses(), 10);
  ASSERT_TRUE(Cancel("rep-0", &r).ok());
  EXPECT_EQ(Report("report-codes").voucher_uses(), 9);
}

// Defect 14: RejectedCampaign.detail was empty for most reasons.
TEST_F(PromotionInvariantsTest, EveryRejectionHasADetail) {
  pv1::Campaign c = TenPercent();
  pv1::Campaign later = c;
  *later.mutable_starts_at() = ToTimestamp(Base() + absl::Hours(24));
  *later.mutable_ends_at() = ToTimestamp(Base() + absl::Hours(48));
  Live("d-later", later);
  pv1::Campaign eur = c;
  eur.set_currency_code("EUR");
  Live("d-eur", eur);
  pv1::Campaign members = c;
  members.mutable_audience()->set_members_only(true);
  Live("d-members", members);
  pv1::Campaign coded = c;
  coded.set_voucher_required(true);
  Live("d-coded", coded);
  pv1::Campaign quantity = c;
  auto* mq = quantity.mutable_rules(0)->add_conditions()->mutable_min_quantity();
  mq->mutable_items()->add_skus("A");
  mq->set_quantity(5);
  Live("d-quantity", quantity);
  pv1::Campaign exclusive = c;
  exclusive.mutable_rights()->set_stacking(pv1::STACKING_MODE_EXCLUSIVE);
  exclusive.mutable_rights()->set_priority(-1);
  Live("d-exclusive", exclusive);
  Live("d-plain", c);  // applies, so the exclusive one after it is blocked
  pv1::Campaign none = BaseCampaign(Base());
  none.clear_starts_at();
  auto* item = none.add_rules()->add_effects()->mutable_item_discount();
  item->mutable_items()->add_categories("x");
  *item->mutable_value()->mutable_value()->mutable_fixed_price() = Usd(5000);  // above the price: nothing
  Live("d-none", none);

  pv1::QuoteRequest req = Cart("", {CartLine("a", "A", "x", 1, 1000)});
  req.set_explain_all(true);
  pv1::QuoteResponse q = Quote(req);
  ASSERT_GE(q.rejected_campaigns_size(), 7);
  for (const auto& r : q.rejected_campaigns()) {
    EXPECT_FALSE(r.detail().empty()) << r.campaign_id() << " " << pv1::RejectionReason_Name(r.reason());
  }
  EXPECT_EQ(Rejection(q, "d-eur"), pv1::REJECTION_REASON_CURRENCY_MISMATCH);
  EXPECT_EQ(Rejection(q, "d-exclusive"), pv1::REJECTION_REASON_BLOCKED_BY_HIGHER_PRIORITY);
  EXPECT_EQ(Rejection(q, "d-none"), pv1::REJECTION_REASON_NO_EFFECT);
}

// Defect 14: a quote before loyalty has a program is a configuration error.
class PromotionWithoutProgramTest : public PromotionTest {
 protected:
  void SetUp() override {
    LoyaltyTest::SetUp();  // loyalty without a program
    if (HasFatalFailure()) return;
    StartPromotion();
  }
};

TEST_F(PromotionWithoutProgramTest, QuotingForAMemberIsFailedPreconditionNotUnavailable) {
  pv1::QuoteResponse q;
  grpc::Status s = promo().Quote(Ctx(svc()).get(), Cart("m-1", {CartLine("a", "A", "x", 1, 1000)}), &q);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(s);
  EXPECT_EQ(Reason(s), "PROGRAM_NOT_CONFIGURED");
  // A guest needs no loyalty at all.
  EXPECT_TRUE(promo().Quote(Ctx(svc()).get(), Cart("", {CartLine("a", "A", "x", 1, 1000)}), &q).ok());
}

}  // namespace
}  // namespace care::testing
