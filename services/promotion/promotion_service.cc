// Quotes (the pricing engine over the campaign index, limits as of now,
// vouchers, a signed token) and redemptions (checked and consumed exactly in
// one write transaction). Campaign edits are campaigns.cc, vouchers
// vouchers.cc, returns and cancellation returns.cc.
#include "services/promotion/promotion_service.h"

#include <openssl/sha.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/localized.h"
#include "common/log.h"
#include "common/proto_time.h"
#include "services/promotion/alert_events.h"
#include "services/promotion/pricing.h"
#include "services/promotion/rejections.h"

namespace care::promotion {
namespace {

namespace v1 = ::care::promotion::v1;

std::string Digest(const std::string& token) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), md);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(md), sizeof(md)));
}

absl::Status Refuse(absl::string_view reason, const std::string& message, const ErrorMetadata& md) {
  return Error(absl::StatusCode::kFailedPrecondition, reason, message, md);
}

bool HasLimits(const v1::Campaign& c) {
  const v1::Limits& l = c.limits();
  return l.max_redemptions() > 0 || l.max_discount_total().amount_minor() > 0 || l.max_redemptions_per_customer() > 0 ||
         l.points_budget() > 0;
}

// A campaign of a quote being redeemed: still the version quoted, not
// cancelled, and within its limits as of this transaction.
absl::Status CheckQuotedCampaign(StoreTxn& tx, const std::optional<v1::Campaign>& found, const v1::AppliedCampaign& ac,
                                 const std::string& customer) {
  ErrorMetadata md{{"campaign_id", ac.campaign_id()}};
  if (!found || found->state() == v1::CAMPAIGN_STATE_CANCELLED) {
    return Refuse("CAMPAIGN_NOT_ACTIVE", "a campaign of the quote was cancelled; quote again", md);
  }
  const v1::Campaign& camp = *found;
  if (camp.version() != ac.campaign_version()) {
    md.push_back({"quoted_version", absl::StrCat(ac.campaign_version())});
    md.push_back({"current_version", absl::StrCat(camp.version())});
    return Refuse("CAMPAIGN_CHANGED", "a campaign of the quote changed; quote again", md);
  }
  auto usage = tx.Usage(ac.campaign_id());
  if (!usage.ok()) return usage.status();
  if (camp.limits().max_redemptions() > 0 && usage->redemptions >= camp.limits().max_redemptions()) {
    return Refuse("REDEMPTION_LIMIT_REACHED", "the campaign's redemptions are used up", md);
  }
  const int64_t budget = camp.limits().max_discount_total().amount_minor();
  if (budget > 0 && budget - usage->discount < ac.discount().amount_minor()) {
    return Refuse("BUDGET_EXHAUSTED", "the campaign's budget left is below the quoted discount", md);
  }
  const int64_t points_budget = camp.limits().points_budget();
  if (points_budget > 0 && points_budget - usage->points < ac.bonus_points()) {
    md.push_back({"budget", "points"});
    return Refuse("BUDGET_EXHAUSTED", "the campaign's points budget left is below the quoted bonus points", md);
  }
  if (camp.limits().max_redemptions_per_customer() > 0) {
    auto n = tx.CustomerCount(ac.campaign_id(), customer);
    if (!n.ok()) return n.status();
    if (*n >= camp.limits().max_redemptions_per_customer()) {
      return Refuse("CUSTOMER_LIMIT_REACHED", "the customer used this campaign up", md);
    }
  }
  return absl::OkStatus();
}

// The checks before anything is consumed: the order's redemption (a retry:
// true, and `out` is the stored one; another token: ORDER_ALREADY_REDEEMED),
// the token used for another order, the quote's expiry.
absl::StatusOr<bool> FindRedeemed(StoreTxn& tx, const std::string& order_id, const std::string& digest,
                                  const v1::QuoteResponse& q, absl::Time now, v1::Redemption& out) {
  // Twice at most: each read sees the rows committed before it (READ
  // COMMITTED on PostgreSQL), so this order may be redeemed, with this
  // token, between the two lookups; then it is read again.
  for (int read = 0; read < 2; ++read) {
    auto existing = tx.Redemption(order_id);
    if (!existing.ok()) return existing.status();
    if (existing->has_value()) {
      if ((*existing)->token_digest != digest) {
        return AlreadyExists("ORDER_ALREADY_REDEEMED", "the order was redeemed with another quote");
      }
      out = (*existing)->redemption;
      return true;
    }
    if (read == 1) return absl::InternalError("a token's order has no redemption");
    // One token, one order: a quote is a price for one checkout, and its
    // limits and vouchers were checked for one redemption.
    auto used_by = tx.OrderOfToken(digest);
    if (!used_by.ok()) return used_by.status();
    if (!used_by->has_value()) break;
    if (**used_by == order_id) continue;
    return Error(absl::StatusCode::kAlreadyExists, "QUOTE_TOKEN_USED",
                 "this quote was already redeemed for another order; quote again", {{"order_id", **used_by}});
  }
  if (now >= FromTimestamp(q.expire_time())) return Refuse("QUOTE_EXPIRED", "the quote expired; quote again", {});
  return false;
}

// The redemption of `order_id` as the verified quote describes it.
void FillRedemption(const v1::QuoteResponse& quote, const std::string& order_id, const std::string& digest,
                    absl::Time now, v1::Redemption& out) {
  // Unique per order (the order id is unique, and so is its digest with
  // the token's), stable across retries of the same order.
  out.set_redemption_id(absl::StrCat("r-", Digest(absl::StrCat(order_id, "\n", digest)).substr(0, 20)));
  out.set_order_id(order_id);
  out.set_state(v1::REDEMPTION_STATE_REDEEMED);
  *out.mutable_customer() = quote.customer();
  for (const auto& l : quote.lines()) *out.add_lines()->mutable_line() = l;
  *out.mutable_shipping() = quote.shipping();
  *out.mutable_totals() = quote.totals();
  *out.mutable_campaigns() = quote.applied_campaigns();
  out.set_earns_points(quote.earns_points());
  out.set_free_returns(quote.free_returns());
  out.set_bonus_points(quote.bonus_points());
  *out.mutable_quote_time() = quote.quote_time();
  *out.mutable_create_time() = ToTimestamp(now);
  *out.mutable_update_time() = ToTimestamp(now);
}

// Names each applied and rejected campaign of `out` in the reader's
// `locale` (QuoteRequest.language_code), from the campaigns it was priced
// with; nothing to do for "".
void LocalizeNames(const std::vector<const v1::Campaign*>& campaigns, const std::string& locale,
                   v1::QuoteResponse& out) {
  if (locale.empty()) return;
  const std::vector<std::string> chain = LocaleFallbackChain(locale, "");
  absl::flat_hash_map<absl::string_view, const v1::Campaign*> by_id;
  by_id.reserve(campaigns.size());
  for (const v1::Campaign* c : campaigns) by_id.emplace(c->campaign_id(), c);
  auto rename = [&](const std::string& campaign_id, std::string* name) {
    auto it = by_id.find(campaign_id);
    if (it != by_id.end()) *name = PickLocalized(it->second->localized_display_names(), chain, *name);
  };
  for (v1::AppliedCampaign& ac : *out.mutable_applied_campaigns()) rename(ac.campaign_id(), ac.mutable_display_name());
  for (v1::RejectedCampaign& rc : *out.mutable_rejected_campaigns()) {
    rename(rc.campaign_id(), rc.mutable_display_name());
  }
}

}  // namespace

std::string CustomerKey(const v1::QuoteCustomer& c) {
  if (!c.member_id().empty()) return "m:" + c.member_id();
  return c.guest_key().empty() ? "" : "g:" + c.guest_key();
}

PromotionService::PromotionService(PromotionStore& store, const Clock& clock, ShopperLookup shoppers,
                                   ProfileLookup profiles, PromotionOptions options)
    : store_(store),
      clock_(clock),
      shoppers_(std::move(shoppers)),
      profiles_(std::move(profiles)),
      options_(std::move(options)),
      signer_(options_.token_keys) {}

namespace {

int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

absl::Status PromotionService::Init() {
  std::vector<v1::Campaign> live;
  int64_t seq = 0;
  const int64_t read_at = SteadyNanos();
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto at = tx.ChangeSeq();  // the same snapshot as the campaigns
    if (!at.ok()) return at.status();
    seq = *at;
    auto rows = tx.LiveCampaigns();
    if (!rows.ok()) return rows.status();
    live = std::move(*rows);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  std::lock_guard lock(refresh_mu_);
  index_.Load(live);
  index_seq_ = seq;
  index_read_at_ = read_at;
  return absl::OkStatus();
}

absl::Status PromotionService::RefreshIndex() {
  std::lock_guard lock(refresh_mu_);
  return RefreshIndexLocked();
}

absl::Status PromotionService::RefreshIndexLocked() {
  const int64_t read_at = SteadyNanos();
  int64_t seq = index_seq_;
  std::vector<v1::Campaign> changed;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto at = tx.ChangeSeq();
    if (!at.ok()) return at.status();
    seq = *at;
    if (seq == index_seq_) return absl::OkStatus();
    auto rows = tx.ChangedAfter(index_seq_);
    if (!rows.ok()) return rows.status();
    changed = std::move(*rows);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  // Put keeps the newest version it saw (this replica's own edits are put
  // after their commit already) and drops campaigns no longer live.
  for (const v1::Campaign& c : changed) index_.Put(c);
  index_seq_ = seq;
  index_read_at_ = read_at;
  return absl::OkStatus();
}

void PromotionService::FreshenIndex() {
  const int64_t interval = absl::ToInt64Nanoseconds(options_.index_refresh);
  auto fresh = [&] { return SteadyNanos() - index_read_at_.load() < interval; };
  // A database that could not be read a moment ago: quotes go on with the
  // index they have (their limits read, or RedeemQuote, reports the
  // outage), and the next attempt is an interval later, so an outage never
  // queues quotes here.
  auto failed_lately = [&] { return SteadyNanos() - refresh_failed_at_.load() < interval; };
  if (fresh() || failed_lately()) return;
  std::unique_lock lock(refresh_mu_, std::try_to_lock);
  if (!lock.owns_lock()) {
    // Another quote is refreshing: go on with the index while it is within
    // the contract's bound (1 s, four intervals), else wait for that read.
    if (SteadyNanos() - index_read_at_.load() < 3 * interval) return;
    lock.lock();
  }
  if (fresh() || failed_lately()) return;
  if (absl::Status s = RefreshIndexLocked(); !s.ok()) {
    refresh_failed_at_ = SteadyNanos();
    LogWarn("campaign index refresh failed", {{"error", s.ToString()}});
  }
}

absl::Status PromotionService::ReadLimits(const std::string& guest_key, PricingInput& in) {
  std::vector<const v1::Campaign*> limited;
  for (const v1::Campaign* c : in.candidates) {
    if (HasLimits(*c)) limited.push_back(c);
  }
  if (limited.empty()) return absl::OkStatus();  // no read at all for campaigns without limits
  v1::QuoteCustomer who;
  who.set_member_id(in.shopper.guest ? "" : in.shopper.member_id);
  who.set_guest_key(guest_key);
  const std::string key = CustomerKey(who);
  return store_.Read([&](StoreTxn& tx) -> absl::Status {
    for (const v1::Campaign* c : limited) {
      const v1::Limits& l = c->limits();
      PricingInput::Left& left = in.left[c->campaign_id()];
      auto usage = tx.Usage(c->campaign_id());
      if (!usage.ok()) return usage.status();
      if (l.max_redemptions() > 0) left.redemptions = l.max_redemptions() - usage->redemptions;
      if (l.max_discount_total().amount_minor() > 0)
        left.budget = l.max_discount_total().amount_minor() - usage->discount;
      if (l.points_budget() > 0) left.points = l.points_budget() - usage->points;
      if (l.max_redemptions_per_customer() > 0) {
        if (key.empty()) {
          left.customer_unidentified = true;
          continue;
        }
        auto n = tx.CustomerCount(c->campaign_id(), key);
        if (!n.ok()) return n.status();
        left.customer = l.max_redemptions_per_customer() - *n;
      }
    }
    return absl::OkStatus();
  });
}

absl::Status PromotionService::ResolveShopper(const std::string& member_id, PricingInput& in) {
  if (member_id.empty()) {
    in.shopper.guest = true;
    return absl::OkStatus();
  }
  // An erased member is refused before loyalty is asked: their tier may
  // still be cached, and a quote would carry their id into a redemption.
  absl::Status erased = store_.Read([&](StoreTxn& tx) { return RefuseErased(tx, member_id); });
  if (!erased.ok()) return erased;
  auto s = shoppers_(member_id);
  if (!s.ok()) return s.status();
  in.shopper = *s;
  return absl::OkStatus();
}

absl::Status PromotionService::ResolveProfile(PricingInput& in) {
  bool need_profile = false;
  for (const v1::Campaign* c : in.candidates) {
    need_profile = need_profile || c->audience().opted_in_only() || !c->audience().segments().empty();
  }
  if (!need_profile || in.shopper.guest) return absl::OkStatus();
  auto profile = profiles_(in.shopper.member_id);
  if (!profile.ok()) return profile.status();
  in.shopper.opted_in = profile->opted_in;
  in.shopper.segment = profile->segment;
  return absl::OkStatus();
}

absl::Status PromotionService::Quote(Cart cart, v1::QuoteResponse* out, std::function<absl::Status()> interrupted) {
  PricingInput in;
  in.now = clock_.Now();
  in.currency_code = cart.currency_code;
  in.shipping = cart.shipping;
  in.adjustments = cart.full_view;
  if (absl::Status s = ResolveShopper(cart.member_id, in); !s.ok()) return s;
  in.lines = std::move(cart.lines);
  // A cart beyond the money bound is refused before any lookup.
  if (absl::Status s = CheckCartBounds(in.lines, in.shipping); !s.ok()) return s;
  in.interrupted = std::move(interrupted);
  FreshenIndex();
  // explain_all: every live campaign goes through eligibility, so each one
  // that cannot apply is listed with the step that stopped it.
  std::vector<CampaignIndex::Ptr> hold = cart.explain_all
                                             ? index_.All()
                                             : index_.Candidates(in.lines, in.shopper.tier_id, in.shopper.guest);
  in.candidates.reserve(hold.size());
  for (const auto& p : hold) in.candidates.push_back(p.get());
  if (absl::Status s = ResolveProfile(in); !s.ok()) return s;
  // Limits as of now: a campaign used up is rejected here already and a
  // discount is capped at the budget left; the exact check is RedeemQuote's.
  if (absl::Status s = ReadLimits(cart.guest_key, in); !s.ok()) return s;
  if (absl::Status s = ResolveVouchers(cart.voucher_codes, in, out->mutable_vouchers()); !s.ok()) return s;
  if (absl::Status s = Price(in, out); !s.ok()) return s;
  ExplainRejections(in, out);
  LocalizeNames(in.candidates, cart.language_code, *out);
  FinishQuote(cart, in, *out);
  return absl::OkStatus();
}

void PromotionService::FinishQuote(const Cart& cart, const PricingInput& in, v1::QuoteResponse& out) {
  // A campaign voucher counts only if its campaign applied.
  for (v1::VoucherResult& r : *out.mutable_vouchers()) {
    if (!r.accepted() || r.kind() != v1::VOUCHER_KIND_CAMPAIGN) continue;
    bool applied = false;
    for (const auto& ac : out.applied_campaigns()) applied = applied || ac.campaign_id() == r.campaign_id();
    if (!applied) {
      r.set_accepted(false);
      r.set_reason(v1::REJECTION_REASON_VOUCHER_CAMPAIGN_REJECTED);
    }
  }
  auto* cust = out.mutable_customer();
  cust->set_guest(in.shopper.guest);
  cust->set_member_id(in.shopper.member_id);
  cust->set_guest_key(cart.guest_key);
  cust->set_tier_id(in.shopper.tier_id);
  cust->set_tier_version(in.shopper.tier_version);
  cust->set_offers_opt_in(in.shopper.opted_in);
  *out.mutable_quote_time() = ToTimestamp(in.now);
  *out.mutable_expire_time() = ToTimestamp(in.now + options_.quote_ttl);
  out.set_quote_token(signer_.Sign(out));
}

absl::Status PromotionService::ConsumeCampaigns(StoreTxn& tx, v1::QuoteResponse& quote) {
  const std::string customer = CustomerKey(quote.customer());
  for (v1::AppliedCampaign& ac : *quote.mutable_applied_campaigns()) {
    auto c = tx.Campaign(ac.campaign_id());
    if (!c.ok()) return c.status();
    if (absl::Status s = CheckQuotedCampaign(tx, *c, ac, customer); !s.ok()) return s;
    absl::Status s = tx.AddUsage({ac.campaign_id(), customer, quote.customer().tier_id(), ac.campaign_version()}, 1,
                                 ac.discount().amount_minor(), 0, 0);
    if (s.ok() && ac.bonus_points() > 0) s = tx.AddPoints(ac.campaign_id(), ac.bonus_points());
    if (!s.ok()) return s;
    Describe(**c, &ac);  // the token leaves out what the bound version says
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Redemption> PromotionService::Redeem(const std::string& order_id, const std::string& quote_token) {
  auto quote = signer_.Verify(quote_token);
  if (!quote.ok()) return quote.status();
  const absl::Time now = clock_.Now();
  const std::string digest = Digest(quote_token);
  std::vector<std::string> campaign_ids;
  for (const auto& ac : quote->applied_campaigns()) campaign_ids.push_back(ac.campaign_id());
  v1::Redemption out;
  // A redemption of the same order or token committed between our lookups
  // and our insert, or while we waited for a lock it held: everything is
  // rolled back and the next run answers as a retry would.
  bool raced = false;
  for (int run = 0; run < 3; ++run) {
    absl::Status s = store_.Write([&](StoreTxn& tx) -> absl::Status {
      // The transaction may run again (a lost conflict): each run starts
      // from the verified quote, not from what an earlier run made of it.
      out.Clear();
      raced = false;
      if (absl::Status st = tx.LockUsage(campaign_ids); !st.ok()) return st;
      v1::QuoteResponse q = *quote;
      auto redeemed = FindRedeemed(tx, order_id, digest, q, now, out);
      if (!redeemed.ok() || *redeemed) return redeemed.status();
      // A quote made before its member was erased redeems nothing after.
      if (absl::Status st = RefuseErased(tx, q.customer().member_id()); !st.ok()) return st;
      absl::Status consumed = ConsumeCampaigns(tx, q);
      if (consumed.ok()) consumed = ConsumeVouchers(tx, q, now, out);
      if (absl::IsFailedPrecondition(consumed)) {
        // A refusal after waiting for a lock held by a redemption of this
        // very order or token (now committed) is that one's answer instead.
        v1::Redemption earlier;
        auto meanwhile = FindRedeemed(tx, order_id, digest, q, now, earlier);
        raced = !meanwhile.ok() || *meanwhile;
        if (raced) return absl::AbortedError("redeemed meanwhile");
      }
      if (!consumed.ok()) return consumed;
      FillRedemption(q, order_id, digest, now, out);
      auto inserted = tx.InsertRedemption(out, digest);
      if (!inserted.ok()) return inserted.status();
      raced = !*inserted;
      if (raced) return absl::AbortedError("redeemed meanwhile");
      // Notification counts alerted members who redeemed (conversion).
      for (const OutboxEvent& e : RedeemedEvents(out, now)) {
        if (absl::Status st = tx.Enqueue(e); !st.ok()) return st;
      }
      return absl::OkStatus();
    });
    if (raced) continue;
    if (!s.ok()) return s;
    return out;
  }
  return Error(absl::StatusCode::kAborted, "CONCURRENT_UPDATE", "the order was being redeemed concurrently; retry");
}

absl::StatusOr<v1::Redemption> PromotionService::GetRedemption(const std::string& order_id) {
  std::optional<StoredRedemption> found;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto r = tx.Redemption(order_id);
    if (!r.ok()) return r.status();
    found = std::move(*r);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!found) return NotFound("REDEMPTION_NOT_FOUND", "no redemption for this order");
  return std::move(found->redemption);
}

}  // namespace care::promotion
