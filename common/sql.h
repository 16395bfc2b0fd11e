#pragma once

// The SQL layer every store is written against, whatever the engine: a
// Database runs transactions, a Txn prepares statements, a Statement binds
// values and steps through rows. The engines are SQLite (sqlite.h, the
// embedded default) and PostgreSQL (postgres.h). A store's SQL text is
// written once, in the subset both engines run (docs/architecture.md,
// "Storage engines"): `?N` parameters, ON CONFLICT upserts, lists bound as
// one JSON array and read with json_each, 0/1 integers for flags.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/store.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace care {

// A schema change shipped inside the binary (see cmake/CareMigrations.cmake).
// Each engine has its own list: DDL is where the engines differ.
struct Migration {
  std::string component;  // "common", "loyalty", ...: each numbers its own versions
  int version;
  std::string name;
  std::string sql;
};

// A service's schema for each engine.
struct Schema {
  std::vector<Migration> sqlite;
  std::vector<Migration> postgres;
};

// Bytes to bind as a BLOB / BYTEA (a plain string binds as text).
struct Blob {
  absl::string_view bytes;
};

enum class SqlEngine { kSqlite, kPostgres };

// One column of many rows, bound as ONE array parameter (`?1::bigint[]`,
// `?2::text[]`, `?3::bytea[]`): a batch's rows go in one
// `INSERT ... SELECT * FROM unnest(...)` whatever their number. PostgreSQL
// only (SQLite has no arrays: binding one fails the statement). Built in
// PostgreSQL's binary array form, so the server parses no text and blobs
// travel as bytes, not hex.
class SqlArray {
 public:
  enum class Type { kInt8, kText, kBytea };
  explicit SqlArray(Type type) : type_(type) {}

  void Put(int64_t v);
  void Put(int v) { Put(static_cast<int64_t>(v)); }
  void Put(bool v) { Put(static_cast<int64_t>(v ? 1 : 0)); }
  void Put(absl::string_view v);  // kText or kBytea
  void Put(const std::string& v) { Put(absl::string_view(v)); }
  void Put(const char* v) { Put(absl::string_view(v)); }
  void Put(Blob v) { Put(v.bytes); }
  void Put(std::nullptr_t);

  Type type() const { return type_; }
  int size() const { return size_; }
  // The array in PostgreSQL's binary form (array_recv): dimensions, flags,
  // element type, then each element's length (-1: NULL) and bytes.
  std::string Wire() const;

 private:
  Type type_;
  int size_ = 0;
  bool nulls_ = false;
  std::string elements_;
};

// One statement of one engine: what Statement forwards to.
class StatementImpl {
 public:
  virtual ~StatementImpl() = default;
  virtual void BindInt(int index, int64_t v) = 0;
  virtual void BindDouble(int index, double v) = 0;
  virtual void BindText(int index, absl::string_view v) = 0;
  virtual void BindBlob(int index, absl::string_view v) = 0;
  virtual void BindNull(int index) = 0;
  virtual void BindArray(int index, const SqlArray& v) = 0;
  virtual absl::StatusOr<bool> Step() = 0;
  virtual bool IsNull(int col) const = 0;
  virtual int64_t Int(int col) const = 0;
  virtual double Double(int col) const = 0;
  virtual std::string Text(int col) const = 0;
  virtual std::string Bytes(int col) const = 0;
  // Rows inserted, updated or deleted, once the statement is done.
  virtual int64_t Changes() const = 0;
};

// A prepared statement with its parameters (1-based, ?1..?N) and, once
// stepped, its current row (0-based columns). A violated constraint is
// ALREADY_EXISTS on either engine.
class Statement final {
 public:
  explicit Statement(std::unique_ptr<StatementImpl> impl) : impl_(std::move(impl)) {}

  void Bind(int index, int64_t v) { impl_->BindInt(index, v); }
  void Bind(int index, int v) { impl_->BindInt(index, v); }
  void Bind(int index, bool v) { impl_->BindInt(index, v ? 1 : 0); }
  void Bind(int index, double v) { impl_->BindDouble(index, v); }
  void Bind(int index, absl::string_view v) { impl_->BindText(index, v); }
  void Bind(int index, const std::string& v) { impl_->BindText(index, v); }
  void Bind(int index, const char* v) { impl_->BindText(index, v); }
  void Bind(int index, Blob v) { impl_->BindBlob(index, v.bytes); }
  void Bind(int index, std::nullptr_t) { impl_->BindNull(index); }
  void Bind(int index, const SqlArray& v) { impl_->BindArray(index, v); }
  template <typename T>
  void Bind(int index, const std::optional<T>& v) {
    if (v)
      Bind(index, *v);
    else
      impl_->BindNull(index);
  }

  // True when a row is ready to read; false when done.
  absl::StatusOr<bool> Step() { return impl_->Step(); }

  bool IsNull(int col) const { return impl_->IsNull(col); }
  int64_t Int(int col) const { return impl_->Int(col); }
  double Double(int col) const { return impl_->Double(col); }
  std::string Text(int col) const { return impl_->Text(col); }
  std::string Bytes(int col) const { return impl_->Bytes(col); }
  int64_t Changes() const { return impl_->Changes(); }

 private:
  std::unique_ptr<StatementImpl> impl_;
};

// One connection inside a transaction. Statements are prepared once per
// connection and reused; SQL text must not carry values (bind them, lists as
// one JSON array: see JsonArray below), so the texts are fixed.
class Txn {
 public:
  virtual ~Txn() = default;

  virtual absl::StatusOr<Statement> Prepare(absl::string_view sql) = 0;

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
    return stmt->Changes();
  }

  // Runs SQL text with no parameters (possibly several statements).
  virtual absl::Status ExecScript(absl::string_view sql) = 0;

  // Statements prepared and kept by this connection now.
  virtual size_t cached_statements() const = 0;
  virtual SqlEngine engine() const = 0;
};

// A database of one engine. Write runs `fn` in a write transaction and
// answers once it is durable; a non-OK status from `fn` leaves nothing
// behind and is returned as is. `fn` may run more than once (PostgreSQL
// retries a transaction that lost a serialization conflict), so it must have
// no effect outside the transaction except through what it returns last.
class Database {
 public:
  virtual ~Database() = default;
  virtual absl::Status Write(std::function<absl::Status(Txn&)> fn) = 0;
  // Runs `fn` in a read transaction (a consistent snapshot).
  virtual absl::Status Read(const std::function<absl::Status(Txn&)>& fn) = 0;
  // True while the last write or probe succeeded; feeds readiness.
  virtual bool Healthy() const = 0;
  // A read of the database: whether it answers (it may still refuse writes;
  // WriteProbe in common/database_ops.h tells that).
  virtual absl::Status Probe() = 0;
  // Bytes the database takes on disk: SQLite its pages plus the WAL file,
  // PostgreSQL pg_database_size of the current database.
  virtual absl::StatusOr<int64_t> SizeBytes() = 0;
  // After an erasure: leaves no copy of deleted rows in the database's own
  // files. SQLite zeroes deleted content as it goes (secure_delete); this
  // checkpoints the WAL and truncates it, UNAVAILABLE (reason
  // CHECKPOINT_BUSY) while a reader still needs old frames, so the caller
  // retries. PostgreSQL: nothing to do here; dead tuples stay until VACUUM
  // and its WAL until recycled (docs/privacy.md).
  virtual absl::Status Scrub() = 0;
  virtual SqlEngine engine() const = 0;
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

// Every row of `stmt` read by `read(const Statement&) -> StatusOr<T>`; the
// first row that cannot be read stops (a corrupt row is never skipped).
template <typename T, typename Fn>
absl::StatusOr<std::vector<T>> CollectParsed(absl::StatusOr<Statement> stmt, Fn read) {
  if (!stmt.ok()) return stmt.status();
  std::vector<T> out;
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    absl::StatusOr<T> value = read(*stmt);
    if (!value.ok()) return value.status();
    out.push_back(*std::move(value));
  }
}

// The first row of `stmt` read by `read(const Statement&) -> StatusOr<T>`,
// or nothing when there is none.
template <typename T, typename Fn>
absl::StatusOr<std::optional<T>> FirstRow(absl::StatusOr<Statement> stmt, Fn read) {
  if (!stmt.ok()) return stmt.status();
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<T>();
  absl::StatusOr<T> value = read(*stmt);
  if (!value.ok()) return value.status();
  return std::optional<T>(*std::move(value));
}

// The protobuf message stored in column `col` of `s` into `out`; DATA_LOSS
// "stored <what> is unreadable" when it does not parse: the one way a store
// reports a corrupt blob (never skipped, never half-read).
absl::Status ParseBlob(const Statement& s, int col, google::protobuf::Message& out, absl::string_view what);

// The same, returning the message.
template <typename M>
absl::StatusOr<M> ParseStored(const Statement& s, int col, absl::string_view what) {
  M out;
  if (absl::Status parsed = ParseBlob(s, col, out, what); !parsed.ok()) return parsed;
  return out;
}

// A query whose conditions depend on which filters are set. Each `?` of a
// condition becomes the next ?N: every parameter of the text is used (the
// server infers each one's type from its use), values are bound, never part
// of the text, and the text depends only on which filters are set (a fixed,
// small set of texts, each prepared once).
class FilteredQuery {
 public:
  explicit FilteredQuery(std::string head) : sql_(std::move(head)) {}

  template <typename... Values>
  void Add(absl::string_view condition, const Values&... values) {
    for (char c : condition) {
      if (c == '?') {
        absl::StrAppend(&sql_, "?", ++params_);
      } else {
        sql_.push_back(c);
      }
    }
    (values_.emplace_back(Value(values)), ...);
  }

  absl::StatusOr<Statement> Query(Txn& txn) const {
    auto stmt = txn.Prepare(sql_);
    if (!stmt.ok()) return stmt;
    for (size_t i = 0; i < values_.size(); ++i) {
      std::visit([&](const auto& v) { stmt->Bind(static_cast<int>(i + 1), v); }, values_[i]);
    }
    return stmt;
  }

 private:
  using Param = std::variant<int64_t, std::string>;
  static Param Value(int64_t v) { return v; }
  static Param Value(const std::string& v) { return v; }

  std::string sql_;
  int params_ = 0;
  std::vector<Param> values_;
};

// The condition " <column>" + kIntegerList + filters on a list of integers
// bound as one JSON array (JsonArray): json_each yields text on PostgreSQL,
// hence the cast.
inline constexpr char kInIntegerList[] = " IN (SELECT CAST(value AS BIGINT) FROM json_each(?))";

// A service's TransactionalStore (common/store.h) over a Database: `View` is
// the service's implementation of its StoreTxn, built from a Txn and the
// store's `Context` (e.g. the privacy keys its tombstone checks need).
template <typename StoreTxn, typename View, typename... Context>
class SqlStoreOf final : public TransactionalStore<StoreTxn> {
 public:
  explicit SqlStoreOf(Database& db, Context... context) : db_(db), context_(context...) {}
  absl::Status Write(const std::function<absl::Status(StoreTxn&)>& fn) override {
    return db_.Write([this, &fn](Txn& txn) {
      View view = MakeView(txn);
      return fn(view);
    });
  }
  absl::Status Read(const std::function<absl::Status(StoreTxn&)>& fn) override {
    return db_.Read([this, &fn](Txn& txn) {
      View view = MakeView(txn);
      return fn(view);
    });
  }

 private:
  View MakeView(Txn& txn) const {
    return std::apply([&txn](const auto&... c) { return View(txn, c...); }, context_);
  }

  Database& db_;
  std::tuple<Context...> context_;
};

// A JSON array of the values, to bind as ONE parameter of
// "col IN (SELECT value FROM json_each(?N))": the statement text stays the
// same whatever the number of values, so it is prepared once.
std::string JsonArray(const std::vector<std::string>& values);
std::string JsonArray(const std::vector<int>& values);

// The migrations every service database carries (outbox, idempotency),
// generated from common/migrations/ and common/migrations/postgres/.
std::vector<Migration> CommonMigrations();
std::vector<Migration> CommonPostgresMigrations();

}  // namespace care
