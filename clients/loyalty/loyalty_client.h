#pragma once

// The typed client other services use to call loyalty: every call carries
// the caller's service token and a deadline, and loyalty's answer comes back
// as an absl::Status with loyalty's own code and ErrorInfo reason.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "care/loyalty/v1/loyalty.grpc.pb.h"
#include "common/outbox.h"

namespace care::clients::loyalty {

// Which members an export streams, ordered by member id.
struct MemberExport {
  std::vector<std::string> tier_ids;  // empty: every tier
  std::vector<std::string> segments;  // empty: every segment
  std::string after_member_id;        // resume after this member
};

class LoyaltyClient final {
 public:
  // Unary lookups wait at most `timeout`; an export at most `export_timeout`.
  explicit LoyaltyClient(Peer peer, absl::Duration timeout = absl::Seconds(2),
                         absl::Duration export_timeout = absl::Hours(1));

  // The member's tier snapshot (GetTier). Loyalty's refusal keeps its code
  // and reason (NOT_FOUND / MEMBER_NOT_FOUND); loyalty unreachable or slow
  // is UNAVAILABLE / DEADLINE_EXCEEDED (FromGrpcStatus).
  absl::StatusOr<::care::loyalty::v1::TierSnapshot> GetTier(absl::string_view member_id) const;
  // The member record (GetMember), statuses as GetTier's.
  absl::StatusOr<::care::loyalty::v1::Member> GetMember(absl::string_view member_id) const;

  // Streams the members `query` selects (ExportMembers) to `on_member`, in
  // member id order. `on_member` returning non-OK cancels the stream and is
  // returned; a stream loyalty ends with an error is UNAVAILABLE
  // ("loyalty ExportMembers: ..."), worth a retry from the last member seen.
  using MemberSink = std::function<absl::Status(const ::care::loyalty::v1::Member& member)>;
  absl::Status ExportMembers(const MemberExport& query, const MemberSink& on_member) const;

 private:
  Peer peer_;
  absl::Duration timeout_;
  absl::Duration export_timeout_;
  std::unique_ptr<::care::loyalty::v1::LoyaltyService::Stub> stub_;
};

}  // namespace care::clients::loyalty
