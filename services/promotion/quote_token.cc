#include "services/promotion/quote_token.h"

#include <openssl/crypto.h>

#include "absl/strings/escaping.h"
#include "common/errors.h"
#include "common/hmac.h"

namespace care::promotion {
namespace {

absl::Status Invalid() {
  return Error(absl::StatusCode::kInvalidArgument, "QUOTE_TOKEN_INVALID", "the quote token is malformed or altered");
}

}  // namespace

std::string QuoteSigner::Mac(const std::string& payload) const { return HmacSha256(secret_, payload); }

std::string QuoteSigner::Sign(const care::promotion::v1::QuoteResponse& body) const {
  std::string payload;
  body.SerializeToString(&payload);
  return absl::WebSafeBase64Escape(payload) + "." + absl::WebSafeBase64Escape(Mac(payload));
}

absl::StatusOr<care::promotion::v1::QuoteResponse> QuoteSigner::Verify(const std::string& token) const {
  auto dot = token.find('.');
  if (dot == std::string::npos || token.size() > 96 * 1024) return Invalid();
  std::string payload, mac;
  if (!absl::WebSafeBase64Unescape(token.substr(0, dot), &payload) ||
      !absl::WebSafeBase64Unescape(token.substr(dot + 1), &mac)) {
    return Invalid();
  }
  std::string want = Mac(payload);
  if (mac.size() != want.size() || CRYPTO_memcmp(mac.data(), want.data(), want.size()) != 0) return Invalid();
  care::promotion::v1::QuoteResponse body;
  if (!body.ParseFromString(payload)) return Invalid();
  return body;
}

}  // namespace care::promotion
