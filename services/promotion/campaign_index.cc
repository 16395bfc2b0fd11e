#include "services/promotion/campaign_index.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"

namespace care::promotion {
namespace {

namespace v1 = ::care::promotion::v1;

bool Restricts(const v1::ItemSelector& s) { return !s.skus().empty() || !s.categories().empty(); }

void Take(const v1::ItemSelector& s, std::vector<std::string>* skus, std::vector<std::string>* cats) {
  skus->insert(skus->end(), s.skus().begin(), s.skus().end());
  cats->insert(cats->end(), s.categories().begin(), s.categories().end());
}

// The lines a rule needs: a required condition on specific items is enough
// (the rule cannot fire without them); otherwise every effect's selector,
// and any cart-wide effect makes the rule reach every cart.
bool RuleKeys(const v1::Rule& rule, std::vector<std::string>* skus, std::vector<std::string>* cats) {
  for (const v1::Condition& c : rule.conditions()) {
    if (c.has_min_quantity() && Restricts(c.min_quantity().items())) {
      Take(c.min_quantity().items(), skus, cats);
      return false;
    }
    if (c.has_min_spend() && c.min_spend().has_items() && Restricts(c.min_spend().items())) {
      Take(c.min_spend().items(), skus, cats);
      return false;
    }
    if (c.has_combo() && c.combo().components_size() > 0 && Restricts(c.combo().components(0).items())) {
      Take(c.combo().components(0).items(), skus, cats);
      return false;
    }
  }
  for (const v1::Effect& e : rule.effects()) {
    if (e.has_item_discount() && Restricts(e.item_discount().items())) {
      Take(e.item_discount().items(), skus, cats);
    } else if (e.has_nth_item_discount() && Restricts(e.nth_item_discount().items())) {
      Take(e.nth_item_discount().items(), skus, cats);
    } else if (e.has_member_price()) {
      for (const auto& p : e.member_price().prices()) skus->push_back(p.sku());
    } else if (e.has_bundle_price() && e.bundle_price().components_size() > 0 &&
               Restricts(e.bundle_price().components(0).items())) {
      Take(e.bundle_price().components(0).items(), skus, cats);
    } else if (e.has_cart_discount() && e.cart_discount().has_items() && Restricts(e.cart_discount().items())) {
      Take(e.cart_discount().items(), skus, cats);
    } else if (e.has_bonus_points() && e.bonus_points().points_per_order() == 0 && e.bonus_points().has_items() &&
               Restricts(e.bonus_points().items())) {
      Take(e.bonus_points().items(), skus, cats);
    } else {
      return true;
    }
  }
  return false;
}

void Erase(std::vector<CampaignIndex::Ptr>& v, const std::string& id) {
  v.erase(std::remove_if(v.begin(), v.end(), [&](const CampaignIndex::Ptr& p) { return p->campaign_id() == id; }),
          v.end());
}

}  // namespace

void CampaignIndex::RemoveLocked(const std::string& id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  for (const auto& s : it->second.skus) Erase(by_sku_[s], id);
  for (const auto& c : it->second.categories) Erase(by_category_[c], id);
  if (it->second.any) Erase(any_, id);
  by_id_.erase(it);
}

bool CampaignIndex::Put(const v1::Campaign& campaign) {
  std::unique_lock lock(mu_);
  int64_t& seen = seen_version_[campaign.campaign_id()];
  if (seen != 0 && campaign.version() <= seen) return false;  // a late, older commit
  seen = campaign.version();
  RemoveLocked(campaign.campaign_id());
  if (campaign.state() != v1::CAMPAIGN_STATE_ANNOUNCED && campaign.state() != v1::CAMPAIGN_STATE_ACTIVE) return true;
  Entry e;
  e.campaign = std::make_shared<const v1::Campaign>(campaign);
  for (const v1::Rule& r : campaign.rules()) e.any = RuleKeys(r, &e.skus, &e.categories) || e.any;
  std::sort(e.skus.begin(), e.skus.end());
  e.skus.erase(std::unique(e.skus.begin(), e.skus.end()), e.skus.end());
  std::sort(e.categories.begin(), e.categories.end());
  e.categories.erase(std::unique(e.categories.begin(), e.categories.end()), e.categories.end());
  for (const auto& s : e.skus) by_sku_[s].push_back(e.campaign);
  for (const auto& c : e.categories) by_category_[c].push_back(e.campaign);
  if (e.any) any_.push_back(e.campaign);
  by_id_[campaign.campaign_id()] = std::move(e);
  return true;
}

void CampaignIndex::Load(const std::vector<v1::Campaign>& live) {
  for (const auto& c : live) Put(c);
}

std::vector<CampaignIndex::Ptr> CampaignIndex::All() const {
  std::vector<Ptr> out;
  {
    std::shared_lock lock(mu_);
    out.reserve(by_id_.size());
    for (const auto& [id, e] : by_id_) out.push_back(e.campaign);
  }
  std::sort(out.begin(), out.end(), [](const Ptr& a, const Ptr& b) { return a->campaign_id() < b->campaign_id(); });
  return out;
}

size_t CampaignIndex::size() const {
  std::shared_lock lock(mu_);
  return by_id_.size();
}

std::vector<CampaignIndex::Ptr> CampaignIndex::Candidates(const std::vector<Line>& lines, const std::string& tier_id,
                                                          bool guest) const {
  std::vector<Ptr> out;
  absl::flat_hash_set<const v1::Campaign*> seen;
  seen.reserve(64);
  out.reserve(64);
  auto add = [&](const Ptr& p) {
    // Tier-targeted campaigns for other tiers cannot apply: skip them here
    // (they are only listed with explain_all).
    const auto& tiers = p->audience().tier_ids();
    if (!tiers.empty() && (guest || std::find(tiers.begin(), tiers.end(), tier_id) == tiers.end())) return;
    if (seen.insert(p.get()).second) out.push_back(p);
  };
  std::shared_lock lock(mu_);
  for (const Ptr& p : any_) add(p);
  for (const Line& l : lines) {
    auto s = by_sku_.find(l.sku);
    if (s != by_sku_.end()) {
      for (const Ptr& p : s->second) add(p);
    }
    if (l.category.empty()) continue;
    auto c = by_category_.find(l.category);
    if (c != by_category_.end()) {
      for (const Ptr& p : c->second) add(p);
    }
  }
  return out;
}

}  // namespace care::promotion
