#pragma once

// Domain logic of the promotion service: campaign lifecycle with notice
// periods and alert events, quotes through the pricing engine over the
// in-memory campaign index, and redemptions that consume limits exactly.
// No gRPC and no SQL: storage is PromotionStore, tiers come through
// ShopperLookup, time from the injectable clock.

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "care/promotion/v1/promotion.pb.h"
#include "common/clock.h"
#include "common/pagination.h"
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

struct PromotionOptions {
  absl::Duration notice = absl::Hours(72);
  absl::Duration quote_ttl = absl::Minutes(15);
  // Quote token keys (care::ParseKeyFile); the first signs. Never empty.
  std::vector<QuoteKey> token_keys;
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

  using v1Campaign = care::promotion::v1::Campaign;
  absl::StatusOr<v1Campaign> Create(const care::promotion::v1::CreateCampaignRequest& req, const std::string& by);
  absl::StatusOr<v1Campaign> Get(const std::string& campaign_id, int64_t version);
  absl::StatusOr<v1Campaign> Announce(const care::promotion::v1::AnnounceCampaignRequest& req, const std::string& by);
  absl::StatusOr<v1Campaign> Reschedule(const care::promotion::v1::RescheduleCampaignRequest& req,
                                        const std::string& by);
  absl::StatusOr<v1Campaign> Update(const care::promotion::v1::UpdateCampaignRequest& req, const std::string& by);
  absl::StatusOr<v1Campaign> Cancel(const care::promotion::v1::CancelCampaignRequest& req, const std::string& by);
  absl::StatusOr<care::promotion::v1::CampaignReport> Report(const std::string& campaign_id);

  // Fills `out` in place (it may live on the call's arena). `interrupted`
  // (optional) is asked while pricing whether the caller still waits
  // (PricingInput::interrupted); its non-OK status is returned.
  absl::Status Quote(const care::promotion::v1::QuoteRequest& req, care::promotion::v1::QuoteResponse* out,
                     std::function<absl::Status()> interrupted = {});
  absl::StatusOr<care::promotion::v1::Redemption> Redeem(const care::promotion::v1::RedeemQuoteRequest& req);
  absl::StatusOr<care::promotion::v1::Redemption> CancelRedemption(
      const care::promotion::v1::CancelRedemptionRequest& req);
  absl::StatusOr<care::promotion::v1::Redemption> GetRedemption(const std::string& order_id);
  // Idempotent by return_id (returns.cc).
  absl::StatusOr<care::promotion::v1::ReturnRedemptionResponse> Return(
      const care::promotion::v1::ReturnRedemptionRequest& req);

  // Vouchers (vouchers.cc).
  absl::StatusOr<care::promotion::v1::GenerateVouchersResponse> GenerateVouchers(
      const care::promotion::v1::GenerateVouchersRequest& req, const std::string& by);
  absl::StatusOr<care::promotion::v1::Voucher> IssueVoucher(const care::promotion::v1::IssueVoucherRequest& req,
                                                            const std::string& by);
  absl::StatusOr<care::promotion::v1::Voucher> GetVoucher(const std::string& code);
  absl::StatusOr<care::promotion::v1::ValidateVoucherResponse> ValidateVoucher(
      const care::promotion::v1::ValidateVoucherRequest& req);
  absl::StatusOr<care::promotion::v1::Voucher> RevokeVoucher(const care::promotion::v1::RevokeVoucherRequest& req);
  // A page of a list, newest first, and the sequence to continue before
  // (0 = the last page).
  template <typename T>
  using Page = std::pair<std::vector<T>, int64_t>;
  absl::StatusOr<Page<care::promotion::v1::Voucher>> ListVouchers(
      const care::promotion::v1::ListVouchersRequest& filter, int64_t before_seq, int page_size);
  // Lists (queries.cc).
  absl::StatusOr<Page<v1Campaign>> ListCampaigns(const care::promotion::v1::ListCampaignsRequest& filter,
                                                 int64_t before_seq, int page_size);
  absl::StatusOr<Page<care::promotion::v1::Redemption>> ListRedemptions(
      const care::promotion::v1::ListRedemptionsRequest& filter, int64_t before_seq, int page_size);
  // Versions after `after_version`, oldest first.
  absl::StatusOr<std::vector<care::promotion::v1::CampaignVersion>> ListVersions(const std::string& campaign_id,
                                                                                int64_t after_version, int limit);

  size_t indexed_campaigns() const { return index_.size(); }

 private:
  // What the limits of the limited candidates in `in` leave for this
  // customer (one read transaction; none when no candidate has limits).
  absl::Status ReadLimits(const care::promotion::v1::Customer& customer, PricingInput& in);
  // FilteredPage (common/pagination.h) over a read transaction.
  template <typename T, typename Fetch, typename Keep>
  absl::StatusOr<Page<T>> ReadPage(int64_t before_seq, int page_size, Fetch fetch, Keep keep) {
    absl::StatusOr<Page<T>> out = absl::InternalError("not read");
    absl::Status s = store_.Read([&](RedemptionTxn& tx) -> absl::Status {
      out = FilteredPage<T>(before_seq, page_size, [&](int64_t before, int limit) { return fetch(tx, before, limit); },
                            keep);
      return out.status();
    });
    if (!s.ok()) return s;
    return out;
  }

  // Why a voucher cannot be used by `member_id` now (UNSPECIFIED = it can).
  care::promotion::v1::RejectionReason VoucherProblem(const care::promotion::v1::Voucher& v,
                                                      const std::string& member_id, absl::Time now) const;
  // The quote's codes: campaign vouchers unlock their campaign, goodwill
  // vouchers join phase P8; one result per code.
  absl::Status ResolveVouchers(const care::promotion::v1::QuoteRequest& req, PricingInput& in,
                               google::protobuf::RepeatedPtrField<care::promotion::v1::VoucherResult>* results);
  // Inside the redemption transaction: one use of each accepted voucher.
  absl::Status ConsumeVouchers(RedemptionTxn& tx, const care::promotion::v1::QuoteResponse& quote, absl::Time now,
                               care::promotion::v1::Redemption& out);
  absl::Status ReleaseVouchers(RedemptionTxn& tx, const care::promotion::v1::Redemption& redemption, absl::Time now);

  // The state a reader sees: ANNOUNCED turns ACTIVE at starts_at and ENDED at
  // ends_at on the clock, without a write (no version change).
  v1Campaign WithClockState(v1Campaign c) const;
  absl::StatusOr<v1Campaign> Mutate(const std::string& method, const std::string& request_id,
                                    const google::protobuf::Message& request, const std::string& campaign_id,
                                    const PromotionStore::Mutation& fn);

  PromotionStore& store_;
  const Clock& clock_;
  ShopperLookup shoppers_;
  ProfileLookup profiles_;
  PromotionOptions options_;
  QuoteSigner signer_;
  CampaignIndex index_;
};

}  // namespace care::promotion
