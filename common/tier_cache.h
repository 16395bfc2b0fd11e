#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "care/loyalty/v1/loyalty.pb.h"
#include "common/outbox.h"
#include "common/redis.h"

namespace care {

// The tier cache (design flow 2): each member's TierSnapshot lives in Redis
// under TierCacheKey(member_id), written only by loyalty, with a version so
// that a late writer can never put an older tier back.
std::string TierCacheKey(absl::string_view member_id);

// Loyalty's side.
class TierCacheWriter final {
 public:
  explicit TierCacheWriter(RedisPool& redis) : redis_(redis) {}
  // Stores `snapshot` unless Redis already holds a newer version.
  // UNAVAILABLE when Redis is down: the caller still has its database.
  absl::Status Put(const care::loyalty::v1::TierSnapshot& snapshot);

 private:
  RedisPool& redis_;
};

// Every reader's side: Redis first; on a miss, an unreadable entry or Redis
// down, the fallback (loyalty's GetTier, or loyalty's own database).
class TierLookup final {
 public:
  using Fallback =
      std::function<absl::StatusOr<care::loyalty::v1::TierSnapshot>(absl::string_view member_id)>;
  TierLookup(RedisPool* redis, Fallback fallback) : redis_(redis), fallback_(std::move(fallback)) {}

  absl::StatusOr<care::loyalty::v1::TierSnapshot> Get(absl::string_view member_id);

  int64_t hits() const { return hits_.load(); }
  int64_t misses() const { return misses_.load(); }
  int64_t redis_errors() const { return redis_errors_.load(); }

 private:
  RedisPool* redis_;  // may be null: no cache configured
  Fallback fallback_;
  std::atomic<int64_t> hits_{0}, misses_{0}, redis_errors_{0};
};

// The fallback other services use: LoyaltyService.GetTier over gRPC.
TierLookup::Fallback LoyaltyGetTier(Peer loyalty, absl::Duration timeout = absl::Seconds(2));

}  // namespace care
