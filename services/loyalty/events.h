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

// What a cadence rule sends the member `m` at their `contact`-th check-in:
// a CareCheckIn message to notification (action MESSAGE), or a check-in
// ticket to complaint (AGENT_TASK, clients/complaint/check_in_ticket.h),
// named in the member's language.
OutboxEvent CheckInToOutbox(const CadenceRule& rule, const Member& m, int contact, absl::Time occurred);

}  // namespace care::loyalty
