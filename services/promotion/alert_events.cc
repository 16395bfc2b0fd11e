#include "services/promotion/alert_events.h"

#include "absl/strings/str_cat.h"
#include "care/notification/v1/notification.pb.h"
#include "common/proto_time.h"

namespace care::promotion {
namespace {

namespace nv1 = ::care::notification::v1;

constexpr char kIngestMethod[] = "/care.notification.v1.NotificationService/IngestEvent";

void FillAlert(const care::promotion::v1::Campaign& c, absl::Duration notice, nv1::PromotionAlert* a) {
  a->set_campaign_id(c.campaign_id());
  a->set_campaign_version(c.version());
  a->set_title(c.alert().title().empty() ? c.display_name() : c.alert().title());
  a->set_description(c.alert().description().empty() ? c.description() : c.alert().description());
  *a->mutable_target_tier_ids() = c.audience().tier_ids();
  *a->mutable_target_segments() = c.audience().segments();
  *a->mutable_channels() = c.alert().channels();
  *a->mutable_starts_at() = c.starts_at();
  *a->mutable_ends_at() = c.ends_at();
  *a->mutable_notice() = ToDurationProto(notice);
  a->set_short_notice(c.short_notice());
  a->set_campaign_time_zone(c.time_zone());
  for (const auto& [k, v] : c.alert().variables()) (*a->mutable_variables())[k] = v;
}

}  // namespace

OutboxEvent AlertEvent(const care::promotion::v1::Campaign& c, absl::Duration notice, absl::Time now, bool cancelled) {
  nv1::IngestEventRequest req;
  req.set_event_id(absl::StrCat("promotion:", c.campaign_id(), ":v", c.version()));
  req.set_source("promotion");
  *req.mutable_occurred_at() = ToTimestamp(now);
  if (cancelled) {
    auto* a = req.mutable_promotion_alert_cancelled();
    a->set_campaign_id(c.campaign_id());
    a->set_campaign_version(c.version());
  } else {
    FillAlert(c, notice, req.mutable_promotion_alert());
  }
  return OutboxEvent{req.event_id(), "notification", kIngestMethod, req.SerializeAsString()};
}

}  // namespace care::promotion
