#pragma once

// Quote tokens: what RedeemQuote needs of a quote (customer, cart, amounts,
// applied campaign versions, vouchers used, expiry) in compact form
// (care/promotion/internal/quote_binding.proto), signed with HMAC-SHA256 so
// a client can neither forge nor alter one. Format: "q2." base64url(binding)
// "." base64url(mac); the prefix names the binding's format.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "care/promotion/v1/promotion.pb.h"
#include "common/hmac.h"

namespace care::promotion {

class QuoteSigner final {
 public:
  explicit QuoteSigner(absl::string_view secret) : key_(secret) {}
  std::string Sign(const care::promotion::v1::QuoteResponse& quote) const;
  // The quote as bound: customer, times, lines and shipping without their
  // adjustments, totals, applied campaigns by id, version and amounts (no
  // display name, stacking or priority: the bound version has them), the
  // accepted vouchers and the overall flags. INVALID_ARGUMENT /
  // QUOTE_TOKEN_INVALID when malformed or tampered with.
  absl::StatusOr<care::promotion::v1::QuoteResponse> Verify(const std::string& token) const;

 private:
  HmacSha256Key key_;
};

}  // namespace care::promotion
