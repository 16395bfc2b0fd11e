// common/errors and common/bounds: CodePoints against an independent UTF-8
// decoder (the well-formed byte sequences of Unicode's table 3-7), each
// FieldErrors check against its definition, the status FieldErrors builds
// (small whatever it holds),
// and the checked arithmetic against 128-bit arithmetic.

#include <cstdint>
#include <optional>
#include <string>

#include "common/bounds.h"
#include "common/errors.h"
#include "fuzz/fuzz_support.h"

namespace {

using care::fuzz::ByteReader;

// Unicode 15, table 3-7: the only well-formed UTF-8 byte sequences.
std::optional<size_t> ReferenceCodePoints(const std::string& s) {
  size_t n = 0;
  size_t i = 0;
  auto in = [&](size_t k, int lo, int hi) {
    return k < s.size() && static_cast<unsigned char>(s[k]) >= lo && static_cast<unsigned char>(s[k]) <= hi;
  };
  while (i < s.size()) {
    const unsigned char b = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    if (b <= 0x7F) {
      len = 1;
    } else if (b >= 0xC2 && b <= 0xDF) {
      len = in(i + 1, 0x80, 0xBF) ? 2 : 0;
    } else if (b == 0xE0) {
      len = in(i + 1, 0xA0, 0xBF) && in(i + 2, 0x80, 0xBF) ? 3 : 0;
    } else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
      len = in(i + 1, 0x80, 0xBF) && in(i + 2, 0x80, 0xBF) ? 3 : 0;
    } else if (b == 0xED) {
      len = in(i + 1, 0x80, 0x9F) && in(i + 2, 0x80, 0xBF) ? 3 : 0;
    } else if (b == 0xF0) {
      len = in(i + 1, 0x90, 0xBF) && in(i + 2, 0x80, 0xBF) && in(i + 3, 0x80, 0xBF) ? 4 : 0;
    } else if (b >= 0xF1 && b <= 0xF3) {
      len = in(i + 1, 0x80, 0xBF) && in(i + 2, 0x80, 0xBF) && in(i + 3, 0x80, 0xBF) ? 4 : 0;
    } else if (b == 0xF4) {
      len = in(i + 1, 0x80, 0x8F) && in(i + 2, 0x80, 0xBF) && in(i + 3, 0x80, 0xBF) ? 4 : 0;
    }
    if (len == 0) return std::nullopt;
    i += len;
    ++n;
  }
  return n;
}

bool ReferenceId(const std::string& s) {  // [A-Za-z0-9._:-]{1,128}
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
          c == ':' || c == '-')) {
      return false;
    }
  }
  return true;
}

void CheckArithmetic(ByteReader& r) {
  const int64_t a = static_cast<int64_t>(r.U64()), b = static_cast<int64_t>(r.U64());
  const int64_t limit = r.Bool() ? care::kMaxMoneyMinor : r.Range(0, INT64_MAX);
  auto within = [&](__int128 v) { return v <= limit && v >= -static_cast<__int128>(limit); };
  const __int128 sum = static_cast<__int128>(a) + b, product = static_cast<__int128>(a) * b;
  auto add = care::CheckedAdd(a, b, limit);
  CARE_FUZZ_CHECK(add.has_value() == within(sum), "CheckedAdd range");
  CARE_FUZZ_CHECK(!add || *add == sum, "CheckedAdd value");
  auto mul = care::CheckedMul(a, b, limit);
  CARE_FUZZ_CHECK(mul.has_value() == within(product), "CheckedMul range");
  CARE_FUZZ_CHECK(!mul || *mul == product, "CheckedMul value");
  // CheckedMulDiv's contract: 128-bit a * num, so num and a stay 64-bit.
  const int64_t den = static_cast<int64_t>(r.U64());
  auto md = care::CheckedMulDiv(a, b, den, limit);
  if (den == 0) {
    CARE_FUZZ_CHECK(!md, "CheckedMulDiv by zero");
  } else {
    const __int128 q = product / den;
    CARE_FUZZ_CHECK(md.has_value() == within(q), "CheckedMulDiv range");
    CARE_FUZZ_CHECK(!md || *md == q, "CheckedMulDiv value");
  }
  CARE_FUZZ_CHECK(care::WithinMoneyBound(a) == (a <= care::kMaxMoneyMinor && a >= -care::kMaxMoneyMinor),
                  "WithinMoneyBound");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteReader r(data, size);
  CheckArithmetic(r);

  care::FieldErrors errors;
  size_t expected = 0;
  const int64_t max = r.Range(0, 300);
  const std::string text = r.String(1200);
  const auto reference = ReferenceCodePoints(text);
  const auto counted = care::CodePoints(text);
  CARE_FUZZ_CHECK(counted == reference, "CodePoints differs from the table 3-7 decoder");
  const bool fits = errors.RequireMaxLength("text", text, static_cast<size_t>(max));
  CARE_FUZZ_CHECK(fits == (reference && *reference <= static_cast<size_t>(max)), "RequireMaxLength");
  expected += !fits;

  const std::string id = r.String(200);
  const bool id_ok = errors.RequireId("id", id);
  CARE_FUZZ_CHECK(id_ok == ReferenceId(id), "RequireId");
  expected += !id_ok;

  const int64_t v = static_cast<int64_t>(r.U64());
  int64_t lo = static_cast<int64_t>(r.U64()), hi = static_cast<int64_t>(r.U64());
  if (lo > hi) std::swap(lo, hi);
  const bool in_range = errors.RequireRange("range", v, lo, hi);
  CARE_FUZZ_CHECK(in_range == (v >= lo && v <= hi), "RequireRange");
  expected += !in_range;

  const bool money = errors.RequireMoney("money", v);
  CARE_FUZZ_CHECK(money == care::WithinMoneyBound(v), "RequireMoney");
  expected += !money;

  // Checks that read tables (zones, currencies): no crash, and a refusal is
  // counted like any other.
  const size_t before = errors.size();
  errors.RequireTimeZone("zone", r.String(64));
  errors.RequireCurrency("currency", r.String(8));
  expected += errors.size() - before;

  // Arbitrary field names and descriptions (the adapters pass user input
  // through descriptions, e.g. an unknown mask path).
  const int extra = static_cast<int>(r.Range(0, 40));  // past kMaxErrorViolations
  for (int i = 0; i < extra; ++i) {
    std::string field = r.String(80);
    errors.Add(field, r.String(200));
    ++expected;
  }
  CARE_FUZZ_CHECK(errors.size() == expected, "FieldErrors counts every violation");
  CARE_FUZZ_CHECK(errors.empty() == (expected == 0), "FieldErrors::empty");
  const absl::Status s = errors.ToStatus();
  CARE_FUZZ_CHECK(s.ok() == (expected == 0), "ToStatus is OK exactly when nothing was added");
  care::fuzz::CheckValidationStatus(s, "FieldErrors::ToStatus");
  if (!s.ok()) {
    CARE_FUZZ_CHECK(care::ErrorReason(s) == "INVALID_FIELD", care::ErrorReason(s));
    // However many violations, the status lists a few and counts them all.
    CARE_FUZZ_CHECK(care::ErrorMetadataValue(s, "violation_count") == std::to_string(expected), "violation_count");
  }
  return 0;
}
