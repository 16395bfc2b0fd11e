// Analytics: rollups kept in the transaction of every change, and
// GetLoyaltyAnalytics answered from them alone. A query reads at most one
// row per day and tier of its period plus one sum per tier of the days
// before (members and points held then), whatever the number of members.

#include <algorithm>
#include <limits>
#include <map>

#include "absl/numeric/int128.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "services/loyalty/loyalty_proto.h"
#include "services/loyalty/loyalty_service.h"
#include "services/loyalty/program.h"
#include "services/loyalty/service_internal.h"

namespace care::loyalty {

RollupCounters& RollupCounters::operator+=(const RollupCounters& o) {
  members_delta += o.members_delta;
  enrolled += o.enrolled;
  erased += o.erased;
  upgraded += o.upgraded;
  downgraded += o.downgraded;
  points_net += o.points_net;
  points_earned += o.points_earned;
  points_bonus += o.points_bonus;
  points_visit += o.points_visit;
  points_adjusted_in += o.points_adjusted_in;
  points_adjusted_out += o.points_adjusted_out;
  points_redeemed += o.points_redeemed;
  points_reversed += o.points_reversed;
  points_expired += o.points_expired;
  points_forfeited += o.points_forfeited;
  purchases += o.purchases;
  purchase_amount += o.purchase_amount;
  returned_amount += o.returned_amount;
  active_day += o.active_day;
  active_month += o.active_month;
  repeat_day += o.repeat_day;
  repeat_month += o.repeat_month;
  return *this;
}

namespace {

int64_t DayNumber(absl::CivilDay day) { return day - absl::CivilDay(1970, 1, 1); }
absl::CivilDay DayOf(int64_t number) { return absl::CivilDay(1970, 1, 1) + number; }
int64_t MonthNumber(absl::CivilDay day) { return absl::CivilMonth(day) - absl::CivilMonth(1970, 1); }

// The periods of a query: each day, or each month touched, whole.
std::vector<std::pair<absl::CivilDay, absl::CivilDay>> Periods(const AnalyticsQuery& query) {
  std::vector<std::pair<absl::CivilDay, absl::CivilDay>> periods;
  if (query.monthly) {
    for (absl::CivilMonth m(query.start_day); m <= absl::CivilMonth(query.end_day); ++m) {
      periods.emplace_back(absl::CivilDay(m), absl::CivilDay(m + 1) - 1);
    }
  } else {
    for (absl::CivilDay d = query.start_day; d <= query.end_day; ++d) periods.emplace_back(d, d);
  }
  return periods;
}

// Tiers of the program by rank, then any other tier with members or
// figures (one a later program removed), by id.
std::vector<std::string> TierOrder(const Program& program, const std::map<std::string, int64_t>& members,
                                   const std::vector<RollupRow>& rows) {
  std::vector<std::string> tier_order;
  for (const Tier& t : program.tiers) tier_order.push_back(t.tier_id);
  auto known = [&](const std::string& id) {
    return std::find(tier_order.begin(), tier_order.end(), id) != tier_order.end();
  };
  std::vector<std::string> others;
  for (const auto& [id, n] : members) {
    if (!known(id) && n != 0) others.push_back(id);
  }
  for (const RollupRow& row : rows) {
    if (!known(row.tier_id)) others.push_back(row.tier_id);
  }
  std::sort(others.begin(), others.end());
  others.erase(std::unique(others.begin(), others.end()), others.end());
  tier_order.insert(tier_order.end(), others.begin(), others.end());
  return tier_order;
}

}  // namespace

absl::Status LoyaltyService::Rollup(StoreTxn& tx, const Program& program, absl::Time at, const std::string& tier_id,
                                    const RollupCounters& c) {
  return tx.AddRollup(LocalDay(at, LoadZone(program.time_zone)), tier_id, c);
}

absl::Status LoyaltyService::RollupPurchase(StoreTxn& tx, const Program& program, Member& member, int64_t amount,
                                            absl::Time at) {
  const absl::CivilDay day(LoadZone(program.time_zone).At(at).cs);
  RollupCounters c;
  c.purchases = 1;
  c.purchase_amount = amount;
  // The member's first purchase of the day / month makes them active in it,
  // the second a repeat purchaser: distinct members without a scan.
  if (member.activity_day != DayNumber(day)) {
    member.activity_day = DayNumber(day);
    member.activity_day_purchases = 0;
  }
  if (member.activity_month != MonthNumber(day)) {
    member.activity_month = MonthNumber(day);
    member.activity_month_purchases = 0;
  }
  if (member.activity_day_purchases < 2) {
    ++member.activity_day_purchases;
    (member.activity_day_purchases == 1 ? c.active_day : c.repeat_day) = 1;
  }
  if (member.activity_month_purchases < 2) {
    ++member.activity_month_purchases;
    (member.activity_month_purchases == 1 ? c.active_month : c.repeat_month) = 1;
  }
  return Rollup(tx, program, at, member.tier.tier_id, c);
}

absl::Status LoyaltyService::RollupTierMove(StoreTxn& tx, const Program& program, absl::Time at,
                                            const std::string& from, const std::string& to) {
  RollupCounters out;
  out.members_delta = -1;
  if (absl::Status s = Rollup(tx, program, at, from, out); !s.ok()) return s;
  RollupCounters in;
  in.members_delta = 1;
  const Tier* old_tier = program.FindTier(from);
  const Tier* new_tier = program.FindTier(to);
  // A tier no longer in the program counts as below every tier.
  const int old_rank = old_tier != nullptr ? old_tier->rank : -1;
  const int new_rank = new_tier != nullptr ? new_tier->rank : -1;
  (new_rank > old_rank ? in.upgraded : in.downgraded) = 1;
  return Rollup(tx, program, at, to, in);
}

absl::StatusOr<v1::LoyaltyAnalytics> LoyaltyService::GetLoyaltyAnalytics(const AnalyticsQuery& query) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  return ReadValue<v1::LoyaltyAnalytics>([&](StoreTxn& tx) -> absl::StatusOr<v1::LoyaltyAnalytics> {
    auto r = AnalyticsIn(tx, query);
    if (!r.ok()) return r.status();
    return AnalyticsResponse(*r);
  });
}

absl::StatusOr<AnalyticsResult> LoyaltyService::AnalyticsIn(StoreTxn& tx, const AnalyticsQuery& query) {
  auto program = CurrentProgram(tx);
  if (!program.ok()) return program.status();
  if (!query.time_zone.empty() && query.time_zone != program->time_zone) {
    return InvalidField("time_zone", absl::StrCat("must be empty or the program's time zone ", program->time_zone,
                                                  ": the rollups are kept by its days"));
  }
  AnalyticsResult result;
  result.time_zone = program->time_zone;
  result.currency = program->currency_code;
  result.as_of = clock_.Now();

  const std::vector<std::pair<absl::CivilDay, absl::CivilDay>> periods = Periods(query);
  const int64_t first = DayNumber(periods.front().first);
  const int64_t last = DayNumber(periods.back().second);

  // Members per tier and points held before the first day; then each period
  // moves them by its own rows.
  std::map<std::string, int64_t> members;
  int64_t points = 0;
  auto opening = tx.RollupTotalsBefore(first);
  if (!opening.ok()) return opening.status();
  for (const RollupRow& row : *opening) {
    members[row.tier_id] += row.counters.members_delta;
    points += row.counters.points_net;
  }
  auto rows = tx.Rollups(first, last);
  if (!rows.ok()) return rows.status();

  const std::vector<std::string> tier_order = TierOrder(*program, members, *rows);
  auto row = rows->begin();
  for (const auto& [start, end] : periods) {
    AnalyticsPeriod& period = result.periods.emplace_back();
    period.start_day = start;
    period.end_day = end;
    std::map<std::string, RollupCounters> by_tier;
    for (; row != rows->end() && row->day <= DayNumber(end); ++row) {
      by_tier[row->tier_id] += row->counters;
      period.sums += row->counters;
    }
    for (const std::string& id : tier_order) {
      TierFigures& t = period.tiers.emplace_back();
      t.tier_id = id;
      t.sums = by_tier[id];
      members[id] += t.sums.members_delta;
      t.members = members[id];
      t.active = query.monthly ? t.sums.active_month : t.sums.active_day;
      period.members += t.members;
    }
    period.active = query.monthly ? period.sums.active_month : period.sums.active_day;
    period.repeat = query.monthly ? period.sums.repeat_month : period.sums.repeat_day;
    points += period.sums.points_net;
    period.outstanding_points = points;
    if (program->point_value_points > 0) {
      // Checked: a liability beyond int64 minor units is refused, not wrapped.
      absl::int128 value = absl::int128(points) * program->point_value_amount / program->point_value_points;
      if (value > absl::int128(std::numeric_limits<int64_t>::max())) {
        return Error(absl::StatusCode::kOutOfRange, "LIABILITY_OUT_OF_RANGE",
                     "the outstanding points liability does not fit in int64 minor units", {});
      }
      period.liability = static_cast<int64_t>(value);
    }
  }
  return result;
}

}  // namespace care::loyalty
