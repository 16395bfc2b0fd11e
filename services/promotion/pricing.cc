#include "services/promotion/pricing.h"

#include <algorithm>
#include <limits>
#include <map>
#include <numeric>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "common/bounds.h"
#include "common/errors.h"
#include "common/proto_time.h"
#include "services/promotion/eligibility.h"

namespace care::promotion {
namespace {

namespace v1 = ::care::promotion::v1;

// The value for this shopper: the tier's own value, else the default.
const v1::DiscountValue* Resolve(const v1::TieredValue& tv, const Shopper& shopper) {
  if (!shopper.guest) {
    auto it = tv.tier_values().find(shopper.tier_id);
    if (it != tv.tier_values().end()) return &it->second;
  }
  return tv.has_value() ? &tv.value() : nullptr;
}

// A discount of `per_unit` on each of `units` units, saturated at the money
// bound: every discount is then cut to the running amount it applies to,
// which the cart's bound (CheckCartBounds) keeps below it.
int64_t Times(int64_t per_unit, int64_t units) {
  if (per_unit <= 0 || units <= 0) return 0;
  return CheckedMul(per_unit, units).value_or(kMaxMoneyMinor);
}

// One line's running state.
struct Running {
  int64_t amount = 0;  // line total after the adjustments so far
  bool free_returns = false;
  // Units sold in bundle sets (P2) and their share of `amount`: later
  // item-level effects see only the other units.
  int32_t bundled = 0;
  int64_t bundled_amount = 0;
};

// What one campaign has done to the cart so far.
struct Outcome {
  int64_t given = 0;   // discount so far (lines and shipping)
  int64_t points = 0;  // bonus points so far (BonusPoints effects)
  bool capped = false;
  bool free_shipping = false;
  bool free_returns = false;
};

// A rule whose conditions held, of a campaign that stacks.
struct Fired {
  const v1::Campaign* campaign;
  const v1::Rule* rule;
  Outcome* outcome;
};

using LineIndex = absl::InlinedVector<size_t, 4>;

struct Ctx {
  const PricingInput& in;
  v1::QuoteResponse* out;
  std::vector<Running> lines;
  int64_t shipping = 0;
  // The cart's lines by sku and by category, so a selector is tried only on
  // the lines it names instead of on every line.
  absl::flat_hash_map<absl::string_view, LineIndex> by_sku, by_category;
  // Why pricing stopped early (the caller's deadline passed or it cancelled).
  absl::Status stop;

  // Asks the caller whether to go on; the first refusal sticks, so every
  // step after it returns at once.
  bool Interrupted() {
    if (stop.ok() && in.interrupted) stop = in.interrupted();
    return !stop.ok();
  }
};

// Calls `fn(i)` for each line matching `s`, in line order.
template <typename Fn>
void ForMatching(const Ctx& c, const v1::ItemSelector& s, Fn fn) {
  if (s.skus().empty() && s.categories().empty()) {
    for (size_t i = 0; i < c.in.lines.size(); ++i) {
      if (Matches(s, c.in.lines[i])) fn(i);
    }
    return;
  }
  if (s.skus_size() == 1 && s.categories().empty()) {  // the usual "this product"
    if (auto it = c.by_sku.find(s.skus(0)); it != c.by_sku.end()) {
      for (size_t i : it->second) {
        if (Matches(s, c.in.lines[i])) fn(i);
      }
    }
    return;
  }
  absl::InlinedVector<size_t, 16> idx;
  for (const std::string& sku : s.skus()) {
    if (auto it = c.by_sku.find(sku); it != c.by_sku.end()) idx.insert(idx.end(), it->second.begin(), it->second.end());
  }
  for (const std::string& cat : s.categories()) {
    if (auto it = c.by_category.find(cat); it != c.by_category.end()) {
      idx.insert(idx.end(), it->second.begin(), it->second.end());
    }
  }
  std::sort(idx.begin(), idx.end());
  idx.erase(std::unique(idx.begin(), idx.end()), idx.end());
  for (size_t i : idx) {
    if (Matches(s, c.in.lines[i])) fn(i);
  }
}

int64_t Cap(Ctx& c, const v1::Campaign& camp, Outcome& outcome, int64_t want) {
  if (want <= 0) return 0;
  // The tighter of the per-order cap and the campaign's budget left.
  int64_t cap = camp.limits().max_discount_per_order().amount_minor();
  if (auto l = c.in.left.find(camp.campaign_id()); l != c.in.left.end() && l->second.budget) {
    cap = cap > 0 ? std::min(cap, *l->second.budget) : *l->second.budget;
  }
  if (cap <= 0) return want;
  int64_t left = std::max<int64_t>(0, cap - outcome.given);
  if (want > left) {
    outcome.capped = true;
    return left;
  }
  return want;
}

// `f` is the rule that gives the discount (null: the tier's own).
void AddAdjustment(Ctx& c, size_t line, const Fired* f, v1::EffectKind kind, int64_t amount, int32_t units) {
  if (f != nullptr) amount = Cap(c, *f->campaign, *f->outcome, amount);
  amount = std::min(amount, c.lines[line].amount);  // never below zero
  if (amount <= 0) return;
  c.lines[line].amount -= amount;
  if (f) f->outcome->given += amount;
  if (!c.in.adjustments) return;
  auto* adj = c.out->mutable_lines(static_cast<int>(line))->add_adjustments();
  adj->set_source(f ? v1::ADJUSTMENT_SOURCE_CAMPAIGN : v1::ADJUSTMENT_SOURCE_TIER_BENEFIT);
  if (f) {
    adj->set_campaign_id(f->campaign->campaign_id());
    adj->set_campaign_version(f->campaign->version());
    adj->set_rule_id(f->rule->rule_id());
  }
  adj->set_effect(kind);
  adj->mutable_amount()->set_amount_minor(amount);
  adj->mutable_amount()->set_currency_code(c.in.currency_code);
  adj->set_units(units);
}

// Per-unit discount for `value` on a unit currently worth `unit`; `phase`
// selects which kinds apply now (1 = fixed price, 3 = amount, 4 = percent).
int64_t UnitDiscount(const v1::DiscountValue& value, int64_t unit, int phase) {
  switch (value.kind_case()) {
    case v1::DiscountValue::kFixedPrice:
      return phase == 1 ? std::max<int64_t>(0, unit - value.fixed_price().amount_minor()) : 0;
    case v1::DiscountValue::kAmountOff:
      return phase == 3 ? std::min(unit, value.amount_off().amount_minor()) : 0;
    case v1::DiscountValue::kPercentOffBps:
      return phase == 4 ? PercentOf(unit, value.percent_off_bps()) : 0;
    default:
      return 0;
  }
}

// The phase a value acts in (1 fixed price, 3 amount off, 4 percentage):
// item effects are matched against the cart only in their own phase.
int PhaseOf(const v1::DiscountValue& value) {
  switch (value.kind_case()) {
    case v1::DiscountValue::kFixedPrice:
      return 1;
    case v1::DiscountValue::kAmountOff:
      return 3;
    case v1::DiscountValue::kPercentOffBps:
      return 4;
    default:
      return 0;
  }
}

// Item-level effects of one phase (1, 3 or 4).
void ItemPhase(Ctx& c, const std::vector<Fired>& fired, int phase) {
  const Shopper& who = c.in.shopper;
  for (const Fired& f : fired) {
    for (const v1::Effect& e : f.rule->effects()) {
      if (c.Interrupted()) return;
      if (e.has_member_price() && phase == 1 && !who.guest) {
        // The first price listed for an sku: one adjustment per line and effect.
        absl::flat_hash_set<absl::string_view> seen;
        for (const v1::SkuPrice& p : e.member_price().prices()) {
          if (!seen.insert(p.sku()).second) continue;
          const v1::DiscountValue* v = Resolve(p.unit_price(), who);
          auto it = c.by_sku.find(p.sku());
          if (v == nullptr || it == c.by_sku.end()) continue;
          for (size_t i : it->second) {
            const Line& l = c.in.lines[i];
            AddAdjustment(c, i, &f, v1::EFFECT_KIND_MEMBER_PRICE, Times(UnitDiscount(*v, l.unit_price, 1), l.quantity),
                          l.quantity);
          }
        }
      }
      if (e.has_item_discount()) {
        const v1::DiscountValue* v = Resolve(e.item_discount().value(), who);
        if (v == nullptr || PhaseOf(*v) != phase) continue;
        ForMatching(c, e.item_discount().items(), [&](size_t i) {
          const int32_t free = c.in.lines[i].quantity - c.lines[i].bundled;
          if (free <= 0) return;
          int32_t units = free;
          if (e.item_discount().max_units() > 0) units = std::min(units, e.item_discount().max_units());
          int64_t unit = (c.lines[i].amount - c.lines[i].bundled_amount) / free;
          AddAdjustment(c, i, &f, v1::EFFECT_KIND_ITEM_DISCOUNT, Times(UnitDiscount(*v, unit, phase), units), units);
        });
      }
      if (e.has_nth_item_discount()) {
        const auto& nth = e.nth_item_discount();
        const v1::DiscountValue* v = Resolve(nth.value(), who);
        if (v == nullptr || nth.nth() < 2 || PhaseOf(*v) != phase) continue;
        // Per sku (or one group across the selector): every nth unit, the
        // cheaper units of each set first, i.e. the lowest-priced units.
        std::map<std::string, std::vector<size_t>> groups;
        ForMatching(c, nth.items(), [&](size_t i) {
          groups[nth.grouping() == v1::NTH_ITEM_GROUPING_ACROSS_SELECTOR ? "" : c.in.lines[i].sku].push_back(i);
        });
        for (auto& [key, idx] : groups) {
          int64_t total_units = 0;
          for (size_t i : idx) total_units += c.in.lines[i].quantity - c.lines[i].bundled;
          int64_t discounted = total_units / nth.nth();
          if (nth.max_applications() > 0) discounted = std::min<int64_t>(discounted, nth.max_applications());
          std::sort(idx.begin(), idx.end(),
                    [&](size_t a, size_t b) { return c.in.lines[a].unit_price < c.in.lines[b].unit_price; });
          for (size_t i : idx) {
            if (discounted <= 0) break;
            const int32_t free = c.in.lines[i].quantity - c.lines[i].bundled;
            if (free <= 0) continue;
            int32_t units = static_cast<int32_t>(std::min<int64_t>(discounted, free));
            discounted -= units;
            int64_t unit = (c.lines[i].amount - c.lines[i].bundled_amount) / free;
            AddAdjustment(c, i, &f, v1::EFFECT_KIND_NTH_ITEM_DISCOUNT, Times(UnitDiscount(*v, unit, phase), units),
                          units);
          }
        }
      }
    }
  }
}

// The units one bundle component takes for all the sets, cheapest first, as
// runs of units of one line each.
struct Taken {
  struct Run {
    size_t line;
    int64_t units;
    int64_t unit_value;
  };
  std::vector<Run> runs;
  std::vector<int64_t> units_after, value_after;  // cumulative, after each run

  void Add(size_t line, int64_t units, int64_t unit_value) {
    runs.push_back({line, units, unit_value});
    units_after.push_back((units_after.empty() ? 0 : units_after.back()) + units);
    // Within the cart's bound: the runs are units of the cart at their value.
    value_after.push_back((value_after.empty() ? 0 : value_after.back()) + units * unit_value);
  }
  // Value of the `n` cheapest units (O(log runs)).
  int64_t ValueOfFirst(int64_t n) const {
    const size_t r = std::upper_bound(units_after.begin(), units_after.end(), n) - units_after.begin();
    const int64_t units_before = r == 0 ? 0 : units_after[r - 1];
    const int64_t value_before = r == 0 ? 0 : value_after[r - 1];
    return r == runs.size() ? value_before : value_before + (n - units_before) * runs[r].unit_value;
  }
};

// The free units of a bundle's components: each line's free units and
// running unit value, the lines each component can take (cheapest first,
// then line order), its units per set, and an upper bound on the sets.
struct BundleSupply {
  std::vector<int64_t> free, unit;
  std::vector<std::vector<size_t>> matching;
  std::vector<int64_t> per_set;
  int64_t most = 0;

  BundleSupply(const Ctx& c, const v1::BundlePrice& bp) : free(c.lines.size()), unit(c.lines.size()) {
    for (size_t i = 0; i < c.lines.size(); ++i) {
      free[i] = c.in.lines[i].quantity - c.lines[i].bundled;
      unit[i] = free[i] > 0 ? (c.lines[i].amount - c.lines[i].bundled_amount) / free[i] : 0;
    }
    const int k = bp.components_size();
    matching.resize(k);
    per_set.resize(k);
    most = bp.max_sets() > 0 ? bp.max_sets() : std::numeric_limits<int64_t>::max();
    for (int j = 0; j < k; ++j) {
      per_set[j] = std::max(1, bp.components(j).quantity());
      int64_t units = 0;
      ForMatching(c, bp.components(j).items(), [&](size_t i) {
        if (free[i] <= 0) return;
        matching[j].push_back(i);
        units += free[i];
      });
      std::stable_sort(matching[j].begin(), matching[j].end(), [&](size_t a, size_t b) { return unit[a] < unit[b]; });
      most = std::min(most, units / per_set[j]);
    }
  }

  // Whether `sets` sets can be made, each component in turn taking its
  // cheapest units left by the components before it; fills `taken` (one
  // per component) if given.
  bool Take(int64_t sets, std::vector<Taken>* taken) const {
    std::vector<int64_t> left = free;
    for (size_t j = 0; j < matching.size(); ++j) {
      int64_t want = sets * per_set[j];  // <= the component's free units (most)
      for (size_t i : matching[j]) {
        if (want == 0) break;
        const int64_t t = std::min(want, left[i]);
        if (t == 0) continue;
        left[i] -= t;
        want -= t;
        if (taken) (*taken)[j].Add(i, t, unit[i]);
      }
      if (want > 0) return false;
    }
    return true;
  }

  // The most sets that can be made (Take is monotone in the sets: bisection).
  int64_t Sets() const {
    int64_t lo = 0, hi = most;
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo + 1) / 2;
      if (Take(mid, nullptr)) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    return lo;
  }
};

// The first of `sets` sets worth more than `price` (set values only grow).
int64_t FirstDearerSet(const std::vector<Taken>& taken, const std::vector<int64_t>& per_set, int64_t sets,
                       int64_t price) {
  auto set_value = [&](int64_t s) {
    int64_t v = 0;
    for (size_t j = 0; j < taken.size(); ++j) {
      v += taken[j].ValueOfFirst((s + 1) * per_set[j]) - taken[j].ValueOfFirst(s * per_set[j]);
    }
    return v;
  };
  int64_t first = 0, last = sets;
  while (first < last) {
    const int64_t mid = first + (last - first) / 2;
    if (set_value(mid) > price) {
      last = mid;
    } else {
      first = mid + 1;
    }
  }
  return first;
}

// One BundlePrice effect, counted arithmetically (no loop over sets or
// units, so the cost is lines x components x log(units)). The number of sets
// is the largest S (at most max_sets) for which each component in turn can
// take its S x quantity cheapest free units left by the components before
// it; that is monotone in S, so it is found by bisection. Set j is made of
// each component's units j*quantity .. (j+1)*quantity-1 in that cheapest-first
// order, so set values only grow with j and the sets worth no more than
// `price` (which get nothing) are the first ones. The discount of the others,
// sum(value - price), is split over their units' lines by value (largest
// remainder): one adjustment per line.
void Bundle(Ctx& c, const Fired& f, const v1::BundlePrice& bp, int64_t price) {
  const BundleSupply supply(c, bp);
  const int64_t sets = supply.Sets();
  if (sets == 0) return;
  std::vector<Taken> taken(supply.matching.size());
  supply.Take(sets, &taken);
  const int64_t first = FirstDearerSet(taken, supply.per_set, sets, price);
  // Units per line, and the value per line of the units in discounted sets.
  const size_t n = c.lines.size();
  std::vector<int64_t> units(n, 0), weight(n, 0);
  int64_t discounted_value = 0;
  for (size_t j = 0; j < taken.size(); ++j) {
    const int64_t from = first * supply.per_set[j], to = sets * supply.per_set[j];
    int64_t pos = 0;
    for (const Taken::Run& r : taken[j].runs) {
      units[r.line] += r.units;
      const int64_t overlap = std::max<int64_t>(0, std::min(to, pos + r.units) - std::max(from, pos));
      weight[r.line] += overlap * r.unit_value;
      discounted_value += overlap * r.unit_value;
      pos += r.units;
    }
  }
  // Each discounted set is worth more than `price`, so (sets - first) x price
  // < discounted_value <= the cart's bound: no overflow.
  const int64_t discount = discounted_value - (sets - first) * price;
  std::vector<size_t> idx;
  std::vector<int64_t> weights;
  for (size_t i = 0; i < n; ++i) {
    if (units[i] == 0) continue;
    idx.push_back(i);
    weights.push_back(weight[i]);
  }
  const std::vector<int64_t> parts = SplitLargestRemainder(discount, weights);
  for (size_t x = 0; x < idx.size(); ++x) {
    const size_t i = idx[x];
    const int64_t before = c.lines[i].amount;
    AddAdjustment(c, i, &f, v1::EFFECT_KIND_BUNDLE_PRICE, parts[x], static_cast<int32_t>(units[i]));
    c.lines[i].bundled += static_cast<int32_t>(units[i]);
    c.lines[i].bundled_amount += units[i] * supply.unit[i] - (before - c.lines[i].amount);
  }
}

// Bundle prices (phase 2): whole sets of the components, each priced at the
// bundle's fixed price; the units of a set take the discount in proportion
// to their value and are left out of later item-level effects.
void BundlePhase(Ctx& c, const std::vector<Fired>& fired) {
  for (const Fired& f : fired) {
    for (const v1::Effect& e : f.rule->effects()) {
      if (!e.has_bundle_price()) continue;
      if (c.Interrupted()) return;
      const v1::BundlePrice& bp = e.bundle_price();
      const v1::DiscountValue* v = Resolve(bp.price(), c.in.shopper);
      if (v == nullptr || !v->has_fixed_price() || bp.components().empty()) continue;
      Bundle(c, f, bp, std::max<int64_t>(0, v->fixed_price().amount_minor()));
    }
  }
}

// Cart-level amounts (phase 6) or percentages (phase 7).
void CartPhase(Ctx& c, const std::vector<Fired>& fired, int phase) {
  for (const Fired& f : fired) {
    for (const v1::Effect& e : f.rule->effects()) {
      if (!e.has_cart_discount()) continue;
      if (c.Interrupted()) return;
      const auto& cd = e.cart_discount();
      const v1::DiscountValue* v = Resolve(cd.value(), c.in.shopper);
      if (v == nullptr) continue;
      const bool amount = phase == 6 && v->has_amount_off();
      if (!amount && !(phase == 7 && v->kind_case() == v1::DiscountValue::kPercentOffBps)) continue;
      std::vector<size_t> idx;
      std::vector<int64_t> weights;
      idx.reserve(c.lines.size());
      weights.reserve(c.lines.size());
      for (size_t i = 0; i < c.in.lines.size(); ++i) {
        if (!cd.has_items() || Matches(cd.items(), c.in.lines[i])) {
          idx.push_back(i);
          weights.push_back(c.lines[i].amount);
        }
      }
      std::vector<int64_t> parts;
      if (amount) {
        parts = SplitLargestRemainder(v->amount_off().amount_minor(), weights);
      } else {
        parts.resize(idx.size());
        for (size_t k = 0; k < idx.size(); ++k) parts[k] = PercentOf(weights[k], v->percent_off_bps());
      }
      int64_t effect_cap = cd.max_discount().amount_minor();
      int64_t sum = std::accumulate(parts.begin(), parts.end(), int64_t{0});
      if (effect_cap > 0 && sum > effect_cap) {
        parts = SplitLargestRemainder(effect_cap, parts);
        f.outcome->capped = true;
      }
      for (size_t k = 0; k < idx.size(); ++k) {
        AddAdjustment(c, idx[k], &f, v1::EFFECT_KIND_CART_DISCOUNT, parts[k], c.in.lines[idx[k]].quantity);
      }
    }
  }
}

// Goodwill vouchers (phase 8): outside stacking, amounts first, then
// percentages, spread over the lines' running totals.
void GoodwillPhase(Ctx& c) {
  for (bool amounts : {true, false}) {
    for (const PricingInput::Goodwill& g : c.in.goodwill) {
      if (g.value.has_amount_off() != amounts) continue;
      if (c.Interrupted()) return;
      std::vector<int64_t> weights;
      for (const Running& l : c.lines) weights.push_back(l.amount);
      std::vector<int64_t> parts(weights.size(), 0);
      if (amounts) {
        parts = SplitLargestRemainder(g.value.amount_off().amount_minor(), weights);
      } else if (g.value.kind_case() == v1::DiscountValue::kPercentOffBps) {
        for (size_t i = 0; i < weights.size(); ++i) parts[i] = PercentOf(weights[i], g.value.percent_off_bps());
      }
      for (size_t i = 0; i < parts.size(); ++i) {
        int64_t amount = std::min(parts[i], c.lines[i].amount);
        if (amount <= 0) continue;
        c.lines[i].amount -= amount;
        if (!c.in.adjustments) continue;
        auto* adj = c.out->mutable_lines(static_cast<int>(i))->add_adjustments();
        adj->set_source(v1::ADJUSTMENT_SOURCE_GOODWILL_VOUCHER);
        adj->set_voucher_code(g.code);
        adj->set_effect(v1::EFFECT_KIND_GOODWILL);
        adj->mutable_amount()->set_amount_minor(amount);
        adj->mutable_amount()->set_currency_code(c.in.currency_code);
        adj->set_units(c.in.lines[i].quantity);
      }
    }
  }
}

}  // namespace

absl::Status CheckCartBounds(const std::vector<Line>& lines, int64_t shipping, std::vector<int64_t>* subtotals) {
  int64_t sum = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const Line& l = lines[i];
    std::optional<int64_t> sub;
    if (l.quantity >= 1 && l.quantity <= kMaxLineQuantity && l.unit_price >= 0)
      sub = CheckedMul(l.unit_price, l.quantity);
    if (!sub) {
      return InvalidField(absl::StrCat("lines[", i, "]"),
                          absl::StrCat("unit_price x quantity must be within 0..", kMaxMoneyMinor, " minor units"));
    }
    std::optional<int64_t> next = CheckedAdd(sum, *sub);
    if (!next)
      return InvalidField("lines", absl::StrCat("the cart's subtotal is above ", kMaxMoneyMinor, " minor units"));
    sum = *next;
    if (subtotals) subtotals->push_back(*sub);
  }
  if (shipping < 0 || !CheckedAdd(sum, shipping)) {
    return InvalidField("shipping",
                        absl::StrCat("subtotal + shipping must be within 0..", kMaxMoneyMinor, " minor units"));
  }
  return absl::OkStatus();
}

void SetMoney(care::common::v1::Money* m, int64_t minor, const std::string& currency) {
  m->set_amount_minor(minor);
  m->set_currency_code(currency);
}

int64_t PercentOf(int64_t amount, int32_t bps) {
  if (amount <= 0 || bps <= 0) return 0;
  if (bps >= 10000) return amount;
  return static_cast<int64_t>(static_cast<__int128>(amount) * bps / 10000);
}

std::vector<int64_t> SplitLargestRemainder(int64_t total, const std::vector<int64_t>& weights) {
  std::vector<int64_t> parts(weights.size(), 0);
  // In 128 bits: the weights' sum and total x weight cannot overflow there.
  __int128 sum = 0;
  for (int64_t w : weights) sum += std::max<int64_t>(0, w);
  if (sum <= 0 || total <= 0) return parts;
  if (total > sum) total = static_cast<int64_t>(sum);
  std::vector<std::pair<__int128, size_t>> rem;
  rem.reserve(weights.size());
  int64_t assigned = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    __int128 num = static_cast<__int128>(total) * std::max<int64_t>(0, weights[i]);
    parts[i] = static_cast<int64_t>(num / sum);
    assigned += parts[i];
    rem.push_back({num % sum, i});
  }
  std::stable_sort(rem.begin(), rem.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t k = 0; assigned < total; ++k, ++assigned) parts[rem[k].second] += 1;
  return parts;
}

int64_t BonusPointsOf(const v1::BonusPoints& effect, int64_t matching_units) {
  int64_t units = std::max<int64_t>(0, matching_units);
  if (effect.max_units() > 0) units = std::min<int64_t>(units, effect.max_units());
  // Saturated at the entry bound: the campaign's cap cuts it there anyway.
  const int64_t per_units = CheckedMul(std::max<int64_t>(0, effect.points_per_unit()), units, kMaxPointsPerEntry)
                                .value_or(kMaxPointsPerEntry);
  return CheckedAdd(std::max<int64_t>(0, effect.points_per_order()), per_units, kMaxPointsPerEntry)
      .value_or(kMaxPointsPerEntry);
}

int64_t BonusPointsCap(std::optional<int64_t> budget_left) {
  if (!budget_left) return kMaxPointsPerEntry;
  return std::clamp<int64_t>(*budget_left, 0, kMaxPointsPerEntry);
}

void Describe(const v1::Campaign& camp, v1::AppliedCampaign* ac) {
  ac->set_campaign_id(camp.campaign_id());
  ac->set_campaign_version(camp.version());
  ac->set_display_name(camp.display_name());
  ac->set_stacking(camp.rights().stacking() == v1::STACKING_MODE_EXCLUSIVE ? v1::STACKING_MODE_EXCLUSIVE
                                                                           : v1::STACKING_MODE_STACKABLE);
  ac->set_priority(camp.rights().priority());
}

namespace {

// Each line's subtotal on `out` and the running state before any discount;
// the cart's lines indexed by sku and category.
void OpenLines(Ctx& c, const std::vector<int64_t>& subtotals) {
  const PricingInput& in = c.in;
  c.by_sku.reserve(in.lines.size());
  c.by_category.reserve(in.lines.size());
  for (size_t i = 0; i < in.lines.size(); ++i) {
    c.by_sku[in.lines[i].sku].push_back(i);
    if (!in.lines[i].category.empty()) c.by_category[in.lines[i].category].push_back(i);
  }
  c.lines.reserve(in.lines.size());
  c.out->mutable_lines()->Reserve(static_cast<int>(in.lines.size()));
  for (size_t i = 0; i < in.lines.size(); ++i) {
    const Line& l = in.lines[i];
    c.lines.push_back(Running{subtotals[i], false});
    auto* lr = c.out->add_lines();
    lr->set_line_id(l.line_id);
    lr->set_sku(l.sku);
    lr->set_quantity(l.quantity);
    SetMoney(lr->mutable_unit_price(), l.unit_price, in.currency_code);
    SetMoney(lr->mutable_subtotal(), subtotals[i], in.currency_code);
  }
}

void Reject(v1::QuoteResponse* out, const v1::Campaign& camp, v1::RejectionReason reason,
            const std::string& detail = "", const std::string& rule_id = "", const std::string& blocking = "") {
  auto* rc = out->add_rejected_campaigns();
  rc->set_campaign_id(camp.campaign_id());
  rc->set_campaign_version(camp.version());
  rc->set_display_name(camp.display_name());
  rc->set_reason(reason);
  rc->set_detail(detail);
  rc->set_rule_id(rule_id);
  rc->set_blocking_campaign_id(blocking);
}

using Rules = absl::InlinedVector<const v1::Rule*, 4>;

// The rules of an eligible campaign whose conditions hold (RULE_MATCHING_FIRST:
// the first such); none = rejected for the first failure.
Rules MatchingRules(const v1::Campaign& camp, const PricingInput& in, const std::vector<int64_t>& subtotals,
                    v1::QuoteResponse* out) {
  Rules rules;
  v1::RejectionReason first_fail = v1::REJECTION_REASON_UNSPECIFIED;
  std::string first_detail, first_rule;
  for (const v1::Rule& rule : camp.rules()) {
    std::string d;
    v1::RejectionReason f = FailedCondition(rule, in, subtotals, &d);
    if (f == v1::REJECTION_REASON_UNSPECIFIED) {
      rules.push_back(&rule);
      if (camp.rule_matching() == v1::RULE_MATCHING_FIRST) break;
    } else if (first_fail == v1::REJECTION_REASON_UNSPECIFIED) {
      first_fail = f;
      first_detail = d;
      first_rule = rule.rule_id();
    }
  }
  if (rules.empty()) Reject(out, camp, first_fail, first_detail, first_rule);
  return rules;
}

// The campaigns that apply, in stacking order, and their fired rules.
struct Stacking {
  std::vector<const v1::Campaign*> sorted;  // by priority desc, then id
  std::vector<Outcome> outcomes;            // by position in `sorted`; never resized
  std::vector<Fired> fired;
  std::vector<size_t> applied;  // positions in `sorted`
};

// Steps 1-2: eligibility, then stacking in (priority desc, id asc) order;
// an EXCLUSIVE campaign applies only first and then blocks every later one.
// Every campaign that does not apply is rejected on `out` with its reason.
absl::Status Stack(Ctx& c, const std::vector<int64_t>& subtotals, Stacking& s) {
  s.sorted = c.in.candidates;
  std::sort(s.sorted.begin(), s.sorted.end(), [](const v1::Campaign* a, const v1::Campaign* b) {
    if (a->rights().priority() != b->rights().priority()) return a->rights().priority() > b->rights().priority();
    return a->campaign_id() < b->campaign_id();
  });
  s.outcomes.assign(s.sorted.size(), Outcome{});
  s.fired.reserve(s.sorted.size());
  s.applied.reserve(s.sorted.size());
  std::string exclusive;
  for (size_t k = 0; k < s.sorted.size(); ++k) {
    const v1::Campaign& camp = *s.sorted[k];
    if (c.Interrupted()) return c.stop;
    std::string detail;
    if (v1::RejectionReason r = Eligibility(camp, c.in, &detail); r != v1::REJECTION_REASON_UNSPECIFIED) {
      Reject(c.out, camp, r, detail);
      continue;
    }
    const Rules rules = MatchingRules(camp, c.in, subtotals, c.out);
    if (rules.empty()) continue;
    if (!exclusive.empty()) {
      Reject(c.out, camp, v1::REJECTION_REASON_EXCLUDED_BY_EXCLUSIVE, "", "", exclusive);
      continue;
    }
    if (camp.rights().stacking() == v1::STACKING_MODE_EXCLUSIVE) {
      if (!s.applied.empty()) {
        Reject(c.out, camp, v1::REJECTION_REASON_BLOCKED_BY_HIGHER_PRIORITY, "", "",
               s.sorted[s.applied.front()]->campaign_id());
        continue;
      }
      exclusive = camp.campaign_id();
    }
    s.applied.push_back(k);
    for (const v1::Rule* rule : rules) s.fired.push_back(Fired{&camp, rule, &s.outcomes[k]});
  }
  return absl::OkStatus();
}

bool SuppressesTier(const v1::Campaign& camp) {
  return camp.rights().has_tier_discount_applies() && !camp.rights().tier_discount_applies();
}

bool KeepsPoints(const v1::Campaign& camp) { return !camp.rights().has_earns_points() || camp.rights().earns_points(); }

// P5: the member's tier discount on each line's running amount, unless an
// applied campaign suppresses it. Returns the discount given.
int64_t TierPhase(Ctx& c, bool suppressed) {
  const Shopper& who = c.in.shopper;
  int64_t given = 0;
  if (who.guest || suppressed || who.tier_discount_bps <= 0) return given;
  for (size_t i = 0; i < c.lines.size(); ++i) {
    const int64_t d = PercentOf(c.lines[i].amount, who.tier_discount_bps);
    given += std::min(d, c.lines[i].amount);
    AddAdjustment(c, i, nullptr, v1::EFFECT_KIND_TIER_DISCOUNT, d, c.in.lines[i].quantity);
  }
  return given;
}

bool ForShopper(const google::protobuf::RepeatedPtrField<std::string>& tier_ids, const Shopper& who) {
  return tier_ids.empty() || (!who.guest && Contains(tier_ids, who.tier_id));
}

void AddShippingAdjustment(Ctx& c, const Fired* f, int64_t amount) {
  if (!c.in.adjustments) return;
  auto* adj = c.out->mutable_shipping()->add_adjustments();
  adj->set_source(f ? v1::ADJUSTMENT_SOURCE_CAMPAIGN : v1::ADJUSTMENT_SOURCE_TIER_BENEFIT);
  if (f) {
    adj->set_campaign_id(f->campaign->campaign_id());
    adj->set_campaign_version(f->campaign->version());
    adj->set_rule_id(f->rule->rule_id());
  }
  adj->set_effect(v1::EFFECT_KIND_FREE_SHIPPING);
  SetMoney(adj->mutable_amount(), amount, c.in.currency_code);
}

// One FreeShipping effect: the shipping left, within the campaign's caps.
// Returns whether the shipping is now free.
bool FreeShipping(Ctx& c, const Fired& f) {
  if (c.shipping > 0) {
    const int64_t d = Cap(c, *f.campaign, *f.outcome, c.shipping);
    if (d > 0) {
      AddShippingAdjustment(c, &f, d);
      c.shipping -= d;
      f.outcome->given += d;
    }
  }
  f.outcome->free_shipping = true;
  return c.shipping == 0;
}

void FreeReturns(Ctx& c, const Fired& f, const v1::FreeReturns& fr) {
  for (size_t i = 0; i < c.lines.size(); ++i) {
    if (!fr.has_items() || Matches(fr.items(), c.in.lines[i])) {
      c.lines[i].free_returns = true;
      f.outcome->free_returns = true;
    }
  }
}

// P9: free shipping and free returns, the tier's own and the campaigns'.
// Returns whether shipping is free.
bool ShippingPhase(Ctx& c, const std::vector<Fired>& fired) {
  const Shopper& who = c.in.shopper;
  bool free_shipping = !who.guest && who.tier_free_shipping;
  if (!who.guest && who.tier_free_returns) {
    for (auto& l : c.lines) l.free_returns = true;
  }
  for (const Fired& f : fired) {
    for (const v1::Effect& e : f.rule->effects()) {
      if (e.has_free_shipping() && ForShopper(e.free_shipping().tier_ids(), who) && FreeShipping(c, f)) {
        free_shipping = true;
      }
      if (e.has_free_returns() && ForShopper(e.free_returns().tier_ids(), who)) FreeReturns(c, f, e.free_returns());
    }
  }
  if (free_shipping && c.shipping > 0) {  // the tier's own free shipping
    AddShippingAdjustment(c, nullptr, c.shipping);
    c.shipping = 0;
  }
  return free_shipping;
}

// Bonus points (not money, so after every money phase): each BonusPoints
// effect of a member's fired rule, within the campaign's points cap
// (BonusPointsCap). Guests get none: only a member's purchase credits them.
void BonusPhase(Ctx& c, const std::vector<Fired>& fired) {
  if (c.in.shopper.guest) return;
  for (const Fired& f : fired) {
    for (const v1::Effect& e : f.rule->effects()) {
      if (!e.has_bonus_points()) continue;
      const v1::BonusPoints& bp = e.bonus_points();
      int64_t units = 0;
      if (bp.points_per_unit() > 0) {
        const v1::ItemSelector all;
        ForMatching(c, bp.has_items() ? bp.items() : all, [&](size_t i) { units += c.in.lines[i].quantity; });
      }
      int64_t want = BonusPointsOf(bp, units);
      std::optional<int64_t> budget;
      if (auto l = c.in.left.find(f.campaign->campaign_id()); l != c.in.left.end()) budget = l->second.points;
      const int64_t left = std::max<int64_t>(0, BonusPointsCap(budget) - f.outcome->points);
      if (want > left) {
        want = left;
        f.outcome->capped = true;
      }
      f.outcome->points += want;
    }
  }
}

// A campaign whose conditions held but whose effects found nothing to
// discount (no matching line, a member price not lower...) did not apply:
// listed as NO_EFFECT and without a say on points, unless its rights
// already shaped the price by suppressing the tier discount.
void DropNoEffect(Ctx& c, Stacking& s) {
  std::vector<size_t> effective;
  for (size_t k : s.applied) {
    const v1::Campaign& camp = *s.sorted[k];
    const Outcome& o = s.outcomes[k];
    if (o.given == 0 && o.points == 0 && !o.free_shipping && !o.free_returns && !SuppressesTier(camp)) {
      Reject(c.out, camp, v1::REJECTION_REASON_NO_EFFECT);
      continue;
    }
    effective.push_back(k);
  }
  s.applied = std::move(effective);
}

void FillApplied(Ctx& c, const Stacking& s) {
  for (size_t k : s.applied) {
    const v1::Campaign* camp = s.sorted[k];
    const Outcome& o = s.outcomes[k];
    auto* ac = c.out->add_applied_campaigns();
    Describe(*camp, ac);
    for (const Fired& f : s.fired) {
      if (f.campaign == camp) ac->add_rule_ids(f.rule->rule_id());
    }
    SetMoney(ac->mutable_discount(), o.given, c.in.currency_code);
    ac->set_free_shipping(o.free_shipping);
    ac->set_free_returns(o.free_returns);
    ac->set_earns_points(KeepsPoints(*camp));
    ac->set_capped(o.capped);
    ac->set_bonus_points(o.points);
    c.out->set_bonus_points(c.out->bonus_points() + o.points);
    if (auto v = c.in.unlocked.find(camp->campaign_id()); v != c.in.unlocked.end()) ac->set_voucher_code(v->second);
  }
}

// Each line's discount and total, shipping, and the cart's totals.
void FillTotals(Ctx& c, const std::vector<int64_t>& subtotals, bool free_shipping, int64_t tier_discount) {
  const std::string& cur = c.in.currency_code;
  const int64_t shipping = c.in.shipping;
  int64_t subtotal = 0, items_total = 0;
  bool all_free_returns = !c.lines.empty();
  for (size_t i = 0; i < c.lines.size(); ++i) {
    auto* lr = c.out->mutable_lines(static_cast<int>(i));
    subtotal += subtotals[i];
    items_total += c.lines[i].amount;
    SetMoney(lr->mutable_discount(), subtotals[i] - c.lines[i].amount, cur);
    SetMoney(lr->mutable_total(), c.lines[i].amount, cur);
    lr->set_free_returns(c.lines[i].free_returns);
    all_free_returns = all_free_returns && c.lines[i].free_returns;
  }
  auto* ship = c.out->mutable_shipping();
  SetMoney(ship->mutable_amount(), shipping, cur);
  SetMoney(ship->mutable_discount(), shipping - c.shipping, cur);
  SetMoney(ship->mutable_total(), c.shipping, cur);
  ship->set_free_shipping(shipping > 0 ? c.shipping == 0 : free_shipping);
  auto* t = c.out->mutable_totals();
  SetMoney(t->mutable_subtotal(), subtotal, cur);
  SetMoney(t->mutable_items_discount(), subtotal - items_total, cur);
  SetMoney(t->mutable_items_total(), items_total, cur);
  SetMoney(t->mutable_shipping(), shipping, cur);
  SetMoney(t->mutable_shipping_discount(), shipping - c.shipping, cur);
  SetMoney(t->mutable_shipping_total(), c.shipping, cur);
  SetMoney(t->mutable_total_discount(), subtotal - items_total + shipping - c.shipping, cur);
  SetMoney(t->mutable_total(), items_total + c.shipping, cur);
  SetMoney(t->mutable_tier_discount(), tier_discount, cur);
  c.out->set_free_returns(all_free_returns);
}

}  // namespace

absl::Status Price(const PricingInput& in, v1::QuoteResponse* out) {
  // Every amount below is a part of subtotal + shipping, which this bounds,
  // or a discount cut to the running amount it applies to: none can leave
  // the money bound, so sums and differences after this need no check.
  std::vector<int64_t> subtotals;
  subtotals.reserve(in.lines.size());
  if (absl::Status s = CheckCartBounds(in.lines, in.shipping, &subtotals); !s.ok()) return s;
  Ctx c{in, out, {}, in.shipping, {}, {}, absl::OkStatus()};
  if (c.Interrupted()) return c.stop;
  OpenLines(c, subtotals);
  Stacking s;
  if (absl::Status st = Stack(c, subtotals, s); !st.ok()) return st;
  // Effects in phases; each returns early once the caller gave up (c.stop).
  ItemPhase(c, s.fired, 1);  // P1 member price / fixed prices
  BundlePhase(c, s.fired);   // P2 bundle prices
  ItemPhase(c, s.fired, 3);  // P3 item amounts off
  ItemPhase(c, s.fired, 4);  // P4 item percentages
  if (c.Interrupted()) return c.stop;
  bool suppress_tier = false;
  for (size_t k : s.applied) suppress_tier = suppress_tier || SuppressesTier(*s.sorted[k]);
  const int64_t tier_discount = TierPhase(c, suppress_tier);  // P5
  CartPhase(c, s.fired, 6);                                   // P6 cart amounts off
  CartPhase(c, s.fired, 7);                                   // P7 cart percentages
  GoodwillPhase(c);                                           // P8 goodwill vouchers
  if (c.Interrupted()) return c.stop;
  const bool free_shipping = ShippingPhase(c, s.fired);  // P9
  BonusPhase(c, s.fired);
  DropNoEffect(c, s);
  FillApplied(c, s);
  FillTotals(c, subtotals, free_shipping, tier_discount);
  bool earns_points = true;
  for (size_t k : s.applied) earns_points = earns_points && KeepsPoints(*s.sorted[k]);
  out->set_earns_points(earns_points);
  out->set_tier_discount_suppressed(suppress_tier && !in.shopper.guest && in.shopper.tier_discount_bps > 0);
  return absl::OkStatus();
}

}  // namespace care::promotion
