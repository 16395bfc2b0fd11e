#include "common/grpc_status.h"

#include "common/errors.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace care {
namespace {

constexpr char kErrorInfoUrl[] = "type.googleapis.com/google.rpc.ErrorInfo";
constexpr char kBadRequestUrl[] = "type.googleapis.com/google.rpc.BadRequest";

// Keeps what a status carries within the error-size bounds (errors.h),
// whoever built it: every text is cut, then violations go from the end
// until the whole fits.
void CapDetails(google::rpc::Status& out, google::rpc::ErrorInfo& info, google::rpc::BadRequest* bad) {
  out.set_message(TruncateUtf8(out.message(), kMaxErrorMessageBytes));
  info.set_reason(TruncateUtf8(info.reason(), 64));
  google::protobuf::Map<std::string, std::string> metadata;
  for (const auto& [key, value] : info.metadata()) {
    if (metadata.size() >= kMaxErrorMetadataEntries) break;
    metadata[TruncateUtf8(key, 64)] = TruncateUtf8(value, kMaxErrorMetadataValueBytes);
  }
  info.mutable_metadata()->swap(metadata);
  if (bad == nullptr) return;
  auto* violations = bad->mutable_field_violations();
  constexpr int kListed = static_cast<int>(kMaxErrorViolations);
  if (violations->size() > kListed) violations->DeleteSubrange(kListed, violations->size() - kListed);
  for (auto& v : *violations) {
    v.set_field(TruncateUtf8(v.field(), kMaxViolationFieldBytes));
    v.set_description(TruncateUtf8(v.description(), kMaxViolationDescriptionBytes));
  }
  size_t fixed = out.ByteSizeLong() + info.ByteSizeLong() + 64;  // 64: the Any wrappers
  while (!violations->empty() && fixed + bad->ByteSizeLong() > kMaxErrorDetailsBytes) violations->RemoveLast();
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status, absl::string_view domain) {
  if (status.ok()) return grpc::Status::OK;
  google::rpc::Status out;
  auto info_payload = status.GetPayload(kErrorInfoUrl);
  google::rpc::ErrorInfo info;
  if (info_payload) info.ParseFromString(std::string(*info_payload));
  bool known = info_payload && !info.reason().empty() && status.code() != absl::StatusCode::kUnknown;
  if (known) {
    out.set_code(static_cast<int>(status.code()));
    out.set_message(std::string(status.message()));
  } else if (status.code() == absl::StatusCode::kCancelled || status.code() == absl::StatusCode::kDeadlineExceeded) {
    out.set_code(static_cast<int>(status.code()));
    out.set_message(std::string(status.code() == absl::StatusCode::kCancelled ? "cancelled" : "deadline exceeded"));
    info.set_reason(status.code() == absl::StatusCode::kCancelled ? "CANCELLED" : "DEADLINE_EXCEEDED");
  } else {
    out.set_code(static_cast<int>(absl::StatusCode::kInternal));
    out.set_message("internal error; see the service log");
    info.Clear();
    info.set_reason("INTERNAL");
  }
  info.set_domain(std::string(domain));
  google::rpc::BadRequest br;
  bool has_bad = false;
  if (auto bad = status.GetPayload(kBadRequestUrl)) has_bad = br.ParseFromString(std::string(*bad));
  CapDetails(out, info, has_bad ? &br : nullptr);
  out.add_details()->PackFrom(info);
  if (has_bad) out.add_details()->PackFrom(br);
  return grpc::Status(static_cast<grpc::StatusCode>(out.code()), out.message(), out.SerializeAsString());
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  auto code = static_cast<absl::StatusCode>(status.error_code());
  google::rpc::Status details;
  if (!status.error_details().empty() && details.ParseFromString(status.error_details())) {
    absl::Status out;
    for (const auto& any : details.details()) {
      google::rpc::ErrorInfo info;
      if (any.UnpackTo(&info)) {
        ErrorMetadata metadata(info.metadata().begin(), info.metadata().end());
        out = Error(code, info.reason(), status.error_message(), metadata);
      }
    }
    if (!out.ok()) {
      for (const auto& any : details.details()) {
        google::rpc::BadRequest bad;
        if (any.UnpackTo(&bad)) out.SetPayload(kBadRequestUrl, absl::Cord(bad.SerializeAsString()));
      }
      return out;
    }
  }
  // No reason from the peer (e.g. a transport failure): name the code.
  return Error(code, code == absl::StatusCode::kUnavailable ? "PEER_UNAVAILABLE" : "PEER_ERROR",
               status.error_message());
}

}  // namespace care
