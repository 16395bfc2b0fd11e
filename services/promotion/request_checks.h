#pragma once

// Request checks of the gRPC adapter that need no server, so fuzz/ can call
// them directly. Bad fields are INVALID_ARGUMENT naming each of them. (A
// campaign's content is ValidateCampaign's, campaign_validation.h.)

#include "absl/status/status.h"
#include "care/promotion/v1/promotion.pb.h"

namespace care::promotion {

// Quote: customer, currency, lines (count, ids, quantities, prices), shipping,
// voucher codes. The sums are the domain's (CheckCartBounds, pricing.h).
absl::Status CheckQuoteRequest(const care::promotion::v1::QuoteRequest* req);

}  // namespace care::promotion
