#include "common/outbox_state.h"

namespace care {

absl::StatusOr<std::optional<OutboxEventState>> OutboxEventStateOf(Txn& txn, const std::string& event_id) {
  auto stmt = txn.Query(
      "SELECT attempts, COALESCE(last_error, ''), CASE WHEN delivered_at IS NULL THEN 0 ELSE 1 END, dead "
      "FROM outbox WHERE event_id = ?1",
      event_id);
  if (!stmt.ok()) return stmt.status();
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::nullopt;
  return OutboxEventState{stmt->Int(0), stmt->Text(1), stmt->Int(2) != 0, stmt->Int(3) != 0};
}

}  // namespace care
