#pragma once

// The SQL implementation of LoyaltyStore (loyalty_store.h), for SQLite and
// PostgreSQL alike (common/sql.h): a failed write leaves nothing behind.
// Everything engine-specific in loyalty is in migrations/ (SQLite) and
// migrations/postgres/.

#include <memory>
#include <vector>

#include "common/privacy.h"
#include "common/sql.h"
#include "services/loyalty/loyalty_store.h"

namespace care {
// The loyalty schema, compiled in from migrations/ (cmake/CareMigrations.cmake).
std::vector<Migration> LoyaltyMigrations();
std::vector<Migration> LoyaltyPostgresMigrations();
// Both, for ServerRunner::OpenDatabase.
inline Schema LoyaltySchema() { return {LoyaltyMigrations(), LoyaltyPostgresMigrations()}; }
}  // namespace care

namespace care::loyalty {

std::unique_ptr<LoyaltyStore> NewSqlLoyaltyStore(Database& db, const SubjectDigests& digests);
// The store's view of a transaction someone else opened (the outbox relay's,
// for OutboxRelay::OnOutcome handlers).
std::unique_ptr<StoreTxn> SqlLoyaltyTxn(Txn& txn, const SubjectDigests& digests);

}  // namespace care::loyalty
