#pragma once

// Small helpers shared by the files of the loyalty domain (members.cc,
// purchases.cc, points.cc, program_versions.cc, jobs.cc); not part of its
// API.

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/errors.h"
#include "common/privacy.h"
#include "common/store.h"
#include "services/loyalty/loyalty_service.h"
#include "services/loyalty/model.h"
#include "services/loyalty/program.h"

namespace care::loyalty {

// The actor of ledger entries written by jobs.
inline constexpr char kSystem[] = "system";
// Rows a job handles per transaction.
inline constexpr int kJobBatch = 200;
// The job_state row of the background walk after a program change.
inline constexpr char kReevaluateJob[] = "reevaluate";
// The job_state row of the walk after the cadence rules changed: the last
// member id pulled ("" = from the start).
inline constexpr char kCadenceRescanJob[] = "cadence_rescan";
// The cursor of a time zone whose members all had an occurrence (no member
// id holds '|').
inline constexpr char kOccasionZoneDone[] = "|done";

inline absl::Status MemberNotFound(const std::string& member_id) {
  return NotFound("MEMBER_NOT_FOUND", absl::StrCat("no member ", member_id));
}

// `once` with its stored answer filed under the member (common/privacy.h),
// so an erasure of the member deletes it.
inline Once AboutMember(const Once& once, const std::string& member_id) {
  Once tagged = once;
  tagged.subject = MemberSubject(member_id);
  return tagged;
}

inline absl::Status NotConfigured() {
  return FailedPrecondition("PROGRAM_NOT_CONFIGURED", "no loyalty program yet: call UpdateProgram first");
}

inline absl::Status CheckCurrency(const std::string& field, const std::string& currency, const Program& program) {
  if (currency == program.currency_code) return absl::OkStatus();
  return Error(absl::StatusCode::kInvalidArgument, "CURRENCY_MISMATCH",
               absl::StrCat(field, " must be in the program currency ", program.currency_code),
               {{"field", field}, {"expected", program.currency_code}});
}

inline absl::TimeZone MemberZone(const Member& member, const Program& program) {
  return LoadZone(member.profile.time_zone.empty() ? program.time_zone : member.profile.time_zone);
}

inline std::optional<absl::Time> LotExpiry(const Program& program, absl::Time credited) {
  if (!program.points_expiry) return std::nullopt;
  return ExpiryTime(credited, program.points_expiry->expire_after_months, LoadZone(program.time_zone));
}

template <typename Response, typename Fn>
absl::StatusOr<Response> LoyaltyService::WriteOnceAndCache(const Once& once, Fn fn) {
  Effects fx;
  auto response = WriteOnce<Response>(store_, once, [&](StoreTxn& tx, Response& r) -> absl::Status {
    fx = Effects{};
    return fn(tx, fx, r);
  });
  if (response.ok()) Apply(fx);
  return response;
}

template <typename T, typename Fn>
absl::StatusOr<T> LoyaltyService::ReadValue(Fn fn) {
  absl::StatusOr<T> value = absl::InternalError("unset");
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    value = fn(tx);
    return value.status();
  });
  if (!s.ok()) return s;
  return value;
}

}  // namespace care::loyalty
