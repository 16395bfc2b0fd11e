#pragma once

#include "care/promotion/v1/promotion.grpc.pb.h"

namespace care::promotion {

// gRPC adapter of the promotion service. Methods not overridden here answer
// UNIMPLEMENTED until the promotion issue lands.
class PromotionGrpc final : public care::promotion::v1::PromotionService::CallbackService {};

}  // namespace care::promotion
