#pragma once

// PostgreSQL as a storage engine (common/sql.h), on libpq: the server
// backend for several replicas sharing one database. Why libpq and not
// libpqxx is in docs/architecture.md ("Storage engines").
//
// Exactness without a single writer: every write transaction runs at
// SERIALIZABLE, so concurrent transactions behave as if they ran one after
// the other, and one that loses a conflict (SQLSTATE 40001 / 40P01) is rolled
// back and run again, a bounded number of times. Coordination is through
// rows only (no advisory locks, no LISTEN/NOTIFY), so the same SQL runs on
// CockroachDB and YugabyteDB.

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/sql.h"

namespace care {

struct PostgresOptions {
  // A libpq URI or key=value string: postgresql://care@db:5432/loyalty?sslmode=verify-full
  std::string url;
  // From --database_password_file; empty = whatever the URL or PGPASSFILE say.
  std::string password;
  // Connections, shared by reads and writes: sized to the work pool.
  int pool_size = 8;
  int connect_timeout_seconds = 5;
  absl::Duration statement_timeout = absl::Seconds(10);
  absl::Duration lock_timeout = absl::Seconds(5);
  // Runs of one write transaction before a serialization conflict is
  // answered ABORTED (reason CONCURRENT_UPDATE: retry with the same id).
  int max_attempts = 30;
  std::string application_name = "caresuite";
};

// The URL with its password (if any) replaced by "***", for logs.
std::string RedactedDatabaseUrl(const std::string& url);

class PostgresDatabase final : public Database {
 public:
  // Connects, then applies `migrations` under a row lock of
  // schema_migrations_lock, so replicas starting together apply each once.
  static absl::StatusOr<std::unique_ptr<PostgresDatabase>> Open(const PostgresOptions& options,
                                                                const std::vector<Migration>& migrations);
  ~PostgresDatabase() override;

  absl::Status Write(std::function<absl::Status(Txn&)> fn) override;
  absl::Status Read(const std::function<absl::Status(Txn&)>& fn) override;
  bool Healthy() const override { return healthy_.load(); }
  absl::Status Probe() override;
  absl::StatusOr<int64_t> SizeBytes() override;
  absl::Status Scrub() override { return absl::OkStatus(); }  // see Database::Scrub
  SqlEngine engine() const override { return SqlEngine::kPostgres; }

  class Connection;

 private:
  explicit PostgresDatabase(PostgresOptions options);
  absl::Status Migrate(const std::vector<Migration>& migrations);
  // A connected connection from the pool (reconnecting a broken one), or
  // UNAVAILABLE when the server cannot be reached.
  absl::StatusOr<Connection*> Acquire();
  void Release(Connection* c);
  // One run of a read or write transaction on `c`.
  absl::Status RunOnce(Connection& c, const std::function<absl::Status(Txn&)>& fn, bool write, bool* retry);

  PostgresOptions options_;
  std::vector<std::unique_ptr<Connection>> pool_;
  std::vector<Connection*> idle_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> healthy_{true};
};

// The SQL the suite writes (SQLite's `?N` parameters, json_each over a bound
// JSON array) as PostgreSQL runs it; `params` gets the highest ?N used.
std::string PostgresDialect(absl::string_view sql, int* params);

}  // namespace care
