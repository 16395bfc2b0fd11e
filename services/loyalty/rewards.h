#pragma once

// The rewards catalogue's rule, as a pure function: whether a member may
// redeem a reward now (no storage, no clock of its own), so it is tested
// alone (tests/unit/loyalty/rewards_test.cc). RedeemReward (rewards.cc)
// runs it in the member's transaction.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "care/loyalty/v1/loyalty.pb.h"

namespace care::loyalty {

// What decides whether a reward can be redeemed.
struct RewardTerms {
  std::string reward_id;
  bool archived = false;
  std::optional<absl::Time> start_time;  // unset = always
  std::optional<absl::Time> end_time;    // exclusive; unset = open
  std::vector<std::string> tier_ids;     // empty = every tier
  std::optional<int64_t> stock;          // unset = unlimited
  int64_t points_price = 0;
};

// OK, or FAILED_PRECONDITION naming the first thing that stops it, checked
// in this order: REWARD_NOT_AVAILABLE (archived, or `now` outside
// [start_time, end_time)), TIER_NOT_ELIGIBLE (`tier_id` not listed),
// OUT_OF_STOCK (stock 0), INSUFFICIENT_POINTS (`balance` below the price).
absl::Status CheckRedeemable(const RewardTerms& terms, const std::string& tier_id, int64_t balance, absl::Time now);

// The member's ledger sequence of a redemption's REWARD entry: the order
// redemptions are listed in (0 when its entry_id is malformed).
int64_t RedemptionSequence(const v1::RewardRedemption& redemption);

}  // namespace care::loyalty
