#pragma once

// What a caller's channel health-checks on each replica of a peer: the name
// under which the peer reports readiness through grpc.health.v1 (its gRPC
// service's full name; NOT_SERVING while its database is unreachable or it
// drains), so calls go only to replicas that can answer them.

#include <string>

#include "absl/strings/string_view.h"

namespace care::clients {

// "loyalty", "promotion", "complaint" or "notification" -> e.g.
// "care.loyalty.v1.LoyaltyService"; "" (the process as a whole) for another name.
std::string PeerHealthService(absl::string_view peer);

}  // namespace care::clients
