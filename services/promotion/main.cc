// care_promotion: campaigns, vouchers, budgets and cart quotes.
#include <openssl/rand.h>

#include <map>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "clients/loyalty/loyalty_client.h"
#include "clients/loyalty/tier_cache.h"
#include "clients/peer_health.h"
#include "common/erasure_scrub.h"
#include "common/errors.h"
#include "common/key_file.h"
#include "common/log.h"
#include "common/server.h"
#include "services/promotion/alert_events.h"
#include "services/promotion/promotion_grpc.h"
#include "services/promotion/promotion_service.h"
#include "services/promotion/quote_token.h"
#include "services/promotion/sql_promotion_store.h"

namespace {

// A promotion without a loyalty service cannot know any member: a
// configuration error, not a passing outage, so FAILED_PRECONDITION (a retry
// cannot succeed until an operator acts).
absl::Status LoyaltyNotConfigured() {
  return care::FailedPrecondition("LOYALTY_NOT_CONFIGURED", "this promotion service has no loyalty_target");
}

// What a failed member lookup tells the caller: an unknown member is
// NOT_FOUND as loyalty said; loyalty answering that it is not set up yet
// (FAILED_PRECONDITION, e.g. PROGRAM_NOT_CONFIGURED) is a configuration
// error and passes through with its reason; anything else (loyalty or Redis
// down, a timeout) is UNAVAILABLE with `unavailable_reason` (what could not
// be read), worth a retry.
absl::Status LookupError(const absl::Status& s, absl::string_view unavailable_reason, absl::string_view retry_message) {
  if (s.code() == absl::StatusCode::kNotFound) return s;
  if (s.code() == absl::StatusCode::kFailedPrecondition && !care::ErrorReason(s).empty()) {
    return care::Error(absl::StatusCode::kFailedPrecondition, care::ErrorReason(s),
                       absl::StrCat("loyalty is not set up: ", s.message()));
  }
  return care::Unavailable(unavailable_reason, retry_message);
}

// The member as a quote sees them: tier from the tier cache (Redis first,
// then loyalty's GetTier). No local cache: an upgrade loyalty acknowledged is
// in Redis already, so the next quote sees it.
care::promotion::PromotionService::ShopperLookup Shoppers(care::TierLookup* tiers) {
  return [tiers](const std::string& member_id) -> absl::StatusOr<care::promotion::Shopper> {
    if (tiers == nullptr) return LoyaltyNotConfigured();
    auto snap = tiers->Get(member_id);
    if (!snap.ok()) return LookupError(snap.status(), "TIER_UNAVAILABLE", "the member's tier cannot be read; retry");
    care::promotion::Shopper s;
    s.guest = false;
    s.member_id = member_id;
    s.tier_id = snap->tier_id();
    s.tier_version = snap->version();
    s.tier_discount_bps = snap->benefits().discount_bps();
    s.tier_free_shipping = snap->benefits().free_shipping();
    s.tier_free_returns = snap->benefits().free_returns();
    return s;
  };
}

// From loyalty's member record: opt-in to special offers = a granted
// marketing consent on any channel (the contract's definition), and the
// customer segment.
care::promotion::PromotionService::ProfileLookup Profiles(const care::clients::loyalty::LoyaltyClient* loyalty) {
  return [loyalty](const std::string& member_id) -> absl::StatusOr<care::promotion::PromotionService::Profile> {
    if (loyalty == nullptr) return LoyaltyNotConfigured();
    auto m = loyalty->GetMember(member_id);
    if (!m.ok())
      return LookupError(m.status(), "MEMBER_PROFILE_UNAVAILABLE", "the member's opt-in cannot be read; retry");
    care::promotion::PromotionService::Profile p;
    p.segment = m->segment();
    for (const auto& c : m->marketing_consents()) p.opted_in = p.opted_in || c.granted();
    return p;
  };
}

// The quote token keys of `secret_file` (none when it is empty). Read
// before Finish(): a missing, empty or short key is a configuration error
// (exit 2), never a weak signer.
std::vector<care::promotion::QuoteKey> ReadQuoteKeys(care::ConfigReader& config, const std::string& secret_file) {
  if (secret_file.empty()) return {};
  auto keys = care::ReadKeyFile(secret_file);
  if (!keys.ok()) {
    config.AddError(absl::StrCat("quote_token_secret_file: ", keys.status().message()));
    return {};
  }
  return *std::move(keys);
}

// Without a key file (development only): a random key per process.
std::vector<care::promotion::QuoteKey> EphemeralQuoteKey() {
  care::LogWarn(
      "no quote_token_secret_file: quote tokens are signed with a random per-process key and die on restart "
      "(and are not accepted by other replicas); set it in production");
  unsigned char key[32];
  if (RAND_bytes(key, sizeof(key)) != 1) care::Fatal("no random source for the quote token key");
  return {{"ephemeral", std::string(reinterpret_cast<char*>(key), sizeof(key))}};
}

}  // namespace

int main(int argc, char** argv) {
  using care::promotion::v1::PromotionService;
  care::ConfigReader config(argc, argv, "care_promotion: campaigns, vouchers, budgets and cart quotes");
  care::ServerConfig server_config = care::ServerConfig::Read(config, "promotion", 50052);
  server_config.RequirePrivacyKey(config);
  std::string loyalty_target = config.Target("loyalty_target",
                                             "host:port of the loyalty service (tiers on a cache miss, opt-in)");
  bool loyalty_tls = config.Bool("loyalty_tls", false, "call the loyalty service over TLS");
  std::string notification_target = config.Target(
      "notification_target",
      "host:port of the notification service; empty = alerts wait in the outbox until it is set");
  bool notification_tls = config.Bool("notification_tls", false, "call the notification service over TLS");
  std::string service_token_file = config.String("service_token_file", "",
                                                 "file holding this service's peer token (principal svc:promotion, "
                                                 "role peer), presented to loyalty and notification");
  absl::Duration notice = config.Duration("announce_notice", absl::Hours(72),
                                          "least time between announcing a campaign and its start");
  absl::Duration quote_ttl = config.Duration("quote_ttl", absl::Minutes(15), "how long a quote token is valid");
  std::string secret_file = config.String(
      "quote_token_secret_file", "",
      "file of quote token HMAC keys, one `<key_id> <key>` per line (id: 1-32 of A-Za-z0-9_-; key: 32+ bytes); "
      "the first signs, all verify; empty = a random key per process (dev only: tokens die on restart)");
  absl::Duration outbox_interval = config.Duration("outbox_interval", absl::Seconds(1),
                                                   "how often the outbox relay looks for events");
  // Members' tiers come from the signed tier cache (or loyalty itself).
  if (!loyalty_target.empty()) server_config.RequireTierCacheKey(config);
  if ((!notification_target.empty() || !loyalty_target.empty()) && service_token_file.empty()) {
    config.AddError("service_token_file is required with loyalty_target or notification_target");
  }
  if (notice < absl::ZeroDuration() || notice > absl::Hours(24 * 30)) {
    config.AddError("announce_notice must be between 0 and 30 days");
  }
  if (quote_ttl < absl::Seconds(1) || quote_ttl > absl::Hours(24)) config.AddError("quote_ttl must be 1s..24h");
  if (outbox_interval < absl::Milliseconds(10) || outbox_interval > absl::Minutes(1)) {
    config.AddError("outbox_interval must be between 10ms and 1m");
  }
  std::vector<care::promotion::QuoteKey> quote_keys = ReadQuoteKeys(config, secret_file);
  config.Finish();

  care::ServerRunner runner(server_config, PromotionService::service_full_name());
  care::metrics::AddToCatalog(care::DeclareTierCacheMetrics);
  care::Database& db = runner.OpenDatabase(care::PromotionSchema());

  care::promotion::PromotionOptions options;
  options.notice = notice;
  options.quote_ttl = quote_ttl;
  options.token_keys = quote_keys.empty() ? EphemeralQuoteKey() : std::move(quote_keys);
  std::unique_ptr<care::ErasureScrub> scrub = care::StartErasureScrub(db, runner.jobs(), "promotion");
  options.scrub = scrub.get();

  std::unique_ptr<care::clients::loyalty::LoyaltyClient> loyalty;
  std::unique_ptr<care::TierLookup> tiers;
  if (loyalty_target.empty()) {
    care::LogWarn("no loyalty_target: quotes for members fail with TIER_UNAVAILABLE");
  } else {
    loyalty = std::make_unique<care::clients::loyalty::LoyaltyClient>(
        runner.DialPeer(loyalty_target, loyalty_tls, service_token_file, care::clients::PeerHealthService("loyalty")));
    tiers = std::make_unique<care::TierLookup>(&runner.redis(), &runner.tier_cache_keys(), care::GetTierFrom(*loyalty));
  }

  std::unique_ptr<care::promotion::PromotionStore> store = care::promotion::NewSqlPromotionStore(
      db, runner.subject_digests());
  care::promotion::PromotionService promotion(*store, runner.clock(), Shoppers(tiers.get()), Profiles(loyalty.get()),
                                              options);
  if (absl::Status s = promotion.Init(); !s.ok()) care::Fatal(absl::StrCat("loading campaigns: ", s.message()));
  care::promotion::PromotionGrpc adapter(runner.rpc(), promotion, runner.subject_digests());
  runner.AddService(&adapter, PromotionService::service_full_name());

  std::map<std::string, care::Peer> peers;
  if (notification_target.empty()) {
    care::LogWarn("no notification_target: alerts are kept in the outbox and not delivered");
  } else {
    peers["notification"] = runner.DialPeer(notification_target, notification_tls, service_token_file,
                                            care::clients::PeerHealthService("notification"));
    // Conversions, in a line of their own to the same peer (alert_events.h).
    peers[care::promotion::kConversionDestination] = peers["notification"];
  }
  runner.StartOutbox(std::move(peers), outbox_interval);
  return runner.Run();
}
