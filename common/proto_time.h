#pragma once

// Conversions between absl time and google.protobuf.Timestamp / Duration,
// the only time types on the wire.

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/errors.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace care {

inline google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  google::protobuf::Timestamp out;
  const int64_t micros = absl::ToUnixMicros(t);
  int64_t seconds = micros / 1000000;
  int64_t rest = micros % 1000000;
  if (rest < 0) {
    rest += 1000000;
    --seconds;
  }
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(rest * 1000));
  return out;
}

inline absl::Time FromTimestamp(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// False for values outside google.protobuf.Timestamp's range
// (0001-01-01 .. 9999-12-31) or with nanos outside [0, 1e9).
inline bool ValidTimestamp(const google::protobuf::Timestamp& t) {
  return t.seconds() >= -62135596800 && t.seconds() <= 253402300799 && t.nanos() >= 0 && t.nanos() < 1000000000;
}

// A request's timestamp field: "is not a valid timestamp" on `field` when
// out of range.
inline void CheckTimestamp(FieldErrors& errors, absl::string_view field, const google::protobuf::Timestamp& t) {
  if (!ValidTimestamp(t)) errors.Add(field, "is not a valid timestamp");
}
// The same for an optional field: checked only when set (`has`).
inline void CheckOptionalTimestamp(FieldErrors& errors, absl::string_view field, bool has,
                                   const google::protobuf::Timestamp& t) {
  if (has) CheckTimestamp(errors, field, t);
}

inline google::protobuf::Duration ToDurationProto(absl::Duration d) {
  google::protobuf::Duration out;
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  out.set_seconds(nanos / 1000000000);
  out.set_nanos(static_cast<int32_t>(nanos % 1000000000));
  return out;
}

inline absl::Duration FromDurationProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

}  // namespace care
