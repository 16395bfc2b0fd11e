#pragma once

// Storage of the promotion service behind a small interface; SQLite in
// production (the service is the only writer of its database).

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "care/promotion/v1/promotion.pb.h"
#include "common/outbox.h"
#include "common/sqlite.h"
#include "common/store.h"

namespace care {
// The promotion schema, generated from services/promotion/migrations/.
std::vector<Migration> PromotionMigrations();
}  // namespace care

namespace care::promotion {

// What a campaign mutation produced: the new version and the events to
// deliver with it (same transaction).
struct CampaignChange {
  care::promotion::v1::Campaign campaign;
  care::promotion::v1::CampaignChange change = care::promotion::v1::CAMPAIGN_CHANGE_UNSPECIFIED;
  // Field paths the change set (UPDATED: the update mask; RESCHEDULED: the
  // dates that moved); kept with the version.
  std::vector<std::string> changed_fields;
  std::vector<OutboxEvent> events;
};

// What live redemptions hold of a campaign.
struct CampaignUsage {
  int64_t redemptions = 0;
  int64_t discount = 0;  // minor units
  int64_t cancelled = 0;
  int64_t returned = 0;
  int64_t customers = 0;
  // Live redemptions and net discount by tier ('' = guests) and by version
  // quoted; filled by GetUsage only (the report), not by the hot-path Usage.
  struct Part {
    std::string tier_id;
    int64_t version = 0;
    int64_t redemptions = 0;
    int64_t discount = 0;
  };
  std::vector<Part> by_tier, by_version;
  // The campaign's vouchers and the uses live redemptions hold of them;
  // GetUsage only.
  int64_t vouchers_generated = 0;
  int64_t voucher_uses = 0;
};

// Whose usage a redemption changes: the campaign, the customer key ("" = an
// anonymous guest), the customer's tier at quote time ("" = guest) and the
// campaign version quoted.
struct UsageOf {
  std::string campaign_id;
  std::string customer;
  std::string tier_id;
  int64_t version = 0;
};

// The view a redemption works on, inside one write transaction (the single
// writer serializes them, so checks and consumption are atomic).
class RedemptionTxn : public ServiceTxn {
 public:
  // The stored redemption of `order_id` and its token digest, if any.
  virtual absl::StatusOr<std::optional<std::pair<care::promotion::v1::Redemption, std::string>>> Find(
      const std::string& order_id) = 0;
  // The order a quote token (by digest) was redeemed for, if any.
  virtual absl::StatusOr<std::optional<std::string>> OrderOfToken(const std::string& token_digest) = 0;
  virtual absl::StatusOr<std::optional<care::promotion::v1::Campaign>> Campaign(const std::string& id) = 0;
  virtual absl::StatusOr<CampaignUsage> Usage(const std::string& campaign_id) = 0;
  virtual absl::StatusOr<int64_t> CustomerCount(const std::string& campaign_id, const std::string& customer) = 0;
  // Adds (or, negative, releases) redemptions and discount; counts
  // cancelled and fully returned orders.
  virtual absl::Status AddUsage(const UsageOf& of, int64_t redemptions, int64_t discount, int64_t cancelled,
                                int64_t returned = 0) = 0;
  virtual absl::Status Save(const care::promotion::v1::Redemption& redemption, const std::string& token_digest) = 0;

  // Vouchers by code. InsertVoucher returns false (and writes nothing) when
  // the code is taken.
  virtual absl::StatusOr<std::optional<care::promotion::v1::Voucher>> GetVoucher(const std::string& code) = 0;
  virtual absl::StatusOr<bool> InsertVoucher(const care::promotion::v1::Voucher& voucher) = 0;
  virtual absl::Status UpdateVoucher(const care::promotion::v1::Voucher& voucher) = 0;
  // Newest first (by insertion), before `before_seq` (0 = from the newest).
  virtual absl::StatusOr<std::vector<std::pair<int64_t, care::promotion::v1::Campaign>>> CampaignsBefore(
      int64_t before_seq, int limit) = 0;
  virtual absl::StatusOr<std::vector<std::pair<int64_t, care::promotion::v1::Redemption>>> RedemptionsBefore(
      int64_t before_seq, int limit) = 0;
  // A campaign's versions after `after_version`, oldest first: version,
  // change, changed_fields and the campaign as it was.
  virtual absl::StatusOr<std::vector<care::promotion::v1::CampaignVersion>> Versions(const std::string& campaign_id,
                                                                                   int64_t after_version,
                                                                                   int limit) = 0;
  // Newest first, matching the campaign, batch, member and kind of `filter`
  // (empty = any), before `before_seq` (0 = from the newest); with each
  // voucher's sequence for the next page.
  virtual absl::StatusOr<std::vector<std::pair<int64_t, care::promotion::v1::Voucher>>> ListVouchers(
      const care::promotion::v1::ListVouchersRequest& filter, int64_t before_seq, int limit) = 0;
};

// Write/Read run the redemption view (TransactionalStore), so shared helpers
// such as WriteOnce work on it.
class PromotionStore : public TransactionalStore<RedemptionTxn> {
 public:
  using Mutation = std::function<absl::StatusOr<CampaignChange>(const care::promotion::v1::Campaign* current)>;
  virtual ~PromotionStore() = default;

  // In one write transaction: replays `request_id` (scope `method`), loads
  // the campaign (null when absent), runs `fn`, stores the new version and
  // its events, remembers the answer. `replayed` tells whether it was a retry.
  virtual absl::StatusOr<care::promotion::v1::Campaign> MutateCampaign(
      const std::string& method, const std::string& request_id, const google::protobuf::Message& request,
      const std::string& campaign_id, const Mutation& fn, bool* replayed) = 0;
  // Version 0 = current. NOT_FOUND reasons as in the contract.
  virtual absl::StatusOr<care::promotion::v1::Campaign> GetCampaign(const std::string& campaign_id,
                                                                     int64_t version) = 0;
  // Every campaign in ANNOUNCED or ACTIVE: the quote index is built from them.
  virtual absl::StatusOr<std::vector<care::promotion::v1::Campaign>> LiveCampaigns() = 0;
  // Runs `fn` in one write transaction; its error rolls everything back.
  virtual absl::Status InRedemptionTxn(const std::function<absl::Status(RedemptionTxn&)>& fn) = 0;
  // The same view on a read-only snapshot.
  virtual absl::Status InReadTxn(const std::function<absl::Status(RedemptionTxn&)>& fn) = 0;
  virtual absl::StatusOr<CampaignUsage> GetUsage(const std::string& campaign_id) = 0;
};

std::unique_ptr<PromotionStore> NewSqlitePromotionStore(Database& db);

}  // namespace care::promotion
