#pragma once

// Unguessable text for secrets and identifiers (survey tokens, member,
// complaint and batch ids, voucher codes), from OpenSSL's CSPRNG. A seeded
// generator (std::mt19937_64, absl::BitGen) is predictable from its
// outputs, so it is only for jitter and sampling, never for these.

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace care {

inline constexpr absl::string_view kLowerHex = "0123456789abcdef";

// `length` characters drawn from `alphabet` (2 to 256 distinct bytes), each
// equally likely: bytes at or above the largest multiple of the alphabet's
// size are thrown away (rejection sampling), so there is no modulo bias.
// Aborts the process if the CSPRNG fails: nothing secret may be made then.
std::string RandomToken(size_t length, absl::string_view alphabet);

}  // namespace care
