#pragma once

#include <sqlite3.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/sql.h"
#include "common/trace.h"

namespace care {

// One SQLite statement borrowed from its connection's cache; reset when the
// handle goes away. The cache never evicts a statement while it is borrowed.
class SqliteStatement final : public StatementImpl {
 public:
  SqliteStatement(sqlite3_stmt* stmt, sqlite3* db, int* borrowed) : stmt_(stmt), db_(db), borrowed_(borrowed) {
    ++*borrowed_;
  }
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;
  ~SqliteStatement() override;

  void BindInt(int index, int64_t v) override { sqlite3_bind_int64(stmt_, index, v); }
  void BindDouble(int index, double v) override { sqlite3_bind_double(stmt_, index, v); }
  void BindText(int index, absl::string_view v) override {
    sqlite3_bind_text(stmt_, index, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void BindBlob(int index, absl::string_view v) override {
    sqlite3_bind_blob(stmt_, index, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void BindNull(int index) override { sqlite3_bind_null(stmt_, index); }
  // SQLite has no array type: the statement fails when stepped.
  void BindArray(int /*index*/, const SqlArray& /*v*/) override { array_bound_ = true; }
  absl::StatusOr<bool> Step() override;
  bool IsNull(int col) const override { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int64_t Int(int col) const override { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) const override { return sqlite3_column_double(stmt_, col); }
  std::string Text(int col) const override;
  std::string Bytes(int col) const override;
  int64_t Changes() const override { return sqlite3_changes64(db_); }

 private:
  sqlite3_stmt* stmt_;
  sqlite3* db_;
  int* borrowed_;  // the cache entry's count of live handles
  bool array_bound_ = false;
};

// Statements one connection keeps prepared by default. The suite's stores
// have a few hundred statement texts in all, each connection uses a subset,
// and every value is bound, so the texts are fixed; the bound only matters
// should a future query build its text from values again.
inline constexpr size_t kDefaultStatementCacheCapacity = 256;

// One SQLite connection inside a transaction. Statements are prepared once
// and reused, at most `statement_capacity` of them: past that the least
// recently used statement not in use is finalized.
class SqliteTxn final : public Txn {
 public:
  explicit SqliteTxn(sqlite3* db, size_t statement_capacity = kDefaultStatementCacheCapacity)
      : db_(db), capacity_(statement_capacity) {}
  ~SqliteTxn() override;

  absl::StatusOr<Statement> Prepare(absl::string_view sql) override;
  absl::Status ExecScript(absl::string_view sql) override;
  size_t cached_statements() const override { return index_.size(); }
  SqlEngine engine() const override { return SqlEngine::kSqlite; }

 private:
  struct CachedStatement {
    std::string sql;
    sqlite3_stmt* stmt = nullptr;
    int borrowed = 0;  // live Statement handles
  };
  // Finalizes least recently used statements not in use until the cache is
  // within its capacity (or only borrowed ones are left).
  void EvictOverCapacity();

  sqlite3* db_;
  size_t capacity_;
  std::list<CachedStatement> lru_;  // most recently used first; nodes never move
  std::unordered_map<std::string_view, std::list<CachedStatement>::iterator> index_;  // keys view lru_'s sql
};

struct SqliteOptions {
  int readers = 4;
  int busy_timeout_ms = 5000;
  // FULL survives power loss; NORMAL only a process crash. Both are safe
  // against kill -9 in WAL mode.
  std::string synchronous = "FULL";
  // Most writes committed together by the group-commit writer.
  int max_batch = 256;
  // Prepared statements each connection keeps (Txn).
  size_t statement_cache_capacity = kDefaultStatementCacheCapacity;
};

// An SQLite database in WAL mode. Writes go through one writer thread that
// commits queued writes together (group commit): each write runs inside its
// own savepoint, so a write that fails leaves nothing behind, and a caller is
// answered only after the batch is durable. Reads run concurrently on a pool
// of reader connections.
//
// One process per file: Open takes an exclusive lock on "<path>.lock", held
// until the object is destroyed, and fails with FAILED_PRECONDITION while
// another process holds it (a second replica, or a leftover process sharing
// the volume). flock(2) is reliable on local filesystems only: two containers
// on one node sharing a volume are stopped, two nodes on a network filesystem
// may not be.
class SqliteDatabase final : public Database {
 public:
  static absl::StatusOr<std::unique_ptr<SqliteDatabase>> Open(const std::string& path,
                                                              const std::vector<Migration>& migrations,
                                                              const SqliteOptions& options = {});
  ~SqliteDatabase() override;

  // Runs `fn` in a write transaction and waits until it is committed; `fn`
  // runs exactly once. Non-OK from `fn` rolls back its changes and is
  // returned as is.
  absl::Status Write(std::function<absl::Status(Txn&)> fn) override;
  absl::Status Read(const std::function<absl::Status(Txn&)>& fn) override;
  bool Healthy() const override { return healthy_.load(); }
  absl::Status Probe() override;
  absl::StatusOr<int64_t> SizeBytes() override;
  absl::Status Scrub() override;
  SqlEngine engine() const override { return SqlEngine::kSqlite; }
  const std::string& path() const { return path_; }

  // An online backup: a consistent snapshot of the database (what was
  // committed when it started) written to `dest` with VACUUM INTO, from a
  // connection of its own, so writes go on meanwhile. `dest` must not exist.
  // Not synced: the caller fsyncs before it publishes the file.
  absl::Status BackupInto(const std::string& dest);

 private:
  struct Connection {
    sqlite3* db = nullptr;
    std::unique_ptr<SqliteTxn> txn;
  };
  struct PendingWrite {
    std::function<absl::Status(Txn&)> fn;
    std::promise<absl::Status> done;
    // The writer's trace context (common/trace.h), current while fn runs on
    // the writer thread: an outbox row stores it. Write() waits, so it lives.
    const TraceContext* trace = nullptr;
  };

  SqliteDatabase() = default;
  static absl::StatusOr<Connection> Connect(const std::string& path, const SqliteOptions& options);
  absl::Status LockFile(const std::string& path);
  absl::Status Migrate(const std::vector<Migration>& migrations);
  // Once per database file, recorded in maintenance_runs: a VACUUM, so the
  // free pages left before secure_delete was on (rows deleted by an older
  // release, erased people among them) are rewritten too.
  absl::Status VacuumOnceAfterSecureDelete();
  void WriterLoop();

  SqliteOptions options_;
  std::string path_;
  Connection writer_;
  std::vector<Connection> readers_;
  std::vector<Connection*> idle_readers_;
  std::mutex readers_mu_;
  std::condition_variable readers_cv_;

  std::mutex write_mu_;
  std::condition_variable write_cv_;
  std::deque<PendingWrite> writes_;
  bool stopping_ = false;
  std::thread writer_thread_;
  std::atomic<bool> healthy_{true};
  int lock_fd_ = -1;  // the single-writer lock, closed (released) last
};

// Turns an SQLite result code into a status whose text stays in our logs.
absl::Status SqliteError(sqlite3* db, int rc, absl::string_view what);

}  // namespace care
