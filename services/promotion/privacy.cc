// A person's data in promotion (docs/privacy.md, services/promotion/README.md
// "Personal data"): their redemptions and the vouchers assigned to them, both
// under their member id. Export reads them in batches; erasure keeps the
// money facts under the pseudonym (so campaign reports, budgets and limits
// are unchanged) and drops what names or describes the person.
#include "common/privacy.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/proto_time.h"
#include "services/promotion/promotion_service.h"

namespace care::promotion {
namespace {

using care::common::v1::ErasureReceipt;

// Rows read per statement while an erasure walks a member's records.
constexpr int kEraseBatch = 200;

}  // namespace

std::string BatchSubject(const std::string& batch_id) { return absl::StrCat("voucher-batch:", batch_id); }

absl::Status PromotionService::RefuseErased(StoreTxn& tx, const std::string& member_id) {
  if (member_id.empty()) return absl::OkStatus();
  auto erased = tx.Erased({MemberSubject(member_id)});
  if (!erased.ok()) return erased.status();
  if (!*erased) return absl::OkStatus();
  return Error(absl::StatusCode::kFailedPrecondition, "SUBJECT_ERASED",
               "this member's data was erased; nothing is created for them again", {{"member_id", member_id}});
}

absl::StatusOr<std::vector<v1::PromotionPersonalData>> PromotionService::ExportBatch(const std::string& member_id,
                                                                                     ExportCursor& cursor, int limit) {
  std::vector<v1::PromotionPersonalData> out;
  if (member_id.empty() || cursor.done) {
    cursor.done = true;
    return out;
  }
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    if (!cursor.vouchers) {
      auto rows = tx.MemberRedemptionsBefore(member_id, cursor.before, limit);
      if (!rows.ok()) return rows.status();
      for (auto& [seq, r] : *rows) {
        cursor.before = seq;
        if (r.customer().member_id() == member_id) *out.emplace_back().mutable_redemption() = std::move(r);
      }
      if (static_cast<int>(rows->size()) < limit) cursor = ExportCursor{true, 0, false};
      return absl::OkStatus();
    }
    VoucherFilter filter;
    filter.member_id = member_id;
    auto rows = tx.VouchersBefore(filter, cursor.before, limit);
    if (!rows.ok()) return rows.status();
    for (auto& [seq, v] : *rows) {
      cursor.before = seq;
      *out.emplace_back().mutable_voucher() = std::move(v);
    }
    cursor.done = static_cast<int>(rows->size()) < limit;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status PromotionService::EraseRedemptions(StoreTxn& tx, const Erasure& e, ErasureReceipt& receipt) {
  int64_t before = 0;
  for (;;) {
    auto rows = tx.MemberRedemptionsBefore(e.member_id, before, kEraseBatch);
    if (!rows.ok()) return rows.status();
    for (auto& [seq, r] : *rows) {
      before = seq;
      if (r.customer().member_id() != e.member_id) continue;  // another member's row from before the column
      // The amounts, lines, campaigns and vouchers stay (accounting, budgets,
      // reports); the member id becomes the pseudonym and the free text
      // agents wrote about the order goes.
      r.mutable_customer()->set_member_id(e.pseudonym);
      r.clear_cancel_reason();
      for (v1::ReturnRecord& ret : *r.mutable_returns()) ret.clear_reason();
      if (absl::Status st = tx.RewriteRedemption(r); !st.ok()) return st;
      ++(*receipt.mutable_deidentified())["redemption"];
    }
    if (static_cast<int>(rows->size()) < kEraseBatch) break;
  }
  // Per-customer limits keep counting what the person used, under the
  // pseudonym (the report's customer count is unchanged).
  v1::QuoteCustomer from, to;
  from.set_member_id(e.member_id);
  to.set_member_id(e.pseudonym);
  auto moved = tx.RekeyCustomer(CustomerKey(from), CustomerKey(to));
  if (!moved.ok()) return moved.status();
  (*receipt.mutable_deidentified())["customer_usage"] += *moved;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> PromotionService::EraseVouchers(StoreTxn& tx, const Erasure& e, absl::Time now,
                                                                         ErasureReceipt& receipt) {
  std::set<std::string> batches;
  VoucherFilter filter;
  filter.member_id = e.member_id;
  int64_t before = 0;
  for (;;) {
    auto rows = tx.VouchersBefore(filter, before, kEraseBatch);
    if (!rows.ok()) return rows.status();
    for (auto& [seq, v] : *rows) {
      before = seq;
      if (!v.batch_id().empty()) batches.insert(v.batch_id());
      // Value, uses, dates and campaign stay; the voucher now belongs to the
      // pseudonym, which nobody can quote as, and one still usable is
      // revoked so its state says so. A used-up (EXHAUSTED) or expired one
      // keeps its state: it was used, and voucher listings by state and the
      // campaign's figures must still say so.
      v.set_member_id(e.pseudonym);
      v.clear_note();
      if (v.state() == v1::VOUCHER_STATE_ACTIVE) {
        v.set_state(v1::VOUCHER_STATE_REVOKED);
        v.set_revoke_reason("the member's personal data was erased");
      }
      *v.mutable_update_time() = ToTimestamp(now);
      if (absl::Status st = tx.UpdateVoucher(v); !st.ok()) return st;
      ++(*receipt.mutable_deidentified())["voucher"];
    }
    if (static_cast<int>(rows->size()) < kEraseBatch) break;
  }
  return std::vector<std::string>(batches.begin(), batches.end());
}

absl::StatusOr<ErasureReceipt> PromotionService::ErasePersonalData(const Once& once, const Erasure& e) {
  const absl::Time now = clock_.Now();
  auto receipt = WriteOnce<ErasureReceipt>(store_, once, [&](StoreTxn& tx, ErasureReceipt& out) -> absl::Status {
    out.set_service("promotion");
    out.set_erasure_id(e.erasure_id);
    *out.mutable_erased_at() = ToTimestamp(now);
    if (!e.member_id.empty()) {
      if (absl::Status st = EraseRedemptions(tx, e, out); !st.ok()) return st;
      auto batches = EraseVouchers(tx, e, now, out);
      if (!batches.ok()) return batches.status();
      // A GenerateVouchers answer naming this member among others.
      for (const std::string& batch : *batches) {
        auto forgotten = tx.ForgetAnswers(BatchSubject(batch));
        if (!forgotten.ok()) return forgotten.status();
        (*out.mutable_erased())["idempotency_record"] += *forgotten;
      }
    }
    // The pseudonym is tombstoned too: nothing new is issued to it.
    std::vector<std::string> keys = e.keys;
    keys.push_back(MemberSubject(e.pseudonym));
    return tx.EraseCommon(keys, now, out);
  });
  if (receipt.ok() && options_.scrub != nullptr) options_.scrub->Request(e.erasure_id);
  return receipt;
}

}  // namespace care::promotion
