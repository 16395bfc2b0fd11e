#include "services/loyalty/tiers.h"

#include <algorithm>

#include "services/loyalty/program.h"

namespace care::loyalty {
namespace {

bool HasReview(const Program& program, const Tier& tier) {
  return tier.rank != program.BaseTier().rank && tier.window.kind == WindowKind::kRolling;
}

}  // namespace

absl::Time WindowStart(const Tier& tier, absl::Time end, absl::TimeZone zone) {
  if (tier.window.kind != WindowKind::kRolling) return absl::InfinitePast();
  return AddMonths(end, -tier.window.rolling_months, zone);
}

absl::StatusOr<int64_t> TierSpend(const Tier& tier, absl::Time end, absl::Time books_end, absl::TimeZone zone,
                                  const SpendFn& spend) {
  return spend(WindowStart(tier, end, zone), books_end);
}

absl::StatusOr<const Tier*> QualifiedTier(const Program& program, absl::Time at, absl::Time books_end,
                                          const SpendFn& spend, int max_rank) {
  absl::TimeZone zone = LoadZone(program.time_zone);
  for (auto it = program.tiers.rbegin(); it != program.tiers.rend(); ++it) {
    const Tier& tier = *it;
    if (tier.rank > max_rank) continue;
    if (tier.qualifying_spend == 0) return &tier;
    auto s = TierSpend(tier, at, books_end, zone, spend);
    if (!s.ok()) return s.status();
    if (*s >= tier.qualifying_spend) return &tier;
  }
  return &program.BaseTier();
}

Standing EnterTier(const Program& program, const Tier& tier, absl::Time at, Standing previous) {
  Standing s = std::move(previous);
  s.tier_id = tier.tier_id;
  s.in_grace = false;
  s.achieved_time = at;
  s.grace_end_time.reset();
  s.review_time.reset();
  if (HasReview(program, tier)) {
    s.review_time = AddMonths(at, tier.window.rolling_months, LoadZone(program.time_zone));
  }
  return s;
}

absl::StatusOr<ReviewDecision> ReviewTier(const Program& program, const Standing& standing, absl::Time due,
                                          const SpendFn& spend) {
  ReviewDecision d;
  const Tier* tier = program.FindTier(standing.tier_id);
  if (tier == nullptr || !HasReview(program, *tier)) {
    // The program made the tier permanent (or it is the base): nothing to
    // review any more.
    d.kind = ReviewDecision::Kind::kKeep;
    return d;
  }
  absl::TimeZone zone = LoadZone(program.time_zone);
  auto met = TierSpend(*tier, due, due, zone, spend);
  if (!met.ok()) return met.status();
  if (*met >= tier->qualifying_spend) {
    d.kind = ReviewDecision::Kind::kKeep;
    d.next_review = AddMonths(due, tier->window.rolling_months, zone);
    return d;
  }
  if (!standing.in_grace && tier->retention.grace_period > absl::ZeroDuration()) {
    d.kind = ReviewDecision::Kind::kEnterGrace;
    d.grace_end = due + tier->retention.grace_period;
    return d;
  }
  d.kind = ReviewDecision::Kind::kDowngrade;
  if (tier->retention.downgrade_mode == DowngradeMode::kOneRank) {
    const Tier* lower = program.NextTierDown(tier->tier_id);
    d.downgrade_to = lower ? lower : &program.BaseTier();
    return d;
  }
  auto target = QualifiedTier(program, due, due, spend, tier->rank - 1);
  if (!target.ok()) return target.status();
  d.downgrade_to = *target;
  return d;
}

absl::StatusOr<const Tier*> DowngradeAfterReturn(const Program& program, const Standing& standing, absl::Time now,
                                                 const SpendFn& spend) {
  const Tier* tier = program.FindTier(standing.tier_id);
  if (tier == nullptr || tier->rank == program.BaseTier().rank ||
      tier->retention.return_downgrade != ReturnDowngrade::kImmediate) {
    return nullptr;
  }
  absl::TimeZone zone = LoadZone(program.time_zone);
  auto met = TierSpend(*tier, now, absl::InfiniteFuture(), zone, spend);
  if (!met.ok()) return met.status();
  if (*met >= tier->qualifying_spend) return nullptr;
  return QualifiedTier(program, now, absl::InfiniteFuture(), spend, tier->rank - 1);
}

absl::StatusOr<Projection> ProjectReach(const Program& program, const Tier& target, absl::Time deadline,
                                        const SpendFn& spend) {
  Projection p;
  p.tier = target;
  p.keep = false;
  p.deadline = deadline;
  absl::Time start = WindowStart(target, deadline, LoadZone(program.time_zone));
  if (start != absl::InfinitePast()) p.window_start = start;
  auto s = spend(start, absl::InfiniteFuture());
  if (!s.ok()) return s.status();
  p.qualifying_spend = *s;
  p.spend_needed = std::max<int64_t>(0, target.qualifying_spend - *s);
  return p;
}

absl::StatusOr<std::optional<Projection>> ProjectKeep(const Program& program, const Standing& standing,
                                                      const SpendFn& spend) {
  const Tier* tier = program.FindTier(standing.tier_id);
  std::optional<absl::Time> due = standing.DueTime();
  if (tier == nullptr || !due || !HasReview(program, *tier)) return std::nullopt;
  auto p = ProjectReach(program, *tier, *due, spend);
  if (!p.ok()) return p.status();
  p->keep = true;
  return std::optional<Projection>(*p);
}

}  // namespace care::loyalty
