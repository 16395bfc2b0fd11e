#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace care {

// Server side: the one place an absl::Status becomes a gRPC status. Statuses
// that carry an ErrorInfo reason keep their message; any other (a failure we
// did not anticipate, such as an SQLite error) becomes INTERNAL with a
// generic message, so SQL or exception text never leaves the process.
// `domain` fills ErrorInfo.domain, e.g. "loyalty.care".
grpc::Status ToGrpcStatus(const absl::Status& status, absl::string_view domain);

// Client side: turns a gRPC status back into an absl::Status, keeping the
// ErrorInfo reason from the details trailer.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace care
