#include "common/postgres.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <thread>
#include <unordered_map>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/metrics.h"

namespace care {
namespace {

// Type oids (pg_type.h) the engine binds or reads specially.
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kFloat8Oid = 701;

Oid ArrayOid(SqlArray::Type type) {
  switch (type) {
    case SqlArray::Type::kInt8:
      return 1016;  // int8[]
    case SqlArray::Type::kText:
      return 1009;  // text[]
    case SqlArray::Type::kBytea:
      return 1001;  // bytea[]
  }
  return 0;
}

bool IsConflict(absl::string_view sqlstate) { return sqlstate == "40001" || sqlstate == "40P01"; }

// What a failed statement means to the caller. No text from the server
// leaves the process: the gRPC boundary answers INTERNAL / UNAVAILABLE
// without it.
absl::Status StatementError(absl::string_view sqlstate, absl::string_view message) {
  if (sqlstate.size() == 5 && sqlstate.substr(0, 2) == "23") {
    return absl::AlreadyExistsError(absl::StrCat("constraint: ", message));
  }
  if (IsConflict(sqlstate))
    return Error(absl::StatusCode::kAborted, "CONCURRENT_UPDATE", "a concurrent change won; retry with the same id");
  if (sqlstate.substr(0, 2) == "08" || sqlstate.substr(0, 2) == "57") {
    return Unavailable("DATABASE_UNAVAILABLE", "the database is unavailable");
  }
  return absl::InternalError(absl::StrCat("postgres ", sqlstate, ": ", message));
}

}  // namespace

std::string PostgresDialect(absl::string_view sql, int* params) {
  std::string out;
  out.reserve(sql.size() + 16);
  int highest = 0;
  bool quoted = false;
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == '\'') quoted = !quoted;
    if (!quoted && c == '?' && i + 1 < sql.size() && absl::ascii_isdigit(sql[i + 1])) {
      size_t j = i + 1;
      int n = 0;
      while (j < sql.size() && absl::ascii_isdigit(sql[j])) n = n * 10 + (sql[j++] - '0');
      highest = std::max(highest, n);
      absl::StrAppend(&out, "$", n);
      i = j - 1;
      continue;
    }
    out.push_back(c);
  }
  if (params) *params = highest;
  // json_each(<json array>) yields rows with a `value` column in SQLite; the
  // same rows in PostgreSQL (as text: compare with CAST where numbers).
  return absl::StrReplaceAll(out, {{"json_each(", "json_array_elements_text("}});
}

std::string RedactedDatabaseUrl(const std::string& url) {
  // postgresql://user:secret@host/db -> postgresql://user:***@host/db
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url.find("password") == std::string::npos ? url : "(conninfo)";
  const size_t at = url.find('@', scheme + 3);
  const size_t colon = url.find(':', scheme + 3);
  if (at == std::string::npos || colon == std::string::npos || colon > at) return url;
  return absl::StrCat(url.substr(0, colon + 1), "***", url.substr(at));
}

// One server connection, its prepared statements and the state of the
// transaction it runs.
class PostgresDatabase::Connection final : public Txn {
 public:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  ~Connection() override {
    metrics::SqlStatementsCached().With({}).Add(-static_cast<double>(prepared_.size()));
    if (conn_) PQfinish(conn_);
  }

  absl::StatusOr<Statement> Prepare(absl::string_view sql) override;
  absl::Status ExecScript(absl::string_view sql) override;
  size_t cached_statements() const override { return prepared_.size(); }
  SqlEngine engine() const override { return SqlEngine::kPostgres; }

  bool broken() const { return conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK; }
  // Reconnects a broken connection; its prepared statements went with it.
  absl::Status Reset(const std::function<PGconn*()>& connect) {
    if (conn_) PQfinish(conn_);
    metrics::SqlStatementsCached().With({}).Add(-static_cast<double>(prepared_.size()));
    prepared_.clear();
    conn_ = connect();
    if (broken()) return Unavailable("DATABASE_UNAVAILABLE", "cannot connect to the database");
    return absl::OkStatus();
  }

  // The transaction's first failure, if a statement failed: PostgreSQL
  // refuses every later statement and turns COMMIT into ROLLBACK.
  void BeginTxn() { failed_sqlstate_.clear(); }
  const std::string& failed_sqlstate() const { return failed_sqlstate_; }
  void NoteFailure(absl::string_view sqlstate) {
    if (failed_sqlstate_.empty()) failed_sqlstate_ = std::string(sqlstate.empty() ? "08000" : sqlstate);
  }

  // Runs a prepared statement (preparing it on first use with these types).
  PGresult* Execute(const std::string& sql, int params, const std::vector<Oid>& types,
                    const std::vector<const char*>& values, const std::vector<int>& lengths,
                    const std::vector<int>& formats);
  PGconn* conn() const { return conn_; }

 private:
  PGconn* conn_;
  std::unordered_map<std::string, std::string> prepared_;                 // sql + type signature -> statement name
  std::unordered_map<std::string, std::pair<std::string, int>> dialect_;  // suite SQL -> server SQL, params
  std::string failed_sqlstate_;
  friend class PgStatement;
};

namespace {

// A statement: parameters collected by Bind, sent with the first Step; the
// whole result is read at once (queries page with LIMIT).
class PgStatement final : public StatementImpl {
 public:
  PgStatement(PostgresDatabase::Connection& conn, const std::string& sql, int params)
      : conn_(conn), sql_(sql), values_(params), null_(params, true), types_(params, 0), formats_(params, 0) {}
  ~PgStatement() override {
    if (result_) PQclear(result_);
  }

  void BindInt(int index, int64_t v) override { Set(index, absl::StrCat(v), kInt8Oid, 0); }
  void BindDouble(int index, double v) override { Set(index, absl::StrCat(v), kFloat8Oid, 0); }
  void BindText(int index, absl::string_view v) override { Set(index, std::string(v), 0, 0); }
  void BindBlob(int index, absl::string_view v) override { Set(index, std::string(v), kByteaOid, 1); }
  // Binary form: the server reads the elements as they are.
  void BindArray(int index, const SqlArray& v) override {
    Set(index, v.Wire(), ArrayOid(v.type()), 1);
    planned_per_call_ = true;
  }
  void BindNull(int index) override {
    if (index < 1 || index > static_cast<int>(values_.size())) return;
    null_[index - 1] = true;
    types_[index - 1] = 0;
  }

  absl::StatusOr<bool> Step() override {
    if (!result_) {
      if (absl::Status s = Execute(); !s.ok()) return s;
      row_ = -1;
    }
    return ++row_ < PQntuples(result_);
  }
  bool IsNull(int col) const override { return PQgetisnull(result_, row_, col) != 0; }
  int64_t Int(int col) const override {
    const char* v = PQgetvalue(result_, row_, col);
    if (PQftype(result_, col) == kBoolOid) return v[0] == 't' ? 1 : 0;
    int64_t n = 0;
    if (absl::SimpleAtoi(v, &n)) return n;
    double d = 0;  // numeric with a fraction (an average): truncated like SQLite
    return absl::SimpleAtod(v, &d) ? static_cast<int64_t>(d) : 0;
  }
  double Double(int col) const override {
    double d = 0;
    return absl::SimpleAtod(PQgetvalue(result_, row_, col), &d) ? d : 0;
  }
  std::string Text(int col) const override {
    return std::string(PQgetvalue(result_, row_, col), PQgetlength(result_, row_, col));
  }
  std::string Bytes(int col) const override {
    if (PQftype(result_, col) != kByteaOid) return Text(col);
    size_t n = 0;
    unsigned char* raw = PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(result_, row_, col)), &n);
    if (!raw) return std::string();
    std::string out(reinterpret_cast<char*>(raw), n);
    PQfreemem(raw);
    return out;
  }
  int64_t Changes() const override {
    int64_t n = 0;
    return result_ && absl::SimpleAtoi(PQcmdTuples(result_), &n) ? n : 0;
  }

 private:
  void Set(int index, std::string value, Oid type, int format) {
    if (index < 1 || index > static_cast<int>(values_.size())) return;
    values_[index - 1] = std::move(value);
    null_[index - 1] = false;
    types_[index - 1] = type;
    formats_[index - 1] = format;
  }

  absl::Status Execute() {
    if (!conn_.failed_sqlstate().empty()) {
      return absl::InternalError("postgres: statement after a failed one in the same transaction");
    }
    const size_t n = values_.size();
    std::vector<const char*> values(n);
    std::vector<int> lengths(n);
    for (size_t i = 0; i < n; ++i) {
      values[i] = null_[i] ? nullptr : values_[i].data();
      lengths[i] = static_cast<int>(values_[i].size());
    }
    result_ = planned_per_call_ ? PQexecParams(conn_.conn(), sql_.c_str(), static_cast<int>(n), types_.data(),
                                               values.data(), lengths.data(), formats_.data(), 0)
                                : conn_.Execute(sql_, static_cast<int>(n), types_, values, lengths, formats_);
    const ExecStatusType status = result_ ? PQresultStatus(result_) : PGRES_FATAL_ERROR;
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) return absl::OkStatus();
    const char* state = result_ ? PQresultErrorField(result_, PG_DIAG_SQLSTATE) : nullptr;
    const std::string sqlstate = state ? state : (conn_.broken() ? "08006" : "XX000");
    const std::string message = result_ ? PQresultErrorMessage(result_) : PQerrorMessage(conn_.conn());
    conn_.NoteFailure(sqlstate);
    if (result_) PQclear(result_);
    result_ = nullptr;
    return StatementError(sqlstate, absl::StripAsciiWhitespace(message));
  }

  PostgresDatabase::Connection& conn_;
  const std::string& sql_;
  std::vector<std::string> values_;
  std::vector<bool> null_;
  std::vector<Oid> types_;
  std::vector<int> formats_;
  PGresult* result_ = nullptr;
  int row_ = -1;
  // A statement with an array parameter (a batch) is planned for its values
  // each time, unprepared: a prepared statement's generic plan, made once
  // while the tables a fan-out fills were still small, would keep scanning
  // them whole as they grow (no ANALYZE replans it in time).
  bool planned_per_call_ = false;
};

}  // namespace

absl::StatusOr<Statement> PostgresDatabase::Connection::Prepare(absl::string_view sql) {
  auto it = dialect_.find(std::string(sql));
  if (it == dialect_.end()) {
    int params = 0;
    std::string text = PostgresDialect(sql, &params);
    it = dialect_.emplace(std::string(sql), std::make_pair(std::move(text), params)).first;
  }
  return Statement(std::make_unique<PgStatement>(*this, it->second.first, it->second.second));
}

PGresult* PostgresDatabase::Connection::Execute(const std::string& sql, int params, const std::vector<Oid>& types,
                                                const std::vector<const char*>& values, const std::vector<int>& lengths,
                                                const std::vector<int>& formats) {
  // A statement is prepared per parameter-type signature: the server infers
  // each parameter's type once, from the first types it is prepared with.
  std::string key = sql;
  key.push_back('\0');
  for (Oid t : types) absl::StrAppend(&key, t, ",");
  auto it = prepared_.find(key);
  if (it == prepared_.end()) {
    std::string name = absl::StrCat("s", prepared_.size());
    PGresult* prep = PQprepare(conn_, name.c_str(), sql.c_str(), params, types.data());
    if (!prep || PQresultStatus(prep) != PGRES_COMMAND_OK) return prep;
    PQclear(prep);
    it = prepared_.emplace(std::move(key), std::move(name)).first;
    metrics::SqlStatementsCached().With({}).Add(1);  // every connection's, as for SQLite
  }
  return PQexecPrepared(conn_, it->second.c_str(), params, values.data(), lengths.data(), formats.data(), 0);
}

absl::Status PostgresDatabase::Connection::ExecScript(absl::string_view sql) {
  PGresult* r = PQexec(conn_, std::string(sql).c_str());
  const ExecStatusType status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  absl::Status out = absl::OkStatus();
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY) {
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    const std::string sqlstate = state ? state : (broken() ? "08006" : "XX000");
    NoteFailure(sqlstate);
    out = StatementError(sqlstate, absl::StripAsciiWhitespace(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_)));
  }
  if (r) PQclear(r);
  return out;
}

namespace {

PGconn* Connect(const PostgresOptions& o) {
  // Every session in UTC, with bounded statements and lock waits, so a
  // stuck query fails instead of holding a pool connection for good. No JIT:
  // the services' statements are short, and a cost estimate inflated by a
  // table not analyzed yet made the server compile one for about 50 ms on
  // every call (a fan-out batch's member lookups).
  const std::string session = absl::StrCat(
      "-c TimeZone=UTC -c jit=off -c statement_timeout=", absl::ToInt64Milliseconds(o.statement_timeout),
      " -c lock_timeout=", absl::ToInt64Milliseconds(o.lock_timeout),
      " -c idle_in_transaction_session_timeout=", absl::ToInt64Milliseconds(o.statement_timeout) * 6);
  const std::string timeout = absl::StrCat(o.connect_timeout_seconds);
  std::vector<const char*> keys = {"dbname", "connect_timeout", "options", "application_name"};
  std::vector<const char*> values = {o.url.c_str(), timeout.c_str(), session.c_str(), o.application_name.c_str()};
  if (!o.password.empty()) {
    keys.push_back("password");
    values.push_back(o.password.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  return PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresDatabase>> PostgresDatabase::Open(const PostgresOptions& options,
                                                                         const std::vector<Migration>& migrations) {
  std::unique_ptr<PostgresDatabase> db(new PostgresDatabase(options));
  const int size = std::max(1, options.pool_size);
  for (int i = 0; i < size; ++i) {
    auto c = std::make_unique<Connection>(Connect(options));
    if (c->broken()) {
      return Unavailable("DATABASE_UNAVAILABLE",
                         absl::StrCat("cannot connect to ", RedactedDatabaseUrl(options.url), ": ",
                                      absl::StripAsciiWhitespace(PQerrorMessage(c->conn()))));
    }
    db->idle_.push_back(c.get());
    db->pool_.push_back(std::move(c));
  }
  if (absl::Status s = db->Migrate(migrations); !s.ok()) return s;
  return db;
}

PostgresDatabase::PostgresDatabase(PostgresOptions options) : options_(std::move(options)) {}
PostgresDatabase::~PostgresDatabase() = default;

absl::StatusOr<PostgresDatabase::Connection*> PostgresDatabase::Acquire() {
  Connection* c;
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return !idle_.empty(); });
    c = idle_.back();
    idle_.pop_back();
  }
  if (c->broken()) {
    if (absl::Status s = c->Reset([this] { return Connect(options_); }); !s.ok()) {
      Release(c);
      healthy_ = false;
      return s;
    }
  }
  return c;
}

void PostgresDatabase::Release(Connection* c) {
  {
    std::lock_guard lock(mu_);
    idle_.push_back(c);
  }
  cv_.notify_one();
}

absl::Status PostgresDatabase::RunOnce(Connection& c, const std::function<absl::Status(Txn&)>& fn, bool write,
                                       bool* retry) {
  *retry = false;
  c.BeginTxn();
  absl::Status begun = c.ExecScript(write ? "BEGIN ISOLATION LEVEL SERIALIZABLE"
                                          : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  if (!begun.ok()) {
    *retry = c.broken();  // nothing was sent yet: another connection may do
    return begun;
  }
  absl::Status s = fn(c);
  const std::string failed = c.failed_sqlstate();
  if (!s.ok() || !failed.empty() || !write) {
    c.ExecScript("ROLLBACK").IgnoreError();
    // A lost conflict, or a connection lost before COMMIT: nothing was
    // committed, so running `fn` again is safe.
    *retry = IsConflict(failed) || (!failed.empty() && c.broken());
    if (s.ok() && !failed.empty()) {
      // `fn` went on after a failed statement: PostgreSQL kept nothing.
      return StatementError(failed, "a statement of the transaction failed");
    }
    return s;
  }
  c.BeginTxn();
  absl::Status committed = c.ExecScript("COMMIT");
  // A conflict found at COMMIT rolled everything back; a connection lost
  // during COMMIT may or may not have committed: UNAVAILABLE, and the
  // caller's retry with the same request id finds out.
  *retry = IsConflict(c.failed_sqlstate());
  return committed;
}

absl::Status PostgresDatabase::Write(std::function<absl::Status(Txn&)> fn) {
  thread_local std::minstd_rand jitter(std::random_device{}());
  absl::Status s;
  for (int attempt = 1; attempt <= std::max(1, options_.max_attempts); ++attempt) {
    auto c = Acquire();
    if (!c.ok()) return c.status();
    bool retry = false;
    s = RunOnce(**c, fn, /*write=*/true, &retry);
    // Read before Release: once back in the pool, another thread owns it.
    healthy_ = s.ok() || !(*c)->broken();
    Release(*c);
    if (!retry) return s;
    metrics::SqlConflictRetries().Inc({"retried"});
    // Back off a little, at random, so the losers of a hot row do not all
    // collide again.
    const int cap_us = std::min(50'000, 500 << std::min(attempt, 7));
    std::this_thread::sleep_for(std::chrono::microseconds(jitter() % cap_us));
  }
  metrics::SqlConflictRetries().Inc({"exhausted"});
  return s;
}

absl::Status PostgresDatabase::Read(const std::function<absl::Status(Txn&)>& fn) {
  absl::Status s;
  for (int attempt = 1; attempt <= 2; ++attempt) {
    auto c = Acquire();
    if (!c.ok()) return c.status();
    bool retry = false;
    s = RunOnce(**c, fn, /*write=*/false, &retry);
    // Read before Release: once back in the pool, another thread owns it.
    healthy_ = s.ok() || !(*c)->broken();
    Release(*c);
    if (!retry) return s;
  }
  return s;
}

absl::Status PostgresDatabase::Probe() {
  absl::Status s = Read([](Txn& txn) { return txn.Exec("SELECT 1").status(); });
  healthy_ = s.ok();
  return s;
}

absl::StatusOr<int64_t> PostgresDatabase::SizeBytes() {
  int64_t bytes = 0;
  absl::Status s = Read([&](Txn& txn) -> absl::Status {
    auto stmt = txn.Query("SELECT pg_database_size(current_database())");
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (*row) bytes = stmt->Int(0);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return bytes;
}

absl::Status PostgresDatabase::Migrate(const std::vector<Migration>& migrations) {
  auto acquired = Acquire();
  if (!acquired.ok()) return acquired.status();
  Connection& c = **acquired;
  struct Releaser {
    PostgresDatabase* db;
    Connection* c;
    ~Releaser() { db->Release(c); }
  } releaser{this, &c};

  // Replicas starting together may race on CREATE TABLE IF NOT EXISTS (the
  // loser sees a unique violation on the catalog): the tables exist then.
  for (int attempt = 0; attempt < 3; ++attempt) {
    c.BeginTxn();
    absl::Status s = c.ExecScript(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " component TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (component, version));"
        "CREATE TABLE IF NOT EXISTS schema_migrations_lock (id INTEGER PRIMARY KEY);"
        "INSERT INTO schema_migrations_lock (id) VALUES (1) ON CONFLICT DO NOTHING;");
    if (s.ok()) break;
    if (attempt == 2 || c.broken()) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  std::map<std::string, int> known_max;
  for (const auto& m : migrations) known_max[m.component] = std::max(known_max[m.component], m.version);
  c.BeginTxn();
  // The lock row serializes start-ups: a replica waits here until the one
  // migrating commits, then finds every version applied.
  absl::Status s = c.ExecScript("BEGIN; SET LOCAL lock_timeout = '120s'");
  if (s.ok()) s = Run(c.Query("SELECT id FROM schema_migrations_lock WHERE id = 1 FOR UPDATE"));
  if (s.ok()) {
    auto versions = Collect<std::pair<std::string, int64_t>>(
        c.Query("SELECT component, MAX(version) FROM schema_migrations GROUP BY component"),
        [](const Statement& st) { return std::make_pair(st.Text(0), st.Int(1)); });
    s = versions.status();
    if (s.ok()) {
      for (const auto& [component, version] : *versions) {
        if (version > known_max[component]) {
          c.ExecScript("ROLLBACK").IgnoreError();
          return absl::FailedPreconditionError(absl::StrCat("database schema of ", component, " is at version ",
                                                            version, ", newer than this binary knows (",
                                                            known_max[component], "): refusing to start"));
        }
      }
    }
  }
  for (const auto& m : migrations) {
    if (!s.ok()) break;
    auto applied = Exists(c.Query("SELECT 1 FROM schema_migrations WHERE component = ?1 AND version = ?2", m.component,
                                  m.version));
    if (!applied.ok()) {
      s = applied.status();
      break;
    }
    if (*applied) continue;
    s = c.ExecScript(m.sql);
    if (s.ok()) {
      s = c.Exec("INSERT INTO schema_migrations (component, version, name) VALUES (?1, ?2, ?3)", m.component, m.version,
                 m.name)
              .status();
    }
    if (!s.ok()) {
      s = absl::InternalError(absl::StrCat("migration ", m.component, "/", m.version, " ", m.name,
                                           " failed: ", s.message()));
      break;
    }
    LogInfo("migration applied", {{"component", m.component}, {"version", m.version}, {"name", m.name}});
  }
  if (s.ok()) s = c.ExecScript("COMMIT");
  if (!s.ok()) c.ExecScript("ROLLBACK").IgnoreError();
  return s;
}

}  // namespace care
