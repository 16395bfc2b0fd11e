#pragma once

// Request checks of the gRPC adapter that need no server, so fuzz/ can call
// them directly. Each adds every bad field to `errors`.

#include <optional>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "care/loyalty/v1/loyalty.pb.h"
#include "common/errors.h"
#include "common/privacy.h"  // IsEmail, IsE164
#include "google/protobuf/field_mask.pb.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "services/loyalty/commands.h"
#include "services/loyalty/loyalty_store.h"

namespace care::loyalty {

// [a-z0-9_-]{1,32}: tier ids and segments.
bool IsSlug(const std::string& s);
// `value` when it is not empty must be an id.
void OptionalId(FieldErrors& errors, const std::string& field, const std::string& value);
// A Money that must be present, non-negative (`positive`: > 0) and in a
// valid currency.
void RequireAmount(FieldErrors& errors, const std::string& field, bool present, const care::common::v1::Money& m,
                   bool positive = false);
// A business timestamp sent by a caller, when present and valid.
std::optional<absl::Time> BusinessTime(FieldErrors& errors, const std::string& field, bool present,
                                       const google::protobuf::Timestamp& t);

// The profile fields of `m` that `paths` names (all when null); `now` is the
// server clock (birthday year).
void ValidateProfile(FieldErrors& errors, const care::loyalty::v1::Member& m, const std::set<std::string>* paths,
                     absl::Time now);
// UpdateMember's mask: the paths, each an updatable profile field.
absl::StatusOr<std::set<std::string>> MemberMaskPaths(const google::protobuf::FieldMask& mask);
// ListMembers / ExportMembers: tier ids and segments into `filter`. The
// caller checks the sizes first (CheckFilterValues).
void ValidateMemberFilter(FieldErrors& errors, const google::protobuf::RepeatedPtrField<std::string>& tiers,
                          const google::protobuf::RepeatedPtrField<std::string>& segments, MemberFilter* filter);
// RecordPurchase: ids, amount, lines adding up to it (checked sums), a valid
// purchase_time (its window is checked after the replay). Returns the
// purchase time when one was sent and valid.
std::optional<absl::Time> CheckPurchase(FieldErrors& errors, const care::loyalty::v1::RecordPurchaseRequest* req);
// RecordReturn, likewise; returns the return time when sent and valid.
std::optional<absl::Time> CheckReturn(FieldErrors& errors, const care::loyalty::v1::RecordReturnRequest& req);
// UpdateProgram's mask: every path an updatable program field. Returns
// whether the whole program is replaced (no mask, or "*").
bool CheckProgramMask(FieldErrors& errors, const care::loyalty::v1::UpdateProgramRequest& req);
void CheckAdjust(FieldErrors& errors, const care::loyalty::v1::AdjustPointsRequest& req);
// ListLedgerEntries' filters.
EntryFilter LedgerFilter(FieldErrors& errors, const care::loyalty::v1::ListLedgerEntriesRequest& req);
// GetLoyaltyAnalytics: real dates from 1970-01-01, in order, at most 366
// days (DAY) or 36 months touched (MONTH).
AnalyticsQuery CheckAnalytics(FieldErrors& errors, const care::loyalty::v1::GetLoyaltyAnalyticsRequest& req);

}  // namespace care::loyalty
