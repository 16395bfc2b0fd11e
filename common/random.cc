#include "common/random.h"

#include <openssl/rand.h>

#include <cstdlib>

#include "common/log.h"

namespace care {

std::string RandomToken(size_t length, absl::string_view alphabet) {
  if (alphabet.size() < 2 || alphabet.size() > 256) {
    LogError("RandomToken: alphabet must hold 2 to 256 characters");
    std::abort();
  }
  const size_t n = alphabet.size();
  const unsigned limit = 256 - 256 % n;  // accepted bytes: [0, limit)
  std::string out;
  out.reserve(length);
  unsigned char bytes[64];
  while (out.size() < length) {
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
      LogError("RandomToken: the CSPRNG failed");
      std::abort();
    }
    for (unsigned char b : bytes) {
      if (b >= limit) continue;
      out.push_back(alphabet[b % n]);
      if (out.size() == length) break;
    }
  }
  return out;
}

}  // namespace care
