// Points: earning, returns reversing what was earned (even after the rule
// changed), redemptions under concurrency, idempotent replays of every
// mutation, visit rewards, and the ledger/balance invariants.
#include <atomic>

#include "tests/integration/loyalty_fixture.h"

namespace care::testing {
namespace {

// The requests of the mutations the replay test sends, to send their keys again with other content.
struct Mutations {
  lv1::UpdateProgramRequest program;
  lv1::EnrolMemberRequest enrol;
  lv1::UpdateMemberRequest update;
  lv1::RecordPurchaseRequest purchase;
  lv1::RecordReturnRequest ret;
};

class PointsTest : public LoyaltyTest {
 protected:
  static void ExpectReused(const grpc::Status& s, const std::string& key) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << Describe(s);
    EXPECT_EQ(Reason(s), "REQUEST_ID_REUSED");
    EXPECT_EQ(ReasonMetadata(s, "key"), key);
  }

  // Every key of `sent`, and member `id`'s redemption d-1 and adjustment a-1, sent again with other
  // content: refused, naming the key.
  void ExpectReusedKeysRefused(Mutations sent, const std::string& id) {
    lv1::RedeemPointsResponse d3;
    ExpectReused(Redeem(id, "d-1", 8, &d3), "d-1");
    sent.purchase.mutable_amount()->set_amount_minor(999);
    lv1::RecordPurchaseResponse r2;
    ExpectReused(stub().RecordPurchase(Ctx(svc()).get(), sent.purchase, &r2), "order-1");
    sent.ret.mutable_returned_amount()->set_amount_minor(2000);
    lv1::RecordReturnResponse t2;
    ExpectReused(stub().RecordReturn(Ctx(svc()).get(), sent.ret, &t2), "ret-1");
    sent.enrol.mutable_member()->set_name("Someone else");
    lv1::Member m2;
    ExpectReused(stub().EnrolMember(Ctx(svc()).get(), sent.enrol, &m2), "e-1");
    sent.update.mutable_member()->set_locale("ja");
    lv1::Member u2;
    ExpectReused(stub().UpdateMember(Ctx(svc()).get(), sent.update, &u2), "u-1");
    sent.program.mutable_program()->set_display_name("Other");
    lv1::Program p2;
    ExpectReused(stub().UpdateProgram(Ctx(admin()).get(), sent.program, &p2), "p-1");
    lv1::AdjustPointsRequest adjust;
    adjust.set_request_id("a-1");
    adjust.set_member_id(id);
    adjust.set_points_delta(4);
    adjust.set_reason_code("GOODWILL");
    lv1::AdjustPointsResponse a2;
    ExpectReused(stub().AdjustPoints(Ctx(goodwill()).get(), adjust, &a2), "a-1");
  }
};

TEST_F(PointsTest, ExactlyFiftyOfTwoHundredConcurrentRedemptionsSucceed) {
  Configure();
  Enrol("ann");
  Adjust("ann", "seed", 5000);  // covers 50 redemptions of 100

  std::atomic<int> ok{0}, insufficient{0}, other{0};
  std::vector<std::thread> threads;
  threads.reserve(200);
  std::atomic<bool> go{false};
  for (int i = 0; i < 200; ++i) {
    threads.emplace_back([&, i] {
      while (!go) std::this_thread::yield();
      lv1::RedeemPointsResponse r;
      grpc::Status s = Redeem("ann", absl::StrCat("redeem-", i), 100, &r);
      if (s.ok()) {
        ++ok;
      } else if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION && Reason(s) == "INSUFFICIENT_POINTS") {
        ++insufficient;
      } else {
        ++other;
        ADD_FAILURE() << Describe(s);
      }
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 50);
  EXPECT_EQ(insufficient, 150);
  EXPECT_EQ(other, 0);
  EXPECT_EQ(Balance("ann").balance(), 0);
  EXPECT_EQ(Balance("ann").lifetime_redeemed(), 5000);
  std::vector<lv1::LedgerEntry> ledger = Ledger("ann");
  EXPECT_EQ(ledger.size(), 51u);  // the adjustment and 50 redemptions
  ExpectLedgerConsistent("ann");

  // A refused request is not remembered: the same id works once points exist.
  Adjust("ann", "top-up", 100);
  lv1::RedeemPointsResponse later;
  int refused = -1;
  for (int i = 0; i < 200 && refused < 0; ++i) {
    lv1::RedeemPointsResponse probe;
    grpc::Status s = Redeem("ann", absl::StrCat("redeem-", i), 100, &probe);
    if (s.ok() && probe.entry().sequence() == 53) refused = i;
  }
  EXPECT_GE(refused, 0) << "a previously refused request id should be evaluated afresh";
  EXPECT_EQ(Balance("ann").balance(), 0);
}

TEST_F(PointsTest, RedeemingMoreThanTheBalanceChangesNothing) {
  Configure();
  Enrol("bob");
  Adjust("bob", "seed", 10);
  lv1::RedeemPointsResponse r;
  grpc::Status s = Redeem("bob", "too-much", 11, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(s), "INSUFFICIENT_POINTS");
  EXPECT_EQ(ReasonMetadata(s, "balance"), "10");
  EXPECT_EQ(ReasonMetadata(s, "requested"), "11");
  EXPECT_EQ(Ledger("bob").size(), 1u);

  lv1::AdjustPointsRequest take;
  take.set_request_id("take");
  take.set_member_id("bob");
  take.set_points_delta(-11);
  take.set_reason_code("CORRECTION");
  lv1::AdjustPointsResponse out;
  s = stub().AdjustPoints(Ctx(goodwill()).get(), take, &out);
  EXPECT_EQ(Reason(s), "INSUFFICIENT_POINTS");
  ExpectLedgerConsistent("bob");
}

// issue 16, defect 3: a backend's `service` token cannot mint points; the
// complaint service (its peer token) and supervisors can.
TEST_F(PointsTest, OnlyAPeerOrASupervisorAdjustsPoints) {
  Configure();
  Enrol("cid");
  lv1::AdjustPointsRequest mint;
  mint.set_request_id("mint");
  mint.set_member_id("cid");
  mint.set_points_delta(1000);
  mint.set_reason_code("GOODWILL");
  lv1::AdjustPointsResponse out;
  grpc::Status s = stub().AdjustPoints(Ctx(svc()).get(), mint, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
  EXPECT_EQ(Reason(s), "MISSING_ROLE");
  EXPECT_EQ(Ledger("cid").size(), 0u);
  s = stub().AdjustPoints(Ctx(tokens_.peer_complaint).get(), mint, &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(out.entry().actor(), "svc:complaint");
  mint.set_request_id("mint-2");
  s = stub().AdjustPoints(Ctx(tokens_.supervisor).get(), mint, &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(out.entry().actor(), "supervisor:test");
}

// issue 16, defect 3: among peers only complaint (goodwill) adjusts points; a
// compromised promotion, loyalty or notification peer is refused.
TEST_F(PointsTest, AmongPeersOnlyComplaintAdjustsPoints) {
  Configure();
  Enrol("dan");
  lv1::AdjustPointsRequest mint;
  mint.set_request_id("peer-mint");
  mint.set_member_id("dan");
  mint.set_points_delta(1000);
  mint.set_reason_code("GOODWILL");
  lv1::AdjustPointsResponse out;
  for (const std::string* peer : {&tokens_.peer_promotion, &tokens_.peer_loyalty, &tokens_.peer_notification}) {
    grpc::Status s = stub().AdjustPoints(Ctx(*peer).get(), mint, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
    EXPECT_EQ(Reason(s), "PEER_NOT_ALLOWED") << Describe(s);
    EXPECT_EQ(ReasonMetadata(s, "allowed"), "svc:complaint");
    EXPECT_NE(ReasonMetadata(s, "method").find("AdjustPoints"), std::string::npos) << Describe(s);
  }
  EXPECT_EQ(Ledger("dan").size(), 0u);
  grpc::Status s = stub().AdjustPoints(Ctx(tokens_.peer_complaint).get(), mint, &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(out.points_balance(), 1000);
  EXPECT_EQ(out.entry().actor(), "svc:complaint");
}

TEST_F(PointsTest, ReplayingAnyMutationReturnsTheFirstAnswerAndChangesNothing) {
  lv1::Program program = DefaultProgram();
  lv1::UpdateProgramRequest up;
  up.set_request_id("p-1");
  *up.mutable_program() = program;
  lv1::Program p1, p2;
  ASSERT_TRUE(stub().UpdateProgram(Ctx(admin()).get(), up, &p1).ok());
  ASSERT_TRUE(stub().UpdateProgram(Ctx(admin()).get(), up, &p2).ok());
  EXPECT_EQ(p1.SerializeAsString(), p2.SerializeAsString());
  EXPECT_EQ(p2.version(), 1);

  lv1::EnrolMemberRequest enrol;
  enrol.set_request_id("e-1");
  enrol.mutable_member()->set_name("Cleo");
  lv1::Member m1, m2;
  ASSERT_TRUE(stub().EnrolMember(Ctx(svc()).get(), enrol, &m1).ok());
  Advance(absl::Minutes(1));
  ASSERT_TRUE(stub().EnrolMember(Ctx(svc()).get(), enrol, &m2).ok());
  EXPECT_EQ(m1.SerializeAsString(), m2.SerializeAsString());  // same server-chosen id, same times
  const std::string id = m1.member_id();
  EXPECT_FALSE(id.empty());

  lv1::UpdateMemberRequest update;
  update.set_request_id("u-1");
  update.mutable_member()->set_member_id(id);
  update.mutable_member()->set_locale("vi-VN");
  update.mutable_update_mask()->add_paths("locale");
  lv1::Member u1, u2;
  ASSERT_TRUE(stub().UpdateMember(Ctx(svc()).get(), update, &u1).ok());
  ASSERT_TRUE(stub().UpdateMember(Ctx(svc()).get(), update, &u2).ok());
  EXPECT_EQ(u1.SerializeAsString(), u2.SerializeAsString());
  EXPECT_EQ(u2.version(), 2);

  lv1::RecordPurchaseRequest purchase = PurchaseRequest(id, "order-1", 123456);
  lv1::RecordPurchaseResponse r1, r2;
  ASSERT_TRUE(stub().RecordPurchase(Ctx(svc()).get(), purchase, &r1).ok());
  purchase.set_request_id("a-retry-with-another-request-id");  // only logged
  ASSERT_TRUE(stub().RecordPurchase(Ctx(svc()).get(), purchase, &r2).ok());
  EXPECT_EQ(r1.SerializeAsString(), r2.SerializeAsString());

  lv1::RecordReturnRequest ret;
  ret.set_return_id("ret-1");
  ret.set_order_id("order-1");
  ret.set_kind(lv1::RETURN_KIND_PARTIAL);
  *ret.mutable_returned_amount() = Usd(1000);
  lv1::RecordReturnResponse t1, t2;
  ASSERT_TRUE(stub().RecordReturn(Ctx(svc()).get(), ret, &t1).ok());
  ASSERT_TRUE(stub().RecordReturn(Ctx(svc()).get(), ret, &t2).ok());
  EXPECT_EQ(t1.SerializeAsString(), t2.SerializeAsString());

  lv1::RedeemPointsResponse d1, d2;
  ASSERT_TRUE(Redeem(id, "d-1", 7, &d1).ok());
  ASSERT_TRUE(Redeem(id, "d-1", 7, &d2).ok());
  EXPECT_EQ(d1.SerializeAsString(), d2.SerializeAsString());

  lv1::AdjustPointsResponse a1 = Adjust(id, "a-1", 3);
  lv1::AdjustPointsResponse a2 = Adjust(id, "a-1", 3);
  EXPECT_EQ(a1.SerializeAsString(), a2.SerializeAsString());

  // Each applied once: earn, reverse, redeem, adjust.
  std::vector<lv1::LedgerEntry> ledger = Ledger(id);
  ASSERT_EQ(ledger.size(), 4u);
  EXPECT_EQ(ledger[0].points_delta(), 1234);
  EXPECT_EQ(ledger[1].points_delta(), -9);  // floor(1234 * 10.00 / 1234.56)
  EXPECT_EQ(ledger[2].points_delta(), -7);
  EXPECT_EQ(ledger[3].points_delta(), 3);
  EXPECT_EQ(GetMember(id).lifetime_spend().amount_minor(), 122456);
  ExpectLedgerConsistent(id);

  // The same key with different content is refused, naming the key.
  ExpectReusedKeysRefused({up, enrol, update, purchase, ret}, id);
  EXPECT_EQ(Ledger(id).size(), 4u);
}

TEST_F(PointsTest, ARetryOfABackDatedWriteIsAnsweredEvenOnceItIsOutsideTheWindow) {
  // Found by the property test (seed 186869816629): a checkout retries a
  // purchase stamped 6 days ago after a 2-day outage. The purchase happened,
  // so the retry gets the first answer, not "more than 7 days in the past".
  Configure();
  Enrol("ida");
  lv1::RecordPurchaseRequest purchase = PurchaseRequest("ida", "o-late", 50000);
  *purchase.mutable_purchase_time() = ToTimestamp(Now() - absl::Hours(24 * 6));
  lv1::RecordPurchaseResponse r1, r2;
  ASSERT_TRUE(stub().RecordPurchase(Ctx(svc()).get(), purchase, &r1).ok());
  lv1::RecordReturnRequest ret;
  ret.set_return_id("ret-late");
  ret.set_order_id("o-late");
  ret.set_kind(lv1::RETURN_KIND_PARTIAL);
  *ret.mutable_returned_amount() = Usd(1000);
  *ret.mutable_return_time() = ToTimestamp(Now() - absl::Hours(24 * 6));
  lv1::RecordReturnResponse t1, t2;
  ASSERT_TRUE(stub().RecordReturn(Ctx(svc()).get(), ret, &t1).ok());

  Advance(absl::Hours(48));
  grpc::Status s = stub().RecordPurchase(Ctx(svc()).get(), purchase, &r2);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(r1.SerializeAsString(), r2.SerializeAsString());
  s = stub().RecordReturn(Ctx(svc()).get(), ret, &t2);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(t1.SerializeAsString(), t2.SerializeAsString());
  EXPECT_EQ(Ledger("ida").size(), 2u);

  // A new order with that time is outside the window now.
  lv1::RecordPurchaseRequest fresh = purchase;
  fresh.set_order_id("o-late-2");
  s = stub().RecordPurchase(Ctx(svc()).get(), fresh, &r2);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"purchase_time"});
  EXPECT_EQ(Ledger("ida").size(), 2u);
}

TEST_F(PointsTest, APartialReturnReversesWhatTheOrderEarnedEvenAfterTheRateChanged) {
  lv1::Program v1 = Configure();
  Enrol("dee");
  lv1::RecordPurchaseResponse bought = Purchase("dee", "o-1", 10000);  // 100.00 at 1 point per 1.00
  EXPECT_EQ(bought.points_earned(), 100);
  EXPECT_EQ(bought.program_version(), 1);

  lv1::Program five = v1;
  five.mutable_earn_rule()->set_points_per_unit(5);
  lv1::Program v2;
  grpc::Status s = UpdateProgram(five, 1, &v2, {"earn_rule.points_per_unit"});
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(v2.earn_rule().points_per_unit(), 5);
  EXPECT_EQ(v2.tiers_size(), 3);  // the rest copied from version 1
  EXPECT_EQ(Purchase("dee", "o-2", 10000).points_earned(), 500);

  lv1::RecordReturnRequest ret;
  ret.set_return_id("ret-1");
  ret.set_order_id("o-1");
  ret.set_member_id("dee");
  ret.set_kind(lv1::RETURN_KIND_PARTIAL);
  *ret.mutable_returned_amount() = Usd(3000);
  lv1::RecordReturnResponse r;
  s = stub().RecordReturn(Ctx(svc()).get(), ret, &r);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(r.points_reversed(), 30);  // 30 % of 100, not of 500
  EXPECT_EQ(r.total_returned().amount_minor(), 3000);
  EXPECT_FALSE(r.order_fully_returned());
  EXPECT_EQ(r.entry().kind(), lv1::LEDGER_ENTRY_KIND_REVERSE);
  EXPECT_EQ(r.entry().product_return().reversed_entry_id(), bought.entries(0).entry_id());
  EXPECT_EQ(r.points_balance(), 570);

  ret.set_return_id("ret-2");
  ret.set_kind(lv1::RETURN_KIND_FULL);
  ret.clear_returned_amount();
  s = stub().RecordReturn(Ctx(svc()).get(), ret, &r);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(r.points_reversed(), 70);
  EXPECT_EQ(r.returned_amount().amount_minor(), 7000);
  EXPECT_TRUE(r.order_fully_returned());
  EXPECT_EQ(r.points_balance(), 500);

  ret.set_return_id("ret-3");
  s = stub().RecordReturn(Ctx(svc()).get(), ret, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(s), "RETURN_EXCEEDS_PURCHASE");
  EXPECT_EQ(GetMember("dee").lifetime_spend().amount_minor(), 10000);
  ExpectLedgerConsistent("dee");
}

TEST_F(PointsTest, ReturnsRoundCumulativelyAndNeverTakeTheBalanceBelowZero) {
  Configure();
  Enrol("eli");
  EXPECT_EQ(Purchase("eli", "o-1", 1005).points_earned(), 10);  // floor(10.05)
  lv1::RecordReturnRequest ret;
  ret.set_return_id("r-1");
  ret.set_order_id("o-1");
  ret.set_kind(lv1::RETURN_KIND_PARTIAL);
  *ret.mutable_returned_amount() = Usd(503);
  lv1::RecordReturnResponse r;
  ASSERT_TRUE(stub().RecordReturn(Ctx(svc()).get(), ret, &r).ok());
  EXPECT_EQ(r.points_reversed(), 5);  // floor(10 * 503 / 1005)
  *ret.mutable_returned_amount() = Usd(600);
  ret.set_return_id("r-2");
  grpc::Status s = stub().RecordReturn(Ctx(svc()).get(), ret, &r);
  EXPECT_EQ(Reason(s), "RETURN_EXCEEDS_PURCHASE");
  EXPECT_EQ(ReasonMetadata(s, "remaining_minor"), "502");
  *ret.mutable_returned_amount() = Usd(502);
  ASSERT_TRUE(stub().RecordReturn(Ctx(svc()).get(), ret, &r).ok());
  EXPECT_EQ(r.points_reversed(), 5);  // the rest: 10 in all
  EXPECT_EQ(Balance("eli").balance(), 0);

  // Points already spent cannot be taken back: the balance stops at zero.
  Enrol("fin");
  Purchase("fin", "o-2", 5000);
  lv1::RedeemPointsResponse spent;
  ASSERT_TRUE(Redeem("fin", "spend", 40, &spent).ok());
  ret.set_return_id("r-3");
  ret.set_order_id("o-2");
  ret.set_kind(lv1::RETURN_KIND_FULL);
  ret.clear_returned_amount();
  ASSERT_TRUE(stub().RecordReturn(Ctx(svc()).get(), ret, &r).ok());
  EXPECT_EQ(r.points_reversed(), 10);
  EXPECT_EQ(r.points_unrecovered(), 40);
  EXPECT_EQ(r.entry().product_return().points_unrecovered(), 40);
  EXPECT_EQ(r.points_balance(), 0);
  ExpectLedgerConsistent("fin");
}

TEST_F(PointsTest, TheTenthVisitEarnsTheRewardOnceAndASecondOrderTheSameDayIsNoVisit) {
  Configure();
  Enrol("gia");
  lv1::RecordPurchaseResponse r = Purchase("gia", "o-1", 500);
  EXPECT_TRUE(r.visit_counted());
  EXPECT_EQ(r.visit_count(), 1);
  EXPECT_EQ(r.visits_until_reward(), 9);

  Advance(absl::Hours(5));  // 15:00 UTC, same day
  r = Purchase("gia", "o-1b", 500);
  EXPECT_FALSE(r.visit_counted());
  EXPECT_EQ(r.visit_outcome(), lv1::VISIT_OUTCOME_SAME_DAY);
  EXPECT_EQ(r.visit_count(), 1);

  for (int day = 2; day <= 9; ++day) {
    Advance(absl::Hours(24));
    r = Purchase("gia", absl::StrCat("o-", day), 500);
    EXPECT_TRUE(r.visit_counted());
    EXPECT_FALSE(r.has_visit_reward());
  }
  EXPECT_EQ(r.visit_count(), 9);
  EXPECT_EQ(r.visits_until_reward(), 1);

  Advance(absl::Hours(24));
  lv1::RecordPurchaseRequest tenth = PurchaseRequest("gia", "o-10", 500);
  lv1::RecordPurchaseResponse first, again;
  ASSERT_TRUE(stub().RecordPurchase(Ctx(svc()).get(), tenth, &first).ok());
  ASSERT_TRUE(first.has_visit_reward());
  EXPECT_EQ(first.visit_reward().visit_count(), 10);
  EXPECT_EQ(first.visit_reward().reward_name(), "1 free dessert");
  EXPECT_EQ(first.visit_reward().points(), 25);
  EXPECT_EQ(first.visits_until_reward(), 10);
  ASSERT_EQ(first.entries_size(), 2);
  EXPECT_EQ(first.entries(1).kind(), lv1::LEDGER_ENTRY_KIND_VISIT_REWARD);
  EXPECT_EQ(first.entries(1).entry_id(), first.visit_reward().entry_id());
  // A retry of the 10th order: the same answer, no second reward.
  ASSERT_TRUE(stub().RecordPurchase(Ctx(svc()).get(), tenth, &again).ok());
  EXPECT_EQ(first.SerializeAsString(), again.SerializeAsString());
  // Another order that day is no visit, the next day's is the 11th.
  r = Purchase("gia", "o-10b", 500);
  EXPECT_EQ(r.visit_outcome(), lv1::VISIT_OUTCOME_SAME_DAY);
  Advance(absl::Hours(24));
  r = Purchase("gia", "o-11", 500);
  EXPECT_EQ(r.visit_count(), 11);
  EXPECT_FALSE(r.has_visit_reward());

  lv1::ListLedgerEntriesRequest rewards;
  rewards.set_member_id("gia");
  rewards.add_kinds(lv1::LEDGER_ENTRY_KIND_VISIT_REWARD);
  lv1::ListLedgerEntriesResponse listed;
  ASSERT_TRUE(stub().ListLedgerEntries(Ctx(svc()).get(), rewards, &listed).ok());
  ASSERT_EQ(listed.entries_size(), 1);
  EXPECT_EQ(listed.entries(0).visit_reward().visit_count(), 10);
  ASSERT_TRUE(Eventually([&] {
    return notification_.Events(nv1::IngestEventRequest::kVisitRewardEarned).size() == 1;
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto events = notification_.Events(nv1::IngestEventRequest::kVisitRewardEarned);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].visit_reward_earned().visit_count(), 10);
  EXPECT_EQ(events[0].visit_reward_earned().reward(), "1 free dessert");
  ExpectLedgerConsistent("gia");
}

TEST_F(PointsTest, NoPointsPurchasesAddSpendButNoPoints) {
  Configure();
  Enrol("hue");
  lv1::RecordPurchaseRequest req = PurchaseRequest("hue", "o-1", 100000);
  req.set_no_points(true);
  req.add_campaign_ids("double-deal");
  lv1::RecordPurchaseResponse r;
  ASSERT_TRUE(stub().RecordPurchase(Ctx(svc()).get(), req, &r).ok());
  EXPECT_EQ(r.points_earned(), 0);
  EXPECT_TRUE(r.tier_changed());  // the spend still counts
  ASSERT_EQ(r.entries_size(), 1);
  EXPECT_TRUE(r.entries(0).purchase().calculation().no_points());
  EXPECT_EQ(r.entries(0).purchase().campaign_ids(0), "double-deal");
}

TEST_F(PointsTest, BadRequestsNameTheirFieldsAndChangeNothing) {
  lv1::RecordPurchaseResponse r;
  // Before any program.
  grpc::Status s = stub().RecordPurchase(Ctx(svc()).get(), PurchaseRequest("x", "o-1", 1), &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(s), "PROGRAM_NOT_CONFIGURED");

  Configure();
  Enrol("ida");
  lv1::RecordPurchaseRequest bad;
  bad.set_order_id("has space");
  s = stub().RecordPurchase(Ctx(svc()).get(), bad, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(s), "INVALID_FIELD");
  EXPECT_EQ(BadFields(s), (std::vector<std::string>{"member_id", "order_id", "amount"}));

  lv1::RecordPurchaseRequest old = PurchaseRequest("ida", "o-2", 100);
  *old.mutable_purchase_time() = ToTimestamp(Base() - absl::Hours(24 * 8));
  s = stub().RecordPurchase(Ctx(svc()).get(), old, &r);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"purchase_time"});

  lv1::RecordPurchaseRequest euros = PurchaseRequest("ida", "o-3", 100);
  euros.mutable_amount()->set_currency_code("EUR");
  s = stub().RecordPurchase(Ctx(svc()).get(), euros, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(s), "CURRENCY_MISMATCH");
  EXPECT_EQ(ReasonMetadata(s, "expected"), "USD");

  s = stub().RecordPurchase(Ctx(svc()).get(), PurchaseRequest("nobody", "o-4", 100), &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Reason(s), "MEMBER_NOT_FOUND");

  s = stub().RecordPurchase(Ctx(tokens_.agent).get(), PurchaseRequest("ida", "o-5", 100), &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);

  lv1::RecordReturnRequest ret;
  ret.set_return_id("r-1");
  ret.set_order_id("never-recorded");
  ret.set_kind(lv1::RETURN_KIND_FULL);
  lv1::RecordReturnResponse rr;
  s = stub().RecordReturn(Ctx(svc()).get(), ret, &rr);
  EXPECT_EQ(Reason(s), "ORDER_NOT_FOUND");

  lv1::RecordPurchaseRequest lines = PurchaseRequest("ida", "o-6", 1000);
  auto* line = lines.add_lines();
  line->set_quantity(0);
  *line->mutable_amount() = Usd(900);
  s = stub().RecordPurchase(Ctx(svc()).get(), lines, &r);
  EXPECT_EQ(BadFields(s), (std::vector<std::string>{"lines[0].quantity", "lines"}));

  EXPECT_TRUE(Ledger("ida").empty());
}

}  // namespace
}  // namespace care::testing
