#pragma once

// Request checks of the gRPC adapter that need no server, so fuzz/ can call
// them directly. Each adds every bad field to `errors`.

#include <optional>
#include <set>
#include <string>

#include "absl/time/time.h"
#include "care/loyalty/v1/loyalty.pb.h"
#include "common/errors.h"

namespace care::loyalty {

// The profile fields of `m` that `paths` names (all when null); `now` is the
// server clock (birthday year).
void ValidateProfile(FieldErrors& errors, const care::loyalty::v1::Member& m, const std::set<std::string>* paths,
                     absl::Time now);
// RecordPurchase: ids, amount, lines adding up to it (checked sums), a valid
// purchase_time (its window is checked after the replay). Returns the
// purchase time when one was sent and valid.
std::optional<absl::Time> CheckPurchase(FieldErrors& errors, const care::loyalty::v1::RecordPurchaseRequest* req);

}  // namespace care::loyalty
