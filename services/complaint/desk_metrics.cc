#include "services/complaint/desk_metrics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "common/proto_time.h"

namespace care::complaint {
namespace {

// Counting one ticket into its group's figures.
void Add(MetricGroup& t, const MetricRow& r) {
  ++t.complaints;
  if (r.resolved) ++t.resolved;
  if (r.reopened) ++t.reopened;
  if (r.first_response_seconds) t.first_response_seconds.push_back(*r.first_response_seconds);
  if (r.resolved && r.resolution_seconds) t.resolution_seconds.push_back(*r.resolution_seconds);
  if (r.consultation_seconds > 0) t.consultation_seconds.push_back(r.consultation_seconds);
  // Finished clocks only: a running, unbreached clock is not counted yet.
  if (r.first_response_breached)
    ++t.first_response_breached;
  else if (r.first_response_seconds)
    ++t.first_response_met;
  if (r.resolution_breached)
    ++t.resolution_breached;
  else if (r.resolution_seconds)
    ++t.resolution_met;
  if (r.survey_sent) ++t.surveys_sent;
  if (r.survey_score && *r.survey_score >= 1 && *r.survey_score <= 5) ++t.score_counts[*r.survey_score - 1];
}

void Append(std::vector<int64_t>& to, const std::vector<int64_t>& from) {
  to.insert(to.end(), from.begin(), from.end());
}

// A pre-aggregated group counted in: the sums add, the value lists join.
void Merge(MetricGroup& t, const MetricGroup& g) {
  t.complaints += g.complaints;
  t.resolved += g.resolved;
  t.reopened += g.reopened;
  t.first_response_met += g.first_response_met;
  t.first_response_breached += g.first_response_breached;
  t.resolution_met += g.resolution_met;
  t.resolution_breached += g.resolution_breached;
  t.surveys_sent += g.surveys_sent;
  for (size_t i = 0; i < t.score_counts.size(); ++i) t.score_counts[i] += g.score_counts[i];
  Append(t.first_response_seconds, g.first_response_seconds);
  Append(t.resolution_seconds, g.resolution_seconds);
  Append(t.consultation_seconds, g.consultation_seconds);
}

// Seconds of at most a million complaints, each bounded: no overflow.
int64_t Sum(const std::vector<int64_t>& v) {
  int64_t sum = 0;
  for (int64_t x : v) sum += x;
  return sum;
}

// Nearest rank: the value at rank ceil(q * n), 1-based.
int64_t NearestRank(std::vector<int64_t>& v, double q) {
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  size_t k = std::clamp<size_t>(rank, 1, v.size()) - 1;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

void Stats(std::vector<int64_t>& v, v1::DurationStats* d) {
  d->set_count(static_cast<int64_t>(v.size()));
  if (v.empty()) return;
  *d->mutable_median() = ToDurationProto(absl::Seconds(NearestRank(v, 0.5)));
  *d->mutable_p90() = ToDurationProto(absl::Seconds(NearestRank(v, 0.9)));
  *d->mutable_mean() = ToDurationProto(absl::Seconds(Sum(v) / static_cast<int64_t>(v.size())));
}

double Rate(int64_t a, int64_t b) { return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b); }

void Fill(MetricGroup& t, v1::MetricsGroup* g) {
  g->set_complaint_count(t.complaints);
  g->set_resolved_count(t.resolved);
  g->set_resolution_rate(Rate(t.resolved, t.complaints));
  Stats(t.first_response_seconds, g->mutable_first_response_time());
  Stats(t.resolution_seconds, g->mutable_resolution_time());
  *g->mutable_total_consultation_time() = ToDurationProto(absl::Seconds(Sum(t.consultation_seconds)));
  Stats(t.consultation_seconds, g->mutable_consultation_time());
  g->mutable_first_response_sla()->set_met_count(t.first_response_met);
  g->mutable_first_response_sla()->set_breached_count(t.first_response_breached);
  g->mutable_first_response_sla()->set_compliance_rate(Rate(t.first_response_met,
                                                            t.first_response_met + t.first_response_breached));
  g->mutable_resolution_sla()->set_met_count(t.resolution_met);
  g->mutable_resolution_sla()->set_breached_count(t.resolution_breached);
  g->mutable_resolution_sla()->set_compliance_rate(Rate(t.resolution_met, t.resolution_met + t.resolution_breached));
  g->set_reopened_count(t.reopened);
  g->set_reopen_rate(Rate(t.reopened, t.resolved));
  v1::SatisfactionStats* s = g->mutable_satisfaction();
  int64_t answers = 0, score_sum = 0;
  for (size_t i = 0; i < t.score_counts.size(); ++i) {
    answers += t.score_counts[i];
    score_sum += t.score_counts[i] * static_cast<int64_t>(i + 1);
    s->add_score_counts(t.score_counts[i]);
  }
  s->set_response_count(answers);
  s->set_average_score(Rate(score_sum, answers));
  s->set_surveys_sent(t.surveys_sent);
}

// channel, category, team, tier, agent, kind
using Key = std::tuple<int, int, std::string, std::string, std::string, int>;

// The orders for a group: an entry whose set dimensions are exactly the
// group's channel and/or tier (the overall row uses the entry with neither).
std::optional<int64_t> OrdersFor(const std::vector<v1::OrderCount>& counts, bool by_channel, bool by_tier,
                                 const v1::MetricsKey& key) {
  for (const v1::OrderCount& oc : counts) {
    bool has_channel = oc.channel() != v1::CHANNEL_UNSPECIFIED, has_tier = !oc.tier_id().empty();
    if (has_channel != by_channel || has_tier != by_tier) continue;
    if (has_channel && oc.channel() != key.channel()) continue;
    if (has_tier && oc.tier_id() != key.tier_id()) continue;
    return oc.orders();
  }
  return std::nullopt;
}

void PerThousand(const std::optional<int64_t>& orders, v1::MetricsGroup* g) {
  if (orders && *orders > 0) {
    g->set_complaints_per_thousand_orders(static_cast<double>(g->complaint_count()) * 1000.0 /
                                          static_cast<double>(*orders));
  }
}

// Which dimensions a call groups by: the key of a row or group is its full
// key with the others cleared.
struct Dims {
  bool channel, category, team, tier, agent, kind;
  explicit Dims(const std::vector<v1::MetricsDimension>& group_by) {
    auto has = [&](v1::MetricsDimension d) { return std::find(group_by.begin(), group_by.end(), d) != group_by.end(); };
    channel = has(v1::METRICS_DIMENSION_CHANNEL);
    category = has(v1::METRICS_DIMENSION_CATEGORY);
    team = has(v1::METRICS_DIMENSION_TEAM);
    tier = has(v1::METRICS_DIMENSION_TIER);
    agent = has(v1::METRICS_DIMENSION_AGENT);
    kind = has(v1::METRICS_DIMENSION_KIND);
  }
  template <typename T>  // MetricRow or MetricGroup
  Key Of(const T& r) const {
    return Key{channel ? r.channel : 0, category ? r.category : 0, team ? r.team_id : "",
               tier ? r.tier_id : "",   agent ? r.agent_id : "",   kind ? r.kind : 0};
  }
};

template <typename T>
Key FullKey(const T& r) {
  return Key{r.channel, r.category, r.team_id, r.tier_id, r.agent_id, r.kind};
}

// The groups of `tallies` in key order, each with its key set.
std::vector<MetricGroup> InKeyOrder(absl::flat_hash_map<Key, MetricGroup>& tallies) {
  std::map<Key, MetricGroup*> ordered;
  for (auto& [key, tally] : tallies) ordered.emplace(key, &tally);
  std::vector<MetricGroup> out;
  out.reserve(ordered.size());
  for (auto& [key, tally] : ordered) {
    std::tie(tally->channel, tally->category, tally->team_id, tally->tier_id, tally->agent_id, tally->kind) = key;
    out.push_back(std::move(*tally));
  }
  return out;
}

void FillKey(const MetricGroup& t, v1::MetricsKey* k) {
  k->set_channel(static_cast<v1::Channel>(t.channel));
  k->set_category(static_cast<v1::Category>(t.category));
  k->set_team_id(t.team_id);
  k->set_tier_id(t.tier_id);
  k->set_agent_id(t.agent_id);
  k->set_kind(static_cast<v1::TicketKind>(t.kind));
}

}  // namespace

v1::ComplaintMetrics ComputeMetrics(const std::vector<std::vector<MetricRow>>& slices,
                                    const std::vector<v1::MetricsDimension>& group_by,
                                    const std::vector<v1::OrderCount>& order_counts) {
  return ComputeMetrics({}, slices, group_by, order_counts);
}

v1::ComplaintMetrics ComputeMetrics(const std::vector<MetricGroup>& groups,
                                    const std::vector<std::vector<MetricRow>>& slices,
                                    const std::vector<v1::MetricsDimension>& group_by,
                                    const std::vector<v1::OrderCount>& order_counts) {
  const Dims dims(group_by);
  MetricGroup overall;
  // A million rows: hashed while counting, ordered once at the end.
  absl::flat_hash_map<Key, MetricGroup> tallies;
  for (const MetricGroup& g : groups) {
    Merge(overall, g);
    if (!group_by.empty()) Merge(tallies[dims.Of(g)], g);
  }
  for (const std::vector<MetricRow>& rows : slices) {
    for (const MetricRow& r : rows) {
      Add(overall, r);
      if (!group_by.empty()) Add(tallies[dims.Of(r)], r);
    }
  }
  v1::ComplaintMetrics out;
  Fill(overall, out.mutable_overall());
  PerThousand(OrdersFor(order_counts, false, false, v1::MetricsKey()), out.mutable_overall());
  for (MetricGroup& tally : InKeyOrder(tallies)) {
    v1::MetricsGroup* g = out.add_groups();
    FillKey(tally, g->mutable_key());
    Fill(tally, g);
    // Order counts exist per channel and/or tier only.
    if ((dims.channel || dims.tier) && !dims.category && !dims.team && !dims.agent && !dims.kind)
      PerThousand(OrdersFor(order_counts, dims.channel, dims.tier, g->key()), g);
  }
  return out;
}

std::vector<MetricGroup> RollUp(const std::vector<MetricRow>& rows) {
  absl::flat_hash_map<Key, MetricGroup> tallies;
  for (const MetricRow& r : rows) Add(tallies[FullKey(r)], r);
  return InKeyOrder(tallies);
}

std::vector<MetricGroup> MergeGroups(const std::vector<MetricGroup>& groups) {
  absl::flat_hash_map<Key, MetricGroup> tallies;
  for (const MetricGroup& g : groups) Merge(tallies[FullKey(g)], g);
  return InKeyOrder(tallies);
}

namespace {
constexpr int64_t kDaySeconds = 86400;
int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0); }
}  // namespace

int64_t DayNumber(absl::Time t) { return FloorDiv(absl::ToUnixSeconds(t), kDaySeconds); }
absl::Time DayStart(int64_t day) { return absl::FromUnixSeconds(day * kDaySeconds); }

int64_t MonthOf(int64_t day) {
  const absl::CivilDay d = absl::ToCivilDay(DayStart(day), absl::UTCTimeZone());
  return DayNumber(absl::FromCivil(absl::CivilMonth(d), absl::UTCTimeZone()));
}

int64_t NextMonth(int64_t month) {
  const absl::CivilMonth m(absl::ToCivilDay(DayStart(month), absl::UTCTimeZone()));
  return DayNumber(absl::FromCivil(m + 1, absl::UTCTimeZone()));
}

std::pair<int64_t, int64_t> WholeDays(absl::Time from, absl::Time to) {
  int64_t first = DayNumber(from);
  if (DayStart(first) < from) ++first;
  return {first, DayNumber(to)};
}

namespace {

bool AnyIn(const std::vector<int64_t>& sorted, int64_t from, int64_t to) {
  auto it = std::lower_bound(sorted.begin(), sorted.end(), from);
  return it != sorted.end() && *it < to;
}

// The days [a, b) not covered by a month: clean ones from the day rows,
// dirty ones raw.
void PlanDays(int64_t a, int64_t b, const std::vector<int64_t>& dirty, MetricsPlan& plan) {
  int64_t span = a;
  for (auto it = std::lower_bound(dirty.begin(), dirty.end(), a); it != dirty.end() && *it < b; ++it) {
    if (span < *it) plan.day_spans.emplace_back(span, *it);
    plan.raw.emplace_back(DayStart(*it), DayStart(*it + 1));
    span = *it + 1;
  }
  if (span < b) plan.day_spans.emplace_back(span, b);
}

// Touching intervals joined: fewer, longer raw reads.
void JoinRaw(std::vector<std::pair<absl::Time, absl::Time>>& raw) {
  std::sort(raw.begin(), raw.end());
  std::vector<std::pair<absl::Time, absl::Time>> joined;
  for (const auto& r : raw) {
    if (!joined.empty() && joined.back().second >= r.first) {
      joined.back().second = std::max(joined.back().second, r.second);
    } else {
      joined.push_back(r);
    }
  }
  raw = std::move(joined);
}

}  // namespace

MetricsPlan PlanMetricsRead(absl::Time from, absl::Time to, const std::vector<int64_t>& dirty_days,
                            const std::vector<int64_t>& current_months) {
  MetricsPlan plan;
  const auto [first, end] = WholeDays(from, to);
  if (first >= end) {
    if (from < to) plan.raw.emplace_back(from, to);
    return plan;
  }
  if (from < DayStart(first)) plan.raw.emplace_back(from, DayStart(first));
  int64_t day = first;
  for (int64_t month : current_months) {
    const int64_t next = NextMonth(month);
    if (month < day || next > end || AnyIn(dirty_days, month, next)) continue;
    PlanDays(day, month, dirty_days, plan);
    plan.months.push_back(month);
    day = next;
  }
  PlanDays(day, end, dirty_days, plan);
  if (DayStart(end) < to) plan.raw.emplace_back(DayStart(end), to);
  JoinRaw(plan.raw);
  return plan;
}

}  // namespace care::complaint
