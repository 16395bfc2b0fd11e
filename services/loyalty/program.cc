#include "services/loyalty/program.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/bounds.h"
#include "common/localized.h"
#include "services/loyalty/cadence.h"
#include "services/loyalty/occasions.h"

namespace care::loyalty {
namespace {

bool IsTierId(const std::string& id) {
  if (id.empty() || id.size() > 32) return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; });
}

void ValidateBenefits(const TierBenefits& b, const std::string& at, FieldErrors& errors) {
  errors.RequireRange(at + ".discount_bps", b.discount_bps, 0, 10000);
  errors.RequireRange(at + ".points_multiplier_bps", b.points_multiplier_bps, 1, 100000);
  if (b.support_priority == SupportPriority::kUnspecified) {
    errors.Add(at + ".support_priority", "required");
  }
  if (b.perks.size() > 20) errors.Add(at + ".perks", "at most 20 perks");
  for (size_t i = 0; i < b.perks.size(); ++i) {
    std::string f = absl::StrCat(at, ".perks[", i, "]");
    if (errors.RequireNonEmpty(f, b.perks[i])) errors.RequireMaxLength(f, b.perks[i], 64);
  }
}

void ValidateTier(const Tier& t, const std::string& at, FieldErrors& errors) {
  if (!IsTierId(t.tier_id)) errors.Add(at + ".tier_id", "must match [a-z0-9_-]{1,32}");
  if (errors.RequireNonEmpty(at + ".display_name", t.display_name)) {
    errors.RequireMaxLength(at + ".display_name", t.display_name, 50);
  }
  ValidateLocalizedTexts(errors, at + ".localized_display_names", t.localized_display_names, 50);
  if (t.rank < 0) errors.Add(at + ".rank", "must be >= 0");
  if (t.qualifying_spend < 0) {
    errors.Add(at + ".qualifying_spend", "must be >= 0");
  } else {
    errors.RequireMoney(at + ".qualifying_spend.amount_minor", t.qualifying_spend);
  }
  errors.RequireMaxLength(at + ".description", t.description, 500);
  ValidateBenefits(t.benefits, at + ".benefits", errors);
}

// Checked only for tiers above the base, where they matter.
void ValidateQualification(const Tier& t, const std::string& at, FieldErrors& errors) {
  switch (t.window.kind) {
    case WindowKind::kLifetime:
      if (t.window.rolling_months != 0) {
        errors.Add(at + ".qualification_window.rolling_months", "must be 0 for LIFETIME");
      }
      break;
    case WindowKind::kRolling:
      errors.RequireRange(at + ".qualification_window.rolling_months", t.window.rolling_months, 1, 120);
      break;
    default:
      errors.Add(at + ".qualification_window.kind", "required: LIFETIME or ROLLING");
  }
  if (t.retention.grace_period < absl::ZeroDuration() || t.retention.grace_period > absl::Hours(24 * 366)) {
    errors.Add(at + ".retention.grace_period", "must be between 0 and 366 days");
  }
}

}  // namespace

const Tier* Program::FindTier(const std::string& tier_id) const {
  for (const Tier& t : tiers) {
    if (t.tier_id == tier_id) return &t;
  }
  return nullptr;
}

const Tier* Program::NextTierUp(const std::string& tier_id) const {
  for (size_t i = 0; i + 1 < tiers.size(); ++i) {
    if (tiers[i].tier_id == tier_id) return &tiers[i + 1];
  }
  return nullptr;
}

const Tier* Program::NextTierDown(const std::string& tier_id) const {
  for (size_t i = 1; i < tiers.size(); ++i) {
    if (tiers[i].tier_id == tier_id) return &tiers[i - 1];
  }
  return nullptr;
}

namespace {

// The tier ladder: each tier, unique ids and ranks, thresholds rising with
// rank; a valid ladder is sorted by rank and its base tier normalized.
void ValidateTierLadder(Program& p, FieldErrors& errors) {
  bool tiers_ok = true;
  if (p.tiers.empty() || p.tiers.size() > 20) {
    errors.Add("program.tiers", "between 1 and 20 tiers");
    tiers_ok = false;
  }
  std::set<std::string> ids;
  std::set<int> ranks;
  int base_rank = p.tiers.empty() ? 0 : p.tiers.front().rank;
  for (const Tier& t : p.tiers) base_rank = std::min(base_rank, t.rank);
  for (size_t i = 0; i < p.tiers.size(); ++i) {
    const Tier& t = p.tiers[i];
    std::string at = absl::StrCat("program.tiers[", i, "]");
    size_t before = errors.size();
    ValidateTier(t, at, errors);
    if (!ids.insert(t.tier_id).second) errors.Add(at + ".tier_id", "duplicate tier_id");
    if (!ranks.insert(t.rank).second) errors.Add(at + ".rank", "duplicate rank");
    if (t.rank == base_rank) {
      if (t.qualifying_spend != 0) errors.Add(at + ".qualifying_spend", "must be 0 for the base tier");
    } else {
      if (t.qualifying_spend <= 0) errors.Add(at + ".qualifying_spend", "must be > 0 above the base tier");
      ValidateQualification(t, at, errors);
    }
    if (errors.size() != before) tiers_ok = false;
  }
  if (tiers_ok) {
    std::vector<std::pair<int, size_t>> order;
    for (size_t i = 0; i < p.tiers.size(); ++i) order.emplace_back(p.tiers[i].rank, i);
    std::sort(order.begin(), order.end());
    for (size_t k = 1; k < order.size(); ++k) {
      const Tier& lower = p.tiers[order[k - 1].second];
      const Tier& higher = p.tiers[order[k].second];
      if (higher.qualifying_spend <= lower.qualifying_spend) {
        errors.Add(absl::StrCat("program.tiers[", order[k].second, "].qualifying_spend"),
                   "thresholds must strictly increase with rank");
        tiers_ok = false;
      }
    }
  }
  if (tiers_ok) {
    std::sort(p.tiers.begin(), p.tiers.end(), [](const Tier& a, const Tier& b) { return a.rank < b.rank; });
    // The base tier has neither window nor review.
    p.tiers.front().window = QualificationWindow{WindowKind::kLifetime, 0};
    p.tiers.front().retention = RetentionRule{};
  }
}

// Earn rule, expiry, visit reward and birthday bonus.
void ValidateRewards(const Program& p, FieldErrors& errors) {
  errors.RequireRange("program.earn_rule.points_per_unit", p.earn_rule.points_per_unit, 0, 1000000);
  if (p.earn_rule.unit_amount <= 0) {
    errors.Add("program.earn_rule.unit_amount", "must be > 0");
  } else {
    errors.RequireMoney("program.earn_rule.unit_amount.amount_minor", p.earn_rule.unit_amount);
  }

  if (p.points_expiry) {
    errors.RequireRange("program.points_expiry.expire_after_months", p.points_expiry->expire_after_months, 0, 120);
    absl::Duration lead = p.points_expiry->warning_lead;
    if (lead < absl::ZeroDuration() || lead > absl::Hours(24 * 366)) {
      errors.Add("program.points_expiry.warning_lead", "must be between 0 and 366 days");
    }
  }
  if (p.visit_reward) {
    const VisitReward& v = *p.visit_reward;
    errors.RequireRange("program.visit_reward.every_n_visits", v.every_n_visits, 0, 1000);
    if (v.min_order_amount && *v.min_order_amount < 0) {
      errors.Add("program.visit_reward.min_order_amount", "must be >= 0");
    } else if (v.min_order_amount) {
      errors.RequireMoney("program.visit_reward.min_order_amount.amount_minor", *v.min_order_amount);
    }
    if (v.every_n_visits > 0 && errors.RequireNonEmpty("program.visit_reward.reward_name", v.reward_name)) {
      errors.RequireMaxLength("program.visit_reward.reward_name", v.reward_name, 100);
    }
    ValidateLocalizedTexts(errors, "program.visit_reward.localized_reward_names", v.localized_reward_names, 100);
    errors.RequireRange("program.visit_reward.bonus_points", v.bonus_points, 0, 1000000);
  }
  errors.RequireRange("program.birthday_bonus.points", p.birthday_points, 0, 1000000);
  // point_value_points 0 = unset; ProgramFromProto makes "set with 0" -1.
  if (p.point_value_points != 0) {
    errors.RequireRange("program.point_value.points", p.point_value_points, 1, 1000000);
    errors.RequireRange("program.point_value.amount.amount_minor", p.point_value_amount, 0, 1000000000);
  }
}

}  // namespace

void ValidateProgram(Program& p, FieldErrors& errors) {
  if (errors.RequireNonEmpty("program.display_name", p.display_name)) {
    errors.RequireMaxLength("program.display_name", p.display_name, 100);
  }
  errors.RequireCurrency("program.currency_code", p.currency_code);
  if (errors.RequireNonEmpty("program.time_zone", p.time_zone)) {
    errors.RequireTimeZone("program.time_zone", p.time_zone);
  }

  ValidateTierLadder(p, errors);
  ValidateRewards(p, errors);
  ValidateOccasions(p, errors);
  ValidateCadenceRules(p, errors);
}

bool TierDisplayChanged(const Program& before, const Program& after, const std::string& tier_id) {
  const Tier* a = before.FindTier(tier_id);
  const Tier* b = after.FindTier(tier_id);
  if (a == nullptr || b == nullptr) return true;
  return a->display_name != b->display_name || a->rank != b->rank || !(a->benefits == b->benefits);
}

bool ThresholdsLoosened(const Program& before, const Program& after) {
  for (const Tier& t : after.tiers) {
    const Tier* old = before.FindTier(t.tier_id);
    if (old == nullptr || t.qualifying_spend < old->qualifying_spend || t.window.kind != old->window.kind ||
        t.window.rolling_months != old->window.rolling_months) {
      return true;
    }
  }
  return false;
}

int64_t MulDivRound(int64_t a, int64_t b, int64_t c, Rounding rounding) {
  __int128 n = static_cast<__int128>(a) * b;
  __int128 d = c;
  __int128 q = n / d;
  __int128 r = n % d;
  switch (rounding) {
    case Rounding::kCeiling:
      if (r != 0) ++q;
      break;
    case Rounding::kHalfUp:
      if (2 * r >= d) ++q;
      break;
    case Rounding::kFloor:
      break;
  }
  return static_cast<int64_t>(q);
}

std::optional<int64_t> EarnPoints(int64_t amount, const EarnRule& rule, int multiplier_bps) {
  if (amount <= 0 || rule.points_per_unit <= 0 || rule.unit_amount <= 0) return 0;
  __int128 n = static_cast<__int128>(amount) * rule.points_per_unit * multiplier_bps;
  __int128 d = static_cast<__int128>(rule.unit_amount) * 10000;
  __int128 q = n / d;
  __int128 r = n % d;
  if (rule.rounding == Rounding::kCeiling && r != 0) ++q;
  if (rule.rounding == Rounding::kHalfUp && 2 * r >= d) ++q;
  if (q > kMaxPointsPerEntry) return std::nullopt;
  return static_cast<int64_t>(q);
}

int64_t ReversalTarget(const Purchase& purchase, int64_t total_returned) {
  if (purchase.amount <= 0) return 0;
  if (total_returned >= purchase.amount) return purchase.points_earned;
  return MulDivRound(purchase.points_earned, total_returned, purchase.amount, purchase.rounding);
}

absl::TimeZone LoadZone(const std::string& name) {
  absl::TimeZone zone;
  if (name.empty() || !absl::LoadTimeZone(name, &zone)) return absl::UTCTimeZone();
  return zone;
}

namespace {

int DaysInMonth(absl::civil_year_t year, int month) {
  absl::CivilDay first_next(year, month + 1, 1);
  return (first_next - 1).day();
}

}  // namespace

absl::Time AddMonths(absl::Time t, int months, absl::TimeZone zone) {
  absl::TimeZone::CivilInfo info = zone.At(t);
  absl::CivilMonth target = absl::CivilMonth(info.cs) + months;
  int day = std::min(info.cs.day(), DaysInMonth(target.year(), target.month()));
  absl::CivilSecond cs(target.year(), target.month(), day, info.cs.hour(), info.cs.minute(), info.cs.second());
  return absl::FromCivil(cs, zone) + info.subsecond;
}

std::optional<absl::Time> ExpiryTime(absl::Time credited, int months, absl::TimeZone zone) {
  if (months <= 0) return std::nullopt;
  absl::CivilMonth month(zone.At(credited).cs);
  return absl::FromCivil(month + months + 1, zone);
}

int64_t LocalDay(absl::Time t, absl::TimeZone zone) {
  return absl::CivilDay(zone.At(t).cs) - absl::CivilDay(1970, 1, 1);
}

absl::Time BirthdayStart(const BirthDate& b, int year, absl::TimeZone zone) {
  int day = std::min(b.day, DaysInMonth(year, b.month));
  return absl::FromCivil(absl::CivilDay(year, b.month, day), zone);
}

BirthdayInstant NextBirthday(const BirthDate& b, absl::Time from, absl::TimeZone zone) {
  absl::CivilDay today(zone.At(from).cs);
  int year = static_cast<int>(today.year());
  absl::Time start = BirthdayStart(b, year, zone);
  if (absl::CivilDay(zone.At(start).cs) < today) {
    ++year;
    start = BirthdayStart(b, year, zone);
  }
  return {start, year};
}

std::string EntryId(const std::string& member_id, int64_t sequence) { return absl::StrCat(member_id, "/", sequence); }

std::string LedgerEntry::entry_id() const { return EntryId(member_id, sequence); }

}  // namespace care::loyalty
