#pragma once

// Maps the plain domain values to and from the contract's messages
// (care.loyalty.v1). No gRPC:
// the domain builds its answers with it (a mutation's answer is stored in
// its wire form for retries, so it is made inside the transaction), the
// adapter reads requests with it, the store keeps program versions and
// ledger entries in their contract form (which protobuf evolves
// compatibly). Events to notification are events.h's.

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "care/loyalty/v1/loyalty.pb.h"
#include "common/errors.h"
#include "services/loyalty/commands.h"
#include "services/loyalty/model.h"
#include "services/loyalty/tiers.h"

namespace care::loyalty {

care::common::v1::Money MoneyProto(int64_t minor, const std::string& currency);

// Program. Amounts inside the program must be in its currency (or leave the
// code empty); others are reported to `errors`. Validation of the values is
// ValidateProgram's.
v1::Program ProgramToProto(const Program& program);
Program ProgramFromProto(const v1::Program& proto, FieldErrors& errors);

v1::TierBenefits BenefitsToProto(const TierBenefits& benefits);
v1::TierSnapshot SnapshotToProto(const TierSnapshot& snapshot);

Profile ProfileFromProto(const v1::Member& proto);
void ProfileToProto(const Profile& profile, v1::Member* proto);
v1::Member MemberToProto(const Member& member, const TierSnapshot& snapshot, const std::string& currency);

// Ledger entries (also their stored form).
v1::LedgerEntry EntryToProto(const LedgerEntry& entry, const std::string& currency);
LedgerEntry EntryFromProto(const v1::LedgerEntry& proto);

v1::TierProjection ProjectionToProto(const Projection& projection, const std::string& currency);

// The program an UpdateProgram makes: `update.program` whole, or `latest`
// (null: none yet) with the fields `update.mask` names taken from it.
// INVALID_ARGUMENT for a mask on the first version or amounts in another
// currency; the values are ValidateProgram's to check.
absl::StatusOr<Program> MergeProgram(const Program* latest, const ProgramUpdate& update);

// The answers of the operations.
v1::Member MemberViewToProto(const MemberView& view, const std::string& currency);
v1::RecordPurchaseResponse PurchaseResponse(const PurchaseResult& result);
v1::RecordReturnResponse ReturnResponse(const ReturnResult& result);
// Redemptions and adjustments: entries carry no currency.
template <typename Response>
Response PointsResponse(const PointsResult& result) {
  Response response;
  *response.mutable_entry() = EntryToProto(result.entry, "");
  response.set_points_balance(result.points_balance);
  return response;
}
v1::PointsBalance BalanceToProto(const Balance& balance);
v1::ProjectTierResponse ProjectionResponse(const TierProjectionResult& result);
v1::LoyaltyAnalytics AnalyticsResponse(const AnalyticsResult& result);

}  // namespace care::loyalty
