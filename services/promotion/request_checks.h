#pragma once

// Request checks of the gRPC adapter that need no server, so fuzz/ can call
// them directly. Bad fields are INVALID_ARGUMENT naming each of them.

#include "absl/status/status.h"
#include "care/promotion/v1/promotion.pb.h"
#include "common/errors.h"

namespace care::promotion {

// A campaign as CreateCampaign accepts it; adds each bad field to `errors`.
void CheckCampaign(FieldErrors& errors, const care::promotion::v1::Campaign& c);
// Quote: customer, currency, lines (count, ids, quantities, prices), shipping.
absl::Status CheckQuoteRequest(const care::promotion::v1::QuoteRequest* req);

}  // namespace care::promotion
