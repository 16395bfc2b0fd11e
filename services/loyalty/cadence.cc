#include "services/loyalty/cadence.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/localized.h"
#include "services/loyalty/occasions.h"

namespace care::loyalty {
namespace {

constexpr absl::Duration kMinCadence = absl::Hours(24);
constexpr absl::Duration kMaxCadence = absl::Hours(24 * 3660);

void RequireCadence(const std::string& field, absl::Duration d, FieldErrors& errors) {
  if (d < kMinCadence || d > kMaxCadence) errors.Add(field, "must be 1 day..3660 days");
}

void ValidateRule(const Program& p, const CadenceRule& r, const std::string& at, FieldErrors& errors) {
  if (!ProgramSlug(r.rule_id)) errors.Add(at + ".rule_id", "must be 1..64 characters of [a-z0-9_-]");
  if (errors.RequireNonEmpty(at + ".display_name", r.display_name)) {
    errors.RequireMaxLength(at + ".display_name", r.display_name, 100);
  }
  ValidateLocalizedTexts(errors, at + ".localized_display_names", r.localized_display_names, 100);
  switch (r.trigger) {
    case CadenceRule::Trigger::kNoPurchaseFor:
      RequireCadence(at + ".no_purchase_for", r.after, errors);
      RequireCadence(at + ".period", r.period, errors);
      break;
    case CadenceRule::Trigger::kSinceEnrolment:
      RequireCadence(at + ".since_enrolment", r.after, errors);
      if (r.period != absl::ZeroDuration()) errors.Add(at + ".period", "not allowed with since_enrolment (once)");
      break;
    case CadenceRule::Trigger::kNone:
      errors.Add(at + ".trigger", "one of no_purchase_for or since_enrolment is required");
      break;
  }
  ValidateAudience(p, r.tier_ids, r.segments, at, errors);
  if (r.action == CadenceRule::Action::kUnknown) errors.Add(at + ".action", "must be MESSAGE or AGENT_TASK");
  if (!r.team_id.empty()) {
    if (r.action != CadenceRule::Action::kAgentTask) {
      errors.Add(at + ".team_id", "only with action AGENT_TASK");
    } else {
      errors.RequireId(at + ".team_id", r.team_id);
    }
  }
}

}  // namespace

void ValidateCadenceRules(const Program& p, FieldErrors& errors) {
  if (p.cadence_rules.size() > static_cast<size_t>(kMaxCadenceRules)) {
    errors.Add("program.cadence_rules", absl::StrCat("at most ", kMaxCadenceRules));
    return;
  }
  std::set<std::string> ids;
  for (size_t i = 0; i < p.cadence_rules.size(); ++i) {
    const std::string at = absl::StrCat("program.cadence_rules[", i, "]");
    ValidateRule(p, p.cadence_rules[i], at, errors);
    if (!ids.insert(p.cadence_rules[i].rule_id).second) errors.Add(at + ".rule_id", "duplicate");
  }
}

std::optional<absl::Time> CadenceDue(const CadenceRule& rule, const CadenceFacts& facts, const CadenceContact& had,
                                     absl::Time now) {
  switch (rule.trigger) {
    case CadenceRule::Trigger::kNoPurchaseFor: {
      const absl::Time quiet_since = std::max(facts.enrolled, facts.last_purchase.value_or(absl::InfinitePast()));
      absl::Time due = quiet_since + rule.after;
      if (had.contacts > 0) due = std::max(due, had.last + rule.period);
      return due;
    }
    case CadenceRule::Trigger::kSinceEnrolment: {
      if (had.contacts > 0) return std::nullopt;
      const absl::Time due = facts.enrolled + rule.after;
      if (now - due >= kCadenceCatchUp) return std::nullopt;
      return due;
    }
    case CadenceRule::Trigger::kNone:
      break;
  }
  return std::nullopt;
}

bool SameCadenceRules(const std::vector<CadenceRule>& a, const std::vector<CadenceRule>& b) {
  auto fields = [](const CadenceRule& r) {
    // Names, action and team are left out: they change no one's due time.
    return std::tie(r.rule_id, r.trigger, r.after, r.period, r.tier_ids, r.segments);
  };
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [&](const CadenceRule& x, const CadenceRule& y) { return fields(x) == fields(y); });
}

bool CadenceTargets(const CadenceRule& rule, const Member& m) {
  if (!rule.tier_ids.empty() &&
      std::find(rule.tier_ids.begin(), rule.tier_ids.end(), m.tier.tier_id) == rule.tier_ids.end()) {
    return false;
  }
  return rule.segments.empty() ||
         std::find(rule.segments.begin(), rule.segments.end(), m.profile.segment) != rule.segments.end();
}

}  // namespace care::loyalty
