#include "services/loyalty/redis_tier_cache.h"

#include "common/log.h"
#include "services/loyalty/loyalty_proto.h"

namespace care::loyalty {

absl::Status RedisTierCache::Put(const TierSnapshot& snapshot) { return writer_.Put(SnapshotToProto(snapshot)); }

absl::Status RedisTierCache::Forget(const std::string& member_id) { return redis_.Delete(TierCacheKey(member_id)); }

absl::StatusOr<uint64_t> RedisTierCache::Audit(uint64_t cursor, const SnapshotsOf& truth) {
  // Small steps: each reads one database snapshot per key in one read
  // transaction, between the other jobs.
  constexpr int kAuditBatch = 200;
  auto step = writer_.Audit(cursor, kAuditBatch, [&truth](const std::vector<std::string>& ids) {
    auto snapshots = truth(ids);
    using Out = std::vector<std::optional<v1::TierSnapshot>>;
    if (!snapshots.ok()) return absl::StatusOr<Out>(snapshots.status());
    Out out;
    out.reserve(snapshots->size());
    for (const auto& s : *snapshots) {
      out.push_back(s.has_value() ? std::optional<v1::TierSnapshot>(SnapshotToProto(*s)) : std::nullopt);
    }
    return absl::StatusOr<Out>(std::move(out));
  });
  if (!step.ok()) return step.status();
  if (step->repaired > 0) {
    LogWarn("tier cache audit repaired entries that disagreed with the database",
            {{"checked", step->checked}, {"repaired", step->repaired}});
  }
  return step->next_cursor;
}

absl::StatusOr<v1::TierSnapshot> RedisTierCache::Get(absl::string_view member_id, const Read& read) {
  // A lookup per call: its fallback is this call's `read`; the counts that
  // matter are the process-wide metrics it reports to.
  return TierLookup(&redis_, &keys_, read).Get(member_id);
}

TierSnapshotMemo::Shard& TierSnapshotMemo::ShardFor(absl::string_view member_id) const {
  return shards_[absl::HashOf(member_id) % kShards];
}

absl::Status TierSnapshotMemo::Put(const TierSnapshot& snapshot) {
  if (per_shard_ > 0) {
    auto proto = std::make_shared<const v1::TierSnapshot>(SnapshotToProto(snapshot));
    Shard& shard = ShardFor(snapshot.member_id);
    std::lock_guard lock(shard.mu);
    auto it = shard.entries.find(snapshot.member_id);
    if (it == shard.entries.end()) {
      if (shard.entries.size() >= per_shard_) shard.entries.erase(shard.entries.begin());
      shard.entries.emplace(snapshot.member_id, std::move(proto));
    } else if (it->second->version() < snapshot.version) {
      // Concurrent writers may Put out of order: the newer version wins, as in Redis.
      it->second = std::move(proto);
    }
  }
  return next_ == nullptr ? absl::OkStatus() : next_->Put(snapshot);
}

absl::Status TierSnapshotMemo::Forget(const std::string& member_id) {
  if (per_shard_ > 0) {
    Shard& shard = ShardFor(member_id);
    std::lock_guard lock(shard.mu);
    shard.entries.erase(member_id);
  }
  return next_ == nullptr ? absl::OkStatus() : next_->Forget(member_id);
}

absl::StatusOr<v1::TierSnapshot> TierSnapshotMemo::Get(absl::string_view member_id, const Read& read) {
  if (auto known = Find(member_id)) {
    static auto& memo_hit = TierCacheLookupsMetric().With({"memo"});
    memo_hit.Inc();
    return *known;
  }
  return next_ == nullptr ? read(member_id) : next_->Get(member_id, read);
}

std::shared_ptr<const v1::TierSnapshot> TierSnapshotMemo::Find(absl::string_view member_id) const {
  if (per_shard_ == 0) return nullptr;
  Shard& shard = ShardFor(member_id);
  std::lock_guard lock(shard.mu);
  auto it = shard.entries.find(member_id);
  return it == shard.entries.end() ? nullptr : it->second;
}

}  // namespace care::loyalty
