// Points: redemptions, adjustments, the ledger, balances and tier projections.

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "services/loyalty/loyalty_proto.h"
#include "services/loyalty/loyalty_service.h"
#include "services/loyalty/service_internal.h"

namespace care::loyalty {

absl::StatusOr<v1::RedeemPointsResponse> LoyaltyService::Redeem(const Once& once, const RedeemCommand& cmd,
                                                                const Actor& actor) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  const Once tagged = AboutMember(once, cmd.member_id);
  return WriteOnceAndCache<v1::RedeemPointsResponse>(
      tagged, [&](StoreTxn& tx, Effects&, v1::RedeemPointsResponse& response) -> absl::Status {
        auto r = RedeemIn(tx, cmd, actor);
        if (!r.ok()) return r.status();
        response = PointsResponse<v1::RedeemPointsResponse>(*r);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::AdjustPointsResponse> LoyaltyService::Adjust(const Once& once, const AdjustCommand& cmd,
                                                                const Actor& actor) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  const Once tagged = AboutMember(once, cmd.member_id);
  return WriteOnceAndCache<v1::AdjustPointsResponse>(
      tagged, [&](StoreTxn& tx, Effects&, v1::AdjustPointsResponse& response) -> absl::Status {
        auto r = AdjustIn(tx, cmd, actor);
        if (!r.ok()) return r.status();
        response = PointsResponse<v1::AdjustPointsResponse>(*r);
        return absl::OkStatus();
      });
}

absl::StatusOr<std::vector<v1::LedgerEntry>> LoyaltyService::ListEntries(const EntryFilter& filter, int64_t before,
                                                                         int limit) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  return ReadValue<std::vector<v1::LedgerEntry>>([&](StoreTxn& tx) -> absl::StatusOr<std::vector<v1::LedgerEntry>> {
    auto m = tx.GetMember(filter.member_id);
    if (!m.ok()) return m.status();
    // An erased member's ledger stays, under its pseudonym, for accounting.
    if (!m->has_value() && !IsPseudonym(filter.member_id)) return MissingMember(tx, filter.member_id);
    auto entries = tx.ListEntries(filter, before, limit);
    if (!entries.ok()) return entries.status();
    auto program = CurrentProgram(tx);
    if (!program.ok()) return program.status();
    std::vector<v1::LedgerEntry> out;
    out.reserve(entries->size());
    for (const LedgerEntry& e : *entries) out.push_back(EntryToProto(e, program->currency_code));
    return out;
  });
}

absl::StatusOr<v1::PointsBalance> LoyaltyService::GetBalance(const std::string& member_id,
                                                             std::optional<absl::Duration> horizon) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  return ReadValue<v1::PointsBalance>([&](StoreTxn& tx) -> absl::StatusOr<v1::PointsBalance> {
    auto b = BalanceIn(tx, member_id, horizon);
    if (!b.ok()) return b.status();
    return BalanceToProto(*b);
  });
}

absl::StatusOr<v1::TierSnapshot> LoyaltyService::GetTier(const std::string& member_id) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  if (cache_ == nullptr) return ReadTier(member_id);
  return cache_->Get(member_id, [this](absl::string_view id) { return ReadTier(std::string(id)); });
}

absl::StatusOr<v1::TierSnapshot> LoyaltyService::ReadTier(const std::string& member_id) {
  auto snapshot = ReadValue<TierSnapshot>([&](StoreTxn& tx) { return LoadSnapshot(tx, member_id); });
  if (!snapshot.ok()) return snapshot.status();
  // Compare-and-set by version: a concurrent newer write is never undone.
  if (cache_ != nullptr) PutTier(*snapshot).IgnoreError();
  return SnapshotToProto(*snapshot);
}

absl::StatusOr<v1::ProjectTierResponse> LoyaltyService::ProjectTier(const std::string& member_id,
                                                                    const std::string& target,
                                                                    std::optional<absl::Time> by_time) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  return ReadValue<v1::ProjectTierResponse>([&](StoreTxn& tx) -> absl::StatusOr<v1::ProjectTierResponse> {
    auto r = ProjectTierIn(tx, member_id, target, by_time);
    if (!r.ok()) return r.status();
    return ProjectionResponse(*r);
  });
}

absl::StatusOr<PointsResult> LoyaltyService::RedeemIn(StoreTxn& tx, const RedeemCommand& cmd, const Actor& actor) {
  absl::Time now = clock_.Now();
  auto m = LoadMember(tx, cmd.member_id);
  if (!m.ok()) return m.status();
  if (cmd.points > m->points_balance) {
    return Error(absl::StatusCode::kFailedPrecondition, "INSUFFICIENT_POINTS",
                 absl::StrCat("the balance is ", m->points_balance, " points, ", cmd.points, " were asked"),
                 {{"balance", absl::StrCat(m->points_balance)}, {"requested", absl::StrCat(cmd.points)}});
  }
  auto program = CurrentProgram(tx);
  if (!program.ok()) return program.status();
  LedgerEntry entry;
  entry.kind = EntryKind::kRedeem;
  entry.points_delta = -cmd.points;
  entry.create_time = now;
  entry.effective_time = now;
  entry.program_version = program->version;
  entry.actor = actor.name;
  entry.request_id = actor.request_id;
  entry.order_id = cmd.order_id;
  entry.cause = RedemptionCause{cmd.order_id, cmd.description};
  if (absl::Status s = Post(tx, *program, *m, entry, std::nullopt); !s.ok()) return s;
  if (absl::Status s = tx.SaveMember(*m); !s.ok()) return s;
  return PointsResult{entry, m->points_balance};
}

absl::StatusOr<PointsResult> LoyaltyService::AdjustIn(StoreTxn& tx, const AdjustCommand& cmd, const Actor& actor) {
  absl::Time now = clock_.Now();
  auto m = LoadMember(tx, cmd.member_id);
  if (!m.ok()) return m.status();
  if (-cmd.points_delta > m->points_balance) {
    return Error(absl::StatusCode::kFailedPrecondition, "INSUFFICIENT_POINTS",
                 absl::StrCat("the balance is ", m->points_balance, " points, ", -cmd.points_delta,
                              " were to be removed"),
                 {{"balance", absl::StrCat(m->points_balance)}, {"requested", absl::StrCat(-cmd.points_delta)}});
  }
  auto program = CurrentProgram(tx);
  if (!program.ok()) return program.status();
  LedgerEntry entry;
  entry.kind = EntryKind::kAdjust;
  entry.points_delta = cmd.points_delta;
  entry.create_time = now;
  entry.effective_time = now;
  entry.program_version = program->version;
  entry.actor = actor.name;
  entry.request_id = actor.request_id;
  entry.cause = AdjustmentCause{cmd.reason_code, cmd.complaint_id, cmd.note};
  if (absl::Status s = Post(tx, *program, *m, entry, LotExpiry(*program, now)); !s.ok()) return s;
  if (absl::Status s = tx.SaveMember(*m); !s.ok()) return s;
  return PointsResult{entry, m->points_balance};
}

absl::StatusOr<Balance> LoyaltyService::BalanceIn(StoreTxn& tx, const std::string& member_id,
                                                  std::optional<absl::Duration> horizon) {
  absl::Time now = clock_.Now();
  auto m = LoadMember(tx, member_id);
  if (!m.ok()) return m.status();
  auto program = CurrentProgram(tx);
  if (!program.ok()) return program.status();
  auto sums = tx.SumByKind(member_id);
  if (!sums.ok()) return sums.status();
  auto sum = [&](EntryKind k) {
    auto it = sums->find(k);
    return it == sums->end() ? int64_t{0} : it->second;
  };
  Balance b;
  b.member_id = member_id;
  b.balance = m->points_balance;
  b.lifetime_earned = sum(EntryKind::kEarn);
  b.lifetime_bonus = sum(EntryKind::kBonus) + sum(EntryKind::kVisitReward);
  b.lifetime_adjusted = sum(EntryKind::kAdjust);
  // Rewards count as redeemed, net of the ones given back.
  b.lifetime_redeemed = -sum(EntryKind::kRedeem) - sum(EntryKind::kReward) - sum(EntryKind::kRewardRefund);
  b.lifetime_reversed = -sum(EntryKind::kReverse);
  b.lifetime_expired = -sum(EntryKind::kExpire);
  if (!horizon) {
    horizon = program->points_expiry && program->points_expiry->warning_lead > absl::ZeroDuration()
                  ? program->points_expiry->warning_lead
                  : absl::Hours(24 * 30);
  }
  b.expiring_soon_until = now + *horizon;
  // The horizon spans at most 13 monthly expiry instants.
  auto upcoming = tx.UpcomingExpiries(member_id, 24);
  if (!upcoming.ok()) return upcoming.status();
  for (const MemberExpiry& e : *upcoming) {
    if (e.expire_time <= b.expiring_soon_until) b.expiring_soon += e.points;
  }
  if (upcoming->size() > 12) upcoming->resize(12);
  b.upcoming = std::move(*upcoming);
  b.as_of = now;
  return b;
}

absl::StatusOr<TierSnapshot> LoyaltyService::LoadSnapshot(StoreTxn& tx, const std::string& member_id) {
  auto m = LoadMember(tx, member_id);
  if (!m.ok()) return m.status();
  return SnapshotOf(tx, *m);
}

absl::StatusOr<TierProjectionResult> LoyaltyService::ProjectTierIn(StoreTxn& tx, const std::string& member_id,
                                                                   const std::string& target,
                                                                   std::optional<absl::Time> by_time) {
  absl::Time now = clock_.Now();
  auto view = LoadMemberView(tx, member_id);
  if (!view.ok()) return view.status();
  auto program = CurrentProgram(tx);
  if (!program.ok()) return program.status();
  TierProjectionResult r;
  r.as_of = now;
  r.currency = program->currency_code;
  const Member& m = view->member;
  SpendFn spend = SpendOf(tx, m);
  const Tier* held = program->FindTier(m.tier.tier_id);
  int held_rank = held ? held->rank : program->BaseTier().rank;
  absl::Time deadline = by_time.value_or(now);

  const Tier* reach = nullptr;
  bool keep = false;
  if (target.empty()) {
    keep = true;
    reach = program->NextTierUp(m.tier.tier_id);
  } else {
    const Tier* t = program->FindTier(target);
    if (t == nullptr) return NotFound("TIER_NOT_FOUND", absl::StrCat("no tier ", target, " in the program"));
    if (t->rank < held_rank) return InvalidField("target_tier_id", "is below the member's current tier");
    if (t->rank == held_rank) {
      keep = true;
    } else {
      reach = t;
    }
  }
  if (keep) {
    auto k = ProjectKeep(*program, m.tier, spend);
    if (!k.ok()) return k.status();
    if (*k) r.projections.push_back(**k);
  }
  if (reach != nullptr) {
    auto p = ProjectReach(*program, *reach, deadline, spend);
    if (!p.ok()) return p.status();
    r.projections.push_back(*p);
  }
  r.member = std::move(*view);
  return r;
}

}  // namespace care::loyalty
