#pragma once

// Set-up shared by the replica tests: several processes of one service on
// one PostgreSQL database (harness Replicas), each with its own port, data
// folder, replica id and fake clock, called only through generated stubs.
// SQLite allows one writer per file, so these tests skip on that backend.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "care/common/v1/runtime.grpc.pb.h"
#include "common/proto_time.h"
#include "gtest/gtest.h"
#include "tests/harness/harness.h"

namespace care::testing {

constexpr int kReplicaCount = 3;
constexpr char kSkipOnSqlite[] = "several replicas share one database only on PostgreSQL";

// Starts `processes` at the same moment and waits until all serve (or one
// failed). They are launched from this thread, since a child dies with the
// thread that spawned it (PR_SET_PDEATHSIG), and only waited for on threads.
inline absl::Status StartTogether(const std::vector<ServiceProcess*>& processes,
                                  absl::Duration timeout = absl::Seconds(90)) {
  for (ServiceProcess* p : processes) {
    if (absl::Status s = p->Launch(); !s.ok()) return s;
  }
  std::vector<absl::Status> results(processes.size());
  std::vector<std::thread> threads;
  threads.reserve(processes.size());
  for (size_t i = 0; i < processes.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = processes[i]->AwaitServing(timeout); });
  }
  for (auto& t : threads) t.join();
  for (const absl::Status& r : results) {
    if (!r.ok()) return r;
  }
  return absl::OkStatus();
}

inline std::vector<ServiceProcess*> Processes(Replicas& replicas) {
  std::vector<ServiceProcess*> out;
  out.reserve(replicas.size());
  for (size_t i = 0; i < replicas.size(); ++i) out.push_back(&replicas[i]);
  return out;
}

// `count` ports free a moment ago, and the gRPC target naming them all.
inline std::vector<int> FreePorts(size_t count) {
  std::vector<int> ports;
  ports.reserve(count);
  for (size_t i = 0; i < count; ++i) ports.push_back(FreePort());
  return ports;
}
inline std::string TargetOf(const std::vector<int>& ports) {
  std::vector<std::string> addresses;
  addresses.reserve(ports.size());
  for (int port : ports) addresses.push_back(absl::StrCat("127.0.0.1:", port));
  return absl::StrCat("ipv4:", absl::StrJoin(addresses, ","));
}

// Gives replica i the fixed port ports[i] and `args` on the replicas'
// shared database, so a restarted replica comes back where callers'
// multi-address targets name it.
inline void PinPorts(Replicas& replicas, const std::vector<int>& ports, const std::vector<std::string>& args) {
  auto cluster = TestPostgres();
  for (size_t i = 0; i < replicas.size(); ++i) {
    std::vector<std::string> own = args;
    if (cluster) {
      own.push_back("--database_url=" + replicas.database_url());
      own.push_back("--database_password_file=" + cluster->password_file);
    }
    own.push_back(absl::StrCat("--port=", ports.at(i)));
    replicas[i].set_extra_args(own);
  }
}
// The same on fresh ports; returns "ipv4:127.0.0.1:p1,127.0.0.1:p2,...".
inline std::string PinPorts(Replicas& replicas, const std::vector<std::string>& args) {
  std::vector<int> ports = FreePorts(replicas.size());
  PinPorts(replicas, ports, args);
  return TargetOf(ports);
}

// Sets one process's fake clock to `t`.
inline void SetClock(const ServiceProcess& process, absl::Time t, const std::string& admin_token) {
  auto clock = care::common::v1::ClockControl::NewStub(process.channel());
  care::common::v1::SetTimeRequest req;
  *req.mutable_time() = ToTimestamp(t);
  care::common::v1::GetTimeResponse r;
  grpc::Status s = clock->SetTime(Ctx(admin_token).get(), req, &r);
  ASSERT_TRUE(s.ok()) << process.name() << ": " << Describe(s);
}

// Sets every replica's fake clock to `t` (jobs run on whichever replica
// holds their lease, on that replica's clock).
inline void SetClocks(Replicas& replicas, absl::Time t, const std::string& admin_token) {
  for (size_t i = 0; i < replicas.size(); ++i) SetClock(replicas[i], t, admin_token);
}

// A stub of `Service` on each replica, in replica order.
template <typename Service>
std::vector<std::unique_ptr<typename Service::Stub>> StubsOf(Replicas& replicas) {
  std::vector<std::unique_ptr<typename Service::Stub>> stubs;
  stubs.reserve(replicas.size());
  for (size_t i = 0; i < replicas.size(); ++i) stubs.push_back(Service::NewStub(replicas[i].channel()));
  return stubs;
}

}  // namespace care::testing
