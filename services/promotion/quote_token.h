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
#include "common/hmac.h"

namespace care::promotion {

// The shortest signing key accepted: HMAC-SHA256's own output size, so a
// key is no easier to guess than a MAC.
inline constexpr size_t kMinQuoteKeyBytes = 32;
// Bounds of the key file: up to 16 keys (the one signing, the ones still
// verifying), each up to 1 KiB.
inline constexpr size_t kMaxQuoteKeys = 16;
inline constexpr size_t kMaxQuoteKeyBytes = 1024;

struct QuoteKey {
  std::string id;      // [A-Za-z0-9_-]{1,32}, carried in every token it signs
  std::string secret;  // kMinQuoteKeyBytes..kMaxQuoteKeyBytes bytes
};

// Parses the --quote_token_secret_file text: one key per line,
// `<key_id> <key>` (the key is the rest of the line, surrounding whitespace
// trimmed); blank lines are skipped. The FIRST key signs, every listed key
// verifies. INVALID_ARGUMENT naming the line when a line is malformed, an id
// repeats, a key is shorter than kMinQuoteKeyBytes or there is no key.
absl::StatusOr<std::vector<QuoteKey>> ParseQuoteKeys(absl::string_view text);

class QuoteSigner final {
 public:
  // `keys` must not be empty and must be valid as ParseQuoteKeys returns
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
  struct Keyed {
    std::string id;
    std::unique_ptr<HmacSha256Key> key;
  };
  const Keyed* Find(absl::string_view id) const;

  std::vector<Keyed> keys_;  // keys_[0] signs
};

}  // namespace care::promotion
