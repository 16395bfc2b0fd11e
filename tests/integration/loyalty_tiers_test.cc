// Tiers: upgrade exactly at the threshold, review and grace at the window's
// end on the fake clock, projections, and the Redis tier cache (write-
// through, direct reads, surviving a Redis crash, refilling afterwards).
#include "tests/integration/loyalty_fixture.h"

namespace care::testing {
namespace {

using TierTest = LoyaltyTest;

TEST_F(TierTest, UpgradesExactlyAtTheThresholdNotOneMinorUnitBefore) {
  Configure();
  lv1::Member enrolled = Enrol("ann");
  EXPECT_EQ(enrolled.tier().tier_id(), "member");
  EXPECT_EQ(enrolled.tier().version(), 1);

  lv1::RecordPurchaseResponse first = Purchase("ann", "o-1", 99999);  // 999.99 of 1,000.00
  EXPECT_FALSE(first.tier_changed());
  EXPECT_EQ(first.tier().tier_id(), "member");
  ASSERT_TRUE(first.has_next_tier_progress());
  EXPECT_EQ(first.next_tier_progress().tier_id(), "silver");
  EXPECT_EQ(first.next_tier_progress().spend_needed().amount_minor(), 1);
  EXPECT_EQ(GetTier("ann").tier_id(), "member");

  lv1::RecordPurchaseResponse second = Purchase("ann", "o-2", 1);
  EXPECT_TRUE(second.tier_changed());
  EXPECT_EQ(second.previous_tier_id(), "member");
  EXPECT_EQ(second.tier().tier_id(), "silver");
  EXPECT_EQ(second.tier().version(), 2);
  EXPECT_EQ(second.tier().benefits().points_multiplier_bps(), 12500);
  // The purchase that crossed the line earned at the old tier's rate.
  EXPECT_EQ(second.entries(0).purchase().calculation().tier_id(), "member");

  // Seen at once by GetTier and by a direct read of the cache.
  lv1::TierSnapshot tier = GetTier("ann");
  EXPECT_EQ(tier.tier_id(), "silver");
  EXPECT_EQ(tier.version(), 2);
  std::optional<lv1::TierSnapshot> cached = CachedTier("ann");
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ(cached->tier_id(), "silver");
  EXPECT_EQ(cached->version(), 2);
  EXPECT_EQ(cached->tier_display_name(), "Silver");

  lv1::Member member = GetMember("ann");
  EXPECT_EQ(member.tier().state(), lv1::TIER_STATE_QUALIFIED);
  EXPECT_EQ(member.lifetime_spend().amount_minor(), 100000);
  // Reviewed 12 months after entering the tier.
  EXPECT_EQ(FromTimestamp(member.tier().review_time()),
            absl::FromCivil(absl::CivilSecond(2032, 1, 15, 10, 0, 0), absl::UTCTimeZone()));

  // Skipping a rung: 5,000.00 more goes straight to gold.
  lv1::RecordPurchaseResponse third = Purchase("ann", "o-3", 500000);
  EXPECT_TRUE(third.tier_changed());
  EXPECT_EQ(third.tier().tier_id(), "gold");
  EXPECT_EQ(third.entries(0).points_delta(), 6250);  // 5,000 points at silver's 1.25x
  EXPECT_FALSE(third.has_next_tier_progress());      // top of the ladder
  EXPECT_EQ(CachedTier("ann")->tier_id(), "gold");
  ExpectLedgerConsistent("ann");
}

TEST_F(TierTest, FailedReviewGivesGraceThenDowngradesAtItsEnd) {
  Configure();
  Enrol("bob");
  Purchase("bob", "o-1", 100000);
  ASSERT_EQ(GetTier("bob").tier_id(), "silver");
  absl::Time review = FromTimestamp(GetMember("bob").tier().review_time());

  // One second before the review nothing happens.
  SetTime(review - absl::Seconds(1));
  Advance(absl::Seconds(1) - absl::Microseconds(1));
  EXPECT_EQ(GetMember("bob").tier().state(), lv1::TIER_STATE_QUALIFIED);

  // At the review the window holds no spend: in grace for 30 days.
  SetTime(review);
  ASSERT_TRUE(Eventually([&] { return GetMember("bob").tier().state() == lv1::TIER_STATE_IN_GRACE; }));
  lv1::Member in_grace = GetMember("bob");
  EXPECT_EQ(in_grace.tier().tier_id(), "silver");
  EXPECT_EQ(FromTimestamp(in_grace.tier().grace_end_time()), review + absl::Hours(24 * 30));
  EXPECT_EQ(GetTier("bob").tier_id(), "silver");

  // ProjectTier says what keeps the tier: the whole threshold by grace end.
  lv1::ProjectTierRequest project;
  project.set_member_id("bob");
  lv1::ProjectTierResponse projection;
  ASSERT_TRUE(stub().ProjectTier(Ctx(svc()).get(), project, &projection).ok());
  ASSERT_GE(projection.projections_size(), 1);
  EXPECT_EQ(projection.projections(0).goal(), lv1::TIER_GOAL_KEEP);
  EXPECT_EQ(projection.projections(0).spend_needed().amount_minor(), 100000);
  EXPECT_EQ(FromTimestamp(projection.projections(0).deadline()), review + absl::Hours(24 * 30));

  // At grace end it is gone: down to the highest tier still met.
  SetTime(review + absl::Hours(24 * 30));
  ASSERT_TRUE(Eventually([&] { return GetTier("bob").tier_id() == "member"; }));
  lv1::Member after = GetMember("bob");
  EXPECT_EQ(after.tier().tier_id(), "member");
  EXPECT_EQ(after.tier().version(), 3);
  EXPECT_EQ(CachedTier("bob")->tier_id(), "member");
  // The TierChanged events reach notification through the outbox.
  ASSERT_TRUE(Eventually([&] { return notification_.Events(nv1::IngestEventRequest::kTierChanged).size() == 3; }));
  auto changes = notification_.Events(nv1::IngestEventRequest::kTierChanged);
  EXPECT_EQ(changes[2].tier_changed().old_tier_id(), "silver");
  EXPECT_EQ(changes[2].tier_changed().new_tier_id(), "member");
  EXPECT_EQ(changes[2].tier_changed().version(), 3);
}

TEST_F(TierTest, ReQualifyingDuringGraceKeepsTheTier) {
  Configure();
  Enrol("cat");
  Purchase("cat", "o-1", 100000);
  absl::Time review = FromTimestamp(GetMember("cat").tier().review_time());
  SetTime(review + absl::Hours(1));
  ASSERT_TRUE(Eventually([&] { return GetMember("cat").tier().state() == lv1::TIER_STATE_IN_GRACE; }));
  lv1::RecordPurchaseResponse r = Purchase("cat", "o-2", 100000);
  EXPECT_FALSE(r.tier_changed());
  lv1::Member kept = GetMember("cat");
  EXPECT_EQ(kept.tier().state(), lv1::TIER_STATE_QUALIFIED);
  EXPECT_EQ(FromTimestamp(kept.tier().review_time()),
            absl::FromCivil(absl::CivilSecond(2033, 1, 15, 11, 0, 0), absl::UTCTimeZone()));
  SetTime(review + absl::Hours(24 * 31));
  // Well past the old grace end: still silver.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(GetTier("cat").tier_id(), "silver");
}

TEST_F(TierTest, GoldWithoutGraceDropsOneRankAtTheReview) {
  Configure();
  Enrol("dan");
  Purchase("dan", "o-1", 500000);
  ASSERT_EQ(GetTier("dan").tier_id(), "gold");
  absl::Time review = FromTimestamp(GetMember("dan").tier().review_time());
  SetTime(review);
  ASSERT_TRUE(Eventually([&] { return GetTier("dan").tier_id() == "silver"; }));
  lv1::Member m = GetMember("dan");
  // Silver's own review starts then: a year later, with its grace.
  EXPECT_EQ(FromTimestamp(m.tier().achieved_time()), review);
  SetTime(FromTimestamp(m.tier().review_time()) + absl::Hours(24 * 30));
  ASSERT_TRUE(Eventually([&] { return GetTier("dan").tier_id() == "member"; }));
}

TEST_F(TierTest, AReturnDowngradesAtOnceOnlyWhenTheTierSaysSo) {
  lv1::Program program = DefaultProgram();
  program.mutable_tiers(1)->mutable_retention()->set_return_downgrade(lv1::RETURN_DOWNGRADE_IMMEDIATE);
  Configure(program);
  Enrol("jo");
  Purchase("jo", "o-1", 100000);
  Purchase("jo", "o-2", 500);
  lv1::RecordReturnRequest ret;
  ret.set_return_id("r-1");
  ret.set_order_id("o-2");
  ret.set_kind(lv1::RETURN_KIND_FULL);
  lv1::RecordReturnResponse r;
  ASSERT_TRUE(stub().RecordReturn(Ctx(svc()).get(), ret, &r).ok());
  EXPECT_FALSE(r.tier_changed());  // still 1,000.00
  ret.set_return_id("r-2");
  ret.set_order_id("o-1");
  ret.set_kind(lv1::RETURN_KIND_PARTIAL);
  *ret.mutable_returned_amount() = Usd(1);
  grpc::Status s = stub().RecordReturn(Ctx(svc()).get(), ret, &r);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_TRUE(r.tier_changed());
  EXPECT_EQ(r.previous_tier_id(), "silver");
  EXPECT_EQ(r.tier().tier_id(), "member");
  EXPECT_EQ(CachedTier("jo")->tier_id(), "member");

  // Gold keeps the default (AT_REVIEW): a return lowers the spend only.
  Enrol("kim");
  Purchase("kim", "o-3", 500000);
  ret.set_return_id("r-3");
  ret.set_order_id("o-3");
  ret.set_kind(lv1::RETURN_KIND_FULL);
  ret.clear_returned_amount();
  ASSERT_TRUE(stub().RecordReturn(Ctx(svc()).get(), ret, &r).ok());
  EXPECT_FALSE(r.tier_changed());
  EXPECT_EQ(GetTier("kim").tier_id(), "gold");
  EXPECT_EQ(GetMember("kim").lifetime_spend().amount_minor(), 0);
}

TEST_F(TierTest, TierCacheSurvivesARedisCrashAndRefills) {
  Configure();
  Enrol("eve");
  ASSERT_TRUE(CachedTier("eve").has_value());

  redis_.Kill();
  // Every call still works from SQLite.
  lv1::RecordPurchaseResponse up = Purchase("eve", "o-1", 100000);
  EXPECT_TRUE(up.tier_changed());
  EXPECT_EQ(GetTier("eve").tier_id(), "silver");
  Enrol("fay");
  EXPECT_EQ(GetTier("fay").tier_id(), "member");
  lv1::RedeemPointsResponse redeemed;
  EXPECT_TRUE(Redeem("eve", "r-1", 10, &redeemed).ok());

  // Redis back, empty: the first GetTier misses and writes the snapshot
  // back; from then on the cache answers.
  ASSERT_TRUE(redis_.Restart().ok());
  redis_client_.reset();
  ASSERT_TRUE(Eventually([&] {
    lv1::TierSnapshot t = GetTier("eve");
    auto cached = CachedTier("eve");
    return t.tier_id() == "silver" && cached && cached->tier_id() == "silver" && cached->version() == 2;
  }));
  // A later change is written through again.
  Purchase("eve", "o-2", 400000);
  EXPECT_EQ(CachedTier("eve")->tier_id(), "gold");
  EXPECT_EQ(GetTier("eve").tier_id(), "gold");
}

TEST_F(TierTest, ChangesMadeWhileRedisWasDownReachTheCacheWithoutAnyRead) {
  Configure();
  Enrol("gus");
  redis_.Kill();
  Purchase("gus", "o-1", 100000);
  ASSERT_TRUE(redis_.Restart().ok());
  redis_client_.reset();
  // No GetTier: the repair job replays the pending snapshot by itself.
  ASSERT_TRUE(Eventually([&] {
    auto cached = CachedTier("gus");
    return cached && cached->tier_id() == "silver";
  }));
}

TEST_F(TierTest, ProjectTierSaysHowMuchMoreReachesATier) {
  Configure();
  Enrol("hal");
  Purchase("hal", "o-1", 30000);
  lv1::ProjectTierRequest req;
  req.set_member_id("hal");
  req.set_target_tier_id("gold");
  *req.mutable_by_time() = ToTimestamp(Base() + absl::Hours(24 * 60));
  lv1::ProjectTierResponse resp;
  grpc::Status s = stub().ProjectTier(Ctx(svc()).get(), req, &resp);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_EQ(resp.projections_size(), 1);
  const lv1::TierProjection& p = resp.projections(0);
  EXPECT_EQ(p.goal(), lv1::TIER_GOAL_REACH);
  EXPECT_EQ(p.tier_id(), "gold");
  EXPECT_EQ(p.threshold().amount_minor(), 500000);
  EXPECT_EQ(p.qualifying_spend().amount_minor(), 30000);
  EXPECT_EQ(p.spend_needed().amount_minor(), 470000);
  EXPECT_FALSE(p.achieved());

  req.set_target_tier_id("platinum");
  s = stub().ProjectTier(Ctx(svc()).get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Reason(s), "TIER_NOT_FOUND");
}

TEST_F(TierTest, LoweredThresholdUpgradesInTheBackgroundAndNewBenefitsReachTheCache) {
  lv1::Program v1 = Configure();
  Enrol("ivy");
  Purchase("ivy", "o-1", 60000);
  ASSERT_EQ(GetTier("ivy").tier_id(), "member");
  lv1::Program lower = v1;
  lower.mutable_tiers(1)->mutable_qualifying_spend()->set_amount_minor(50000);
  lower.mutable_tiers(0)->mutable_benefits()->set_discount_bps(100);
  lv1::Program v2;
  grpc::Status s = UpdateProgram(lower, v1.version(), &v2, {"tiers"});
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(v2.version(), 2);
  Advance(absl::Seconds(1));  // kicks the jobs
  ASSERT_TRUE(Eventually([&] { return GetTier("ivy").tier_id() == "silver"; }));
  auto cached = CachedTier("ivy");
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ(cached->tier_id(), "silver");
  EXPECT_EQ(cached->program_version(), 2);
}

}  // namespace
}  // namespace care::testing
