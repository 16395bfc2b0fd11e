#pragma once

// Notification's storage, in the domain's terms: an interface with no SQL
// in it (the SQL implementation is sql_notification_store.*). A StoreTxn is
// one transaction; writes are serializable, a failed write leaves nothing
// behind, and a write may run more than once (a lost conflict is retried). Resources are the contract's messages
// (plain data: no gRPC here). Methods return storage errors only (no API
// reasons: the domain chooses those) and nullopt for "absent"; a stored
// blob that does not parse is DATA_LOSS.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "care/common/v1/privacy.pb.h"
#include "care/notification/v1/notification.pb.h"
#include "common/store.h"

namespace care::notification {

// An event another service sent: its envelope and its one payload, as the
// contract's messages (IngestEvent's wire request stops at the adapter).
struct Event {
  using Payload =
      std::variant<std::monostate, v1::PromotionAlert, v1::PromotionAlertCancelled, v1::MemberProfileChanged,
                   v1::TierChanged, v1::PointsExpiring, v1::BirthdayReward, v1::VisitRewardEarned, v1::ComplaintUpdate,
                   v1::SatisfactionSurvey, v1::ProactiveCheckIn, v1::Transactional, v1::OccasionReward, v1::StaffAlert,
                   v1::CareCheckIn, v1::CampaignRedeemed>;
  std::string event_id;
  std::string source;  // the sending service, recorded on deliveries
  absl::Time occurred_at = absl::UnixEpoch();
  Payload payload;
};

// ListTemplates' filter: an unset field matches anything.
struct TemplateFilter {
  int kind = 0;
  std::string template_key;
  int channel = 0;
  std::string locale;
};

// ListDeliveries' filter: an unset field (empty, 0, nullopt) matches
// anything; create time in [created_after, created_before).
struct DeliveryFilter {
  std::string member_id, campaign_id, message_key, schedule_id, complaint_id;
  std::string contact_id;     // a complaint contact's deliveries (Delivery.contact_id)
  std::vector<int> statuses;  // DeliveryStatus
  int suppression_reason = 0;
  std::vector<int> channels;  // MessageChannel
  std::vector<int> kinds;     // MessageKind
  std::optional<absl::Time> created_after, created_before;
};

// A schedule with its fan-out cursor.
struct ScheduleRow {
  v1::Schedule schedule;
  std::string after_member_id;                 // last member whose deliveries are stored
  absl::Time retry_at = absl::InfinitePast();  // wall clock
};

// One member-id range of a schedule's fan-out, worked on by one replica at
// a time: the one whose lease (wall clock) has not ended.
struct FanOutChunk {
  std::string schedule_id;
  int chunk = 0;
  std::string lo, hi;           // members in (lo, hi]; hi "" = no upper bound
  std::string after_member_id;  // last member whose deliveries are stored
  bool done = false;
  std::string holder;
  absl::Time lease_until = absl::InfinitePast();
};

// Loyalty's view of a member plus the member's own preferences.
struct MemberRow {
  std::string member_id;
  std::string name, email, phone, profile_locale, profile_zone;
  absl::Time profile_at = absl::InfinitePast();
  std::optional<v1::Preferences> preferences;
};

struct ConsentState {
  bool granted = false;
  absl::Time effective_at = absl::InfinitePast();
};

struct ScheduleFilter {
  std::vector<int> states;
  int kind = 0;
  std::string campaign_id, member_id;
  std::optional<absl::Time> due_after, due_before;
};

// Position in a list ordered by (due_at, schedule_id) or by seq.
struct ScheduleCursor {
  int64_t due_at = 0;
  std::string schedule_id;
};

struct InboxFilter {
  std::string member_id;
  bool unread_only = false;
  std::vector<int> kinds;
  absl::Time now;  // expired messages are not listed
};

// SubscribeInbox's feed (inbox_events): changes in commit order.
struct InboxEvent {
  int64_t seq = 0;
  int type = 0;  // InboxEventType
  std::string member_id;
  v1::InboxMessage message;
};

// Retained feed positions: events first..last are readable; first = last + 1
// when none is retained; `last` is the newest position ever assigned.
struct InboxFeedBounds {
  int64_t first = 1;
  int64_t last = 0;
};

class StoreTxn : public ServiceTxn {
 public:
  // Schedules.
  virtual absl::StatusOr<std::optional<ScheduleRow>> GetSchedule(const std::string& schedule_id) = 0;
  virtual absl::StatusOr<std::optional<ScheduleRow>> GetScheduleByCampaign(const std::string& campaign_id) = 0;
  virtual absl::Status PutSchedule(const ScheduleRow& row) = 0;  // insert or replace
  // SCHEDULED or RUNNING schedules whose fan_out_time is not after `now`
  // and whose retry_at is not after `wall_now`, soonest first.
  virtual absl::StatusOr<std::vector<ScheduleRow>> DueSchedules(absl::Time now, absl::Time wall_now, int limit) = 0;
  virtual absl::StatusOr<std::vector<v1::Schedule>> ListSchedules(const ScheduleFilter& filter,
                                                                  const std::optional<ScheduleCursor>& after,
                                                                  int limit) = 0;

  // The fan-out's chunks of a schedule, by chunk number.
  virtual absl::StatusOr<std::vector<FanOutChunk>> Chunks(const std::string& schedule_id) = 0;
  // The lowest chunk not done whose lease ended before `wall_now` or is
  // `holder`'s (any chunk not done where one process writes the database:
  // another holder is then this process before a restart); engines with row
  // locks skip a chunk another transaction is claiming instead of waiting.
  virtual absl::StatusOr<std::optional<FanOutChunk>> ClaimableChunk(const std::string& schedule_id,
                                                                    const std::string& holder, absl::Time wall_now) = 0;
  virtual absl::StatusOr<std::optional<FanOutChunk>> GetChunk(const std::string& schedule_id, int chunk) = 0;
  virtual absl::Status PutChunk(const FanOutChunk& chunk) = 0;  // insert or replace

  // Deliveries. InsertDelivery is a no-op returning false when the
  // (member, message key, channel) already has one.
  virtual absl::StatusOr<bool> InsertDelivery(const v1::Delivery& delivery) = 0;
  virtual absl::Status UpdateDelivery(const v1::Delivery& delivery) = 0;
  virtual absl::StatusOr<std::optional<v1::Delivery>> GetDelivery(const std::string& delivery_id) = 0;
  virtual absl::StatusOr<std::optional<v1::Delivery>> GetDeliveryByKey(const std::string& member_id,
                                                                       const std::string& message_key, int channel) = 0;
  // Reads at once what GetDeliveryByKey(member, message_key, any channel)
  // and MarketingSentSince(member, ...) need for these members, for a batch
  // of the fan-out: those then cost no query, and InsertDelivery of these
  // members may be written with the batch's others at the end of the
  // transaction (reads of deliveries see them all the same).
  virtual absl::Status PrefetchDeliveries(const std::vector<std::string>& member_ids,
                                          const std::string& message_key) = 0;
  // PENDING deliveries whose send_after (or next attempt) is not after `now`.
  virtual absl::StatusOr<std::vector<v1::Delivery>> DueDeliveries(absl::Time now, int limit) = 0;
  // PENDING deliveries of a schedule (for cancellation), after seq `after`.
  virtual absl::StatusOr<std::vector<std::pair<int64_t, v1::Delivery>>> PendingOfSchedule(
      const std::string& schedule_id, int64_t after, int limit) = 0;
  // Newest first (by seq); `before_seq` 0 = from the newest.
  virtual absl::StatusOr<std::vector<std::pair<int64_t, v1::Delivery>>> ListDeliveries(const DeliveryFilter& filter,
                                                                                       int64_t before_seq,
                                                                                       int limit) = 0;
  // Counts by (channel, status, suppression_reason) of a campaign.
  virtual absl::StatusOr<std::vector<v1::DeliveryCount>> CampaignCounts(const std::string& campaign_id) = 0;
  // Alert -> redemption conversions (migrations/0009_campaign_conversions.sql):
  // one more member converted on the campaign's channel, and the members
  // converted per channel. The rollup names no member (`member_id` only
  // picks the shard).
  virtual absl::Status AddConversion(const std::string& campaign_id, int channel, const std::string& member_id) = 0;
  virtual absl::StatusOr<std::map<int, int64_t>> CampaignConversions(const std::string& campaign_id) = 0;
  // SENT marketing messages (distinct message keys) of a member since `since`.
  virtual absl::StatusOr<int64_t> MarketingSentSince(const std::string& member_id, absl::Time since) = 0;

  // Members, preferences and consent.
  virtual absl::StatusOr<std::optional<MemberRow>> GetMember(const std::string& member_id) = 0;
  virtual absl::Status PutMember(const MemberRow& member) = 0;
  // Reads these members and their consents at once, for a batch of the
  // fan-out: GetMember and GetConsent of them then cost no query.
  virtual absl::Status PrefetchMembers(const std::vector<std::string>& member_ids) = 0;
  virtual absl::StatusOr<std::optional<ConsentState>> GetConsent(const std::string& member_id, int channel) = 0;
  virtual absl::Status PutConsent(const std::string& member_id, int channel, const ConsentState& state) = 0;
  virtual absl::Status AppendConsentRecord(const v1::ConsentRecord& record) = 0;
  // The current consent of every channel the member has one for.
  virtual absl::StatusOr<std::vector<std::pair<int, ConsentState>>> Consents(const std::string& member_id) = 0;
  // Newest first (by seq); `before_seq` 0 = from the newest; channel 0 = all.
  virtual absl::StatusOr<std::vector<std::pair<int64_t, v1::ConsentRecord>>> ConsentHistory(
      const std::string& member_id, int channel, int64_t before_seq, int limit) = 0;

  // Inbox.
  // The event a member-addressed delivery was made from.
  virtual absl::Status PutDeliveryEvent(const std::string& delivery_id, const Event& event) = 0;
  virtual absl::StatusOr<std::optional<Event>> GetDeliveryEvent(const std::string& delivery_id) = 0;

  virtual absl::Status InsertInbox(const v1::InboxMessage& message) = 0;
  virtual absl::StatusOr<std::optional<v1::InboxMessage>> GetInbox(const std::string& message_id) = 0;
  virtual absl::Status MarkInboxRead(const std::string& message_id, absl::Time at) = 0;
  // Newest first; `before_seq` 0 = from the newest.
  virtual absl::StatusOr<std::vector<std::pair<int64_t, v1::InboxMessage>>> ListInbox(const InboxFilter& filter,
                                                                                      int64_t before_seq,
                                                                                      int limit) = 0;
  virtual absl::StatusOr<int64_t> UnreadCount(const std::string& member_id, absl::Time now) = 0;
  virtual absl::StatusOr<InboxFeedBounds> InboxFeedRange() = 0;
  // Events with seq in (after, through] of the given kinds (empty = all),
  // oldest first; messages no longer stored are skipped.
  virtual absl::StatusOr<std::vector<InboxEvent>> InboxFeed(int64_t after, int64_t through,
                                                            const std::vector<int>& kinds) = 0;
  // When the oldest retained event happened (nullopt: none retained).
  virtual absl::StatusOr<std::optional<absl::Time>> OldestInboxEventAt() = 0;
  // Deletes up to `limit` of the oldest events that happened before `before`;
  // returns how many.
  virtual absl::StatusOr<int64_t> PruneInboxFeed(absl::Time before, int limit) = 0;

  // Retention (RunRetention): each deletes up to `limit` rows and returns
  // how many. Inbox messages that expired before `expired_before`:
  virtual absl::StatusOr<int64_t> PurgeExpiredInbox(absl::Time expired_before, int limit) = 0;
  // Deliveries in a final state (sent, failed, suppressed) created before
  // `created_before`, with their events (the payload); pending ones stay.
  virtual absl::StatusOr<int64_t> PurgeFinalDeliveries(absl::Time created_before, int limit) = 0;

  // Templates by (kind, template_key, channel, locale).
  virtual absl::StatusOr<std::optional<v1::Template>> GetTemplate(const v1::TemplateKey& key) = 0;
  virtual absl::Status PutTemplate(const v1::Template& t) = 0;
  virtual absl::Status DeleteTemplate(const v1::TemplateKey& key) = 0;
  // Matching `filter` (unset fields match anything), ordered by the key,
  // after `after` (exclusive; unset = from the start).
  virtual absl::StatusOr<std::vector<v1::Template>> ListTemplates(const TemplateFilter& filter,
                                                                  const std::optional<v1::TemplateKey>& after,
                                                                  int limit) = 0;

  // Settings (nullopt until first stored).
  virtual absl::StatusOr<std::optional<v1::Settings>> GetSettings() = 0;
  virtual absl::Status PutSettings(const v1::Settings& settings) = 0;

  // Personal data (privacy.cc, docs/privacy.md).
  // Members whose stored e-mail is `email` (any case) or whose phone is
  // `phone`; an empty one matches nothing.
  virtual absl::StatusOr<std::vector<std::string>> MembersWithContact(const std::string& email,
                                                                      const std::string& phone) = 0;
  // Deletes what is only about the member: profile and preferences, current
  // consents, inbox messages, the events behind their deliveries; their
  // inbox feed events keep their positions (other subscribers' cursors) but
  // name no member or message any more. Counts by kind of data.
  virtual absl::StatusOr<std::map<std::string, int64_t>> DeleteMemberData(const std::string& member_id) = 0;
  // Deletes the events behind the deliveries to a complaint contact (their
  // payload: the contact's name and addresses, the message); returns how many.
  virtual absl::StatusOr<int64_t> DeleteContactPayloads(const std::string& contact_id) = 0;
  // Deletes the member's whole consent history; returns how many records.
  virtual absl::StatusOr<int64_t> DeleteConsentHistory(const std::string& member_id) = 0;
  // Stores `delivery` (stored as `delivery_id`) under its member id, contact
  // id, id and message key, which differ from the stored ones (a delivery
  // re-keyed to a pseudonym).
  virtual absl::Status RekeyDelivery(const std::string& delivery_id, const v1::Delivery& delivery) = 0;
  // common/privacy.h in this transaction: whether any key was erased; the
  // members of `member_ids` that were; the records common/ keeps about the
  // keys deleted and their tombstones written.
  virtual absl::StatusOr<bool> IsErased(const std::vector<std::string>& keys) = 0;
  virtual absl::StatusOr<std::set<std::string>> ErasedMembers(const std::vector<std::string>& member_ids) = 0;
  virtual absl::Status EraseCommonRecords(const std::vector<std::string>& keys, absl::Time now,
                                          care::common::v1::ErasureReceipt& receipt) = 0;
};

using NotificationStore = TransactionalStore<StoreTxn>;

}  // namespace care::notification
