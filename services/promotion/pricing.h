#pragma once

// The pricing engine: evaluates candidate campaigns against one cart in the
// documented stacking order (promotion.proto header, "Quote evaluation").
// Pure: no clock, no storage, no RPC; exact integer arithmetic in minor units.
// Cost: linear in lines x applicable effects (with log factors), whatever
// the units: bundle sets and nth units are counted, never enumerated.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "care/promotion/v1/promotion.pb.h"
#include "services/promotion/model.h"

namespace care::promotion {

struct PricingInput {
  absl::Time now;
  std::string currency_code;
  Shopper shopper;
  std::vector<Line> lines;
  int64_t shipping = 0;
  // Fill every Adjustment (QUOTE_VIEW_FULL). Amounts and outcomes are the
  // same without; a big cart's adjustments cost more to build than to price.
  bool adjustments = false;
  // Campaigns that may touch the cart (from the index); any order.
  std::vector<const care::promotion::v1::Campaign*> candidates;
  // Voucher-based campaigns unlocked by a usable code of the request: id -> code.
  std::map<std::string, std::string> unlocked;
  // Usable goodwill vouchers of the request, in request order (phase P8).
  struct Goodwill {
    std::string code;
    care::promotion::v1::DiscountValue value;
  };
  std::vector<Goodwill> goodwill;
  // What the limits of a candidate leave as of now, for candidates that have
  // limits (absent = none). Quote reads them; RedeemQuote checks exactly.
  struct Left {
    std::optional<int64_t> redemptions, budget, customer;
    std::optional<int64_t> points;       // limits.points_budget left
    bool customer_unidentified = false;  // per-customer limit, guest without a key
  };
  std::map<std::string, Left> left;
  // Asked before each campaign and each effect: a non-OK status (the call's
  // deadline passed: DEADLINE_EXCEEDED; it was cancelled: CANCELLED) stops
  // pricing, and Price returns it. Unset: never stops.
  std::function<absl::Status()> interrupted;
};

// OK when every line's unit_price x quantity, their sum and that sum plus
// `shipping` stay within kMaxMoneyMinor (common/bounds.h), quantities within
// 1..kMaxLineQuantity and amounts >= 0; otherwise INVALID_ARGUMENT naming
// "lines[i]", "lines" or "shipping". Appends each line's subtotal to
// `subtotals` if given.
absl::Status CheckCartBounds(const std::vector<Line>& lines, int64_t shipping,
                             std::vector<int64_t>* subtotals = nullptr);

// Fills lines, shipping, totals, applied/rejected campaigns, earns_points,
// free_returns and tier_discount_suppressed of `out`. INVALID_ARGUMENT when
// the cart is out of bounds (CheckCartBounds), or `in.interrupted`'s status;
// then `out` is partly filled and must be dropped.
absl::Status Price(const PricingInput& in, care::promotion::v1::QuoteResponse* out);

// The points one BonusPoints effect gives for `matching_units` units of its
// selected lines (max_units counted at most): points_per_order +
// points_per_unit x units, saturated at kMaxPointsPerEntry (common/bounds.h)
// and never negative; exact integer arithmetic, no overflow for any input.
int64_t BonusPointsOf(const care::promotion::v1::BonusPoints& effect, int64_t matching_units);

// The most bonus points one campaign may give one order: its points budget
// left (nullopt = unlimited; never below 0), and never past
// kMaxPointsPerEntry, the most one loyalty ledger entry holds.
int64_t BonusPointsCap(std::optional<int64_t> budget_left);

// What an applied campaign says of itself: id, version, display name,
// stacking and priority.
void Describe(const care::promotion::v1::Campaign& campaign, care::promotion::v1::AppliedCampaign* applied);

// Whether `now` falls inside the campaign's recurring windows, read in the
// campaign's time_zone (no windows = always; an unknown zone = never).
bool InsideWindows(const care::promotion::v1::Campaign& campaign, absl::Time now);

// `minor` units of `currency`.
void SetMoney(care::common::v1::Money* m, int64_t minor, const std::string& currency);

// floor(amount * bps / 10000), at most `amount`; no overflow for any input.
int64_t PercentOf(int64_t amount, int32_t bps);

// Splits `total` over `weights` in proportion, by largest remainder, ties to
// the earlier index; the parts add up exactly to min(total, sum(weights)).
std::vector<int64_t> SplitLargestRemainder(int64_t total, const std::vector<int64_t>& weights);

}  // namespace care::promotion
