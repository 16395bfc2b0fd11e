// care_notification: durable schedules, templates, consent and exactly-once delivery.
#include <memory>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "clients/peer_health.h"
#include "common/egress.h"
#include "common/erasure_scrub.h"
#include "common/jobs.h"
#include "common/key_file.h"
#include "common/lease.h"
#include "common/log.h"
#include "common/retention.h"
#include "common/server.h"
#include "services/notification/notification_grpc.h"
#include "services/notification/notification_service.h"
#include "services/notification/prometheus.h"
#include "services/notification/sql_notification_store.h"

namespace {

// --egress_allowlist and --egress_cluster_cidrs; a bad entry is a
// configuration error naming the flag that holds it.
absl::StatusOr<care::EgressPolicy> ReadEgressPolicy(care::ConfigReader& config) {
  std::string egress_allowlist = config.String(
      "egress_allowlist", "",
      "comma-separated CIDRs (10.1.2.0/24), addresses and host names (smtp.internal, *.corp.example) that "
      "webhooks and SMTP may reach although private, loopback, link-local or in the cluster's ranges; "
      "http webhooks are allowed only to these hosts; at most 64 entries, 4096 bytes");
  std::string egress_cluster_cidrs = config.String(
      "egress_cluster_cidrs", "",
      "comma-separated CIDRs of the cluster (pods, services, nodes) refused to webhooks and SMTP like private "
      "addresses, for clusters on public ranges; at most 64 entries, 4096 bytes");
  auto egress_policy = care::EgressPolicy::Parse(egress_allowlist, egress_cluster_cidrs);
  if (!egress_policy.ok()) {
    // Parse reports the first bad entry of either list; name the flag that holds it.
    const bool in_allowlist = care::EgressPolicy::Parse(egress_allowlist).status().code() != absl::StatusCode::kOk;
    config.AddError(absl::StrCat(in_allowlist ? "egress_allowlist" : "egress_cluster_cidrs", ": ",
                                 egress_policy.status().message()));
  }
  return egress_policy;
}

// The WEBHOOK and EMAIL transports over libcurl, held to the egress flags
// (a bad flag is reported on `config`).
void ReadTransports(care::ConfigReader& config, care::notification::NotificationOptions& options) {
  auto egress_policy = ReadEgressPolicy(config);
  bool smtp_allow_plaintext = config.Bool(
      "smtp_allow_plaintext", false,
      "tests and local development only: SMTP falls back to plaintext when the server offers no STARTTLS "
      "(an endpoint with require_tls still refuses); off, every SMTP session is TLS");
  if (!egress_policy.ok()) return;
  care::notification::EgressOptions egress{*egress_policy, smtp_allow_plaintext};
  options.egress = egress.policy;
  options.channels =
      [egress](int channel,
               const care::notification::v1::Settings& settings) -> std::unique_ptr<care::notification::Channel> {
    if (channel == care::common::v1::MESSAGE_CHANNEL_WEBHOOK) {
      return care::notification::MakeWebhookChannel(settings.webhook(), egress);
    }
    if (channel == care::common::v1::MESSAGE_CHANNEL_EMAIL) {
      return care::notification::MakeEmailChannel(settings.email(), egress);
    }
    return nullptr;
  };
}

// --unsubscribe_key_file and --unsubscribe_token_ttl: the signer of
// List-Unsubscribe links, or null without a key file (no MARKETING e-mail).
std::shared_ptr<const care::notification::UnsubscribeTokens> ReadUnsubscribeTokens(care::ConfigReader& config) {
  std::string key_file = config.String(
      "unsubscribe_key_file", "",
      "file of List-Unsubscribe token HMAC keys, one `<key_id> <key>` per line (id: 1-32 of A-Za-z0-9_-; key: "
      "32+ bytes); the first signs, all verify; empty = MARKETING e-mail is not sent (no unsubscribe link)");
  absl::Duration ttl = config.Duration("unsubscribe_token_ttl", absl::Hours(24 * 365),
                                       "how long after its e-mail an unsubscribe link still works; 7 days to 10 years");
  if (ttl < absl::Hours(24 * 7) || ttl > absl::Hours(24 * 3653)) {
    config.AddError("unsubscribe_token_ttl must be between 7 days and 10 years");
  }
  if (key_file.empty()) return nullptr;
  auto keys = care::ReadKeyFile(key_file);
  if (!keys.ok()) {
    config.AddError(absl::StrCat("unsubscribe_key_file: ", keys.status().message()));
    return nullptr;
  }
  return std::make_shared<care::notification::UnsubscribeTokens>(*keys, ttl);
}

// --inbox_retention and --delivery_retention (docs/privacy.md).
void ReadRetentions(care::ConfigReader& config, care::notification::NotificationOptions& options) {
  options.inbox_retention = care::ReadRetention(
      config, "inbox_retention", options.inbox_retention, absl::ZeroDuration(), absl::Hours(24 * 366),
      "how long an inbox message is kept after it expires (hidden) before it is deleted (0..366d)");
  options.delivery_retention = care::ReadRetention(
      config, "delivery_retention", options.delivery_retention, absl::Hours(24 * 7), absl::Hours(24 * 3660),
      "how long a sent, failed or suppressed delivery and its payload are kept (7d..3660d; pending ones stay)");
}

}  // namespace

int main(int argc, char** argv) {
  using care::notification::v1::NotificationService;
  care::ConfigReader config(argc, argv,
                            "care_notification: durable schedules, templates, consent and exactly-once delivery");
  care::ServerConfig server_config = care::ServerConfig::Read(config, "notification", 50054);
  server_config.RequirePrivacyKey(config);
  std::string loyalty_target = config.Target(
      "loyalty_target", "host:port of the loyalty service (audiences); empty = due schedules wait");
  bool loyalty_tls = config.Bool("loyalty_tls", false, "call the loyalty service over TLS");
  std::string service_token_file = config.String(
      "service_token_file", "",
      "file holding this service's peer token (principal svc:notification, role peer), presented to loyalty");
  absl::Duration job_interval = config.Duration("job_interval", absl::Seconds(1),
                                                "how often due schedules and deliveries are looked for");
  int64_t fan_out_batch = config.Int("fan_out_batch", 500, 1, 10000, "members stored per fan-out transaction");
  absl::Duration fan_out_lease = config.Duration(
      "fan_out_lease", absl::Seconds(30),
      "how long a replica holds a fan-out chunk without storing a batch before another replica may take it over");
  care::notification::NotificationOptions options;
  ReadTransports(config, options);
  int64_t inbox_streams_per_principal = config.Int(
      "inbox_streams_per_principal", 8, 1, 1000,
      "live SubscribeInbox streams one principal may hold; more get RESOURCE_EXHAUSTED");
  options.unsubscribe = ReadUnsubscribeTokens(config);
  ReadRetentions(config, options);
  if (!loyalty_target.empty() && service_token_file.empty()) {
    config.AddError("service_token_file is required with loyalty_target (CARE_SERVICE_TOKEN_FILE)");
  }
  if (fan_out_lease < absl::Seconds(1) || fan_out_lease > absl::Hours(1)) {
    config.AddError("fan_out_lease must be between 1s and 1h");
  }
  if (job_interval < absl::Milliseconds(10) || job_interval > absl::Minutes(10)) {
    config.AddError("job_interval must be between 10ms and 10m");
  }
  config.Finish();

  care::ServerRunner runner(server_config, NotificationService::service_full_name());
  care::metrics::AddToCatalog(care::notification::DeclareMetrics);
  care::Database& db = runner.OpenDatabase(care::NotificationSchema());
  std::unique_ptr<care::notification::NotificationStore> store = care::notification::NewSqlNotificationStore(
      db, runner.subject_digests());

  std::unique_ptr<care::notification::LoyaltyAudience> audience;
  if (loyalty_target.empty()) {
    care::LogWarn("no loyalty_target: due promotion alerts wait until it is set");
  } else {
    audience = std::make_unique<care::notification::LoyaltyAudience>(
        runner.DialPeer(loyalty_target, loyalty_tls, service_token_file, care::clients::PeerHealthService("loyalty")));
  }
  options.fan_out_batch = static_cast<int>(fan_out_batch);
  options.fan_out_lease = fan_out_lease;
  options.replica_id = care::ReplicaId();  // after OpenDatabase: --replica_id when set
  std::unique_ptr<care::ErasureScrub> scrub = care::StartErasureScrub(db, runner.jobs(), "notification");
  options.scrub = scrub.get();
  care::notification::NotificationService notification(*store, runner.clock(), audience.get(), options);
  care::notification::NotificationGrpc adapter(runner.rpc(), notification, runner.subject_digests(),
                                               static_cast<int>(inbox_streams_per_principal));
  // Idle inbox streams pause long between reads: a shutdown wakes them so
  // they end at once instead of holding the drain.
  runner.rpc().OnDraining([&notification] { notification.inbox_watch().WakeAll(); });
  runner.AddService(&adapter, NotificationService::service_full_name());

  // Every replica fans out: they share an alert through its leased ranges.
  runner.jobs().Add(
      "notification.fan_out", job_interval, [&] { return notification.RunFanOut(); }, care::JobScope::kEveryReplica);
  runner.jobs().Add("notification.dispatch", job_interval, [&] { return notification.RunDispatch(); });
  runner.jobs().Add("notification.inbox_feed_prune", job_interval, [&] { return notification.RunInboxFeedPrune(); });
  runner.jobs().Add("notification.retention", absl::Minutes(1), [&] { return notification.RunRetention(); });
  // Replicas share a PostgreSQL database: another replica's inbox commits
  // reach this replica's streams through the feed head.
  if (!runner.config().database.url.empty()) {
    runner.jobs().Add(
        "notification.feed_head", absl::Milliseconds(250), [&] { return notification.WatchFeedHead(); },
        care::JobScope::kEveryReplica);
  }
  return runner.Run();
}
