#include "services/promotion/quote_token.h"

#include <openssl/rand.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "care/promotion/internal/quote_binding.pb.h"
#include "common/errors.h"
#include "common/proto_time.h"
#include "services/promotion/pricing.h"

namespace care::promotion {
namespace {

namespace v1 = ::care::promotion::v1;
using internal::QuoteBinding;

// Names the token's format, so a token of another format (an earlier
// release's, during a rolling update) is refused instead of being parsed as
// this one. q2 had no key id.
constexpr absl::string_view kFormat = "q3.";

absl::Status Invalid() {
  return Error(absl::StatusCode::kInvalidArgument, "QUOTE_TOKEN_INVALID", "the quote token is malformed or altered");
}

void Bind(const v1::QuoteResponse& q, QuoteBinding& b) {
  b.set_quote_time_micros(absl::ToUnixMicros(FromTimestamp(q.quote_time())));
  b.set_expire_time_micros(absl::ToUnixMicros(FromTimestamp(q.expire_time())));
  b.set_currency_code(q.totals().total().currency_code());
  const v1::QuoteCustomer& who = q.customer();
  b.set_guest(who.guest());
  b.set_member_id(who.member_id());
  b.set_guest_key(who.guest_key());
  b.set_tier_id(who.tier_id());
  b.set_tier_version(who.tier_version());
  b.set_offers_opt_in(who.offers_opt_in());
  for (const v1::LineResult& l : q.lines()) {
    QuoteBinding::Line* bl = b.add_lines();
    bl->set_line_id(l.line_id());
    bl->set_sku(l.sku());
    bl->set_quantity(l.quantity());
    bl->set_unit_price(l.unit_price().amount_minor());
    bl->set_discount(l.discount().amount_minor());
    bl->set_free_returns(l.free_returns());
  }
  b.set_shipping(q.shipping().amount().amount_minor());
  b.set_shipping_discount(q.shipping().discount().amount_minor());
  b.set_free_shipping(q.shipping().free_shipping());
  b.set_tier_discount(q.totals().tier_discount().amount_minor());
  b.set_tier_discount_suppressed(q.tier_discount_suppressed());
  for (const v1::AppliedCampaign& ac : q.applied_campaigns()) {
    QuoteBinding::Applied* ba = b.add_applied();
    ba->set_campaign_id(ac.campaign_id());
    ba->set_version(ac.campaign_version());
    ba->set_discount(ac.discount().amount_minor());
    *ba->mutable_rule_ids() = ac.rule_ids();
    ba->set_voucher_code(ac.voucher_code());
    ba->set_free_shipping(ac.free_shipping());
    ba->set_free_returns(ac.free_returns());
    ba->set_earns_points(ac.earns_points());
    ba->set_capped(ac.capped());
    ba->set_bonus_points(ac.bonus_points());
  }
  for (const v1::VoucherResult& v : q.vouchers()) {
    if (v.accepted()) b.add_voucher_codes(v.code());
  }
  b.set_earns_points(q.earns_points());
  b.set_free_returns(q.free_returns());
}

// The inverse of Bind for the parts it keeps; totals are derived.
v1::QuoteResponse Unbind(const QuoteBinding& b) {
  v1::QuoteResponse q;
  const std::string& cur = b.currency_code();
  auto money = [&cur](care::common::v1::Money* m, int64_t minor) { SetMoney(m, minor, cur); };
  *q.mutable_quote_time() = ToTimestamp(absl::FromUnixMicros(b.quote_time_micros()));
  *q.mutable_expire_time() = ToTimestamp(absl::FromUnixMicros(b.expire_time_micros()));
  v1::QuoteCustomer* who = q.mutable_customer();
  who->set_guest(b.guest());
  who->set_member_id(b.member_id());
  who->set_guest_key(b.guest_key());
  who->set_tier_id(b.tier_id());
  who->set_tier_version(b.tier_version());
  who->set_offers_opt_in(b.offers_opt_in());
  int64_t subtotal = 0, discount = 0;
  for (const QuoteBinding::Line& bl : b.lines()) {
    v1::LineResult* l = q.add_lines();
    const int64_t sub = bl.unit_price() * bl.quantity();
    l->set_line_id(bl.line_id());
    l->set_sku(bl.sku());
    l->set_quantity(bl.quantity());
    money(l->mutable_unit_price(), bl.unit_price());
    money(l->mutable_subtotal(), sub);
    money(l->mutable_discount(), bl.discount());
    money(l->mutable_total(), sub - bl.discount());
    l->set_free_returns(bl.free_returns());
    subtotal += sub;
    discount += bl.discount();
  }
  const int64_t shipping_total = b.shipping() - b.shipping_discount();
  v1::ShippingResult* ship = q.mutable_shipping();
  money(ship->mutable_amount(), b.shipping());
  money(ship->mutable_discount(), b.shipping_discount());
  money(ship->mutable_total(), shipping_total);
  ship->set_free_shipping(b.free_shipping());
  v1::Totals* t = q.mutable_totals();
  money(t->mutable_subtotal(), subtotal);
  money(t->mutable_items_discount(), discount);
  money(t->mutable_items_total(), subtotal - discount);
  money(t->mutable_shipping(), b.shipping());
  money(t->mutable_shipping_discount(), b.shipping_discount());
  money(t->mutable_shipping_total(), shipping_total);
  money(t->mutable_total_discount(), discount + b.shipping_discount());
  money(t->mutable_total(), subtotal - discount + shipping_total);
  money(t->mutable_tier_discount(), b.tier_discount());
  for (const QuoteBinding::Applied& ba : b.applied()) {
    v1::AppliedCampaign* ac = q.add_applied_campaigns();
    ac->set_campaign_id(ba.campaign_id());
    ac->set_campaign_version(ba.version());
    *ac->mutable_rule_ids() = ba.rule_ids();
    ac->set_voucher_code(ba.voucher_code());
    money(ac->mutable_discount(), ba.discount());
    ac->set_free_shipping(ba.free_shipping());
    ac->set_free_returns(ba.free_returns());
    ac->set_earns_points(ba.earns_points());
    ac->set_capped(ba.capped());
    ac->set_bonus_points(ba.bonus_points());
    q.set_bonus_points(q.bonus_points() + ba.bonus_points());
  }
  for (const std::string& code : b.voucher_codes()) {
    v1::VoucherResult* v = q.add_vouchers();
    v->set_code(code);
    v->set_accepted(true);
  }
  q.set_earns_points(b.earns_points());
  q.set_free_returns(b.free_returns());
  q.set_tier_discount_suppressed(b.tier_discount_suppressed());
  return q;
}

}  // namespace

QuoteSigner::QuoteSigner(const std::vector<QuoteKey>& keys) : keys_(keys) {}

std::string QuoteSigner::Sign(const v1::QuoteResponse& quote) const {
  // One per thread, cleared and refilled: a cleared message keeps its lines
  // and strings, so signing allocates nothing once a thread has warmed up.
  thread_local QuoteBinding binding;
  binding.Clear();
  Bind(quote, binding);
  // Random, or (should the CSPRNG ever fail) a per-process sequence, which
  // still keeps this process's tokens distinct.
  unsigned char nonce[8];
  if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
    static std::atomic<uint64_t> sequence{0};
    uint64_t n = sequence.fetch_add(1) + 1;
    std::memcpy(nonce, &n, sizeof(nonce));
  }
  binding.set_nonce(nonce, sizeof(nonce));
  std::string payload;
  binding.SerializeToString(&payload);
  return absl::StrCat(kFormat, keys_.signing_id(), ".", absl::WebSafeBase64Escape(payload), ".",
                      absl::WebSafeBase64Escape(keys_.Sign(payload)));
}

// The largest cart the contract accepts (1,000 lines, ids of 64 and skus of
// 128 characters at up to 4 UTF-8 bytes each, 20 vouchers) binds to under
// 1 MiB, 1.4 MiB in base64: every token this service signs verifies, and
// nothing larger is decoded before its MAC is checked.
constexpr size_t kMaxQuoteTokenBytes = 2 * 1024 * 1024;

absl::StatusOr<v1::QuoteResponse> QuoteSigner::Verify(const std::string& token) const {
  if (!absl::StartsWith(token, kFormat) || token.size() > kMaxQuoteTokenBytes) return Invalid();
  absl::string_view body = absl::string_view(token).substr(kFormat.size());
  auto id_end = body.find('.');
  if (id_end == absl::string_view::npos) return Invalid();
  const absl::string_view key_id = body.substr(0, id_end);
  body.remove_prefix(id_end + 1);
  auto dot = body.find('.');
  if (dot == absl::string_view::npos) return Invalid();
  std::string payload, mac;
  if (!absl::WebSafeBase64Unescape(body.substr(0, dot), &payload) ||
      !absl::WebSafeBase64Unescape(body.substr(dot + 1), &mac)) {
    return Invalid();
  }
  // Unknown (malformed, or no longer listed) key ids fail here too.
  if (!keys_.Verify(key_id, payload, mac)) return Invalid();
  QuoteBinding binding;
  if (!binding.ParseFromString(payload)) return Invalid();
  return Unbind(binding);
}

}  // namespace care::promotion
