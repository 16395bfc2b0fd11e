#pragma once

// The SQLite implementation of PromotionStore (promotion_store.h). The
// service is the only writer of its database.

#include <memory>
#include <vector>

#include "common/sqlite.h"
#include "services/promotion/promotion_store.h"

namespace care {
// The promotion schema, generated from services/promotion/migrations/.
std::vector<Migration> PromotionMigrations();
}  // namespace care

namespace care::promotion {

std::unique_ptr<PromotionStore> NewSqlitePromotionStore(Database& db);

}  // namespace care::promotion
