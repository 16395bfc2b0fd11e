#pragma once

// How long records kept only for retries and diagnosis live: idempotency
// records of principals' request and event ids, and delivered outbox
// events. Natural keys (an order id), pending and dead events are never
// purged.

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/config.h"
#include "common/sql.h"

namespace care {

struct RetentionOptions {
  // The contracts promise a retry is recognised for at least 24 h.
  static constexpr absl::Duration kMin = absl::Hours(24);
  static constexpr absl::Duration kMax = absl::Hours(24 * 366);
  // Audit entries: at least 30 days (an investigation needs them), at most
  // 10 years.
  static constexpr absl::Duration kAuditMin = absl::Hours(24 * 30);
  static constexpr absl::Duration kAuditMax = absl::Hours(24 * 3660);
  absl::Duration idempotency = absl::Hours(24 * 30);
  absl::Duration outbox = absl::Hours(24 * 30);
  absl::Duration audit = absl::Hours(24 * 400);
  int batch = 1000;  // rows per delete: the single writer is never held long

  // Declares --idempotency_retention and --outbox_retention ([24h, 366d])
  // and --audit_retention ([30d, 3660d]) on `config`; a value out of bounds
  // is a configuration error naming the flag.
  static RetentionOptions Read(ConfigReader& config);
};

// A service's own retention flag `name`: a duration in [min, max] (else a
// configuration error naming the flag and its bounds), `def` when not set.
absl::Duration ReadRetention(ConfigReader& config, absl::string_view name, absl::Duration def, absl::Duration min,
                             absl::Duration max, absl::string_view help);

// The end of one bounded purge batch of a service's own data kind `table`:
// counts what went in care_retention_purged_total{table} (a failure is
// logged and counted as a failed job run). Returns true when the batch was
// full (more is due right away).
bool CountPurged(absl::string_view job, absl::string_view table, const absl::StatusOr<int64_t>& deleted, int batch);

// One pass of the purge job at `now`: one bounded batch of each kind (and
// of write_probe rows of replicas gone for a day).
// Returns true when a batch was full (more is due right away). Counts what
// went in care_retention_purged_total{table}.
bool PurgeExpired(Database& db, absl::Time now, const RetentionOptions& options);

}  // namespace care
