#pragma once

// In-memory index of live (ANNOUNCED/ACTIVE) campaigns, so a quote looks only
// at campaigns that can touch its cart: keyed by the skus and categories
// their rules require or affect, with a separate "any line" bucket for
// cart-wide rules. Rebuilt entries are swapped in after each committed
// change; the service is the only writer of its database, so the index
// never lags a commit that was acknowledged.

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

  // Adds, replaces or (when no longer live) removes a campaign.
  void Put(const care::promotion::v1::Campaign& campaign);
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
  std::unordered_map<std::string, std::vector<Ptr>> by_sku_, by_category_;
  std::vector<Ptr> any_;
};

}  // namespace care::promotion
