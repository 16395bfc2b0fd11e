#pragma once

// The complaint store in SQLite (the service is the only writer of its
// database). The schema is in migrations/.

#include <memory>
#include <vector>

#include "common/sqlite.h"
#include "services/complaint/complaint_store.h"

namespace care {
// The complaint schema, generated from services/complaint/migrations/.
std::vector<Migration> ComplaintMigrations();
}  // namespace care

namespace care::complaint {

std::unique_ptr<ComplaintStore> NewSqliteComplaintStore(Database& db);
// The store's view of a transaction someone else opened (the outbox relay's,
// for OutboxRelay::OnOutcome handlers).
std::unique_ptr<StoreTxn> SqliteComplaintTxn(Txn& txn);

}  // namespace care::complaint
