#include "common/grpc_status.h"

#include "common/errors.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace care {
namespace {

constexpr char kErrorInfoUrl[] = "type.googleapis.com/google.rpc.ErrorInfo";
constexpr char kBadRequestUrl[] = "type.googleapis.com/google.rpc.BadRequest";

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
  } else if (status.code() == absl::StatusCode::kCancelled ||
             status.code() == absl::StatusCode::kDeadlineExceeded) {
    out.set_code(static_cast<int>(status.code()));
    out.set_message(std::string(status.code() == absl::StatusCode::kCancelled ? "cancelled"
                                                                               : "deadline exceeded"));
    info.set_reason(status.code() == absl::StatusCode::kCancelled ? "CANCELLED" : "DEADLINE_EXCEEDED");
  } else {
    out.set_code(static_cast<int>(absl::StatusCode::kInternal));
    out.set_message("internal error; see the service log");
    info.Clear();
    info.set_reason("INTERNAL");
  }
  info.set_domain(std::string(domain));
  out.add_details()->PackFrom(info);
  if (auto bad = status.GetPayload(kBadRequestUrl)) {
    google::rpc::BadRequest br;
    if (br.ParseFromString(std::string(*bad))) out.add_details()->PackFrom(br);
  }
  return grpc::Status(static_cast<grpc::StatusCode>(out.code()), out.message(),
                      out.SerializeAsString());
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
