// care_complaint: tickets from every channel, SLAs and escalation, goodwill, satisfaction.
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "clients/loyalty/loyalty_client.h"
#include "clients/loyalty/tier_cache.h"
#include "clients/peer_health.h"
#include "common/erasure_scrub.h"
#include "common/log.h"
#include "common/outbox.h"
#include "common/retention.h"
#include "common/server.h"
#include "services/complaint/complaint_grpc.h"
#include "services/complaint/complaint_service.h"
#include "services/complaint/prometheus.h"
#include "services/complaint/sql_complaint_store.h"

namespace {

// The domain's flags.
care::complaint::ComplaintOptions ReadComplaintOptions(care::ConfigReader& config) {
  care::complaint::ComplaintOptions options;
  options.agent_points_limit = config.Int("agent_points_limit", 500, 0, 100000000,
                                          "goodwill points an agent may grant without approval (settings override)");
  options.metrics_concurrency = static_cast<int>(config.Int(
      "metrics_concurrency", 2, 1, 16, "GetComplaintMetrics scans that may run at once; more get RESOURCE_EXHAUSTED"));
  options.closed_text_retention = care::ReadRetention(
      config, "closed_complaint_text_retention", options.closed_text_retention, absl::Hours(24 * 30),
      absl::Hours(24 * 3660),
      "how long a closed complaint keeps its free texts (subject, description, replies, notes, messages, survey "
      "comment); then they are blanked as erasure blanks them, the facts metrics need kept (30d..3660d)");
  return options;
}

// How often the jobs and the outbox relay run.
struct JobIntervals {
  absl::Duration sla, outbox, metrics_rollup;
};

JobIntervals ReadJobIntervals(care::ConfigReader& config) {
  JobIntervals out;
  out.sla = config.Duration("job_interval", absl::Seconds(30), "how often SLA clocks are checked for breaches");
  out.outbox = config.Duration("outbox_interval", absl::Seconds(1), "how often the outbox relay looks for events");
  out.metrics_rollup = config.Duration(
      "metrics_rollup_interval", absl::Minutes(1),
      "how often the days whose tickets changed are rolled up for GetComplaintMetrics (0: never; metrics then read "
      "every ticket of the range)");
  if (out.sla < absl::Milliseconds(10) || out.sla > absl::Hours(1)) {
    config.AddError("job_interval must be between 10ms and 1h");
  }
  if (out.outbox < absl::Milliseconds(10) || out.outbox > absl::Minutes(1)) {
    config.AddError("outbox_interval must be between 10ms and 1m");
  }
  if (out.metrics_rollup != absl::ZeroDuration() &&
      (out.metrics_rollup < absl::Milliseconds(10) || out.metrics_rollup > absl::Hours(24))) {
    config.AddError("metrics_rollup_interval must be 0 or between 10ms and 24h");
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using care::complaint::v1::ComplaintService;
  care::ConfigReader config(argc, argv,
                            "care_complaint: tickets from every channel, SLAs and escalation, goodwill, satisfaction");
  care::ServerConfig server_config = care::ServerConfig::Read(config, "complaint", 50053);
  server_config.RequirePrivacyKey(config);
  std::string loyalty_target = config.Target("loyalty_target", "host:port of loyalty (tiers, goodwill points)");
  std::string promotion_target = config.Target("promotion_target", "host:port of promotion (goodwill vouchers)");
  std::string notification_target = config.Target("notification_target",
                                                  "host:port of notification (customer updates, surveys, check-ins)");
  bool peers_tls = config.Bool("peers_tls", false, "call loyalty, promotion and notification over TLS");
  std::string service_token_file = config.String(
      "service_token_file", "",
      "file holding this service's peer token (principal svc:complaint, role peer), presented to the others");
  const JobIntervals jobs = ReadJobIntervals(config);
  care::complaint::ComplaintOptions options = ReadComplaintOptions(config);
  bool any_peer = !loyalty_target.empty() || !promotion_target.empty() || !notification_target.empty();
  if (any_peer && service_token_file.empty()) {
    config.AddError("service_token_file is required with loyalty_target, promotion_target or notification_target");
  }
  // Members' tiers come from the signed tier cache (or loyalty itself).
  if (!loyalty_target.empty()) server_config.RequireTierCacheKey(config);
  config.Finish();

  care::ServerRunner runner(server_config, ComplaintService::service_full_name());
  care::metrics::AddToCatalog(care::DeclareTierCacheMetrics);
  care::metrics::AddToCatalog(care::complaint::DeclareMetrics);
  care::Database& db = runner.OpenDatabase(care::ComplaintSchema());

  std::unique_ptr<care::clients::loyalty::LoyaltyClient> loyalty;
  std::unique_ptr<care::TierLookup> tiers;
  if (loyalty_target.empty()) {
    care::LogWarn("no loyalty_target: complaints are filed without the member's tier");
  } else {
    loyalty = std::make_unique<care::clients::loyalty::LoyaltyClient>(
        runner.DialPeer(loyalty_target, peers_tls, service_token_file, care::clients::PeerHealthService("loyalty")));
    tiers = std::make_unique<care::TierLookup>(&runner.redis(), &runner.tier_cache_keys(), care::GetTierFrom(*loyalty));
  }

  std::unique_ptr<care::complaint::ComplaintStore> store = care::complaint::NewSqlComplaintStore(
      db, runner.subject_digests());
  std::unique_ptr<care::ErasureScrub> scrub = care::StartErasureScrub(db, runner.jobs(), "complaint");
  options.scrub = scrub.get();
  care::complaint::ComplaintService complaints(*store, runner.clock(), options);
  care::complaint::ComplaintGrpc adapter(runner.rpc(), complaints, tiers.get(), runner.subject_digests());
  runner.AddService(&adapter, ComplaintService::service_full_name());
  runner.jobs().Add("complaint.sla", jobs.sla, [&] { return complaints.RunSlaChecks(); });
  // Every minute, as the other retention purges.
  runner.jobs().Add("complaint.text_retention", absl::Minutes(1), [&] { return complaints.RunTextRetention(); });
  if (jobs.metrics_rollup > absl::ZeroDuration()) {
    runner.jobs().Add("complaint.metrics_rollup", jobs.metrics_rollup, [&] { return complaints.RunMetricsRollup(); });
  }

  // Goodwill and customer messages leave through the outbox; a peer that is
  // not configured keeps its events waiting until it is.
  std::map<std::string, care::Peer> peers;
  for (const auto& [name, target] : {std::pair<std::string, std::string>{"loyalty", loyalty_target},
                                     {"promotion", promotion_target},
                                     {"notification", notification_target}}) {
    if (!target.empty())
      peers[name] = runner.DialPeer(target, peers_tls, service_token_file, care::clients::PeerHealthService(name));
  }
  if (care::OutboxRelay* relay = runner.StartOutbox(std::move(peers), jobs.outbox)) {
    // A compensation is ISSUED only once loyalty/promotion acknowledged it.
    for (const char* method : {care::complaint::kAdjustPointsMethod, care::complaint::kIssueVoucherMethod}) {
      relay->OnOutcome(method, [&complaints, &digests = runner.subject_digests()](care::Txn& txn,
                                                                                  const care::OutboxEvent& event,
                                                                                  const absl::Status& result,
                                                                                  const std::string& response) {
        return complaints.GoodwillOutcome(*care::complaint::SqlComplaintTxn(txn, digests), event, result, response);
      });
    }
  }
  return runner.Run();
}
