// Releases: what a redemption holds of its campaigns' budgets, redemption
// counts, per-customer counts and vouchers' uses goes back by returns
// (ReturnRedemption: the discount on the returned units; the last unit also
// the counts and uses) and by cancellation (CancelRedemption: whatever is
// still held). Every release is computed from what is still held, so the
// sum of all releases of a redemption is exactly what it took, in any order.
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/proto_time.h"
#include "services/promotion/pricing.h"
#include "services/promotion/promotion_service.h"

namespace care::promotion {
namespace {

namespace v1 = ::care::promotion::v1;

// floor(total * part / whole), and all of `total` once part == whole, so the
// shares of successive returns add up exactly.
int64_t ShareOf(int64_t total, int64_t part, int64_t whole) {
  if (whole <= 0 || part >= whole) return total;
  if (part <= 0) return 0;
  return static_cast<int64_t>((static_cast<__int128>(total) * part) / whole);
}

bool SameLines(const google::protobuf::RepeatedPtrField<v1::ReturnLine>& done,
               const std::vector<OrderReturn::Units>& asked) {
  if (done.size() != static_cast<int>(asked.size())) return false;
  for (int i = 0; i < done.size(); ++i) {
    if (done[i].line_id() != asked[i].line_id || done[i].quantity() != asked[i].quantity) return false;
  }
  return true;
}

// Whether the redemption still holds its redemption counts, per-customer
// counts and voucher uses: only until it is cancelled or fully returned.
bool HoldsUsage(const v1::Redemption& r) {
  return r.state() == v1::REDEMPTION_STATE_REDEEMED || r.state() == v1::REDEMPTION_STATE_PARTIALLY_RETURNED;
}

// What returns of `returned[i]` units of each line release of each applied
// campaign's discount, [campaign][line]: a campaign's discount is spread over
// the lines in proportion to their discounts, and each line's part released
// in the returned share. A pure function of the stored redemption, so the
// discount a redemption still holds is derived, never counted twice.
std::vector<std::vector<int64_t>> ReleasedBy(const v1::Redemption& r, const std::vector<int32_t>& returned) {
  std::vector<int64_t> line_discounts;
  line_discounts.reserve(r.lines_size());
  for (const auto& l : r.lines()) line_discounts.push_back(l.line().discount().amount_minor());
  std::vector<std::vector<int64_t>> out;
  out.reserve(r.campaigns_size());
  for (const v1::AppliedCampaign& ac : r.campaigns()) {
    std::vector<int64_t> parts = SplitLargestRemainder(ac.discount().amount_minor(), line_discounts);
    for (int i = 0; i < r.lines_size(); ++i) {
      parts[i] = ShareOf(parts[i], returned[i], r.lines(i).line().quantity());
    }
    out.push_back(std::move(parts));
  }
  return out;
}

std::vector<int32_t> ReturnedUnits(const v1::Redemption& r) {
  std::vector<int32_t> out;
  out.reserve(r.lines_size());
  for (const auto& l : r.lines()) out.push_back(l.returned_quantity());
  return out;
}

// The discount each applied campaign still holds: its discount less what
// the returns so far released, never below zero.
std::vector<int64_t> DiscountHeld(const v1::Redemption& r) {
  std::vector<std::vector<int64_t>> released = ReleasedBy(r, ReturnedUnits(r));
  std::vector<int64_t> held;
  held.reserve(r.campaigns_size());
  for (int c = 0; c < r.campaigns_size(); ++c) {
    int64_t sum = 0;
    for (int64_t part : released[c]) sum += part;
    held.push_back(std::max<int64_t>(0, r.campaigns(c).discount().amount_minor() - sum));
  }
  return held;
}

// The order's value that `returned` units of each line carry, and its whole
// value: the lines' totals (what was paid), or their units when nothing was
// paid, so a free order still releases its bonus unit by unit.
std::pair<int64_t, int64_t> ValueReturned(const v1::Redemption& r, const std::vector<int32_t>& returned) {
  int64_t part = 0, whole = 0;
  for (int i = 0; i < r.lines_size(); ++i) whole += r.lines(i).line().total().amount_minor();
  const bool by_units = whole <= 0;
  if (by_units) whole = 0;
  for (int i = 0; i < r.lines_size(); ++i) {
    const int64_t qty = r.lines(i).line().quantity();
    const int64_t value = by_units ? qty : r.lines(i).line().total().amount_minor();
    if (by_units) whole += qty;
    part += ShareOf(value, returned[i], qty);
  }
  return {part, whole};
}

// Gives back each campaign's bonus points in the returned share of the
// order's value, less what earlier returns gave (AppliedCampaign.
// bonus_points_released, so redemptions returned before this rule catch up
// on their next return); everything still held once every unit is back.
void ReleasePoints(v1::Redemption& r, const std::vector<int32_t>& after, bool complete,
                   std::vector<int64_t>& by_campaign) {
  const auto [part, whole] = ValueReturned(r, after);
  by_campaign.assign(r.campaigns_size(), 0);
  for (int c = 0; c < r.campaigns_size(); ++c) {
    v1::AppliedCampaign* ac = r.mutable_campaigns(c);
    const int64_t held = std::max<int64_t>(0, ac->bonus_points() - ac->bonus_points_released());
    const int64_t due = complete ? ac->bonus_points() : ShareOf(ac->bonus_points(), part, whole);
    by_campaign[c] = std::clamp<int64_t>(due - ac->bonus_points_released(), 0, held);
    ac->set_bonus_points_released(ac->bonus_points_released() + by_campaign[c]);
    r.set_bonus_points_released(r.bonus_points_released() + by_campaign[c]);
  }
}

// Units per line a return takes (`units`, by line of `r`) and the lines of
// its record: as asked, or everything not yet returned.
absl::Status UnitsToReturn(const v1::Redemption& r, const OrderReturn& ask, std::vector<int32_t>& units,
                           v1::ReturnRecord& record) {
  units.assign(r.lines_size(), 0);
  if (ask.lines.empty()) {
    for (int i = 0; i < r.lines_size(); ++i) {
      units[i] = r.lines(i).line().quantity() - r.lines(i).returned_quantity();
      if (units[i] == 0) continue;
      v1::ReturnLine* l = record.add_lines();
      l->set_line_id(r.lines(i).line().line_id());
      l->set_quantity(units[i]);
    }
    return absl::OkStatus();
  }
  for (size_t k = 0; k < ask.lines.size(); ++k) {
    const OrderReturn::Units& want = ask.lines[k];
    int found = -1;
    for (int i = 0; i < r.lines_size(); ++i) {
      if (r.lines(i).line().line_id() == want.line_id) found = i;
    }
    if (found < 0) return InvalidField(absl::StrCat("lines[", k, "].line_id"), "is not a line of the order");
    // Compared before adding, so repeated lines cannot overflow the sum.
    if (want.quantity > r.lines(found).line().quantity() - r.lines(found).returned_quantity() - units[found]) {
      return Error(absl::StatusCode::kFailedPrecondition, "RETURN_EXCEEDS_QUANTITY",
                   "more units than remain unreturned", {{"line_id", want.line_id}});
    }
    units[found] += want.quantity;
    v1::ReturnLine* l = record.add_lines();
    l->set_line_id(want.line_id);
    l->set_quantity(want.quantity);
  }
  return absl::OkStatus();
}

// What one return releases.
struct Release {
  int64_t on_units = 0;  // the discount the returned units carried
  int64_t released = 0;  // what goes back to the campaigns' budgets
  std::vector<int64_t> by_campaign;
  std::vector<int64_t> points_by_campaign;  // bonus points back to points budgets
  bool complete = false;                    // the last unit: the counts and uses go back too
};

// Marks `units` of each line of `r` returned and works out what that
// releases of each campaign: the released share after it less the share
// before it (never more than the campaign still holds); the last unit
// releases everything still held, such as a campaign's part of the shipping
// discount, which no line carries.
Release ReturnUnits(v1::Redemption& r, const std::vector<int32_t>& units) {
  std::vector<int32_t> before = ReturnedUnits(r), after = before;
  for (int i = 0; i < r.lines_size(); ++i) after[i] += units[i];
  const std::vector<std::vector<int64_t>> was = ReleasedBy(r, before), now_released = ReleasedBy(r, after);
  const std::vector<int64_t> held = DiscountHeld(r);
  Release out;
  out.by_campaign.assign(r.campaigns_size(), 0);
  for (int i = 0; i < r.lines_size(); ++i) {
    if (units[i] == 0) continue;
    v1::RedemptionLine* line = r.mutable_lines(i);
    const int64_t qty = line->line().quantity(), line_discount = line->line().discount().amount_minor();
    out.on_units += ShareOf(line_discount, after[i], qty) - ShareOf(line_discount, before[i], qty);
    int64_t line_released = 0;
    for (int c = 0; c < r.campaigns_size(); ++c) {
      const int64_t d = std::max<int64_t>(0, std::min(now_released[c][i] - was[c][i], held[c] - out.by_campaign[c]));
      out.by_campaign[c] += d;
      line_released += d;
    }
    line->set_returned_quantity(after[i]);
    line->mutable_discount_released()->set_amount_minor(line->discount_released().amount_minor() + line_released);
    line->mutable_discount_released()->set_currency_code(r.totals().total().currency_code());
    out.released += line_released;
  }
  out.complete = true;
  for (const auto& l : r.lines()) out.complete = out.complete && l.returned_quantity() == l.line().quantity();
  if (out.complete) {
    for (int c = 0; c < r.campaigns_size(); ++c) {
      out.released += held[c] - out.by_campaign[c];
      out.by_campaign[c] = held[c];
    }
  }
  ReleasePoints(r, after, out.complete, out.points_by_campaign);
  return out;
}

// The return's record and the redemption after it.
void RecordReturn(v1::Redemption& r, v1::ReturnRecord& record, const OrderReturn& ask, const Release& release,
                  absl::Time now) {
  const std::string& currency = r.totals().total().currency_code();
  SetMoney(record.mutable_discount_on_returned_units(), release.on_units, currency);
  SetMoney(record.mutable_discount_released(), release.released, currency);
  record.set_usage_released(release.complete);
  for (int64_t points : release.points_by_campaign)
    record.set_bonus_points_released(record.bonus_points_released() + points);
  record.set_reason(ask.reason);
  *record.mutable_create_time() = ToTimestamp(now);
  *r.add_returns() = record;
  r.set_state(release.complete ? v1::REDEMPTION_STATE_RETURNED : v1::REDEMPTION_STATE_PARTIALLY_RETURNED);
  SetMoney(r.mutable_discount_released(), r.discount_released().amount_minor() + release.released, currency);
  *r.mutable_update_time() = ToTimestamp(now);
}

// The record of an earlier return with this return_id, if any; the same id
// for other lines is RETURN_ID_CONFLICT.
absl::StatusOr<const v1::ReturnRecord*> EarlierReturn(const v1::Redemption& r, const OrderReturn& ask) {
  for (const v1::ReturnRecord& done : r.returns()) {
    if (done.return_id() != ask.return_id) continue;
    if (!ask.lines.empty() && !SameLines(done.lines(), ask.lines)) {
      return AlreadyExists("RETURN_ID_CONFLICT", "this return_id was used for other lines");
    }
    return &done;
  }
  return nullptr;
}

absl::Status CheckReturnable(const v1::Redemption& r) {
  if (r.state() == v1::REDEMPTION_STATE_CANCELLED) {
    return FailedPrecondition("REDEMPTION_CANCELLED", "the order's redemption was cancelled");
  }
  if (r.state() == v1::REDEMPTION_STATE_RETURNED) {
    return Error(absl::StatusCode::kFailedPrecondition, "RETURN_EXCEEDS_QUANTITY", "every unit is already returned");
  }
  return absl::OkStatus();
}

absl::Status NoRedemption() { return NotFound("REDEMPTION_NOT_FOUND", "no redemption for this order"); }

}  // namespace

absl::StatusOr<std::vector<std::string>> PromotionService::CampaignsOfOrder(const std::string& order_id) {
  std::vector<std::string> ids;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    ids.clear();
    auto stored = tx.Redemption(order_id);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) return NoRedemption();
    for (const auto& ac : (*stored)->redemption.campaigns()) ids.push_back(ac.campaign_id());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return ids;
}

absl::StatusOr<v1::ReturnRedemptionResponse> PromotionService::Return(const OrderReturn& ask) {
  const absl::Time now = clock_.Now();
  // A redemption's campaigns never change: read once, locked first.
  auto campaign_ids = CampaignsOfOrder(ask.order_id);
  if (!campaign_ids.ok()) return campaign_ids.status();
  v1::ReturnRedemptionResponse out;
  absl::Status s = store_.Write([&](StoreTxn& tx) -> absl::Status {
    out.Clear();
    if (absl::Status st = tx.LockUsage(*campaign_ids); !st.ok()) return st;
    auto stored = tx.Redemption(ask.order_id);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) return NoRedemption();
    v1::Redemption r = (*stored)->redemption;
    // Idempotent by return_id.
    auto earlier = EarlierReturn(r, ask);
    if (!earlier.ok()) return earlier.status();
    if (*earlier != nullptr) {
      *out.mutable_return_record() = **earlier;
      *out.mutable_redemption() = std::move(r);
      return absl::OkStatus();
    }
    if (absl::Status st = CheckReturnable(r); !st.ok()) return st;
    std::vector<int32_t> units;
    v1::ReturnRecord record;
    record.set_return_id(ask.return_id);
    if (absl::Status st = UnitsToReturn(r, ask, units, record); !st.ok()) return st;
    const Release release = ReturnUnits(r, units);
    const std::string customer = CustomerKey(r.customer());
    for (int c = 0; c < r.campaigns_size(); ++c) {
      const v1::AppliedCampaign& ac = r.campaigns(c);
      absl::Status st = tx.AddUsage({ac.campaign_id(), customer, r.customer().tier_id(), ac.campaign_version()},
                                    release.complete ? -1 : 0, -release.by_campaign[c], 0, release.complete ? 1 : 0);
      if (st.ok() && release.points_by_campaign[c] > 0)
        st = tx.AddPoints(ac.campaign_id(), -release.points_by_campaign[c]);
      if (!st.ok()) return st;
    }
    if (release.complete) {
      if (absl::Status st = ReleaseVouchers(tx, r, now); !st.ok()) return st;
    }
    RecordReturn(r, record, ask, release, now);
    if (absl::Status st = tx.SaveRedemption(r, (*stored)->token_digest); !st.ok()) return st;
    *out.mutable_redemption() = std::move(r);
    *out.mutable_return_record() = std::move(record);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::Redemption> PromotionService::CancelRedemption(const std::string& order_id,
                                                                  const std::string& reason) {
  const absl::Time now = clock_.Now();
  auto campaign_ids = CampaignsOfOrder(order_id);
  if (!campaign_ids.ok()) return campaign_ids.status();
  v1::Redemption out;
  absl::Status s = store_.Write([&](StoreTxn& tx) -> absl::Status {
    if (absl::Status st = tx.LockUsage(*campaign_ids); !st.ok()) return st;
    auto stored = tx.Redemption(order_id);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) return NoRedemption();
    out = (*stored)->redemption;
    // Idempotent by order_id; a fully returned order has nothing left to
    // release and is answered unchanged too.
    if (!HoldsUsage(out)) return absl::OkStatus();
    const std::string customer = CustomerKey(out.customer());
    const std::vector<int64_t> held = DiscountHeld(out);
    int64_t released = 0;
    for (int c = 0; c < out.campaigns_size(); ++c) {
      const v1::AppliedCampaign& ac = out.campaigns(c);
      absl::Status st = tx.AddUsage({ac.campaign_id(), customer, out.customer().tier_id(), ac.campaign_version()}, -1,
                                    -held[c], 1, 0);
      const int64_t points = std::max<int64_t>(0, ac.bonus_points() - ac.bonus_points_released());
      if (st.ok() && points > 0) st = tx.AddPoints(ac.campaign_id(), -points);
      if (!st.ok()) return st;
      released += held[c];
      out.mutable_campaigns(c)->set_bonus_points_released(ac.bonus_points_released() + points);
      out.set_bonus_points_released(out.bonus_points_released() + points);
    }
    if (absl::Status st = ReleaseVouchers(tx, out, now); !st.ok()) return st;
    out.set_state(v1::REDEMPTION_STATE_CANCELLED);
    out.mutable_discount_released()->set_amount_minor(out.discount_released().amount_minor() + released);
    out.mutable_discount_released()->set_currency_code(out.totals().total().currency_code());
    *out.mutable_cancel_time() = ToTimestamp(now);
    *out.mutable_update_time() = ToTimestamp(now);
    out.set_cancel_reason(reason);
    return tx.SaveRedemption(out, (*stored)->token_digest);
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace care::promotion
