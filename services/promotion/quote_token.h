#pragma once

// Quote tokens: the quote's binding (customer, cart, campaign versions,
// amounts, expiry) serialized and signed with HMAC-SHA256, so a client can
// neither forge nor alter one. Format: base64url(payload) "." base64url(mac).

#include <string>

#include "absl/status/statusor.h"
#include "care/promotion/v1/promotion.pb.h"

namespace care::promotion {

class QuoteSigner final {
 public:
  explicit QuoteSigner(std::string secret) : secret_(std::move(secret)) {}
  std::string Sign(const care::promotion::v1::QuoteResponse& body) const;
  // INVALID_ARGUMENT / QUOTE_TOKEN_INVALID when malformed or tampered with.
  absl::StatusOr<care::promotion::v1::QuoteResponse> Verify(const std::string& token) const;

 private:
  std::string Mac(const std::string& payload) const;
  std::string secret_;
};

}  // namespace care::promotion
