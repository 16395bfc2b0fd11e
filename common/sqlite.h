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
#include "common/store.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace care {

// A schema change shipped inside the binary (see cmake/CareMigrations.cmake).
struct Migration {
  std::string component;  // "common", "loyalty", ...: each numbers its own versions
  int version;
  std::string name;
  std::string sql;
};

struct Blob {
  absl::string_view bytes;
};

// A prepared statement borrowed from its connection's cache; reset when the
// handle goes away. The cache never evicts a statement while it is borrowed.
class Statement final {
 public:
  Statement(sqlite3_stmt* stmt, sqlite3* db, int* borrowed = nullptr) : stmt_(stmt), db_(db), borrowed_(borrowed) {
    if (borrowed_) ++*borrowed_;
  }
  Statement(Statement&& other) noexcept : stmt_(other.stmt_), db_(other.db_), borrowed_(other.borrowed_) {
    other.stmt_ = nullptr;
    other.borrowed_ = nullptr;
  }
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  void Bind(int index, int64_t v) { sqlite3_bind_int64(stmt_, index, v); }
  void Bind(int index, int v) { sqlite3_bind_int64(stmt_, index, v); }
  void Bind(int index, bool v) { sqlite3_bind_int64(stmt_, index, v ? 1 : 0); }
  void Bind(int index, double v) { sqlite3_bind_double(stmt_, index, v); }
  void Bind(int index, absl::string_view v) {
    sqlite3_bind_text(stmt_, index, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void Bind(int index, const std::string& v) { Bind(index, absl::string_view(v)); }
  void Bind(int index, const char* v) { Bind(index, absl::string_view(v)); }
  void Bind(int index, Blob v) {
    sqlite3_bind_blob(stmt_, index, v.bytes.data(), static_cast<int>(v.bytes.size()), SQLITE_TRANSIENT);
  }
  void Bind(int index, std::nullptr_t) { sqlite3_bind_null(stmt_, index); }
  template <typename T>
  void Bind(int index, const std::optional<T>& v) {
    if (v)
      Bind(index, *v);
    else
      sqlite3_bind_null(stmt_, index);
  }

  // True when a row is ready to read; false when done.
  absl::StatusOr<bool> Step();

  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string Text(int col) const;
  std::string Bytes(int col) const;

 private:
  sqlite3_stmt* stmt_;
  sqlite3* db_;
  int* borrowed_;  // the cache entry's count of live handles
};

// The protobuf message stored in column `col` of `s` into `out`; DATA_LOSS
// "stored <what> is unreadable" when it does not parse: the one way a store
// reports a corrupt blob (never skipped, never half-read).
absl::Status ParseBlob(const Statement& s, int col, google::protobuf::Message& out, absl::string_view what);

// Statements one connection keeps prepared by default. The suite's stores
// have a few hundred statement texts in all, each connection uses a subset,
// and every value is bound, so the texts are fixed; the bound only matters
// should a future query build its text from values again.
inline constexpr size_t kDefaultStatementCacheCapacity = 256;

// One connection inside a transaction. Statements are prepared once per
// connection and reused, at most `statement_capacity` of them: past that the
// least recently used statement not in use is finalized. SQL text must not
// carry values (bind them, lists as one JSON array: see JsonArray below).
class Txn final {
 public:
  explicit Txn(sqlite3* db, size_t statement_capacity = kDefaultStatementCacheCapacity)
      : db_(db), capacity_(statement_capacity) {}
  ~Txn();

  absl::StatusOr<Statement> Prepare(absl::string_view sql);

  // Prepares `sql` and binds `args` to ?1, ?2, ...
  template <typename... Args>
  absl::StatusOr<Statement> Query(absl::string_view sql, const Args&... args) {
    auto stmt = Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    int i = 0;
    (stmt->Bind(++i, args), ...);
    return stmt;
  }

  // Runs a statement to completion; returns the number of rows changed.
  template <typename... Args>
  absl::StatusOr<int64_t> Exec(absl::string_view sql, const Args&... args) {
    auto stmt = Query(sql, args...);
    if (!stmt.ok()) return stmt.status();
    for (;;) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
    }
    return sqlite3_changes64(db_);
  }

  // Runs SQL text with no parameters (possibly several statements).
  absl::Status ExecScript(absl::string_view sql);
  int64_t LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }

  // Statements prepared and kept by this connection now.
  size_t cached_statements() const { return index_.size(); }

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
  friend class Database;
};

struct DatabaseOptions {
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
class Database final {
 public:
  static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path,
                                                        const std::vector<Migration>& migrations,
                                                        const DatabaseOptions& options = {});
  ~Database();

  // Runs `fn` in a write transaction and waits until it is committed.
  // Non-OK from `fn` rolls back its changes and is returned as is.
  absl::Status Write(std::function<absl::Status(Txn&)> fn);
  // Runs `fn` in a read transaction (a consistent snapshot).
  absl::Status Read(const std::function<absl::Status(Txn&)>& fn);

  // True while the last write or probe succeeded; feeds readiness.
  bool Healthy() const { return healthy_.load(); }
  absl::Status Probe();

 private:
  struct Connection {
    sqlite3* db = nullptr;
    std::unique_ptr<Txn> txn;
  };
  struct PendingWrite {
    std::function<absl::Status(Txn&)> fn;
    std::promise<absl::Status> done;
  };

  Database() = default;
  static absl::StatusOr<Connection> Connect(const std::string& path, const DatabaseOptions& options);
  absl::Status Migrate(const std::vector<Migration>& migrations);
  void WriterLoop();

  DatabaseOptions options_;
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
};

// Helpers for the common shapes of a query; each takes Txn::Query's result.
// Steps a statement that returns no rows.
inline absl::Status Run(absl::StatusOr<Statement> stmt) {
  if (!stmt.ok()) return stmt.status();
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
  }
}

// Whether the query returns at least one row.
inline absl::StatusOr<bool> Exists(absl::StatusOr<Statement> stmt) {
  if (!stmt.ok()) return stmt.status();
  return stmt->Step();
}

// Every row of `stmt`, each turned into a T by `read(const Statement&)`.
template <typename T, typename Fn>
absl::StatusOr<std::vector<T>> Collect(absl::StatusOr<Statement> stmt, Fn read) {
  if (!stmt.ok()) return stmt.status();
  std::vector<T> out;
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(read(*stmt));
  }
}

// A service's TransactionalStore (common/store.h) over a Database: `View` is
// the service's SQLite implementation of its StoreTxn, built from a Txn.
template <typename StoreTxn, typename View>
class SqliteStoreOf final : public TransactionalStore<StoreTxn> {
 public:
  explicit SqliteStoreOf(Database& db) : db_(db) {}
  absl::Status Write(const std::function<absl::Status(StoreTxn&)>& fn) override {
    return db_.Write([&fn](Txn& txn) {
      View view(txn);
      return fn(view);
    });
  }
  absl::Status Read(const std::function<absl::Status(StoreTxn&)>& fn) override {
    return db_.Read([&fn](Txn& txn) {
      View view(txn);
      return fn(view);
    });
  }

 private:
  Database& db_;
};

// A JSON array of the values, to bind as ONE parameter of
// "col IN (SELECT value FROM json_each(?N))": the statement text stays the
// same whatever the number of values, so it is prepared once.
std::string JsonArray(const std::vector<std::string>& values);
std::string JsonArray(const std::vector<int>& values);

// The migrations every service database carries (outbox, idempotency),
// generated from common/migrations/.
std::vector<Migration> CommonMigrations();

// Turns an SQLite result code into a status whose text stays in our logs.
absl::Status SqliteError(sqlite3* db, int rc, absl::string_view what);

}  // namespace care
