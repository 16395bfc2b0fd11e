#include "services/promotion/alert_events.h"

#include "absl/strings/str_cat.h"
#include "clients/notification/ingest_events.h"
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

}  // namespace

OutboxEvent AlertEvent(const care::promotion::v1::Campaign& c, absl::Duration notice, absl::Time now, bool cancelled) {
  const notify::EventHeader header{absl::StrCat("promotion:", c.campaign_id(), ":v", c.version()), "promotion", now};
  if (cancelled) return notify::IngestEvent(header, notify::PromotionAlertCancel{c.campaign_id(), c.version()});
  return notify::IngestEvent(header, AlertOf(c, notice));
}

}  // namespace care::promotion
