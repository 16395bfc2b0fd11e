#pragma once

// The SQLite implementation of NotificationStore: schema in migrations/
// (schedules, deliveries, members, consents, consent_history, inbox,
// inbox_events, templates, settings); full resources are blobs beside the
// indexed columns queries need. Writes go through the common Database's
// single writer and group commit.

#include <memory>
#include <vector>

#include "common/sqlite.h"
#include "services/notification/notification_store.h"

namespace care {
// The notification schema, compiled in from migrations/.
std::vector<Migration> NotificationMigrations();
}  // namespace care

namespace care::notification {

std::unique_ptr<NotificationStore> NewSqliteNotificationStore(Database& db);

}  // namespace care::notification
