#pragma once

// The typed client other services use to read promotion synchronously (the
// writes go through their outbox: goodwill_voucher.h): every call carries the
// caller's service token and a deadline, and promotion's answer comes back
// as an absl::Status with promotion's own code and ErrorInfo reason.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "care/promotion/v1/promotion.grpc.pb.h"
#include "common/outbox.h"

namespace care::clients::promotion {

class PromotionClient final {
 public:
  explicit PromotionClient(Peer peer, absl::Duration timeout = absl::Seconds(2));

  // The order's redemption (GetRedemption). Promotion's refusal keeps its
  // code and reason (NOT_FOUND / REDEMPTION_NOT_FOUND); promotion
  // unreachable or slow is UNAVAILABLE / DEADLINE_EXCEEDED (FromGrpcStatus).
  absl::StatusOr<::care::promotion::v1::Redemption> GetRedemption(absl::string_view order_id) const;

 private:
  Peer peer_;
  absl::Duration timeout_;
  std::unique_ptr<::care::promotion::v1::PromotionService::Stub> stub_;
};

}  // namespace care::clients::promotion
