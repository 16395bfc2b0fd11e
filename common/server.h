#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/backup.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/database_ops.h"
#include "common/jobs.h"
#include "common/key_file.h"
#include "common/metrics.h"
#include "common/outbox.h"
#include "common/postgres.h"
#include "common/privacy.h"
#include "common/redis.h"
#include "common/retention.h"
#include "common/rpc.h"
#include "common/sql.h"
#include "common/tls.h"
#include "common/trace.h"
#include "common/work_pool.h"

namespace care {

// Settings every CareSuite binary shares.
struct ServerConfig {
  std::string service;  // "loyalty": log field, ErrorInfo domain prefix
  std::string listen_host;
  int port;
  std::string port_file;  // where the bound port is written (port 0 picks a free one)
  int health_port;        // plaintext grpc.health.v1 only (kubelet probes under mTLS); -1 = off
  std::string health_port_file;
  std::string tls_cert_file, tls_key_file;  // both set: the port speaks TLS
  std::string tls_client_ca_file;           // set: mutual TLS (client certificates required)
  absl::Duration tls_reload_interval;       // how often certificate files are re-read
  PeerTls peer_tls;                         // calls to other services (--peer_*)
  std::string tokens_file;
  absl::Duration tokens_reload_interval;  // how often the tokens file is re-read
  std::string data_dir;                   // SQLite, when database.url is empty
  PostgresOptions database;               // --database_url and friends
  int threads;
  int queue;
  absl::Duration drain_deadline;
  bool fake_clock;
  std::string redis_host;
  int redis_port;
  // Redis Sentinel (--redis_sentinels, --redis_master_name): when set, the
  // master is asked of these and redis_host/redis_port are not used.
  std::vector<std::pair<std::string, int>> redis_sentinels;
  std::string redis_master_name;
  std::string redis_user;      // Redis ACL user ("" = the default user)
  std::string redis_password;  // read from --redis_password_file ("" = no AUTH)
  // Tier cache signing keys from --tier_cache_key_file (empty = not set).
  std::vector<NamedKey> tier_cache_keys;
  std::string tier_cache_key_file;
  // Keys of the erased people's tombstones from --privacy_key_file (empty =
  // not set; docs/privacy.md, "Tombstones").
  std::vector<NamedKey> privacy_keys;
  std::string privacy_key_file;
  std::string log_level;
  int metrics_port;               // Prometheus /metrics over HTTP; -1 = off, 0 = a free port
  std::string metrics_port_file;  // where the bound metrics port is written
  RetentionOptions retention;     // idempotency records, delivered outbox events
  BackupOptions backup;           // --backup_*: SQLite online backups
  TraceOptions trace;             // --otlp_endpoint, --trace_sample_ratio
  // Replicas on one database (PostgreSQL): who this process is among them,
  // and how long a job lease outlives its holder's last renewal.
  std::string replica_id;
  absl::Duration lease_ttl;

  // Declares the shared options on `config`; the caller adds its own, then
  // calls config.Finish().
  static ServerConfig Read(ConfigReader& config, absl::string_view service, int default_port);

  // How to call another service: --peer_* as given, TLS also when the
  // service's own per-peer switch (e.g. --loyalty_tls) is set.
  PeerTls PeerChannel(bool tls) const {
    PeerTls p = peer_tls;
    p.enabled = p.enabled || tls;
    return p;
  }
  // For a service that reads or writes the tier cache: without
  // --tier_cache_key_file it may not start (fail closed: an unsigned cache
  // would let whoever reaches Redis set prices).
  void RequireTierCacheKey(ConfigReader& config) const;
  // For a service that erases people (every CareSuite service): without
  // --privacy_key_file it may not start (fail closed: an unkeyed tombstone
  // tells a database dump's reader who was erased).
  void RequirePrivacyKey(ConfigReader& config) const;
};

// Stops the process with a message: for broken invariants at start-up.
[[noreturn]] void Fatal(absl::string_view message);

// Owns what every service process has: the work pool, the call runtime, the
// clock, background jobs, and the gRPC server with health, reflection,
// keepalive and graceful shutdown. Construct it first thing in main(): it
// blocks SIGTERM/SIGINT before any thread starts, so Run() alone handles them.
class TokensFileWatcher;
class OtlpExporter;
class OutboxAdminService;
class AuditLogService;
class ReloadingSecret;

class ServerRunner final {
 public:
  ServerRunner(const ServerConfig& config, std::string health_service_name);
  ~ServerRunner();

  const ServerConfig& config() const { return config_; }
  RpcRuntime& rpc() { return *rpc_; }
  Clock& clock() { return *clock_; }
  JobRunner& jobs() { return jobs_; }
  WorkPool& pool() { return *pool_; }

  // Registers a callback service by its full name ("care.loyalty.v1.LoyaltyService");
  // stops the process if its contract is incomplete (a method without an
  // access option).
  void AddService(grpc::Service* service, absl::string_view full_name);
  // Opens the service's database: PostgreSQL at --database_url, else
  // <data_dir>/<service>.db, with the common and the service's migrations
  // for that engine (stopping the process if that fails), makes readiness
  // depend on it taking writes (WriteProbe), runs the retention purge and
  // the size metric on it as jobs, serves its audit log (AuditLog), and on
  // SQLite the scheduled backups.
  Database& OpenDatabase(const Schema& schema);
  // The Redis pool, one connection per work-pool thread. Redis is a cache:
  // it is not part of readiness.
  RedisPool& redis();
  // The tier cache keys (--tier_cache_key_file); stops the process if none
  // were configured (RequireTierCacheKey prevents that).
  const HmacKeyRing& tier_cache_keys();
  // The tombstone digests (--privacy_key_file); stops the process if none
  // were configured (RequirePrivacyKey prevents that).
  const SubjectDigests& subject_digests();

  // A peer at `target` ("host:port", or a target URI naming its replicas:
  // see care::DialPeer; TLS as PeerChannel(tls) says) that is presented the
  // token of `token_file`, re-read on the tokens' interval so a rotated token
  // needs no restart. Calls go only to replicas whose health of
  // `health_service` (the peer's service name; "" = the process) is SERVING.
  // Stops the process when the file cannot be read.
  Peer DialPeer(const std::string& target, bool tls, const std::string& token_file,
                const std::string& health_service = "");

  // The outbox of the database OpenDatabase opened: serves OutboxAdmin (dead
  // events listed and replayed) and, when `peers` is not empty, delivers the
  // events to them as the job "<service>.outbox_relay" every `interval`.
  // Returns that relay (to register OnOutcome handlers on before Run()), or
  // null without peers: events then wait in the outbox.
  OutboxRelay* StartOutbox(std::map<std::string, Peer> peers, absl::Duration interval);

  // Readiness (health of the service name) is the AND of these checks.
  void AddReadinessCheck(std::string name, std::function<bool()> check);

  // Serves until SIGTERM/SIGINT, then reports NOT_SERVING, drains in-flight
  // calls up to the drain deadline, stops jobs and returns 0.
  int Run();

 private:
  class Diagnostics;
  class ClockControl;

  // On a shared database: each kOneReplica job runs on the replica that
  // holds its lease.
  void LeaseJobs();
  // The database's readiness write probe, retention and size jobs, backups.
  void StartDatabaseOps();
  // Lets every admitted call finish (up to --drain_deadline), then stops `server`.
  void Drain(grpc::Server& server);

  ServerConfig config_;
  std::string health_name_;
  std::unique_ptr<Clock> clock_;
  ManualClock* manual_clock_ = nullptr;
  std::unique_ptr<WorkPool> pool_;
  std::unique_ptr<RpcRuntime> rpc_;
  JobRunner jobs_;
  std::vector<grpc::Service*> services_;
  std::vector<std::pair<std::string, std::function<bool()>>> readiness_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<WriteProbe> write_probe_;   // before database_ goes
  std::unique_ptr<BackupScheduler> backups_;  // stopped before database_ goes
  std::unique_ptr<RedisPool> redis_;
  std::unique_ptr<HmacKeyRing> tier_cache_keys_;
  std::unique_ptr<SubjectDigests> subject_digests_;
  std::unique_ptr<Diagnostics> diagnostics_;
  std::unique_ptr<ClockControl> clock_control_;
  std::unique_ptr<TokensFileWatcher> tokens_watcher_;
  std::map<std::string, std::shared_ptr<ReloadingSecret>> peer_tokens_;  // by file
  std::unique_ptr<OutboxAdminService> outbox_admin_;
  std::unique_ptr<AuditLogService> audit_log_;  // care.common.v1.AuditLog
  std::unique_ptr<OutboxSender> outbox_sender_;
  std::unique_ptr<OutboxRelay> outbox_relay_;
  std::unique_ptr<OtlpExporter> tracing_;  // null unless --otlp_endpoint
};

}  // namespace care
