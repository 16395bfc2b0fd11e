#pragma once

// What an operator watches of a service's database besides its data: whether
// it still takes writes (readiness) and how much room it takes (a metric).

#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/sql.h"

namespace care {

// Readiness of the database: a write, not a read. A full volume, a
// read-only standby or a revoked grant leave reads working while every write
// fails; an upsert of this process's row of `write_probe`, committed (and on
// SQLite synced) like any write, fails then too. One probe per `interval` at
// most, whatever the readiness poll rate: Ready() answers the last result in
// between.
class WriteProbe final {
 public:
  static constexpr absl::Duration kInterval = absl::Seconds(5);

  WriteProbe(Database& db, std::string replica, absl::Duration interval = kInterval)
      : db_(db), replica_(std::move(replica)), interval_(interval) {}

  // Runs a probe when the last one is `interval` old (wall clock), then
  // answers whether the last probe succeeded. Logs a failure once per change.
  bool Ready();

 private:
  absl::Status RunOnce();

  Database& db_;
  const std::string replica_;
  const absl::Duration interval_;
  std::mutex mu_;
  absl::Time last_ = absl::InfinitePast();
  bool ok_ = false;
  bool logged_failure_ = false;
};

// Sets care_database_size_bytes to db.SizeBytes(); false (a job with no
// backlog). A failure is logged and keeps the last value.
bool RefreshDatabaseSize(Database& db);

// The families of this file, for the metrics catalog.
void DeclareDatabaseOpsMetrics();

}  // namespace care
