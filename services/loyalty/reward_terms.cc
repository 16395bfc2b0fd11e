#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "services/loyalty/rewards.h"

namespace care::loyalty {

absl::Status CheckRedeemable(const RewardTerms& terms, const std::string& tier_id, int64_t balance, absl::Time now) {
  const bool started = !terms.start_time || now >= *terms.start_time;
  const bool ended = terms.end_time && now >= *terms.end_time;
  if (terms.archived || !started || ended) {
    return Error(absl::StatusCode::kFailedPrecondition, "REWARD_NOT_AVAILABLE",
                 terms.archived ? "the reward is archived" : "the reward is not redeemable at this time",
                 {{"reward_id", terms.reward_id}});
  }
  if (!terms.tier_ids.empty() &&
      std::find(terms.tier_ids.begin(), terms.tier_ids.end(), tier_id) == terms.tier_ids.end()) {
    return Error(absl::StatusCode::kFailedPrecondition, "TIER_NOT_ELIGIBLE",
                 absl::StrCat("members of tier ", tier_id, " cannot redeem this reward"), {{"tier_id", tier_id}});
  }
  if (terms.stock && *terms.stock <= 0) {
    return Error(absl::StatusCode::kFailedPrecondition, "OUT_OF_STOCK", "the reward is out of stock",
                 {{"reward_id", terms.reward_id}});
  }
  if (balance < terms.points_price) {
    return Error(absl::StatusCode::kFailedPrecondition, "INSUFFICIENT_POINTS",
                 absl::StrCat("the balance is ", balance, " points, the reward costs ", terms.points_price),
                 {{"balance", absl::StrCat(balance)}, {"requested", absl::StrCat(terms.points_price)}});
  }
  return absl::OkStatus();
}

int64_t RedemptionSequence(const v1::RewardRedemption& redemption) {
  const std::string& id = redemption.entry_id();
  int64_t seq = 0;
  auto slash = id.rfind('/');
  if (slash == std::string::npos || !absl::SimpleAtoi(absl::string_view(id).substr(slash + 1), &seq)) return 0;
  return seq;
}

}  // namespace care::loyalty
