#include "common/sqlite.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/metrics.h"
#include "google/protobuf/message.h"

namespace care {

absl::Status SqliteError(sqlite3* db, int rc, absl::string_view what) {
  // No ErrorInfo reason: the gRPC boundary answers INTERNAL without this text.
  return absl::InternalError(absl::StrCat("sqlite ", what, ": ", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
}

namespace {

// Statements kept prepared by every connection of the process.
metrics::GaugeCell& CachedGauge() {
  static metrics::GaugeCell& cell = metrics::SqlStatementsCached().With({});
  return cell;
}

}  // namespace

SqliteStatement::~SqliteStatement() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  --*borrowed_;
}

absl::StatusOr<bool> SqliteStatement::Step() {
  if (array_bound_) return absl::InvalidArgumentError("sqlite: array parameters are PostgreSQL's only");
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  if ((rc & 0xff) == SQLITE_CONSTRAINT) {
    return absl::AlreadyExistsError(absl::StrCat("constraint: ", sqlite3_errmsg(db_)));
  }
  return SqliteError(db_, rc, "step");
}

std::string SqliteStatement::Text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  return p ? std::string(p, sqlite3_column_bytes(stmt_, col)) : std::string();
}

std::string SqliteStatement::Bytes(int col) const {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
  return p ? std::string(p, sqlite3_column_bytes(stmt_, col)) : std::string();
}

SqliteTxn::~SqliteTxn() {
  for (auto& entry : lru_) sqlite3_finalize(entry.stmt);
  CachedGauge().Add(-static_cast<double>(lru_.size()));
}

absl::StatusOr<Statement> SqliteTxn::Prepare(absl::string_view sql) {
  auto it = index_.find(std::string_view(sql.data(), sql.size()));
  if (it != index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return Statement(std::make_unique<SqliteStatement>(it->second->stmt, db_, &it->second->borrowed));
  }
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return SqliteError(db_, rc, absl::StrCat("prepare [", sql, "]"));
  }
  lru_.push_front(CachedStatement{std::string(sql), stmt, 0});
  index_.emplace(std::string_view(lru_.front().sql), lru_.begin());
  CachedGauge().Add(1);
  // Borrowed before evicting, so the new statement is never the one evicted.
  Statement handle(std::make_unique<SqliteStatement>(stmt, db_, &lru_.front().borrowed));
  EvictOverCapacity();
  return handle;
}

void SqliteTxn::EvictOverCapacity() {
  auto it = lru_.end();
  while (index_.size() > capacity_ && it != lru_.begin()) {
    --it;
    if (it->borrowed > 0) continue;
    sqlite3_finalize(it->stmt);
    index_.erase(std::string_view(it->sql));
    it = lru_.erase(it);
    CachedGauge().Add(-1);
  }
}

absl::Status SqliteTxn::ExecScript(absl::string_view sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    absl::Status s = absl::InternalError(absl::StrCat("sqlite exec: ", err ? err : "?"));
    sqlite3_free(err);
    return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<SqliteDatabase::Connection> SqliteDatabase::Connect(const std::string& path,
                                                                   const SqliteOptions& options) {
  Connection c;
  int rc = sqlite3_open_v2(path.c_str(), &c.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    absl::Status s = SqliteError(c.db, rc, absl::StrCat("open ", path));
    sqlite3_close(c.db);
    return s;
  }
  sqlite3_busy_timeout(c.db, options.busy_timeout_ms);
  c.txn = std::make_unique<SqliteTxn>(c.db, std::max<size_t>(options.statement_cache_capacity, 1));
  absl::Status s = c.txn->ExecScript(absl::StrCat("PRAGMA journal_mode=WAL; PRAGMA synchronous=", options.synchronous,
                                                  "; PRAGMA foreign_keys=ON;"
                                                  // Deleted rows are zeroed, not left in free space: an
                                                  // erased person stays erased on disk (docs/privacy.md).
                                                  " PRAGMA secure_delete=ON;"));
  if (!s.ok()) return s;
  return c;
}

absl::StatusOr<std::unique_ptr<SqliteDatabase>> SqliteDatabase::Open(const std::string& path,
                                                                     const std::vector<Migration>& migrations,
                                                                     const SqliteOptions& options) {
  std::unique_ptr<SqliteDatabase> db(new SqliteDatabase());
  db->options_ = options;
  db->path_ = path;
  if (absl::Status s = db->LockFile(path); !s.ok()) return s;
  auto writer = Connect(path, options);
  if (!writer.ok()) return writer.status();
  db->writer_ = std::move(*writer);
  if (absl::Status s = db->Migrate(migrations); !s.ok()) return s;
  // Before the readers connect: VACUUM wants the file to itself.
  if (absl::Status s = db->VacuumOnceAfterSecureDelete(); !s.ok()) return s;
  for (int i = 0; i < options.readers; ++i) {
    auto reader = Connect(path, options);
    if (!reader.ok()) return reader.status();
    db->readers_.push_back(std::move(*reader));
  }
  for (auto& r : db->readers_) db->idle_readers_.push_back(&r);
  db->writer_thread_ = std::thread([d = db.get()] { d->WriterLoop(); });
  return db;
}

SqliteDatabase::~SqliteDatabase() {
  {
    std::lock_guard lock(write_mu_);
    stopping_ = true;
  }
  write_cv_.notify_all();
  if (writer_thread_.joinable()) writer_thread_.join();
  auto close = [](Connection& c) {
    c.txn.reset();  // finalizes cached statements before the close
    if (c.db) sqlite3_close(c.db);
  };
  for (auto& r : readers_) close(r);
  close(writer_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

absl::Status SqliteDatabase::LockFile(const std::string& path) {
  if (path.empty() || path == ":memory:") return absl::OkStatus();
  const std::string lock_path = path + ".lock";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) {
    return absl::FailedPreconditionError(absl::StrCat("cannot open lock file ", lock_path, ": ", std::strerror(errno)));
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) == 0) return absl::OkStatus();
  const int err = errno;
  if (err == EWOULDBLOCK) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is already open in another process (it holds ", lock_path,
                     "): SQLite allows one writer, so a service on SQLite runs as exactly one replica; stop the "
                     "other process, or run several replicas on PostgreSQL (--database_url)"));
  }
  return absl::FailedPreconditionError(absl::StrCat("cannot lock ", lock_path, ": ", std::strerror(err)));
}

absl::Status SqliteDatabase::Migrate(const std::vector<Migration>& migrations) {
  SqliteTxn& txn = *writer_.txn;
  absl::Status s = txn.ExecScript(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " component TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,"
      " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),"
      " PRIMARY KEY (component, version))");
  if (!s.ok()) return s;

  std::map<std::string, int> known_max;
  for (const auto& m : migrations) known_max[m.component] = std::max(known_max[m.component], m.version);
  {
    auto stmt = txn.Query("SELECT component, MAX(version) FROM schema_migrations GROUP BY component");
    if (!stmt.ok()) return stmt.status();
    for (;;) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      std::string component = stmt->Text(0);
      if (stmt->Int(1) > known_max[component]) {
        return absl::FailedPreconditionError(absl::StrCat("database schema of ", component, " is at version ",
                                                          stmt->Int(1), ", newer than this binary knows (",
                                                          known_max[component], "): refusing to start"));
      }
    }
  }
  for (const auto& m : migrations) {
    auto applied = txn.Query("SELECT 1 FROM schema_migrations WHERE component = ?1 AND version = ?2", m.component,
                             m.version);
    if (!applied.ok()) return applied.status();
    auto row = applied->Step();
    if (!row.ok()) return row.status();
    if (*row) continue;
    // Each migration and its record commit together, or not at all.
    s = txn.ExecScript("BEGIN IMMEDIATE");
    if (s.ok()) s = txn.ExecScript(m.sql);
    if (s.ok()) {
      auto rec = txn.Exec("INSERT INTO schema_migrations (component, version, name) VALUES (?1, ?2, ?3)", m.component,
                          m.version, m.name);
      s = rec.status();
    }
    if (s.ok()) s = txn.ExecScript("COMMIT");
    if (!s.ok()) {
      txn.ExecScript("ROLLBACK").IgnoreError();
      return absl::InternalError(absl::StrCat("migration ", m.component, "/", m.version, " ", m.name,
                                              " failed: ", s.message()));
    }
    LogInfo("migration applied", {{"component", m.component}, {"version", m.version}, {"name", m.name}});
  }
  return absl::OkStatus();
}

absl::Status SqliteDatabase::VacuumOnceAfterSecureDelete() {
  constexpr char kName[] = "vacuum_after_secure_delete";
  SqliteTxn& txn = *writer_.txn;
  absl::Status s = txn.ExecScript(
      "CREATE TABLE IF NOT EXISTS maintenance_runs ("
      " name TEXT NOT NULL PRIMARY KEY,"
      " ran_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),"
      " duration_ms INTEGER NOT NULL)");
  if (!s.ok()) return s;
  auto done = Exists(txn.Query("SELECT 1 FROM maintenance_runs WHERE name = ?1", kName));
  if (!done.ok()) return done.status();
  if (*done) return absl::OkStatus();
  LogInfo("sqlite: one-time VACUUM (pages freed before secure_delete are rewritten); it may take a while",
          {{"path", path_}});
  const absl::Time start = absl::Now();
  // Not in a transaction: SQLite refuses VACUUM inside one. A crash before
  // the row below is written only means it runs again next time.
  s = txn.ExecScript("VACUUM");
  if (!s.ok()) return s;
  const int64_t ms = absl::ToInt64Milliseconds(absl::Now() - start);
  auto rec = txn.Exec("INSERT INTO maintenance_runs (name, duration_ms) VALUES (?1, ?2)", kName, ms);
  if (!rec.ok()) return rec.status();
  LogInfo("sqlite: one-time VACUUM done", {{"path", path_}, {"duration_ms", ms}});
  return absl::OkStatus();
}

absl::Status SqliteDatabase::Write(std::function<absl::Status(Txn&)> fn) {
  PendingWrite w{std::move(fn), {}, CurrentTrace()};
  auto done = w.done.get_future();
  {
    std::lock_guard lock(write_mu_);
    if (stopping_) return Unavailable("SHUTTING_DOWN", "the service is shutting down");
    writes_.push_back(std::move(w));
  }
  write_cv_.notify_one();
  return done.get();
}

void SqliteDatabase::WriterLoop() {
  SqliteTxn& txn = *writer_.txn;
  for (;;) {
    std::vector<PendingWrite> batch;
    {
      std::unique_lock lock(write_mu_);
      write_cv_.wait(lock, [this] { return stopping_ || !writes_.empty(); });
      if (writes_.empty()) return;
      while (!writes_.empty() && batch.size() < static_cast<size_t>(options_.max_batch)) {
        batch.push_back(std::move(writes_.front()));
        writes_.pop_front();
      }
    }
    std::vector<absl::Status> results;
    absl::Status batch_status = txn.ExecScript("BEGIN IMMEDIATE");
    for (auto& w : batch) {
      if (!batch_status.ok()) break;
      batch_status = txn.ExecScript("SAVEPOINT w");
      if (!batch_status.ok()) break;
      absl::Status s;
      {
        TraceScope trace(w.trace);
        s = w.fn(txn);
      }
      if (!s.ok()) batch_status = txn.ExecScript("ROLLBACK TO w");
      if (batch_status.ok()) batch_status = txn.ExecScript("RELEASE w");
      results.push_back(std::move(s));
    }
    if (batch_status.ok()) batch_status = txn.ExecScript("COMMIT");
    if (!batch_status.ok()) {
      txn.ExecScript("ROLLBACK").IgnoreError();
      LogError("write batch failed", {{"error", batch_status.message()}, {"writes", batch.size()}});
    }
    healthy_ = batch_status.ok();
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i].done.set_value(batch_status.ok() ? results[i] : batch_status);
    }
  }
}

absl::Status SqliteDatabase::Read(const std::function<absl::Status(Txn&)>& fn) {
  Connection* c;
  {
    std::unique_lock lock(readers_mu_);
    readers_cv_.wait(lock, [this] { return !idle_readers_.empty(); });
    c = idle_readers_.back();
    idle_readers_.pop_back();
  }
  absl::Status s = c->txn->ExecScript("BEGIN");
  if (s.ok()) {
    s = fn(*c->txn);
    c->txn->ExecScript("COMMIT").IgnoreError();  // read-only: nothing to keep or lose
  }
  {
    std::lock_guard lock(readers_mu_);
    idle_readers_.push_back(c);
  }
  readers_cv_.notify_one();
  return s;
}

absl::Status SqliteDatabase::Probe() {
  absl::Status s = Read([](Txn& txn) { return txn.Exec("SELECT 1").status(); });
  healthy_ = s.ok();
  return s;
}

absl::StatusOr<int64_t> SqliteDatabase::SizeBytes() {
  int64_t pages = 0;
  absl::Status s = Read([&](Txn& txn) -> absl::Status {
    auto stmt = txn.Query("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()");
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (*row) pages = stmt->Int(0);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  // Committed pages not yet checkpointed live in the WAL, which is never
  // shrunk below its largest size: both take room on the volume.
  struct stat wal {};
  if (!path_.empty() && ::stat((path_ + "-wal").c_str(), &wal) == 0) pages += wal.st_size;
  return pages;
}

absl::Status SqliteDatabase::Scrub() {
  // Its own connection, as BackupInto: the writer keeps committing meanwhile.
  auto c = Connect(path_, options_);
  if (!c.ok()) return c.status();
  int64_t busy = 1;
  absl::Status s = [&]() -> absl::Status {
    auto stmt = c->txn->Query("PRAGMA wal_checkpoint(TRUNCATE)");
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (*row) busy = stmt->Int(0);
    return absl::OkStatus();
  }();
  c->txn.reset();
  sqlite3_close(c->db);
  if (!s.ok()) return s;
  if (busy != 0) return Unavailable("CHECKPOINT_BUSY", "a reader still uses the write-ahead log; retry");
  return absl::OkStatus();
}

absl::Status SqliteDatabase::BackupInto(const std::string& dest) {
  // Not the writer: VACUUM INTO reads a snapshot like any reader, and the
  // group-commit writer keeps committing while it copies.
  auto c = Connect(path_, options_);
  if (!c.ok()) return c.status();
  absl::Status s;
  {
    auto stmt = c->txn->Query("VACUUM INTO ?1", dest);
    s = Run(std::move(stmt));
  }
  c->txn.reset();
  sqlite3_close(c->db);
  return s;
}

}  // namespace care
