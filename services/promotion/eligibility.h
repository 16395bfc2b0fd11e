#pragma once

// Which campaigns can touch a cart (stacking order, step 1): a campaign's
// eligibility for this shopper now, and its rules' conditions on the cart
// as sent. Internal to the pricing engine (pricing.cc); pure.

#include <algorithm>
#include <string>
#include <vector>

#include "care/promotion/v1/promotion.pb.h"
#include "services/promotion/model.h"
#include "services/promotion/pricing.h"

namespace care::promotion {

inline bool Contains(const google::protobuf::RepeatedPtrField<std::string>& list, const std::string& v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

// Whether line `l` is one `s` selects (no skus and no categories = every
// line not excluded).
inline bool Matches(const care::promotion::v1::ItemSelector& s, const Line& l) {
  if (Contains(s.exclude_skus(), l.sku) || Contains(s.exclude_categories(), l.category)) return false;
  if (s.skus().empty() && s.categories().empty()) return true;
  return Contains(s.skus(), l.sku) || (!l.category.empty() && Contains(s.categories(), l.category));
}

// Why `campaign` cannot apply to this shopper now (state, dates, currency,
// windows, audience, voucher, limits left); UNSPECIFIED = it can. Some
// reasons come with a `detail`.
care::promotion::v1::RejectionReason Eligibility(const care::promotion::v1::Campaign& campaign, const PricingInput& in,
                                                 std::string* detail);

// The first condition of `rule` the cart as sent fails (UNSPECIFIED = none).
// `subtotals`: each line's unit_price x quantity (their sum within the bound).
care::promotion::v1::RejectionReason FailedCondition(const care::promotion::v1::Rule& rule, const PricingInput& in,
                                                     const std::vector<int64_t>& subtotals, std::string* detail);

}  // namespace care::promotion
