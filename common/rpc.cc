#include "common/rpc.h"

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/log.h"

namespace care {

RpcRuntime::RpcRuntime(std::string domain, TokenRegistry tokens, WorkPool* pool)
    : domain_(std::move(domain)), tokens_(std::move(tokens)), pool_(pool) {}

absl::Status RpcRuntime::RegisterService(const google::protobuf::ServiceDescriptor* service) {
  for (int i = 0; i < service->method_count(); ++i) {
    const auto* m = service->method(i);
    if (!m->options().HasExtension(care::common::v1::access) ||
        m->options().GetExtension(care::common::v1::access).roles().empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(m->full_name(), " has no (care.common.v1.access) option"));
    }
    if (methods_.count(m->input_type())) {
      return absl::FailedPreconditionError(absl::StrCat(
          m->full_name(), " shares its request type ", m->input_type()->full_name()));
    }
    methods_[m->input_type()] = std::make_unique<MethodInfo>(MethodInfo{
        absl::StrCat("/", service->full_name(), "/", m->name()),
        m->options().GetExtension(care::common::v1::access),
        m->input_type()->FindFieldByName("request_id")});
  }
  return absl::OkStatus();
}

absl::Status RpcRuntime::Overloaded() {
  return Error(absl::StatusCode::kResourceExhausted, "OVERLOADED",
               "the service is at capacity; retry with backoff");
}

RpcRuntime::Call RpcRuntime::Begin(grpc::ServerContextBase* ctx,
                                   const google::protobuf::Message& request) {
  Call call;
  call.start = absl::Now();
  ++in_flight_;
  auto it = methods_.find(request.GetDescriptor());
  if (it == methods_.end()) {
    call.status = absl::InternalError("method not registered with RpcRuntime");
    return call;
  }
  call.method = it->second.get();
  if (call.method->request_id_field) {
    call.caller.request_id =
        request.GetReflection()->GetString(request, call.method->request_id_field);
  }
  const auto& md = ctx->client_metadata();
  auto auth = md.find("authorization");
  absl::string_view header =
      auth == md.end() ? absl::string_view() : absl::string_view(auth->second.data(), auth->second.size());
  auto principal = tokens_.Authenticate(header);
  if (!principal.ok()) {
    call.status = principal.status();
    return call;
  }
  call.caller.principal = *principal;
  call.status = Authorize(*call.caller.principal, call.method->access, call.method->full_name);
  return call;
}

grpc::Status RpcRuntime::End(const Call& call, const absl::Status& status) {
  --in_flight_;
  grpc::Status out = ToGrpcStatus(status, domain_);
  bool failed = !out.ok() && out.error_code() == grpc::StatusCode::INTERNAL;
  LogLevel level = failed ? LogLevel::kError : LogLevel::kInfo;
  if (LogEnabled(level)) {
    Log(level, "rpc",
        {{"method", call.method ? call.method->full_name : "?"},
         {"request_id", call.caller.request_id},
         {"principal", call.caller.principal ? call.caller.principal->name : ""},
         {"code", absl::StatusCodeToString(status.code())},
         {"reason", ErrorReason(status)},
         // The real cause of an internal error stays in our log only.
         {"error", failed ? std::string(status.message()) : std::string()},
         {"ms", absl::ToDoubleMilliseconds(absl::Now() - call.start)}});
  }
  return out;
}

}  // namespace care
