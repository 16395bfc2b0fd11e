#pragma once

// Complaint metrics over the narrow rows of a time range: counts, business
// response and resolution times (median and p90 by nearest rank, mean),
// consultation time, SLA compliance, reopen rate, satisfaction and
// complaints per 1,000 orders, overall and grouped by channel, category,
// team, tier and assigned agent. Pure: rows in,
// figures out. The rows come in slices (one per parallel read), and from the
// rollups as pre-aggregated groups of the full key (MetricGroup), which
// merge exactly: a group carries every time value, not a summary.

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "care/complaint/v1/complaint.pb.h"
#include "services/complaint/complaint_store.h"

namespace care::complaint {

v1::ComplaintMetrics ComputeMetrics(const std::vector<std::vector<MetricRow>>& slices,
                                    const std::vector<v1::MetricsDimension>& group_by,
                                    const std::vector<v1::OrderCount>& order_counts);
// The same over `groups` (rolled up) and `slices` (raw rows) together.
v1::ComplaintMetrics ComputeMetrics(const std::vector<MetricGroup>& groups,
                                    const std::vector<std::vector<MetricRow>>& slices,
                                    const std::vector<v1::MetricsDimension>& group_by,
                                    const std::vector<v1::OrderCount>& order_counts);

// The rows by full key (channel, category, team, tier, agent, kind), in key
// order: what the rollups keep for a day.
std::vector<MetricGroup> RollUp(const std::vector<MetricRow>& rows);
// Groups merged by full key, in key order: a month from its days.
std::vector<MetricGroup> MergeGroups(const std::vector<MetricGroup>& groups);

// UTC day numbers (unix seconds / 86400, rounded down) and months (the day
// number of their first day).
int64_t DayNumber(absl::Time t);
absl::Time DayStart(int64_t day);
int64_t MonthOf(int64_t day);
int64_t NextMonth(int64_t month);

// What a metrics call over [from, to) reads: the month rows of `months`,
// the day rows of the days in `day_spans` (half-open, none of them dirty),
// and the raw rows of `raw` (the partial days at the edges and the dirty
// days). Together they cover [from, to) once. A month is used when it lies
// within the whole days of the range, is current and has no dirty day.
struct MetricsPlan {
  std::vector<int64_t> months;
  std::vector<std::pair<int64_t, int64_t>> day_spans;
  std::vector<std::pair<absl::Time, absl::Time>> raw;
};
// The whole days of [from, to): [first, end), empty when first >= end.
std::pair<int64_t, int64_t> WholeDays(absl::Time from, absl::Time to);
// `dirty_days` and `current_months` ascending, within the whole days.
MetricsPlan PlanMetricsRead(absl::Time from, absl::Time to, const std::vector<int64_t>& dirty_days,
                            const std::vector<int64_t>& current_months);

}  // namespace care::complaint
