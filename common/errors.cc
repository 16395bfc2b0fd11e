#include "common/errors.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/bounds.h"
#include "google/rpc/error_details.pb.h"

namespace care {
namespace {

constexpr char kErrorInfoUrl[] = "type.googleapis.com/google.rpc.ErrorInfo";
constexpr char kBadRequestUrl[] = "type.googleapis.com/google.rpc.BadRequest";

google::rpc::ErrorInfo ErrorInfoOf(const absl::Status& status) {
  google::rpc::ErrorInfo info;
  if (auto payload = status.GetPayload(kErrorInfoUrl)) info.ParseFromString(std::string(*payload));
  return info;
}

}  // namespace

absl::Status Error(absl::StatusCode code, absl::string_view reason, absl::string_view message,
                   const ErrorMetadata& metadata) {
  absl::Status status(code, message);
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  for (const auto& [k, v] : metadata) (*info.mutable_metadata())[k] = v;
  status.SetPayload(kErrorInfoUrl, absl::Cord(info.SerializeAsString()));
  return status;
}

absl::Status InvalidField(absl::string_view field, absl::string_view description) {
  FieldErrors errors;
  errors.Add(field, description);
  return errors.ToStatus();
}

absl::Status NotFound(absl::string_view reason, absl::string_view message) {
  return Error(absl::StatusCode::kNotFound, reason, message);
}
absl::Status AlreadyExists(absl::string_view reason, absl::string_view message) {
  return Error(absl::StatusCode::kAlreadyExists, reason, message);
}
absl::Status FailedPrecondition(absl::string_view reason, absl::string_view message) {
  return Error(absl::StatusCode::kFailedPrecondition, reason, message);
}
absl::Status Unavailable(absl::string_view reason, absl::string_view message) {
  return Error(absl::StatusCode::kUnavailable, reason, message);
}

std::string ErrorReason(const absl::Status& status) { return ErrorInfoOf(status).reason(); }

std::string ErrorMetadataValue(const absl::Status& status, absl::string_view key) {
  auto info = ErrorInfoOf(status);
  auto it = info.metadata().find(std::string(key));
  return it == info.metadata().end() ? "" : it->second;
}

void FieldErrors::Add(absl::string_view field, absl::string_view description) {
  violations_.emplace_back(std::string(field), std::string(description));
}

absl::Status FieldErrors::ToStatus() const {
  if (violations_.empty()) return absl::OkStatus();
  std::vector<std::string> parts;
  std::vector<std::string> fields;
  google::rpc::BadRequest bad;
  size_t listed = std::min(violations_.size(), kMaxErrorViolations);
  for (size_t i = 0; i < listed; ++i) {
    std::string field = TruncateUtf8(violations_[i].first, kMaxViolationFieldBytes);
    std::string description = TruncateUtf8(violations_[i].second, kMaxViolationDescriptionBytes);
    parts.push_back(absl::StrCat(field, ": ", description));
    auto* v = bad.add_field_violations();
    v->set_field(field);
    v->set_description(description);
    fields.push_back(std::move(field));
  }
  std::string message = absl::StrJoin(parts, "; ");
  size_t omitted = violations_.size() - listed;
  // The count goes first so that cutting the message never loses it.
  if (omitted > 0) message = absl::StrCat(violations_.size(), " invalid fields, the first ", listed, ": ", message);
  absl::Status status = Error(absl::StatusCode::kInvalidArgument, "INVALID_FIELD",
                              TruncateUtf8(message, kMaxErrorMessageBytes),
                              {{"field", TruncateUtf8(absl::StrJoin(fields, ","), kMaxErrorMetadataValueBytes)},
                               {"violation_count", absl::StrCat(violations_.size())}});
  status.SetPayload(kBadRequestUrl, absl::Cord(bad.SerializeAsString()));
  return status;
}

bool FieldErrors::RequireNonEmpty(absl::string_view field, absl::string_view value) {
  if (!value.empty()) return true;
  Add(field, "is required");
  return false;
}

bool FieldErrors::RequireId(absl::string_view field, absl::string_view value) {
  if (!RequireNonEmpty(field, value)) return false;
  bool ok = value.size() <= 128;
  for (char c : value) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                c == ':' || c == '-');
  }
  if (!ok) Add(field, "must be 1 to 128 characters of [A-Za-z0-9._:-]");
  return ok;
}

bool FieldErrors::RequireRange(absl::string_view field, int64_t value, int64_t min, int64_t max) {
  if (value >= min && value <= max) return true;
  Add(field, absl::StrCat("must be between ", min, " and ", max));
  return false;
}

bool FieldErrors::RequireTimeZone(absl::string_view field, absl::string_view tz) {
  absl::TimeZone zone;
  if (!tz.empty() && absl::LoadTimeZone(std::string(tz), &zone)) return true;
  Add(field, "must be an IANA time zone such as \"Asia/Tokyo\"");
  return false;
}

bool FieldErrors::RequireCurrency(absl::string_view field, absl::string_view code) {
  bool ok = code.size() == 3;
  for (char c : code) ok = ok && c >= 'A' && c <= 'Z';
  if (!ok) Add(field, "must be an ISO 4217 code such as \"USD\"");
  return ok;
}

namespace {

// Length of the valid UTF-8 sequence starting at utf8[i], or 0 when the
// bytes there are not one (overlong forms, surrogates and values past
// U+10FFFF included).
size_t Utf8SequenceAt(absl::string_view utf8, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(utf8[k]); };
  unsigned char c = byte(i);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > utf8.size()) return 0;
  uint32_t cp = len == 1 ? c : c & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMinForLength[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

}  // namespace

std::optional<size_t> CodePoints(absl::string_view utf8) {
  size_t count = 0;
  for (size_t i = 0; i < utf8.size(); ++count) {
    size_t len = Utf8SequenceAt(utf8, i);
    if (len == 0) return std::nullopt;
    i += len;
  }
  return count;
}

std::string TruncateUtf8(absl::string_view text, size_t max_bytes) {
  constexpr absl::string_view kCut = "...";
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  // Ends of the characters copied so far, to cut between them.
  std::vector<size_t> ends;
  for (size_t i = 0; i < text.size();) {
    size_t len = Utf8SequenceAt(text, i);
    absl::string_view piece = len == 0 ? absl::string_view("?") : text.substr(i, len);
    if (out.size() + piece.size() > max_bytes) {
      while (!ends.empty() && ends.back() + kCut.size() > max_bytes) ends.pop_back();
      out.resize(ends.empty() ? 0 : ends.back());
      out.append(kCut.data(), std::min(kCut.size(), max_bytes - out.size()));
      return out;
    }
    out.append(piece.data(), piece.size());
    ends.push_back(out.size());
    i += len == 0 ? 1 : len;
  }
  return out;
}

std::string EchoValue(absl::string_view value) {
  std::string shown = TruncateUtf8(value, kMaxEchoedValueBytes);
  if (shown.size() == value.size()) return absl::StrCat("\"", shown, "\"");
  return absl::StrCat("\"", shown, "\" (", value.size(), " bytes)");
}

bool FieldErrors::RequireMaxLength(absl::string_view field, absl::string_view value, size_t max) {
  auto n = CodePoints(value);
  if (!n) {
    Add(field, "must be valid UTF-8");
    return false;
  }
  if (*n <= max) return true;
  Add(field, absl::StrCat("must be at most ", max, " characters"));
  return false;
}

bool FieldErrors::RequireMoney(absl::string_view field, int64_t amount_minor) {
  if (WithinMoneyBound(amount_minor)) return true;
  Add(field, absl::StrCat("must be within +/-", kMaxMoneyMinor, " minor units"));
  return false;
}

}  // namespace care
