// Vouchers through the real binary: generated codes, validation, goodwill
// vouchers, and a ten-use code redeemed by a hundred orders at once.
#include <atomic>
#include <regex>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/integration/filter_bounds.h"
#include "tests/integration/promotion_fixture.h"

namespace care::testing {
namespace {

class PromotionVoucherTest : public PromotionTest {
 protected:
  void SetUp() override {
    PromotionTest::SetUp();
    if (HasFatalFailure()) return;
    StartPromotion();
  }

  // A running voucher-based campaign: 10% off the cart with one of its codes.
  void VoucherCampaign(const std::string& id) {
    pv1::Campaign c = BaseCampaign(Base());
    c.clear_starts_at();
    c.set_voucher_required(true);
    *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
    Live(id, c);
  }

  pv1::GenerateVouchersResponse Generate(const std::string& request_id, const std::string& campaign, int count,
                                         int max_uses, std::vector<std::string> members = {}) {
    pv1::GenerateVouchersRequest req;
    req.set_request_id(request_id);
    req.set_campaign_id(campaign);
    req.set_count(count);
    for (auto& m : members) req.add_member_ids(m);
    req.set_max_uses(max_uses);
    req.mutable_pattern()->set_prefix("SPRING-");
    req.mutable_pattern()->set_length(10);
    pv1::GenerateVouchersResponse out;
    grpc::Status s = promo().GenerateVouchers(Ctx(admin()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  pv1::QuoteRequest WithCode(pv1::QuoteRequest req, const std::string& code) {
    req.add_voucher_codes(code);
    return req;
  }

  pv1::Voucher Get(const std::string& code) {
    pv1::GetVoucherRequest req;
    req.set_code(code);
    pv1::Voucher out;
    grpc::Status s = promo().GetVoucher(Ctx(svc()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }
};

TEST_F(PromotionVoucherTest, HundredConcurrentRedemptionsOfATenUseVoucherExactlyTenSucceed) {
  VoucherCampaign("vip-code");
  const std::string code = Generate("gen-1", "vip-code", 1, 10).vouchers(0).code();
  // Without the code the campaign does not apply; with it, it does.
  pv1::QuoteResponse without = Quote(Cart("", {CartLine("a", "X", "x", 1, 1000)}));
  EXPECT_EQ(Rejection(without, "vip-code"), pv1::REJECTION_REASON_VOUCHER_REQUIRED);
  std::vector<std::string> tokens;
  for (int i = 0; i < 100; ++i) {
    pv1::QuoteResponse q = Quote(WithCode(Cart("", {CartLine("a", "X", "x", 1, 1000 + i)}), code));
    ASSERT_TRUE(Applied(q, "vip-code"));
    ASSERT_TRUE(q.vouchers(0).accepted());
    tokens.push_back(q.quote_token());
  }
  std::atomic<int> ok{0};
  std::vector<grpc::Status> failures(tokens.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < tokens.size(); ++i) {
    threads.emplace_back([&, i] {
      pv1::Redemption r;
      grpc::Status s = Redeem(absl::StrCat("vorder-", i), tokens[i], &r);
      if (s.ok())
        ok.fetch_add(1);
      else
        failures[i] = s;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 10);
  for (const auto& s : failures) {
    if (!s.ok()) {
      EXPECT_EQ(Reason(s), "VOUCHER_EXHAUSTED") << Describe(s);
    }
  }
  pv1::Voucher used = Get(code);
  EXPECT_EQ(used.uses(), 10);
  EXPECT_EQ(used.state(), pv1::VOUCHER_STATE_EXHAUSTED);
  // A quote now says so; cancelling one order gives its use back.
  pv1::QuoteResponse refused = Quote(WithCode(Cart("", {CartLine("a", "X", "x", 1, 1000)}), code));
  EXPECT_FALSE(refused.vouchers(0).accepted());
  EXPECT_EQ(refused.vouchers(0).reason(), pv1::REJECTION_REASON_VOUCHER_EXHAUSTED);
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (!failures[i].ok()) continue;
    pv1::CancelRedemptionRequest cancel;
    cancel.set_order_id(absl::StrCat("vorder-", i));
    pv1::Redemption r;
    ASSERT_TRUE(promo().CancelRedemption(Ctx(svc()).get(), cancel, &r).ok());
    EXPECT_EQ(r.voucher_codes(0), code);
    break;
  }
  EXPECT_EQ(Get(code).uses(), 9);
  EXPECT_EQ(Get(code).state(), pv1::VOUCHER_STATE_ACTIVE);
}

TEST_F(PromotionVoucherTest, GeneratedCodesAreUniqueFollowThePatternAndARetryReturnsTheSame) {
  VoucherCampaign("batch");
  pv1::GenerateVouchersResponse first = Generate("gen-batch", "batch", 200, 1);
  ASSERT_EQ(first.vouchers_size(), 200);
  std::set<std::string> codes;
  const std::regex pattern("SPRING-[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{10}");
  for (const auto& v : first.vouchers()) {
    EXPECT_TRUE(std::regex_match(v.code(), pattern)) << v.code();
    codes.insert(v.code());
    EXPECT_EQ(v.campaign_id(), "batch");
    EXPECT_EQ(v.batch_id(), first.batch_id());
  }
  EXPECT_EQ(codes.size(), 200u);
  pv1::GenerateVouchersResponse again = Generate("gen-batch", "batch", 200, 1);
  EXPECT_EQ(again.batch_id(), first.batch_id());
  EXPECT_EQ(again.vouchers(0).code(), first.vouchers(0).code());

  // Codes assigned to members are theirs alone; lookups ignore case and spaces.
  pv1::GenerateVouchersResponse mine = Generate("gen-members", "batch", 0, 1, {"ann", "bob"});
  ASSERT_EQ(mine.vouchers_size(), 2);
  pv1::ValidateVoucherRequest check;
  check.set_code("  " + absl::AsciiStrToLower(mine.vouchers(0).code()) + " ");
  check.mutable_customer()->set_member_id("bob");
  pv1::ValidateVoucherResponse v;
  ASSERT_TRUE(promo().ValidateVoucher(Ctx(svc()).get(), check, &v).ok());
  EXPECT_FALSE(v.valid());
  EXPECT_EQ(v.reason(), pv1::REJECTION_REASON_VOUCHER_NOT_ASSIGNED_TO_CUSTOMER);
  check.mutable_customer()->set_member_id("ann");
  ASSERT_TRUE(promo().ValidateVoucher(Ctx(svc()).get(), check, &v).ok());
  EXPECT_TRUE(v.valid()) << pv1::RejectionReason_Name(v.reason());
  EXPECT_EQ(v.campaign_id(), "batch");
  EXPECT_EQ(v.uses_left(), 1);
  check.set_code("NO-SUCH-CODE");
  ASSERT_TRUE(promo().ValidateVoucher(Ctx(svc()).get(), check, &v).ok());
  EXPECT_EQ(v.reason(), pv1::REJECTION_REASON_VOUCHER_NOT_FOUND);

  // Revoked: refused by quotes; revoking again is FAILED_PRECONDITION.
  pv1::RevokeVoucherRequest revoke;
  revoke.set_request_id("revoke-1");
  revoke.set_code(first.vouchers(1).code());
  revoke.set_reason("leaked on a forum");
  pv1::Voucher revoked;
  ASSERT_TRUE(promo().RevokeVoucher(Ctx(admin()).get(), revoke, &revoked).ok());
  EXPECT_EQ(revoked.state(), pv1::VOUCHER_STATE_REVOKED);
  pv1::QuoteResponse q = Quote(WithCode(Cart("", {CartLine("a", "X", "x", 1, 1000)}), first.vouchers(1).code()));
  EXPECT_EQ(q.vouchers(0).reason(), pv1::REJECTION_REASON_VOUCHER_REVOKED);
  EXPECT_FALSE(Applied(q, "batch"));
  revoke.set_request_id("revoke-2");
  grpc::Status twice = promo().RevokeVoucher(Ctx(admin()).get(), revoke, &revoked);
  EXPECT_EQ(twice.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(twice), "VOUCHER_REVOKED");

  // Bad input names the field.
  pv1::GenerateVouchersRequest bad;
  bad.set_request_id("gen-bad");
  bad.set_campaign_id("batch");
  bad.set_count(0);
  bad.mutable_pattern()->set_charset("AAB");
  pv1::GenerateVouchersResponse out;
  grpc::Status s = promo().GenerateVouchers(Ctx(admin()).get(), bad, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(BadFields(s), (std::vector<std::string>{"count", "pattern.charset"}));
}

// issue 16, defect 3: a backend's `service` token cannot mint goodwill
// vouchers, and the caller's issued_by is stored beside the real principal.
TEST_F(PromotionVoucherTest, OnlyAPeerIssuesGoodwillAndTheRealIssuerIsRecorded) {
  MakeTier("ann", "silver");
  pv1::IssueVoucherRequest issue;
  issue.set_request_id("forged-1");
  issue.set_member_id("ann");
  *issue.mutable_value() = Usd(500);
  issue.set_reason_code("LATE_DELIVERY");
  issue.set_issued_by("supervisor:boss");  // claimed, not proven
  pv1::Voucher v;
  grpc::Status s = promo().IssueVoucher(Ctx(svc()).get(), issue, &v);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
  EXPECT_EQ(Reason(s), "MISSING_ROLE");
  pv1::ListVouchersRequest list;
  list.set_member_id("ann");
  pv1::ListVouchersResponse none;
  ASSERT_TRUE(promo().ListVouchers(Ctx(admin()).get(), list, &none).ok());
  EXPECT_EQ(none.vouchers_size(), 0);

  ASSERT_TRUE(promo().IssueVoucher(Ctx(goodwill()).get(), issue, &v).ok());
  EXPECT_EQ(v.issued_by(), "supervisor:boss");
  EXPECT_EQ(v.issued_by_principal(), "svc:complaint");
  pv1::Voucher stored = Get(v.code());
  EXPECT_EQ(stored.issued_by(), "supervisor:boss");
  EXPECT_EQ(stored.issued_by_principal(), "svc:complaint");
  // A supervisor issuing in person is recorded as such.
  issue.set_request_id("by-hand-1");
  issue.clear_issued_by();
  ASSERT_TRUE(promo().IssueVoucher(Ctx(tokens_.supervisor).get(), issue, &v).ok());
  EXPECT_EQ(Get(v.code()).issued_by_principal(), "supervisor:test");
}

// issue 16, defect 3: holding a peer token is not enough; goodwill vouchers
// come from the complaint service only, so a compromised promotion (or
// loyalty) peer cannot mint them through this path.
TEST_F(PromotionVoucherTest, AmongPeersOnlyComplaintIssuesVouchers) {
  MakeTier("ann", "silver");
  pv1::IssueVoucherRequest issue;
  issue.set_request_id("peer-1");
  issue.set_member_id("ann");
  *issue.mutable_value() = Usd(500);
  issue.set_reason_code("LATE_DELIVERY");
  pv1::Voucher v;
  for (const std::string* peer : {&tokens_.peer_promotion, &tokens_.peer_loyalty, &tokens_.peer_notification}) {
    grpc::Status s = promo().IssueVoucher(Ctx(*peer).get(), issue, &v);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
    EXPECT_EQ(Reason(s), "PEER_NOT_ALLOWED") << Describe(s);
    EXPECT_EQ(ReasonMetadata(s, "allowed"), "svc:complaint");
    EXPECT_NE(ReasonMetadata(s, "method").find("IssueVoucher"), std::string::npos) << Describe(s);
  }
  pv1::ListVouchersRequest list;
  list.set_member_id("ann");
  pv1::ListVouchersResponse none;
  ASSERT_TRUE(promo().ListVouchers(Ctx(admin()).get(), list, &none).ok());
  EXPECT_EQ(none.vouchers_size(), 0);
  // The same request id then belongs to complaint's first issue, not a refusal.
  grpc::Status s = promo().IssueVoucher(Ctx(tokens_.peer_complaint).get(), issue, &v);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(v.issued_by_principal(), "svc:complaint");
}

TEST_F(PromotionVoucherTest, AGoodwillVoucherIsIssuedOnceAndTakesItsAmountOffOneOrder) {
  MakeTier("ann", "silver");
  pv1::IssueVoucherRequest issue;
  issue.set_request_id("complaint-c1-comp-1");  // the complaint service's compensation id
  issue.set_member_id("ann");
  *issue.mutable_value() = Usd(500);
  issue.set_reason_code("LATE_DELIVERY");
  issue.set_complaint_id("c1");
  pv1::Voucher first, retry;
  ASSERT_TRUE(promo().IssueVoucher(Ctx(goodwill()).get(), issue, &first).ok());
  ASSERT_TRUE(promo().IssueVoucher(Ctx(goodwill()).get(), issue, &retry).ok());
  EXPECT_EQ(retry.code(), first.code());
  EXPECT_EQ(first.kind(), pv1::VOUCHER_KIND_GOODWILL);
  EXPECT_EQ(first.max_uses(), 1);

  // Another member cannot use it; Ann gets 5.00 off, on top of her tier's own discount.
  MakeTier("bob", "silver");
  pv1::QuoteResponse bobs = Quote(WithCode(Cart("bob", {CartLine("a", "X", "x", 1, 10000)}), first.code()));
  EXPECT_EQ(bobs.vouchers(0).reason(), pv1::REJECTION_REASON_VOUCHER_NOT_ASSIGNED_TO_CUSTOMER);
  pv1::QuoteResponse plain = Quote(Cart("ann", {CartLine("a", "X", "x", 1, 10000)}));
  pv1::QuoteResponse with = Quote(WithCode(Cart("ann", {CartLine("a", "X", "x", 1, 10000)}), first.code()));
  ASSERT_TRUE(with.vouchers(0).accepted());
  EXPECT_EQ(plain.totals().total().amount_minor() - with.totals().total().amount_minor(), 500);
  pv1::Redemption r;
  ASSERT_TRUE(Redeem("goodwill-order-1", with.quote_token(), &r).ok());
  EXPECT_EQ(r.voucher_codes_size(), 1);
  // Used once: a second order with a fresh quote is refused.
  pv1::QuoteResponse again = Quote(WithCode(Cart("ann", {CartLine("a", "X", "x", 1, 10000)}), first.code()));
  EXPECT_EQ(again.vouchers(0).reason(), pv1::REJECTION_REASON_VOUCHER_EXHAUSTED);
}

// The quote token carries the quote in compact form (amounts, not the
// display detail); what RedeemQuote records must still be exactly what the
// quote showed: customer, lines, shipping, totals, campaigns, vouchers.
TEST_F(PromotionVoucherTest, ARedemptionRecordsExactlyWhatTheQuoteShowed) {
  MakeTier("rec-1", "gold");
  VoucherCampaign("rec-code");
  pv1::Campaign shoes = BaseCampaign(Base());
  shoes.clear_starts_at();
  shoes.set_display_name("Half off shoes, at most 15.00");
  shoes.mutable_rights()->set_priority(5);
  pv1::ItemDiscount* half = shoes.add_rules()->add_effects()->mutable_item_discount();
  half->mutable_items()->add_categories("shoes");
  *half->mutable_value()->mutable_value() = Percent(5000);
  *shoes.mutable_limits()->mutable_max_discount_per_order() = Usd(1500);
  Live("rec-shoes", shoes);
  pv1::Campaign perks = BaseCampaign(Base());
  perks.clear_starts_at();
  perks.mutable_rights()->set_earns_points(false);
  pv1::Rule* rule = perks.add_rules();
  rule->add_effects()->mutable_free_shipping();
  rule->add_effects()->mutable_free_returns()->mutable_items()->add_categories("hats");
  Live("rec-perks", perks);
  const std::string code = Generate("rec-gen", "rec-code", 1, 1).vouchers(0).code();

  pv1::QuoteResponse q = Quote(WithCode(Cart("rec-1",
                                             {CartLine("a", "SHOE-1", "shoes", 2, 4999),
                                              CartLine("b", "SOCK-1", "socks", 3, 333),
                                              CartLine("c", "HAT-1", "hats", 1, 1250)},
                                             700),
                                        code));
  ASSERT_TRUE(Applied(q, "rec-code") && Applied(q, "rec-shoes") && Applied(q, "rec-perks"));
  ASSERT_EQ(q.customer().tier_id(), "gold");
  EXPECT_LT(q.quote_token().size(), q.ByteSizeLong() / 2);  // the token is not a second copy of the quote
  pv1::Redemption r;
  grpc::Status s = Redeem("rec-order", q.quote_token(), &r);
  ASSERT_TRUE(s.ok()) << Describe(s);

  using google::protobuf::util::MessageDifferencer;
  EXPECT_TRUE(MessageDifferencer::Equals(r.customer(), q.customer()));
  ASSERT_EQ(r.lines_size(), q.lines_size());
  for (int i = 0; i < q.lines_size(); ++i) {
    pv1::LineResult want = q.lines(i);
    want.clear_adjustments();  // display detail, not recorded
    EXPECT_TRUE(MessageDifferencer::Equals(r.lines(i).line(), want)) << r.lines(i).line().DebugString();
  }
  pv1::ShippingResult ship = q.shipping();
  ship.clear_adjustments();
  EXPECT_TRUE(MessageDifferencer::Equals(r.shipping(), ship)) << r.shipping().DebugString();
  EXPECT_TRUE(MessageDifferencer::Equals(r.totals(), q.totals())) << r.totals().DebugString();
  ASSERT_EQ(r.campaigns_size(), q.applied_campaigns_size());
  for (int i = 0; i < q.applied_campaigns_size(); ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(r.campaigns(i), q.applied_campaigns(i))) << r.campaigns(i).DebugString();
  }
  EXPECT_THAT(r.voucher_codes(), ::testing::ElementsAre(code));
  EXPECT_EQ(r.earns_points(), q.earns_points());
  EXPECT_FALSE(r.earns_points());
  EXPECT_EQ(r.free_returns(), q.free_returns());
  EXPECT_TRUE(MessageDifferencer::Equals(r.quote_time(), q.quote_time()));
  // The values this cart was built to exercise, as the quote showed them.
  EXPECT_TRUE(q.shipping().free_shipping());
  EXPECT_TRUE(q.lines(2).free_returns());
  for (const auto& ac : q.applied_campaigns()) {
    if (ac.campaign_id() == "rec-shoes") {
      EXPECT_TRUE(ac.capped());
      EXPECT_EQ(ac.discount().amount_minor(), 1500);
      EXPECT_EQ(ac.priority(), 5);
      EXPECT_EQ(ac.display_name(), "Half off shoes, at most 15.00");
    }
    if (ac.campaign_id() == "rec-code") {
      EXPECT_EQ(ac.voucher_code(), code);
    }
  }
}

// Issue 16, defect 5: repeated state filters of the list calls are bounded.
TEST_F(PromotionVoucherTest, StateFiltersOverTheBoundAreRefusedNamingTheField) {
  {
    pv1::ListVouchersRequest req;
    for (int k = 0; k < kFilterBound; ++k) req.add_states(static_cast<pv1::VoucherState>(1));
    pv1::ListVouchersResponse out;
    grpc::Status s = promo().ListVouchers(Ctx(svc()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << "100 values are within the bound: " << Describe(s);
    req.add_states(static_cast<pv1::VoucherState>(1));
    ExpectTooManyValues(promo().ListVouchers(Ctx(svc()).get(), req, &out), "states");
  }
  {
    pv1::ListCampaignsRequest req;
    for (int k = 0; k < 200000; ++k) req.add_states(static_cast<pv1::CampaignState>(1));
    pv1::ListCampaignsResponse out;
    ExpectTooManyValues(promo().ListCampaigns(Ctx(svc()).get(), req, &out), "states");
  }
  {
    pv1::ListRedemptionsRequest req;
    for (int k = 0; k <= kFilterBound; ++k) req.add_states(static_cast<pv1::RedemptionState>(1));
    pv1::ListRedemptionsResponse out;
    ExpectTooManyValues(promo().ListRedemptions(Ctx(svc()).get(), req, &out), "states");
  }
}

}  // namespace
}  // namespace care::testing
