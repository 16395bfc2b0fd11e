#include "clients/loyalty/loyalty_client.h"

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"

namespace care::clients::loyalty {

namespace v1 = ::care::loyalty::v1;

LoyaltyClient::LoyaltyClient(Peer peer, absl::Duration timeout, absl::Duration export_timeout)
    : peer_(std::move(peer)),
      timeout_(timeout),
      export_timeout_(export_timeout),
      stub_(v1::LoyaltyService::NewStub(peer_.channel)) {}

absl::StatusOr<v1::TierSnapshot> LoyaltyClient::GetTier(absl::string_view member_id) const {
  v1::GetTierRequest request;
  request.set_member_id(std::string(member_id));
  v1::TierSnapshot snapshot;
  auto ctx = PeerContext(peer_, timeout_);
  grpc::Status s = stub_->GetTier(ctx.get(), request, &snapshot);
  if (!s.ok()) return FromGrpcStatus(s);
  return snapshot;
}

absl::StatusOr<v1::Member> LoyaltyClient::GetMember(absl::string_view member_id) const {
  v1::GetMemberRequest request;
  request.set_member_id(std::string(member_id));
  v1::Member member;
  auto ctx = PeerContext(peer_, timeout_);
  grpc::Status s = stub_->GetMember(ctx.get(), request, &member);
  if (!s.ok()) return FromGrpcStatus(s);
  return member;
}

absl::Status LoyaltyClient::ExportMembers(const MemberExport& query, const MemberSink& on_member) const {
  v1::ExportMembersRequest request;
  for (const auto& t : query.tier_ids) request.add_tier_ids(t);
  for (const auto& s : query.segments) request.add_segments(s);
  request.set_after_member_id(query.after_member_id);
  auto ctx = PeerContext(peer_, export_timeout_);
  auto reader = stub_->ExportMembers(ctx.get(), request);
  v1::Member member;
  absl::Status stopped;
  while (reader->Read(&member)) {
    stopped = on_member(member);
    if (!stopped.ok()) {
      ctx->TryCancel();
      break;
    }
  }
  grpc::Status finished = reader->Finish();
  if (!stopped.ok()) return stopped;
  if (!finished.ok()) return absl::UnavailableError(absl::StrCat("loyalty ExportMembers: ", finished.error_message()));
  return absl::OkStatus();
}

}  // namespace care::clients::loyalty
