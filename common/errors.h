#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"

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

// Collects every bad field of a request, so one answer names them all.
class FieldErrors final {
 public:
  void Add(absl::string_view field, absl::string_view description);
  bool empty() const { return violations_.empty(); }
  size_t size() const { return violations_.size(); }
  // OK when nothing was added; otherwise INVALID_ARGUMENT naming each field.
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
