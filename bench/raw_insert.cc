// raw_insert: the raw baseline of a durable write. One connection inserts
// one row per transaction (autocommit: the statement is the transaction), a
// text key, a member id and a blob, as fast as it can, with a prepared
// statement and nothing else: no pool, no RPC, no retry loop. Against
// PostgreSQL through libpq (the server the service uses), or SQLite in WAL
// mode with synchronous=FULL (the service's settings). Prints one JSON line
// with rows/s and the durability settings it ran under.
//
//   raw_insert --data_dir=DIR [--duration=5s]                                   # SQLite
//   raw_insert --database_url=postgresql://care@127.0.0.1:5432/raw --database_password_file=F
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/bench_database.h"
#include "common/config.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Loop {
  absl::Duration warmup;
  absl::Duration duration;
  int bytes = 256;
};

struct Result {
  int64_t rows = 0;
  double seconds = 0;
  std::string durability;
};

// Calls insert(n) until warm-up and measured time have passed; counts the
// measured rows. insert returns false on an error.
template <typename Insert>
bool Measure(const Loop& loop, Insert insert, Result& out) {
  const auto start = Clock::now();
  const auto measured_from = start + absl::ToChronoNanoseconds(loop.warmup);
  const auto end = measured_from + absl::ToChronoNanoseconds(loop.duration);
  int64_t n = 0;
  auto now = start;
  for (; now < end; now = Clock::now()) {
    if (!insert(n++)) return false;
    if (now >= measured_from) ++out.rows;
  }
  out.seconds = std::chrono::duration<double>(now - measured_from).count();
  return true;
}

bool RunSqlite(const std::string& dir, const Loop& loop, Result& out) {
  std::filesystem::create_directories(dir);
  sqlite3* db = nullptr;
  if (sqlite3_open((dir + "/raw.db").c_str(), &db) != SQLITE_OK) return false;
  const char* setup =
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
      "CREATE TABLE IF NOT EXISTS raw_insert (id TEXT PRIMARY KEY, member_id TEXT NOT NULL, body BLOB NOT NULL);";
  sqlite3_stmt* insert = nullptr;
  if (sqlite3_exec(db, setup, nullptr, nullptr, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "INSERT INTO raw_insert (id, member_id, body) VALUES (?1, ?2, ?3)", -1, &insert,
                         nullptr) != SQLITE_OK) {
    std::fprintf(stderr, "sqlite: %s\n", sqlite3_errmsg(db));
    sqlite3_close(db);
    return false;
  }
  const std::string body(loop.bytes, 'b');
  const std::string prefix = absl::StrCat("r", getpid(), "-");
  bool ok = Measure(
      loop,
      [&](int64_t n) {
        std::string id = absl::StrCat(prefix, n), member = absl::StrCat("m", n % 256);
        sqlite3_bind_text(insert, 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
        sqlite3_bind_text(insert, 2, member.data(), static_cast<int>(member.size()), SQLITE_TRANSIENT);
        sqlite3_bind_blob(insert, 3, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
        const bool done = sqlite3_step(insert) == SQLITE_DONE;
        sqlite3_reset(insert);
        if (!done) std::fprintf(stderr, "sqlite insert: %s\n", sqlite3_errmsg(db));
        return done;
      },
      out);
  out.durability = "journal_mode=wal synchronous=FULL";
  sqlite3_finalize(insert);
  sqlite3_close(db);
  return ok;
}

bool RunPostgres(const care::bench::BenchDatabase& target, const Loop& loop, Result& out) {
  auto conn = care::bench::ConnectRaw(target);
  if (!conn.ok()) {
    std::fprintf(stderr, "%s\n", std::string(conn.status().message()).c_str());
    return false;
  }
  PGconn* c = conn->get();
  absl::Status s = care::bench::PgExec(
      c, "CREATE TABLE IF NOT EXISTS raw_insert (id TEXT PRIMARY KEY, member_id TEXT NOT NULL, body BYTEA NOT NULL)");
  PGresult* prepared = PQprepare(c, "raw_insert", "INSERT INTO raw_insert (id, member_id, body) VALUES ($1, $2, $3)", 0,
                                 nullptr);
  const bool prepared_ok = PQresultStatus(prepared) == PGRES_COMMAND_OK;
  PQclear(prepared);
  if (!s.ok() || !prepared_ok) {
    std::fprintf(stderr, "postgres: %s %s\n", std::string(s.message()).c_str(), PQerrorMessage(c));
    return false;
  }
  const std::string body(loop.bytes, 'b');
  const std::string prefix = absl::StrCat("r", getpid(), "-");
  bool ok = Measure(
      loop,
      [&](int64_t n) {
        std::string id = absl::StrCat(prefix, n), member = absl::StrCat("m", n % 256);
        const char* values[] = {id.c_str(), member.c_str(), body.data()};
        const int lengths[] = {0, 0, static_cast<int>(body.size())};
        const int formats[] = {0, 0, 1};  // the blob as binary bytea
        PGresult* r = PQexecPrepared(c, "raw_insert", 3, values, lengths, formats, 0);
        const bool done = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!done) std::fprintf(stderr, "postgres insert: %s\n", PQerrorMessage(c));
        return done;
      },
      out);
  out.durability = absl::StrCat("fsync=", care::bench::PgSetting(c, "fsync"),
                                " synchronous_commit=", care::bench::PgSetting(c, "synchronous_commit"),
                                " full_page_writes=", care::bench::PgSetting(c, "full_page_writes"));
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  care::ConfigReader config(argc, argv, "raw_insert: one connection, one row per transaction, rows/s as JSON");
  care::bench::BenchDatabase target = care::bench::ReadBenchDatabase(config);
  std::string dir = config.String("data_dir", "", "SQLite: directory of raw.db (without database_url)");
  Loop loop;
  loop.duration = config.Duration("duration", absl::Seconds(5), "measured time");
  loop.warmup = config.Duration("warmup", absl::Seconds(1), "inserts before the measured time, not counted");
  loop.bytes = static_cast<int>(config.Int("bytes", 256, 0, 1 << 20, "blob size of each row"));
  if (target.postgres() == !dir.empty()) config.AddError("give exactly one of --database_url and --data_dir");
  config.Finish();

  Result result;
  if (!(target.postgres() ? RunPostgres(target, loop, result) : RunSqlite(dir, loop, result))) return 1;
  std::printf("{\"engine\":\"%s\",\"rows\":%lld,\"seconds\":%.1f,\"rows_per_s\":%.1f,\"durability\":\"%s\"}\n",
              target.postgres() ? "postgres" : "sqlite", static_cast<long long>(result.rows), result.seconds,
              static_cast<double>(result.rows) / result.seconds, result.durability.c_str());
  return 0;
}
