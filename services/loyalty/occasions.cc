#include "services/loyalty/occasions.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/localized.h"

namespace care::loyalty {

bool ProgramSlug(const std::string& id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

void ValidateAudience(const Program& p, const std::vector<std::string>& tier_ids,
                      const std::vector<std::string>& segments, const std::string& at, FieldErrors& errors) {
  if (tier_ids.size() > 20) errors.Add(at + ".tier_ids", "at most 20");
  for (size_t i = 0; i < tier_ids.size(); ++i) {
    if (p.FindTier(tier_ids[i]) == nullptr) {
      errors.Add(absl::StrCat(at, ".tier_ids[", i, "]"), "not a tier of the program");
    }
  }
  if (segments.size() > 20) errors.Add(at + ".segments", "at most 20");
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string field = absl::StrCat(at, ".segments[", i, "]");
    if (errors.RequireNonEmpty(field, segments[i])) errors.RequireMaxLength(field, segments[i], 64);
  }
}

namespace {

int MonthDays(int year, int month) {
  return static_cast<int>(absl::CivilDay(year, month + 1, 1) - absl::CivilDay(year, month, 1));
}

// Local start of `month`/`day` in `year`, 29 February on 28 February in
// common years.
absl::Time DayStart(int year, int month, int day, absl::TimeZone zone) {
  return absl::FromCivil(absl::CivilDay(year, month, std::min(day, MonthDays(year, month))), zone);
}

void ValidateDate(const Occasion& o, const std::string& at, FieldErrors& errors) {
  if (o.year != 0) errors.RequireRange(at + ".date.year", o.year, 2000, 2200);
  if (!errors.RequireRange(at + ".date.month", o.month, 1, 12)) return;
  // A yearly 29 February is allowed (28 February in common years); a one-off
  // date must exist.
  const int last = o.year != 0 ? MonthDays(o.year, o.month) : MonthDays(2000, o.month);  // 2000: a leap year
  errors.RequireRange(at + ".date.day", o.day, 1, last);
}

void ValidateOccasion(const Program& p, const Occasion& o, const std::string& at, FieldErrors& errors) {
  if (!ProgramSlug(o.occasion_id)) errors.Add(at + ".occasion_id", "must be 1..64 characters of [a-z0-9_-]");
  if (errors.RequireNonEmpty(at + ".display_name", o.display_name)) {
    errors.RequireMaxLength(at + ".display_name", o.display_name, 100);
  }
  ValidateLocalizedTexts(errors, at + ".localized_display_names", o.localized_display_names, 100);
  if (o.anniversary) {
    if (o.anniversary_years.size() > 20) errors.Add(at + ".membership_anniversary.years", "at most 20");
    std::set<int> seen;
    for (size_t i = 0; i < o.anniversary_years.size(); ++i) {
      const std::string field = absl::StrCat(at, ".membership_anniversary.years[", i, "]");
      errors.RequireRange(field, o.anniversary_years[i], 1, 100);
      if (!seen.insert(o.anniversary_years[i]).second) errors.Add(field, "duplicate");
    }
  } else if (o.month == 0 && o.day == 0 && o.year == 0) {
    errors.Add(at + ".when", "one of membership_anniversary or date is required");
  } else {
    ValidateDate(o, at, errors);
  }
  errors.RequireRange(at + ".points", o.points, 0, 1000000);
  if (!o.reward_id.empty()) errors.RequireId(at + ".reward_id", o.reward_id);
  ValidateAudience(p, o.tier_ids, o.segments, at, errors);
}

}  // namespace

void ValidateOccasions(const Program& p, FieldErrors& errors) {
  if (p.occasions.size() > static_cast<size_t>(kMaxOccasions)) {
    errors.Add("program.occasions", absl::StrCat("at most ", kMaxOccasions));
    return;
  }
  std::set<std::string> ids;
  for (size_t i = 0; i < p.occasions.size(); ++i) {
    const std::string at = absl::StrCat("program.occasions[", i, "]");
    ValidateOccasion(p, p.occasions[i], at, errors);
    if (!ids.insert(p.occasions[i].occasion_id).second) errors.Add(at + ".occasion_id", "duplicate");
  }
}

std::optional<Occurrence> DueDateOccurrence(const Occasion& o, absl::Time now, absl::TimeZone zone) {
  if (o.anniversary) return std::nullopt;
  const int this_year = static_cast<int>(zone.At(now).cs.year());
  // The catch-up window may reach back over New Year.
  for (int year : {this_year, this_year - 1}) {
    if (o.year != 0 && o.year != year) continue;
    const absl::Time start = DayStart(year, o.month, o.day, zone);
    if (start <= now && now - start < kOccasionCatchUp) return Occurrence{year, start};
  }
  return std::nullopt;
}

absl::Time AnniversaryStart(absl::Time enrolled, int n, absl::TimeZone zone) {
  const absl::CivilDay day(zone.At(enrolled).cs);
  return DayStart(static_cast<int>(day.year()) + n, day.month(), day.day(), zone);
}

Occurrence NextAnniversary(absl::Time enrolled, absl::Time from, absl::TimeZone zone) {
  const absl::CivilDay today(zone.At(from).cs);
  const int enrolled_year = static_cast<int>(absl::CivilDay(zone.At(enrolled).cs).year());
  int n = std::max(1, static_cast<int>(today.year()) - enrolled_year);
  absl::Time start = AnniversaryStart(enrolled, n, zone);
  while (absl::CivilDay(zone.At(start).cs) < today) start = AnniversaryStart(enrolled, ++n, zone);
  return {n, start};
}

bool Targets(const Occasion& o, const Member& m, absl::Time start) {
  if (m.create_time >= start) return false;
  if (!o.tier_ids.empty() && std::find(o.tier_ids.begin(), o.tier_ids.end(), m.tier.tier_id) == o.tier_ids.end()) {
    return false;
  }
  return o.segments.empty() || std::find(o.segments.begin(), o.segments.end(), m.profile.segment) != o.segments.end();
}

bool OnAnniversary(const Occasion& o, int n) {
  return o.anniversary &&
         (o.anniversary_years.empty() ||
          std::find(o.anniversary_years.begin(), o.anniversary_years.end(), n) != o.anniversary_years.end());
}

}  // namespace care::loyalty
