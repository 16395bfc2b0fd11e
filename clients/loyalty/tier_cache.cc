#include "clients/loyalty/tier_cache.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "clients/loyalty/tier_cache_metrics.h"

namespace care {

using care::loyalty::v1::TierSnapshot;

namespace {

constexpr absl::string_view kKeyPrefix = "care:tier:v1:";

// What the MAC covers: a purpose prefix (so no other signer's MAC under a
// shared key is ever a valid entry) and the length-prefixed member id, the
// version and the payload.
std::string SignedBytes(absl::string_view member_id, int64_t version, absl::string_view payload) {
  return absl::StrCat("care.tier.v1|", member_id.size(), ":", member_id, "|", version, "|", payload);
}

}  // namespace

std::string TierCacheKey(absl::string_view member_id) { return absl::StrCat(kKeyPrefix, member_id); }

std::string SignTierEntry(const HmacKeyRing& keys, absl::string_view member_id, int64_t version,
                          absl::string_view payload) {
  return absl::StrCat(keys.signing_id(), ".",
                      absl::WebSafeBase64Escape(keys.Sign(SignedBytes(member_id, version, payload))));
}

std::optional<TierSnapshot> VerifiedTierEntry(const HmacKeyRing& keys, absl::string_view member_id,
                                              const RedisPool::Versioned& entry) {
  absl::string_view sig = entry.signature;
  const size_t dot = sig.find('.');
  std::string mac;
  if (dot == absl::string_view::npos || !absl::WebSafeBase64Unescape(sig.substr(dot + 1), &mac)) return std::nullopt;
  // The version as stored must be exactly the one signed ("007" is not 7).
  if (entry.raw_version != absl::StrCat(entry.version)) return std::nullopt;
  if (!keys.Verify(sig.substr(0, dot), SignedBytes(member_id, entry.version, entry.value), mac)) return std::nullopt;
  TierSnapshot snapshot;
  if (!snapshot.ParseFromString(entry.value) || snapshot.member_id() != member_id ||
      snapshot.version() != entry.version) {
    return std::nullopt;
  }
  return snapshot;
}

RedisPool::Versioned TierCacheWriter::Entry(const TierSnapshot& snapshot) const {
  RedisPool::Versioned e;
  e.version = snapshot.version();
  e.value = snapshot.SerializeAsString();
  e.signature = SignTierEntry(keys_, snapshot.member_id(), e.version, e.value);
  return e;
}

absl::Status TierCacheWriter::Put(const TierSnapshot& snapshot) {
  RedisPool::Versioned e = Entry(snapshot);
  return redis_.SetIfNewer(TierCacheKey(snapshot.member_id()), e.version, e.value, e.signature).status();
}

absl::StatusOr<TierCacheWriter::AuditStep> TierCacheWriter::Audit(uint64_t cursor, int batch, const Truth& truth) {
  static auto& repaired_metric = TierCacheRepairsMetric();
  auto scanned = redis_.Scan(cursor, absl::StrCat(kKeyPrefix, "*"), batch);
  if (!scanned.ok()) return scanned.status();
  AuditStep step;
  step.next_cursor = scanned->first;
  std::vector<std::string> members;
  for (const std::string& key : scanned->second) {
    if (absl::StartsWith(key, kKeyPrefix)) members.push_back(key.substr(kKeyPrefix.size()));
  }
  if (members.empty()) return step;
  auto db = truth(members);
  if (!db.ok()) return db.status();
  for (size_t i = 0; i < members.size(); ++i) {
    const std::string key = TierCacheKey(members[i]);
    auto seen = redis_.GetVersioned(key);
    if (!seen.ok()) return seen.status();
    if (!seen->has_value()) continue;  // gone since the scan
    ++step.checked;
    const RedisPool::Versioned& entry = **seen;
    const std::optional<TierSnapshot>& want = (*db)[i];
    const bool valid = VerifiedTierEntry(keys_, members[i], entry).has_value();
    absl::StatusOr<bool> fixed = false;
    const char* why = nullptr;
    if (!want.has_value()) {
      why = "no_member";
      fixed = redis_.ReplaceIfUnchanged(key, entry, std::nullopt);
    } else if (!valid || entry.version > want->version()) {
      why = valid ? "ahead" : "bad_signature";
      fixed = redis_.ReplaceIfUnchanged(key, entry, Entry(*want));
    } else if (entry.version < want->version()) {
      why = "behind";
      RedisPool::Versioned e = Entry(*want);
      fixed = redis_.SetIfNewer(key, e.version, e.value, e.signature);
    } else if (!absl::StartsWith(entry.signature, absl::StrCat(keys_.signing_id(), "."))) {
      // Signed with a key that is being retired: re-signed now, so the old
      // key can leave the file after one audit pass without turning every
      // entry it signed into a miss.
      why = "old_key";
      fixed = redis_.ReplaceIfUnchanged(key, entry, Entry(*want));
    }
    if (!fixed.ok()) return fixed.status();
    if (*fixed) {
      ++step.repaired;
      repaired_metric.With({why}).Inc();
    }
  }
  return step;
}

absl::StatusOr<TierSnapshot> TierLookup::Get(absl::string_view member_id) {
  // Exported as one exclusive result per lookup: hit, miss, invalid (an
  // entry whose signature did not verify: a miss, fallback used) or error
  // (Redis unavailable, fallback used).
  static auto& hit = TierCacheLookupsMetric().With({"hit"});
  static auto& miss = TierCacheLookupsMetric().With({"miss"});
  static auto& invalid = TierCacheLookupsMetric().With({"invalid"});
  static auto& error = TierCacheLookupsMetric().With({"error"});
  auto* result = &miss;
  if (redis_ != nullptr) {
    auto cached = redis_->GetVersioned(TierCacheKey(member_id));
    if (!cached.ok()) {
      ++redis_errors_;
      result = &error;
    } else if (cached->has_value()) {
      if (auto snapshot = VerifiedTierEntry(*keys_, member_id, **cached)) {
        ++hits_;
        hit.Inc();
        return *std::move(snapshot);
      }
      ++invalid_;
      result = &invalid;
    }
  }
  ++misses_;
  result->Inc();
  return fallback_(member_id);
}

TierLookup::Fallback GetTierFrom(const clients::loyalty::LoyaltyClient& loyalty) {
  return [&loyalty](absl::string_view member_id) { return loyalty.GetTier(member_id); };
}

}  // namespace care
