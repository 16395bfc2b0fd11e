// bench_server: serves care.common.v1.Diagnostics/Ping three ways, so the
// server API the suite is built on can be chosen by measurement:
//   callback_pool    the real stack (common::ServerRunner): callback API, then
//                    a hop onto the WorkPool where blocking work would run
//   callback_inline  callback API, answered on gRPC's own thread
//   sync             sync API, answered on gRPC's sync-server thread pool
// All three authenticate, authorize and log each call through RpcRuntime, so
// they differ only in the API and the pool hop.

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "care/common/v1/runtime.grpc.pb.h"
#include "common/auth.h"
#include "common/config.h"
#include "common/log.h"
#include "common/rpc.h"
#include "common/server.h"
#include "google/protobuf/util/time_util.h"

namespace care::bench {
namespace {

using care::common::v1::PingRequest;
using care::common::v1::PingResponse;

// The same answer as ServerRunner's Diagnostics.Ping.
void Answer(const PingRequest& req, PingResponse* resp) {
  resp->set_payload(req.payload());
  *resp->mutable_server_time() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      absl::ToUnixNanos(absl::Now()));
}

class InlinePing final : public care::common::v1::Diagnostics::CallbackService {
 public:
  explicit InlinePing(RpcRuntime& rpc) : rpc_(rpc) {}
  grpc::ServerUnaryReactor* Ping(grpc::CallbackServerContext* ctx, const PingRequest* req,
                                 PingResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    RpcRuntime::Call call = rpc_.Begin(ctx, *req);
    if (call.status.ok()) Answer(*req, resp);
    reactor->Finish(rpc_.End(call, call.status));
    return reactor;
  }

 private:
  RpcRuntime& rpc_;
};

class SyncPing final : public care::common::v1::Diagnostics::Service {
 public:
  explicit SyncPing(RpcRuntime& rpc) : rpc_(rpc) {}
  grpc::Status Ping(grpc::ServerContext* ctx, const PingRequest* req, PingResponse* resp) override {
    RpcRuntime::Call call = rpc_.Begin(ctx, *req);
    if (call.status.ok()) Answer(*req, resp);
    return rpc_.End(call, call.status);
  }

 private:
  RpcRuntime& rpc_;
};

struct SyncOptions {
  int cqs, min_pollers, max_pollers;
};

// The callback_inline and sync modes: a bare server with the runner's
// keepalive settings, stopped by SIGTERM/SIGINT like the runner.
int ServeAlone(const ServerConfig& config, const std::string& api, const SyncOptions& sync) {
  SetLogService(config.service);
  LogLevel level = LogLevel::kInfo;
  ParseLogLevel(config.log_level, &level);
  SetLogLevel(level);
  auto tokens = TokenRegistry::FromFile(config.tokens_file);
  if (!tokens.ok()) Fatal(tokens.status().message());
  // No pool: these modes answer on the thread gRPC hands the call to.
  RpcRuntime rpc(absl::StrCat(config.service, ".care"), std::move(*tokens), nullptr);
  const auto* service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      care::common::v1::Diagnostics::service_full_name());
  if (absl::Status s = rpc.RegisterService(service); !s.ok()) {
    Fatal(s.message());
  }
  InlinePing inline_ping(rpc);
  SyncPing sync_ping(rpc);

  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(absl::StrCat(config.listen_host, ":", config.port), grpc::InsecureServerCredentials(),
                           &bound_port);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  if (api == "sync") {
    builder.SetSyncServerOption(grpc::ServerBuilder::NUM_CQS, sync.cqs);
    builder.SetSyncServerOption(grpc::ServerBuilder::MIN_POLLERS, sync.min_pollers);
    builder.SetSyncServerOption(grpc::ServerBuilder::MAX_POLLERS, sync.max_pollers);
    builder.RegisterService(&sync_ping);
  } else {
    builder.RegisterService(&inline_ping);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound_port == 0) Fatal(absl::StrCat("cannot listen on port ", config.port));
  if (!config.port_file.empty()) {
    std::string tmp = config.port_file + ".tmp";
    std::ofstream(tmp) << bound_port << "\n";
    std::rename(tmp.c_str(), config.port_file.c_str());
  }
  LogInfo("serving", {{"port", bound_port}, {"api", api}});

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  int sig = 0;
  sigwait(&signals, &sig);
  server->Shutdown(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(config.drain_deadline));
  server->Wait();
  return 0;
}

int Main(int argc, char** argv) {
  // Block the termination signals before gRPC starts any thread, so only
  // sigwait() sees them (ServerRunner does the same for its mode).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  ConfigReader reader(argc, argv,
                      "bench_server: serves care.common.v1.Diagnostics/Ping through the callback "
                      "API with the work pool (the suite's stack), the callback API inline, or the "
                      "sync API, to compare them with care_load.");
  ServerConfig config = ServerConfig::Read(reader, "bench", 50090);
  std::string api = reader.String("api", "callback_pool", "callback_pool, callback_inline or sync");
  // gRPC's own defaults: one completion queue, 1 to 2 polling threads.
  SyncOptions sync;
  sync.cqs = static_cast<int>(reader.Int("sync_cqs", 1, 1, 64, "sync API: completion queues"));
  sync.min_pollers = static_cast<int>(reader.Int("sync_min_pollers", 1, 1, 256,
                                                 "sync API: minimum polling threads per queue"));
  sync.max_pollers = static_cast<int>(reader.Int("sync_max_pollers", 2, 1, 256,
                                                 "sync API: maximum polling threads per queue"));
  if (api != "callback_pool" && api != "callback_inline" && api != "sync") {
    reader.AddError(absl::StrCat("api \"", api, "\" is not callback_pool, callback_inline or sync"));
  }
  if (api != "callback_pool" && !config.tls_cert_file.empty()) {
    reader.AddError("TLS is only supported with --api=callback_pool");
  }
  reader.Finish();

  if (api == "callback_pool") {
    // The suite's real stack, nothing added: Diagnostics.Ping is built in.
    ServerRunner runner(config, "care.bench");
    return runner.Run();
  }
  return ServeAlone(config, api, sync);
}

}  // namespace
}  // namespace care::bench

int main(int argc, char** argv) { return care::bench::Main(argc, argv); }
