#pragma once

// A stable, non-cryptographic hash: the same value across restarts, builds
// and machines (std::hash promises none of that), for ids derived from a key
// and for binding page tokens to their filters. Never a security boundary.

#include <cstdint>

#include "absl/strings/string_view.h"

namespace care {

// FNV-1a over 64 bits, but from the offset basis 1469598103934665603, not
// the standard 14695981039346656037 (a digit short, since the first
// release). Kept: ids and stored fingerprints were made with it, and the
// hash only has to be stable, which it is.
inline uint64_t StableHash64(absl::string_view bytes) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace care
