#pragma once

// Time conversions the payload builders share (private to clients/).

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace care::clients {

// `t` as a Timestamp to the nanosecond (ToTimestamp keeps microseconds), so
// a time that came in as a Timestamp goes out as the same bytes.
inline google::protobuf::Timestamp ExactTimestamp(absl::Time t) {
  google::protobuf::Timestamp out;
  const int64_t seconds = absl::ToUnixSeconds(t);  // rounds toward the past
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
  return out;
}

}  // namespace care::clients
