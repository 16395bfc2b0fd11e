#pragma once

// Rules of the program that need no storage: validating a program version,
// scoring a purchase, reversing a return, and the calendar arithmetic that
// windows, expiry, visits and birthdays are defined in.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "common/errors.h"
#include "services/loyalty/model.h"

namespace care::loyalty {

// Checks a program version before it is stored; every problem is added to
// `errors` under "program.<field>" (tiers by their index in the request).
// Sorts the tiers by rank when nothing was wrong with them.
void ValidateProgram(Program& program, FieldErrors& errors);

// True when members holding `tier_id` would see a different snapshot (name,
// rank or benefits) under `after` than under `before`.
bool TierDisplayChanged(const Program& before, const Program& after, const std::string& tier_id);
// True when `after` may qualify members for a higher tier than `before` did:
// a threshold lowered, a window changed, or a tier added.
bool ThresholdsLoosened(const Program& before, const Program& after);

// ROUND(a * b / c) with `rounding`, in exact integer arithmetic (c > 0).
int64_t MulDivRound(int64_t a, int64_t b, int64_t c, Rounding rounding);

// Points an order earns (see care.loyalty.v1.EarnRule):
// ROUND(amount * points_per_unit * multiplier_bps / (unit_amount * 10000)),
// exact in 128 bits; nullopt when that is more than kMaxPointsPerEntry
// (common/bounds.h), which the rule's maxima reach well before 2^63.
std::optional<int64_t> EarnPoints(int64_t amount, const EarnRule& rule, int multiplier_bps);

// Cumulative points to take back once `total_returned` of an order worth
// `amount` came back: ROUND(earned * total_returned / amount) with the EARN
// entry's rounding, so a full return takes back exactly what was earned.
int64_t ReversalTarget(const Purchase& purchase, int64_t total_returned);

// ----------------------------------------------------------------- calendar

// A loaded IANA time zone; `name` must be valid (validated at the edge).
absl::TimeZone LoadZone(const std::string& name);

// `t` moved by `months` calendar months in `zone`, keeping the local time of
// day; a day past the end of the target month becomes its last day
// (31 January + 1 month = 28/29 February).
absl::Time AddMonths(absl::Time t, int months, absl::TimeZone zone);

// When points credited at `credited` expire: the start of the month after
// the month `months` months after the month of `credited` (local). Null
// when months == 0 (never).
std::optional<absl::Time> ExpiryTime(absl::Time credited, int months, absl::TimeZone zone);

// Local calendar day of `t` as days since 1970-01-01: a visit key.
int64_t LocalDay(absl::Time t, absl::TimeZone zone);

// Local start of the first birthday on or after the local day of `from`
// (29 February falls on 28 February in common years), and its year.
struct BirthdayInstant {
  absl::Time start;
  int year;
};
BirthdayInstant NextBirthday(const BirthDate& birthday, absl::Time from, absl::TimeZone zone);
// The same, for a given calendar year.
absl::Time BirthdayStart(const BirthDate& birthday, int year, absl::TimeZone zone);

}  // namespace care::loyalty
