#include "common/database_ops.h"

#include "absl/time/clock.h"
#include "common/log.h"
#include "common/metrics.h"

namespace care {
namespace {

metrics::Gauge& DatabaseSize() {
  static auto& f = metrics::Registry::Global().Gauge(
      "care_database_size_bytes",
      "Bytes the service's database takes: SQLite pages plus WAL file, PostgreSQL pg_database_size.");
  return f;
}

metrics::Counter& WriteProbeFailures() {
  static auto& f = metrics::Registry::Global().Counter(
      "care_database_write_probe_failures_total",
      "Readiness write probes the database refused (full volume, read-only database, ...).");
  return f;
}

}  // namespace

void DeclareDatabaseOpsMetrics() {
  DatabaseSize();
  WriteProbeFailures();
}

absl::Status WriteProbe::RunOnce() {
  const int64_t now = absl::ToUnixMicros(absl::Now());
  return db_.Write([&](Txn& txn) {
    return txn
        .Exec(
            "INSERT INTO write_probe (replica, at) VALUES (?1, ?2) "
            "ON CONFLICT (replica) DO UPDATE SET at = excluded.at",
            replica_, now)
        .status();
  });
}

bool WriteProbe::Ready() {
  std::lock_guard lock(mu_);
  const absl::Time now = absl::Now();
  if (now - last_ < interval_) return ok_;
  last_ = now;
  absl::Status s = RunOnce();
  ok_ = s.ok();
  if (!ok_) {
    WriteProbeFailures().Inc({});
    if (!logged_failure_) LogWarn("database refuses writes", {{"error", s.message()}});
  } else if (logged_failure_) {
    LogInfo("database takes writes again");
  }
  logged_failure_ = !ok_;
  return ok_;
}

bool RefreshDatabaseSize(Database& db) {
  absl::StatusOr<int64_t> bytes = db.SizeBytes();
  if (!bytes.ok()) {
    LogWarn("database size unknown", {{"error", bytes.status().message()}});
    return false;
  }
  DatabaseSize().Set({}, static_cast<double>(*bytes));
  return false;
}

}  // namespace care
