#pragma once

// How long records kept only for retries and diagnosis live: idempotency
// records of principals' request and event ids, and delivered outbox
// events. Natural keys (an order id), pending and dead events are never
// purged.

#include "absl/time/time.h"
#include "common/config.h"
#include "common/sql.h"

namespace care {

struct RetentionOptions {
  // The contracts promise a retry is recognised for at least 24 h.
  static constexpr absl::Duration kMin = absl::Hours(24);
  static constexpr absl::Duration kMax = absl::Hours(24 * 366);
  absl::Duration idempotency = absl::Hours(24 * 30);
  absl::Duration outbox = absl::Hours(24 * 30);
  int batch = 1000;  // rows per delete: the single writer is never held long

  // Declares --idempotency_retention and --outbox_retention on `config`; a
  // value outside [24h, 366d] is a configuration error naming the flag.
  static RetentionOptions Read(ConfigReader& config);
};

// One pass of the purge job at `now`: one bounded batch of each kind (and
// of write_probe rows of replicas gone for a day).
// Returns true when a batch was full (more is due right away). Counts what
// went in care_retention_purged_total{table}.
bool PurgeExpired(Database& db, absl::Time now, const RetentionOptions& options);

}  // namespace care
