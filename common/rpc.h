#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "care/common/v1/common.pb.h"
#include "common/auth.h"
#include "common/errors.h"
#include "common/store.h"
#include "common/trace.h"
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
  std::string method = {};  // full gRPC method
  // The metadata header care-reason (why an admin acts: kept in the audit
  // log; at most 500 characters), "" when not sent.
  std::string reason = {};
};

// The idempotency identity of a mutation (store.h): the caller's own
// request id (or event id) under `scope`, fingerprinted from the request.
inline Once OnceFor(const Caller& caller, absl::string_view scope, absl::string_view key,
                    const google::protobuf::Message& request) {
  return Once{caller.principal->name, std::string(scope), std::string(key), FingerprintOf(request)};
}
// The audit entry of a change to `target` ("member:<id>") by `caller`: its
// method, and the care-reason header unless the request has its own reason.
inline AuditRecord AuditOf(const Caller& caller, std::string target, absl::string_view own_reason = "") {
  return AuditRecord{caller.principal->name, caller.method, std::move(target),
                     own_reason.empty() ? caller.reason : std::string(own_reason)};
}

// OnceFor, for a change the audit log records (Once::audit).
inline Once AuditedOnce(const Caller& caller, absl::string_view scope, absl::string_view key,
                        const google::protobuf::Message& request, AuditRecord audit) {
  Once once = OnceFor(caller, scope, key, request);
  once.audit = std::move(audit);
  return once;
}

// A natural key (an order id names the same order whoever reports it):
// shared by every caller and kept for good.
inline Once SharedOnce(absl::string_view scope, absl::string_view key, const google::protobuf::Message& request) {
  return Once{std::string(kSharedKeys), std::string(scope), std::string(key), FingerprintOf(request)};
}

// The end of most handlers: the domain's result becomes the response, or its
// error the call's status.
template <typename T, typename Response>
absl::Status Respond(absl::StatusOr<T> result, Response* response) {
  if (!result.ok()) return result.status();
  *response = std::move(*result);
  return absl::OkStatus();
}

// Runs every unary call the same way: authenticate the bearer token,
// authorize against the method's `access` option, hop onto the work pool
// (gRPC's callback threads must never block), run the handler, map its
// absl::Status to a gRPC status with ErrorInfo, and log one JSON line.
// Methods are found by their request type, which AIP naming makes unique.
class RpcRuntime final {
 public:
  RpcRuntime(std::string domain, TokenRegistry tokens, WorkPool* pool);

  // Swaps the tokens every later call is authenticated against (a reloaded
  // tokens file); calls already admitted keep the registry they began with.
  void ReplaceTokens(std::shared_ptr<const TokenRegistry> tokens);

  // Indexes `service`'s methods. Fails (and the process must stop) if a
  // method lacks the access option or shares its request type.
  absl::Status RegisterService(const google::protobuf::ServiceDescriptor* service);

  // `fn(const Caller&)` fills the response and returns its status.
  template <typename Fn>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx, const google::protobuf::Message& request, Fn fn) {
    Call call = Begin(ctx, request);
    auto* reactor = new UnaryReactor(*this, call.admitted);
    if (!call.status.ok()) {
      reactor->Finish(End(call, call.status));
      return reactor;
    }
    bool queued = pool_->TrySubmit([this, reactor, ctx, call, fn = std::move(fn)]() mutable {
      TraceScope trace(call.trace);  // the handler's log lines and peer calls
      absl::Status s = ctx->IsCancelled() ? absl::CancelledError() : fn(call.caller);
      reactor->Finish(End(call, s));
    });
    if (!queued) reactor->Finish(End(call, Overloaded()));
    return reactor;
  }

  // For streaming handlers, which manage their own reactors: Begin, End
  // with the status to send, and Done from the reactor's OnDone when
  // `admitted`.
  struct Call {
    const MethodInfo* method = nullptr;
    absl::Time start;
    Caller caller{nullptr, ""};
    // Keeps caller.principal alive while the call runs, even if the
    // tokens file is reloaded meanwhile.
    std::shared_ptr<const TokenRegistry> tokens;
    absl::Status status;
    bool admitted = false;  // counted in in_flight() until Done()
    // The call's server span (a child of the caller's traceparent): make
    // it current (TraceScope) wherever the handler runs.
    TraceContext trace;
  };
  Call Begin(grpc::ServerContextBase* ctx, const google::protobuf::Message& request);
  grpc::Status End(const Call& call, const absl::Status& status);
  void Done(const Call& call) { Done(call.admitted); }
  // A streaming handler wrote one message of `call` (counted in
  // care_rpc_stream_messages_sent_total).
  static void StreamMessageSent(const Call& call);
  static absl::Status Overloaded();

  // While one of these lives on a thread, the call whose handler runs on it
  // has a request body that did not parse: Begin answers INVALID_ARGUMENT
  // (reason MALFORMED_REQUEST) once the caller is authenticated and
  // authorized, and the handler never sees the request.
  // ServerRunner sets it; see MalformedBodyHandler in server.cc.
  class MalformedRequestScope final {
   public:
    MalformedRequestScope();
    ~MalformedRequestScope();
  };

  WorkPool* pool() const { return pool_; }
  // Calls admitted (Begin before the drain started) whose reactor is not
  // done yet, i.e. whose answer has not been written out: what a graceful
  // shutdown waits for before it closes any connection.
  int64_t in_flight() const { return in_flight_.load(); }
  // Set once a graceful shutdown starts. From then on a new call is refused
  // at Begin with UNAVAILABLE (reason SHUTTING_DOWN) before any work, so a
  // refused call never changed anything; live streams end at their next
  // pause (UNAVAILABLE, resume elsewhere) instead of holding the drain.
  void StartDraining() {
    draining_ = true;
    std::lock_guard lock(drain_mu_);
    for (const auto& fn : on_draining_) fn();
  }
  // Runs `fn` when a graceful shutdown starts: a feed that pauses long
  // between reads (woken by its own notifier) is woken so it ends now.
  void OnDraining(std::function<void()> fn) {
    std::lock_guard lock(drain_mu_);
    on_draining_.push_back(std::move(fn));
  }
  bool draining() const { return draining_.load(); }
  const std::string& domain() const { return domain_; }

 private:
  // A unary call's reactor: it ends the call's count in in_flight() only
  // once gRPC is done with the call, after its status was written out;
  // counting up to Finish() would let a drain close connections under
  // answers still on their way.
  class UnaryReactor final : public grpc::ServerUnaryReactor {
   public:
    UnaryReactor(RpcRuntime& rpc, bool admitted) : rpc_(rpc), admitted_(admitted) {}
    void OnDone() override {
      rpc_.Done(admitted_);
      delete this;
    }

   private:
    RpcRuntime& rpc_;
    bool admitted_;
  };
  void Done(bool admitted) {
    if (admitted) --in_flight_;
  }

  std::shared_ptr<const TokenRegistry> tokens() const {
    std::lock_guard lock(tokens_mu_);
    return tokens_;
  }

  std::string domain_;
  mutable std::mutex tokens_mu_;
  std::shared_ptr<const TokenRegistry> tokens_;
  WorkPool* pool_;
  std::unordered_map<const google::protobuf::Descriptor*, std::unique_ptr<MethodInfo>> methods_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<bool> draining_{false};
  std::mutex drain_mu_;
  std::vector<std::function<void()>> on_draining_;
};

}  // namespace care
