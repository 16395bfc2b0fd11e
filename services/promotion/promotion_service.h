#pragma once

// Domain logic of the promotion service: campaign lifecycle with notice
// periods and alert events, quotes through the pricing engine over the
// in-memory campaign index, and redemptions that consume limits exactly.
// No gRPC and no SQL: storage is PromotionStore, tiers come through
// ShopperLookup, time from the injectable clock. Every mutation runs in one
// store transaction opened here; campaign and voucher edits are idempotent
// by their request id (WriteOnce), redemptions by their natural keys
// (order id, token digest, return id) kept with the redemption.

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "care/common/v1/privacy.pb.h"
#include "care/promotion/v1/promotion.pb.h"
#include "common/clock.h"
#include "common/erasure_scrub.h"
#include "common/pagination.h"
#include "common/store.h"
#include "google/protobuf/field_mask.pb.h"
#include "services/promotion/campaign_index.h"
#include "services/promotion/model.h"
#include "services/promotion/pricing.h"
#include "services/promotion/promotion_store.h"
#include "services/promotion/quote_token.h"

namespace care::promotion {

// Codes are compared upper-case, surrounding spaces trimmed.
std::string NormalizeVoucherCode(const std::string& code);
// Whose limits a redemption counts against: "m:<member>" or "g:<guest key>".
std::string CustomerKey(const care::promotion::v1::QuoteCustomer& c);
// What a GenerateVouchers answer naming several members is filed under
// (Once::subject): an erasure of any of them deletes it.
std::string BatchSubject(const std::string& batch_id);

struct PromotionOptions {
  absl::Duration notice = absl::Hours(72);
  absl::Duration quote_ttl = absl::Minutes(15);
  // Quote token keys (care::ParseKeyFile); the first signs. Never empty.
  std::vector<QuoteKey> token_keys;
  // How often quotes look for campaigns changed through other replicas (the
  // campaign change sequence): a change reaches every replica's quotes
  // within this plus one read of the changes (the contract says 1 second).
  absl::Duration index_refresh = absl::Milliseconds(250);
  // After an erasure commits: leaves no copy of the deleted rows in the
  // database's files (Database::Scrub, retried by its job until it
  // succeeds); null = nothing to do.
  ErasureScrub* scrub = nullptr;
};

// ErasePersonalData: who is erased here and the pseudonym their money
// records keep.
struct Erasure {
  std::string erasure_id;
  std::string member_id;          // "" = the subject has no member id
  std::vector<std::string> keys;  // every subject key (common/privacy.h)
  std::string pseudonym;
};

// Where a personal data export stands: redemptions first, then vouchers,
// each newest first before `before` (0 = from the newest).
struct ExportCursor {
  bool vouchers = false;
  int64_t before = 0;
  bool done = false;
};

// RescheduleCampaign: the dates that move (at least one).
struct Schedule {
  std::string campaign_id;
  int64_t expected_version = 0;  // 0 = any
  std::optional<absl::Time> starts_at, ends_at;
  bool allow_short_notice = false;
};

// A cart to price.
struct Cart {
  std::string member_id;  // "" = a guest
  std::string guest_key;  // a guest's key for per-customer limits ("" = anonymous)
  std::string currency_code;
  std::vector<Line> lines;
  int64_t shipping = 0;      // minor units
  bool full_view = false;    // every Adjustment (QUOTE_VIEW_FULL)
  bool explain_all = false;  // every live campaign, each rejected one with its reason
  std::vector<std::string> voucher_codes;
  std::string language_code;  // the reader's locale for campaign names ("" = display_name)
};

// ReturnRedemption: units of some lines, or (none listed) everything not yet
// returned.
struct OrderReturn {
  std::string order_id;
  std::string return_id;
  struct Units {
    std::string line_id;
    int32_t quantity = 0;
  };
  std::vector<Units> lines;
  std::string reason;
};

// GenerateVouchers: one voucher per member, or `count` unassigned ones.
struct VoucherBatch {
  std::string campaign_id;
  int32_t count = 0;
  std::vector<std::string> member_ids;
  std::string prefix;
  std::string charset;                    // "" = the default unambiguous set
  int32_t length = 0;                     // 0 = 12
  int32_t max_uses = 0;                   // 0 = 1
  std::optional<absl::Time> expire_time;  // capped at the campaign's end
};

// IssueVoucher: a single-use goodwill voucher for a member.
struct GoodwillGrant {
  std::string member_id;
  care::promotion::v1::DiscountValue value;  // amount_off or percent_off_bps
  std::optional<absl::Duration> validity;    // default 30 days
  std::string reason_code;
  std::string complaint_id;
  std::string note;
  std::string issued_by;  // the caller's word; "" = the principal
  // Set: a CAMPAIGN voucher of this campaign instead (loyalty's rewards
  // catalogue); `value` is then unused.
  std::string campaign_id;
};

// List filters; empty = any.
struct CampaignFilter {
  std::vector<care::promotion::v1::CampaignState> states;
  std::string tier_id;
  std::optional<bool> voucher_required;
  std::optional<absl::Time> active_at;
};
struct RedemptionFilter {
  std::string member_id;
  std::vector<care::promotion::v1::RedemptionState> states;
  std::string voucher_code;
  std::string campaign_id;
  std::optional<absl::Time> created_from, created_to;  // [from, to)
};
struct VoucherQuery {
  VoucherFilter stored;  // the columns the store matches
  std::string complaint_id;
  std::vector<care::promotion::v1::VoucherState> states;
};

class PromotionService final {
 public:
  // Resolves a member to a Shopper (tier from the tier cache, falling back
  // to loyalty). Errors are returned to the caller as is.
  using ShopperLookup = std::function<absl::StatusOr<Shopper>(const std::string& member_id)>;

  // What audiences look at beyond the tier: whether a member opted in to
  // special offers, and their segment. Asked only when a candidate campaign
  // is opted_in_only or targets segments.
  struct Profile {
    bool opted_in = false;
    std::string segment;
  };
  using ProfileLookup = std::function<absl::StatusOr<Profile>(const std::string& member_id)>;

  PromotionService(PromotionStore& store, const Clock& clock, ShopperLookup shoppers, ProfileLookup profiles,
                   PromotionOptions options);

  // Loads the live campaigns into the quote index; call once at start.
  absl::Status Init();
  // Records a bulk read of personal data (an export) in the audit log as it starts.
  absl::Status AuditRead(const AuditRecord& record) { return care::AuditRead(store_, record); }
  // Applies the campaigns changed (through any replica) since the index was
  // last brought up to date: one single-row read when nothing changed.
  absl::Status RefreshIndex();

  using v1Campaign = care::promotion::v1::Campaign;
  // Campaigns; `by` is the caller's principal. An empty `campaign_id` is
  // generated.
  absl::StatusOr<v1Campaign> Create(const Once& once, const std::string& campaign_id, const v1Campaign& campaign,
                                    const std::string& by);
  absl::StatusOr<v1Campaign> Get(const std::string& campaign_id, int64_t version);
  absl::StatusOr<v1Campaign> Announce(const Once& once, const std::string& campaign_id, int64_t expected_version,
                                      bool allow_short_notice, const std::string& by);
  absl::StatusOr<v1Campaign> Reschedule(const Once& once, const Schedule& schedule, const std::string& by);
  // Merges the fields of `campaign` named in `mask` into a new version;
  // campaign.version (0 = any) is the expected one.
  absl::StatusOr<v1Campaign> Update(const Once& once, const v1Campaign& campaign,
                                    const google::protobuf::FieldMask& mask, const std::string& by);
  absl::StatusOr<v1Campaign> Cancel(const Once& once, const std::string& campaign_id, int64_t expected_version,
                                    const std::string& reason, const std::string& by);
  absl::StatusOr<care::promotion::v1::CampaignReport> Report(const std::string& campaign_id);

  // Fills `out` in place (it may live on the call's arena). `interrupted`
  // (optional) is asked while pricing whether the caller still waits
  // (PricingInput::interrupted); its non-OK status is returned.
  absl::Status Quote(Cart cart, care::promotion::v1::QuoteResponse* out,
                     std::function<absl::Status()> interrupted = {});
  // Redemptions, idempotent by order id (returns.cc: cancel and return).
  absl::StatusOr<care::promotion::v1::Redemption> Redeem(const std::string& order_id, const std::string& quote_token);
  absl::StatusOr<care::promotion::v1::Redemption> CancelRedemption(const std::string& order_id,
                                                                   const std::string& reason);
  absl::StatusOr<care::promotion::v1::Redemption> GetRedemption(const std::string& order_id);
  // Idempotent by return_id.
  absl::StatusOr<care::promotion::v1::ReturnRedemptionResponse> Return(const OrderReturn& order_return);

  // Vouchers (vouchers.cc).
  absl::StatusOr<care::promotion::v1::GenerateVouchersResponse> GenerateVouchers(const Once& once,
                                                                                 const VoucherBatch& batch,
                                                                                 const std::string& by);
  absl::StatusOr<care::promotion::v1::Voucher> IssueVoucher(const Once& once, const GoodwillGrant& grant,
                                                            const std::string& by);
  absl::StatusOr<care::promotion::v1::Voucher> GetVoucher(const std::string& code);
  // Whether `member_id` ("" = a guest) could use the code now; the
  // campaign named in `language_code` ("" = display_name).
  absl::StatusOr<care::promotion::v1::ValidateVoucherResponse> ValidateVoucher(const std::string& code,
                                                                               const std::string& member_id,
                                                                               const std::string& language_code = "");
  absl::StatusOr<care::promotion::v1::Voucher> RevokeVoucher(const Once& once, const std::string& code,
                                                             const std::string& reason);
  // A page of a list, newest first, and the sequence to continue before
  // (0 = the last page).
  template <typename T>
  using Page = std::pair<std::vector<T>, int64_t>;
  absl::StatusOr<Page<care::promotion::v1::Voucher>> ListVouchers(const VoucherQuery& query, int64_t before_seq,
                                                                  int page_size);
  // Lists (queries.cc).
  absl::StatusOr<Page<v1Campaign>> ListCampaigns(const CampaignFilter& filter, int64_t before_seq, int page_size);
  absl::StatusOr<Page<care::promotion::v1::Redemption>> ListRedemptions(const RedemptionFilter& filter,
                                                                        int64_t before_seq, int page_size);
  // Personal data (privacy.cc). Promotion keeps a person's data under their
  // member id only (a guest is an opaque guest_key). The next items of a
  // member's export (at most about `limit`), advancing `cursor`.
  absl::StatusOr<std::vector<care::promotion::v1::PromotionPersonalData>> ExportBatch(const std::string& member_id,
                                                                                      ExportCursor& cursor, int limit);
  // Erases a person in one write transaction, idempotent by `once` (the
  // erasure id): redemptions and vouchers re-keyed to the pseudonym with
  // their amounts, the free text on them blanked, the member's live vouchers
  // revoked, stored answers and events about them deleted, tombstones left.
  absl::StatusOr<care::common::v1::ErasureReceipt> ErasePersonalData(const Once& once, const Erasure& erasure);
  // Versions after `after_version`, oldest first.
  absl::StatusOr<std::vector<care::promotion::v1::CampaignVersion>> ListVersions(const std::string& campaign_id,
                                                                                 int64_t after_version, int limit);

 private:
  // A campaign edit decided on the stored version: the new version to
  // store, and which alert (if any) tells notification about it.
  enum class Alert { kNone, kSend, kCancel };
  struct Edit {
    CampaignChange change;
    Alert alert = Alert::kNone;
    absl::Duration notice;
  };
  using EditFn = std::function<absl::StatusOr<Edit>(const v1Campaign* stored)>;
  // In one idempotent write: loads the campaign (null when absent), runs
  // `fn`, stores the new version and enqueues its alert (occurred at `now`).
  // The index sees only a committed new version (never a replayed answer).
  absl::StatusOr<v1Campaign> EditCampaign(const Once& once, const std::string& campaign_id, absl::Time now,
                                          const EditFn& fn);

  // What the limits of the limited candidates in `in` leave for this
  // customer (one read transaction; none when no candidate has limits).
  absl::Status ReadLimits(const std::string& guest_key, PricingInput& in);
  // The shopper and, when a candidate needs it, their profile.
  absl::Status ResolveShopper(const std::string& member_id, PricingInput& in);
  absl::Status ResolveProfile(PricingInput& in);
  // After pricing: campaign vouchers whose campaign did not apply are
  // refused; the customer, times and the signed token are set.
  void FinishQuote(const Cart& cart, const PricingInput& in, care::promotion::v1::QuoteResponse& out);
  // FilteredPage (common/pagination.h) over a read transaction.
  template <typename T, typename Fetch, typename Keep>
  absl::StatusOr<Page<T>> ReadPage(int64_t before_seq, int page_size, Fetch fetch, Keep keep) {
    absl::StatusOr<Page<T>> out = absl::InternalError("not read");
    absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
      out = FilteredPage<T>(
          before_seq, page_size, [&](int64_t before, int limit) { return fetch(tx, before, limit); }, keep);
      return out.status();
    });
    if (!s.ok()) return s;
    return out;
  }

  // Redemption steps (in the redemption's write transaction): the checks
  // and usage of each quoted campaign, and the redemption as stored.
  absl::Status ConsumeCampaigns(StoreTxn& tx, care::promotion::v1::QuoteResponse& quote);
  // The campaigns a stored redemption holds usage of (REDEMPTION_NOT_FOUND
  // when there is none): what its return or cancellation locks first.
  absl::StatusOr<std::vector<std::string>> CampaignsOfOrder(const std::string& order_id);
  // IssueVoucher of a campaign voucher (GoodwillGrant::campaign_id) into `v`.
  absl::Status IssueCampaignVoucher(StoreTxn& tx, const GoodwillGrant& grant, absl::Time now, const std::string& by,
                                    care::promotion::v1::Voucher& v);
  // Why a voucher cannot be used by `member_id` now (UNSPECIFIED = it can).
  care::promotion::v1::RejectionReason VoucherProblem(const care::promotion::v1::Voucher& v,
                                                      const std::string& member_id, absl::Time now) const;
  // The quote's codes: campaign vouchers unlock their campaign, goodwill
  // vouchers join phase P8; one result per code.
  absl::Status ResolveVouchers(const std::vector<std::string>& codes, PricingInput& in,
                               google::protobuf::RepeatedPtrField<care::promotion::v1::VoucherResult>* results);
  // Inside the redemption transaction: one use of each accepted voucher.
  absl::Status ConsumeVouchers(StoreTxn& tx, const care::promotion::v1::QuoteResponse& quote, absl::Time now,
                               care::promotion::v1::Redemption& out);
  absl::Status ReleaseVouchers(StoreTxn& tx, const care::promotion::v1::Redemption& redemption, absl::Time now);
  // FAILED_PRECONDITION / SUBJECT_ERASED when `member_id` was erased here
  // (in `tx`: a write checks it atomically with what it creates).
  static absl::Status RefuseErased(StoreTxn& tx, const std::string& member_id);
  // Erasure steps, in its write transaction.
  absl::Status EraseRedemptions(StoreTxn& tx, const Erasure& e, care::common::v1::ErasureReceipt& receipt);
  absl::StatusOr<std::vector<std::string>> EraseVouchers(StoreTxn& tx, const Erasure& e, absl::Time now,
                                                         care::common::v1::ErasureReceipt& receipt);
  // Whether the member exists (loyalty's NOT_FOUND is final; an outage is
  // UNAVAILABLE so that complaint's outbox retries).
  absl::Status CheckMember(const std::string& member_id);

  // On the quote path: RefreshIndex when the index is options_.index_refresh
  // old, by one quote at a time (the others go on with the index as it is).
  void FreshenIndex();
  absl::Status RefreshIndexLocked();  // holding refresh_mu_

  // The state a reader sees: ANNOUNCED turns ACTIVE at starts_at and ENDED at
  // ends_at on the clock, without a write (no version change).
  v1Campaign WithClockState(v1Campaign c) const;

  PromotionStore& store_;
  const Clock& clock_;
  ShopperLookup shoppers_;
  ProfileLookup profiles_;
  PromotionOptions options_;
  QuoteSigner signer_;
  CampaignIndex index_;
  // The change sequence the index reflects (refresh_mu_), and when the read
  // that brought it there started (steady clock, nanoseconds).
  std::mutex refresh_mu_;
  int64_t index_seq_ = 0;
  std::atomic<int64_t> index_read_at_{0};
  std::atomic<int64_t> refresh_failed_at_{0};  // when the last failed attempt ended
};

}  // namespace care::promotion
