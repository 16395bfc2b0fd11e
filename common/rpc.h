#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "care/common/v1/common.pb.h"
#include "common/auth.h"
#include "common/errors.h"
#include "common/work_pool.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace care {

struct MethodMetrics;  // rpc.cc: the method's metric cells, found once

struct MethodInfo {
  std::string full_name;  // "/care.loyalty.v1.LoyaltyService/GetTier"
  care::common::v1::Access access;
  const google::protobuf::FieldDescriptor* request_id_field;  // may be null
  std::shared_ptr<MethodMetrics> metrics = nullptr;
};

// What a handler knows about the call it serves.
struct Caller {
  const Principal* principal;
  std::string request_id;
};

// Runs every unary call the same way: authenticate the bearer token,
// authorize against the method's `access` option, hop onto the work pool
// (gRPC's callback threads must never block), run the handler, map its
// absl::Status to a gRPC status with ErrorInfo, and log one JSON line.
// Methods are found by their request type, which AIP naming makes unique.
class RpcRuntime final {
 public:
  RpcRuntime(std::string domain, TokenRegistry tokens, WorkPool* pool);

  // Indexes `service`'s methods. Fails (and the process must stop) if a
  // method lacks the access option or shares its request type.
  absl::Status RegisterService(const google::protobuf::ServiceDescriptor* service);

  // `fn(const Caller&)` fills the response and returns its status.
  template <typename Fn>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx,
                                  const google::protobuf::Message& request, Fn fn) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    Call call = Begin(ctx, request);
    if (!call.status.ok()) {
      reactor->Finish(End(call, call.status));
      return reactor;
    }
    bool queued = pool_->TrySubmit([this, reactor, ctx, call, fn = std::move(fn)]() mutable {
      absl::Status s = ctx->IsCancelled() ? absl::CancelledError() : fn(call.caller);
      reactor->Finish(End(call, s));
    });
    if (!queued) reactor->Finish(End(call, Overloaded()));
    return reactor;
  }

  // For streaming handlers, which manage their own reactors.
  struct Call {
    const MethodInfo* method = nullptr;
    absl::Time start;
    Caller caller{nullptr, ""};
    absl::Status status;
  };
  Call Begin(grpc::ServerContextBase* ctx, const google::protobuf::Message& request);
  grpc::Status End(const Call& call, const absl::Status& status);
  static absl::Status Overloaded();

  WorkPool* pool() const { return pool_; }
  // Calls between Begin and End: what a graceful shutdown waits for.
  int64_t in_flight() const { return in_flight_.load(); }
  // Set once a graceful shutdown starts: live streams end at their next
  // pause (UNAVAILABLE, resume elsewhere) instead of holding the drain.
  void StartDraining() { draining_ = true; }
  bool draining() const { return draining_.load(); }
  const std::string& domain() const { return domain_; }

 private:
  std::string domain_;
  TokenRegistry tokens_;
  WorkPool* pool_;
  std::unordered_map<const google::protobuf::Descriptor*, std::unique_ptr<MethodInfo>> methods_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<bool> draining_{false};
};

}  // namespace care
