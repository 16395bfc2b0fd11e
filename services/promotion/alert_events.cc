#include "services/promotion/alert_events.h"

#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "clients/notification/ingest_events.h"
#include "common/privacy.h"
#include "common/proto_time.h"

namespace care::promotion {
namespace {

namespace notify = ::care::clients::notification;

notify::PromotionAlert AlertOf(const care::promotion::v1::Campaign& c, absl::Duration notice) {
  notify::PromotionAlert a;
  a.campaign_id = c.campaign_id();
  a.campaign_version = c.version();
  a.title = c.alert().title().empty() ? c.display_name() : c.alert().title();
  a.description = c.alert().description().empty() ? c.description() : c.alert().description();
  a.target_tier_ids.assign(c.audience().tier_ids().begin(), c.audience().tier_ids().end());
  a.target_segments.assign(c.audience().segments().begin(), c.audience().segments().end());
  a.channels.assign(c.alert().channels().begin(), c.alert().channels().end());
  a.starts_at = FromTimestamp(c.starts_at());
  a.ends_at = FromTimestamp(c.ends_at());
  a.notice = notice;
  a.short_notice = c.short_notice();
  a.campaign_time_zone = c.time_zone();
  a.variables.insert(c.alert().variables().begin(), c.alert().variables().end());
  // Every translation goes along: notification knows each member's locale.
  a.localized_titles.insert(c.localized_display_names().begin(), c.localized_display_names().end());
  a.localized_descriptions.insert(c.localized_descriptions().begin(), c.localized_descriptions().end());
  return a;
}

// Bounded whatever the ids' lengths (an event id is at most 128
// characters), the same for every retry of the redemption.
std::string RedeemedEventId(const std::string& order_id, const std::string& campaign_id) {
  const std::string key = absl::StrCat(order_id, "\n", campaign_id);
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), md);
  const std::string hex = absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(md), sizeof(md)));
  return absl::StrCat("promotion:redeemed:", hex.substr(0, 32));
}

}  // namespace

std::vector<OutboxEvent> RedeemedEvents(const care::promotion::v1::Redemption& r, absl::Time now) {
  std::vector<OutboxEvent> out;
  const std::string& member_id = r.customer().member_id();
  if (member_id.empty()) return out;
  for (const auto& ac : r.campaigns()) {
    const notify::EventHeader header{RedeemedEventId(r.order_id(), ac.campaign_id()), "promotion", now};
    OutboxEvent e = notify::IngestEvent(header, notify::CampaignRedemption{member_id, ac.campaign_id(), r.order_id(),
                                                                           FromTimestamp(r.create_time())});
    // It names the member: an erasure deletes it, delivered or not.
    e.subject = MemberSubject(member_id);
    e.destination = kConversionDestination;
    out.push_back(std::move(e));
  }
  return out;
}

OutboxEvent AlertEvent(const care::promotion::v1::Campaign& c, absl::Duration notice, absl::Time now, bool cancelled) {
  const notify::EventHeader header{absl::StrCat("promotion:", c.campaign_id(), ":v", c.version()), "promotion", now};
  if (cancelled) return notify::IngestEvent(header, notify::PromotionAlertCancel{c.campaign_id(), c.version()});
  return notify::IngestEvent(header, AlertOf(c, notice));
}

}  // namespace care::promotion
