// Lists of campaigns, campaign versions and redemptions, newest first, with
// the contract's filters applied to the stored messages.
#include <algorithm>

#include "common/errors.h"
#include "common/proto_time.h"
#include "services/promotion/promotion_service.h"

namespace care::promotion {
namespace {

template <typename List, typename Value>
bool AnyOf(const List& list, const Value& v) {
  return list.empty() || std::find(list.begin(), list.end(), v) != list.end();
}

}  // namespace

absl::StatusOr<PromotionService::Page<v1::Campaign>> PromotionService::ListCampaigns(const CampaignFilter& filter,
                                                                                     int64_t before_seq,
                                                                                     int page_size) {
  auto page = ReadPage<v1::Campaign>(
      before_seq, page_size, [](StoreTxn& tx, int64_t before, int limit) { return tx.CampaignsBefore(before, limit); },
      [&](const v1::Campaign& stored) {
        v1::Campaign c = WithClockState(stored);
        if (!AnyOf(filter.states, c.state())) return false;
        if (!filter.tier_id.empty() && !AnyOf(c.audience().tier_ids(), filter.tier_id)) return false;
        if (filter.voucher_required && *filter.voucher_required != c.voucher_required()) return false;
        if (filter.active_at) {
          const absl::Time t = *filter.active_at;
          if (!c.has_starts_at() || t < FromTimestamp(c.starts_at()) || t >= FromTimestamp(c.ends_at())) return false;
        }
        return true;
      });
  if (!page.ok()) return page.status();
  for (v1::Campaign& c : page->first) c = WithClockState(std::move(c));
  return page;
}

absl::StatusOr<PromotionService::Page<v1::Redemption>> PromotionService::ListRedemptions(const RedemptionFilter& filter,
                                                                                         int64_t before_seq,
                                                                                         int page_size) {
  return ReadPage<v1::Redemption>(
      before_seq, page_size,
      [](StoreTxn& tx, int64_t before, int limit) { return tx.RedemptionsBefore(before, limit); },
      [&](const v1::Redemption& r) {
        if (!filter.member_id.empty() && r.customer().member_id() != filter.member_id) return false;
        if (!AnyOf(filter.states, r.state())) return false;
        if (!filter.voucher_code.empty() && std::find(r.voucher_codes().begin(), r.voucher_codes().end(),
                                                      filter.voucher_code) == r.voucher_codes().end()) {
          return false;
        }
        if (!filter.campaign_id.empty() &&
            std::none_of(r.campaigns().begin(), r.campaigns().end(),
                         [&](const v1::AppliedCampaign& ac) { return ac.campaign_id() == filter.campaign_id; })) {
          return false;
        }
        const absl::Time created = FromTimestamp(r.create_time());
        if (filter.created_from && created < *filter.created_from) return false;
        if (filter.created_to && created >= *filter.created_to) return false;
        return true;
      });
}

absl::StatusOr<std::vector<v1::CampaignVersion>> PromotionService::ListVersions(const std::string& campaign_id,
                                                                                int64_t after_version, int limit) {
  std::vector<v1::CampaignVersion> out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto current = tx.Campaign(campaign_id);
    if (!current.ok()) return current.status();
    if (!*current) return NotFound("CAMPAIGN_NOT_FOUND", "no such campaign");
    auto rows = tx.Versions(campaign_id, after_version, limit);
    if (!rows.ok()) return rows.status();
    for (v1::CampaignVersion& v : *rows) {
      *v.mutable_create_time() = v.campaign().update_time();
      v.set_author(v.campaign().updated_by());
      out.push_back(std::move(v));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace care::promotion
