// care_loyalty: members, points, tiers and rewards.
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "clients/loyalty/tier_cache_metrics.h"
#include "clients/peer_health.h"
#include "clients/promotion/goodwill_voucher.h"
#include "clients/promotion/promotion_client.h"
#include "common/log.h"
#include "common/privacy.h"
#include "common/server.h"
#include "services/loyalty/loyalty_grpc.h"
#include "services/loyalty/loyalty_service.h"
#include "services/loyalty/prometheus.h"
#include "services/loyalty/redis_tier_cache.h"
#include "services/loyalty/sql_loyalty_store.h"

namespace {

struct PeerFlags {
  std::string name;
  std::string target;
  bool tls = false;
};

// --<name>_target and --<name>_tls of a peer that the outbox reaches
// (`what`: the events that wait for it; `also`: what else needs it).
PeerFlags OutboxPeerFlags(care::ConfigReader& config, const std::string& name, const std::string& what,
                          const std::string& also = "") {
  std::string target = config.Target(absl::StrCat(name, "_target"),
                                     absl::StrCat("host:port of the ", name, " service; empty = ", what,
                                                  " wait in the outbox until it is set", also));
  bool tls = config.Bool(absl::StrCat(name, "_tls"), false, absl::StrCat("call the ", name, " service over TLS"));
  return {name, target, tls};
}

// Events leave for the peers that are configured (the others' wait in the
// outbox until they are); each erasure request's outcome is kept on its
// erasure.
void StartOutbox(care::ServerRunner& runner, care::loyalty::LoyaltyService& loyalty,
                 const std::vector<PeerFlags>& peer_flags, const std::string& token_file, absl::Duration interval) {
  std::map<std::string, care::Peer> peers;
  for (const PeerFlags& peer : peer_flags) {
    if (peer.target.empty()) {
      care::LogWarn(absl::StrCat("no ", peer.name, "_target: its events are kept in the outbox and not delivered"));
    } else {
      peers[peer.name] = runner.DialPeer(peer.target, peer.tls, token_file,
                                         care::clients::PeerHealthService(peer.name));
    }
  }
  care::OutboxRelay* relay = runner.StartOutbox(std::move(peers), interval);
  if (relay == nullptr) return;
  for (const std::string& method : care::loyalty::ErasureMethods()) {
    relay->OnOutcome(method, [&loyalty, &digests = runner.subject_digests()](care::Txn& txn,
                                                                             const care::OutboxEvent& event,
                                                                             const absl::Status& result,
                                                                             const std::string& response) {
      return loyalty.ErasureOutcome(*care::loyalty::SqlLoyaltyTxn(txn, digests), event, result, response);
    });
  }
  // A reward's voucher: ISSUED with promotion's code, or refunded when refused.
  relay->OnOutcome(
      care::clients::promotion::kIssueVoucherMethod,
      [&loyalty, &digests = runner.subject_digests()](care::Txn& txn, const care::OutboxEvent& event,
                                                      const absl::Status& result, const std::string& response) {
        return loyalty.RewardVoucherOutcome(*care::loyalty::SqlLoyaltyTxn(txn, digests), event, result, response);
      });
}

// What loyalty needs of an order's redemption (services/loyalty/commands.h).
care::loyalty::LoyaltyService::RedemptionLookup RedemptionsFrom(
    const care::clients::promotion::PromotionClient& client) {
  return [&client](const std::string& order_id) -> absl::StatusOr<care::loyalty::OrderRedemption> {
    auto r = client.GetRedemption(order_id);
    if (!r.ok()) return r.status();
    using care::promotion::v1::RedemptionState;
    const bool live = r->state() == RedemptionState::REDEMPTION_STATE_REDEEMED ||
                      r->state() == RedemptionState::REDEMPTION_STATE_PARTIALLY_RETURNED;
    // What the campaigns still hold: a partial return recorded before the
    // purchase gave its share back to their points budgets already.
    const int64_t held = std::max<int64_t>(0, r->bonus_points() - r->bonus_points_released());
    return care::loyalty::OrderRedemption{r->redemption_id(), r->customer().member_id(), live, held};
  };
}

// Campaign bonus points: RecordPurchase reads the order's redemption from
// promotion (peer svc:loyalty), never the caller's numbers. Null (purchases
// naming a redemption refused) without --promotion_target.
std::unique_ptr<care::clients::promotion::PromotionClient> ReadRedemptionsFrom(care::ServerRunner& runner,
                                                                               const PeerFlags& promotion,
                                                                               const std::string& token_file,
                                                                               care::loyalty::LoyaltyService& loyalty) {
  if (promotion.target.empty()) return nullptr;
  auto client = std::make_unique<care::clients::promotion::PromotionClient>(
      runner.DialPeer(promotion.target, promotion.tls, token_file, care::clients::PeerHealthService("promotion")));
  loyalty.SetRedemptionLookup(RedemptionsFrom(*client));
  return client;
}

// The loyalty jobs: each does a bounded batch on the service clock.
void AddJobs(care::JobRunner& jobs, care::loyalty::LoyaltyService& loyalty, absl::Duration job_interval,
             absl::Duration audit_interval) {
  jobs.Add("loyalty.expiry_warnings", job_interval, [&] { return loyalty.WarnExpiringPoints(); });
  jobs.Add("loyalty.expire_points", job_interval, [&] { return loyalty.ExpirePoints(); });
  jobs.Add("loyalty.tier_reviews", job_interval, [&] { return loyalty.ReviewTiers(); });
  jobs.Add("loyalty.birthday_bonus", job_interval, [&] { return loyalty.GrantBirthdayBonuses(); });
  jobs.Add("loyalty.occasions", job_interval, [&] { return loyalty.GrantOccasions(); });
  jobs.Add("loyalty.cadence", job_interval, [&] { return loyalty.RunCadence(); });
  jobs.Add("loyalty.program_reevaluation", job_interval, [&] { return loyalty.ReevaluateAfterProgramChange(); });
  jobs.Add("loyalty.tier_cache_repair", absl::Seconds(1), [&] { return loyalty.RepairTierCache(); });
  jobs.Add("loyalty.tier_cache_audit", audit_interval, [&] { return loyalty.AuditTierCache(); });
  jobs.Add("loyalty.erasure_scrub", absl::Seconds(1), [&] { return loyalty.ScrubAfterErasures(); });
}

// --link_contacts. Opt-in: complaint's events go in order, so a complaint
// without LinkContacts (an older version) would hold back its erasure
// requests.
bool LinkContactsFlag(care::ConfigReader& config, const PeerFlags& complaint) {
  const bool link = config.Bool(
      "link_contacts", false,
      "on enrolment, ask complaint to link its contacts with the member's e-mail or phone (LinkContacts through the "
      "outbox; needs complaint_target and a complaint that has LinkContacts)");
  if (link && complaint.target.empty()) config.AddError("link_contacts needs complaint_target");
  return link;
}

}  // namespace

int main(int argc, char** argv) {
  using care::loyalty::v1::LoyaltyService;
  care::ConfigReader config(argc, argv, "care_loyalty: members, points, tiers and rewards");
  care::ServerConfig server_config = care::ServerConfig::Read(config, "loyalty", 50051);
  server_config.RequirePrivacyKey(config);
  std::string notification_target = config.Target(
      "notification_target",
      "host:port of the notification service; empty = events wait in the outbox until it is set");
  bool notification_tls = config.Bool("notification_tls", false, "call the notification service over TLS");
  // Erasures reach promotion and complaint too; reward vouchers promotion,
  // and RecordPurchase reads redemptions there for campaign bonus points.
  const PeerFlags promotion = OutboxPeerFlags(config, "promotion", "erasure requests and reward vouchers",
                                              ", and bonus-point purchases refused");
  const PeerFlags complaint = OutboxPeerFlags(config, "complaint",
                                              "erasure requests, contact links and care cadence tickets");
  const bool link_contacts = LinkContactsFlag(config, complaint);
  std::string service_token_file = config.String(
      "service_token_file", "",
      "file holding this service's peer token (principal svc:loyalty, role peer), presented to notification, "
      "promotion and complaint");
  absl::Duration job_interval = config.Duration("job_interval", absl::Seconds(30),
                                                "how often expiry, tier reviews and birthdays are checked");
  absl::Duration outbox_interval = config.Duration("outbox_interval", absl::Seconds(1),
                                                   "how often the outbox relay looks for events");
  int64_t tier_memo_entries = config.Int(
      "tier_memo_entries", -1, -1, 100000000,
      "tier snapshots loyalty keeps in memory in front of Redis (0 = every GetTier asks Redis; -1 = 200000 on "
      "SQLite, 0 on PostgreSQL, where other replicas write tiers this memo would not see)");
  absl::Duration audit_interval = config.Duration(
      "tier_cache_audit_interval", absl::Minutes(10),
      "how often every tier cache entry is checked against the database (forged, unsigned or ahead of it "
      "after a restore: overwritten)");
  server_config.RequireTierCacheKey(config);
  if (audit_interval < absl::Seconds(1) || audit_interval > absl::Hours(24)) {
    config.AddError("tier_cache_audit_interval must be between 1s and 24h");
  }
  if ((!notification_target.empty() || !promotion.target.empty() || !complaint.target.empty()) &&
      service_token_file.empty()) {
    config.AddError(
        "service_token_file is required with notification_target, promotion_target or complaint_target "
        "(CARE_SERVICE_TOKEN_FILE)");
  }
  if (job_interval < absl::Seconds(1) || job_interval > absl::Hours(1)) {
    config.AddError("job_interval must be between 1s and 1h");
  }
  if (outbox_interval < absl::Milliseconds(10) || outbox_interval > absl::Minutes(1)) {
    config.AddError("outbox_interval must be between 10ms and 1m");
  }
  config.Finish();

  care::ServerRunner runner(server_config, LoyaltyService::service_full_name());
  care::metrics::AddToCatalog(care::DeclareTierCacheMetrics);
  care::metrics::AddToCatalog(care::loyalty::DeclareMetrics);
  care::Database& db = runner.OpenDatabase(care::LoyaltySchema());
  std::unique_ptr<care::loyalty::LoyaltyStore> store = care::loyalty::NewSqlLoyaltyStore(db, runner.subject_digests());
  care::loyalty::RedisTierCache redis_cache(runner.redis(), runner.tier_cache_keys());
  // The memo holds only this process's writes: right for SQLite's one
  // writer, stale as soon as another replica changes a tier.
  const bool shared_database = db.engine() == care::SqlEngine::kPostgres;
  if (tier_memo_entries < 0) tier_memo_entries = shared_database ? 0 : 200000;
  if (shared_database && tier_memo_entries > 0) {
    care::LogWarn("tier_memo_entries > 0 on PostgreSQL: GetTier is right only while this is the one loyalty replica");
  }
  care::loyalty::TierSnapshotMemo memo(&redis_cache, static_cast<size_t>(tier_memo_entries));
  care::loyalty::LoyaltyService loyalty(*store, runner.clock(), &memo);
  // An erasure's deleted rows leave no copy in the WAL (docs/privacy.md).
  care::ErasureScrub scrub([&db] { return db.Scrub(); });
  loyalty.SetErasureScrub(&scrub);
  loyalty.SetLinkContacts(link_contacts);
  auto promotion_client = ReadRedemptionsFrom(runner, promotion, service_token_file, loyalty);
  care::loyalty::LoyaltyGrpc adapter(runner.rpc(), loyalty, runner.subject_digests());
  runner.AddService(&adapter, LoyaltyService::service_full_name());

  AddJobs(runner.jobs(), loyalty, job_interval, audit_interval);
  StartOutbox(runner, loyalty, {{"notification", notification_target, notification_tls}, promotion, complaint},
              service_token_file, outbox_interval);
  return runner.Run();
}
