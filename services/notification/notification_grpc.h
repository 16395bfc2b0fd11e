#pragma once

#include "care/notification/v1/notification.grpc.pb.h"

namespace care::notification {

// gRPC adapter of the notification service. Methods not overridden here answer
// UNIMPLEMENTED until the notification issue lands.
class NotificationGrpc final : public care::notification::v1::NotificationService::CallbackService {};

}  // namespace care::notification
