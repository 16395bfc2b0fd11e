#pragma once

// The two kinds of id the services make. A new entity gets an unguessable
// random id (NewId); a record that must come out the same for the same key,
// whichever retry or replica writes it, gets a derived one (StableId).

#include <cstddef>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "common/hash.h"
#include "common/random.h"

namespace care {

// `prefix` and `hex_length` lowercase hex digits from the CSPRNG.
inline std::string NewId(absl::string_view prefix, size_t hex_length = 16) {
  return absl::StrCat(prefix, RandomToken(hex_length, kLowerHex));
}

// `prefix` and the 16 hex digits of StableHash64(key).
inline std::string StableId(absl::string_view prefix, absl::string_view key) {
  return absl::StrFormat("%s%016x", prefix, StableHash64(key));
}

}  // namespace care
