// CheckRedeemable (services/loyalty/rewards.h): which rule stops a reward
// redemption, in the order RedeemReward applies them.
#include "common/errors.h"
#include "gtest/gtest.h"
#include "services/loyalty/rewards.h"

namespace care::loyalty {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'900'000'000);

RewardTerms Open() {
  RewardTerms t;
  t.reward_id = "r";
  t.points_price = 100;
  return t;
}

TEST(RewardTermsTest, AnOpenRewardNeedsOnlyThePrice) {
  EXPECT_TRUE(CheckRedeemable(Open(), "member", 100, kNow).ok());
  absl::Status s = CheckRedeemable(Open(), "member", 99, kNow);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(s), "INSUFFICIENT_POINTS");
}

TEST(RewardTermsTest, DatesAreAHalfOpenWindowAndArchivedIsNeverAvailable) {
  RewardTerms t = Open();
  t.start_time = kNow;
  t.end_time = kNow + absl::Hours(1);
  EXPECT_TRUE(CheckRedeemable(t, "member", 100, kNow).ok());
  EXPECT_EQ(ErrorReason(CheckRedeemable(t, "member", 100, kNow - absl::Seconds(1))), "REWARD_NOT_AVAILABLE");
  EXPECT_EQ(ErrorReason(CheckRedeemable(t, "member", 100, kNow + absl::Hours(1))), "REWARD_NOT_AVAILABLE");
  t = Open();
  t.archived = true;
  EXPECT_EQ(ErrorReason(CheckRedeemable(t, "member", 100, kNow)), "REWARD_NOT_AVAILABLE");
}

TEST(RewardTermsTest, TierThenStockThenBalance) {
  RewardTerms t = Open();
  t.tier_ids = {"gold", "silver"};
  t.stock = 0;
  EXPECT_EQ(ErrorReason(CheckRedeemable(t, "member", 0, kNow)), "TIER_NOT_ELIGIBLE");
  EXPECT_EQ(ErrorReason(CheckRedeemable(t, "gold", 0, kNow)), "OUT_OF_STOCK");
  t.stock = 1;
  EXPECT_EQ(ErrorReason(CheckRedeemable(t, "silver", 0, kNow)), "INSUFFICIENT_POINTS");
  EXPECT_TRUE(CheckRedeemable(t, "silver", 100, kNow).ok());
}

TEST(RewardTermsTest, TheRedemptionSequenceIsItsEntrysOwn) {
  v1::RewardRedemption r;
  r.set_entry_id("m-1/42");
  EXPECT_EQ(RedemptionSequence(r), 42);
  r.set_entry_id("garbled");
  EXPECT_EQ(RedemptionSequence(r), 0);
}

}  // namespace
}  // namespace care::loyalty
