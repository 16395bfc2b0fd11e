// The pricing engine (services/promotion/pricing.h) on carts and campaigns
// that pass the adapter's checks and the documented money bounds (those are
// requests_fuzzer's subject). Input: a PricingCase (fuzz/pricing_case.proto).
// Checks the contract's invariants on every quote:
//  - each line: subtotal = unit_price * quantity, 0 <= discount <= subtotal,
//    total = subtotal - discount (never negative);
//  - shipping: 0 <= discount <= amount, total = amount - discount;
//  - totals: sums of the lines, total = items_total + shipping_total,
//    total_discount = items_discount + shipping_discount <= subtotal +
//    shipping, every amount within the money bound;
//  - campaigns: each discount >= 0, together with the tier discount at most
//    the total discount, within the per-order cap and the budget left; none
//    applied past its redemption or customer limit.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "care/fuzz/pricing_case.pb.h"
#include "common/bounds.h"
#include "fuzz/fuzz_support.h"
#include "fuzz/money_bounds.h"
#include "services/promotion/campaign_validation.h"
#include "services/promotion/pricing.h"
#include "services/promotion/request_checks.h"

namespace {

namespace v1 = ::care::promotion::v1;
using care::kMaxMoneyMinor;

int64_t Clamp(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

bool Within(int64_t v) { return v >= -kMaxMoneyMinor && v <= kMaxMoneyMinor; }

std::string Money(const care::common::v1::Money& m) { return std::to_string(m.amount_minor()); }

void CheckQuote(const care::promotion::PricingInput& in, const v1::QuoteResponse& out,
                const std::map<std::string, const v1::Campaign*>& by_id) {
  CARE_FUZZ_CHECK(out.lines_size() == static_cast<int>(in.lines.size()), "one result per line");
  int64_t subtotal = 0, items_total = 0;
  for (int i = 0; i < out.lines_size(); ++i) {
    const v1::LineResult& l = out.lines(i);
    const std::string at = "line " + std::to_string(i) + ": ";
    const int64_t sub = in.lines[i].unit_price * in.lines[i].quantity;
    CARE_FUZZ_CHECK(l.subtotal().amount_minor() == sub, at + "subtotal " + Money(l.subtotal()));
    CARE_FUZZ_CHECK(l.discount().amount_minor() >= 0, at + "negative discount " + Money(l.discount()));
    CARE_FUZZ_CHECK(l.discount().amount_minor() <= sub, at + "discount " + Money(l.discount()) + " > subtotal");
    CARE_FUZZ_CHECK(l.total().amount_minor() == sub - l.discount().amount_minor(), at + "total");
    CARE_FUZZ_CHECK(l.total().amount_minor() >= 0, at + "negative total " + Money(l.total()));
    subtotal += sub;
    items_total += l.total().amount_minor();
  }
  const v1::ShippingResult& ship = out.shipping();
  CARE_FUZZ_CHECK(ship.amount().amount_minor() == in.shipping, "shipping as sent");
  CARE_FUZZ_CHECK(ship.discount().amount_minor() >= 0, "negative shipping discount " + Money(ship.discount()));
  CARE_FUZZ_CHECK(ship.discount().amount_minor() <= in.shipping, "shipping discount > shipping");
  CARE_FUZZ_CHECK(ship.total().amount_minor() == in.shipping - ship.discount().amount_minor(), "shipping total");

  const v1::Totals& t = out.totals();
  for (const auto* m : {&t.subtotal(), &t.items_discount(), &t.items_total(), &t.shipping(), &t.shipping_discount(),
                        &t.shipping_total(), &t.total_discount(), &t.total(), &t.tier_discount()}) {
    CARE_FUZZ_CHECK(Within(m->amount_minor()), "a total beyond the money bound: " + Money(*m));
  }
  CARE_FUZZ_CHECK(t.subtotal().amount_minor() == subtotal, "subtotal = sum of line subtotals");
  CARE_FUZZ_CHECK(t.items_total().amount_minor() == items_total, "items_total = sum of line totals");
  CARE_FUZZ_CHECK(t.items_discount().amount_minor() == subtotal - items_total, "items_discount");
  CARE_FUZZ_CHECK(t.shipping().amount_minor() == in.shipping, "totals.shipping");
  CARE_FUZZ_CHECK(t.shipping_discount().amount_minor() == ship.discount().amount_minor(), "totals.shipping_discount");
  CARE_FUZZ_CHECK(t.shipping_total().amount_minor() == ship.total().amount_minor(), "totals.shipping_total");
  CARE_FUZZ_CHECK(t.total().amount_minor() == items_total + ship.total().amount_minor(), "total");
  CARE_FUZZ_CHECK(t.total_discount().amount_minor() ==
                      t.items_discount().amount_minor() + t.shipping_discount().amount_minor(),
                  "total_discount");
  CARE_FUZZ_CHECK(t.total().amount_minor() >= 0, "negative total " + Money(t.total()));
  CARE_FUZZ_CHECK(t.tier_discount().amount_minor() >= 0 &&
                      t.tier_discount().amount_minor() <= t.items_discount().amount_minor(),
                  "tier discount " + Money(t.tier_discount()) + " outside [0, items_discount]");

  int64_t campaigns = 0;
  std::set<std::string> seen;
  for (const v1::AppliedCampaign& ac : out.applied_campaigns()) {
    const std::string at = "campaign " + ac.campaign_id() + ": ";
    CARE_FUZZ_CHECK(seen.insert(ac.campaign_id()).second, at + "applied twice");
    const int64_t d = ac.discount().amount_minor();
    CARE_FUZZ_CHECK(d >= 0 && d <= t.total_discount().amount_minor(), at + "discount " + std::to_string(d));
    campaigns += d;
    auto c = by_id.find(ac.campaign_id());
    if (c == by_id.end()) continue;  // a goodwill voucher
    const int64_t cap = c->second->limits().max_discount_per_order().amount_minor();
    CARE_FUZZ_CHECK(cap <= 0 || d <= cap, at + "discount " + std::to_string(d) + " over the per-order cap");
    if (auto l = in.left.find(ac.campaign_id()); l != in.left.end()) {
      const auto& left = l->second;
      CARE_FUZZ_CHECK(!left.budget || d <= *left.budget, at + "discount over the budget left");
      CARE_FUZZ_CHECK(!left.redemptions || *left.redemptions > 0, at + "applied past its redemption limit");
      CARE_FUZZ_CHECK(!left.customer || *left.customer > 0, at + "applied past its per-customer limit");
      CARE_FUZZ_CHECK(!left.customer_unidentified, at + "per-customer limit applied to an unknown guest");
    }
  }
  CARE_FUZZ_CHECK(campaigns + t.tier_discount().amount_minor() <= t.total_discount().amount_minor(),
                  "campaign and tier discounts " + std::to_string(campaigns) + " + " + Money(t.tier_discount()) +
                      " exceed the total discount " + Money(t.total_discount()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  care::fuzz::PricingCase pc;
  if (!pc.ParseFromArray(data, static_cast<int>(size))) return 0;
  const v1::QuoteRequest& req = pc.request();
  if (!care::promotion::CheckQuoteRequest(&req).ok()) return 0;
  // The documented bounds; that the adapter enforces them is requests_fuzzer's.
  __int128 sum = req.shipping().amount_minor();
  for (const auto& l : req.lines()) sum += static_cast<__int128>(l.unit_price().amount_minor()) * l.quantity();
  if (sum > kMaxMoneyMinor) return 0;

  care::promotion::PricingInput in;
  in.now = absl::FromUnixSeconds(946684800 + Clamp(pc.now_seconds(), 0, int64_t{100} * 365 * 86400));
  in.currency_code = req.currency_code();
  in.shipping = req.shipping().amount_minor();
  in.adjustments = req.view() == v1::QUOTE_VIEW_FULL;
  const bool guest = req.customer().has_guest() || req.customer().member_id().empty();
  in.shopper.guest = guest;
  if (!guest) {
    if (pc.tier_discount_bps() < 0 || pc.tier_discount_bps() > 10000) return 0;  // loyalty's bound
    in.shopper.member_id = req.customer().member_id();
    in.shopper.tier_id = pc.tier_id();
    in.shopper.tier_version = 1;
    in.shopper.tier_discount_bps = pc.tier_discount_bps();
    in.shopper.tier_free_shipping = pc.tier_free_shipping();
    in.shopper.tier_free_returns = pc.tier_free_returns();
    in.shopper.opted_in = pc.opted_in();
    in.shopper.segment = pc.segment();
  }
  for (const v1::CartLine& l : req.lines()) {
    in.lines.push_back({l.line_id(), l.sku(), l.category(), l.quantity(), l.unit_price().amount_minor()});
  }

  // Campaigns as CreateCampaign accepts them (ValidateCampaign), within the money bounds, one
  // per id (the index holds one version of each).
  if (pc.campaigns_size() > 32) return 0;
  std::map<std::string, const v1::Campaign*> by_id;
  for (int i = 0; i < pc.campaigns_size(); ++i) {
    const v1::Campaign& c = pc.campaigns(i);
    if (!care::promotion::ValidateCampaign(c).ok()) continue;
    if (!care::fuzz::MoneyOutOfBounds(c, c.currency_code()).empty()) continue;  // requests_fuzzer's subject
    if (!by_id.emplace(c.campaign_id(), &c).second) continue;
    in.candidates.push_back(&c);
    // What ReadLimits would find: a limit less what was used, never past it.
    const v1::Limits& l = c.limits();
    const auto used = i < pc.used_size() ? pc.used(i) : care::fuzz::PricingCase::Used();
    if (l.max_redemptions() > 0 || l.max_discount_total().amount_minor() > 0 || l.max_redemptions_per_customer() > 0) {
      auto& left = in.left[c.campaign_id()];
      if (l.max_redemptions() > 0) {
        left.redemptions = l.max_redemptions() - Clamp(used.redemptions(), 0, l.max_redemptions());
      }
      const int64_t budget = l.max_discount_total().amount_minor();
      if (budget > 0) left.budget = budget - Clamp(used.discount(), 0, budget);
      if (l.max_redemptions_per_customer() > 0) {
        if (guest && req.customer().guest().guest_key().empty()) {
          left.customer_unidentified = true;
        } else {
          left.customer = l.max_redemptions_per_customer() -
                          Clamp(used.customer(), 0, l.max_redemptions_per_customer());
        }
      }
    }
  }
  for (const std::string& id : pc.unlocked()) {
    if (by_id.count(id)) in.unlocked[id] = "CODE-" + id;
  }
  // Goodwill vouchers as IssueVoucher makes them: an amount or a percentage.
  for (int i = 0; i < pc.goodwill_size() && i < 20; ++i) {
    const v1::DiscountValue& v = pc.goodwill(i);
    const bool amount_ok = v.has_amount_off() && v.amount_off().amount_minor() > 0 &&
                           v.amount_off().amount_minor() <= kMaxMoneyMinor &&
                           v.amount_off().currency_code() == in.currency_code;
    const bool percent_ok = v.has_percent_off_bps() && v.percent_off_bps() >= 1 && v.percent_off_bps() <= 10000;
    if (amount_ok || percent_ok) in.goodwill.push_back({"GOODWILL-" + std::to_string(i), v});
  }

  v1::QuoteResponse out;
  const absl::Status priced = care::promotion::Price(in, &out);
  CARE_FUZZ_CHECK(priced.ok(), "a cart within the bounds is not priced: " + priced.ToString());
  CheckQuote(in, out, by_id);
  return 0;
}
