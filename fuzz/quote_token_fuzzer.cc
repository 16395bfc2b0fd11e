// Quote tokens (services/promotion/quote_token.h). Two kinds of input, by
// the first byte:
//  - even: the rest is a token from a client. Verify must answer the quote or
//    INVALID_ARGUMENT / QUOTE_TOKEN_INVALID, never crash; only a token this
//    key signed can verify.
//  - odd: the rest builds a quote as pricing could produce it (amounts within
//    the adapter's bounds). Sign, then Verify must give back the same
//    binding with consistent totals; two tokens of one quote differ (nonce);
//    one altered character must not verify to a different quote.

#include <string>
#include <vector>

#include "common/bounds.h"
#include "common/errors.h"
#include "common/proto_time.h"
#include "fuzz/fuzz_support.h"
#include "services/promotion/pricing.h"
#include "services/promotion/quote_token.h"

namespace {

namespace v1 = ::care::promotion::v1;
using care::fuzz::ByteReader;

const care::promotion::QuoteSigner& Signer() {
  static const auto* signer = new care::promotion::QuoteSigner(std::vector<care::promotion::QuoteKey>{
      {"fuzz", "fuzz-secret-0123456789abcdef0123456789"}});
  return *signer;
}

// A string as a parsed request carries it: proto3 refuses invalid UTF-8 in
// string fields, so every text of a real quote is valid UTF-8.
std::string Text(ByteReader& r, size_t max) {
  std::string s = r.String(max);
  if (!care::CodePoints(s)) {
    for (char& c : s) c &= 0x7F;
  }
  return s;
}

void CheckRefused(const absl::StatusOr<v1::QuoteResponse>& r, const char* what) {
  if (r.ok()) return;
  CARE_FUZZ_CHECK(r.status().code() == absl::StatusCode::kInvalidArgument, what);
  CARE_FUZZ_CHECK(care::ErrorReason(r.status()) == "QUOTE_TOKEN_INVALID", what);
}

v1::QuoteResponse BuildQuote(ByteReader& r) {
  v1::QuoteResponse q;
  const std::string cur = r.Bool() ? "VND" : "USD";
  const absl::Time at = absl::FromUnixSeconds(r.Range(946684800, 4102444800));  // 2000..2100
  *q.mutable_quote_time() = care::ToTimestamp(at);
  *q.mutable_expire_time() = care::ToTimestamp(at + absl::Seconds(r.Range(0, 86400)));
  auto* who = q.mutable_customer();
  who->set_guest(r.Bool());
  who->set_member_id(Text(r, 40));
  who->set_guest_key(Text(r, 40));
  who->set_tier_id(Text(r, 20));
  who->set_tier_version(r.Range(0, 1000));
  who->set_offers_opt_in(r.Bool());
  int64_t subtotal = 0, discount = 0;
  const int lines = static_cast<int>(r.Range(0, 20));
  for (int i = 0; i < lines; ++i) {
    auto* l = q.add_lines();
    l->set_line_id(Text(r, 64));
    l->set_sku(Text(r, 64));
    l->set_quantity(static_cast<int32_t>(r.Range(1, 10000)));
    const int64_t price = r.Range(0, int64_t{1} << 40);
    const int64_t sub = price * l->quantity();
    const int64_t off = r.Range(0, sub);
    care::promotion::SetMoney(l->mutable_unit_price(), price, cur);
    care::promotion::SetMoney(l->mutable_subtotal(), sub, cur);
    care::promotion::SetMoney(l->mutable_discount(), off, cur);
    care::promotion::SetMoney(l->mutable_total(), sub - off, cur);
    l->set_free_returns(r.Bool());
    subtotal += sub;
    discount += off;
  }
  const int64_t shipping = r.Range(0, care::kMaxMoneyMinor), ship_off = r.Range(0, shipping);
  care::promotion::SetMoney(q.mutable_shipping()->mutable_amount(), shipping, cur);
  care::promotion::SetMoney(q.mutable_shipping()->mutable_discount(), ship_off, cur);
  care::promotion::SetMoney(q.mutable_shipping()->mutable_total(), shipping - ship_off, cur);
  q.mutable_shipping()->set_free_shipping(r.Bool());
  auto* t = q.mutable_totals();
  care::promotion::SetMoney(t->mutable_subtotal(), subtotal, cur);
  care::promotion::SetMoney(t->mutable_items_discount(), discount, cur);
  care::promotion::SetMoney(t->mutable_items_total(), subtotal - discount, cur);
  care::promotion::SetMoney(t->mutable_shipping(), shipping, cur);
  care::promotion::SetMoney(t->mutable_shipping_discount(), ship_off, cur);
  care::promotion::SetMoney(t->mutable_shipping_total(), shipping - ship_off, cur);
  care::promotion::SetMoney(t->mutable_total_discount(), discount + ship_off, cur);
  care::promotion::SetMoney(t->mutable_total(), subtotal - discount + shipping - ship_off, cur);
  care::promotion::SetMoney(t->mutable_tier_discount(), r.Range(0, discount), cur);
  const int applied = static_cast<int>(r.Range(0, 5));
  for (int i = 0; i < applied; ++i) {
    auto* ac = q.add_applied_campaigns();
    ac->set_campaign_id(Text(r, 63));
    ac->set_campaign_version(r.Range(1, 1000));
    ac->add_rule_ids(Text(r, 20));
    ac->set_voucher_code(Text(r, 20));
    care::promotion::SetMoney(ac->mutable_discount(), r.Range(0, discount), cur);
    ac->set_free_shipping(r.Bool());
    ac->set_free_returns(r.Bool());
    ac->set_earns_points(r.Bool());
    ac->set_capped(r.Bool());
  }
  const int vouchers = static_cast<int>(r.Range(0, 3));
  for (int i = 0; i < vouchers; ++i) {
    auto* v = q.add_vouchers();
    v->set_code(Text(r, 32));
    v->set_accepted(true);
  }
  q.set_earns_points(r.Bool());
  q.set_free_returns(r.Bool());
  q.set_tier_discount_suppressed(r.Bool());
  return q;
}

void CheckTotals(const v1::QuoteResponse& q) {
  const v1::Totals& t = q.totals();
  CARE_FUZZ_CHECK(t.items_total().amount_minor() == t.subtotal().amount_minor() - t.items_discount().amount_minor(),
                  "items_total = subtotal - items_discount");
  CARE_FUZZ_CHECK(t.total().amount_minor() == t.items_total().amount_minor() + t.shipping_total().amount_minor(),
                  "total = items_total + shipping_total");
  CARE_FUZZ_CHECK(t.total_discount().amount_minor() ==
                      t.items_discount().amount_minor() + t.shipping_discount().amount_minor(),
                  "total_discount = items_discount + shipping_discount");
  for (const auto& l : q.lines()) {
    CARE_FUZZ_CHECK(l.total().amount_minor() >= 0, "line total >= 0");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteReader r(data, size);
  if (!(r.Byte() & 1)) {
    CheckRefused(Signer().Verify(r.Rest()), "Verify of a client token");
    return 0;
  }
  const v1::QuoteResponse quote = BuildQuote(r);
  const std::string token = Signer().Sign(quote);
  auto verified = Signer().Verify(token);
  CARE_FUZZ_CHECK(verified.ok(), verified.status().ToString());
  // Each token is unique (a nonce: one token, one order), and what it binds
  // survives signing again.
  const std::string again = Signer().Sign(*verified);
  CARE_FUZZ_CHECK(again != token, "two tokens of one quote are the same");
  auto reverified = Signer().Verify(again);
  CARE_FUZZ_CHECK(reverified.ok() && reverified->SerializeAsString() == verified->SerializeAsString(),
                  "Verify gives back the signed binding");
  CheckTotals(*verified);
  CARE_FUZZ_CHECK(verified->totals().total().amount_minor() == quote.totals().total().amount_minor(), "total kept");

  // One altered character: refused, or (base64's unused low bits) the same
  // binding; never another quote.
  if (token.empty()) return 0;
  std::string altered = token;
  const size_t at = static_cast<size_t>(r.Range(0, static_cast<int64_t>(token.size()) - 1));
  const char c = static_cast<char>(r.Byte());
  altered[at] = c == token[at] ? static_cast<char>(c ^ 1) : c;
  auto forged = Signer().Verify(altered);
  CheckRefused(forged, "Verify of an altered token");
  if (forged.ok()) {
    CARE_FUZZ_CHECK(forged->SerializeAsString() == verified->SerializeAsString(),
                    "an altered token verified to another quote");
  }
  return 0;
}
