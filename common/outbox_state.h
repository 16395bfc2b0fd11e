#pragma once

// Where one outbox event stands, for a sender that shows its progress (an
// erasure's per-service state): read from the outbox table (outbox.h).

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/sql.h"

namespace care {

struct OutboxEventState {
  int64_t attempts = 0;
  std::string last_error;  // of the last failed attempt; "" when none
  bool delivered = false;
  bool dead = false;
};

// std::nullopt when no event has `event_id` (never enqueued, erased, or
// purged once delivered).
absl::StatusOr<std::optional<OutboxEventState>> OutboxEventStateOf(Txn& txn, const std::string& event_id);

}  // namespace care
