// The rewards catalogue (issue 22): admins keep rewards (a promotion voucher,
// a free item, a donation) with a points price, tiers, stock and dates;
// RedeemReward spends a member's points on one in one transaction, and a
// voucher reward is issued by promotion through the outbox, its points given
// back if promotion refuses it for good.

#include "services/loyalty/rewards.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "clients/promotion/goodwill_voucher.h"
#include "common/errors.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/proto_time.h"
#include "services/loyalty/loyalty_proto.h"
#include "services/loyalty/loyalty_service.h"
#include "services/loyalty/service_internal.h"

namespace care::loyalty {
namespace {

using Redemption = v1::RewardRedemption;
namespace promotion = care::clients::promotion;

// The reason code promotion records on a voucher bought with points.
constexpr char kRewardReasonCode[] = "REWARD";

absl::Status RewardNotFound(const std::string& reward_id) {
  return Error(absl::StatusCode::kNotFound, "REWARD_NOT_FOUND", absl::StrCat("no reward ", reward_id),
               {{"reward_id", reward_id}});
}

RewardTerms TermsOf(const v1::Reward& r) {
  RewardTerms t;
  t.reward_id = r.reward_id();
  t.archived = r.state() == v1::REWARD_STATE_ARCHIVED;
  if (r.has_start_time()) t.start_time = FromTimestamp(r.start_time());
  if (r.has_end_time()) t.end_time = FromTimestamp(r.end_time());
  t.tier_ids.assign(r.tier_ids().begin(), r.tier_ids().end());
  if (r.has_stock()) t.stock = r.stock();
  t.points_price = r.points_price();
  return t;
}

// Every tier a reward names must be in the program in force.
absl::Status CheckTiers(const v1::Reward& r, const Program& program) {
  for (int i = 0; i < r.tier_ids_size(); ++i) {
    if (program.FindTier(r.tier_ids(i)) == nullptr) {
      return InvalidField(absl::StrCat("reward.tier_ids[", i, "]"), absl::StrCat("no tier ", r.tier_ids(i)));
    }
  }
  return absl::OkStatus();
}

// The outbox event asking promotion for the voucher: sent once, answered
// once (request_id = the redemption id), filed under the member so that an
// erasure takes it with the redemption.
OutboxEvent VoucherEvent(const Redemption& r, const v1::Reward& reward) {
  promotion::GoodwillVoucher v;
  v.request_id = r.redemption_id();
  v.member_id = r.member_id();
  v.campaign_id = reward.promotion_voucher().campaign_id();
  v.reason_code = kRewardReasonCode;
  v.note = absl::StrCat("reward ", reward.reward_id(), ": ", reward.display_name());
  OutboxEvent event = promotion::IssueVoucherEvent(absl::StrCat("loyalty:reward:", r.redemption_id()), v);
  event.subject = MemberSubject(r.member_id());
  return event;
}

}  // namespace

absl::StatusOr<v1::Reward> LoyaltyService::CreateReward(const Once& once, v1::Reward reward) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  return WriteOnceAndCache<v1::Reward>(once, [&](StoreTxn& tx, Effects&, v1::Reward& out) -> absl::Status {
    auto program = CurrentProgram(tx);
    if (!program.ok()) return program.status();
    if (absl::Status s = CheckTiers(reward, *program); !s.ok()) return s;
    const absl::Time now = clock_.Now();
    reward.set_state(v1::REWARD_STATE_ACTIVE);
    reward.set_version(1);
    reward.set_redeemed_count(0);
    *reward.mutable_create_time() = ToTimestamp(now);
    *reward.mutable_update_time() = ToTimestamp(now);
    auto inserted = tx.InsertReward(reward);
    if (!inserted.ok()) return inserted.status();
    if (!*inserted) {
      return Error(absl::StatusCode::kAlreadyExists, "REWARD_ALREADY_EXISTS",
                   absl::StrCat("reward ", reward.reward_id(), " exists"), {{"reward_id", reward.reward_id()}});
    }
    out = reward;
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Reward> LoyaltyService::GetReward(const std::string& reward_id) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  return ReadValue<v1::Reward>([&](StoreTxn& tx) -> absl::StatusOr<v1::Reward> {
    auto r = tx.GetReward(reward_id);
    if (!r.ok()) return r.status();
    if (!*r) return RewardNotFound(reward_id);
    return **r;
  });
}

absl::StatusOr<std::vector<v1::Reward>> LoyaltyService::ListRewards(bool archived, const std::string& after,
                                                                    int limit) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  return ReadValue<std::vector<v1::Reward>>([&](StoreTxn& tx) { return tx.ListRewards(archived, after, limit); });
}

absl::StatusOr<v1::Reward> LoyaltyService::UpdateReward(const Once& once, const v1::Reward& patch,
                                                        const std::set<std::string>& paths) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  return WriteOnceAndCache<v1::Reward>(once, [&](StoreTxn& tx, Effects&, v1::Reward& out) -> absl::Status {
    auto stored = tx.GetReward(patch.reward_id());
    if (!stored.ok()) return stored.status();
    if (!*stored) return RewardNotFound(patch.reward_id());
    v1::Reward r = **stored;
    if (patch.version() != 0 && patch.version() != r.version()) {
      return Error(absl::StatusCode::kAborted, "VERSION_MISMATCH", "the reward changed since it was read",
                   {{"current_version", absl::StrCat(r.version())}});
    }
    if (r.state() == v1::REWARD_STATE_ARCHIVED) {
      return FailedPrecondition("REWARD_ARCHIVED", "an archived reward does not change");
    }
    for (const std::string& path : paths) {
      if (path == "display_name") r.set_display_name(patch.display_name());
      if (path == "localized_display_names") *r.mutable_localized_display_names() = patch.localized_display_names();
      if (path == "description") r.set_description(patch.description());
      if (path == "points_price") r.set_points_price(patch.points_price());
      if (path == "tier_ids") *r.mutable_tier_ids() = patch.tier_ids();
      if (path == "stock") {
        if (patch.has_stock()) {
          r.set_stock(patch.stock());
        } else {
          r.clear_stock();
        }
      }
      if (path == "start_time") *r.mutable_start_time() = patch.start_time();
      if (path == "end_time") *r.mutable_end_time() = patch.end_time();
      if (path == "start_time" && !patch.has_start_time()) r.clear_start_time();
      if (path == "end_time" && !patch.has_end_time()) r.clear_end_time();
    }
    if (r.has_start_time() && r.has_end_time() && FromTimestamp(r.end_time()) <= FromTimestamp(r.start_time())) {
      return InvalidField("reward.end_time", "must be after start_time");
    }
    auto program = CurrentProgram(tx);
    if (!program.ok()) return program.status();
    if (absl::Status s = CheckTiers(r, *program); !s.ok()) return s;
    r.set_version(r.version() + 1);
    *r.mutable_update_time() = ToTimestamp(clock_.Now());
    if (absl::Status s = tx.SaveReward(r); !s.ok()) return s;
    out = r;
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Reward> LoyaltyService::ArchiveReward(const Once& once, const std::string& reward_id) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  return WriteOnceAndCache<v1::Reward>(once, [&](StoreTxn& tx, Effects&, v1::Reward& out) -> absl::Status {
    auto stored = tx.GetReward(reward_id);
    if (!stored.ok()) return stored.status();
    if (!*stored) return RewardNotFound(reward_id);
    out = **stored;
    if (out.state() == v1::REWARD_STATE_ARCHIVED) return absl::OkStatus();
    out.set_state(v1::REWARD_STATE_ARCHIVED);
    out.set_version(out.version() + 1);
    *out.mutable_update_time() = ToTimestamp(clock_.Now());
    return tx.SaveReward(out);
  });
}

absl::StatusOr<v1::RewardRedemption> LoyaltyService::RedeemReward(const Once& once, const std::string& member_id,
                                                                  const std::string& reward_id, const Actor& actor) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  const Once tagged = AboutMember(once, member_id);
  return WriteOnceAndCache<Redemption>(tagged, [&](StoreTxn& tx, Effects&, Redemption& out) -> absl::Status {
    const absl::Time now = clock_.Now();
    auto m = LoadMember(tx, member_id);
    if (!m.ok()) return m.status();
    auto stored = tx.GetReward(reward_id);
    if (!stored.ok()) return stored.status();
    if (!*stored) return RewardNotFound(reward_id);
    v1::Reward reward = **stored;
    // Stock, balance and tier are read and written in this one transaction
    // (one writer; PostgreSQL's serializable retries), so concurrent
    // redemptions never take the stock below 0 nor spend a point twice.
    if (absl::Status s = CheckRedeemable(TermsOf(reward), m->tier.tier_id, m->points_balance, now); !s.ok()) return s;
    auto program = CurrentProgram(tx);
    if (!program.ok()) return program.status();
    auto issued = IssueReward(tx, *m, *program, reward, reward.points_price(), "", actor, now);
    if (!issued.ok()) return issued.status();
    out = std::move(*issued);
    return tx.SaveMember(*m);
  });
}

absl::StatusOr<v1::RewardRedemption> LoyaltyService::IssueReward(StoreTxn& tx, Member& m, const Program& program,
                                                                 v1::Reward reward, int64_t points,
                                                                 const std::string& occasion_id, const Actor& actor,
                                                                 absl::Time now) {
  Redemption out;
  out.set_redemption_id(NewId("rr-"));
  LedgerEntry entry;
  entry.kind = EntryKind::kReward;
  entry.points_delta = -points;
  entry.create_time = now;
  entry.effective_time = now;
  entry.program_version = program.version;
  entry.actor = actor.name;
  entry.request_id = actor.request_id;
  entry.cause = RewardCause{reward.reward_id(), reward.display_name(), out.redemption_id(), "", occasion_id};
  if (absl::Status s = Post(tx, program, m, entry, std::nullopt); !s.ok()) return s;

  if (reward.has_stock()) reward.set_stock(reward.stock() - 1);
  reward.set_redeemed_count(reward.redeemed_count() + 1);
  if (absl::Status s = tx.SaveReward(reward); !s.ok()) return s;

  out.set_member_id(m.member_id);
  out.set_reward_id(reward.reward_id());
  out.set_reward_display_name(reward.display_name());
  *out.mutable_localized_reward_names() = reward.localized_display_names();
  out.set_points(points);
  out.set_entry_id(entry.entry_id());
  out.set_request_id(actor.request_id);
  out.set_occasion_id(occasion_id);
  *out.mutable_create_time() = ToTimestamp(now);
  *out.mutable_update_time() = ToTimestamp(now);
  switch (reward.kind_case()) {
    case v1::Reward::kPromotionVoucher:
      out.set_state(Redemption::ISSUING);
      out.set_campaign_id(reward.promotion_voucher().campaign_id());
      if (absl::Status s = tx.Enqueue(VoucherEvent(out, reward)); !s.ok()) return s;
      break;
    case v1::Reward::kFreeItem:
      out.set_state(Redemption::FULFILLED);
      out.set_sku(reward.free_item().sku());
      break;
    case v1::Reward::kDonation:
      out.set_state(Redemption::FULFILLED);
      out.set_charity_name(reward.donation().charity_name());
      break;
    default:
      return absl::InternalError("a stored reward has no kind");
  }
  if (absl::Status s = tx.SaveRedemption(out, entry.sequence); !s.ok()) return s;
  return out;
}

absl::StatusOr<std::optional<v1::RewardRedemption>> LoyaltyService::GiveOccasionReward(
    StoreTxn& tx, Member& m, const Program& program, const Occasion& o, absl::Time now) {
  if (o.reward_id.empty()) return std::nullopt;
  auto stored = tx.GetReward(o.reward_id);
  if (!stored.ok()) return stored.status();
  // Not logged per member: past the stock, a whole membership would log a
  // line each. The member's redemptions show what was given.
  if (!*stored) return std::nullopt;
  // A gift costs no points; stock, dates and tiers hold as for a purchase,
  // when the gift is given.
  RewardTerms terms = TermsOf(**stored);
  terms.points_price = 0;
  if (!CheckRedeemable(terms, m.tier.tier_id, m.points_balance, now).ok()) return std::nullopt;
  auto issued = IssueReward(tx, m, program, **stored, 0, o.occasion_id, Actor{std::string(kSystem), ""}, now);
  if (!issued.ok()) return issued.status();
  return std::move(*issued);
}

absl::StatusOr<v1::RewardRedemption> LoyaltyService::GetRedemption(const std::string& redemption_id) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  return ReadValue<Redemption>([&](StoreTxn& tx) -> absl::StatusOr<Redemption> {
    auto r = tx.GetRedemption(redemption_id);
    if (!r.ok()) return r.status();
    if (!*r) {
      return Error(absl::StatusCode::kNotFound, "REDEMPTION_NOT_FOUND", absl::StrCat("no redemption ", redemption_id),
                   {{"redemption_id", redemption_id}});
    }
    return **r;
  });
}

absl::StatusOr<std::vector<v1::RewardRedemption>> LoyaltyService::ListRedemptions(const std::string& member_id,
                                                                                  int64_t before, int limit) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  return ReadValue<std::vector<Redemption>>([&](StoreTxn& tx) -> absl::StatusOr<std::vector<Redemption>> {
    auto m = tx.GetMember(member_id);
    if (!m.ok()) return m.status();
    if (!m->has_value()) return MissingMember(tx, member_id);
    return tx.ListRedemptions(member_id, before, limit);
  });
}

absl::Status LoyaltyService::RewardVoucherOutcome(StoreTxn& tx, const OutboxEvent& event, const absl::Status& result,
                                                  const std::string& response) {
  std::optional<promotion::GoodwillVoucher> sent = promotion::ParseGoodwillVoucher(event.payload);
  if (!sent || sent->campaign_id.empty()) return absl::OkStatus();  // not a reward's voucher
  auto stored = tx.GetRedemption(sent->request_id);
  if (!stored.ok()) return stored.status();
  // Gone with an erased member, or already settled by an earlier outcome.
  if (!*stored || (*stored)->state() != Redemption::ISSUING) return absl::OkStatus();
  Redemption r = **stored;
  const absl::Time now = clock_.Now();
  *r.mutable_update_time() = ToTimestamp(now);
  if (result.ok()) {
    std::optional<std::string> code = promotion::IssuedVoucherCode(response);
    if (!code || code->empty()) return absl::InternalError("promotion's IssueVoucher answer has no code");
    r.set_state(Redemption::ISSUED);
    r.set_voucher_code(*code);
    return tx.SaveRedemption(r, RedemptionSequence(r));
  }
  // Refused for good: the points come back (a fresh lot, expiring like any
  // credit now) and the unit returns to the stock.
  auto m = LoadMember(tx, r.member_id());
  if (!m.ok()) return m.status();
  auto program = CurrentProgram(tx);
  if (!program.ok()) return program.status();
  std::string reason = ErrorReason(result);
  if (reason.empty()) reason = absl::StatusCodeToString(result.code());
  LedgerEntry entry;
  entry.kind = EntryKind::kRewardRefund;
  entry.points_delta = r.points();
  entry.create_time = now;
  entry.effective_time = now;
  entry.program_version = program->version;
  entry.actor = kSystem;
  entry.cause = RewardCause{r.reward_id(), r.reward_display_name(), r.redemption_id(), reason, r.occasion_id()};
  if (absl::Status s = Post(tx, *program, *m, entry, LotExpiry(*program, now)); !s.ok()) return s;
  if (absl::Status s = tx.SaveMember(*m); !s.ok()) return s;
  auto reward = tx.GetReward(r.reward_id());
  if (!reward.ok()) return reward.status();
  if (*reward) {
    v1::Reward back = **reward;
    if (back.has_stock()) back.set_stock(back.stock() + 1);
    back.set_redeemed_count(std::max<int64_t>(0, back.redeemed_count() - 1));
    if (absl::Status s = tx.SaveReward(back); !s.ok()) return s;
  }
  r.set_state(Redemption::REFUNDED);
  r.set_refund_reason(reason);
  r.set_refund_entry_id(entry.entry_id());
  LogWarn("reward voucher refused by promotion: points refunded",
          {{"redemption_id", r.redemption_id()}, {"reason", reason}});
  return tx.SaveRedemption(r, RedemptionSequence(r));
}

}  // namespace care::loyalty
