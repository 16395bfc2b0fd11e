#pragma once

// The complaint store in SQL, one implementation for SQLite and PostgreSQL
// (common/sql.h). The schema is in migrations/ and migrations/postgres/.

#include <memory>
#include <vector>

#include "common/privacy.h"
#include "common/sql.h"
#include "services/complaint/complaint_store.h"

namespace care {
// The complaint schema, generated from services/complaint/migrations/.
std::vector<Migration> ComplaintMigrations();
std::vector<Migration> ComplaintPostgresMigrations();
// Both, for ServerRunner::OpenDatabase.
inline Schema ComplaintSchema() { return {ComplaintMigrations(), ComplaintPostgresMigrations()}; }
}  // namespace care

namespace care::complaint {

std::unique_ptr<ComplaintStore> NewSqlComplaintStore(Database& db, const SubjectDigests& digests);
// The store's view of a transaction someone else opened (the outbox relay's,
// for OutboxRelay::OnOutcome handlers).
std::unique_ptr<StoreTxn> SqlComplaintTxn(Txn& txn, const SubjectDigests& digests);

}  // namespace care::complaint
