#pragma once

// Online backups of a service's embedded SQLite database: on a schedule, a
// consistent snapshot (VACUUM INTO) while writes go on, published under its
// final name only once it is complete and synced, the newest N kept. On
// PostgreSQL backups are the server's business (pg_dump, base backups and
// WAL archiving for point-in-time recovery): the flags are refused there.
// Restore: docs/operations.md, "Backups and restore", and tools/backup.sh.

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/config.h"
#include "common/sqlite.h"

namespace care {

struct BackupOptions {
  static constexpr absl::Duration kMinInterval = absl::Seconds(10);
  static constexpr absl::Duration kMaxInterval = absl::Hours(24 * 7);
  static constexpr int kMaxKeep = 1000;
  std::string dir;  // "" = no backups (the default)
  absl::Duration interval = absl::Hours(1);
  int keep = 24;

  bool enabled() const { return !dir.empty(); }

  // Declares --backup_dir, --backup_interval (10s..168h) and --backup_keep
  // (1..1000) on `config`. With `postgres` (--database_url set) a backup_dir
  // is a configuration error that names pg_dump and PITR instead.
  static BackupOptions Read(ConfigReader& config, bool postgres);
};

// One backup of `db` into options.dir as "<service>-<start, UTC>.db": the
// snapshot is written under a temporary name, synced, renamed and the folder
// synced, so the folder only ever holds complete backups; then all but the
// newest `keep` are deleted. Returns the backup's path. Counts in
// care_backup_last_success_timestamp_seconds / care_backup_failures_total.
absl::StatusOr<std::string> BackupOnce(SqliteDatabase& db, const std::string& service, const BackupOptions& options,
                                       absl::Time start);

// Runs BackupOnce every options.interval (wall clock; the first one interval
// after start) on a thread of its own: copying a large database must not
// hold up the jobs. Stops, after any backup under way, when destroyed.
class BackupScheduler final {
 public:
  BackupScheduler(SqliteDatabase& db, std::string service, BackupOptions options);
  ~BackupScheduler();
  BackupScheduler(const BackupScheduler&) = delete;
  BackupScheduler& operator=(const BackupScheduler&) = delete;

 private:
  void Loop();

  SqliteDatabase& db_;
  const std::string service_;
  const BackupOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_; declared before thread_, which reads it
  std::thread thread_;
};

// The families of this file, for the metrics catalog.
void DeclareBackupMetrics();

}  // namespace care
