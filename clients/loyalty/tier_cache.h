#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "care/loyalty/v1/loyalty.pb.h"
#include "clients/loyalty/loyalty_client.h"
#include "clients/loyalty/tier_cache_metrics.h"
#include "common/key_file.h"
#include "common/redis.h"

// Loyalty writes the tier cache (TierCacheWriter); promotion, complaint and
// loyalty's own GetTier read it (TierLookup).
namespace care {

// The tier cache (design flow 2): each member's TierSnapshot lives in Redis
// under TierCacheKey(member_id), written only by loyalty, with a version so
// that a late writer can never put an older tier back, and an HMAC-SHA256
// signature over member id, version and payload under a key loyalty and the
// readers share (--tier_cache_key_file): whoever can write to Redis but does
// not hold the key cannot change a price.
std::string TierCacheKey(absl::string_view member_id);

// "<key_id>.<base64url MAC>" of the entry (member id, version, payload).
std::string SignTierEntry(const HmacKeyRing& keys, absl::string_view member_id, int64_t version,
                          absl::string_view payload);
// The snapshot an entry read for `member_id` carries, if its signature
// verifies under a listed key and the payload is that member's at that
// version; std::nullopt otherwise (forged, altered, unsigned, another
// member's entry copied over).
std::optional<care::loyalty::v1::TierSnapshot> VerifiedTierEntry(const HmacKeyRing& keys, absl::string_view member_id,
                                                                 const RedisPool::Versioned& entry);

// Loyalty's side.
class TierCacheWriter final {
 public:
  TierCacheWriter(RedisPool& redis, const HmacKeyRing& keys) : redis_(redis), keys_(keys) {}
  // Stores `snapshot` (signed) unless Redis already holds a newer version.
  // UNAVAILABLE when Redis is down: the caller still has its database.
  absl::Status Put(const care::loyalty::v1::TierSnapshot& snapshot);

  // The database's snapshots of `member_ids`, in order (std::nullopt: no
  // such member).
  using Truth = std::function<absl::StatusOr<std::vector<std::optional<care::loyalty::v1::TierSnapshot>>>(
      const std::vector<std::string>& member_ids)>;
  struct AuditStep {
    uint64_t next_cursor = 0;  // 0: the walk over the cache is complete
    int checked = 0;
    int repaired = 0;
  };
  // One step of the audit that walks every cached entry (SCAN from
  // `cursor`, about `batch` keys) and compares it with `truth`. An entry
  // that is unsigned or badly signed, or ahead of the database (a higher
  // version: a forged entry, or the database was restored from a backup) is
  // overwritten with the database's snapshot, or deleted when the member
  // does not exist; one that is behind gets the usual compare-and-set; one
  // signed with a listed key other than the signing one is re-signed. The
  // overwrite happens only if the entry is still what was read, so a write
  // made meanwhile is never undone.
  absl::StatusOr<AuditStep> Audit(uint64_t cursor, int batch, const Truth& truth);

 private:
  RedisPool::Versioned Entry(const care::loyalty::v1::TierSnapshot& snapshot) const;

  RedisPool& redis_;
  const HmacKeyRing& keys_;
};

// Every reader's side: Redis first; on a miss, an entry whose signature
// does not verify, or Redis down, the fallback (loyalty's GetTier, or
// loyalty's own database).
class TierLookup final {
 public:
  using Fallback = std::function<absl::StatusOr<care::loyalty::v1::TierSnapshot>(absl::string_view member_id)>;
  // `redis` may be null (no cache configured); otherwise `keys` must not be.
  TierLookup(RedisPool* redis, const HmacKeyRing* keys, Fallback fallback)
      : redis_(redis), keys_(keys), fallback_(std::move(fallback)) {}

  absl::StatusOr<care::loyalty::v1::TierSnapshot> Get(absl::string_view member_id);

  int64_t hits() const { return hits_.load(); }
  int64_t misses() const { return misses_.load(); }
  int64_t redis_errors() const { return redis_errors_.load(); }
  int64_t invalid() const { return invalid_.load(); }

 private:
  RedisPool* redis_;  // may be null: no cache configured
  const HmacKeyRing* keys_;
  Fallback fallback_;
  std::atomic<int64_t> hits_{0}, misses_{0}, redis_errors_{0}, invalid_{0};
};

// The fallback other services use: loyalty's GetTier through `loyalty`,
// which must outlive the lookup.
TierLookup::Fallback GetTierFrom(const clients::loyalty::LoyaltyClient& loyalty);

}  // namespace care
