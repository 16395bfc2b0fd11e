#pragma once

#include <cstdint>
#include <optional>

// The suite's documented bounds on money and points (docs/bounds.md), and
// checked arithmetic for every sum and product of them. A value past a bound
// is refused at the boundary as INVALID_ARGUMENT naming the field; inside,
// a sum or product that would leave the bound is an empty optional, never a
// wrapped value.

namespace care {

// Every amount of money, in minor units of its currency, and every sum of
// amounts the suite stores or returns: |amount| <= 10^15 (10 trillion in a
// two-decimal currency; far above any real order, far below 2^63).
inline constexpr int64_t kMaxMoneyMinor = 1'000'000'000'000'000;
// Points on one ledger entry, and a member's balance.
inline constexpr int64_t kMaxPointsPerEntry = 1'000'000'000;
inline constexpr int64_t kMaxPointsBalance = 1'000'000'000'000;
// Units of one cart or purchase line.
inline constexpr int64_t kMaxLineQuantity = 1'000'000;

// a + b, or nullopt when the exact result is outside [-limit, limit].
inline std::optional<int64_t> CheckedAdd(int64_t a, int64_t b, int64_t limit = kMaxMoneyMinor) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r) || r > limit || r < -limit) return std::nullopt;
  return r;
}

// a * b, or nullopt when the exact result is outside [-limit, limit].
inline std::optional<int64_t> CheckedMul(int64_t a, int64_t b, int64_t limit = kMaxMoneyMinor) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r) || r > limit || r < -limit) return std::nullopt;
  return r;
}

// a * num / den rounded toward zero, computed in 128 bits; nullopt when the
// result is outside [-limit, limit] or den is 0.
inline std::optional<int64_t> CheckedMulDiv(int64_t a, int64_t num, int64_t den, int64_t limit = kMaxMoneyMinor) {
  if (den == 0) return std::nullopt;
  __int128 r = static_cast<__int128>(a) * num / den;
  if (r > limit || r < -limit) return std::nullopt;
  return static_cast<int64_t>(r);
}

// True when |amount| is within the money bound.
inline constexpr bool WithinMoneyBound(int64_t amount) { return amount <= kMaxMoneyMinor && amount >= -kMaxMoneyMinor; }

}  // namespace care
