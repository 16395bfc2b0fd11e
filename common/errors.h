#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace care {

// Statuses built here carry a machine-readable reason (google.rpc.ErrorInfo)
// and, for bad input, the offending fields (google.rpc.BadRequest). Their
// message is written for callers. A status without a reason is treated as an
// internal failure at the gRPC boundary and its text is never sent out.

using ErrorMetadata = std::vector<std::pair<std::string, std::string>>;

absl::Status Error(absl::StatusCode code, absl::string_view reason, absl::string_view message,
                   const ErrorMetadata& metadata = {});

// INVALID_ARGUMENT, reason INVALID_FIELD, naming `field` ("lines[2].quantity").
absl::Status InvalidField(absl::string_view field, absl::string_view description);

absl::Status NotFound(absl::string_view reason, absl::string_view message);
absl::Status AlreadyExists(absl::string_view reason, absl::string_view message);
absl::Status FailedPrecondition(absl::string_view reason, absl::string_view message);
absl::Status Unavailable(absl::string_view reason, absl::string_view message);

// The ErrorInfo reason of `status`, or "" when it has none.
std::string ErrorReason(const absl::Status& status);
// ErrorInfo metadata value for `key`, or "".
std::string ErrorMetadataValue(const absl::Status& status, absl::string_view key);

// Number of Unicode code points in `utf8`, or nullopt when it is not valid
// UTF-8 (overlong forms, surrogates and values past U+10FFFF included).
std::optional<size_t> CodePoints(absl::string_view utf8);

// What one error may carry. The status travels in response headers, and a
// default gRPC client refuses headers over 8 KiB (RESOURCE_EXHAUSTED
// "metadata size exceeds limit"), so a 40-line cart with a bad field per line
// or a 1 MB bad value must still fit: a few KiB whatever the request.
inline constexpr size_t kMaxErrorMessageBytes = 512;
inline constexpr size_t kMaxErrorViolations = 20;  // listed; the rest are counted
inline constexpr size_t kMaxViolationFieldBytes = 128;
inline constexpr size_t kMaxViolationDescriptionBytes = 160;
inline constexpr size_t kMaxErrorMetadataValueBytes = 256;
inline constexpr size_t kMaxErrorMetadataEntries = 16;
inline constexpr size_t kMaxErrorDetailsBytes = 3072;  // the serialized google.rpc.Status
// Bytes of a caller's value an error may echo (EchoValue).
inline constexpr size_t kMaxEchoedValueBytes = 48;

// `text` as valid UTF-8 of at most `max_bytes` bytes (max_bytes >= 3):
// invalid bytes become '?', and a cut, made between characters, ends in "...".
std::string TruncateUtf8(absl::string_view text, size_t max_bytes);
// A caller's value quoted for an error description: a short prefix only,
// with its size when cut ("\"abc...\" (1048576 bytes)").
std::string EchoValue(absl::string_view value);

// Collects every bad field of a request, so one answer names them all.
class FieldErrors final {
 public:
  void Add(absl::string_view field, absl::string_view description);
  bool empty() const { return violations_.empty(); }
  size_t size() const { return violations_.size(); }
  // OK when nothing was added; otherwise INVALID_ARGUMENT naming the first
  // kMaxErrorViolations fields (each cut to a short text) and counting the
  // rest: ErrorInfo metadata "violation_count" holds the total.
  absl::Status ToStatus() const;

  // Common checks; each adds a violation and returns false on failure.
  bool RequireNonEmpty(absl::string_view field, absl::string_view value);
  bool RequireId(absl::string_view field, absl::string_view value);  // [A-Za-z0-9._:-]{1,128}
  bool RequireRange(absl::string_view field, int64_t value, int64_t min, int64_t max);
  bool RequireTimeZone(absl::string_view field, absl::string_view tz);
  bool RequireCurrency(absl::string_view field, absl::string_view code);
  // At most `max` Unicode code points (contracts count characters, not bytes);
  // invalid UTF-8 is refused too.
  bool RequireMaxLength(absl::string_view field, absl::string_view value, size_t max);
  // |amount| within kMaxMoneyMinor (common/bounds.h).
  bool RequireMoney(absl::string_view field, int64_t amount_minor);

 private:
  std::vector<std::pair<std::string, std::string>> violations_;
};

}  // namespace care
