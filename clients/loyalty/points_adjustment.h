#pragma once

// Goodwill points: the AdjustPoints request a service sends loyalty through
// its outbox, and what it reads back from the event and loyalty's answer
// (OutboxRelay::OnOutcome).

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "common/store.h"  // OutboxEvent

namespace care::clients::loyalty {

inline constexpr char kAdjustPointsMethod[] = "/care.loyalty.v1.LoyaltyService/AdjustPoints";

struct PointsAdjustment {
  std::string request_id;  // loyalty applies one request id once
  std::string member_id;
  int64_t points_delta = 0;
  std::string reason_code;
  std::string complaint_id;
  std::string note;
};

// The outbox event (destination "loyalty") carrying `adjustment`.
OutboxEvent AdjustPointsEvent(std::string event_id, const PointsAdjustment& adjustment);
// The adjustment an AdjustPoints event's payload carries; nullopt when it
// does not parse.
std::optional<PointsAdjustment> ParsePointsAdjustment(absl::string_view payload);
// The ledger entry id of loyalty's AdjustPointsResponse (the reference to
// quote); nullopt when the response does not parse.
std::optional<std::string> AdjustedEntryId(absl::string_view response);

}  // namespace care::clients::loyalty
