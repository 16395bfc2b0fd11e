#pragma once

// Statements on the test cluster's maintenance database, for the harness
// (CREATE / DROP DATABASE) and for tests that change a database's settings
// from outside the service (ALTER DATABASE, pg_terminate_backend).

#include <string>

#include "absl/status/status.h"
#include "tests/harness/harness.h"

namespace care::testing {

// Runs one statement outside a transaction; any result is accepted.
absl::Status PostgresAdminStatement(const PostgresCluster& cluster, const std::string& sql);

}  // namespace care::testing
