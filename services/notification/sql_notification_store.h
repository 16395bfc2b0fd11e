#pragma once

// The SQL implementation of NotificationStore, for SQLite and PostgreSQL
// alike (common/sql.h): schema in migrations/ and migrations/postgres/
// (schedules, deliveries, members, consents, consent_history, inbox,
// inbox_events, templates, settings); full resources are blobs beside the
// indexed columns queries need.

#include <memory>
#include <vector>

#include "common/privacy.h"
#include "common/sql.h"
#include "services/notification/notification_store.h"

namespace care {
// The notification schema, compiled in from migrations/.
std::vector<Migration> NotificationMigrations();
std::vector<Migration> NotificationPostgresMigrations();
// Both, for ServerRunner::OpenDatabase.
inline Schema NotificationSchema() { return {NotificationMigrations(), NotificationPostgresMigrations()}; }
}  // namespace care

namespace care::notification {

std::unique_ptr<NotificationStore> NewSqlNotificationStore(Database& db, const SubjectDigests& digests);

}  // namespace care::notification
