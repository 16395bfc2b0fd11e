#pragma once

// Occasions without storage (care.loyalty.v1.Occasion): validating them,
// when an occurrence starts in a time zone, and whom it targets. The job that
// grants them is LoyaltyService::GrantOccasions (jobs.cc).

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/errors.h"
#include "services/loyalty/model.h"

namespace care::loyalty {

// An occurrence is granted from the local start of its day for this long:
// a service that was down catches up, and a gift is never months late.
inline constexpr absl::Duration kOccasionCatchUp = absl::Hours(24 * 7);
inline constexpr int kMaxOccasions = 20;

// Whether `id` is an occasion or cadence rule id: 1..64 of [a-z0-9_-].
bool ProgramSlug(const std::string& id);
// Adds the problems of a rule's audience to `errors` ("<at>.tier_ids[i]",
// "<at>.segments[i]"): at most 20 of each, tiers of the program, segments
// 1..64 characters.
void ValidateAudience(const Program& program, const std::vector<std::string>& tier_ids,
                      const std::vector<std::string>& segments, const std::string& at, FieldErrors& errors);

// Adds every problem of `program.occasions` to `errors` ("program.occasions[i].<field>").
void ValidateOccasions(const Program& program, FieldErrors& errors);

struct Occurrence {
  int number = 0;  // the year of a date, or the anniversary number
  absl::Time start;
};

// The occurrence of a dated occasion whose local day started in `zone` at
// most kOccasionCatchUp before `now`; nullopt if none is being granted.
std::optional<Occurrence> DueDateOccurrence(const Occasion& occasion, absl::Time now, absl::TimeZone zone);

// The local start of the `n`th anniversary of the local day `enrolled` fell
// on (29 February: 28 February in common years).
absl::Time AnniversaryStart(absl::Time enrolled, int n, absl::TimeZone zone);
// The first anniversary (n >= 1) whose local day is not before the local day
// of `from`.
Occurrence NextAnniversary(absl::Time enrolled, absl::Time from, absl::TimeZone zone);

// Whether `occasion` gives `member` its occurrence starting at `start`: the
// member enrolled before it, and is in one of its tiers and segments.
bool Targets(const Occasion& occasion, const Member& member, absl::Time start);
// For an anniversary occasion: whether it is given on anniversary `n`.
bool OnAnniversary(const Occasion& occasion, int n);

}  // namespace care::loyalty
