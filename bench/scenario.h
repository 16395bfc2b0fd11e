#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"

namespace care::bench {

// What a scenario is told when the load generator creates it.
struct ScenarioContext {
  std::shared_ptr<grpc::Channel> channel;
  std::string token;   // bearer token of the run (already on every call's context)
  std::string run_id;  // unique per run: prefix request ids with it so reruns do not collide
  int slot = 0;        // which in-flight slot this instance serves, 0..connections*inflight-1
};

// Issues one kind of call. The load generator creates one instance per
// in-flight slot and calls Call() again only after the previous call's `done`
// ran, so an instance can keep its request and response as plain members.
class Scenario {
 public:
  using Done = std::function<void(grpc::Status)>;
  virtual ~Scenario() = default;
  // Starts one call with `ctx` (token and deadline already set) through the
  // stub's callback API and arranges for `done` to run when it completes.
  // `call_id` is unique within the run (for request ids and keys).
  virtual void Call(grpc::ClientContext* ctx, uint64_t call_id, Done done) = 0;
};

struct ScenarioInfo {
  std::string help;
  std::function<std::unique_ptr<Scenario>(const ScenarioContext&)> create;
  // Optional, run once before the warm-up (e.g. create the members a read
  // scenario looks up). A failure stops the run.
  std::function<absl::Status(const ScenarioContext&)> setup;
};

// Every scenario by its --scenario name. To add one, write its class in
// scenarios.cc (or a file of its own listed in bench/CMakeLists.txt) and add
// a line to the table in Scenarios().
const std::map<std::string, ScenarioInfo>& Scenarios();

}  // namespace care::bench
