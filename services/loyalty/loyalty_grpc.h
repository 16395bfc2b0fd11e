#pragma once

#include "care/loyalty/v1/loyalty.grpc.pb.h"

namespace care::loyalty {

// gRPC adapter of the loyalty service. Methods not overridden here answer
// UNIMPLEMENTED until the loyalty issue lands.
class LoyaltyGrpc final : public care::loyalty::v1::LoyaltyService::CallbackService {};

}  // namespace care::loyalty
