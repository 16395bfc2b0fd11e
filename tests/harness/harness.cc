#include "tests/harness/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "care/testing/reflection_wire.pb.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/harness/postgres_admin.h"

namespace care::testing {
namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "care::testing: %s: %s\n", what.c_str(), std::strerror(errno));
  std::abort();
}

// The last `max` bytes of `text`, for failure messages.
std::string Tail(const std::string& text, size_t max = 6000) {
  if (text.size() <= max) return text;
  return absl::StrCat("[...]\n", text.substr(text.size() - max));
}

bool IsExecutable(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// argv[0] as given when it holds a '/', else its first match on PATH.
std::string Resolve(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "/usr/local/bin:/usr/bin:/bin", ':')) {
    if (dir.empty()) continue;
    std::string candidate = absl::StrCat(dir, "/", program);
    if (IsExecutable(candidate)) return candidate;
  }
  return "";
}

std::string RandomToken() {
  std::random_device rd;
  std::string token;
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 40; ++i) token += kHex[rd() % 16];
  return token;
}

}  // namespace

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) Die("bind 127.0.0.1:0");
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) Die("getsockname");
  ::close(fd);
  return ntohs(addr.sin_port);
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = absl::StrCat(base && *base ? base : "/tmp", "/care-test-XXXXXX");
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) Die(absl::StrCat("mkdtemp ", tmpl));
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::map<std::string, std::string> FoundInFiles(const std::string& dir, const std::vector<std::string>& needles,
                                                bool include_logs) {
  std::map<std::string, std::string> found;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file() || (!include_logs && entry.path().extension() == ".log")) continue;
    const std::string bytes = ReadFile(entry.path().string());
    for (const std::string& needle : needles) {
      if (bytes.find(needle) != std::string::npos) found.emplace(needle, entry.path().string());
    }
  }
  return found;
}

// ---------------------------------------------------------------------------
// ChildProcess

ChildProcess::~ChildProcess() { Kill(); }

absl::Status ChildProcess::Spawn(const std::vector<std::string>& args, const std::string& log_path) {
  if (running()) return absl::FailedPreconditionError("process already running");
  if (args.empty()) return absl::InvalidArgumentError("no program");
  std::string program = Resolve(args[0]);
  if (program.empty() || !IsExecutable(program)) {
    return absl::NotFoundError(absl::StrCat("no executable ", args[0]));
  }
  // Everything the child needs is prepared before fork: between fork and
  // exec only async-signal-safe calls are allowed.
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return absl::InternalError(absl::StrCat("cannot open ", log_path, ": ", std::strerror(errno)));
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  // Exec failures come back through this pipe; a successful exec closes it.
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) {
    ::close(log_fd);
    if (null_fd >= 0) ::close(null_fd);
    return absl::InternalError("pipe2 failed");
  }
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    if (null_fd >= 0) ::close(null_fd);
    ::close(report[0]);
    ::close(report[1]);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    // Die with the test: the kernel sends SIGKILL when the parent goes.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    // A test process may block or ignore signals; the service must not inherit that.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGPIPE, SIG_DFL);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execv(program.c_str(), argv.data());
    int err = errno;
    ssize_t ignored = ::write(report[1], &err, sizeof(err));
    (void)ignored;
    ::_exit(127);
  }
  ::close(log_fd);
  if (null_fd >= 0) ::close(null_fd);
  ::close(report[1]);
  int err = 0;
  ssize_t n;
  do {
    n = ::read(report[0], &err, sizeof(err));
  } while (n < 0 && errno == EINTR);
  ::close(report[0]);
  pid_ = pid;
  exit_status_.reset();
  if (n == static_cast<ssize_t>(sizeof(err))) {
    Reap(true);
    return absl::InternalError(absl::StrCat("exec ", program, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

bool ChildProcess::Reap(bool block) {
  if (pid_ <= 0) return true;
  int st = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &st, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return false;  // still running
  // -1: not our child any more (ECHILD), or neither exited nor signalled.
  exit_status_ = -1;
  if (r > 0 && WIFEXITED(st)) exit_status_ = WEXITSTATUS(st);
  if (r > 0 && WIFSIGNALED(st)) exit_status_ = -WTERMSIG(st);
  pid_ = -1;
  return true;
}

bool ChildProcess::running() { return pid_ > 0 && !Reap(false); }

void ChildProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  Reap(true);
}

int ChildProcess::Signal(int sig, absl::Duration timeout) {
  if (pid_ <= 0) return exit_status_.value_or(0);
  ::kill(pid_, sig);
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (Reap(false)) return *exit_status_;
    absl::SleepFor(absl::Milliseconds(10));
  }
  Kill();
  return exit_status_.value_or(-SIGKILL);
}

Exited RunToExit(const std::vector<std::string>& argv, absl::Duration timeout) {
  TempDir dir;
  const std::string log = dir.path() + "/log";
  ChildProcess child;
  absl::Status spawned = child.Spawn(argv, log);
  if (!spawned.ok()) return {-1, std::string(spawned.message())};
  Exited exited;
  exited.code = child.Signal(0, timeout);
  exited.log = ReadFile(log);
  return exited;
}

namespace {

// The one tombstone key (--privacy_key_file, `<key_id> <key>`) of every
// service a test starts: the same in every process, so replicas on one
// database and restarted services recognise each other's tombstones. A test
// that passes --privacy_key_file itself (`--privacy_key_file=` for none)
// keeps its own.
constexpr char kTestPrivacyKey[] = "test-1 care-suite-test-privacy-key-0123456789abcdef";

bool SetsPrivacyKey(const std::vector<std::string>& args) {
  return std::any_of(args.begin(), args.end(),
                     [](const std::string& a) { return absl::StartsWith(a, "--privacy_key_file="); });
}

// Writes <dir>/privacy_key (mode 0600) and returns the path. Written under a
// unique name and renamed, so a service starting meanwhile never reads half a
// file (tests start services from several threads).
std::string WritePrivacyKeyFile(const std::string& dir) {
  std::string path = absl::StrCat(dir, "/privacy_key");
  static std::atomic<int> serial{0};
  const std::string temp = absl::StrCat(path, ".", getpid(), ".", serial++);
  std::ofstream out(temp);
  out << kTestPrivacyKey << "\n";
  out.close();
  if (!out) Die(absl::StrCat("cannot write ", temp));
  std::filesystem::permissions(temp, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::error_code error;
  std::filesystem::rename(temp, path, error);
  if (error) Die(absl::StrCat("cannot write ", path, ": ", error.message()));
  return path;
}

}  // namespace

std::vector<std::string> ServiceArgv(const std::string& binary, const std::string& tokens_file,
                                     const std::string& data_dir, const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {binary,
                                   "--tokens_file=" + tokens_file,
                                   "--port=0",
                                   "--listen_host=127.0.0.1",
                                   "--data_dir=" + data_dir,
                                   "--log_level=warn"};
  // Beside the tokens file: the data directory may not exist yet (a test of
  // a bad one).
  if (!SetsPrivacyKey(flags)) {
    std::string dir = std::filesystem::path(tokens_file).parent_path().string();
    argv.push_back("--privacy_key_file=" + WritePrivacyKeyFile(dir.empty() ? "." : dir));
  }
  argv.insert(argv.end(), flags.begin(), flags.end());
  return argv;
}

// ---------------------------------------------------------------------------
// RedisServer

namespace {

// The running RedisServers by port, so a ServiceProcess pointed at one gets
// its password and tier cache key files.
struct RedisSecrets {
  std::string password_file, tier_key_file;
};
std::mutex& RedisRegistryMutex() {
  static std::mutex mu;
  return mu;
}
std::map<int, RedisSecrets>& RedisRegistry() {
  static auto* registry = new std::map<int, RedisSecrets>();
  return *registry;
}

void WriteSecret(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text << "\n";
  out.close();
  if (!out) Die(absl::StrCat("cannot write ", path));
  std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

}  // namespace

RedisServer::RedisServer() {
  password_ = RandomToken();
  tier_key_ = RandomToken() + RandomToken();
  WriteSecret(password_file(), password_);
  WriteSecret(tier_key_file(), absl::StrCat(tier_key_id_, " ", tier_key_));
  // Another process may take the free port before redis binds it: retry.
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = FreePort();
    status_ = Start();
    if (status_.ok()) break;
  }
  std::lock_guard lock(RedisRegistryMutex());
  RedisRegistry()[port_] = RedisSecrets{password_file(), tier_key_file()};
}

RedisServer::~RedisServer() {
  process_.Kill();
  std::lock_guard lock(RedisRegistryMutex());
  RedisRegistry().erase(port_);
}

std::string RedisServer::password_file() const { return absl::StrCat(dir_.path(), "/redis_password"); }
std::string RedisServer::tier_key_file() const { return absl::StrCat(dir_.path(), "/tier_cache_key"); }

absl::Status RedisServer::Start() {
  std::string binary = Resolve("redis-server");
  if (binary.empty()) binary = "/usr/bin/redis-server";
  std::vector<std::string> args =
      {binary,         "--port", absl::StrCat(port_), "--bind", "127.0.0.1", "--save",    "",
       "--appendonly", "no",     "--daemonize",       "no",     "--dir",     dir_.path(), "--requirepass",
       password_};
  if (absl::Status s = process_.Spawn(args, log_path()); !s.ok()) return s;
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (!process_.running()) {
      return absl::UnavailableError(absl::StrCat("redis-server exited (", process_.exit_status().value_or(0),
                                                 ") before answering PING:\n", Tail(log())));
    }
    timeval tv{0, 200000};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (c != nullptr && c->err == 0) {
      auto* auth = static_cast<redisReply*>(redisCommand(c, "AUTH %s", password_.c_str()));
      if (auth) freeReplyObject(auth);
      auto* reply = static_cast<redisReply*>(redisCommand(c, "PING"));
      bool pong = reply != nullptr && reply->type == REDIS_REPLY_STATUS &&
                  std::string(reply->str, reply->len) == "PONG";
      if (reply) freeReplyObject(reply);
      redisFree(c);
      if (pong) return absl::OkStatus();
    } else if (c != nullptr) {
      redisFree(c);
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  process_.Kill();
  return absl::DeadlineExceededError(absl::StrCat("redis-server did not answer PING within 10s:\n", Tail(log())));
}

void RedisServer::Kill() { process_.Kill(); }

absl::Status RedisServer::Restart() {
  process_.Kill();
  status_ = Start();
  return status_;
}

std::string RedisServer::log_path() const { return absl::StrCat(dir_.path(), "/redis.log"); }
std::string RedisServer::log() const { return ReadFile(log_path()); }

// ---------------------------------------------------------------------------
// Tokens

Tokens WriteTokens(const std::string& dir) {
  Tokens t;
  t.admin = RandomToken();
  t.service = RandomToken();
  t.agent = RandomToken();
  t.supervisor = RandomToken();
  t.no_role_holder = RandomToken();
  t.peer_loyalty = RandomToken();
  t.peer_promotion = RandomToken();
  t.peer_complaint = RandomToken();
  t.peer_notification = RandomToken();
  t.file = absl::StrCat(dir, "/tokens");
  std::ofstream out(t.file);
  out << "# Written by care::testing::WriteTokens: <token> <principal> <roles>\n"
      << t.admin << " admin:test admin\n"
      << t.service << " backend:test service\n"
      << t.agent << " agent:test agent\n"
      << t.supervisor << " supervisor:test supervisor\n"
      << t.no_role_holder << " limited:test agent\n"
      << t.peer_loyalty << " svc:loyalty peer\n"
      << t.peer_promotion << " svc:promotion peer\n"
      << t.peer_complaint << " svc:complaint peer\n"
      << t.peer_notification << " svc:notification peer\n";
  out.close();
  if (!out) Die(absl::StrCat("cannot write ", t.file));
  // As an operator should keep it: a more open file is warned about.
  std::filesystem::permissions(t.file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  return t;
}

std::string WriteTokenFile(const std::string& dir, const std::string& name, const std::string& token) {
  std::string path = absl::StrCat(dir, "/", name, "_token");
  std::ofstream out(path);
  out << token << "\n";
  out.close();
  if (!out) Die(absl::StrCat("cannot write ", path));
  std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  return path;
}

// ---------------------------------------------------------------------------
// PostgreSQL

std::optional<PostgresCluster> TestPostgres() {
  const char* dir = std::getenv("CARE_TEST_POSTGRES");
  if (dir == nullptr || *dir == '\0') return std::nullopt;
  PostgresCluster c{dir, std::string(absl::StripAsciiWhitespace(ReadFile(absl::StrCat(dir, "/url")))),
                    absl::StrCat(dir, "/password")};
  if (c.url.empty()) return std::nullopt;
  return c;
}

absl::Status PostgresAdminStatement(const PostgresCluster& cluster, const std::string& sql) {
  const std::string url = cluster.url + "/postgres";
  const std::string password(absl::StripAsciiWhitespace(ReadFile(cluster.password_file)));
  const char* keys[] = {"dbname", "password", "connect_timeout", nullptr};
  const char* values[] = {url.c_str(), password.c_str(), "10", nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, 1);
  absl::Status out = absl::OkStatus();
  if (PQstatus(conn) != CONNECTION_OK) {
    out = absl::UnavailableError(absl::StrCat("postgres: ", PQerrorMessage(conn)));
  } else {
    PGresult* r = PQexec(conn, sql.c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
      out = absl::InternalError(absl::StrCat("postgres [", sql, "]: ", PQresultErrorMessage(r)));
    }
    PQclear(r);
  }
  PQfinish(conn);
  return out;
}

absl::StatusOr<std::string> CreateTestDatabase(const PostgresCluster& cluster) {
  static std::atomic<int> next{0};
  const std::string name = absl::StrCat("t", getpid(), "_", next++, "_", absl::ToUnixMicros(absl::Now()) % 1000000);
  if (absl::Status s = PostgresAdminStatement(cluster, absl::StrCat("CREATE DATABASE ", name)); !s.ok()) return s;
  return absl::StrCat(cluster.url, "/", name);
}

void DropTestDatabase(const PostgresCluster& cluster, const std::string& database_url) {
  const std::string name = database_url.substr(database_url.rfind('/') + 1);
  PostgresAdminStatement(cluster, absl::StrCat("DROP DATABASE IF EXISTS ", name, " WITH (FORCE)")).IgnoreError();
}

absl::Status RestartTestPostgres(const PostgresCluster& cluster) {
  Exited done = RunToExit({"/bin/bash", CARE_TEST_POSTGRES_SCRIPT, "restart", cluster.dir}, absl::Seconds(90));
  if (done.code != 0) return absl::InternalError(absl::StrCat("postgres restart failed: ", done.log));
  return absl::OkStatus();
}

absl::StatusOr<PostgresCluster> StartPrivatePostgres() {
  static std::atomic<int> next{0};
  // Not under a TempDir: as root the server runs as `postgres`, which must
  // reach the folder.
  const std::string dir = absl::StrCat("/tmp/care-pg-", getpid(), "-", next++);
  Exited done = RunToExit({"/bin/bash", CARE_TEST_POSTGRES_SCRIPT, "start", dir}, absl::Seconds(120));
  if (done.code != 0) return absl::InternalError(absl::StrCat("postgres start failed: ", done.log));
  return PostgresCluster{dir, std::string(absl::StripAsciiWhitespace(ReadFile(dir + "/url"))), dir + "/password"};
}

void StopPrivatePostgres(const PostgresCluster& cluster) {
  RunToExit({"/bin/bash", CARE_TEST_POSTGRES_SCRIPT, "stop", cluster.dir}, absl::Seconds(60));
}

// ---------------------------------------------------------------------------
// ServiceProcess

ServiceProcess::ServiceProcess(std::string binary, std::string health_name, std::vector<std::string> extra_args,
                               std::optional<Tokens> tokens)
    : binary_(std::move(binary)),
      name_(std::filesystem::path(binary_).filename().string()),
      health_name_(std::move(health_name)),
      extra_args_(std::move(extra_args)) {
  tokens_ = tokens ? *std::move(tokens) : WriteTokens(dir_.path());
  replica_id_ = absl::StrCat(name_, "-", RandomToken().substr(0, 8));
}

ServiceProcess::~ServiceProcess() {
  process_.Kill();
  if (auto cluster = TestPostgres(); cluster && !database_url_.empty()) DropTestDatabase(*cluster, database_url_);
}

std::string ServiceProcess::log_path() const { return absl::StrCat(dir_.path(), "/", name_, ".log"); }
std::string ServiceProcess::log() const { return ReadFile(log_path()); }
std::string ServiceProcess::address() const { return absl::StrCat("127.0.0.1:", port_); }

std::string ServiceProcess::HealthStatus(const std::string& service, absl::Duration timeout) const {
  if (!channel_) return "NO_CHANNEL";
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  auto ctx = Ctx("", timeout);
  grpc::Status s = stub->Check(ctx.get(), request, &response);
  if (!s.ok()) return absl::StatusCodeToString(static_cast<absl::StatusCode>(s.error_code()));
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

// A service pointed at a harness RedisServer gets its password and tier
// cache key files, unless the test set those flags itself.
void ServiceProcess::AddRedisSecrets(std::vector<std::string>& args) {
  std::optional<RedisSecrets> secrets;
  bool has_password = false, has_key = false;
  for (const std::string& a : args) {
    has_password |= absl::StartsWith(a, "--redis_password_file=");
    has_key |= absl::StartsWith(a, "--tier_cache_key_file=");
    int port = 0;
    if (absl::StartsWith(a, "--redis_port=") && absl::SimpleAtoi(a.substr(13), &port)) {
      std::lock_guard lock(RedisRegistryMutex());
      auto it = RedisRegistry().find(port);
      if (it != RedisRegistry().end()) secrets = it->second;
    }
  }
  if (!secrets) return;
  if (!has_password) args.push_back("--redis_password_file=" + secrets->password_file);
  if (!has_key) args.push_back("--tier_cache_key_file=" + secrets->tier_key_file);
}

absl::Status ServiceProcess::AddDatabase(std::vector<std::string>& args) {
  auto cluster = TestPostgres();
  if (!cluster) return absl::OkStatus();
  for (const std::string& a : args) {
    if (absl::StartsWith(a, "--database_url=")) return absl::OkStatus();
  }
  if (database_url_.empty()) {
    auto url = CreateTestDatabase(*cluster);
    if (!url.ok()) return url.status();
    database_url_ = *std::move(url);
  }
  args.push_back("--database_url=" + database_url_);
  args.push_back("--database_password_file=" + cluster->password_file);
  return absl::OkStatus();
}

absl::Status ServiceProcess::Start(absl::Duration timeout) {
  if (absl::Status s = Launch(); !s.ok()) return s;
  return AwaitServing(timeout);
}

absl::Status ServiceProcess::Launch() {
  if (process_.running()) return absl::FailedPreconditionError(absl::StrCat(name_, " is already running"));
  std::string port_file = absl::StrCat(dir_.path(), "/port");
  std::filesystem::remove(port_file);
  port_ = 0;
  channel_.reset();
  std::vector<std::string> args = {binary_,
                                   "--port=0",
                                   absl::StrCat("--port_file=", port_file),
                                   "--listen_host=127.0.0.1",
                                   absl::StrCat("--data_dir=", dir_.path()),
                                   absl::StrCat("--tokens_file=", tokens_.file)};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  // Job leases (PostgreSQL): a stable holder, and a short ttl so a killed
  // replica's jobs move within a test's patience.
  bool has_replica_id = false, has_lease_ttl = false;
  for (const std::string& a : args) {
    has_replica_id |= absl::StartsWith(a, "--replica_id=");
    has_lease_ttl |= absl::StartsWith(a, "--lease_ttl=");
  }
  if (!has_replica_id) args.push_back("--replica_id=" + replica_id_);
  if (!has_lease_ttl) args.push_back("--lease_ttl=2s");
  if (!SetsPrivacyKey(args)) args.push_back("--privacy_key_file=" + WritePrivacyKeyFile(dir_.path()));
  AddRedisSecrets(args);
  if (absl::Status s = AddDatabase(args); !s.ok()) return s;
  { std::ofstream(log_path(), std::ios::app) << "=== care::testing: starting " << name_ << " ===\n"; }
  return process_.Spawn(args, log_path());
}

absl::Status ServiceProcess::AwaitServing(absl::Duration timeout) {
  std::string port_file = absl::StrCat(dir_.path(), "/port");
  absl::Time deadline = absl::Now() + timeout;
  std::string last_health = "no port file yet";
  while (absl::Now() < deadline) {
    if (!process_.running()) {
      return absl::UnavailableError(absl::StrCat(name_, " exited with ", process_.exit_status().value_or(0),
                                                 " before serving; its log:\n", Tail(log())));
    }
    if (port_ == 0) {
      std::string text = ReadFile(port_file);
      int port = 0;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &port) && port > 0) {
        port_ = port;
        grpc::ChannelArguments channel_args;
        // Reconnect quickly: a test restarts servers and should not wait
        // out gRPC's default one-second backoff.
        channel_args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
        channel_args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
        channel_args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
        channel_ = grpc::CreateCustomChannel(address(),
                                             credentials_ ? credentials_ : grpc::InsecureChannelCredentials(),
                                             channel_args);
      }
    }
    if (channel_) {
      last_health = HealthStatus(health_name_, absl::Milliseconds(500));
      if (last_health == "SERVING") return absl::OkStatus();
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  process_.Kill();
  return absl::DeadlineExceededError(absl::StrCat(name_, " not SERVING \"", health_name_, "\" within ",
                                                  absl::FormatDuration(timeout), " (last: ", last_health,
                                                  "); its log:\n", Tail(log())));
}

absl::Status ServiceProcess::Restart(absl::Duration timeout) {
  if (process_.running()) Terminate();
  return Start(timeout);
}

void ServiceProcess::Kill() {
  channel_.reset();
  process_.Kill();
}

int ServiceProcess::Terminate(absl::Duration timeout) {
  // Our own idle connection would hold the server's shutdown until its
  // drain deadline (see harness.h); callers' stubs still hold theirs.
  channel_.reset();
  return process_.Signal(SIGTERM, timeout);
}

// ---------------------------------------------------------------------------
// Replicas

Replicas::Replicas(const std::string& binary, const std::string& health_name, int count,
                   const std::vector<std::string>& extra_args, std::optional<Tokens> tokens)
    : cluster_(TestPostgres()) {
  std::vector<std::string> args = extra_args;
  if (cluster_) {
    auto url = CreateTestDatabase(*cluster_);
    if (url.ok()) {
      database_url_ = *url;
      args.push_back("--database_url=" + database_url_);
      args.push_back("--database_password_file=" + cluster_->password_file);
    } else {
      setup_ = url.status();
    }
  } else if (count > 1) {
    setup_ = absl::FailedPreconditionError("several replicas need the PostgreSQL backend (SQLite: one writer)");
  }
  for (int i = 0; i < count; ++i) {
    replicas_.push_back(std::make_unique<ServiceProcess>(binary, health_name, args, tokens));
    if (!tokens) tokens = replicas_.front()->tokens();  // one set for all
  }
  tokens_ = replicas_.front()->tokens();
}

Replicas::~Replicas() {
  for (auto& r : replicas_) r->Kill();
  replicas_.clear();
  if (cluster_ && !database_url_.empty()) DropTestDatabase(*cluster_, database_url_);
}

absl::Status Replicas::StartAll(absl::Duration timeout) {
  if (!setup_.ok()) return setup_;
  // Launched from this thread: a child dies with the thread that started
  // it (PR_SET_PDEATHSIG), so only the waiting runs on threads.
  for (auto& r : replicas_) {
    if (absl::Status s = r->Launch(); !s.ok()) return s;
  }
  std::vector<absl::Status> results(replicas_.size());
  std::vector<std::thread> threads;
  threads.reserve(replicas_.size());
  for (size_t i = 0; i < replicas_.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = replicas_[i]->AwaitServing(timeout); });
  }
  for (auto& t : threads) t.join();
  for (const absl::Status& s : results) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string Replicas::target() const {
  std::vector<std::string> addresses;
  for (const auto& r : replicas_) {
    if (r->port() != 0 && r->channel()) addresses.push_back(r->address());
  }
  return absl::StrCat("ipv4:", absl::StrJoin(addresses, ","));
}

// ---------------------------------------------------------------------------
// Calls

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token, absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
  return ctx;
}

namespace {

template <typename Detail>
bool FindDetail(const grpc::Status& status, Detail* out) {
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) return false;
  for (const auto& any : details.details()) {
    if (any.Is<Detail>() && any.UnpackTo(out)) return true;
  }
  return false;
}

}  // namespace

std::string Reason(const grpc::Status& status) {
  google::rpc::ErrorInfo info;
  return FindDetail(status, &info) ? info.reason() : "";
}

std::string ReasonMetadata(const grpc::Status& status, const std::string& key) {
  google::rpc::ErrorInfo info;
  if (!FindDetail(status, &info)) return "";
  auto it = info.metadata().find(key);
  return it == info.metadata().end() ? "" : it->second;
}

std::vector<std::string> BadFields(const grpc::Status& status) {
  google::rpc::BadRequest bad;
  std::vector<std::string> fields;
  if (!FindDetail(status, &bad)) return fields;
  for (const auto& v : bad.field_violations()) fields.push_back(v.field());
  return fields;
}

absl::StatusOr<std::vector<std::string>> ListServices(const std::shared_ptr<grpc::Channel>& channel,
                                                      absl::Duration timeout) {
  using care::testing::wire::ServerReflectionRequest;
  using care::testing::wire::ServerReflectionResponse;
  static const grpc::internal::RpcMethod kMethod("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                                 grpc::internal::RpcMethod::BIDI_STREAMING);
  auto ctx = Ctx("", timeout);
  std::unique_ptr<grpc::ClientReaderWriter<ServerReflectionRequest, ServerReflectionResponse>> stream(
      grpc::internal::ClientReaderWriterFactory<ServerReflectionRequest, ServerReflectionResponse>::Create(
          channel.get(), kMethod, ctx.get()));
  ServerReflectionRequest request;
  request.set_list_services("*");
  ServerReflectionResponse response;
  bool got = stream->Write(request) && stream->Read(&response);
  stream->WritesDone();
  ServerReflectionResponse extra;
  while (stream->Read(&extra)) {
  }
  grpc::Status status = stream->Finish();
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat("server reflection: ", status.error_message()));
  }
  if (!got) return absl::UnavailableError("server reflection: no answer");
  if (response.has_error_response()) {
    return absl::InternalError(absl::StrCat("server reflection: ", response.error_response().error_message()));
  }
  std::vector<std::string> names;
  for (const auto& s : response.list_services_response().service()) names.push_back(s.name());
  std::sort(names.begin(), names.end());
  return names;
}

std::string Describe(const grpc::Status& status) {
  return absl::StrCat(absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())), ": ",
                      status.error_message(), " [", Reason(status), "]");
}

}  // namespace care::testing
