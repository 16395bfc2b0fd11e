#pragma once

// Redis high availability for tests: a primary, replicas and Redis Sentinel
// processes watching them, each a child process on a free port in its own
// folder, with a fast failover (the sentinels call a master down after
// `down_after` and may retry a failover soon after).

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/harness/harness.h"

namespace care::testing {

class RedisSentinelGroup final {
 public:
  // Starts the data servers (server 0 the primary, then its replicas, all
  // with requirepass/masterauth `password()`), waits until every replica is
  // in sync, then starts the sentinels and waits until each names the
  // primary; see status(). Sentinels run `redis-sentinel`, or
  // `redis-server --sentinel` where that is not installed.
  explicit RedisSentinelGroup(int replicas = 1, int sentinels = 3, absl::Duration down_after = absl::Seconds(1));
  ~RedisSentinelGroup();
  RedisSentinelGroup(const RedisSentinelGroup&) = delete;
  RedisSentinelGroup& operator=(const RedisSentinelGroup&) = delete;

  const absl::Status& status() const { return status_; }
  bool ok() const { return status_.ok(); }

  // What a service is given: --redis_sentinels=sentinels(),
  // --redis_master_name=master_name(), --redis_password_file,
  // --tier_cache_key_file.
  std::string sentinels() const;  // "127.0.0.1:p,127.0.0.1:q,..."
  static std::string master_name() { return "care"; }
  const std::string& password() const { return password_; }
  std::string password_file() const;
  std::string tier_key_file() const;

  int servers() const { return static_cast<int>(servers_.size()); }
  int port(int server) const { return servers_[server]->port; }
  // The server a sentinel names as master now (-1: none answered).
  int NamedMaster();
  // SIGKILL of a data server or a sentinel, like a crashed pod.
  void KillServer(int server);
  void KillSentinel(int sentinel);
  // Waits until the sentinels agree on a master other than `old` and that
  // server reports role:master; returns it.
  absl::StatusOr<int> WaitForFailover(int old, absl::Duration timeout = absl::Seconds(30));
  // Makes every write so far reach `replicas` replicas of `server` (a write
  // of its own, then WAIT); false if they did not acknowledge in time.
  bool WaitReplicated(int server, int replicas, absl::Duration timeout = absl::Seconds(5));

  // Every process's log, for failure messages.
  std::string logs() const;

 private:
  struct Process {
    int port = 0;
    std::unique_ptr<TempDir> dir;
    ChildProcess process;
    std::string log_path() const { return dir->path() + "/log"; }
  };
  absl::Status StartServer(Process& p, int primary_port);
  absl::Status StartSentinel(Process& p, int primary_port, absl::Duration down_after);

  TempDir dir_;
  std::string password_, tier_key_;
  std::vector<std::unique_ptr<Process>> servers_, sentinels_;
  absl::Status status_;
};

}  // namespace care::testing
