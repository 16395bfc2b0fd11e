// Vouchers: unguessable codes generated for voucher-based campaigns or issued
// one at a time as goodwill; checked when quoted, and consumed (uses) inside
// the redemption transaction so a code is never used more than max_uses.
#include <algorithm>
#include <functional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/ids.h"
#include "common/localized.h"
#include "common/privacy.h"
#include "common/proto_time.h"
#include "common/random.h"
#include "common/store.h"
#include "services/promotion/promotion_service.h"

namespace care::promotion {
namespace {

namespace v1 = ::care::promotion::v1;

constexpr char kDefaultCharset[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";  // no I, O, 0, 1

// Stores a voucher under a fresh code from `make_code`, drawing again on the
// (astronomically rare) collision.
absl::Status InsertWithFreshCode(StoreTxn& tx, v1::Voucher& v, const std::function<std::string()>& make_code) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    v.set_code(make_code());
    auto inserted = tx.InsertVoucher(v);
    if (!inserted.ok()) return inserted.status();
    if (*inserted) return absl::OkStatus();
  }
  return Error(absl::StatusCode::kAborted, "CODE_SPACE_EXHAUSTED", "could not draw an unused code; widen the pattern");
}

// One voucher of a batch for `member` ("" = unassigned): valid from the
// campaign's start until its end or the batch's expiry, whichever is first.
v1::Voucher BatchVoucher(const v1::Campaign& c, const VoucherBatch& batch, const std::string& batch_id,
                         const std::string& member, absl::Time now, const std::string& by) {
  absl::Time expire = FromTimestamp(c.ends_at());
  if (batch.expire_time) expire = std::min(expire, *batch.expire_time);
  v1::Voucher v;
  v.set_kind(v1::VOUCHER_KIND_CAMPAIGN);
  v.set_campaign_id(c.campaign_id());
  v.set_batch_id(batch_id);
  v.set_member_id(member);
  v.set_state(v1::VOUCHER_STATE_ACTIVE);
  v.set_max_uses(batch.max_uses == 0 ? 1 : batch.max_uses);
  *v.mutable_start_time() = c.starts_at();
  *v.mutable_expire_time() = ToTimestamp(expire);
  v.set_issued_by(by);
  v.set_issued_by_principal(by);
  *v.mutable_create_time() = ToTimestamp(now);
  *v.mutable_update_time() = ToTimestamp(now);
  return v;
}

// A single-use goodwill voucher (its code is drawn when stored).
v1::Voucher GoodwillVoucher(const GoodwillGrant& grant, absl::Time now, const std::string& by) {
  v1::Voucher v;
  v.set_kind(v1::VOUCHER_KIND_GOODWILL);
  v.set_member_id(grant.member_id);
  v.set_state(v1::VOUCHER_STATE_ACTIVE);
  v.set_max_uses(1);
  *v.mutable_goodwill_value() = grant.value;
  const absl::Duration validity = grant.validity.value_or(absl::Hours(24 * 30));
  *v.mutable_start_time() = ToTimestamp(now);
  *v.mutable_expire_time() = ToTimestamp(now + validity);
  v.set_reason_code(grant.reason_code);
  v.set_complaint_id(grant.complaint_id);
  v.set_note(grant.note);
  v.set_issued_by(grant.issued_by.empty() ? by : grant.issued_by);
  // issued_by is the caller's word; the token's principal is the fact.
  v.set_issued_by_principal(by);
  *v.mutable_create_time() = ToTimestamp(now);
  *v.mutable_update_time() = ToTimestamp(now);
  return v;
}

}  // namespace

std::string NormalizeVoucherCode(const std::string& code) {
  return absl::AsciiStrToUpper(absl::StripAsciiWhitespace(code));
}

v1::RejectionReason PromotionService::VoucherProblem(const v1::Voucher& v, const std::string& member_id,
                                                     absl::Time now) const {
  if (v.state() == v1::VOUCHER_STATE_REVOKED) return v1::REJECTION_REASON_VOUCHER_REVOKED;
  if (v.has_start_time() && now < FromTimestamp(v.start_time())) return v1::REJECTION_REASON_VOUCHER_NOT_YET_VALID;
  if (v.has_expire_time() && now >= FromTimestamp(v.expire_time())) return v1::REJECTION_REASON_VOUCHER_EXPIRED;
  if (v.uses() >= v.max_uses()) return v1::REJECTION_REASON_VOUCHER_EXHAUSTED;
  if (!v.member_id().empty() && v.member_id() != member_id) {
    return v1::REJECTION_REASON_VOUCHER_NOT_ASSIGNED_TO_CUSTOMER;
  }
  return v1::REJECTION_REASON_UNSPECIFIED;
}

absl::StatusOr<v1::GenerateVouchersResponse> PromotionService::GenerateVouchers(const Once& once,
                                                                                const VoucherBatch& batch,
                                                                                const std::string& by) {
  const absl::Time now = clock_.Now();
  // The answer names the batch's members: filed under the one member, or
  // under the batch (known once drawn) when there are several, so that an
  // erasure finds it. WriteOnce remembers `tagged` as it is after `fn`.
  Once tagged = once;
  if (batch.member_ids.size() == 1) tagged.subject = MemberSubject(batch.member_ids.front());
  return WriteOnce<v1::GenerateVouchersResponse>(
      store_, tagged, [&](StoreTxn& tx, v1::GenerateVouchersResponse& out) -> absl::Status {
        for (const std::string& member : batch.member_ids) {
          if (absl::Status st = RefuseErased(tx, member); !st.ok()) return st;
        }
        auto camp = tx.Campaign(batch.campaign_id);
        if (!camp.ok()) return camp.status();
        if (!*camp) return NotFound("CAMPAIGN_NOT_FOUND", "no such campaign");
        const v1::Campaign& c = **camp;
        if (!c.voucher_required()) {
          return FailedPrecondition("CAMPAIGN_NOT_VOUCHER_BASED", "the campaign applies without vouchers");
        }
        if (c.state() == v1::CAMPAIGN_STATE_CANCELLED || c.state() == v1::CAMPAIGN_STATE_ENDED) {
          return FailedPrecondition("INVALID_TRANSITION", "vouchers are generated for a live or draft campaign");
        }
        const std::string charset = batch.charset.empty() ? kDefaultCharset : batch.charset;
        const int length = batch.length == 0 ? 12 : batch.length;
        out.set_batch_id(NewId("b-"));
        if (batch.member_ids.size() > 1) tagged.subject = BatchSubject(out.batch_id());
        std::vector<std::string> owners = batch.member_ids;
        if (owners.empty()) owners.assign(static_cast<size_t>(batch.count), "");
        for (const std::string& member : owners) {
          v1::Voucher v = BatchVoucher(c, batch, out.batch_id(), member, now, by);
          absl::Status s = InsertWithFreshCode(tx, v, [&] {
            return absl::StrCat(batch.prefix, RandomToken(length, charset));
          });
          if (!s.ok()) return s;
          *out.add_vouchers() = std::move(v);
        }
        return absl::OkStatus();
      });
}

absl::Status PromotionService::CheckMember(const std::string& member_id) {
  // The member must exist (contract): loyalty's NOT_FOUND is final. When it
  // cannot be verified (loyalty or Redis down, loyalty not set up yet) the
  // answer is UNAVAILABLE, which the caller's outbox retries: a goodwill
  // voucher is delayed, never refused for an outage.
  auto member = shoppers_(member_id);
  if (member.ok()) return absl::OkStatus();
  if (member.status().code() == absl::StatusCode::kNotFound) {
    return Error(absl::StatusCode::kNotFound, "MEMBER_NOT_FOUND", "loyalty has no such member",
                 {{"member_id", member_id}});
  }
  return Error(absl::StatusCode::kUnavailable, "MEMBER_UNVERIFIED",
               absl::StrCat("the member cannot be verified now (", member.status().message(), "); retry"),
               {{"member_id", member_id}});
}

absl::StatusOr<v1::Voucher> PromotionService::IssueVoucher(const Once& once, const GoodwillGrant& grant,
                                                           const std::string& by) {
  // A retry of an issued voucher gets it back whatever loyalty's state now
  // (read first: the member lookup is a network call and never runs on the
  // single writer).
  {
    v1::Voucher first;
    bool replayed = false;
    absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
      auto r = tx.Replay(once, &first);
      if (!r.ok()) return r.status();
      replayed = *r;
      // An erased member's answer was deleted with them: refused, not
      // re-issued (and loyalty, which forgot them too, is not asked).
      return replayed ? absl::OkStatus() : RefuseErased(tx, grant.member_id);
    });
    if (!s.ok()) return s;
    if (replayed) return first;
  }
  if (absl::Status s = CheckMember(grant.member_id); !s.ok()) return s;
  const absl::Time now = clock_.Now();
  Once tagged = once;
  tagged.subject = MemberSubject(grant.member_id);
  return WriteOnce<v1::Voucher>(store_, tagged, [&](StoreTxn& tx, v1::Voucher& v) -> absl::Status {
    if (absl::Status st = RefuseErased(tx, grant.member_id); !st.ok()) return st;
    if (!grant.campaign_id.empty()) return IssueCampaignVoucher(tx, grant, now, by, v);
    v = GoodwillVoucher(grant, now, by);
    return InsertWithFreshCode(tx, v, [] { return absl::StrCat("GW-", RandomToken(12, kDefaultCharset)); });
  });
}

absl::Status PromotionService::IssueCampaignVoucher(StoreTxn& tx, const GoodwillGrant& grant, absl::Time now,
                                                    const std::string& by, v1::Voucher& v) {
  auto camp = tx.Campaign(grant.campaign_id);
  if (!camp.ok()) return camp.status();
  if (!*camp) {
    return Error(absl::StatusCode::kNotFound, "CAMPAIGN_NOT_FOUND", "no such campaign",
                 {{"campaign_id", grant.campaign_id}});
  }
  const v1::Campaign& c = **camp;
  if (!c.voucher_required()) {
    return FailedPrecondition("CAMPAIGN_NOT_VOUCHER_BASED", "the campaign applies without vouchers");
  }
  // A voucher of a campaign that can never run again would be worthless:
  // refused for good, so the issuer can give back what it took for it.
  if (c.state() == v1::CAMPAIGN_STATE_CANCELLED || c.state() == v1::CAMPAIGN_STATE_ENDED ||
      (c.has_ends_at() && now >= FromTimestamp(c.ends_at()))) {
    return Error(absl::StatusCode::kFailedPrecondition, "INVALID_TRANSITION",
                 "vouchers are issued for a live or draft campaign",
                 {{"state", v1::CampaignState_Name(c.state())}, {"method", "IssueVoucher"}});
  }
  if (!c.has_starts_at() || !c.has_ends_at()) {
    return Error(absl::StatusCode::kFailedPrecondition, "CAMPAIGN_INCOMPLETE", "the campaign has no dates yet",
                 {{"field", "ends_at"}});
  }
  VoucherBatch one;
  one.max_uses = 1;
  if (grant.validity) one.expire_time = now + *grant.validity;
  v = BatchVoucher(c, one, "", grant.member_id, now, by);
  v.set_reason_code(grant.reason_code);
  v.set_note(grant.note);
  if (!grant.issued_by.empty()) v.set_issued_by(grant.issued_by);
  return InsertWithFreshCode(tx, v, [] { return absl::StrCat("RW-", RandomToken(12, kDefaultCharset)); });
}

absl::StatusOr<v1::Voucher> PromotionService::GetVoucher(const std::string& code) {
  std::optional<v1::Voucher> out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto v = tx.Voucher(NormalizeVoucherCode(code));
    if (!v.ok()) return v.status();
    out = std::move(*v);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!out) return NotFound("VOUCHER_NOT_FOUND", "no such voucher");
  return *out;
}

absl::StatusOr<v1::ValidateVoucherResponse> PromotionService::ValidateVoucher(const std::string& code,
                                                                              const std::string& member_id,
                                                                              const std::string& language_code) {
  const absl::Time now = clock_.Now();
  v1::ValidateVoucherResponse out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto v = tx.Voucher(NormalizeVoucherCode(code));
    if (!v.ok()) return v.status();
    if (!*v) {
      out.set_reason(v1::REJECTION_REASON_VOUCHER_NOT_FOUND);
      return absl::OkStatus();
    }
    *out.mutable_voucher() = **v;
    out.set_uses_left(std::max(0, (*v)->max_uses() - (*v)->uses()));
    out.set_reason(VoucherProblem(**v, member_id, now));
    if ((*v)->kind() == v1::VOUCHER_KIND_CAMPAIGN && out.reason() == v1::REJECTION_REASON_UNSPECIFIED) {
      auto c = tx.Campaign((*v)->campaign_id());
      if (!c.ok()) return c.status();
      if (*c) {
        out.set_campaign_id((*c)->campaign_id());
        out.set_campaign_version((*c)->version());
        out.set_campaign_display_name(language_code.empty() ? (*c)->display_name()
                                                            : PickLocalized((*c)->localized_display_names(),
                                                                            LocaleFallbackChain(language_code, ""),
                                                                            (*c)->display_name()));
      }
      if (!*c || (*c)->state() == v1::CAMPAIGN_STATE_CANCELLED || (*c)->state() == v1::CAMPAIGN_STATE_DRAFT) {
        out.set_reason(v1::REJECTION_REASON_VOUCHER_CAMPAIGN_REJECTED);
        out.set_detail("the voucher's campaign is not running");
      }
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  out.set_valid(out.reason() == v1::REJECTION_REASON_UNSPECIFIED);
  return out;
}

absl::StatusOr<PromotionService::Page<v1::Voucher>> PromotionService::ListVouchers(const VoucherQuery& query,
                                                                                   int64_t before_seq, int page_size) {
  // Campaign, batch, member and kind are columns; complaint and state are
  // read from the voucher itself.
  auto keep = [&](const v1::Voucher& v) {
    return (query.complaint_id.empty() || v.complaint_id() == query.complaint_id) &&
           (query.states.empty() ||
            std::find(query.states.begin(), query.states.end(), v.state()) != query.states.end());
  };
  return ReadPage<v1::Voucher>(
      before_seq, page_size,
      [&](StoreTxn& tx, int64_t before, int limit) { return tx.VouchersBefore(query.stored, before, limit); }, keep);
}

absl::StatusOr<v1::Voucher> PromotionService::RevokeVoucher(const Once& once, const std::string& code,
                                                            const std::string& reason) {
  const absl::Time now = clock_.Now();
  // The answer is the voucher, naming its member: filed under them (known
  // once read; WriteOnce remembers `tagged` as it is after `fn`).
  Once tagged = once;
  return WriteOnce<v1::Voucher>(store_, tagged, [&](StoreTxn& tx, v1::Voucher& out) -> absl::Status {
    auto v = tx.Voucher(NormalizeVoucherCode(code));
    if (!v.ok()) return v.status();
    if (!*v) return NotFound("VOUCHER_NOT_FOUND", "no such voucher");
    if (!(*v)->member_id().empty()) tagged.subject = MemberSubject((*v)->member_id());
    if ((*v)->state() == v1::VOUCHER_STATE_REVOKED) {
      return FailedPrecondition("VOUCHER_REVOKED", "the voucher is already revoked");
    }
    out = **v;
    out.set_state(v1::VOUCHER_STATE_REVOKED);
    out.set_revoke_reason(reason);
    *out.mutable_update_time() = ToTimestamp(now);
    return tx.UpdateVoucher(out);
  });
}

absl::Status PromotionService::ResolveVouchers(const std::vector<std::string>& codes, PricingInput& in,
                                               google::protobuf::RepeatedPtrField<v1::VoucherResult>* results) {
  if (codes.empty()) return absl::OkStatus();
  return store_.Read([&](StoreTxn& tx) -> absl::Status {
    std::set<std::string> seen;
    for (const std::string& raw : codes) {
      v1::VoucherResult* r = results->Add();
      r->set_code(NormalizeVoucherCode(raw));
      auto refuse = [&](v1::RejectionReason reason, const std::string& detail = "") {
        r->set_accepted(false);
        r->set_reason(reason);
        r->set_detail(detail);
      };
      if (!seen.insert(r->code()).second) {
        refuse(v1::REJECTION_REASON_VOUCHER_DUPLICATE);
        continue;
      }
      auto v = tx.Voucher(r->code());
      if (!v.ok()) return v.status();
      if (!*v) {
        refuse(v1::REJECTION_REASON_VOUCHER_NOT_FOUND);
        continue;
      }
      r->set_kind((*v)->kind());
      r->set_campaign_id((*v)->campaign_id());
      if (v1::RejectionReason why = VoucherProblem(**v, in.shopper.member_id, in.now);
          why != v1::REJECTION_REASON_UNSPECIFIED) {
        refuse(why);
        continue;
      }
      if ((*v)->kind() == v1::VOUCHER_KIND_GOODWILL) {
        const v1::DiscountValue& value = (*v)->goodwill_value();
        if (value.has_amount_off() && value.amount_off().currency_code() != in.currency_code) {
          refuse(v1::REJECTION_REASON_CURRENCY_MISMATCH);
          continue;
        }
        in.goodwill.push_back({r->code(), value});
      } else {
        in.unlocked[(*v)->campaign_id()] = r->code();
      }
      r->set_accepted(true);
    }
    return absl::OkStatus();
  });
}

absl::Status PromotionService::ConsumeVouchers(StoreTxn& tx, const v1::QuoteResponse& quote, absl::Time now,
                                               v1::Redemption& out) {
  for (const v1::VoucherResult& r : quote.vouchers()) {
    if (!r.accepted()) continue;
    auto v = tx.Voucher(r.code());
    if (!v.ok()) return v.status();
    ErrorMetadata md{{"voucher_code", r.code()}};
    if (!*v) return Error(absl::StatusCode::kFailedPrecondition, "VOUCHER_NOT_FOUND", "a quoted voucher is gone", md);
    v1::Voucher& voucher = **v;
    if (voucher.state() == v1::VOUCHER_STATE_REVOKED) {
      return Error(absl::StatusCode::kFailedPrecondition, "VOUCHER_REVOKED", "a quoted voucher was revoked", md);
    }
    if (voucher.has_expire_time() && now >= FromTimestamp(voucher.expire_time())) {
      return Error(absl::StatusCode::kFailedPrecondition, "VOUCHER_EXPIRED", "a quoted voucher expired", md);
    }
    if (voucher.uses() >= voucher.max_uses()) {
      return Error(absl::StatusCode::kFailedPrecondition, "VOUCHER_EXHAUSTED", "a quoted voucher has no use left", md);
    }
    voucher.set_uses(voucher.uses() + 1);
    if (voucher.uses() == voucher.max_uses()) voucher.set_state(v1::VOUCHER_STATE_EXHAUSTED);
    *voucher.mutable_update_time() = ToTimestamp(now);
    if (absl::Status s = tx.UpdateVoucher(voucher); !s.ok()) return s;
    out.add_voucher_codes(r.code());
  }
  return absl::OkStatus();
}

absl::Status PromotionService::ReleaseVouchers(StoreTxn& tx, const v1::Redemption& redemption, absl::Time now) {
  for (const std::string& code : redemption.voucher_codes()) {
    auto v = tx.Voucher(code);
    if (!v.ok()) return v.status();
    if (!*v) continue;
    v1::Voucher& voucher = **v;
    voucher.set_uses(std::max(0, voucher.uses() - 1));
    if (voucher.state() == v1::VOUCHER_STATE_EXHAUSTED) voucher.set_state(v1::VOUCHER_STATE_ACTIVE);
    *voucher.mutable_update_time() = ToTimestamp(now);
    if (absl::Status s = tx.UpdateVoucher(voucher); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace care::promotion
