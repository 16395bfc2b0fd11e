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

bool SameLines(const google::protobuf::RepeatedPtrField<v1::ReturnLine>& a,
               const google::protobuf::RepeatedPtrField<v1::ReturnLine>& b) {
  if (a.size() != b.size()) return false;
  for (int i = 0; i < a.size(); ++i) {
    if (a[i].line_id() != b[i].line_id() || a[i].quantity() != b[i].quantity()) return false;
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

}  // namespace

absl::StatusOr<v1::ReturnRedemptionResponse> PromotionService::Return(const v1::ReturnRedemptionRequest& req) {
  const absl::Time now = clock_.Now();
  v1::ReturnRedemptionResponse out;
  absl::Status s = store_.InRedemptionTxn([&](RedemptionTxn& txn) -> absl::Status {
    auto existing = txn.Find(req.order_id());
    if (!existing.ok()) return existing.status();
    if (!existing->has_value()) return NotFound("REDEMPTION_NOT_FOUND", "no redemption for this order");
    v1::Redemption r = (*existing)->first;
    // Idempotent by return_id.
    for (const v1::ReturnRecord& done : r.returns()) {
      if (done.return_id() != req.return_id()) continue;
      if (!req.lines().empty() && !SameLines(done.lines(), req.lines())) {
        return AlreadyExists("RETURN_ID_CONFLICT", "this return_id was used for other lines");
      }
      *out.mutable_redemption() = r;
      *out.mutable_return_record() = done;
      return absl::OkStatus();
    }
    if (r.state() == v1::REDEMPTION_STATE_CANCELLED) {
      return FailedPrecondition("REDEMPTION_CANCELLED", "the order's redemption was cancelled");
    }
    if (r.state() == v1::REDEMPTION_STATE_RETURNED) {
      return Error(absl::StatusCode::kFailedPrecondition, "RETURN_EXCEEDS_QUANTITY", "every unit is already returned");
    }
    // Units per line: as asked, or everything not yet returned.
    std::vector<int32_t> units(r.lines_size(), 0);
    v1::ReturnRecord record;
    record.set_return_id(req.return_id());
    if (req.lines().empty()) {
      for (int i = 0; i < r.lines_size(); ++i) {
        units[i] = r.lines(i).line().quantity() - r.lines(i).returned_quantity();
        if (units[i] == 0) continue;
        v1::ReturnLine* l = record.add_lines();
        l->set_line_id(r.lines(i).line().line_id());
        l->set_quantity(units[i]);
      }
    } else {
      for (int k = 0; k < req.lines_size(); ++k) {
        const v1::ReturnLine& want = req.lines(k);
        int found = -1;
        for (int i = 0; i < r.lines_size(); ++i) {
          if (r.lines(i).line().line_id() == want.line_id()) found = i;
        }
        if (found < 0) return InvalidField(absl::StrCat("lines[", k, "].line_id"), "is not a line of the order");
        // Compared before adding, so repeated lines cannot overflow the sum.
        if (want.quantity() > r.lines(found).line().quantity() - r.lines(found).returned_quantity() - units[found]) {
          return Error(absl::StatusCode::kFailedPrecondition, "RETURN_EXCEEDS_QUANTITY",
                       "more units than remain unreturned", {{"line_id", want.line_id()}});
        }
        units[found] += want.quantity();
        *record.add_lines() = want;
      }
    }
    // What this return releases of each campaign: the released share after
    // it less the share before it (never more than the campaign still holds).
    std::vector<int32_t> before = ReturnedUnits(r), after = before;
    for (int i = 0; i < r.lines_size(); ++i) after[i] += units[i];
    const std::vector<std::vector<int64_t>> was = ReleasedBy(r, before), now_released = ReleasedBy(r, after);
    const std::vector<int64_t> held = DiscountHeld(r);
    int64_t on_units = 0, released = 0;
    std::vector<int64_t> released_by_campaign(r.campaigns_size(), 0);
    for (int i = 0; i < r.lines_size(); ++i) {
      if (units[i] == 0) continue;
      v1::RedemptionLine* line = r.mutable_lines(i);
      const int64_t qty = line->line().quantity(), line_discount = line->line().discount().amount_minor();
      on_units += ShareOf(line_discount, after[i], qty) - ShareOf(line_discount, before[i], qty);
      int64_t line_released = 0;
      for (int c = 0; c < r.campaigns_size(); ++c) {
        int64_t d = std::min(now_released[c][i] - was[c][i], held[c] - released_by_campaign[c]);
        d = std::max<int64_t>(0, d);
        released_by_campaign[c] += d;
        line_released += d;
      }
      line->set_returned_quantity(after[i]);
      line->mutable_discount_released()->set_amount_minor(line->discount_released().amount_minor() + line_released);
      line->mutable_discount_released()->set_currency_code(r.totals().total().currency_code());
      released += line_released;
    }
    bool complete = true;
    for (const auto& l : r.lines()) complete = complete && l.returned_quantity() == l.line().quantity();
    if (complete) {
      // The last unit releases everything still held, such as a campaign's
      // part of the shipping discount, which no line carries.
      for (int c = 0; c < r.campaigns_size(); ++c) {
        released += held[c] - released_by_campaign[c];
        released_by_campaign[c] = held[c];
      }
    }
    const std::string customer = CustomerKey(r.customer());
    for (int c = 0; c < r.campaigns_size(); ++c) {
      const v1::AppliedCampaign& ac = r.campaigns(c);
      absl::Status st = txn.AddUsage({ac.campaign_id(), customer, r.customer().tier_id(), ac.campaign_version()},
                                     complete ? -1 : 0, -released_by_campaign[c], 0, complete ? 1 : 0);
      if (!st.ok()) return st;
    }
    if (complete) {
      if (absl::Status st = ReleaseVouchers(txn, r, now); !st.ok()) return st;
    }
    const std::string& currency = r.totals().total().currency_code();
    record.mutable_discount_on_returned_units()->set_amount_minor(on_units);
    record.mutable_discount_on_returned_units()->set_currency_code(currency);
    record.mutable_discount_released()->set_amount_minor(released);
    record.mutable_discount_released()->set_currency_code(currency);
    record.set_usage_released(complete);
    record.set_reason(req.reason());
    *record.mutable_create_time() = ToTimestamp(now);
    *r.add_returns() = record;
    r.set_state(complete ? v1::REDEMPTION_STATE_RETURNED : v1::REDEMPTION_STATE_PARTIALLY_RETURNED);
    r.mutable_discount_released()->set_amount_minor(r.discount_released().amount_minor() + released);
    r.mutable_discount_released()->set_currency_code(currency);
    *r.mutable_update_time() = ToTimestamp(now);
    if (absl::Status st = txn.Save(r, (*existing)->second); !st.ok()) return st;
    *out.mutable_redemption() = r;
    *out.mutable_return_record() = record;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::Redemption> PromotionService::CancelRedemption(const v1::CancelRedemptionRequest& req) {
  const absl::Time now = clock_.Now();
  v1::Redemption out;
  absl::Status s = store_.InRedemptionTxn([&](RedemptionTxn& txn) -> absl::Status {
    auto existing = txn.Find(req.order_id());
    if (!existing.ok()) return existing.status();
    if (!existing->has_value()) return NotFound("REDEMPTION_NOT_FOUND", "no redemption for this order");
    out = (*existing)->first;
    // Idempotent by order_id; a fully returned order has nothing left to
    // release and is answered unchanged too.
    if (!HoldsUsage(out)) return absl::OkStatus();
    const std::string customer = CustomerKey(out.customer());
    const std::vector<int64_t> held = DiscountHeld(out);
    int64_t released = 0;
    for (int c = 0; c < out.campaigns_size(); ++c) {
      const v1::AppliedCampaign& ac = out.campaigns(c);
      absl::Status st = txn.AddUsage({ac.campaign_id(), customer, out.customer().tier_id(), ac.campaign_version()},
                                     -1, -held[c], 1);
      if (!st.ok()) return st;
      released += held[c];
    }
    if (absl::Status st = ReleaseVouchers(txn, out, now); !st.ok()) return st;
    out.set_state(v1::REDEMPTION_STATE_CANCELLED);
    out.mutable_discount_released()->set_amount_minor(out.discount_released().amount_minor() + released);
    out.mutable_discount_released()->set_currency_code(out.totals().total().currency_code());
    *out.mutable_cancel_time() = ToTimestamp(now);
    *out.mutable_update_time() = ToTimestamp(now);
    out.set_cancel_reason(req.reason());
    return txn.Save(out, (*existing)->second);
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace care::promotion
