#include "clients/promotion/promotion_client.h"

#include "common/grpc_status.h"

namespace care::clients::promotion {

namespace v1 = ::care::promotion::v1;

PromotionClient::PromotionClient(Peer peer, absl::Duration timeout)
    : peer_(std::move(peer)), timeout_(timeout), stub_(v1::PromotionService::NewStub(peer_.channel)) {}

absl::StatusOr<v1::Redemption> PromotionClient::GetRedemption(absl::string_view order_id) const {
  v1::GetRedemptionRequest request;
  request.set_order_id(std::string(order_id));
  v1::Redemption redemption;
  auto ctx = PeerContext(peer_, timeout_);
  grpc::Status s = stub_->GetRedemption(ctx.get(), request, &redemption);
  if (!s.ok()) return FromGrpcStatus(s);
  return redemption;
}

}  // namespace care::clients::promotion
