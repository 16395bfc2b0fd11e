#pragma once

// Notification domain logic: events in, durable schedules, audience fan-out,
// consent, recipient time and delivery. Plain C++: no gRPC, no SQL (storage
// is NotificationStore, the audience is AudienceSource).

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "care/common/v1/privacy.pb.h"
#include "care/notification/v1/notification.pb.h"
#include "common/clock.h"
#include "common/erasure_scrub.h"
#include "common/store.h"
#include "google/protobuf/field_mask.pb.h"
#include "services/notification/channels.h"
#include "services/notification/notification_store.h"
#include "services/notification/recipient_time.h"
#include "services/notification/unsubscribe.h"

namespace care::notification {

// One member of a campaign's audience, as loyalty exports it.
struct AudienceMember {
  std::string member_id;
  std::string name, email, phone, locale, time_zone;
  struct Consent {
    int channel = 0;
    bool granted = false;
    absl::Time update_time = absl::InfinitePast();
  };
  std::vector<Consent> consents;
};

struct AudienceQuery {
  std::vector<std::string> tier_ids;
  std::vector<std::string> segments;
  std::string after_member_id;  // resume after this member
};

// Streams an audience ordered by member_id, in batches. `on_batch` returning
// non-OK stops the stream and is returned.
class AudienceSource {
 public:
  virtual ~AudienceSource() = default;
  virtual absl::Status Stream(const AudienceQuery& query, int batch_size,
                              const std::function<absl::Status(std::vector<AudienceMember>)>& on_batch) = 0;
};

// Tells SubscribeInbox streams that a change for one of their members was
// committed, so an idle stream reads the feed only then (plus a long
// fallback), not on a short poll: N idle streams cost no queries.
class InboxWatch final {
 public:
  // Calls `wake` (from any thread, cheap, possibly more often than needed)
  // after each commit that changed an inbox of `members` (empty = every
  // member), until the returned handle is destroyed.
  // `read_through` (when set) says how far the watcher has read the feed.
  std::shared_ptr<void> Watch(absl::flat_hash_set<std::string> members, std::function<void()> wake,
                              std::function<int64_t()> read_through = nullptr);
  // After a commit that changed these members' inboxes.
  void Changed(const std::vector<std::string>& members);
  // The feed reached `head` (possibly through another replica's commits):
  // wakes every watcher that has not read that far.
  void Advanced(int64_t head);
  // Every stream (e.g. a shutdown started).
  void WakeAll();

 private:
  struct Watcher {
    absl::flat_hash_set<std::string> members;
    std::function<void()> wake;
    std::function<int64_t()> read_through;
  };
  std::vector<std::function<void()>> Matching(const std::vector<std::string>* members);

  std::mutex mu_;
  std::map<int64_t, std::shared_ptr<const Watcher>> watchers_;
  int64_t next_id_ = 0;
};

// At most `limit` things at once per principal (live SubscribeInbox
// streams): one caller cannot hold every connection slot.
class PerPrincipalLimit final {
 public:
  explicit PerPrincipalLimit(int limit) : limit_(limit) {}
  // A slot, released when the handle is destroyed; null when `principal`
  // already holds `limit`.
  std::shared_ptr<void> TryAcquire(const std::string& principal);
  int limit() const { return limit_; }

 private:
  const int limit_;
  std::mutex mu_;
  std::map<std::string, int> held_;
};

// SetConsent's change, as a member or an agent gives it.
struct ConsentChange {
  std::string member_id;
  int channel = 0;
  bool granted = false;
  v1::ConsentSource source = v1::CONSENT_SOURCE_UNSPECIFIED;
  v1::LegalBasis legal_basis = v1::LEGAL_BASIS_UNSPECIFIED;
  std::string evidence;
  std::optional<absl::Time> effective_time;  // unset: now
  std::string origin_id;                     // the request that made it, kept in the record
};

// Which deliveries ReplayDeadLetters puts back: the ids, or (none given)
// those matching the filter.
struct DeadLetterReplay {
  std::vector<std::string> delivery_ids;
  v1::DeliveryFilter filter;
  bool include_failed = false;
  int max_deliveries = 0;  // 0 = the service's cap
};

// RenderPreview: a draft, or the stored template of `key` (in the member's
// locale when `member_id` names a known member).
struct Preview {
  std::optional<v1::Template> draft;
  v1::TemplateKey key;
  std::string member_id;
  std::map<std::string, std::string> variables;
};

struct NotificationOptions {
  int fan_out_batch = 500;
  int dispatch_batch = 500;
  // Wall-clock pause before a fan-out retries after loyalty failed.
  absl::Duration fan_out_retry = absl::Seconds(5);
  // WEBHOOK / EMAIL transports, built from the settings in force at each
  // dispatch; null = those deliveries wait (main.cc wires libcurl).
  std::function<std::unique_ptr<Channel>(int channel, const v1::Settings& settings)> channels;
  // Rules a WEBHOOK or EMAIL URL must meet when UpdateSettings sets it
  // (the transports check them again at send time).
  EgressPolicy egress;
  // Wall-clock lease of a claimed WEBHOOK/EMAIL delivery beyond the channel
  // timeout: a crash mid-send makes it due again once the lease ends.
  absl::Duration send_lease = absl::Seconds(30);
  // A fan-out's audience is split in this many member-id ranges (1 to 16),
  // each worked on by one replica at a time under a wall-clock lease that
  // every stored batch renews: replicas share an alert, and a crashed
  // one's range is taken over once its lease ends.
  int fan_out_chunks = 16;
  absl::Duration fan_out_lease = absl::Seconds(30);
  // This process among the replicas (holder of its leases); empty = a new
  // random id.
  std::string replica_id;
  // Signs and checks List-Unsubscribe links (--unsubscribe_key_file); null:
  // MARKETING e-mail is not sent and Unsubscribe is refused.
  std::shared_ptr<const UnsubscribeTokens> unsubscribe;
  // Zeroes what an erasure deleted from the database files (Database::Scrub,
  // retried by its job until it succeeds); null = nothing to do.
  ErasureScrub* scrub = nullptr;
  // Retention (--inbox_retention, --delivery_retention; docs/privacy.md).
  absl::Duration inbox_retention = absl::Hours(24 * 7);
  absl::Duration delivery_retention = absl::Hours(24 * 180);
  int retention_batch = 1000;
};

// Where an export (ExportPersonalData) is in a person's data: the members
// it is about (found on the first read), the one being read, which part of
// it, and the position within that part.
struct PersonalDataCursor {
  std::optional<std::vector<std::string>> members;
  size_t member = 0;
  size_t contact = 0;  // after the members: the subject's contact_ids
  int part = 0;
  int64_t before_seq = 0;
  std::optional<ScheduleCursor> after_schedule;
};

class NotificationService final {
 public:
  // `audience` may be null (no loyalty configured): due schedules wait.
  NotificationService(NotificationStore& store, const Clock& clock, AudienceSource* audience,
                      NotificationOptions options = {});

  // Settings in force (stored, else the defaults).
  absl::StatusOr<v1::Settings> CurrentSettings();
  static v1::Settings DefaultSettings();
  // What callers see: secrets removed, their *_set flags filled (settings.cc).
  static v1::Settings Redacted(v1::Settings settings);
  // The settings in force as callers see them.
  absl::StatusOr<v1::Settings> RedactedSettings();
  // The `mask` paths of `settings` (secrets only when named; a secret is
  // dropped when its URL moves to another origin), by `actor`.
  absl::StatusOr<v1::Settings> UpdateSettings(const Once& once, const v1::Settings& settings,
                                              const google::protobuf::FieldMask& mask, const std::string& actor);
  // Business time (the injectable clock).
  absl::Time Now() const { return clock_.Now(); }
  // Records a bulk read of personal data (an export) in the audit log as it starts.
  absl::Status AuditRead(const AuditRecord& record) { return care::AuditRead(store_, record); }
  // Woken after every commit that changed an inbox.
  InboxWatch& inbox_watch() { return inbox_watch_; }

  // IngestEvent (already validated). `once` is keyed by the event id within
  // the sending service's ids (its principal owns them) and fingerprints the
  // id alone; a replay answers the first response marked duplicate.
  absl::StatusOr<v1::IngestEventResponse> Ingest(const Once& once, const Event& event);

  // Jobs. Each returns true when it left work that is due right away.
  bool RunFanOut();
  bool RunDispatch();

  // Queries.
  absl::StatusOr<v1::Schedule> GetSchedule(const std::string& schedule_id, const std::string& campaign_id);
  absl::StatusOr<std::vector<v1::Schedule>> ListSchedules(const ScheduleFilter& filter,
                                                          const std::optional<ScheduleCursor>& after, int limit);
  absl::StatusOr<v1::Delivery> GetDelivery(const std::string& delivery_id, const v1::DeliveryKey* key);
  absl::StatusOr<std::vector<std::pair<int64_t, v1::Delivery>>> ListDeliveries(const v1::DeliveryFilter& filter,
                                                                               int64_t before_seq, int limit);
  absl::StatusOr<v1::CampaignDeliveryStats> CampaignStats(const std::string& campaign_id);

  // Inbox.
  struct InboxPage {
    std::vector<std::pair<int64_t, v1::InboxMessage>> messages;
    int64_t unread_count = 0;
  };
  absl::StatusOr<InboxPage> ListInbox(InboxFilter filter, int64_t before_seq, int limit);
  absl::StatusOr<v1::InboxMessage> MarkRead(const Once& once, const std::string& member_id,
                                            const std::string& message_id);

  // SubscribeInbox's feed (inbox_feed.cc). A subscription reads the feed from
  // a position in windows, so memory holds one window whatever the backlog.
  struct InboxFeedQuery {
    absl::flat_hash_set<std::string> member_ids;  // empty = every member
    std::vector<int> kinds;                       // empty = every kind
  };
  struct InboxFeedPage {
    std::vector<InboxEvent> events;
    int64_t position = 0;    // read through here; the next read starts after it
    bool caught_up = false;  // position is the newest event
  };
  // The position a subscription starts from: `cursor` (CURSOR_EXPIRED when
  // its events were pruned) or, when unset, the newest event.
  absl::StatusOr<int64_t> InboxFeedStart(std::optional<int64_t> cursor);
  // Up to `window` feed positions after `after`; SUBSCRIBER_TOO_SLOW when the
  // events after it were pruned while the subscriber lagged.
  absl::StatusOr<InboxFeedPage> ReadInboxFeed(const InboxFeedQuery& query, int64_t after, int window);
  // Job: drops feed events older than Settings.in_app.replay_window.
  bool RunInboxFeedPrune();
  // Retention (retention.cc): deletes one batch of inbox messages expired
  // longer than options.inbox_retention ago and one of final deliveries
  // older than options.delivery_retention; true when a batch was full.
  bool RunRetention();
  // Job on every replica sharing the database: wakes this replica's streams
  // when the feed grew through another replica's commits (its own commits
  // wake them directly), so a stream sees them within this job's interval.
  bool WatchFeedHead();

  // Preferences and consent (preferences.cc).
  absl::StatusOr<v1::Preferences> GetPreferences(const std::string& member_id);
  // The `paths` of `preferences` (empty = all four); version 0 = any.
  absl::StatusOr<v1::Preferences> UpdatePreferences(const Once& once, const v1::Preferences& preferences,
                                                    std::vector<std::string> paths);
  // `actor`: the caller's principal, kept in the record.
  absl::StatusOr<v1::ConsentRecord> SetConsent(const Once& once, const ConsentChange& change, const std::string& actor);
  // The e-mail consent withdrawal an unsubscribe link's token asks for,
  // with `evidence` from the gateway; its origin_id names the delivery, the
  // natural key that makes the link idempotent. FAILED_PRECONDITION
  // (UNSUBSCRIBE_KEY_NOT_CONFIGURED) without --unsubscribe_key_file.
  absl::StatusOr<ConsentChange> UnsubscribeChange(absl::string_view token, absl::string_view evidence) const;
  // Newest first; channel 0 = all; `before_seq` 0 = from the newest.
  absl::StatusOr<std::vector<std::pair<int64_t, v1::ConsentRecord>>> ConsentHistory(const std::string& member_id,
                                                                                    int channel, int64_t before_seq,
                                                                                    int limit);

  // Personal data (privacy.cc, docs/privacy.md). The next items of the
  // subject's data, about `limit` at most per read; empty once complete.
  absl::StatusOr<std::vector<v1::NotificationPersonalData>> ExportPersonalData(
      const care::common::v1::DataSubject& subject, PersonalDataCursor& cursor, int limit);
  // Erases the subject here in one transaction, idempotent by `once` (a
  // retry answers the first receipt), then scrubs the database files.
  absl::StatusOr<care::common::v1::ErasureReceipt> ErasePersonalData(
      const Once& once, const care::common::v1::ErasePersonalDataRequest& request);

  // Dead and (with include_failed) failed deliveries back to PENDING with
  // attempts 0 (dead_letters.cc).
  absl::StatusOr<v1::ReplayDeadLettersResponse> ReplayDeadLetters(const Once& once, const DeadLetterReplay& replay);

  // Templates (template_admin.cc).
  absl::StatusOr<v1::Template> PutTemplate(const Once& once, const v1::Template& tmpl, const std::string& actor);
  absl::StatusOr<v1::Template> GetTemplate(const v1::TemplateKey& key, bool resolve_fallback);
  absl::StatusOr<std::vector<v1::Template>> ListTemplates(const TemplateFilter& filter,
                                                          const std::optional<v1::TemplateKey>& after, int limit);
  // `version` 0 = whatever is stored.
  absl::Status DeleteTemplate(const Once& once, const v1::TemplateKey& key, int64_t version);
  absl::StatusOr<v1::RenderPreviewResponse> RenderPreview(const Preview& preview);

  // Ids derived from natural keys, stable across restarts.
  static std::string DeliveryId(const std::string& member_id, const std::string& message_key, int channel);
  static std::string PromotionAlertKey(const std::string& campaign_id) { return "promotion-alert/" + campaign_id; }

 private:
  // Ingest's steps, inside its transaction: the event's kind decides.
  absl::Status Apply(StoreTxn& tx, const Event& event, const v1::Settings& settings, v1::IngestEventResponse& resp);
  absl::Status ApplyAlert(StoreTxn& tx, const std::string& event_id, const v1::PromotionAlert& alert,
                          const v1::Settings& settings, v1::IngestEventResponse& resp);
  absl::Status ApplyCancel(StoreTxn& tx, const std::string& event_id, const v1::PromotionAlertCancelled& cancel,
                           v1::IngestEventResponse& resp);
  // Promotion's CampaignRedeemed: the member's alert deliveries of the
  // campaign SENT before the redemption become converted, once each.
  absl::Status ApplyRedeemed(StoreTxn& tx, const v1::CampaignRedeemed& redeemed, v1::IngestEventResponse& resp);
  // Loyalty's MemberProfileChanged: profile and consents (newest wins).
  absl::Status ApplyProfile(StoreTxn& tx, const Event& event, const v1::MemberProfileChanged& profile,
                            v1::IngestEventResponse& resp);
  // Messages to one member (complaint updates, surveys, check-ins, tier
  // changes, expiring points, birthday and visit rewards, transactional):
  // one delivery per channel, rendered from the event at send time.
  absl::Status ApplyDirect(StoreTxn& tx, const Event& event, const v1::Settings& settings,
                           v1::IngestEventResponse& resp);

  // What a fan-out batch delivered at once, reported after its commit.
  struct BatchOutcome {
    std::map<std::pair<int, int>, int64_t> outcomes;  // (channel, status) -> count
    std::vector<std::string> inboxes;                 // members given an inbox message
  };
  // Stores one batch of a chunk of a schedule's audience: profiles, consents
  // and one delivery per channel, with the chunk's cursor and lease, in one
  // transaction; ABORTED when another replica holds the chunk now.
  absl::Status StoreBatch(const FanOutChunk& chunk, const std::vector<AudienceMember>& batch,
                          const v1::Settings& settings);
  // One member of a batch: profile, consents, deliveries.
  absl::Status StoreMember(StoreTxn& tx, ScheduleRow& row, const AudienceMember& m, const v1::Settings& settings,
                           absl::Time now, BatchOutcome& outcome);
  // A chunk of a due schedule for this replica (leased to it), starting the
  // fan-out (RUNNING, chunks stored) if it has not started; nullopt when
  // other replicas hold every chunk left, or none is left (then COMPLETED).
  absl::StatusOr<std::optional<FanOutChunk>> ClaimChunk(const std::string& schedule_id);
  // Streams and stores a claimed chunk's members, then marks it done.
  absl::Status RunChunk(const FanOutChunk& chunk, const v1::Settings& settings);
  absl::StatusOr<ScheduleRow> GetScheduleRow(const std::string& schedule_id);
  void SetScheduleState(ScheduleRow& row, v1::ScheduleState to);
  // After a failed fan-out: the error and a wall-clock pause before the retry.
  void PauseFanOut(const std::string& schedule_id, const std::string& error);
  // One member's part of an erasure, re-keyed to `pseudonym`.
  absl::Status EraseMember(StoreTxn& tx, const std::string& member_id, const std::string& pseudonym, absl::Time now,
                           care::common::v1::ErasureReceipt& receipt);
  // The deliveries to one complaint contact complaint erased: their events
  // deleted, the deliveries re-keyed to `pseudonym`.
  absl::Status EraseContact(StoreTxn& tx, const std::string& contact_id, const std::string& pseudonym, absl::Time now,
                            care::common::v1::ErasureReceipt& receipt);
  absl::Status SendInApp(StoreTxn& tx, v1::Delivery& d, const v1::Settings& settings, absl::Time now);
  // One attempt at a due delivery inside `tx`: suppressed with its reason,
  // stored in the inbox, or (WEBHOOK/EMAIL) rendered and claimed into
  // `claimed` for sending after the commit.
  absl::Status Attempt(StoreTxn& tx, v1::Delivery& d, const v1::Settings& settings, absl::Time now,
                       std::vector<OutgoingMessage>& claimed);
  // Committed outcomes by (channel, status) to the deliveries counter.
  static void ExportOutcomes(const std::map<std::pair<int, int>, int64_t>& outcomes);
  // WEBHOOK/EMAIL: sends the claimed messages outside any transaction, then
  // records each outcome in a short one.
  void SendClaimed(const v1::Settings& settings, const std::vector<OutgoingMessage>& claimed,
                   std::map<std::pair<int, int>, int64_t>& outcomes);
  // The channel's transport, kept between dispatches (its connections stay
  // open) and rebuilt when its endpoint settings change. Dispatch thread only.
  Channel* TransportFor(int channel, const v1::Settings& settings);

  struct Transport {
    std::string config;  // the endpoint settings it was built from
    std::unique_ptr<Channel> channel;
  };
  std::map<int, Transport> transports_;

  NotificationStore& store_;
  const Clock& clock_;
  AudienceSource* audience_;
  NotificationOptions options_;
  InboxWatch inbox_watch_;
  std::atomic<int64_t> seen_feed_head_{-1};  // WatchFeedHead's last look
};

// The template a member with `key.locale` gets: stored texts along the
// locale chain first, then the built-in ones; nullopt when there is none.
absl::StatusOr<std::optional<v1::Template>> ResolveTemplate(StoreTxn& tx, const v1::TemplateKey& key,
                                                            const std::string& default_locale);

// Window of a SendWindow message (default when unset).
Window ToWindow(const v1::SendWindow& w);

}  // namespace care::notification
