#pragma once

// The Prometheus families the complaint service exports beside the
// runtime's (common/metrics.h); main() adds DeclareMetrics to the catalog.

#include "common/metrics.h"

namespace care::complaint {

// care_complaint_sla_breaches_total{priority,target}: SLA clocks breached.
inline metrics::Counter& SlaBreachesMetric() {
  static auto& f = metrics::Registry::Global().Counter(
      "care_complaint_sla_breaches_total",
      "Complaint SLA clocks breached, by priority and SLA target (FIRST_RESPONSE, RESOLUTION).",
      {"priority", "target"});
  return f;
}

inline void DeclareMetrics() { SlaBreachesMetric(); }

}  // namespace care::complaint
