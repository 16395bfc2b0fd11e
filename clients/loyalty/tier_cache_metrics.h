#pragma once

// The tier cache's Prometheus families, exported by every binary that reads
// or writes the cache (loyalty, promotion, complaint): main() adds
// DeclareTierCacheMetrics to the catalog.

#include "common/metrics.h"

namespace care {

// care_tier_cache_lookups_total{result=hit|miss|invalid|error|memo}: tier
// cache reads (memo: answered by loyalty's in-memory copy before Redis;
// invalid: an entry whose signature did not verify, treated as a miss).
inline metrics::Counter& TierCacheLookupsMetric() {
  static auto& f = metrics::Registry::Global().Counter(
      "care_tier_cache_lookups_total",
      "Tier lookups by result: hit (Redis), miss (fallback used), invalid (entry with a bad or missing "
      "signature, fallback used), error (Redis unavailable).",
      {"result"});
  return f;
}

// care_tier_cache_repairs_total{reason=bad_signature|ahead|behind|no_member|old_key}:
// entries loyalty's tier cache audit overwrote or deleted.
inline metrics::Counter& TierCacheRepairsMetric() {
  static auto& f = metrics::Registry::Global().Counter(
      "care_tier_cache_repairs_total",
      "Tier cache entries the loyalty audit fixed, by why: bad_signature, ahead (of the database), behind, "
      "no_member, old_key (re-signed with the current key).",
      {"reason"});
  return f;
}

inline void DeclareTierCacheMetrics() {
  TierCacheLookupsMetric();
  TierCacheRepairsMetric();
}

}  // namespace care
