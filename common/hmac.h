#pragma once

// HMAC-SHA256 over OpenSSL (link OpenSSL::Crypto). Shared so that every
// signer (quote tokens, webhook signatures) uses one implementation.

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"

namespace care {

// Raw 32-byte MAC of `data` under `key`.
inline std::string HmacSha256(absl::string_view key, absl::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), mac, &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

// One key prepared once, for a signer that MACs on every call (quote
// tokens): the one-shot HMAC() above looks the algorithm up and schedules the
// key each time, which costs more than hashing a kilobyte. Mac() copies the
// keyed state instead; safe from many threads at once.
class HmacSha256Key final {
 public:
  explicit HmacSha256Key(absl::string_view key)
      : mac_(EVP_MAC_fetch(nullptr, "HMAC", nullptr)), keyed_(mac_ ? EVP_MAC_CTX_new(mac_) : nullptr) {
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
                           OSSL_PARAM_construct_end()};
    if (keyed_ == nullptr ||
        EVP_MAC_init(keyed_, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) != 1) {
      std::abort();  // only if OpenSSL has no HMAC-SHA256: nothing can be signed
    }
  }
  ~HmacSha256Key() {
    EVP_MAC_CTX_free(keyed_);
    EVP_MAC_free(mac_);
  }
  HmacSha256Key(const HmacSha256Key&) = delete;
  HmacSha256Key& operator=(const HmacSha256Key&) = delete;

  // Raw 32-byte MAC of `data`, as HmacSha256(key, data).
  std::string Mac(absl::string_view data) const {
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(keyed_);
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t len = 0;
    const bool ok = ctx != nullptr &&
                    EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1 &&
                    EVP_MAC_final(ctx, mac, &len, sizeof mac) == 1;
    EVP_MAC_CTX_free(ctx);
    if (!ok) std::abort();  // out of memory inside OpenSSL
    return std::string(reinterpret_cast<char*>(mac), len);
  }

 private:
  EVP_MAC* mac_;
  EVP_MAC_CTX* keyed_;
};

// Lowercase hex of HmacSha256.
inline std::string HmacSha256Hex(absl::string_view key, absl::string_view data) {
  return absl::BytesToHexString(HmacSha256(key, data));
}

}  // namespace care
