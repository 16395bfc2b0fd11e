#pragma once

// Complaint metrics over the narrow rows of a time range: counts, business
// response and resolution times (median and p90 by nearest rank, mean),
// consultation time, SLA compliance, reopen rate, satisfaction and
// complaints per 1,000 orders, overall and grouped by channel, category,
// team, tier and assigned agent. Pure: rows in,
// figures out. The rows come in slices (one per parallel read).

#include <vector>

#include "care/complaint/v1/complaint.pb.h"
#include "services/complaint/complaint_store.h"

namespace care::complaint {

v1::ComplaintMetrics ComputeMetrics(const std::vector<std::vector<MetricRow>>& slices,
                                    const std::vector<v1::MetricsDimension>& group_by,
                                    const std::vector<v1::OrderCount>& order_counts);

}  // namespace care::complaint
