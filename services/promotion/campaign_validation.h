#pragma once

// The one validation of a campaign's content, run on every write path on the
// campaign as it would be stored: CreateCampaign's campaign, and
// UpdateCampaign's merge of the stored version with the masked fields. No
// gRPC: FieldErrors (common/errors.h) names every bad field.

#include <string>

#include "absl/status/status.h"
#include "care/common/v1/common.pb.h"
#include "care/promotion/v1/promotion.pb.h"
#include "common/errors.h"

namespace care::promotion {

// OK, or INVALID_ARGUMENT naming every bad field (paths "campaign.<field>").
// The reason is CURRENCY_MISMATCH when every violation is an amount in
// another currency than the campaign's, else INVALID_FIELD.
absl::Status ValidateCampaign(const care::promotion::v1::Campaign& campaign);

// An amount: 0 <= amount_minor <= kMaxMoneyMinor (common/bounds.h), and its
// currency, when set, is `currency` (when that is set). Returns false on a
// currency mismatch only (the caller may then answer CURRENCY_MISMATCH).
bool CheckAmount(FieldErrors& errors, const std::string& field, const care::common::v1::Money& m,
                 const std::string& currency);

// `errors` as a status whose reason is CURRENCY_MISMATCH when all of its
// `mismatches` violations are currency ones, else INVALID_FIELD.
absl::Status FieldStatus(const FieldErrors& errors, size_t mismatches);

}  // namespace care::promotion
