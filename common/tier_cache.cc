#include "common/tier_cache.h"

#include "absl/strings/str_cat.h"
#include "care/loyalty/v1/loyalty.grpc.pb.h"
#include "common/grpc_status.h"
#include "common/metrics.h"

namespace care {

using care::loyalty::v1::TierSnapshot;

std::string TierCacheKey(absl::string_view member_id) {
  return absl::StrCat("care:tier:v1:", member_id);
}

absl::Status TierCacheWriter::Put(const TierSnapshot& snapshot) {
  auto written = redis_.SetIfNewer(TierCacheKey(snapshot.member_id()), snapshot.version(),
                                   snapshot.SerializeAsString());
  return written.status();
}

absl::StatusOr<TierSnapshot> TierLookup::Get(absl::string_view member_id) {
  // Exported as one exclusive result per lookup: hit, miss, or error (Redis
  // unavailable, fallback used).
  static auto& hit = metrics::TierCacheLookups().With({"hit"});
  static auto& miss = metrics::TierCacheLookups().With({"miss"});
  static auto& error = metrics::TierCacheLookups().With({"error"});
  bool redis_failed = false;
  if (redis_ != nullptr) {
    auto cached = redis_->GetVersioned(TierCacheKey(member_id));
    if (!cached.ok()) {
      ++redis_errors_;
      redis_failed = true;
    } else if (cached->has_value()) {
      TierSnapshot snapshot;
      if (snapshot.ParseFromString((*cached)->value)) {
        ++hits_;
        hit.Inc();
        return snapshot;
      }
    }
  }
  ++misses_;
  (redis_failed ? error : miss).Inc();
  return fallback_(member_id);
}

TierLookup::Fallback LoyaltyGetTier(Peer loyalty, absl::Duration timeout) {
  auto stub = std::shared_ptr<care::loyalty::v1::LoyaltyService::Stub>(
      care::loyalty::v1::LoyaltyService::NewStub(loyalty.channel));
  return [stub, loyalty, timeout](absl::string_view member_id) -> absl::StatusOr<TierSnapshot> {
    care::loyalty::v1::GetTierRequest request;
    request.set_member_id(std::string(member_id));
    TierSnapshot snapshot;
    auto ctx = PeerContext(loyalty, timeout);
    grpc::Status s = stub->GetTier(ctx.get(), request, &snapshot);
    if (!s.ok()) return FromGrpcStatus(s);
    return snapshot;
  };
}

}  // namespace care
