#pragma once

// The SQL implementation of PromotionStore (promotion_store.h), for SQLite
// and PostgreSQL alike (common/sql.h). Schema: migrations/ and
// migrations/postgres/.

#include <memory>
#include <vector>

#include "common/privacy.h"
#include "common/sql.h"
#include "services/promotion/promotion_store.h"

namespace care {
// The promotion schema, generated from services/promotion/migrations/.
std::vector<Migration> PromotionMigrations();
std::vector<Migration> PromotionPostgresMigrations();
// Both, for ServerRunner::OpenDatabase.
inline Schema PromotionSchema() { return {PromotionMigrations(), PromotionPostgresMigrations()}; }
}  // namespace care

namespace care::promotion {

std::unique_ptr<PromotionStore> NewSqlPromotionStore(Database& db, const SubjectDigests& digests);

}  // namespace care::promotion
