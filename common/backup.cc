#include "common/backup.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/metrics.h"

namespace care {
namespace {

metrics::Gauge& LastSuccess() {
  static auto& f = metrics::Registry::Global().Gauge(
      "care_backup_last_success_timestamp_seconds",
      "When the last successful backup of the SQLite database started (unix seconds); 0 = none yet.");
  return f;
}

metrics::Counter& Failures() {
  static auto& f = metrics::Registry::Global().Counter("care_backup_failures_total",
                                                       "Scheduled SQLite backups that failed.");
  return f;
}

absl::Status Fsync(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("fsync ", path, ": ", std::strerror(err)));
  return absl::OkStatus();
}

// Backups of `service` in `dir`, oldest first (their names sort by time),
// and leftover temporary files of interrupted ones.
void ListBackups(const std::string& dir, const std::string& service, std::vector<std::string>* backups,
                 std::vector<std::string>* leftovers) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (absl::StartsWith(name, absl::StrCat(".", service, "-")) && absl::EndsWith(name, ".tmp")) {
      leftovers->push_back(entry.path().string());
    } else if (absl::StartsWith(name, absl::StrCat(service, "-")) && absl::EndsWith(name, ".db")) {
      backups->push_back(entry.path().string());
    }
  }
  std::sort(backups->begin(), backups->end());
}

}  // namespace

void DeclareBackupMetrics() {
  LastSuccess();
  Failures();
}

BackupOptions BackupOptions::Read(ConfigReader& c, bool postgres) {
  BackupOptions o;
  o.dir = c.String("backup_dir", "",
                   "SQLite only: folder (another volume) for scheduled online backups; empty = no backups");
  o.interval = c.Duration("backup_interval", absl::Hours(1), "how often a backup is taken (10s..168h)");
  o.keep = static_cast<int>(c.Int("backup_keep", 24, 1, kMaxKeep, "backups kept, the newest (1..1000)"));
  if (o.interval < kMinInterval || o.interval > kMaxInterval) {
    c.AddError(absl::StrCat("backup_interval must be between 10s and 168h, not ", absl::FormatDuration(o.interval)));
  }
  if (postgres && o.enabled()) {
    c.AddError(
        "backup_dir is for the embedded SQLite database: on PostgreSQL back up the server with pg_dump, or base "
        "backups and WAL archiving for point-in-time recovery (docs/operations.md, \"Backups and restore\")");
  }
  return o;
}

absl::StatusOr<std::string> BackupOnce(SqliteDatabase& db, const std::string& service, const BackupOptions& options,
                                       absl::Time start) {
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create backup_dir ", options.dir, ": ", ec.message()));
  std::vector<std::string> backups, leftovers;
  ListBackups(options.dir, service, &backups, &leftovers);
  for (const std::string& f : leftovers) std::filesystem::remove(f, ec);  // an interrupted backup's

  // Microseconds: two backups never share a name, and names sort by time.
  const std::string name = absl::StrCat(service, "-",
                                        absl::FormatTime("%Y-%m-%dT%H%M%E6SZ", start, absl::UTCTimeZone()), ".db");
  const std::string final_path = absl::StrCat(options.dir, "/", name);
  const std::string temp_path = absl::StrCat(options.dir, "/.", name, ".tmp");
  absl::Status s = db.BackupInto(temp_path);
  if (s.ok()) s = Fsync(temp_path, false);
  if (s.ok() && std::rename(temp_path.c_str(), final_path.c_str()) != 0) {
    s = absl::InternalError(absl::StrCat("rename ", temp_path, ": ", std::strerror(errno)));
  }
  if (s.ok()) s = Fsync(options.dir, true);
  if (!s.ok()) {
    std::filesystem::remove(temp_path, ec);
    return s;
  }
  backups.push_back(final_path);
  const auto keep = static_cast<size_t>(options.keep);
  for (size_t i = 0; i + keep < backups.size(); ++i) std::filesystem::remove(backups[i], ec);
  return final_path;
}

BackupScheduler::BackupScheduler(SqliteDatabase& db, std::string service, BackupOptions options)
    : db_(db), service_(std::move(service)), options_(std::move(options)), thread_([this] { Loop(); }) {}

BackupScheduler::~BackupScheduler() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void BackupScheduler::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (cv_.wait_for(lock, absl::ToChronoMilliseconds(options_.interval), [this] { return stopping_; })) return;
    lock.unlock();
    const absl::Time start = absl::Now();
    absl::StatusOr<std::string> path = BackupOnce(db_, service_, options_, start);
    if (path.ok()) {
      LastSuccess().Set({}, absl::ToDoubleSeconds(start - absl::UnixEpoch()));
      LogInfo("backup written",
              {{"path", *path}, {"seconds", absl::ToDoubleSeconds(absl::Now() - start)}, {"keep", options_.keep}});
    } else {
      Failures().Inc({});
      LogError("backup failed", {{"dir", options_.dir}, {"error", path.status().message()}});
    }
    lock.lock();
  }
}

}  // namespace care
