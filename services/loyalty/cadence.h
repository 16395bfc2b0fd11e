#pragma once

// Care cadence rules without storage (care.loyalty.v1.CadenceRule): validating
// them, when a rule next reaches a member, and whom it targets. The job that
// sends the check-ins is LoyaltyService::RunCadence (jobs.cc).

#include <optional>
#include <vector>

#include "absl/time/time.h"
#include "common/errors.h"
#include "services/loyalty/model.h"

namespace care::loyalty {

inline constexpr int kMaxCadenceRules = 20;
// A since-enrolment check-in is sent this long after it came due at the
// latest: a service that was down catches up, and a rule added later does
// not greet members who joined years ago.
inline constexpr absl::Duration kCadenceCatchUp = absl::Hours(24 * 7);

// Adds every problem of `program.cadence_rules` to `errors`
// ("program.cadence_rules[i].<field>").
void ValidateCadenceRules(const Program& program, FieldErrors& errors);

// What the rules read of a member besides the profile.
struct CadenceFacts {
  absl::Time enrolled;
  std::optional<absl::Time> last_purchase;
};

// When `rule` next reaches a member with `facts` who had `had` from it:
// no purchase for `after` since the last one (or enrolment), and `period`
// since the last check-in; or `after` past enrolment, once, within
// kCadenceCatchUp of it. nullopt: never again. May be <= `now` (due).
std::optional<absl::Time> CadenceDue(const CadenceRule& rule, const CadenceFacts& facts, const CadenceContact& had,
                                     absl::Time now);

// Whether two lists of rules reach the same members at the same times (their
// names aside): if not, every member is looked at again.
bool SameCadenceRules(const std::vector<CadenceRule>& a, const std::vector<CadenceRule>& b);

// Whether the member is in the rule's tiers and segments now.
bool CadenceTargets(const CadenceRule& rule, const Member& member);

}  // namespace care::loyalty
