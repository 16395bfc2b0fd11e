#pragma once

// The loyalty service's gRPC adapter: validates each request (bad input is
// INVALID_ARGUMENT naming the fields), maps it to a domain command, runs it
// in a store transaction together with its idempotency record (AIP-155), and
// maps the result back. Everything else is in LoyaltyService.

#include <array>
#include <memory>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "care/loyalty/v1/loyalty.grpc.pb.h"
#include "common/redis.h"
#include "common/rpc.h"
#include "clients/loyalty/tier_cache.h"
#include "services/loyalty/loyalty_service.h"

namespace care::loyalty {

// The Redis tier cache behind the domain's TierCache interface: entries
// signed with `keys` (the first signs).
class RedisTierCache final : public TierCache {
 public:
  RedisTierCache(RedisPool& redis, const HmacKeyRing& keys) : writer_(redis, keys) {}
  absl::Status Put(const TierSnapshot& snapshot) override;
  absl::StatusOr<uint64_t> Audit(uint64_t cursor, const SnapshotsOf& truth) override;

 private:
  TierCacheWriter writer_;
};

// Loyalty's own copy of recent tier snapshots, in front of Redis. Loyalty is
// the only writer of tiers and every write passes through Put before it is
// acknowledged, so the copy is never older than Redis; it saves GetTier the
// Redis round trip, which on a small machine costs as much as the RPC itself.
// Other services keep reading Redis (they cannot see loyalty's writes).
// Bounded: a full shard drops an entry, which then comes from Redis again.
class TierSnapshotMemo final : public TierCache {
 public:
  // `next` receives every Put (Redis); `capacity` 0 turns the memo off.
  TierSnapshotMemo(TierCache* next, size_t capacity) : next_(next), per_shard_(capacity / kShards) {}
  absl::Status Put(const TierSnapshot& snapshot) override;
  // The memo holds only loyalty's own writes: there is nothing in it to
  // audit; the audit is Redis's.
  absl::StatusOr<uint64_t> Audit(uint64_t cursor, const SnapshotsOf& truth) override {
    return next_ == nullptr ? uint64_t{0} : next_->Audit(cursor, truth);
  }
  std::shared_ptr<const v1::TierSnapshot> Find(absl::string_view member_id) const;

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    mutable std::mutex mu;
    absl::flat_hash_map<std::string, std::shared_ptr<const v1::TierSnapshot>> entries;
  };
  Shard& ShardFor(absl::string_view member_id) const;

  TierCache* next_;  // may be null
  size_t per_shard_;
  mutable std::array<Shard, kShards> shards_;
};

class LoyaltyGrpc final : public care::loyalty::v1::LoyaltyService::CallbackService {
 public:
  // `redis` may be null (no cache: GetTier reads the database), otherwise
  // `keys` verify its entries; `memo` may be null (every GetTier asks Redis
  // first).
  LoyaltyGrpc(RpcRuntime& rpc, LoyaltyService& loyalty, RedisPool* redis, const HmacKeyRing* keys,
              const TierSnapshotMemo* memo);

  using ServerContext = grpc::CallbackServerContext;
  using Reactor = grpc::ServerUnaryReactor;

  Reactor* GetProgram(ServerContext* ctx, const v1::GetProgramRequest* req, v1::Program* resp) override;
  Reactor* UpdateProgram(ServerContext* ctx, const v1::UpdateProgramRequest* req, v1::Program* resp) override;
  Reactor* ListProgramVersions(ServerContext* ctx, const v1::ListProgramVersionsRequest* req,
                               v1::ListProgramVersionsResponse* resp) override;
  Reactor* EnrolMember(ServerContext* ctx, const v1::EnrolMemberRequest* req, v1::Member* resp) override;
  Reactor* GetMember(ServerContext* ctx, const v1::GetMemberRequest* req, v1::Member* resp) override;
  Reactor* UpdateMember(ServerContext* ctx, const v1::UpdateMemberRequest* req, v1::Member* resp) override;
  Reactor* ListMembers(ServerContext* ctx, const v1::ListMembersRequest* req,
                       v1::ListMembersResponse* resp) override;
  grpc::ServerWriteReactor<v1::Member>* ExportMembers(ServerContext* ctx,
                                                      const v1::ExportMembersRequest* req) override;
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
  Reactor* ProjectTier(ServerContext* ctx, const v1::ProjectTierRequest* req,
                       v1::ProjectTierResponse* resp) override;

 private:
  // Runs `fn(StoreTxn&, Effects&)` (which fills `resp`) in one write
  // transaction with the idempotency record of (caller, scope, key): a
  // replay returns the stored answer; a key reused for another request is
  // REQUEST_ID_REUSED. Then writes tier snapshots through to the cache.
  template <typename Fn>
  absl::Status Mutate(absl::string_view scope, const std::string& key, const google::protobuf::Message& request,
                      google::protobuf::Message* resp, Fn fn);
  // The same for a natural key (an order id, a return id): one record
  // whoever the caller, kept for good (kSharedKeys, common/store.h).
  template <typename Fn>
  absl::Status MutateByNaturalKey(absl::string_view scope, const std::string& key,
                                  const google::protobuf::Message& request, google::protobuf::Message* resp, Fn fn);
  template <typename Fn>
  absl::Status MutateUnder(const IdempotencyKey& key, const google::protobuf::Message& request,
                           google::protobuf::Message* resp, Fn fn);
  // Runs `fn(StoreTxn&)` on a read snapshot.
  template <typename Fn>
  absl::Status Read(Fn fn);

  RpcRuntime& rpc_;
  LoyaltyService& loyalty_;
  TierLookup lookup_;
  const TierSnapshotMemo* memo_;
};

}  // namespace care::loyalty
