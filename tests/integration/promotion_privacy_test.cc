// A person's data in promotion through the real binary: everything exported,
// then erased by loyalty's peer call — reports unchanged, the member's
// records kept under the pseudonym, nothing new created for them, another
// member untouched, and (SQLite) none of their strings left in the files.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "care/common/v1/privacy.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/integration/promotion_fixture.h"

namespace care::testing {
namespace {

namespace cv1 = ::care::common::v1;
using google::protobuf::util::MessageDifferencer;

constexpr char kErased[] = "privacy-gone-4417";
constexpr char kKept[] = "privacy-stays-2209";
constexpr char kPseudonym[] = "erased-0123456789abcdef0123456789abcdef";
// Free text about the erased member's orders and vouchers.
constexpr char kCancelPhrase[] = "Zanzibar-teapot-cancel-7731";
constexpr char kReturnPhrase[] = "Quokka-marmalade-return-5520";
constexpr char kNotePhrase[] = "Walrus-harmonica-note-9034";

class PromotionPrivacyTest : public PromotionTest {
 protected:
  void SetUp() override {
    PromotionTest::SetUp();
    if (HasFatalFailure()) return;
    StartPromotion();
    Enrol(kErased);
    Enrol(kKept);
  }

  // 10% off every cart, at most five orders per customer (so it counts
  // customers), and a voucher-based 5% campaign.
  void Campaigns() {
    pv1::Campaign sale = BaseCampaign(Base());
    sale.clear_starts_at();
    sale.mutable_limits()->set_max_redemptions_per_customer(5);
    *sale.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
    Live("privacy-sale", sale);
    pv1::Campaign coded = BaseCampaign(Base());
    coded.clear_starts_at();
    coded.set_voucher_required(true);
    *coded.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(500);
    Live("privacy-coded", coded);
  }

  pv1::Redemption RedeemFor(const std::string& member, const std::string& order, const std::string& code = "") {
    pv1::QuoteRequest cart = Cart(member, {CartLine("l1", "SKU-1", "tea", 2, 2500)});
    if (!code.empty()) cart.add_voucher_codes(code);
    pv1::QuoteResponse q = Quote(cart);
    pv1::Redemption r;
    grpc::Status s = Redeem(order, q.quote_token(), &r);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return r;
  }

  pv1::Voucher VoucherOf(const std::string& code) {
    pv1::GetVoucherRequest get;
    get.set_code(code);
    pv1::Voucher v;
    grpc::Status s = promo().GetVoucher(Ctx(admin()).get(), get, &v);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return v;
  }

  pv1::GenerateVouchersRequest Batch() {
    pv1::GenerateVouchersRequest req;
    req.set_request_id("privacy-batch");
    req.set_campaign_id("privacy-coded");
    req.add_member_ids(kErased);
    req.add_member_ids(kKept);
    return req;
  }

  pv1::IssueVoucherRequest Goodwill(const std::string& request_id, const std::string& member) {
    pv1::IssueVoucherRequest req;
    req.set_request_id(request_id);
    req.set_member_id(member);
    *req.mutable_value() = Usd(700);
    req.set_reason_code("LATE_DELIVERY");
    req.set_complaint_id("cmp-privacy-1");
    req.set_note(member == std::string(kErased) ? kNotePhrase : "a kept note");
    return req;
  }

  // Both members' data: orders, one cancelled and one partly returned with
  // reasons, a voucher of a batch naming both, a goodwill voucher each.
  void CreateData() {
    Campaigns();
    pv1::GenerateVouchersResponse batch;
    grpc::Status s = promo().GenerateVouchers(Ctx(admin()).get(), Batch(), &batch);
    ASSERT_TRUE(s.ok()) << Describe(s);
    ASSERT_EQ(batch.vouchers_size(), 2);
    erased_codes_.insert(batch.vouchers(0).code());
    for (const char* member : {kErased, kKept}) {
      pv1::Voucher v;
      s = promo().IssueVoucher(Ctx(goodwill()).get(), Goodwill(absl::StrCat("gw-", member), member), &v);
      ASSERT_TRUE(s.ok()) << Describe(s);
      if (std::string(member) == kErased) erased_codes_.insert(v.code());
    }
    RedeemFor(kErased, "privacy-order-1", batch.vouchers(0).code());
    RedeemFor(kErased, "privacy-order-2");
    RedeemFor(kErased, "privacy-order-3");
    RedeemFor(kKept, "privacy-order-4", batch.vouchers(1).code());
    pv1::CancelRedemptionRequest cancel;
    cancel.set_order_id("privacy-order-2");
    cancel.set_reason(kCancelPhrase);
    pv1::Redemption r;
    s = promo().CancelRedemption(Ctx(svc()).get(), cancel, &r);
    ASSERT_TRUE(s.ok()) << Describe(s);
    pv1::ReturnRedemptionRequest ret;
    ret.set_order_id("privacy-order-3");
    ret.set_return_id("ret-1");
    auto* line = ret.add_lines();
    line->set_line_id("l1");
    line->set_quantity(1);
    ret.set_reason(kReturnPhrase);
    pv1::ReturnRedemptionResponse returned;
    s = promo().ReturnRedemption(Ctx(svc()).get(), ret, &returned);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  grpc::Status Export(const std::string& token, const cv1::ExportPersonalDataRequest& req,
                      std::vector<pv1::PromotionPersonalData>* items) {
    auto ctx = Ctx(token);
    auto reader = promo().ExportPersonalData(ctx.get(), req);
    pv1::PromotionPersonalData item;
    while (reader->Read(&item)) items->push_back(item);
    return reader->Finish();
  }

  std::vector<pv1::PromotionPersonalData> ExportOf(const std::string& member) {
    cv1::ExportPersonalDataRequest req;
    req.mutable_subject()->set_member_id(member);
    req.set_reason("subject access request");
    std::vector<pv1::PromotionPersonalData> items;
    grpc::Status s = Export(admin(), req, &items);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return items;
  }

  static cv1::ErasePersonalDataRequest Erasure() {
    cv1::ErasePersonalDataRequest req;
    req.set_erasure_id("erasure-privacy-1");
    req.mutable_subject()->set_member_id(kErased);
    req.set_pseudonym(kPseudonym);
    req.set_reason("right to erasure");
    return req;
  }

  grpc::Status Erase(const std::string& token, const cv1::ErasePersonalDataRequest& req, cv1::ErasureReceipt* out) {
    return promo().ErasePersonalData(Ctx(token).get(), req, out);
  }

  pv1::CampaignReport ReportNow(const std::string& id) {
    pv1::CampaignReport r = Report(id);
    r.clear_report_time();
    return r;
  }

  std::vector<pv1::Redemption> RedemptionsOf(const std::string& member) {
    pv1::ListRedemptionsRequest req;
    req.set_member_id(member);
    req.set_page_size(100);
    pv1::ListRedemptionsResponse out;
    grpc::Status s = promo().ListRedemptions(Ctx(admin()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return {out.redemptions().begin(), out.redemptions().end()};
  }

  std::set<std::string> erased_codes_;
};

TEST_F(PromotionPrivacyTest, ExportHoldsEveryRedemptionAndVoucherOfTheMemberAndNothingElse) {
  CreateData();
  if (HasFatalFailure()) return;
  std::set<std::string> orders, codes;
  for (const auto& item : ExportOf(kErased)) {
    if (item.has_redemption()) {
      EXPECT_EQ(item.redemption().customer().member_id(), kErased);
      orders.insert(item.redemption().order_id());
    } else {
      ASSERT_TRUE(item.has_voucher());
      EXPECT_EQ(item.voucher().member_id(), kErased);
      codes.insert(item.voucher().code());
    }
  }
  EXPECT_EQ(orders, (std::set<std::string>{"privacy-order-1", "privacy-order-2", "privacy-order-3"}));
  EXPECT_EQ(codes, erased_codes_);
  // The export shows what promotion keeps, reasons included.
  for (const auto& item : ExportOf(kErased)) {
    if (item.redemption().order_id() == "privacy-order-2") {
      EXPECT_EQ(item.redemption().cancel_reason(), kCancelPhrase);
    }
  }
  // Promotion holds nothing under an e-mail address alone.
  cv1::ExportPersonalDataRequest by_email;
  by_email.mutable_subject()->set_email(absl::StrCat(kErased, "@example.com"));
  by_email.set_reason("subject access request");
  std::vector<pv1::PromotionPersonalData> none;
  grpc::Status s = Export(admin(), by_email, &none);
  EXPECT_TRUE(s.ok()) << Describe(s);
  EXPECT_TRUE(none.empty());
}

TEST_F(PromotionPrivacyTest, ExportRefusesBadInputAndOtherRoles) {
  cv1::ExportPersonalDataRequest req;
  req.set_reason("subject access request");
  std::vector<pv1::PromotionPersonalData> items;
  grpc::Status s = Export(admin(), req, &items);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_NE(s.error_message().find("subject"), std::string::npos) << Describe(s);
  req.mutable_subject()->set_member_id(kErased);
  req.clear_reason();
  s = Export(admin(), req, &items);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_NE(s.error_message().find("reason"), std::string::npos) << Describe(s);
  req.set_reason("subject access request");
  s = Export(svc(), req, &items);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
  EXPECT_TRUE(items.empty());
}

TEST_F(PromotionPrivacyTest, ErasureKeepsReportsAndForgetsTheMember) {
  CreateData();
  if (HasFatalFailure()) return;
  const pv1::CampaignReport sale_before = ReportNow("privacy-sale");
  const pv1::CampaignReport coded_before = ReportNow("privacy-coded");
  ASSERT_EQ(sale_before.unique_customers(), 2);
  const std::vector<pv1::PromotionPersonalData> kept_before = ExportOf(kKept);
  std::map<std::string, pv1::Totals> totals_before;
  for (const auto& r : RedemptionsOf(kErased)) totals_before[r.order_id()] = r.totals();
  ASSERT_EQ(totals_before.size(), 3u);
  // The batch voucher is used up (order 1), the goodwill one unused.
  std::map<std::string, pv1::Voucher> vouchers_before;
  for (const std::string& code : erased_codes_) vouchers_before[code] = VoucherOf(code);
  ASSERT_EQ(vouchers_before.size(), 2u);

  cv1::ErasureReceipt receipt;
  grpc::Status s = Erase(tokens_.peer_loyalty, Erasure(), &receipt);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(receipt.service(), "promotion");
  EXPECT_EQ(receipt.erasure_id(), "erasure-privacy-1");
  EXPECT_EQ(receipt.deidentified().at("redemption"), 3);
  EXPECT_EQ(receipt.deidentified().at("voucher"), 2);
  // Their counts in both campaigns.
  EXPECT_EQ(receipt.deidentified().at("customer_usage"), 2);
  // The goodwill answer (filed under the member) and the batch's (naming
  // both members).
  EXPECT_EQ(receipt.erased().at("idempotency_record"), 2);
  // A retry changes nothing and returns the first receipt.
  cv1::ErasureReceipt again;
  s = Erase(tokens_.peer_loyalty, Erasure(), &again);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_TRUE(MessageDifferencer::Equals(again, receipt)) << again.ShortDebugString();

  // Campaign reports, budgets and customer counts as they were.
  EXPECT_TRUE(MessageDifferencer::Equals(ReportNow("privacy-sale"), sale_before))
      << ReportNow("privacy-sale").ShortDebugString();
  EXPECT_TRUE(MessageDifferencer::Equals(ReportNow("privacy-coded"), coded_before));
  // Nothing under the member; the orders under the pseudonym, amounts kept,
  // reasons gone.
  EXPECT_TRUE(ExportOf(kErased).empty());
  EXPECT_TRUE(RedemptionsOf(kErased).empty());
  std::vector<pv1::Redemption> kept = RedemptionsOf(kPseudonym);
  ASSERT_EQ(kept.size(), 3u);
  for (const auto& r : kept) {
    EXPECT_TRUE(MessageDifferencer::Equals(r.totals(), totals_before[r.order_id()])) << r.order_id();
    EXPECT_TRUE(r.cancel_reason().empty());
    for (const auto& ret : r.returns()) EXPECT_TRUE(ret.reason().empty());
  }
  // Issue 21, hostile review: erasure turned used (EXHAUSTED) vouchers into
  // REVOKED, so the campaign's vouchers no longer said they had been used.
  // A used one keeps its state and uses; only one still usable is revoked.
  for (const std::string& code : erased_codes_) {
    const pv1::Voucher v = VoucherOf(code);
    const pv1::Voucher& before = vouchers_before[code];
    EXPECT_EQ(v.member_id(), kPseudonym);
    EXPECT_TRUE(v.note().empty());
    EXPECT_EQ(v.uses(), before.uses()) << code;
    if (before.state() == pv1::VOUCHER_STATE_ACTIVE) {
      EXPECT_EQ(v.state(), pv1::VOUCHER_STATE_REVOKED) << code;
    } else {
      EXPECT_EQ(v.state(), before.state()) << code;
    }
  }
  std::set<pv1::VoucherState> states_before;
  for (const auto& [code, v] : vouchers_before) states_before.insert(v.state());
  EXPECT_EQ(states_before, (std::set<pv1::VoucherState>{pv1::VOUCHER_STATE_ACTIVE, pv1::VOUCHER_STATE_EXHAUSTED}))
      << "the test needs a used and an unused voucher";
  // The other member's data is as it was.
  const std::vector<pv1::PromotionPersonalData> kept_after = ExportOf(kKept);
  ASSERT_EQ(kept_after.size(), kept_before.size());
  for (size_t i = 0; i < kept_after.size(); ++i) EXPECT_TRUE(MessageDifferencer::Equals(kept_after[i], kept_before[i]));
}

TEST_F(PromotionPrivacyTest, NothingIsCreatedForAnErasedMember) {
  CreateData();
  if (HasFatalFailure()) return;
  const std::string late_token = Quote(Cart(kErased, {CartLine("l1", "SKU-2", "tea", 1, 900)})).quote_token();
  cv1::ErasureReceipt receipt;
  grpc::Status s = Erase(tokens_.peer_loyalty, Erasure(), &receipt);
  ASSERT_TRUE(s.ok()) << Describe(s);

  pv1::QuoteResponse quote;
  s = promo().Quote(Ctx(svc()).get(), Cart(kErased, {CartLine("l1", "SKU-1", "tea", 1, 900)}), &quote);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(s);
  EXPECT_EQ(Reason(s), "SUBJECT_ERASED");
  pv1::Redemption r;
  s = Redeem("privacy-late-order", late_token, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(s);
  EXPECT_EQ(Reason(s), "SUBJECT_ERASED");
  pv1::Voucher v;
  s = promo().IssueVoucher(Ctx(goodwill()).get(), Goodwill("gw-after", kErased), &v);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(s);
  EXPECT_EQ(Reason(s), "SUBJECT_ERASED");
  // A retry of an answer that named them is refused, not replayed or redone.
  s = promo().IssueVoucher(Ctx(goodwill()).get(), Goodwill(absl::StrCat("gw-", kErased), kErased), &v);
  EXPECT_EQ(Reason(s), "SUBJECT_ERASED") << Describe(s);
  pv1::GenerateVouchersResponse batch;
  s = promo().GenerateVouchers(Ctx(admin()).get(), Batch(), &batch);
  EXPECT_EQ(Reason(s), "SUBJECT_ERASED") << Describe(s);
  // The other member still quotes and redeems; the erased member's orders
  // can still be cancelled (releasing the budget they hold).
  RedeemFor(kKept, "privacy-order-5");
  pv1::CancelRedemptionRequest cancel;
  cancel.set_order_id("privacy-order-1");
  s = promo().CancelRedemption(Ctx(svc()).get(), cancel, &r);
  EXPECT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(r.customer().member_id(), kPseudonym);
}

TEST_F(PromotionPrivacyTest, ErasureIsLoyaltysAndChecksItsInput) {
  cv1::ErasureReceipt receipt;
  // Another peer, a human admin: refused.
  grpc::Status s = Erase(goodwill(), Erasure(), &receipt);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
  EXPECT_EQ(Reason(s), "PEER_NOT_ALLOWED");
  s = Erase(admin(), Erasure(), &receipt);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
  cv1::ErasePersonalDataRequest bad = Erasure();
  bad.set_pseudonym("not-a-pseudonym");
  s = Erase(tokens_.peer_loyalty, bad, &receipt);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_NE(s.error_message().find("pseudonym"), std::string::npos) << Describe(s);
  bad = Erasure();
  bad.clear_erasure_id();
  s = Erase(tokens_.peer_loyalty, bad, &receipt);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_NE(s.error_message().find("erasure_id"), std::string::npos) << Describe(s);
}

TEST_F(PromotionPrivacyTest, NoneOfTheMembersStringsAreLeftInTheDatabaseFiles) {
  if (TestPostgres()) GTEST_SKIP() << "PostgreSQL keeps dead tuples until VACUUM (docs/privacy.md)";
  CreateData();
  if (HasFatalFailure()) return;
  // The strings are in the files before: the check below can see them.
  ASSERT_EQ(FoundInFiles(promo_->data_dir(), {kCancelPhrase, kErased}).size(), 2U);
  cv1::ErasureReceipt receipt;
  grpc::Status s = Erase(tokens_.peer_loyalty, Erasure(), &receipt);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_TRUE(FoundInFiles(promo_->data_dir(), {kErased, kCancelPhrase, kReturnPhrase, kNotePhrase}).empty());
  // The other member's data is still there.
  EXPECT_EQ(FoundInFiles(promo_->data_dir(), {kKept}).size(), 1U);
}

}  // namespace
}  // namespace care::testing
