#pragma once

// Tier rules (see the "Tiers" section of loyalty.proto): which tier a
// member's spend qualifies for, what a review decides, where a downgrade
// lands, and projections ("spend X more by D to reach or keep T"). Spend
// comes from a callback, so the rules need no storage.

#include <climits>
#include <cstdint>
#include <functional>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/loyalty/model.h"

namespace care::loyalty {

// Net spend (purchases minus returns) of one member with purchase_time in
// (start, end]; start = InfinitePast for LIFETIME windows. The start is
// excluded so that the purchase that reached a tier at t no longer counts at
// the review t + N months.
using SpendFn = std::function<absl::StatusOr<int64_t>(absl::Time start, absl::Time end)>;

// Start of `tier`'s qualification window ending at `end` (InfinitePast for
// LIFETIME).
absl::Time WindowStart(const Tier& tier, absl::Time end, absl::TimeZone zone);

// Qualifying spend for `tier` in its window ending at `end`. Pass
// InfiniteFuture as `books_end` to count everything on the books (a
// purchase may be stamped a few minutes ahead of the server clock).
absl::StatusOr<int64_t> TierSpend(const Tier& tier, absl::Time end, absl::Time books_end, absl::TimeZone zone,
                                  const SpendFn& spend);

// The highest tier whose qualifying spend (each in its own window ending at
// `at`) meets its threshold; the base tier at least. Tiers above `max_rank`
// are not considered.
absl::StatusOr<const Tier*> QualifiedTier(const Program& program, absl::Time at, absl::Time books_end,
                                          const SpendFn& spend, int max_rank = INT32_MAX);

// The standing of a member who enters `tier` at `at`: qualified, achieved
// then, reviewed after its rolling window (LIFETIME and base: never).
// Version and snapshot fields are left to the caller.
Standing EnterTier(const Program& program, const Tier& tier, absl::Time at, Standing previous);

// What a review (or the end of a grace period) decides.
struct ReviewDecision {
  enum class Kind { kKeep, kEnterGrace, kDowngrade };
  Kind kind = Kind::kKeep;
  const Tier* downgrade_to = nullptr;     // kDowngrade
  std::optional<absl::Time> next_review;  // kKeep; unset: no more reviews
  absl::Time grace_end;                   // kEnterGrace
};

// Decides the standing's review due at `due` (its review_time, or its
// grace_end_time when in grace), with the spend of the window ending then.
absl::StatusOr<ReviewDecision> ReviewTier(const Program& program, const Standing& standing, absl::Time due,
                                          const SpendFn& spend);

// Where a return that takes the spend below the current tier's threshold
// lands under RETURN_DOWNGRADE_IMMEDIATE; null when the tier is still met or
// the rule is AT_REVIEW.
absl::StatusOr<const Tier*> DowngradeAfterReturn(const Program& program, const Standing& standing, absl::Time now,
                                                 const SpendFn& spend);

struct Projection {
  Tier tier;
  bool keep = false;  // KEEP (else REACH)
  int64_t qualifying_spend = 0;
  int64_t spend_needed = 0;
  absl::Time deadline;
  std::optional<absl::Time> window_start;  // unset for LIFETIME
  bool achieved() const { return spend_needed == 0; }
};

// REACH `target` by `deadline`: spend on the books that still counts then.
absl::StatusOr<Projection> ProjectReach(const Program& program, const Tier& target, absl::Time deadline,
                                        const SpendFn& spend);
// KEEP the current tier at its review (or grace end); none when the tier
// has no review.
absl::StatusOr<std::optional<Projection>> ProjectKeep(const Program& program, const Standing& standing,
                                                      const SpendFn& spend);

}  // namespace care::loyalty
