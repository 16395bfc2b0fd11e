#pragma once

// The Prometheus families the loyalty service exports beside the runtime's
// (common/metrics.h) and the tier cache's; main() adds DeclareMetrics to the
// catalog.

#include "common/metrics.h"

namespace care::loyalty {

// care_loyalty_member_exports_total{principal}: ExportMembers streams ended
// (the audit of who exports members' personal data).
inline metrics::Counter& MemberExportsMetric() {
  static auto& f = metrics::Registry::Global().Counter("care_loyalty_member_exports_total",
                                                       "ExportMembers streams ended, by the calling principal.",
                                                       {"principal"});
  return f;
}

// care_loyalty_members_exported_total{principal}: the members they sent.
inline metrics::Counter& MembersExportedMetric() {
  static auto& f = metrics::Registry::Global().Counter("care_loyalty_members_exported_total",
                                                       "Members sent by ExportMembers, by the calling principal.",
                                                       {"principal"});
  return f;
}

inline void DeclareMetrics() {
  MemberExportsMetric();
  MembersExportedMetric();
}

}  // namespace care::loyalty
