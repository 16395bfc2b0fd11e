#pragma once

// Loyalty's events as outbox entries for the notification service: the one
// way they leave is tx.Enqueue(EventToOutbox(event, occurred)) in the
// transaction of the change they report. Payloads are built by
// clients/notification.

#include "absl/time/time.h"
#include "common/store.h"
#include "services/loyalty/model.h"

namespace care::loyalty {

// Its id is unique across services ("loyalty:...") and stable, so a
// re-enqueue after a retry is the same event.
OutboxEvent EventToOutbox(const Event& event, absl::Time occurred);

}  // namespace care::loyalty
