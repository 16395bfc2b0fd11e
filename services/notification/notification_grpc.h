#pragma once

#include <memory>

#include "care/notification/v1/notification.grpc.pb.h"
#include "clients/loyalty/loyalty_client.h"
#include "common/outbox.h"
#include "common/privacy.h"
#include "common/rpc.h"
#include "services/notification/notification_service.h"

namespace care::notification {

// Thin gRPC adapter: validate, map, call the domain. Methods not overridden
// here answer UNIMPLEMENTED (see services/notification/README.md).
class NotificationGrpc final : public care::notification::v1::NotificationService::CallbackService {
 public:
  // `inbox_streams_per_principal`: live SubscribeInbox streams one
  // principal may hold (--inbox_streams_per_principal).
  // `digests` name the subject of an export in its audit entry.
  NotificationGrpc(RpcRuntime& rpc, NotificationService& service, const SubjectDigests& digests,
                   int inbox_streams_per_principal = 8)
      : rpc_(rpc), service_(service), digests_(digests), inbox_streams_(inbox_streams_per_principal) {}

  using ServerContext = grpc::CallbackServerContext;
  using Reactor = grpc::ServerUnaryReactor;

  Reactor* IngestEvent(ServerContext* ctx, const v1::IngestEventRequest* req, v1::IngestEventResponse* resp) override;
  Reactor* GetSchedule(ServerContext* ctx, const v1::GetScheduleRequest* req, v1::Schedule* resp) override;
  Reactor* ListSchedules(ServerContext* ctx, const v1::ListSchedulesRequest* req,
                         v1::ListSchedulesResponse* resp) override;
  Reactor* ListInbox(ServerContext* ctx, const v1::ListInboxRequest* req, v1::ListInboxResponse* resp) override;
  Reactor* MarkInboxMessageRead(ServerContext* ctx, const v1::MarkInboxMessageReadRequest* req,
                                v1::InboxMessage* resp) override;
  grpc::ServerWriteReactor<v1::SubscribeInboxResponse>* SubscribeInbox(ServerContext* ctx,
                                                                       const v1::SubscribeInboxRequest* req) override;
  Reactor* GetDelivery(ServerContext* ctx, const v1::GetDeliveryRequest* req, v1::Delivery* resp) override;
  Reactor* ListDeliveries(ServerContext* ctx, const v1::ListDeliveriesRequest* req,
                          v1::ListDeliveriesResponse* resp) override;
  // Templates (template_grpc.cc).
  Reactor* PutTemplate(ServerContext* ctx, const v1::PutTemplateRequest* req, v1::Template* resp) override;
  Reactor* GetTemplate(ServerContext* ctx, const v1::GetTemplateRequest* req, v1::Template* resp) override;
  Reactor* ListTemplates(ServerContext* ctx, const v1::ListTemplatesRequest* req,
                         v1::ListTemplatesResponse* resp) override;
  Reactor* DeleteTemplate(ServerContext* ctx, const v1::DeleteTemplateRequest* req,
                          google::protobuf::Empty* resp) override;
  Reactor* RenderPreview(ServerContext* ctx, const v1::RenderPreviewRequest* req,
                         v1::RenderPreviewResponse* resp) override;
  // Settings, preferences and consent (preferences_grpc.cc).
  Reactor* GetSettings(ServerContext* ctx, const v1::GetSettingsRequest* req, v1::Settings* resp) override;
  Reactor* UpdateSettings(ServerContext* ctx, const v1::UpdateSettingsRequest* req, v1::Settings* resp) override;
  Reactor* GetPreferences(ServerContext* ctx, const v1::GetPreferencesRequest* req, v1::Preferences* resp) override;
  Reactor* UpdatePreferences(ServerContext* ctx, const v1::UpdatePreferencesRequest* req,
                             v1::Preferences* resp) override;
  Reactor* SetConsent(ServerContext* ctx, const v1::SetConsentRequest* req, v1::ConsentRecord* resp) override;
  Reactor* Unsubscribe(ServerContext* ctx, const v1::UnsubscribeRequest* req, v1::ConsentRecord* resp) override;
  Reactor* ListConsentHistory(ServerContext* ctx, const v1::ListConsentHistoryRequest* req,
                              v1::ListConsentHistoryResponse* resp) override;
  Reactor* GetCampaignDeliveryStats(ServerContext* ctx, const v1::GetCampaignDeliveryStatsRequest* req,
                                    v1::CampaignDeliveryStats* resp) override;
  // Personal data (privacy_grpc.cc).
  grpc::ServerWriteReactor<v1::NotificationPersonalData>* ExportPersonalData(
      ServerContext* ctx, const care::common::v1::ExportPersonalDataRequest* req) override;
  Reactor* ErasePersonalData(ServerContext* ctx, const care::common::v1::ErasePersonalDataRequest* req,
                             care::common::v1::ErasureReceipt* resp) override;
  // Dead letters (dead_letters_grpc.cc).
  Reactor* ReplayDeadLetters(ServerContext* ctx, const v1::ReplayDeadLettersRequest* req,
                             v1::ReplayDeadLettersResponse* resp) override;

 private:
  RpcRuntime& rpc_;
  NotificationService& service_;
  const SubjectDigests& digests_;
  PerPrincipalLimit inbox_streams_;
};

// The audience from loyalty's ExportMembers stream.
class LoyaltyAudience final : public AudienceSource {
 public:
  explicit LoyaltyAudience(Peer peer) : loyalty_(std::move(peer)) {}
  absl::Status Stream(const AudienceQuery& query, int batch_size,
                      const std::function<absl::Status(std::vector<AudienceMember>)>& on_batch) override;

 private:
  clients::loyalty::LoyaltyClient loyalty_;
};

}  // namespace care::notification
