// Returns: the units an order gives back release the discount they carried
// to the campaigns' budgets; the last unit also releases the redemption
// counts, the per-customer counts and the vouchers' uses.
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
        units[found] += want.quantity();
        if (units[found] > r.lines(found).line().quantity() - r.lines(found).returned_quantity()) {
          return Error(absl::StatusCode::kFailedPrecondition, "RETURN_EXCEEDS_QUANTITY",
                       "more units than remain unreturned", {{"line_id", want.line_id()}});
        }
        *record.add_lines() = want;
      }
    }
    // The campaigns' parts of each line's discount: each campaign's discount
    // spread over the lines in proportion to their discounts.
    std::vector<int64_t> line_discounts;
    for (const auto& l : r.lines()) line_discounts.push_back(l.line().discount().amount_minor());
    std::vector<std::vector<int64_t>> parts;  // [campaign][line]
    for (const v1::AppliedCampaign& ac : r.campaigns()) {
      parts.push_back(SplitLargestRemainder(ac.discount().amount_minor(), line_discounts));
    }
    int64_t on_units = 0, released = 0;
    std::vector<int64_t> released_by_campaign(r.campaigns_size(), 0);
    for (int i = 0; i < r.lines_size(); ++i) {
      if (units[i] == 0) continue;
      v1::RedemptionLine* line = r.mutable_lines(i);
      const int64_t qty = line->line().quantity();
      const int32_t before = line->returned_quantity(), after = before + units[i];
      on_units += ShareOf(line_discounts[i], after, qty) - ShareOf(line_discounts[i], before, qty);
      int64_t line_released = 0;
      for (size_t c = 0; c < parts.size(); ++c) {
        int64_t d = ShareOf(parts[c][i], after, qty) - ShareOf(parts[c][i], before, qty);
        released_by_campaign[c] += d;
        line_released += d;
      }
      line->set_returned_quantity(after);
      line->mutable_discount_released()->set_amount_minor(line->discount_released().amount_minor() + line_released);
      line->mutable_discount_released()->set_currency_code(r.totals().total().currency_code());
      released += line_released;
    }
    bool complete = true;
    for (const auto& l : r.lines()) complete = complete && l.returned_quantity() == l.line().quantity();
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

}  // namespace care::promotion
