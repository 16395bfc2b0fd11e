#pragma once

// In-memory index of live (ANNOUNCED/ACTIVE) campaigns, so a quote looks only
// at campaigns that can touch its cart: keyed by the skus and categories
// their rules require or affect, with a separate "any line" bucket for
// cart-wide rules. Rebuilt entries are swapped in after each committed
// change; the service is the only writer of its database, so the index
// never lags a commit that was acknowledged. Commits of one campaign may
// reach Put in any order (callers race after the group commit), so Put is
// monotonic by version: an older version never replaces a newer one, and a
// campaign that left the index (cancelled) keeps its version as a tombstone.

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "care/promotion/v1/promotion.pb.h"
#include "services/promotion/model.h"

namespace care::promotion {

class CampaignIndex final {
 public:
  using Ptr = std::shared_ptr<const care::promotion::v1::Campaign>;

  // Adds, replaces or (when no longer live) removes a campaign, unless the
  // index already saw this or a newer version of it (then nothing changes
  // and false is returned).
  bool Put(const care::promotion::v1::Campaign& campaign);
  void Load(const std::vector<care::promotion::v1::Campaign>& live);

  // Live campaigns that may touch `lines`, for a shopper in `tier_id` ("" =
  // guest); each once. Keeps the shared pointers alive in `hold`.
  std::vector<Ptr> Candidates(const std::vector<Line>& lines, const std::string& tier_id, bool guest) const;
  // Every live campaign, by id (QuoteRequest.explain_all).
  std::vector<Ptr> All() const;
  size_t size() const;

 private:
  struct Entry {
    Ptr campaign;
    std::vector<std::string> skus, categories;
    bool any = false;
  };
  void RemoveLocked(const std::string& id);

  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, Entry> by_id_;
  // Newest version seen per campaign, live or not (tombstones included): one
  // integer per campaign ever changed while the process runs.
  std::unordered_map<std::string, int64_t> seen_version_;
  std::unordered_map<std::string, std::vector<Ptr>> by_sku_, by_category_;
  std::vector<Ptr> any_;
};

}  // namespace care::promotion
