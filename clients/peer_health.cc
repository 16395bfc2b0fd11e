#include "clients/peer_health.h"

#include "care/complaint/v1/complaint.grpc.pb.h"
#include "care/loyalty/v1/loyalty.grpc.pb.h"
#include "care/notification/v1/notification.grpc.pb.h"
#include "care/promotion/v1/promotion.grpc.pb.h"

namespace care::clients {

std::string PeerHealthService(absl::string_view peer) {
  if (peer == "loyalty") return care::loyalty::v1::LoyaltyService::service_full_name();
  if (peer == "promotion") return care::promotion::v1::PromotionService::service_full_name();
  if (peer == "complaint") return care::complaint::v1::ComplaintService::service_full_name();
  if (peer == "notification") return care::notification::v1::NotificationService::service_full_name();
  return "";
}

}  // namespace care::clients
