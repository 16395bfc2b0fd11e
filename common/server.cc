#include "common/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/rpc_service_method.h>
#include <grpcpp/security/server_credentials.h>
#include <malloc.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "care/common/v1/runtime.grpc.pb.h"
#include "common/audit.h"
#include "common/auth.h"
#include "common/lease.h"
#include "common/log.h"
#include "common/otlp.h"
#include "common/outbox_admin.h"
#include "common/postgres.h"
#include "common/proto_time.h"
#include "common/sqlite.h"
#include "common/tokens_watch.h"

namespace care {
namespace {

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

// Written whole then renamed, so a reader never sees a partial number.
void WritePortFile(const std::string& path, int port) {
  std::string tmp = path + ".tmp";
  std::ofstream(tmp) << port << "\n";
  std::rename(tmp.c_str(), path.c_str());
}

// gRPC 1.51's generated callback handler answers a unary call whose body
// does not parse with UNIMPLEMENTED and an empty message, without calling
// the service (server_callback_handlers.h). This wrapper hands such a call
// to the service with an OK status instead, its request being the
// half-parsed message the generated handler keeps in its own holder, and
// marks it, so RpcRuntime::Begin answers INVALID_ARGUMENT before anything
// reads the request. Streaming handlers destroy that message on failure:
// they keep gRPC's answer.
class MalformedBodyHandler final : public grpc::internal::MethodHandler {
 public:
  explicit MalformedBodyHandler(std::unique_ptr<grpc::internal::RpcServiceMethod> generated)
      : generated_(std::move(generated)) {}

  void RunHandler(const HandlerParameter& param) override {
    if (param.status.ok()) {
      generated_->handler()->RunHandler(param);
      return;
    }
    RpcRuntime::MalformedRequestScope malformed;
    generated_->handler()->RunHandler(HandlerParameter(param.call, param.server_context, param.request,
                                                       grpc::Status::OK, param.internal_data, param.call_requester));
  }
  void* Deserialize(grpc_call* call, grpc_byte_buffer* req, grpc::Status* status, void** handler_data) override {
    return generated_->handler()->Deserialize(call, req, status, handler_data);
  }

 private:
  std::unique_ptr<grpc::internal::RpcServiceMethod> generated_;
};

// grpc::Service keeps its methods in a private member and offers no way to
// wrap a handler (SetHandler deletes the one it replaces). An explicit
// instantiation may name a private member (C++20 [temp.spec]/6: access is
// not checked there); this one defines ServiceMethods(), which returns it.
using MethodList = std::vector<std::unique_ptr<grpc::internal::RpcServiceMethod>>;
template <MethodList grpc::Service::*kMethods>
struct ServiceMethodsAccess {
  friend MethodList& ServiceMethods(grpc::Service& service) { return service.*kMethods; }
};
template struct ServiceMethodsAccess<&grpc::Service::methods_>;
MethodList& ServiceMethods(grpc::Service& service);

void WrapUnaryCallbackMethods(grpc::Service* service) {
  using grpc::internal::RpcMethod;
  using grpc::internal::RpcServiceMethod;
  for (std::unique_ptr<RpcServiceMethod>& method : ServiceMethods(*service)) {
    if (!method || method->api_type() != RpcServiceMethod::ApiType::CALL_BACK ||
        method->method_type() != RpcMethod::NORMAL_RPC) {
      continue;
    }
    const char* name = method->name();
    auto wrapped = std::make_unique<RpcServiceMethod>(name, RpcMethod::NORMAL_RPC,
                                                      new MalformedBodyHandler(std::move(method)));
    wrapped->SetServerApiType(RpcServiceMethod::ApiType::CALL_BACK);
    method = std::move(wrapped);
  }
}

}  // namespace

void Fatal(absl::string_view message) {
  LogError("fatal", {{"error", message}});
  std::fprintf(stderr, "fatal: %.*s\n", static_cast<int>(message.size()), message.data());
  std::exit(1);
}

namespace {

// The TLS flags belong together: a key without its certificate, mutual TLS
// without TLS, or files that do not hold what they should stop start-up.
void CheckTls(ConfigReader& c, ServerConfig& s) {
  if (s.tls_cert_file.empty() != s.tls_key_file.empty()) {
    c.AddError("tls_cert_file and tls_key_file go together");
  } else if (!s.tls_cert_file.empty()) {
    if (absl::Status st = CheckKeyPair(s.tls_cert_file, s.tls_key_file); !st.ok()) {
      c.AddError(absl::StrCat("tls_cert_file/tls_key_file: ", st.message()));
    }
  }
  if (!s.tls_client_ca_file.empty()) {
    if (s.tls_cert_file.empty()) {
      c.AddError("tls_client_ca_file needs tls_cert_file and tls_key_file (mutual TLS is TLS first)");
    } else if (absl::Status st = CheckCertificatesFile(s.tls_client_ca_file); !st.ok()) {
      c.AddError(absl::StrCat("tls_client_ca_file: ", st.message()));
    }
  }
  if (s.tls_reload_interval < absl::Seconds(1) || s.tls_reload_interval > absl::Hours(1)) {
    c.AddError("tls_reload_interval must be between 1s and 1h");
  }
  s.peer_tls.reload_interval = s.tls_reload_interval;
}

// Secrets are read now, so a missing or empty file stops start-up (exit 2)
// instead of silently running without AUTH or signatures.
void ReadRedisSecrets(ConfigReader& c, ServerConfig& s, const std::string& password_file,
                      const std::string& tier_key_file) {
  if (!password_file.empty()) {
    auto password = ReadSecretFile(password_file);
    if (!password.ok()) {
      c.AddError(absl::StrCat("redis_password_file: ", password.status().message()));
    } else if (password->empty()) {
      c.AddError(absl::StrCat("redis_password_file: ", password_file, " is empty"));
    } else if (password->size() > 512 || password->find_first_of("\r\n") != std::string::npos) {
      c.AddError("redis_password_file: the password must be one line of at most 512 bytes");
    } else {
      s.redis_password = *std::move(password);
    }
  }
  if (!s.redis_user.empty() && password_file.empty()) c.AddError("redis_user needs redis_password_file");
  if (s.redis_user.size() > 128) c.AddError("redis_user must be at most 128 bytes");
  if (!tier_key_file.empty()) {
    auto keys = ReadKeyFile(tier_key_file);
    if (keys.ok()) {
      s.tier_cache_keys = *std::move(keys);
    } else {
      c.AddError(absl::StrCat("tier_cache_key_file: ", keys.status().message()));
    }
  }
  s.tier_cache_key_file = tier_key_file;
}

// Read now, as the other secrets: a missing, empty or weak key file stops
// start-up (exit 2) naming the flag.
void ReadPrivacyKeys(ConfigReader& c, ServerConfig& s) {
  s.privacy_key_file = c.String(
      "privacy_key_file", "",
      "HMAC keys of erased people's tombstones, one `<key_id> <key>` per line (key: 32+ bytes); the first writes, "
      "all are checked; never drop a key that wrote tombstones (docs/privacy.md)");
  if (s.privacy_key_file.empty()) return;
  auto keys = ReadKeyFile(s.privacy_key_file);
  if (keys.ok()) {
    s.privacy_keys = *std::move(keys);
  } else {
    c.AddError(absl::StrCat("privacy_key_file: ", keys.status().message()));
  }
}

// "host:port,host:port" of the sentinels that know the master's address.
void ReadSentinels(ConfigReader& c, ServerConfig& s) {
  const std::string sentinels = c.String(
      "redis_sentinels", "",
      "Redis Sentinel addresses host:port,host:port (3 or more for a quorum): the master is asked of them and "
      "followed through failovers; redis_host/redis_port are then not used");
  s.redis_master_name = c.String("redis_master_name", "", "the master's name in the sentinels (with redis_sentinels)");
  for (absl::string_view item : absl::StrSplit(sentinels, ',', absl::SkipWhitespace())) {
    item = absl::StripAsciiWhitespace(item);
    auto colon = item.rfind(':');
    int port = 0;
    if (colon == absl::string_view::npos || colon == 0 || !absl::SimpleAtoi(item.substr(colon + 1), &port) ||
        port <= 0 || port > 65535) {
      c.AddError(absl::StrCat("redis_sentinels: \"", item, "\" is not host:port"));
      continue;
    }
    s.redis_sentinels.emplace_back(std::string(item.substr(0, colon)), port);
  }
  if (!s.redis_sentinels.empty() && s.redis_master_name.empty()) {
    c.AddError("redis_master_name is required with redis_sentinels");
  }
  if (sentinels.empty() && !s.redis_master_name.empty()) {
    c.AddError("redis_master_name needs redis_sentinels");
  }
}

// PostgreSQL when --database_url is set, SQLite under --data_dir otherwise.
// The password comes from a file (a Kubernetes Secret), read now so a
// missing one stops start-up.
void ReadDatabase(ConfigReader& c, ServerConfig& s) {
  s.data_dir = c.String("data_dir", "./data", "folder for this service's SQLite database (without database_url)");
  s.database.url = c.String(
      "database_url", "",
      "PostgreSQL URI (postgresql://user@host:5432/db?sslmode=verify-full): one database per service; "
      "empty = SQLite under data_dir");
  const std::string password_file = c.String("database_password_file", "",
                                             "file holding the PostgreSQL password (instead of one in the URL)");
  s.database.pool_size = static_cast<int>(c.Int("database_pool", 0, 0, 256,
                                                "PostgreSQL connections; 0 = one per work-pool thread"));
  s.database.statement_timeout = c.Duration("database_statement_timeout", absl::Seconds(10),
                                            "PostgreSQL statement timeout (100ms..10m)");
  if (s.database.statement_timeout < absl::Milliseconds(100) || s.database.statement_timeout > absl::Minutes(10)) {
    c.AddError("database_statement_timeout must be between 100ms and 10m");
  }
  const std::string& url = s.database.url;
  if (!url.empty() && !absl::StartsWith(url, "postgresql://") && !absl::StartsWith(url, "postgres://")) {
    c.AddError("database_url must be a postgresql:// URI");
  }
  if (!password_file.empty()) {
    if (url.empty()) c.AddError("database_password_file needs database_url");
    auto password = ReadSecretFile(password_file);
    if (!password.ok()) {
      c.AddError(absl::StrCat("database_password_file: ", password.status().message()));
    } else if (password->empty() || password->find_first_of("\r\n") != std::string::npos) {
      c.AddError("database_password_file: the password must be one non-empty line");
    } else {
      s.database.password = *std::move(password);
    }
  }
}

void ReadTransport(ConfigReader& c, ServerConfig& s) {
  s.tls_cert_file = c.String("tls_cert_file", "", "PEM certificate: with tls_key_file, serve TLS");
  s.tls_key_file = c.String("tls_key_file", "", "PEM private key for tls_cert_file");
  s.tls_client_ca_file = c.String(
      "tls_client_ca_file", "",
      "PEM CA bundle: set, every client must present a certificate signed by it (mutual TLS; needs tls_cert_file)");
  s.tls_reload_interval = c.Duration("tls_reload_interval", absl::Seconds(60),
                                     "how often certificate files (tls_*, peer_*) are re-read (1s..1h)");
  s.peer_tls = ReadPeerTls(c, s.tls_reload_interval);
  s.tokens_file = c.String("tokens_file", "", "bearer tokens: `<token> <principal> <roles>` per line (required)");
  s.tokens_reload_interval = c.Duration(
      "tokens_reload_interval", absl::Seconds(10),
      "how often tokens_file (and service_token_file) are checked for changes (100ms..1h)");
}

}  // namespace

ServerConfig ServerConfig::Read(ConfigReader& c, absl::string_view service, int default_port) {
  ServerConfig s;
  s.service = std::string(service);
  s.listen_host = c.String("listen_host", "::",
                           "address to listen on (gRPC, health and metrics ports): an IPv4 or IPv6 literal; "
                           "a wildcard (:: or 0.0.0.0) is every address of both stacks, or of IPv4 without IPv6");
  s.port = static_cast<int>(c.Int("port", default_port, 0, 65535, "gRPC port; 0 picks a free one"));
  s.port_file = c.String("port_file", "", "file to write the bound port to (for tests and scripts)");
  s.health_port = static_cast<int>(
      c.Int("health_port", -1, -1, 65535,
            "plaintext port serving only grpc.health.v1 (kubelet gRPC probes cannot present a client certificate); "
            "-1 = off, 0 picks a free one"));
  s.health_port_file = c.String("health_port_file", "", "file to write the bound health port to");
  ReadTransport(c, s);
  ReadDatabase(c, s);
  s.threads = static_cast<int>(c.Int("threads", 8, 1, 256, "work pool threads for blocking work"));
  s.queue = static_cast<int>(c.Int("queue", 4096, 1, 1 << 20,
                                   "calls waiting for the work pool before RESOURCE_EXHAUSTED"));
  s.drain_deadline = c.Duration("drain_deadline", absl::Seconds(10), "on SIGTERM, how long in-flight calls may finish");
  s.fake_clock = c.Bool(
      "fake_clock", false,
      "tests only, command line only: a clock moved through care.common.v1.ClockControl (otherwise not served)");
  s.redis_host = c.String("redis_host", "127.0.0.1", "Redis host (tier cache)");
  s.redis_port = static_cast<int>(c.Int("redis_port", 6379, 1, 65535, "Redis port"));
  ReadSentinels(c, s);
  s.redis_user = c.String("redis_user", "",
                          "Redis ACL user to AUTH as (needs redis_password_file); empty = default user");
  const std::string password_file = c.String(
      "redis_password_file", "", "file holding the Redis password (requirepass or the ACL user's), sent with AUTH");
  const std::string tier_key_file = c.String(
      "tier_cache_key_file", "",
      "tier cache HMAC keys, one `<key_id> <key>` per line (key: 32+ bytes); the first signs, all verify; "
      "shared by loyalty and every tier reader");
  s.log_level = c.String("log_level", "info", "debug, info, warn or error");
  s.metrics_port = static_cast<int>(c.Int("metrics_port", -1, -1, 65535,
                                          "Prometheus /metrics HTTP port; -1 = off, 0 picks a free one"));
  s.metrics_port_file = c.String("metrics_port_file", "", "file to write the bound metrics port to");
  LogLevel level;
  if (!ParseLogLevel(s.log_level, &level))
    c.AddError(absl::StrCat("log_level \"", s.log_level, "\" is not debug, info, warn or error"));
  s.retention = RetentionOptions::Read(c);
  s.backup = BackupOptions::Read(c, !s.database.url.empty());
  s.trace = TraceOptions::Read(c);
  s.replica_id = c.String("replica_id", "",
                          "this process among replicas sharing a database (e.g. the pod name); "
                          "empty = <hostname>-<pid>-<random>");
  s.lease_ttl = c.Duration("lease_ttl", absl::Seconds(15),
                           "how long a replica's job lease outlives its last renewal: a dead replica's jobs "
                           "move to another after at most their interval plus this (1s..10m)");
  if (s.lease_ttl < absl::Seconds(1) || s.lease_ttl > absl::Minutes(10)) {
    c.AddError("lease_ttl must be between 1s and 10m");
  }
  if (s.tokens_file.empty()) c.AddError("tokens_file is required (CARE_TOKENS_FILE)");
  // The fake clock serves ClockControl, which moves every deadline of the
  // process: only a test's command line may turn it on, never an inherited
  // or injected environment (a ConfigMap's envFrom, a stray shell export).
  if (std::getenv("CARE_FAKE_CLOCK") != nullptr) {
    c.AddError(
        "fake_clock: CARE_FAKE_CLOCK is refused; the test clock is enabled only by --fake_clock on the command line");
  }
  CheckTls(c, s);
  if (s.tokens_reload_interval < absl::Milliseconds(100) || s.tokens_reload_interval > absl::Hours(1)) {
    c.AddError("tokens_reload_interval must be between 100ms and 1h");
  }
  ReadRedisSecrets(c, s, password_file, tier_key_file);
  ReadPrivacyKeys(c, s);
  if (s.database.pool_size == 0) s.database.pool_size = s.threads;
  return s;
}

void ServerConfig::RequireTierCacheKey(ConfigReader& c) const {
  // A set but bad file was reported by Read already.
  if (tier_cache_key_file.empty()) {
    c.AddError("tier_cache_key_file is required: tier snapshots in Redis are signed (CARE_TIER_CACHE_KEY_FILE)");
  }
}

void ServerConfig::RequirePrivacyKey(ConfigReader& c) const {
  if (privacy_key_file.empty()) {
    c.AddError(
        "privacy_key_file is required: erased people's tombstones are keyed so a database dump does not tell who was "
        "erased (CARE_PRIVACY_KEY_FILE)");
  }
}

class ServerRunner::Diagnostics final : public care::common::v1::Diagnostics::CallbackService {
 public:
  Diagnostics(RpcRuntime& rpc, Clock& clock) : rpc_(rpc), clock_(clock) {}
  grpc::ServerUnaryReactor* Ping(grpc::CallbackServerContext* ctx, const care::common::v1::PingRequest* req,
                                 care::common::v1::PingResponse* resp) override {
    return rpc_.Unary(ctx, *req, [this, req, resp](const Caller&) {
      resp->set_payload(req->payload());
      *resp->mutable_server_time() = ToTimestamp(clock_.Now());
      return absl::OkStatus();
    });
  }

 private:
  RpcRuntime& rpc_;
  Clock& clock_;
};

class ServerRunner::ClockControl final : public care::common::v1::ClockControl::CallbackService {
 public:
  ClockControl(RpcRuntime& rpc, ManualClock& clock, JobRunner& jobs) : rpc_(rpc), clock_(clock), jobs_(jobs) {}
  grpc::ServerUnaryReactor* GetTime(grpc::CallbackServerContext* ctx, const care::common::v1::GetTimeRequest* req,
                                    care::common::v1::GetTimeResponse* resp) override {
    return rpc_.Unary(ctx, *req, [this, resp](const Caller&) {
      *resp->mutable_time() = ToTimestamp(clock_.Now());
      return absl::OkStatus();
    });
  }
  grpc::ServerUnaryReactor* SetTime(grpc::CallbackServerContext* ctx, const care::common::v1::SetTimeRequest* req,
                                    care::common::v1::GetTimeResponse* resp) override {
    return rpc_.Unary(ctx, *req, [this, req, resp](const Caller&) -> absl::Status {
      if (req->has_time()) {
        absl::Time t = FromTimestamp(req->time());
        if (!clock_.Set(t)) return InvalidField("time", "must not be before the current time");
      } else if (req->has_advance()) {
        absl::Duration d = FromDurationProto(req->advance());
        if (d <= absl::ZeroDuration()) return InvalidField("advance", "must be positive");
        clock_.Advance(d);
      } else {
        return InvalidField("change", "set time or advance");
      }
      jobs_.Kick();
      *resp->mutable_time() = ToTimestamp(clock_.Now());
      return absl::OkStatus();
    });
  }

 private:
  RpcRuntime& rpc_;
  ManualClock& clock_;
  JobRunner& jobs_;
};

ServerRunner::ServerRunner(const ServerConfig& config, std::string health_service_name)
    : config_(config), health_name_(std::move(health_service_name)) {
  // glibc hands free memory above 128 KiB at the top of a thread's heap back
  // to the kernel at once. A call's arena blocks, freed together when it
  // ends, often cross that line: the next call then paid madvise, a TLB
  // flush and fresh page faults (about 8 % of a 20-line quote's server CPU
  // under load). Keep up to 8 MiB per heap instead.
  mallopt(M_TRIM_THRESHOLD, 8 << 20);
  sigset_t signals = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  SetLogService(config_.service);
  LogLevel level = LogLevel::kInfo;
  ParseLogLevel(config_.log_level, &level);
  SetLogLevel(level);
  tracing_ = StartTracing(config_.trace, config_.service);

  // The text first: the watcher reloads when it changes from this.
  std::string tokens_text = ReadWholeFile(config_.tokens_file).value_or("");
  auto tokens = TokenRegistry::FromFile(config_.tokens_file);
  if (!tokens.ok()) {
    // A configuration error, reported and ended like ConfigReader's: exit 2.
    std::string message = absl::StrCat("tokens_file: ", tokens.status().message());
    LogError("configuration error", {{"error", message}});
    std::fprintf(stderr, "configuration error: %s\n", message.c_str());
    std::exit(2);
  }
  if (config_.fake_clock) {
    auto manual = std::make_unique<ManualClock>(absl::Now());
    manual_clock_ = manual.get();
    clock_ = std::move(manual);
    LogWarn("fake clock enabled: time moves only through ClockControl (tests only)");
  } else {
    clock_ = std::make_unique<SystemClock>();
  }
  SetRecordClock(clock_.get());
  pool_ = std::make_unique<WorkPool>(config_.threads, static_cast<size_t>(config_.queue));
  rpc_ = std::make_unique<RpcRuntime>(absl::StrCat(config_.service, ".care"), std::move(*tokens), pool_.get());
  tokens_watcher_ = std::make_unique<TokensFileWatcher>(
      config_.tokens_file, std::move(tokens_text), config_.tokens_reload_interval,
      [rpc = rpc_.get()](std::shared_ptr<const TokenRegistry> next) { rpc->ReplaceTokens(std::move(next)); });

  diagnostics_ = std::make_unique<Diagnostics>(*rpc_, *clock_);
  AddService(diagnostics_.get(), care::common::v1::Diagnostics::service_full_name());
  if (manual_clock_) {
    clock_control_ = std::make_unique<ClockControl>(*rpc_, *manual_clock_, jobs_);
    AddService(clock_control_.get(), care::common::v1::ClockControl::service_full_name());
  }
}

ServerRunner::~ServerRunner() {
  tokens_watcher_.reset();
  // Jobs and queued calls use the database and Redis: stop them first.
  jobs_.Stop();
  pool_.reset();
  tracing_.reset();  // last: sends the spans of what ran until here
  SetRecordClock(nullptr);
}

void ServerRunner::AddService(grpc::Service* service, absl::string_view full_name) {
  const auto* descriptor = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      std::string(full_name));
  if (descriptor == nullptr) Fatal(absl::StrCat("no descriptor for service ", full_name));
  if (absl::Status s = rpc_->RegisterService(descriptor); !s.ok()) Fatal(s.message());
  WrapUnaryCallbackMethods(service);
  services_.push_back(service);
}

Database& ServerRunner::OpenDatabase(const Schema& schema) {
  if (!config_.database.url.empty()) {
    std::vector<Migration> migrations = CommonPostgresMigrations();
    migrations.insert(migrations.end(), schema.postgres.begin(), schema.postgres.end());
    PostgresOptions options = config_.database;
    options.application_name = absl::StrCat("care_", config_.service);
    auto db = PostgresDatabase::Open(options, migrations);
    if (!db.ok()) Fatal(absl::StrCat("database ", RedactedDatabaseUrl(options.url), ": ", db.status().message()));
    database_ = std::move(*db);
    LeaseJobs();
  } else {
    std::error_code ec;
    std::filesystem::create_directories(config_.data_dir, ec);
    if (ec) Fatal(absl::StrCat("cannot create data_dir ", config_.data_dir, ": ", ec.message()));
    std::vector<Migration> migrations = CommonMigrations();
    migrations.insert(migrations.end(), schema.sqlite.begin(), schema.sqlite.end());
    std::string path = absl::StrCat(config_.data_dir, "/", config_.service, ".db");
    SqliteOptions options;
    options.readers = std::max(2, config_.threads / 2);
    auto db = SqliteDatabase::Open(path, migrations, options);
    if (!db.ok()) Fatal(absl::StrCat("database ", path, ": ", db.status().message()));
    database_ = std::move(*db);
  }
  if (!config_.privacy_keys.empty()) {
    auto rewrapped = RewrapLegacyTombstones(*database_, subject_digests());
    if (!rewrapped.ok()) Fatal(absl::StrCat("re-keying old tombstones: ", rewrapped.status().message()));
    if (*rewrapped > 0) LogInfo("privacy: old unkeyed tombstones re-keyed", {{"tombstones", *rewrapped}});
  }
  StartDatabaseOps();
  return *database_;
}

void ServerRunner::StartDatabaseOps() {
  // A write, at most every few seconds: a read stays green on a full volume.
  write_probe_ = std::make_unique<WriteProbe>(*database_, ReplicaId());
  AddReadinessCheck("database", [p = write_probe_.get()] { return p->Ready(); });
  // Kicked with the other jobs when a test moves the fake clock.
  jobs_.Add("retention_purge", absl::Minutes(1),
            [this] { return PurgeExpired(*database_, clock_->Now(), config_.retention); });
  jobs_.Add(
      "database_size", absl::Seconds(30), [this] { return RefreshDatabaseSize(*database_); }, JobScope::kEveryReplica);
  audit_log_ = std::make_unique<AuditLogService>(*rpc_, *database_);
  AddService(audit_log_.get(), care::common::v1::AuditLog::service_full_name());
  // Read refuses backup_dir with database_url: backups are SQLite's.
  if (auto* sqlite = dynamic_cast<SqliteDatabase*>(database_.get()); sqlite != nullptr && config_.backup.enabled()) {
    backups_ = std::make_unique<BackupScheduler>(*sqlite, config_.service, config_.backup);
  }
}

void ServerRunner::LeaseJobs() {
  if (!config_.replica_id.empty()) SetReplicaId(config_.replica_id);
  care::LeaseJobs(jobs_, *database_, ReplicaId(), config_.lease_ttl);
  LogInfo("job leases on", {{"replica_id", ReplicaId()}});
}

RedisPool& ServerRunner::redis() {
  if (!redis_) {
    RedisOptions options;
    options.host = config_.redis_host;
    options.port = config_.redis_port;
    options.pool_size = config_.threads;
    options.user = config_.redis_user;
    options.password = config_.redis_password;
    options.sentinels = config_.redis_sentinels;
    options.master_name = config_.redis_master_name;
    redis_ = std::make_unique<RedisPool>(options);
  }
  return *redis_;
}

const SubjectDigests& ServerRunner::subject_digests() {
  if (!subject_digests_) {
    if (config_.privacy_keys.empty()) Fatal("privacy_key_file is required to erase or recognise erased people");
    subject_digests_ = std::make_unique<SubjectDigests>(config_.privacy_keys);
  }
  return *subject_digests_;
}

const HmacKeyRing& ServerRunner::tier_cache_keys() {
  if (!tier_cache_keys_) {
    if (config_.tier_cache_keys.empty()) Fatal("tier_cache_key_file is required for the tier cache");
    tier_cache_keys_ = std::make_unique<HmacKeyRing>(config_.tier_cache_keys);
  }
  return *tier_cache_keys_;
}

Peer ServerRunner::DialPeer(const std::string& target, bool tls, const std::string& token_file,
                            const std::string& health_service) {
  std::shared_ptr<ReloadingSecret>& source = peer_tokens_[token_file];
  if (!source) {
    auto token = ReadSecretFile(token_file);
    if (!token.ok()) Fatal(absl::StrCat("service_token_file: ", token.status().message()));
    source = std::make_shared<ReloadingSecret>(token_file, *token, config_.tokens_reload_interval);
  }
  return Peer{care::DialPeer(target, config_.PeerChannel(tls), health_service), source->Get(), source};
}

OutboxRelay* ServerRunner::StartOutbox(std::map<std::string, Peer> peers, absl::Duration interval) {
  if (!database_) Fatal("StartOutbox before OpenDatabase");
  outbox_admin_ = std::make_unique<OutboxAdminService>(*rpc_, *database_, &jobs_);
  AddService(outbox_admin_.get(), care::common::v1::OutboxAdmin::service_full_name());
  if (peers.empty()) return nullptr;
  outbox_sender_ = std::make_unique<GrpcOutboxSender>(std::move(peers));
  outbox_relay_ = std::make_unique<OutboxRelay>(*database_, *outbox_sender_);
  jobs_.Add(absl::StrCat(config_.service, ".outbox_relay"), interval,
            [relay = outbox_relay_.get()] { return relay->RunOnce(); });
  return outbox_relay_.get();
}

void ServerRunner::AddReadinessCheck(std::string name, std::function<bool()> check) {
  readiness_.emplace_back(std::move(name), std::move(check));
}

namespace {

// "host:port" for gRPC, with an IPv6 literal in brackets ("[::1]:50051").
std::string ListenAddress(const std::string& host, int port) {
  bool bare_v6 = host.find(':') != std::string::npos && !absl::StartsWith(host, "[");
  return bare_v6 ? absl::StrCat("[", host, "]:", port) : absl::StrCat(host, ":", port);
}

// The service's gRPC server, with keepalive: find dead peers behind NATs and
// load balancers, and let clients ping idle connections without being
// disconnected. Exits the process when it cannot listen.
std::unique_ptr<grpc::Server> StartServer(const ServerConfig& config, const std::vector<grpc::Service*>& services,
                                          int* bound_port) {
  grpc::ServerBuilder builder;
  std::shared_ptr<grpc::ServerCredentials> creds = MakeServerCredentials(
      ServerTls{config.tls_cert_file, config.tls_key_file, config.tls_client_ca_file, config.tls_reload_interval});
  builder.AddListeningPort(ListenAddress(config.listen_host, config.port), creds, bound_port);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Clients balance over the replicas they resolved: closing each connection
  // after a while (calls in flight finish) makes them resolve again and
  // spread onto replicas added since.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, 5 * 60 * 1000);
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || *bound_port == 0) {
    Fatal(absl::StrCat("cannot listen on ", ListenAddress(config.listen_host, config.port)));
  }
  return server;
}

// /metrics over HTTP, when --metrics_port is set.
std::unique_ptr<metrics::HttpExporter> StartMetrics(const ServerConfig& config) {
  if (config.metrics_port < 0) return nullptr;
  // On every sample: dashboards and alerts select a service by it.
  metrics::Registry::Global().SetConstantLabel("care_service", config.service);
  metrics::DeclareAll();
  auto started = metrics::HttpExporter::Start(config.listen_host, config.metrics_port);
  if (!started.ok()) Fatal(started.status().message());
  if (!config.metrics_port_file.empty()) WritePortFile(config.metrics_port_file, (*started)->port());
  LogInfo("metrics", {{"port", (*started)->port()}, {"path", "/metrics"}});
  return *std::move(started);
}

// The plaintext health port for probes, when --health_port is set. No
// CareSuite service is registered there, so nothing but health (and
// reflection of it) answers without TLS.
std::unique_ptr<grpc::Server> StartHealthServer(const ServerConfig& config) {
  if (config.health_port < 0) return nullptr;
  grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort(ListenAddress(config.listen_host, config.health_port), grpc::InsecureServerCredentials(),
                           &bound);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound == 0) {
    Fatal(absl::StrCat("cannot listen on ", ListenAddress(config.listen_host, config.health_port), " (health_port)"));
  }
  if (!config.health_port_file.empty()) WritePortFile(config.health_port_file, bound);
  LogInfo("health", {{"port", bound}});
  return server;
}

// Polls the readiness checks every 500 ms and publishes the result as the
// health of `health_name` on every health service, until Stop().
class ReadinessLoop final {
 public:
  using Checks = std::vector<std::pair<std::string, std::function<bool()>>>;
  ReadinessLoop(const Checks& checks, std::vector<grpc::HealthCheckServiceInterface*> healths, std::string health_name,
                int port)
      : thread_([this, &checks, healths = std::move(healths), health_name = std::move(health_name), port] {
          Loop(checks, healths, health_name, port);
        }) {}
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Loop(const Checks& checks, const std::vector<grpc::HealthCheckServiceInterface*>& healths,
            const std::string& health_name, int port) {
    bool last = false;
    bool first = true;
    std::unique_lock lock(mu_);
    while (!stopping_) {
      bool ready = true;
      for (const auto& [name, check] : checks) {
        if (!check()) {
          if (last || first) LogWarn("not ready", {{"check", name}});
          ready = false;
        }
      }
      if (ready != last || first) {
        for (grpc::HealthCheckServiceInterface* h : healths) {
          h->SetServingStatus(health_name, ready);
          h->SetServingStatus("", true);
        }
        if (ready) LogInfo("serving", {{"port", port}, {"health", health_name}});
      }
      last = ready;
      first = false;
      cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stopping_; });
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_; declared before thread_, which reads it
  std::thread thread_;
};

}  // namespace

int ServerRunner::Run() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  int bound_port = 0;
  std::unique_ptr<grpc::Server> server = StartServer(config_, services_, &bound_port);
  std::unique_ptr<metrics::HttpExporter> exporter = StartMetrics(config_);
  // Written once metrics listen too: a script that waits for it finds both.
  if (!config_.port_file.empty()) WritePortFile(config_.port_file, bound_port);
  std::unique_ptr<grpc::Server> health_server = StartHealthServer(config_);
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  grpc::HealthCheckServiceInterface* plain_health = health_server ? health_server->GetHealthCheckService() : nullptr;
  jobs_.Start();
  std::vector<grpc::HealthCheckServiceInterface*> healths = {health};
  if (plain_health != nullptr) healths.push_back(plain_health);
  ReadinessLoop readiness(readiness_, healths, health_name_, bound_port);

  sigset_t signals = TerminationSignals();
  int sig = 0;
  sigwait(&signals, &sig);
  LogInfo("draining", {{"signal", sig}, {"deadline_s", absl::ToDoubleSeconds(config_.drain_deadline)}});
  readiness.Stop();
  health->Shutdown();  // every service NOT_SERVING: load balancers stop sending
  if (plain_health) plain_health->Shutdown();
  Drain(*server);
  if (health_server) {
    health_server->Shutdown(std::chrono::system_clock::now());
    health_server->Wait();
  }
  jobs_.Stop();
  LogInfo("stopped");
  return 0;
}

// From here a new call is refused before any work (UNAVAILABLE,
// SHUTTING_DOWN: nothing happened, retry elsewhere), and every call admitted
// before runs to its end: the drain waits until the reactor of each is done,
// i.e. its answer was written out, so no connection is closed under an
// answer (a write that committed is never reported to its client as failed).
// grpc::Server::Shutdown(deadline) would also wait for idle client
// connections to go away and so always take the whole deadline: it is
// called once nothing admitted is left.
void ServerRunner::Drain(grpc::Server& server) {
  absl::Time deadline = absl::Now() + config_.drain_deadline;
  rpc_->StartDraining();
  while (rpc_->in_flight() > 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  if (rpc_->in_flight() > 0) LogWarn("drain deadline reached", {{"in_flight", rpc_->in_flight()}});
  // A short grace for the GOAWAY: clients learn not to start new calls
  // here, and retry the ones gRPC refused on their own, before the
  // connections are cut.
  absl::Duration grace = std::clamp(deadline - absl::Now(), absl::ZeroDuration(), absl::Milliseconds(200));
  server.Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
  server.Wait();
}

}  // namespace care
