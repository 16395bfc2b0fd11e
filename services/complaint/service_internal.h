#pragma once

// Helpers shared by the complaint service's translation units (tickets in
// complaint_service.cc, configuration in complaint_config.cc). Not part of
// the service's interface.

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/errors.h"
#include "services/complaint/business_time.h"
#include "services/complaint/complaint_service.h"

namespace care::complaint {

inline constexpr char kSettingsId[] = "current";

v1::Actor ActorProto(const ActorInfo& a);

template <typename T>
absl::StatusOr<std::optional<T>> LoadDoc(StoreTxn& tx, DocKind kind, const std::string& id) {
  auto bytes = tx.GetDocument(kind, id);
  if (!bytes.ok()) return bytes.status();
  if (!*bytes) return std::nullopt;
  T out;
  if (!out.ParseFromString(**bytes)) return absl::InternalError("unreadable stored document");
  return out;
}

// The stored settings, or the defaults (an empty message) before any update.
absl::StatusOr<v1::ComplaintSettings> LoadSettings(StoreTxn& tx);
// Where every version of a policy is kept.
std::string PolicyVersionId(const std::string& id, int64_t version);

absl::StatusOr<v1::Complaint> Require(StoreTxn& tx, const std::string& id);
Calendar FromProto(const v1::BusinessCalendar& c);
absl::StatusOr<Calendar> CalendarOf(StoreTxn& tx, const std::string& calendar_id);
// Writes the complaint with its next SLA check, one more version.
absl::Status Save(StoreTxn& tx, v1::Complaint& c, absl::Time now);
// The running clocks of `c`, counted so far in `before`, re-timed to finish
// in `after` (a calendar edit).
absl::Status Retime(const Calendar& before, const Calendar& after, v1::Complaint& c, absl::Time now);

inline absl::Status VersionMismatch(absl::string_view what) {
  return Error(absl::StatusCode::kAborted, "VERSION_MISMATCH", absl::StrCat(what, " changed; re-read and retry"));
}

// Idempotent by request id (common/store.h).
template <typename Response, typename Fn>
absl::StatusOr<Response> ComplaintService::Mutate(absl::string_view scope, const std::string& request_id,
                                                  const google::protobuf::Message& request, Fn fn) {
  return WriteOnce<Response>(store_, scope, request_id, request, std::move(fn));
}

}  // namespace care::complaint
