#include "bench/bench_database.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/auth.h"
#include "common/postgres.h"
#include "common/sqlite.h"

namespace care::bench {

BenchDatabase ReadBenchDatabase(ConfigReader& config) {
  BenchDatabase db;
  db.url = config.String("database_url", "", "PostgreSQL URI of a fresh database; empty = SQLite");
  std::string password_file = config.String("database_password_file", "",
                                            "file holding the PostgreSQL password (with database_url)");
  if (!password_file.empty()) {
    auto password = ReadSecretFile(password_file);
    if (password.ok()) {
      db.password = *std::move(password);
    } else {
      config.AddError(absl::StrCat("database_password_file: ", password.status().message()));
    }
  }
  return db;
}

absl::StatusOr<std::unique_ptr<Database>> OpenBenchDatabase(const BenchDatabase& db, const std::string& sqlite_path,
                                                            const Schema& schema) {
  if (db.postgres()) {
    std::vector<Migration> migrations = CommonPostgresMigrations();
    migrations.insert(migrations.end(), schema.postgres.begin(), schema.postgres.end());
    PostgresOptions options;
    options.url = db.url;
    options.password = db.password;
    options.application_name = "care_bench";
    // Seeding writes big batches: a statement may run long on a busy machine.
    options.statement_timeout = absl::Minutes(10);
    auto opened = PostgresDatabase::Open(options, migrations);
    if (!opened.ok()) return opened.status();
    return std::unique_ptr<Database>(std::move(*opened));
  }
  std::vector<Migration> migrations = CommonMigrations();
  migrations.insert(migrations.end(), schema.sqlite.begin(), schema.sqlite.end());
  auto opened = SqliteDatabase::Open(sqlite_path, migrations);
  if (!opened.ok()) return opened.status();
  return std::unique_ptr<Database>(std::move(*opened));
}

absl::StatusOr<PgConn> ConnectRaw(const BenchDatabase& db) {
  std::vector<const char*> keys = {"dbname", "application_name"};
  std::vector<const char*> values = {db.url.c_str(), "care_bench_raw"};
  if (!db.password.empty()) {
    keys.push_back("password");
    values.push_back(db.password.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PgConn conn(PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return absl::UnavailableError(absl::StrCat("connect: ", PQerrorMessage(conn.get())));
  }
  return conn;
}

absl::Status PgExec(PGconn* conn, const std::string& sql) {
  PGresult* r = PQexec(conn, sql.c_str());
  const ExecStatusType status = PQresultStatus(r);
  absl::Status out = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK
                         ? absl::OkStatus()
                         : absl::InternalError(absl::StrCat(sql.substr(0, 60), ": ", PQerrorMessage(conn)));
  PQclear(r);
  return out;
}

std::string PgSetting(PGconn* conn, const std::string& name) {
  PGresult* r = PQexec(conn, ("SHOW " + name).c_str());
  std::string value = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "";
  PQclear(r);
  return value;
}

}  // namespace care::bench
