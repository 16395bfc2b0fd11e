#pragma once

// IngestEventRequest <-> Event. The adapter turns the wire request into the
// domain's Event; the SQLite store keeps a delivery's event in the
// request's serialized form (the stored rows' format).

#include "care/notification/v1/notification.pb.h"
#include "services/notification/notification_store.h"

namespace care::notification {

Event EventFromWire(const v1::IngestEventRequest& request);
v1::IngestEventRequest EventToWire(const Event& event);

}  // namespace care::notification
