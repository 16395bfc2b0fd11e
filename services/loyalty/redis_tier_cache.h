#pragma once

// The domain's TierCache (loyalty_service.h) in production: Redis, with
// signed entries, behind a bounded in-memory memo of loyalty's own writes.

#include <array>
#include <memory>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "care/loyalty/v1/loyalty.pb.h"
#include "clients/loyalty/tier_cache.h"
#include "common/redis.h"
#include "services/loyalty/loyalty_service.h"

namespace care::loyalty {

// The Redis tier cache behind the domain's TierCache interface: entries
// signed with `keys` (the first signs).
class RedisTierCache final : public TierCache {
 public:
  RedisTierCache(RedisPool& redis, const HmacKeyRing& keys) : redis_(redis), keys_(keys), writer_(redis, keys) {}
  absl::Status Put(const TierSnapshot& snapshot) override;
  absl::Status Forget(const std::string& member_id) override;
  absl::StatusOr<uint64_t> Audit(uint64_t cursor, const SnapshotsOf& truth) override;
  // Redis's entry if its signature verifies, otherwise `read` (TierLookup).
  absl::StatusOr<v1::TierSnapshot> Get(absl::string_view member_id, const Read& read) override;

 private:
  RedisPool& redis_;
  const HmacKeyRing& keys_;
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
  absl::Status Forget(const std::string& member_id) override;
  // The memo holds only loyalty's own writes: there is nothing in it to
  // audit; the audit is Redis's.
  absl::StatusOr<uint64_t> Audit(uint64_t cursor, const SnapshotsOf& truth) override {
    return next_ == nullptr ? uint64_t{0} : next_->Audit(cursor, truth);
  }
  // The memo's copy (counted as a "memo" lookup), otherwise the next cache's
  // answer, or `read`'s when there is no next cache.
  absl::StatusOr<v1::TierSnapshot> Get(absl::string_view member_id, const Read& read) override;
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

}  // namespace care::loyalty
