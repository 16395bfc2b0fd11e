// The notification domain's entry points that are not a concern of their
// own: construction, settings in force, ids and the read-only queries.
// Ingest (ingest.cc), fan-out (fan_out.cc), dispatch (dispatch.cc),
// rendering (render.cc), inbox (inbox.cc, inbox_feed.cc), preferences,
// settings, templates and dead letters have their own files.
#include "services/notification/notification_service.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/ids.h"
#include "common/proto_time.h"
#include "services/notification/notification_internal.h"

namespace care::notification {

Window ToWindow(const v1::SendWindow& w) {
  return Window{w.start().hours() * 60 + w.start().minutes(), w.end().hours() * 60 + w.end().minutes()};
}

NotificationService::NotificationService(NotificationStore& store, const Clock& clock, AudienceSource* audience,
                                         NotificationOptions options)
    : store_(store), clock_(clock), audience_(audience), options_(std::move(options)) {
  if (options_.replica_id.empty()) options_.replica_id = NewId("replica-");
}

std::string NotificationService::DeliveryId(const std::string& member_id, const std::string& message_key, int channel) {
  // The message's hash first, then the member: one fan-out's deliveries
  // (members streamed in id order) are appended side by side in the id
  // indexes instead of landing on random pages of tables that hold millions.
  return absl::StrCat(StableId("dlv-", absl::StrCat(message_key, "\n", channel)), "-", member_id);
}

v1::Settings NotificationService::DefaultSettings() {
  v1::Settings s;
  s.mutable_frequency_cap()->set_max_messages(5);
  *s.mutable_frequency_cap()->mutable_window() = ToDurationProto(absl::Hours(168));
  s.mutable_retry_policy()->set_max_attempts(8);
  *s.mutable_retry_policy()->mutable_initial_backoff() = ToDurationProto(absl::Seconds(10));
  *s.mutable_retry_policy()->mutable_max_backoff() = ToDurationProto(absl::Minutes(15));
  s.mutable_retry_policy()->set_multiplier(2.0);
  s.mutable_default_send_window()->mutable_start()->set_hours(8);
  s.mutable_default_send_window()->mutable_end()->set_hours(21);
  s.set_default_time_zone("UTC");
  s.set_default_locale("en");
  *s.mutable_quiet_hours_margin() = ToDurationProto(absl::Minutes(15));
  *s.mutable_in_app()->mutable_retention() = ToDurationProto(absl::Hours(24 * 365));
  *s.mutable_in_app()->mutable_replay_window() = ToDurationProto(absl::Hours(24 * 7));
  return s;
}

absl::StatusOr<v1::Settings> NotificationService::CurrentSettings() {
  v1::Settings out = DefaultSettings();
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto stored = tx.GetSettings();
    if (!stored.ok()) return stored.status();
    if (*stored) out = **stored;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::Schedule> NotificationService::GetSchedule(const std::string& schedule_id,
                                                              const std::string& campaign_id) {
  std::optional<ScheduleRow> row;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto r = schedule_id.empty() ? tx.GetScheduleByCampaign(campaign_id) : tx.GetSchedule(schedule_id);
    if (!r.ok()) return r.status();
    row = std::move(*r);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!row) {
    return schedule_id.empty() ? NotFound("CAMPAIGN_NOT_FOUND", "no alert was ever ingested for the campaign")
                               : NotFound("SCHEDULE_NOT_FOUND", "no such schedule");
  }
  return row->schedule;
}

absl::StatusOr<std::vector<v1::Schedule>> NotificationService::ListSchedules(const ScheduleFilter& filter,
                                                                             const std::optional<ScheduleCursor>& after,
                                                                             int limit) {
  std::vector<v1::Schedule> out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto r = tx.ListSchedules(filter, after, limit);
    if (!r.ok()) return r.status();
    out = std::move(*r);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::Delivery> NotificationService::GetDelivery(const std::string& delivery_id,
                                                              const v1::DeliveryKey* key) {
  std::optional<v1::Delivery> d;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto r = key ? tx.GetDeliveryByKey(key->member_id(), key->message_key(), key->channel())
                 : tx.GetDelivery(delivery_id);
    if (!r.ok()) return r.status();
    d = std::move(*r);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!d) return NotFound("DELIVERY_NOT_FOUND", "no such delivery");
  return *d;
}

absl::StatusOr<std::vector<std::pair<int64_t, v1::Delivery>>> NotificationService::ListDeliveries(
    const v1::DeliveryFilter& filter, int64_t before_seq, int limit) {
  std::vector<std::pair<int64_t, v1::Delivery>> out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto r = tx.ListDeliveries(DeliveryFilterOf(filter), before_seq, limit);
    if (!r.ok()) return r.status();
    out = std::move(*r);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

namespace {

// Per channel the alert was sent or converted on: members alerted (the SENT
// cell) and converted (the rollup). The rate is capped at 1: the retention
// purge may delete SENT deliveries the rollup still counts as converted.
void AddConversions(v1::CampaignDeliveryStats& stats, const std::map<int, int64_t>& converted) {
  std::map<int, v1::ChannelConversion> by_channel;
  for (const v1::DeliveryCount& c : stats.counts()) {
    if (c.status() != v1::DELIVERY_STATUS_SENT) continue;
    v1::ChannelConversion& conv = by_channel[c.channel()];
    conv.set_members_alerted(conv.members_alerted() + c.count());
  }
  for (const auto& [channel, members] : converted) by_channel[channel].set_members_converted(members);
  for (auto& [channel, conv] : by_channel) {
    conv.set_channel(static_cast<care::common::v1::MessageChannel>(channel));
    if (conv.members_alerted() > 0) {
      conv.set_conversion_rate(std::min(1.0, static_cast<double>(conv.members_converted()) /
                                                 static_cast<double>(conv.members_alerted())));
    }
    *stats.add_conversions() = conv;
  }
}

}  // namespace

absl::StatusOr<v1::CampaignDeliveryStats> NotificationService::CampaignStats(const std::string& campaign_id) {
  v1::CampaignDeliveryStats stats;
  bool found = false;
  const absl::Time now = clock_.Now();
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto row = tx.GetScheduleByCampaign(campaign_id);
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
    found = true;
    stats.set_campaign_id(campaign_id);
    stats.set_schedule_id((*row)->schedule.schedule_id());
    stats.set_schedule_state((*row)->schedule.state());
    stats.set_members_resolved((*row)->schedule.members_resolved());
    auto counts = tx.CampaignCounts(campaign_id);
    if (!counts.ok()) return counts.status();
    for (const auto& c : *counts) {
      *stats.add_counts() = c;
      stats.set_total_deliveries(stats.total_deliveries() + c.count());
    }
    auto converted = tx.CampaignConversions(campaign_id);
    if (!converted.ok()) return converted.status();
    AddConversions(stats, *converted);
    *stats.mutable_as_of() = ToTimestamp(now);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!found) return NotFound("CAMPAIGN_NOT_FOUND", "no alert was ever ingested for the campaign");
  return stats;
}

}  // namespace care::notification
