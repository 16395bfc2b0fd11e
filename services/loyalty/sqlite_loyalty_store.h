#pragma once

// The SQLite implementation of LoyaltyStore (loyalty_store.h), on the common
// Database: group commit, a failed write leaves nothing behind. Everything
// SQLite-specific in loyalty is here and in migrations/.

#include <memory>
#include <vector>

#include "common/sqlite.h"
#include "services/loyalty/loyalty_store.h"

namespace care {
// The loyalty schema, compiled in from migrations/ (cmake/CareMigrations.cmake).
std::vector<Migration> LoyaltyMigrations();
}  // namespace care

namespace care::loyalty {

std::unique_ptr<LoyaltyStore> NewSqliteLoyaltyStore(Database& db);

}  // namespace care::loyalty
