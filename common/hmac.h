#pragma once

// HMAC-SHA256 over OpenSSL (link OpenSSL::Crypto). Shared so that every
// signer (quote tokens, webhook signatures) uses one implementation.

#include <openssl/evp.h>
#include <openssl/hmac.h>

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

// Lowercase hex of HmacSha256.
inline std::string HmacSha256Hex(absl::string_view key, absl::string_view data) {
  return absl::BytesToHexString(HmacSha256(key, data));
}

}  // namespace care
