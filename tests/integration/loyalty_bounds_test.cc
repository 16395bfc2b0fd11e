// Issue 15 through the binary: money and points stay within their documented
// bounds (common/bounds.h) on every input and never wrap (defect 5); an
// error fits a default client whatever the request (defect 9); text limits
// count characters, not bytes (defect 8).
#include <limits>
#include <mutex>

#include "absl/strings/numbers.h"
#include "common/bounds.h"
#include "common/errors.h"
#include "tests/integration/filter_bounds.h"
#include "tests/integration/loyalty_fixture.h"

namespace care::testing {
namespace {

using BoundsTest = LoyaltyTest;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

bool Has(const std::vector<std::string>& fields, const std::string& field) {
  return std::find(fields.begin(), fields.end(), field) != fields.end();
}

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

lv1::PurchaseLine* AddLine(lv1::RecordPurchaseRequest* req, int64_t amount) {
  lv1::PurchaseLine* line = req->add_lines();
  line->set_quantity(1);
  *line->mutable_amount() = Usd(amount);
  return line;
}

// ------------------------------------------------------------ defect 5

TEST_F(BoundsTest, AHugeAmountIsRefusedNamingItAndLaterPurchasesWork) {
  Configure();
  Enrol("ann");
  lv1::RecordPurchaseResponse r;
  // 2^63-1 once minted 9.2e16 points, and every later purchase failed INTERNAL.
  grpc::Status s = stub().RecordPurchase(Ctx(svc()).get(), PurchaseRequest("ann", "o-huge", kInt64Max), &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_TRUE(Has(BadFields(s), "amount.amount_minor")) << Describe(s);
  s = stub().RecordPurchase(Ctx(svc()).get(), PurchaseRequest("ann", "o-over", kMaxMoneyMinor + 1), &r);
  EXPECT_TRUE(Has(BadFields(s), "amount.amount_minor")) << Describe(s);
  // Within the money bound, but worth more points than one entry may hold.
  s = stub().RecordPurchase(Ctx(svc()).get(), PurchaseRequest("ann", "o-max", kMaxMoneyMinor), &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"amount"}) << Describe(s);
  EXPECT_TRUE(Ledger("ann").empty());

  EXPECT_EQ(Purchase("ann", "o-1", 12345).points_earned(), 123);
  // Exactly the per-entry bound (1 point per 1.00 USD, 1x): accepted.
  s = stub().RecordPurchase(Ctx(svc()).get(), PurchaseRequest("ann", "o-2", kMaxPointsPerEntry * 100), &r);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(r.points_earned(), kMaxPointsPerEntry);
  EXPECT_EQ(r.tier().tier_id(), "gold");
  // Gold earns 1.5x: the same amount is now past the bound.
  s = stub().RecordPurchase(Ctx(svc()).get(), PurchaseRequest("ann", "o-3", kMaxPointsPerEntry * 100), &r);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"amount"}) << Describe(s);
  EXPECT_EQ(Purchase("ann", "o-4", 1000).points_earned(), 15);
  EXPECT_EQ(Balance("ann").balance(), 123 + kMaxPointsPerEntry + 15);
  ExpectLedgerConsistent("ann");
}

TEST_F(BoundsTest, LineAmountsThatWrapAroundAreRefused) {
  Configure();
  Enrol("ann");
  // 2 x (2^63-1) + 102 wraps to 100 in 64 bits: it used to "add up".
  lv1::RecordPurchaseRequest req = PurchaseRequest("ann", "o-wrap", 100);
  AddLine(&req, kInt64Max);
  AddLine(&req, kInt64Max);
  AddLine(&req, 102);
  lv1::RecordPurchaseResponse r;
  grpc::Status s = stub().RecordPurchase(Ctx(svc()).get(), req, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_TRUE(Has(BadFields(s), "lines[0].amount.amount_minor")) << Describe(s);
  EXPECT_TRUE(Has(BadFields(s), "lines")) << Describe(s);
  // Lines each within the bound whose sum is not.
  req = PurchaseRequest("ann", "o-sum", kMaxMoneyMinor);
  AddLine(&req, kMaxMoneyMinor);
  AddLine(&req, kMaxMoneyMinor);
  s = stub().RecordPurchase(Ctx(svc()).get(), req, &r);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"lines"}) << Describe(s);
  req = PurchaseRequest("ann", "o-qty", 100);
  AddLine(&req, 100)->set_quantity(kMaxLineQuantity + 1);
  s = stub().RecordPurchase(Ctx(svc()).get(), req, &r);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"lines[0].quantity"}) << Describe(s);
  EXPECT_TRUE(Ledger("ann").empty());

  Purchase("ann", "o-1", 1000);
  lv1::RecordReturnRequest ret;
  ret.set_return_id("r-wrap");
  ret.set_order_id("o-1");
  ret.set_kind(lv1::RETURN_KIND_PARTIAL);
  *ret.mutable_returned_amount() = Usd(100);
  for (int64_t amount : {kInt64Max, kInt64Max, int64_t{102}}) {
    lv1::ReturnLine* line = ret.add_lines();
    line->set_quantity(1);
    *line->mutable_amount() = Usd(amount);
  }
  lv1::RecordReturnResponse rr;
  s = stub().RecordReturn(Ctx(svc()).get(), ret, &rr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_TRUE(Has(BadFields(s), "lines")) << Describe(s);
  EXPECT_EQ(Ledger("ann").size(), 1u);
}

TEST_F(BoundsTest, TheEarnRulesMaximaNeverWrap) {
  // The largest rule the contract allows: 1,000,000 points per minor unit,
  // rounded up, and a 10x multiplier on the base tier.
  lv1::Program program = DefaultProgram();
  program.mutable_earn_rule()->set_points_per_unit(1000000);
  *program.mutable_earn_rule()->mutable_unit_amount() = Usd(1);
  program.mutable_earn_rule()->set_rounding(lv1::ROUNDING_MODE_CEILING);
  program.mutable_tiers(0)->mutable_benefits()->set_points_multiplier_bps(100000);
  Configure(program);
  Enrol("ann");
  lv1::RecordPurchaseResponse r;
  // 10^15 x 10^6 x 10 = 10^22 points: it came back modulo 2^64.
  grpc::Status s = stub().RecordPurchase(Ctx(svc()).get(), PurchaseRequest("ann", "o-max", kMaxMoneyMinor), &r);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"amount"}) << Describe(s);
  s = stub().RecordPurchase(Ctx(svc()).get(), PurchaseRequest("ann", "o-101", 101), &r);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"amount"}) << Describe(s);
  EXPECT_EQ(Purchase("ann", "o-100", 100).points_earned(), kMaxPointsPerEntry);
  ExpectLedgerConsistent("ann");

  // Amounts in the program are bounded like every other amount.
  lv1::Program bad = program;
  bad.mutable_earn_rule()->mutable_unit_amount()->set_amount_minor(kInt64Max);
  lv1::Program out;
  s = UpdateProgram(bad, 1, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_TRUE(Has(BadFields(s), "program.earn_rule.unit_amount.amount_minor")) << Describe(s);
  bad = program;
  bad.mutable_tiers(2)->mutable_qualifying_spend()->set_amount_minor(kInt64Max);
  s = UpdateProgram(bad, 1, &out);
  EXPECT_TRUE(Has(BadFields(s), "program.tiers[2].qualifying_spend.amount_minor")) << Describe(s);
  bad = program;
  bad.mutable_visit_reward()->mutable_min_order_amount()->CopyFrom(Usd(kMaxMoneyMinor + 1));
  s = UpdateProgram(bad, 1, &out);
  EXPECT_TRUE(Has(BadFields(s), "program.visit_reward.min_order_amount.amount_minor")) << Describe(s);
}

TEST_F(BoundsTest, PointsInputsAreBoundedAndTheBalanceStopsAtItsBound) {
  Configure();
  Enrol("ann");
  lv1::AdjustPointsRequest adjust;
  adjust.set_request_id("adj-over");
  adjust.set_member_id("ann");
  adjust.set_reason_code("GOODWILL");
  adjust.set_points_delta(kMaxPointsPerEntry + 1);
  lv1::AdjustPointsResponse ar;
  grpc::Status s = stub().AdjustPoints(Ctx(goodwill()).get(), adjust, &ar);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"points_delta"}) << Describe(s);
  lv1::RedeemPointsResponse rr;
  s = Redeem("ann", "redeem-huge", kInt64Max, &rr);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"points"}) << Describe(s);

  // 1000 entries of the largest size fill the balance to its bound exactly.
  // A hot member under SERIALIZABLE may answer ABORTED, and a loaded machine
  // may miss a deadline: the client retries with the same request id, as the
  // contract says, and the entry is still written once (the ledger count).
  constexpr int kEntries = kMaxPointsBalance / kMaxPointsPerEntry;
  std::mutex mu;
  std::vector<std::string> failures;
  RunConcurrently(kEntries, 4, [&](int i) {
    auto stub = lv1::LoyaltyService::NewStub(service_->channel());
    lv1::AdjustPointsRequest req;
    req.set_request_id(absl::StrCat("fill-", i));
    req.set_member_id("ann");
    req.set_reason_code("GOODWILL");
    req.set_points_delta(kMaxPointsPerEntry);
    grpc::Status s = RetryTransient([&](int) {
      lv1::AdjustPointsResponse resp;
      return stub->AdjustPoints(Ctx(goodwill(), absl::Seconds(30)).get(), req, &resp);
    });
    if (!s.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      failures.push_back(absl::StrCat(req.request_id(), ": ", Describe(s)));
    }
  });
  ASSERT_TRUE(failures.empty()) << failures.size() << " failed, first " << failures.front();
  EXPECT_EQ(Balance("ann").balance(), kMaxPointsBalance);
  adjust.set_request_id("adj-one-more");
  adjust.set_points_delta(1);
  s = stub().AdjustPoints(Ctx(goodwill()).get(), adjust, &ar);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"points_delta"}) << Describe(s);
  lv1::RecordPurchaseResponse pr;
  s = stub().RecordPurchase(Ctx(svc()).get(), PurchaseRequest("ann", "o-1", 1000), &pr);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"amount"}) << Describe(s);
  // Spending still works, and the ledger adds up.
  ASSERT_TRUE(Redeem("ann", "redeem-1", 10, &rr).ok());
  EXPECT_EQ(rr.points_balance(), kMaxPointsBalance - 10);
  EXPECT_EQ(Ledger("ann").size(), static_cast<size_t>(kEntries + 1));
  ExpectLedgerConsistent("ann");
}

// ------------------------------------------------------------ defect 9

TEST_F(BoundsTest, AThousandBadLinesComeBackAsAShortErrorToADefaultClient) {
  Configure();
  Enrol("ann");
  lv1::RecordPurchaseRequest req = PurchaseRequest("ann", "o-bad", 1000);
  for (int i = 0; i < 1000; ++i) {
    lv1::PurchaseLine* line = AddLine(&req, -1);
    line->set_quantity(0);
    line->set_sku(std::string(300, 's'));
  }
  lv1::RecordPurchaseResponse r;
  // The harness's channel has gRPC's default limits (8 KiB of headers).
  grpc::Status s = stub().RecordPurchase(Ctx(svc()).get(), req, &r);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s).substr(0, 300);
  EXPECT_EQ(Reason(s), "INVALID_FIELD");
  std::vector<std::string> fields = BadFields(s);
  ASSERT_EQ(fields.size(), kMaxErrorViolations);
  EXPECT_EQ(fields[0], "lines[0].sku");
  EXPECT_EQ(fields[1], "lines[0].quantity");
  int64_t count = 0;
  ASSERT_TRUE(absl::SimpleAtoi(ReasonMetadata(s, "violation_count"), &count));
  EXPECT_GE(count, 3000);
  EXPECT_NE(s.error_message().find(absl::StrCat(count, " invalid fields")), std::string::npos) << s.error_message();
  EXPECT_LE(s.error_message().size(), kMaxErrorMessageBytes);
  EXPECT_LE(s.error_details().size(), kMaxErrorDetailsBytes);
  EXPECT_TRUE(Ledger("ann").empty());
}

TEST_F(BoundsTest, AHugeBadValueIsEchoedOnlyAsAShortPrefix) {
  Configure();
  Enrol("ann");
  lv1::UpdateMemberRequest req;
  req.set_request_id("update-1");
  req.mutable_member()->set_member_id("ann");
  req.mutable_update_mask()->add_paths(std::string(1 << 20, 'x'));
  lv1::Member out;
  grpc::Status s = stub().UpdateMember(Ctx(svc()).get(), req, &out);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s).substr(0, 300);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"update_mask"});
  EXPECT_NE(s.error_message().find("(1048576 bytes)"), std::string::npos) << s.error_message();
  EXPECT_LE(s.error_message().size(), kMaxErrorMessageBytes);
  EXPECT_LE(s.error_details().size(), kMaxErrorDetailsBytes);
}

// ------------------------------------------------------------ defect 8

TEST_F(BoundsTest, TextLimitsCountCharactersNotBytes) {
  lv1::Program program = DefaultProgram();
  program.mutable_tiers(2)->set_display_name(Repeat("金", 50));  // 50 characters, 150 bytes
  Configure(program);
  // 200 characters where the limit is 200 (258 bytes of Vietnamese).
  const std::string vietnamese = Repeat("Nguyễn ", 28) + "Trần";
  lv1::Member ann = Enrol("ann", [&](lv1::Member* m) { m->set_name(vietnamese); });
  EXPECT_EQ(ann.name(), vietnamese);

  lv1::UpdateMemberRequest update;
  update.set_request_id("rename-1");
  update.mutable_member()->set_member_id("ann");
  update.mutable_member()->set_name(Repeat("山", 200));
  update.mutable_update_mask()->add_paths("name");
  lv1::Member out;
  grpc::Status s = stub().UpdateMember(Ctx(svc()).get(), update, &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(out.name(), Repeat("山", 200));
  update.set_request_id("rename-2");
  update.mutable_member()->set_name(Repeat("山", 201));
  s = stub().UpdateMember(Ctx(svc()).get(), update, &out);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"member.name"}) << Describe(s);

  lv1::AdjustPointsRequest adjust;
  adjust.set_request_id("adj-1");
  adjust.set_member_id("ann");
  adjust.set_reason_code("GOODWILL");
  adjust.set_points_delta(10);
  adjust.set_note(Repeat("ありがとう", 100));  // 500 characters, the limit
  lv1::AdjustPointsResponse ar;
  s = stub().AdjustPoints(Ctx(goodwill()).get(), adjust, &ar);
  EXPECT_TRUE(s.ok()) << Describe(s);
  lv1::RedeemPointsResponse rr;
  lv1::RedeemPointsRequest redeem;
  redeem.set_request_id("redeem-1");
  redeem.set_member_id("ann");
  redeem.set_points(5);
  redeem.set_description(Repeat("Phiếu giảm giá ", 14));  // 210 characters
  s = stub().RedeemPoints(Ctx(svc()).get(), redeem, &rr);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"description"}) << Describe(s);
  redeem.set_description(Repeat("Phiếu giảm giá ", 13) + "quà");  // 198 characters, 263 bytes
  s = stub().RedeemPoints(Ctx(svc()).get(), redeem, &rr);
  EXPECT_TRUE(s.ok()) << Describe(s);
}

// ------------------------------------------- issue 16, defect 5: filters

TEST_F(BoundsTest, MemberAndLedgerFiltersOverTheBoundAreRefusedNamingTheField) {
  Configure();
  Enrol("ann");
  {
    lv1::ListMembersRequest req;
    for (int k = 0; k < kFilterBound; ++k) req.add_tier_ids(absl::StrCat("t", k));
    lv1::ListMembersResponse resp;
    grpc::Status s = stub().ListMembers(Ctx(svc()).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << "100 values are within the bound: " << Describe(s);
    req.add_tier_ids("one-more");
    ExpectTooManyValues(stub().ListMembers(Ctx(svc()).get(), req, &resp), "tier_ids");
    req.clear_tier_ids();
    for (int k = 0; k < 200000; ++k) req.add_segments("vip");
    ExpectTooManyValues(stub().ListMembers(Ctx(svc()).get(), req, &resp), "segments");
  }
  {
    lv1::ExportMembersRequest req;
    for (int k = 0; k <= kFilterBound; ++k) req.add_segments(absl::StrCat("s", k));
    auto ctx = Ctx(admin());  // exports are for peers and admins
    auto reader = stub().ExportMembers(ctx.get(), req);
    lv1::Member m;
    while (reader->Read(&m)) {
    }
    ExpectTooManyValues(reader->Finish(), "segments");
  }
  {
    lv1::ListLedgerEntriesRequest req;
    req.set_member_id("ann");
    for (int k = 0; k <= kFilterBound; ++k) req.add_kinds(static_cast<lv1::LedgerEntryKind>(1));
    lv1::ListLedgerEntriesResponse resp;
    ExpectTooManyValues(stub().ListLedgerEntries(Ctx(svc()).get(), req, &resp), "kinds");
  }
}

}  // namespace
}  // namespace care::testing
