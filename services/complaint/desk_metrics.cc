#include "services/complaint/desk_metrics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "common/proto_time.h"

namespace care::complaint {
namespace {

// Sums of one group, turned into a MetricsGroup at the end.
struct Tally {
  int64_t complaints = 0, resolved = 0, reopened = 0;
  int64_t fr_met = 0, fr_breached = 0, res_met = 0, res_breached = 0;
  int64_t surveys_sent = 0, answers = 0, score_sum = 0;
  int64_t scores[5] = {0, 0, 0, 0, 0};
  std::vector<int64_t> first, resolution, consultation;

  void Add(const MetricRow& r) {
    ++complaints;
    if (r.resolved) ++resolved;
    if (r.reopened) ++reopened;
    if (r.first_response_seconds) first.push_back(*r.first_response_seconds);
    if (r.resolved && r.resolution_seconds) resolution.push_back(*r.resolution_seconds);
    if (r.consultation_seconds > 0) consultation.push_back(r.consultation_seconds);
    // Finished clocks only: a running, unbreached clock is not counted yet.
    if (r.first_response_breached)
      ++fr_breached;
    else if (r.first_response_seconds)
      ++fr_met;
    if (r.resolution_breached)
      ++res_breached;
    else if (r.resolution_seconds)
      ++res_met;
    if (r.survey_sent) ++surveys_sent;
    if (r.survey_score && *r.survey_score >= 1 && *r.survey_score <= 5) {
      ++scores[*r.survey_score - 1];
      score_sum += *r.survey_score;
      ++answers;
    }
  }
};

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

void Fill(Tally& t, v1::MetricsGroup* g) {
  g->set_complaint_count(t.complaints);
  g->set_resolved_count(t.resolved);
  g->set_resolution_rate(Rate(t.resolved, t.complaints));
  Stats(t.first, g->mutable_first_response_time());
  Stats(t.resolution, g->mutable_resolution_time());
  *g->mutable_total_consultation_time() = ToDurationProto(absl::Seconds(Sum(t.consultation)));
  Stats(t.consultation, g->mutable_consultation_time());
  g->mutable_first_response_sla()->set_met_count(t.fr_met);
  g->mutable_first_response_sla()->set_breached_count(t.fr_breached);
  g->mutable_first_response_sla()->set_compliance_rate(Rate(t.fr_met, t.fr_met + t.fr_breached));
  g->mutable_resolution_sla()->set_met_count(t.res_met);
  g->mutable_resolution_sla()->set_breached_count(t.res_breached);
  g->mutable_resolution_sla()->set_compliance_rate(Rate(t.res_met, t.res_met + t.res_breached));
  g->set_reopened_count(t.reopened);
  g->set_reopen_rate(Rate(t.reopened, t.resolved));
  v1::SatisfactionStats* s = g->mutable_satisfaction();
  s->set_response_count(t.answers);
  s->set_average_score(Rate(t.score_sum, t.answers));
  for (int64_t n : t.scores) s->add_score_counts(n);
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

}  // namespace

v1::ComplaintMetrics ComputeMetrics(const std::vector<std::vector<MetricRow>>& slices,
                                    const std::vector<v1::MetricsDimension>& group_by,
                                    const std::vector<v1::OrderCount>& order_counts) {
  auto has = [&](v1::MetricsDimension d) { return std::find(group_by.begin(), group_by.end(), d) != group_by.end(); };
  const bool by_channel = has(v1::METRICS_DIMENSION_CHANNEL), by_category = has(v1::METRICS_DIMENSION_CATEGORY),
             by_team = has(v1::METRICS_DIMENSION_TEAM), by_tier = has(v1::METRICS_DIMENSION_TIER),
             by_agent = has(v1::METRICS_DIMENSION_AGENT), by_kind = has(v1::METRICS_DIMENSION_KIND);
  Tally overall;
  // A million rows: hashed while counting, ordered once at the end.
  absl::flat_hash_map<Key, Tally> tallies;
  for (const std::vector<MetricRow>& rows : slices) {
    for (const MetricRow& r : rows) {
      overall.Add(r);
      if (group_by.empty()) continue;
      tallies[Key{by_channel ? r.channel : 0, by_category ? r.category : 0, by_team ? r.team_id : "",
                  by_tier ? r.tier_id : "", by_agent ? r.agent_id : "", by_kind ? r.kind : 0}]
          .Add(r);
    }
  }
  std::map<Key, Tally> groups;
  for (auto& [key, tally] : tallies) groups.emplace(key, std::move(tally));
  v1::ComplaintMetrics out;
  Fill(overall, out.mutable_overall());
  PerThousand(OrdersFor(order_counts, false, false, v1::MetricsKey()), out.mutable_overall());
  for (auto& [key, tally] : groups) {
    v1::MetricsGroup* g = out.add_groups();
    v1::MetricsKey* k = g->mutable_key();
    k->set_channel(static_cast<v1::Channel>(std::get<0>(key)));
    k->set_category(static_cast<v1::Category>(std::get<1>(key)));
    k->set_team_id(std::get<2>(key));
    k->set_tier_id(std::get<3>(key));
    k->set_agent_id(std::get<4>(key));
    k->set_kind(static_cast<v1::TicketKind>(std::get<5>(key)));
    Fill(tally, g);
    // Order counts exist per channel and/or tier only.
    if ((by_channel || by_tier) && !by_category && !by_team && !by_agent && !by_kind)
      PerThousand(OrdersFor(order_counts, by_channel, by_tier, *k), g);
  }
  return out;
}

}  // namespace care::complaint
