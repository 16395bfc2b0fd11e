#pragma once

// The loyalty service's gRPC adapter: checks each request's shape (bad input
// is INVALID_ARGUMENT naming the fields), maps it to a domain command with
// its idempotency key (Once), calls one LoyaltyService operation and returns
// its answer. It opens no transaction; everything else is the domain's.

#include "care/loyalty/v1/loyalty.grpc.pb.h"
#include "common/privacy.h"
#include "common/rpc.h"
#include "services/loyalty/loyalty_service.h"

namespace care::loyalty {

class LoyaltyGrpc final : public care::loyalty::v1::LoyaltyService::CallbackService {
 public:
  // `digests` name the subject of an export in its audit entry.
  LoyaltyGrpc(RpcRuntime& rpc, LoyaltyService& loyalty, const SubjectDigests& digests);

  using ServerContext = grpc::CallbackServerContext;
  using Reactor = grpc::ServerUnaryReactor;

  Reactor* GetProgram(ServerContext* ctx, const v1::GetProgramRequest* req, v1::Program* resp) override;
  Reactor* UpdateProgram(ServerContext* ctx, const v1::UpdateProgramRequest* req, v1::Program* resp) override;
  Reactor* ListProgramVersions(ServerContext* ctx, const v1::ListProgramVersionsRequest* req,
                               v1::ListProgramVersionsResponse* resp) override;
  Reactor* EnrolMember(ServerContext* ctx, const v1::EnrolMemberRequest* req, v1::Member* resp) override;
  Reactor* GetMember(ServerContext* ctx, const v1::GetMemberRequest* req, v1::Member* resp) override;
  Reactor* UpdateMember(ServerContext* ctx, const v1::UpdateMemberRequest* req, v1::Member* resp) override;
  Reactor* ListMembers(ServerContext* ctx, const v1::ListMembersRequest* req, v1::ListMembersResponse* resp) override;
  grpc::ServerWriteReactor<v1::Member>* ExportMembers(ServerContext* ctx, const v1::ExportMembersRequest* req) override;
  Reactor* RecordPurchase(ServerContext* ctx, const v1::RecordPurchaseRequest* req,
                          v1::RecordPurchaseResponse* resp) override;
  Reactor* RecordReturn(ServerContext* ctx, const v1::RecordReturnRequest* req,
                        v1::RecordReturnResponse* resp) override;
  Reactor* RedeemPoints(ServerContext* ctx, const v1::RedeemPointsRequest* req,
                        v1::RedeemPointsResponse* resp) override;
  Reactor* AdjustPoints(ServerContext* ctx, const v1::AdjustPointsRequest* req,
                        v1::AdjustPointsResponse* resp) override;
  Reactor* ListLedgerEntries(ServerContext* ctx, const v1::ListLedgerEntriesRequest* req,
                             v1::ListLedgerEntriesResponse* resp) override;
  Reactor* GetBalance(ServerContext* ctx, const v1::GetBalanceRequest* req, v1::PointsBalance* resp) override;
  Reactor* GetTier(ServerContext* ctx, const v1::GetTierRequest* req, v1::TierSnapshot* resp) override;
  Reactor* ProjectTier(ServerContext* ctx, const v1::ProjectTierRequest* req, v1::ProjectTierResponse* resp) override;
  grpc::ServerWriteReactor<v1::LoyaltyPersonalData>* ExportPersonalData(
      ServerContext* ctx, const care::common::v1::ExportPersonalDataRequest* req) override;
  Reactor* ErasePerson(ServerContext* ctx, const v1::ErasePersonRequest* req, v1::Erasure* resp) override;
  Reactor* GetErasure(ServerContext* ctx, const v1::GetErasureRequest* req, v1::Erasure* resp) override;
  Reactor* GetLoyaltyAnalytics(ServerContext* ctx, const v1::GetLoyaltyAnalyticsRequest* req,
                               v1::LoyaltyAnalytics* resp) override;
  // The rewards catalogue (rewards_grpc.cc).
  Reactor* CreateReward(ServerContext* ctx, const v1::CreateRewardRequest* req, v1::Reward* resp) override;
  Reactor* GetReward(ServerContext* ctx, const v1::GetRewardRequest* req, v1::Reward* resp) override;
  Reactor* ListRewards(ServerContext* ctx, const v1::ListRewardsRequest* req, v1::ListRewardsResponse* resp) override;
  Reactor* UpdateReward(ServerContext* ctx, const v1::UpdateRewardRequest* req, v1::Reward* resp) override;
  Reactor* ArchiveReward(ServerContext* ctx, const v1::ArchiveRewardRequest* req, v1::Reward* resp) override;
  Reactor* RedeemReward(ServerContext* ctx, const v1::RedeemRewardRequest* req, v1::RewardRedemption* resp) override;
  Reactor* GetRewardRedemption(ServerContext* ctx, const v1::GetRewardRedemptionRequest* req,
                               v1::RewardRedemption* resp) override;
  Reactor* ListRewardRedemptions(ServerContext* ctx, const v1::ListRewardRedemptionsRequest* req,
                                 v1::ListRewardRedemptionsResponse* resp) override;

 private:
  RpcRuntime& rpc_;
  LoyaltyService& loyalty_;
  const SubjectDigests& digests_;
};

}  // namespace care::loyalty
