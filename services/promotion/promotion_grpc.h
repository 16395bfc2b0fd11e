#pragma once

// The promotion service's gRPC adapter: validates each request (bad input is
// INVALID_ARGUMENT naming the fields) and hands it to PromotionService.
// Methods not overridden answer UNIMPLEMENTED.

#include "care/promotion/v1/promotion.grpc.pb.h"
#include "common/arena_allocator.h"
#include "common/privacy.h"
#include "common/rpc.h"
#include "services/promotion/promotion_service.h"

namespace care::promotion {

class PromotionGrpc final : public care::promotion::v1::PromotionService::CallbackService {
 public:
  // `digests` name the subject of an export in its audit entry.
  PromotionGrpc(RpcRuntime& rpc, PromotionService& promotion, const SubjectDigests& digests)
      : rpc_(rpc), promotion_(promotion), digests_(digests) {
    SetMessageAllocatorFor_Quote(&quote_messages_);
  }

  using ServerContext = grpc::CallbackServerContext;
  using Reactor = grpc::ServerUnaryReactor;
  Reactor* CreateCampaign(ServerContext* ctx, const v1::CreateCampaignRequest* req, v1::Campaign* resp) override;
  Reactor* GetCampaign(ServerContext* ctx, const v1::GetCampaignRequest* req, v1::Campaign* resp) override;
  Reactor* AnnounceCampaign(ServerContext* ctx, const v1::AnnounceCampaignRequest* req, v1::Campaign* resp) override;
  Reactor* RescheduleCampaign(ServerContext* ctx, const v1::RescheduleCampaignRequest* req,
                              v1::Campaign* resp) override;
  Reactor* ListCampaigns(ServerContext* ctx, const v1::ListCampaignsRequest* req,
                         v1::ListCampaignsResponse* resp) override;
  Reactor* ListCampaignVersions(ServerContext* ctx, const v1::ListCampaignVersionsRequest* req,
                                v1::ListCampaignVersionsResponse* resp) override;
  Reactor* ListRedemptions(ServerContext* ctx, const v1::ListRedemptionsRequest* req,
                           v1::ListRedemptionsResponse* resp) override;
  Reactor* UpdateCampaign(ServerContext* ctx, const v1::UpdateCampaignRequest* req, v1::Campaign* resp) override;
  Reactor* CancelCampaign(ServerContext* ctx, const v1::CancelCampaignRequest* req, v1::Campaign* resp) override;
  Reactor* GetCampaignReport(ServerContext* ctx, const v1::GetCampaignReportRequest* req,
                             v1::CampaignReport* resp) override;
  Reactor* Quote(ServerContext* ctx, const v1::QuoteRequest* req, v1::QuoteResponse* resp) override;
  Reactor* RedeemQuote(ServerContext* ctx, const v1::RedeemQuoteRequest* req, v1::Redemption* resp) override;
  Reactor* CancelRedemption(ServerContext* ctx, const v1::CancelRedemptionRequest* req, v1::Redemption* resp) override;
  Reactor* GetRedemption(ServerContext* ctx, const v1::GetRedemptionRequest* req, v1::Redemption* resp) override;
  Reactor* ReturnRedemption(ServerContext* ctx, const v1::ReturnRedemptionRequest* req,
                            v1::ReturnRedemptionResponse* resp) override;
  // Vouchers (voucher_grpc.cc).
  Reactor* GenerateVouchers(ServerContext* ctx, const v1::GenerateVouchersRequest* req,
                            v1::GenerateVouchersResponse* resp) override;
  Reactor* GetVoucher(ServerContext* ctx, const v1::GetVoucherRequest* req, v1::Voucher* resp) override;
  Reactor* ValidateVoucher(ServerContext* ctx, const v1::ValidateVoucherRequest* req,
                           v1::ValidateVoucherResponse* resp) override;
  Reactor* IssueVoucher(ServerContext* ctx, const v1::IssueVoucherRequest* req, v1::Voucher* resp) override;
  Reactor* RevokeVoucher(ServerContext* ctx, const v1::RevokeVoucherRequest* req, v1::Voucher* resp) override;
  Reactor* ListVouchers(ServerContext* ctx, const v1::ListVouchersRequest* req,
                        v1::ListVouchersResponse* resp) override;
  // Personal data (privacy_grpc.cc).
  grpc::ServerWriteReactor<v1::PromotionPersonalData>* ExportPersonalData(
      ServerContext* ctx, const care::common::v1::ExportPersonalDataRequest* req) override;
  Reactor* ErasePersonalData(ServerContext* ctx, const care::common::v1::ErasePersonalDataRequest* req,
                             care::common::v1::ErasureReceipt* resp) override;

 private:
  RpcRuntime& rpc_;
  PromotionService& promotion_;
  const SubjectDigests& digests_;
  // Quote, the hot path: a priced cart is built on the call's arena.
  ArenaMessageAllocator<v1::QuoteRequest, v1::QuoteResponse> quote_messages_;
};

}  // namespace care::promotion
