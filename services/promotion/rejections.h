#pragma once

// Human-readable details of quote rejections (RejectedCampaign.detail) for
// agents: every rejection the pricing engine left without one gets an
// English sentence saying what stopped the campaign, from the campaign and
// the shopper as the quote saw them. Pure: no clock, no storage, no RPC.

#include "care/promotion/v1/promotion.pb.h"
#include "services/promotion/pricing.h"

namespace care::promotion {

// The detail for `rejected` (campaign `campaign`, null if unknown).
std::string RejectionDetail(const care::promotion::v1::RejectedCampaign& rejected,
                            const care::promotion::v1::Campaign* campaign, const PricingInput& in);

// Fills every empty RejectedCampaign.detail of `out`; details the engine
// wrote (a rule's shortfall, the tier not targeted) are kept.
void ExplainRejections(const PricingInput& in, care::promotion::v1::QuoteResponse* out);

}  // namespace care::promotion
