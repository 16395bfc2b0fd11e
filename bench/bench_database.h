#pragma once

// The benchmark tools' database flags: --database_url (+ --database_password_file)
// selects PostgreSQL as a service's --database_url does, else SQLite under a
// directory. Opened with the same migrations as ServerRunner::OpenDatabase,
// so a tool fills the very schema the service reads.

#include <libpq-fe.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/config.h"
#include "common/sql.h"

namespace care::bench {

struct BenchDatabase {
  std::string url;       // empty: SQLite
  std::string password;  // from --database_password_file
  bool postgres() const { return !url.empty(); }
};

// Reads --database_url and --database_password_file (errors go to `config`).
BenchDatabase ReadBenchDatabase(ConfigReader& config);

// PostgreSQL at db.url with common's and `schema.postgres` migrations, or the
// SQLite file `sqlite_path` with common's and `schema.sqlite`.
absl::StatusOr<std::unique_ptr<Database>> OpenBenchDatabase(const BenchDatabase& db, const std::string& sqlite_path,
                                                            const Schema& schema);

// One plain libpq connection to db.url (for raw baselines), or an error.
struct PgConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgConn = std::unique_ptr<PGconn, PgConnCloser>;
absl::StatusOr<PgConn> ConnectRaw(const BenchDatabase& db);

// Runs `sql` on `conn` (no parameters); an error unless it succeeded.
absl::Status PgExec(PGconn* conn, const std::string& sql);

// The value of a server setting (SHOW name), "" when unreadable.
std::string PgSetting(PGconn* conn, const std::string& name);

}  // namespace care::bench
