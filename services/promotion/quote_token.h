#pragma once

// Quote tokens: what RedeemQuote needs of a quote (customer, cart, amounts,
// applied campaign versions, vouchers used, expiry) in compact form
// (care/promotion/internal/quote_binding.proto), signed with HMAC-SHA256 so
// a client can neither forge nor alter one. Format: "q3." key_id "."
// base64url(binding) "." base64url(mac); the prefix names the token's format,
// the key id which listed key made the MAC (so keys rotate without
// invalidating the quotes in flight).

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "care/promotion/v1/promotion.pb.h"
#include "common/key_file.h"

namespace care::promotion {

// Quote token keys come from --quote_token_secret_file, parsed by the shared
// ParseKeyFile (common/key_file.h): `<key_id> <key>` per line, keys of
// kMinHmacKeyBytes..kMaxHmacKeyBytes, the first signs, every listed key
// verifies.
using QuoteKey = ::care::NamedKey;

class QuoteSigner final {
 public:
  // `keys` must not be empty and must be valid as ParseKeyFile returns
  // them; keys[0] signs.
  explicit QuoteSigner(const std::vector<QuoteKey>& keys);
  std::string Sign(const care::promotion::v1::QuoteResponse& quote) const;
  // The quote as bound: customer, times, lines and shipping without their
  // adjustments, totals, applied campaigns by id, version and amounts (no
  // display name, stacking or priority: the bound version has them), the
  // accepted vouchers and the overall flags. INVALID_ARGUMENT /
  // QUOTE_TOKEN_INVALID when malformed, tampered with, or signed with a key
  // no longer listed.
  absl::StatusOr<care::promotion::v1::QuoteResponse> Verify(const std::string& token) const;

 private:
  HmacKeyRing keys_;
};

}  // namespace care::promotion
