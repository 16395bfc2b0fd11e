#pragma once

// Promotion's storage behind an interface in the domain's terms. A StoreTxn
// is one transaction: campaigns and their versions, redemptions with the
// usage they hold, and vouchers. Writes are serializable (SQLite's one
// writer, PostgreSQL's SERIALIZABLE), or, for the transactions that change
// usage, serialized per campaign by LockUsage, so a redemption's checks and
// its consumption are atomic. Methods return rows,
// std::optional for what may be absent, and storage errors only (no API
// reasons: the domain chooses those). The SQLite implementation is
// sql_promotion_store.h.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "care/common/v1/privacy.pb.h"
#include "care/promotion/v1/promotion.pb.h"
#include "common/store.h"

namespace care::promotion {

// A new version of a campaign as stored: the campaign, how it changed, and
// the field paths the change set (UPDATED: the update mask; RESCHEDULED: the
// dates that moved).
struct CampaignChange {
  care::promotion::v1::Campaign campaign;
  care::promotion::v1::CampaignChange change = care::promotion::v1::CAMPAIGN_CHANGE_UNSPECIFIED;
  std::vector<std::string> changed_fields;
};

// What live redemptions hold of a campaign.
struct CampaignUsage {
  int64_t redemptions = 0;
  int64_t discount = 0;  // minor units
  int64_t points = 0;    // bonus points (limits.points_budget)
  int64_t cancelled = 0;
  int64_t returned = 0;
  int64_t customers = 0;
  // Live redemptions and net discount by tier ('' = guests) and by version
  // quoted; filled by UsageReport only, not by the hot-path Usage.
  struct Part {
    std::string tier_id;
    int64_t version = 0;
    int64_t redemptions = 0;
    int64_t discount = 0;
  };
  std::vector<Part> by_tier, by_version;
  // The campaign's vouchers and the uses live redemptions hold of them;
  // UsageReport only.
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

// A stored redemption and the digest of the quote token it redeemed.
struct StoredRedemption {
  care::promotion::v1::Redemption redemption;
  std::string token_digest;
};

// The stored columns vouchers are listed by; empty (0) = any.
struct VoucherFilter {
  std::string campaign_id;
  std::string batch_id;
  std::string member_id;
  care::promotion::v1::VoucherKind kind = care::promotion::v1::VOUCHER_KIND_UNSPECIFIED;
};

// A row of a newest-first list and its sequence (the next page reads before it).
template <typename T>
using SeqRows = std::vector<std::pair<int64_t, T>>;

class StoreTxn : public ServiceTxn {
 public:
  // Queues this write transaction behind every other one that changes the
  // usage of these campaigns (redemptions, returns, cancellations), so those
  // of one hot campaign wait their turn instead of failing at commit. Must
  // be the transaction's first call. From then on every read sees the latest
  // committed rows, and what it reads and then writes is serialized: usage
  // and customer counts by these locks, redemptions and vouchers read for
  // update until the commit, a new redemption inserted under its unique keys
  // (InsertRedemption). On PostgreSQL the transaction runs at READ COMMITTED
  // with row locks taken in campaign id order; SQLite's single writer
  // already serializes everything.
  virtual absl::Status LockUsage(std::vector<std::string> campaign_ids) = 0;

  // A campaign's current version, and one of its versions.
  virtual absl::StatusOr<std::optional<care::promotion::v1::Campaign>> Campaign(const std::string& campaign_id) = 0;
  virtual absl::StatusOr<std::optional<care::promotion::v1::Campaign>> CampaignVersion(const std::string& campaign_id,
                                                                                       int64_t version) = 0;
  // Stores the new current version and keeps it in the campaign's versions,
  // stamped with the next value of the campaign change sequence.
  virtual absl::Status SaveCampaign(const CampaignChange& change) = 0;
  // The campaign change sequence (one single-row read), and the campaigns
  // (current versions, live or not) stamped after `after_seq`, in order.
  virtual absl::StatusOr<int64_t> ChangeSeq() = 0;
  virtual absl::StatusOr<std::vector<care::promotion::v1::Campaign>> ChangedAfter(int64_t after_seq) = 0;
  // Every campaign in ANNOUNCED or ACTIVE (stored state): the quote index.
  virtual absl::StatusOr<std::vector<care::promotion::v1::Campaign>> LiveCampaigns() = 0;
  // Newest first (by creation), before `before_seq` (0 = from the newest).
  virtual absl::StatusOr<SeqRows<care::promotion::v1::Campaign>> CampaignsBefore(int64_t before_seq, int limit) = 0;
  // A campaign's versions after `after_version`, oldest first: version,
  // change, changed_fields and the campaign as it was.
  virtual absl::StatusOr<std::vector<care::promotion::v1::CampaignVersion>> Versions(const std::string& campaign_id,
                                                                                     int64_t after_version,
                                                                                     int limit) = 0;

  // Redemptions, by order id, and the order a quote token (by digest) was
  // redeemed for.
  virtual absl::StatusOr<std::optional<StoredRedemption>> Redemption(const std::string& order_id) = 0;
  virtual absl::StatusOr<std::optional<std::string>> OrderOfToken(const std::string& token_digest) = 0;
  // Inserts a new redemption; false (and nothing written) when its order or
  // token digest was redeemed by a transaction that committed meanwhile.
  virtual absl::StatusOr<bool> InsertRedemption(const care::promotion::v1::Redemption& redemption,
                                                const std::string& token_digest) = 0;
  // Inserts or replaces the redemption of its order.
  virtual absl::Status SaveRedemption(const care::promotion::v1::Redemption& redemption,
                                      const std::string& token_digest) = 0;
  // Newest first (by creation), before `before_seq` (0 = from the newest).
  virtual absl::StatusOr<SeqRows<care::promotion::v1::Redemption>> RedemptionsBefore(int64_t before_seq, int limit) = 0;

  // Usage: the totals live redemptions hold (no breakdowns), one customer's
  // live redemptions, and the report's full picture with breakdowns (largest
  // discount first) and voucher uses.
  virtual absl::StatusOr<CampaignUsage> Usage(const std::string& campaign_id) = 0;
  virtual absl::StatusOr<int64_t> CustomerCount(const std::string& campaign_id, const std::string& customer) = 0;
  virtual absl::StatusOr<CampaignUsage> UsageReport(const std::string& campaign_id) = 0;
  // Adds (or, negative, releases) redemptions and discount; counts
  // cancelled and fully returned orders.
  virtual absl::Status AddUsage(const UsageOf& of, int64_t redemptions, int64_t discount, int64_t cancelled,
                                int64_t returned) = 0;

  // Adds (or, negative, releases) bonus points held of the campaign's
  // points budget, under the same locks as AddUsage.
  virtual absl::Status AddPoints(const std::string& campaign_id, int64_t points) = 0;

  // Vouchers by code. InsertVoucher returns false (and writes nothing) when
  // the code is taken.
  virtual absl::StatusOr<std::optional<care::promotion::v1::Voucher>> Voucher(const std::string& code) = 0;
  virtual absl::StatusOr<bool> InsertVoucher(const care::promotion::v1::Voucher& voucher) = 0;
  virtual absl::Status UpdateVoucher(const care::promotion::v1::Voucher& voucher) = 0;
  // Newest first, matching `filter`, before `before_seq` (0 = from the
  // newest); with each voucher's sequence for the next page.
  virtual absl::StatusOr<SeqRows<care::promotion::v1::Voucher>> VouchersBefore(const VoucherFilter& filter,
                                                                               int64_t before_seq, int limit) = 0;

  // Personal data (docs/privacy.md). A member's redemptions, newest first,
  // before `before_seq` (0 = from the newest): those filed under the member
  // id, and those written before redemptions were filed by member, which the
  // caller filters by Redemption.customer.
  virtual absl::StatusOr<SeqRows<care::promotion::v1::Redemption>> MemberRedemptionsBefore(const std::string& member_id,
                                                                                           int64_t before_seq,
                                                                                           int limit) = 0;
  // Rewrites a stored redemption's body (and the member it is filed under)
  // without touching its usage: an erasure re-keying it.
  virtual absl::Status RewriteRedemption(const care::promotion::v1::Redemption& redemption) = 0;
  // Moves a customer's per-campaign counts to another customer key; the
  // rows moved.
  virtual absl::StatusOr<int64_t> RekeyCustomer(const std::string& from, const std::string& to) = 0;
  // Deletes the stored answers filed under `subject` (Once::subject); how
  // many.
  virtual absl::StatusOr<int64_t> ForgetAnswers(const std::string& subject) = 0;
  // Whether any of these subject keys (common/privacy.h) was erased here.
  virtual absl::StatusOr<bool> Erased(const std::vector<std::string>& keys) = 0;
  // In an erasure: the idempotency answers and outbox events tagged with
  // `keys` are deleted and a tombstone of each key is left (counted in
  // `receipt`).
  virtual absl::Status EraseCommon(const std::vector<std::string>& keys, absl::Time now,
                                   care::common::v1::ErasureReceipt& receipt) = 0;
};

// Write runs a StoreTxn on the single writer (a non-OK status leaves
// nothing behind); Read runs one on a consistent snapshot.
using PromotionStore = TransactionalStore<StoreTxn>;

}  // namespace care::promotion
