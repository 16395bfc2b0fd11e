#pragma once

// The CareSuite test harness: starts the real binaries (and a private
// redis-server) as child processes on free ports with a temporary data
// folder, waits until they report SERVING, and hands tests a channel for the
// generated stubs. Children are killed when their owner goes away, and by the
// kernel if the test process itself dies (PR_SET_PDEATHSIG), so nothing
// outlives a failed or crashed test.
//
// Children are tied to the thread that started them (that is how
// PR_SET_PDEATHSIG works): start them from the test's own thread.

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace care::testing {

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read,
// closed). Prefer letting a server bind port 0 itself where it can.
int FreePort();

// A fresh directory under $TMPDIR (or /tmp), removed with its contents when
// the object goes away.
class TempDir final {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Reads a whole file; "" when it cannot be read.
std::string ReadFile(const std::string& path);

// Which of `needles` occur in the bytes of any file under `dir` (database,
// WAL, backups; every file but `*.log` unless `include_logs`), each with the
// first file it is in: what an erasure's "nothing left on disk" check reads.
std::map<std::string, std::string> FoundInFiles(const std::string& dir, const std::vector<std::string>& needles,
                                                bool include_logs = false);

// A child process with stdout and stderr appended to a log file. Killed with
// SIGKILL when the object goes away, or when the thread that started it dies.
class ChildProcess final {
 public:
  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // argv[0] is a path or a name looked up on PATH.
  absl::Status Spawn(const std::vector<std::string>& argv, const std::string& log_path);
  bool running();
  pid_t pid() const { return pid_; }
  // SIGKILL and reap; no-op when not running.
  void Kill();
  // Sends `sig`, waits up to `timeout` (then SIGKILLs). Returns the exit code,
  // or -signal when a signal ended it; 0 when it was not running.
  int Signal(int sig, absl::Duration timeout);
  // The exit code (or -signal) of the last child once it ended.
  std::optional<int> exit_status() const { return exit_status_; }

 private:
  bool Reap(bool block);

  pid_t pid_ = -1;
  std::optional<int> exit_status_;
};

// A binary run until it exits by itself, as a start-up refusal does: its exit
// code (or -9 when it was still running after `timeout`) and all it logged.
struct Exited {
  int code = 0;
  std::string log;
};
Exited RunToExit(const std::vector<std::string>& argv, absl::Duration timeout = absl::Seconds(10));

// The argv that starts a service binary on its own: `tokens_file`, a free port
// on loopback, `data_dir`, warnings only, then `flags`.
std::vector<std::string> ServiceArgv(const std::string& binary, const std::string& tokens_file,
                                     const std::string& data_dir, const std::vector<std::string>& flags = {});

// A private redis-server on a free port: no persistence, its own folder,
// and (as in production) a password (requirepass). It also writes a tier
// cache key file for the services that share it. A ServiceProcess started
// with --redis_port=<this port> gets --redis_password_file and
// --tier_cache_key_file added unless its arguments set them (an explicit
// `--redis_password_file=` runs a service without the password).
class RedisServer final {
 public:
  // Starts it and waits until PING answers; see status().
  RedisServer();
  ~RedisServer();

  // OK once it answered PING; otherwise why it did not start (with its log).
  const absl::Status& status() const { return status_; }
  bool ok() const { return status_.ok(); }
  int port() const { return port_; }
  // The requirepass password, and the file holding it.
  const std::string& password() const { return password_; }
  std::string password_file() const;
  // `<key_id> <key>`: the tier cache key file's one line, and the file.
  const std::string& tier_key_id() const { return tier_key_id_; }
  const std::string& tier_key() const { return tier_key_; }
  std::string tier_key_file() const;

  // SIGKILL: the cache disappears at once, like a crashed pod.
  void Kill();
  // Starts it again on the same port (empty, as after a real crash).
  absl::Status Restart();
  std::string log() const;
  std::string log_path() const;

 private:
  absl::Status Start();

  TempDir dir_;
  int port_ = 0;
  std::string password_, tier_key_id_ = "test", tier_key_;
  ChildProcess process_;
  absl::Status status_;
};

// The test run's private PostgreSQL cluster (tests/harness/postgres.sh, the
// CTest fixture "postgres"), when the test runs on that backend: the pg.*
// tests have CARE_TEST_POSTGRES set to the fixture folder. A ServiceProcess
// then gets a fresh database of its own (--database_url and
// --database_password_file) unless its arguments name one; SQLite otherwise.
struct PostgresCluster {
  std::string dir;
  std::string url;            // postgresql://care@127.0.0.1:<port> (no database)
  std::string password_file;  // what services read with --database_password_file
};
std::optional<PostgresCluster> TestPostgres();
// Creates a new, empty database on the cluster; returns its URL.
absl::StatusOr<std::string> CreateTestDatabase(const PostgresCluster& cluster);
// Drops a database made by CreateTestDatabase (its URL), cutting connections.
void DropTestDatabase(const PostgresCluster& cluster, const std::string& database_url);
// Restarts the cluster's server (postgres.sh restart): every connection drops.
// Only for a cluster of the test's own (StartPrivatePostgres): the run's
// shared cluster serves tests running in parallel.
absl::Status RestartTestPostgres(const PostgresCluster& cluster);
// A cluster of the test's own, in a fresh folder; stopped and removed by
// StopPrivatePostgres.
absl::StatusOr<PostgresCluster> StartPrivatePostgres();
void StopPrivatePostgres(const PostgresCluster& cluster);

// Bearer tokens for each role, and the file that declares them (the format
// TokenRegistry reads: `<token> <principal> <roles>` per line).
struct Tokens {
  std::string admin;       // roles: admin
  std::string service;     // roles: service
  std::string agent;       // roles: agent
  std::string supervisor;  // roles: supervisor
  // A valid token that holds only the agent role: for methods agents may not
  // call it must get PERMISSION_DENIED (reason MISSING_ROLE).
  std::string no_role_holder;
  // The suite's own services (issue 16, defect 3): role peer, principals
  // svc:loyalty, svc:promotion, svc:complaint, svc:notification.
  std::string peer_loyalty;
  std::string peer_promotion;
  std::string peer_complaint;
  std::string peer_notification;
  std::string file;
};

// Writes `token` to <dir>/<name>_token (mode 0600) and returns the path: the
// file a service reads with --service_token_file.
std::string WriteTokenFile(const std::string& dir, const std::string& name, const std::string& token);

// Writes <dir>/tokens with fresh random tokens.
Tokens WriteTokens(const std::string& dir);

// A CareSuite binary started for a test with
//   --port=0 --port_file=<dir>/port --listen_host=127.0.0.1 --data_dir=<dir>
//   --tokens_file=<tokens.file> <extra_args...>
// and stdout/stderr appended to <dir>/<binary name>.log.
class ServiceProcess final {
 public:
  // `health_name` is the grpc.health.v1 service name that must report
  // SERVING (e.g. "care.loyalty.v1.LoyaltyService"). Tokens are written to a
  // fresh file unless given (several services of one test share them).
  ServiceProcess(std::string binary, std::string health_name, std::vector<std::string> extra_args,
                 std::optional<Tokens> tokens = std::nullopt);
  ~ServiceProcess();
  ServiceProcess(const ServiceProcess&) = delete;
  ServiceProcess& operator=(const ServiceProcess&) = delete;

  // Starts the binary and waits until the port file appears and
  // Health/Check(health_name) answers SERVING. On failure the process is
  // killed and the status carries the end of its log.
  absl::Status Start(absl::Duration timeout = absl::Seconds(30));
  // Start's two halves: spawn the binary (from the thread that will outlive
  // it: a child dies with the thread that started it), then wait.
  absl::Status Launch();
  absl::Status AwaitServing(absl::Duration timeout = absl::Seconds(30));
  // Same data folder and tokens; the port may change.
  absl::Status Restart(absl::Duration timeout = absl::Seconds(30));
  // SIGKILL and reap: a crash. Drops channel().
  void Kill();
  // SIGTERM and wait (up to `timeout`, then SIGKILL): the exit code, or
  // -signal if a signal ended it. Drops channel(). Note: with gRPC 1.51 the
  // server's shutdown waits until every client connection is closed or its
  // --drain_deadline passes, and idle clients keep their connection; so a
  // test that still holds stubs waits the whole drain deadline (pass a short
  // --drain_deadline, or drop the stubs first).
  int Terminate(absl::Duration timeout = absl::Seconds(30));
  bool running() { return process_.running(); }
  pid_t pid() const { return process_.pid(); }

  int port() const { return port_; }
  std::string address() const;  // "127.0.0.1:<port>"
  // A channel to the current process (a new one after each Start; null
  // after Kill or Terminate).
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  // Health/Check of `service` ("" is the whole server): the serving status
  // name ("SERVING", "NOT_SERVING") or the error code's text.
  std::string HealthStatus(const std::string& service, absl::Duration timeout = absl::Seconds(2)) const;

  const Tokens& tokens() const { return tokens_; }
  const std::string& data_dir() const { return dir_.path(); }
  const std::string& name() const { return name_; }
  // Everything the binary wrote so far, for failure messages.
  std::string log() const;
  std::string log_path() const;
  void set_extra_args(std::vector<std::string> extra_args) { extra_args_ = std::move(extra_args); }
  // How channel() connects (and the start-up health check): insecure unless
  // set, e.g. TLS credentials for a binary started with --tls_cert_file.
  void set_channel_credentials(std::shared_ptr<grpc::ChannelCredentials> credentials) {
    credentials_ = std::move(credentials);
  }

 private:
  static void AddRedisSecrets(std::vector<std::string>& args);
  // On the PostgreSQL backend: this process's database (made on first Start).
  absl::Status AddDatabase(std::vector<std::string>& args);

  std::string binary_;
  std::string name_;
  std::string health_name_;
  std::vector<std::string> extra_args_;
  TempDir dir_;
  Tokens tokens_;
  ChildProcess process_;
  int port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::string database_url_;  // PostgreSQL backend only
  // Kept across restarts: a restarted replica resumes its own job leases at
  // once, as a restarted container of the same pod does.
  std::string replica_id_;
};

// Several processes of one service on ONE database: replicas as Kubernetes
// runs them on PostgreSQL. Each has its own port, data folder, replica id
// and (with --fake_clock) clock; they share the tokens and one fresh
// database. SQLite allows one process per file, so on that backend only a
// single replica starts (StartAll refuses more).
class Replicas final {
 public:
  Replicas(const std::string& binary, const std::string& health_name, int count,
           const std::vector<std::string>& extra_args, std::optional<Tokens> tokens = std::nullopt);
  ~Replicas();
  Replicas(const Replicas&) = delete;
  Replicas& operator=(const Replicas&) = delete;

  // Starts every replica at the same moment and waits until all serve.
  absl::Status StartAll(absl::Duration timeout = absl::Seconds(60));
  ServiceProcess& operator[](size_t i) { return *replicas_.at(i); }
  size_t size() const { return replicas_.size(); }
  // A gRPC target over the running replicas, "ipv4:127.0.0.1:p1,127.0.0.1:p2",
  // for a channel that balances over them.
  std::string target() const;
  const Tokens& tokens() const { return tokens_; }
  const std::string& database_url() const { return database_url_; }

 private:
  Tokens tokens_;
  std::optional<PostgresCluster> cluster_;
  std::string database_url_;
  std::vector<std::unique_ptr<ServiceProcess>> replicas_;
  absl::Status setup_;
};

// A client context carrying `authorization: Bearer <token>` (nothing when
// `token` is empty) and a deadline `timeout` from now.
std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token, absl::Duration timeout = absl::Seconds(10));

// The google.rpc.ErrorInfo reason in the status' details, or "".
std::string Reason(const grpc::Status& status);
// The ErrorInfo metadata value for `key`, or "".
std::string ReasonMetadata(const grpc::Status& status, const std::string& key);
// The field names of the google.rpc.BadRequest in the status' details.
std::vector<std::string> BadFields(const grpc::Status& status);

// The services a server lists through server reflection
// (grpc.reflection.v1alpha), sorted.
absl::StatusOr<std::vector<std::string>> ListServices(const std::shared_ptr<grpc::Channel>& channel,
                                                      absl::Duration timeout = absl::Seconds(5));

// "<CODE>: message [reason]" for assertion messages.
std::string Describe(const grpc::Status& status);

// Calls `call(attempt)` again while it answers ABORTED: a concurrent change
// won on the database and the service asks for a retry with the same id, as
// a client does (each attempt may go to another replica).
template <typename Call>
grpc::Status RetryAborted(Call call, int attempts = 5) {
  grpc::Status s;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    s = call(attempt);
    if (s.error_code() != grpc::StatusCode::ABORTED) break;
  }
  return s;
}

// Calls `call(attempt)` again while it answers what the contract tells a
// client to retry with the same request id: ABORTED (a conflict), and
// DEADLINE_EXCEEDED or UNAVAILABLE (a loaded machine). For set-up calls made
// many at once, and for tests that prove exactly-once under retries.
template <typename Call>
grpc::Status RetryTransient(Call call, int attempts = 5) {
  grpc::Status s;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    s = call(attempt);
    const grpc::StatusCode code = s.error_code();
    if (code != grpc::StatusCode::ABORTED && code != grpc::StatusCode::DEADLINE_EXCEEDED &&
        code != grpc::StatusCode::UNAVAILABLE) {
      break;
    }
  }
  return s;
}

// Runs `op(0..count-1)` on `threads` threads at once.
inline void RunConcurrently(int count, int threads, const std::function<void(int)>& op) {
  std::atomic<int> next{0};
  std::vector<std::thread> workers;
  workers.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (int i = next.fetch_add(1); i < count; i = next.fetch_add(1)) op(i);
    });
  }
  for (auto& w : workers) w.join();
}

}  // namespace care::testing
