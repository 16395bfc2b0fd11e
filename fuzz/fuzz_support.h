#pragma once

// Shared helpers of the fuzz targets: a reader that turns fuzz bytes into
// bounded values (every byte string is a valid case, so mutations are never
// wasted on parse failures), and the property check every request check
// must satisfy. A failed property aborts, which libFuzzer (and the replay
// binary) reports with the input.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "common/errors.h"

namespace care::fuzz {

// Fails the run: prints what broke and aborts (a crash for libFuzzer).
[[noreturn]] inline void Fail(const std::string& what) {
  std::fprintf(stderr, "PROPERTY VIOLATED: %s\n", what.c_str());
  std::abort();
}

#define CARE_FUZZ_CHECK(cond, what)                                      \
  do {                                                                   \
    if (!(cond)) ::care::fuzz::Fail(std::string(#cond " -- ") + (what)); \
  } while (0)

class ByteReader final {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  bool Bool() { return Byte() & 1; }
  uint64_t U64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | Byte();
    return v;
  }
  // A value in [lo, hi] (lo <= hi), from as few bytes as the span needs.
  int64_t Range(int64_t lo, int64_t hi) {
    const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
    uint64_t v = 0;
    for (uint64_t s = span; s != 0; s >>= 8) v = (v << 8) | Byte();
    if (span != UINT64_MAX) v %= span + 1;
    return static_cast<int64_t>(static_cast<uint64_t>(lo) + v);
  }
  // Up to `max` bytes, length first.
  std::string String(size_t max) {
    size_t n = static_cast<size_t>(Range(0, static_cast<int64_t>(max)));
    n = std::min(n, size_ - std::min(pos_, size_));
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }
  // Everything not read yet.
  std::string Rest() {
    std::string s = pos_ < size_ ? std::string(reinterpret_cast<const char*>(data_ + pos_), size_ - pos_) : "";
    pos_ = size_;
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// What a request check may answer: OK, or INVALID_ARGUMENT carrying a reason
// (never another code, never a status without a reason: those become
// INTERNAL at the gRPC boundary).
inline void CheckValidationStatus(const absl::Status& s, const char* what) {
  if (s.ok()) return;
  CARE_FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument, std::string(what) + ": " + s.ToString());
  CARE_FUZZ_CHECK(!care::ErrorReason(s).empty(), std::string(what) + " without a reason: " + s.ToString());
  // Errors stay small for any input (issue 15 #9).
  CARE_FUZZ_CHECK(s.message().size() <= care::kMaxErrorMessageBytes,
                  std::string(what) + ": a message of " + std::to_string(s.message().size()) + " bytes");
}

}  // namespace care::fuzz
