#include "services/notification/sql_notification_store.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/idempotency.h"
#include "common/proto_time.h"
#include "services/notification/event_wire.h"

namespace care::notification {
namespace {

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }
absl::Time FromMicros(int64_t us) { return absl::FromUnixMicros(us); }
int64_t Micros(const google::protobuf::Timestamp& t) { return Micros(FromTimestamp(t)); }

class SqlStoreTxn final : public SqlTxnBase<StoreTxn> {
 public:
  using SqlTxnBase::SqlTxnBase;

  // ------------------------------------------------------------ schedules

  absl::StatusOr<std::optional<ScheduleRow>> OneSchedule(absl::string_view where, const std::string& arg) {
    auto stmt = txn_.Query(absl::StrCat("SELECT proto, after_member_id, retry_at FROM schedules WHERE ", where), arg);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::optional<ScheduleRow>();
    return ScheduleFrom(*stmt);
  }

  static absl::StatusOr<std::optional<ScheduleRow>> ScheduleFrom(const Statement& stmt) {
    auto s = ParseStored<v1::Schedule>(stmt, 0, "schedule");
    if (!s.ok()) return s.status();
    ScheduleRow r;
    r.schedule = std::move(*s);
    r.after_member_id = stmt.Text(1);
    r.retry_at = FromMicros(stmt.Int(2));
    return std::optional<ScheduleRow>(std::move(r));
  }

  // A transaction reads a schedule, member or template once: dispatching a
  // batch touches the same few schedules and templates for every delivery,
  // and each member twice (the checks, then the rendering).
  absl::StatusOr<std::optional<ScheduleRow>> GetSchedule(const std::string& id) override {
    if (auto hit = schedules_.find(id); hit != schedules_.end()) return hit->second;
    auto r = OneSchedule("schedule_id = ?1", id);
    if (r.ok()) schedules_[id] = *r;
    return r;
  }
  absl::StatusOr<std::optional<ScheduleRow>> GetScheduleByCampaign(const std::string& campaign_id) override {
    return OneSchedule("campaign_id = ?1", campaign_id);
  }

  absl::Status PutSchedule(const ScheduleRow& r) override {
    schedules_.erase(r.schedule.schedule_id());
    const v1::Schedule& s = r.schedule;
    std::optional<std::string> campaign, member;
    if (!s.campaign_id().empty()) campaign = s.campaign_id();
    if (!s.member_id().empty()) member = s.member_id();
    return txn_
        .Exec(
            "INSERT OR REPLACE INTO schedules (schedule_id, kind, campaign_id, member_id, state, campaign_version, "
            "due_at, fan_out_at, after_member_id, retry_at, proto) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
            s.schedule_id(), static_cast<int>(s.kind()), campaign, member, static_cast<int>(s.state()),
            s.campaign_version(), Micros(s.due_time()), Micros(s.fan_out_time()), r.after_member_id,
            r.retry_at == absl::InfinitePast() ? int64_t{0} : Micros(r.retry_at), Blob{s.SerializeAsString()})
        .status();
  }

  absl::StatusOr<std::vector<ScheduleRow>> DueSchedules(absl::Time now, absl::Time wall_now, int limit) override {
    auto stmt = txn_.Query(
        "SELECT proto, after_member_id, retry_at FROM schedules WHERE state IN (1, 2) AND fan_out_at <= ?1 "
        "AND retry_at <= ?2 ORDER BY fan_out_at, schedule_id LIMIT ?3",
        Micros(now), Micros(wall_now), limit);
    if (!stmt.ok()) return stmt.status();
    std::vector<ScheduleRow> out;
    for (;;) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      auto r = ScheduleFrom(*stmt);
      if (!r.ok()) return r.status();
      out.push_back(std::move(**r));
    }
    return out;
  }

  absl::StatusOr<std::vector<v1::Schedule>> ListSchedules(const ScheduleFilter& f,
                                                          const std::optional<ScheduleCursor>& after,
                                                          int limit) override {
    // Every value is bound: the text depends only on which filters are set
    // (a fixed, small set of texts), so SQLite can still pick an index.
    std::string sql = "SELECT proto FROM schedules WHERE 1=1";
    if (!f.states.empty()) absl::StrAppend(&sql, " AND state IN (SELECT value FROM json_each(?6))");
    if (f.kind != 0) absl::StrAppend(&sql, " AND kind = ?7");
    if (!f.campaign_id.empty()) absl::StrAppend(&sql, " AND campaign_id = ?1");
    if (!f.member_id.empty()) absl::StrAppend(&sql, " AND member_id = ?2");
    if (f.due_after) absl::StrAppend(&sql, " AND due_at >= ?8");
    if (f.due_before) absl::StrAppend(&sql, " AND due_at < ?9");
    if (after) absl::StrAppend(&sql, " AND (due_at, schedule_id) > (?3, ?4)");
    absl::StrAppend(&sql, " ORDER BY due_at, schedule_id LIMIT ?5");
    auto stmt = txn_.Query(sql, f.campaign_id, f.member_id, after ? after->due_at : int64_t{0},
                           after ? after->schedule_id : std::string(), limit, JsonArray(f.states), f.kind,
                           f.due_after ? Micros(*f.due_after) : int64_t{0},
                           f.due_before ? Micros(*f.due_before) : int64_t{0});
    if (!stmt.ok()) return stmt.status();
    std::vector<v1::Schedule> out;
    for (;;) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      auto s = ParseStored<v1::Schedule>(*stmt, 0, "schedule");
      if (!s.ok()) return s.status();
      out.push_back(std::move(*s));
    }
    return out;
  }

  // ----------------------------------------------------------- deliveries

  absl::StatusOr<bool> InsertDelivery(const v1::Delivery& d) override {
    auto n = txn_.Exec(
        "INSERT OR IGNORE INTO deliveries (delivery_id, member_id, message_key, channel, kind, category, schedule_id, "
        "campaign_id, complaint_id, status, suppression_reason, send_after, create_at, proto) "
        "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)",
        d.delivery_id(), d.member_id(), d.message_key(), static_cast<int>(d.channel()), static_cast<int>(d.kind()),
        static_cast<int>(d.category()), d.schedule_id(), d.campaign_id(), d.complaint_id(),
        static_cast<int>(d.status()), static_cast<int>(d.suppression_reason()), NextTry(d), Micros(d.create_time()),
        Blob{d.SerializeAsString()});
    if (!n.ok()) return n.status();
    return *n > 0;
  }

  static int64_t NextTry(const v1::Delivery& d) {
    if (d.has_next_attempt_time()) return Micros(d.next_attempt_time());
    return Micros(d.send_after());
  }

  absl::Status UpdateDelivery(const v1::Delivery& d) override {
    return txn_
        .Exec(
            "UPDATE deliveries SET status = ?2, suppression_reason = ?3, send_after = ?4, proto = ?5 "
            "WHERE delivery_id = ?1",
            d.delivery_id(), static_cast<int>(d.status()), static_cast<int>(d.suppression_reason()), NextTry(d),
            Blob{d.SerializeAsString()})
        .status();
  }

  absl::StatusOr<std::optional<v1::Delivery>> OneDelivery(absl::string_view where, const std::string& a,
                                                          const std::string& b = "", int c = 0) {
    auto stmt = txn_.Query(absl::StrCat("SELECT proto FROM deliveries WHERE ", where), a, b, c);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::optional<v1::Delivery>();
    auto d = ParseStored<v1::Delivery>(*stmt, 0, "delivery");
    if (!d.ok()) return d.status();
    return std::optional<v1::Delivery>(std::move(*d));
  }

  absl::StatusOr<std::optional<v1::Delivery>> GetDelivery(const std::string& id) override {
    return OneDelivery("delivery_id = ?1 AND ?2 = ?2 AND ?3 = ?3", id);
  }
  absl::StatusOr<std::optional<v1::Delivery>> GetDeliveryByKey(const std::string& member_id,
                                                               const std::string& message_key, int channel) override {
    return OneDelivery("member_id = ?1 AND message_key = ?2 AND channel = ?3", member_id, message_key, channel);
  }

  absl::StatusOr<std::vector<v1::Delivery>> DueDeliveries(absl::Time now, int limit) override {
    auto stmt = txn_.Query(
        "SELECT proto FROM deliveries WHERE status = 1 AND send_after <= ?1 "
        "ORDER BY send_after LIMIT ?2",
        Micros(now), limit);
    if (!stmt.ok()) return stmt.status();
    std::vector<v1::Delivery> out;
    for (;;) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      auto d = ParseStored<v1::Delivery>(*stmt, 0, "delivery");
      if (!d.ok()) return d.status();
      out.push_back(std::move(*d));
    }
    return out;
  }

  absl::StatusOr<std::vector<std::pair<int64_t, v1::Delivery>>> SeqDeliveries(Statement& stmt) {
    std::vector<std::pair<int64_t, v1::Delivery>> out;
    for (;;) {
      auto row = stmt.Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      auto d = ParseStored<v1::Delivery>(stmt, 1, "delivery");
      if (!d.ok()) return d.status();
      out.emplace_back(stmt.Int(0), std::move(*d));
    }
    return out;
  }

  absl::StatusOr<std::vector<std::pair<int64_t, v1::Delivery>>> PendingOfSchedule(const std::string& schedule_id,
                                                                                  int64_t after, int limit) override {
    auto stmt = txn_.Query(
        "SELECT seq, proto FROM deliveries WHERE schedule_id = ?1 AND status = 1 AND seq > ?2 "
        "ORDER BY seq LIMIT ?3",
        schedule_id, after, limit);
    if (!stmt.ok()) return stmt.status();
    return SeqDeliveries(*stmt);
  }

  absl::StatusOr<std::vector<std::pair<int64_t, v1::Delivery>>> ListDeliveries(const v1::DeliveryFilter& f,
                                                                               int64_t before_seq, int limit) override {
    std::string sql = "SELECT seq, proto FROM deliveries WHERE 1=1";
    if (!f.member_id().empty()) absl::StrAppend(&sql, " AND member_id = ?1");
    if (!f.campaign_id().empty()) absl::StrAppend(&sql, " AND campaign_id = ?2");
    if (!f.message_key().empty()) absl::StrAppend(&sql, " AND message_key = ?3");
    if (!f.schedule_id().empty()) absl::StrAppend(&sql, " AND schedule_id = ?4");
    if (!f.complaint_id().empty()) absl::StrAppend(&sql, " AND complaint_id = ?5");
    auto ints = [](const auto& repeated) { return JsonArray(std::vector<int>(repeated.begin(), repeated.end())); };
    // Values are bound (lists as one JSON array), never part of the text.
    if (!f.statuses().empty()) absl::StrAppend(&sql, " AND status IN (SELECT value FROM json_each(?7))");
    if (f.suppression_reason() != 0) absl::StrAppend(&sql, " AND suppression_reason = ?8");
    if (!f.channels().empty()) absl::StrAppend(&sql, " AND channel IN (SELECT value FROM json_each(?9))");
    if (!f.kinds().empty()) absl::StrAppend(&sql, " AND kind IN (SELECT value FROM json_each(?10))");
    if (f.has_created_after()) absl::StrAppend(&sql, " AND create_at >= ?11");
    if (f.has_created_before()) absl::StrAppend(&sql, " AND create_at < ?12");
    if (before_seq > 0) absl::StrAppend(&sql, " AND seq < ?13");
    absl::StrAppend(&sql, " ORDER BY seq DESC LIMIT ?6");
    auto stmt = txn_.Query(sql, f.member_id(), f.campaign_id(), f.message_key(), f.schedule_id(), f.complaint_id(),
                           limit, ints(f.statuses()), static_cast<int>(f.suppression_reason()), ints(f.channels()),
                           ints(f.kinds()), f.has_created_after() ? Micros(f.created_after()) : int64_t{0},
                           f.has_created_before() ? Micros(f.created_before()) : int64_t{0}, before_seq);
    if (!stmt.ok()) return stmt.status();
    return SeqDeliveries(*stmt);
  }

  absl::StatusOr<std::vector<v1::DeliveryCount>> CampaignCounts(const std::string& campaign_id) override {
    auto stmt = txn_.Query(
        "SELECT channel, status, suppression_reason, COUNT(*) FROM deliveries WHERE campaign_id = ?1 "
        "GROUP BY channel, status, suppression_reason ORDER BY channel, status, suppression_reason",
        campaign_id);
    if (!stmt.ok()) return stmt.status();
    std::vector<v1::DeliveryCount> out;
    for (;;) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      v1::DeliveryCount c;
      c.set_channel(static_cast<care::common::v1::MessageChannel>(stmt->Int(0)));
      c.set_status(static_cast<v1::DeliveryStatus>(stmt->Int(1)));
      c.set_suppression_reason(static_cast<v1::SuppressionReason>(stmt->Int(2)));
      c.set_count(stmt->Int(3));
      out.push_back(c);
    }
    return out;
  }

  absl::StatusOr<int64_t> MarketingSentSince(const std::string& member_id, absl::Time since) override {
    // The send time lives in the blob; deliveries of a member are few, so
    // filter on create_at (a message is sent no earlier than created) and
    // check sent_time in C++.
    auto stmt = txn_.Query(
        "SELECT message_key, proto FROM deliveries WHERE member_id = ?1 AND category = 2 "
        "AND status = 2",
        member_id);
    if (!stmt.ok()) return stmt.status();
    std::vector<std::string> keys;
    for (;;) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      auto d = ParseStored<v1::Delivery>(*stmt, 1, "delivery");
      if (!d.ok()) return d.status();
      if (FromTimestamp(d->sent_time()) >= since) keys.push_back(d->message_key());
    }
    std::sort(keys.begin(), keys.end());
    return static_cast<int64_t>(std::unique(keys.begin(), keys.end()) - keys.begin());
  }

  // ------------------------------------------------------ members, consent

  absl::StatusOr<std::optional<MemberRow>> GetMember(const std::string& member_id) override {
    if (auto hit = members_.find(member_id); hit != members_.end()) return hit->second;
    auto r = ReadMember(member_id);
    if (r.ok()) members_[member_id] = *r;
    return r;
  }

  absl::StatusOr<std::optional<MemberRow>> ReadMember(const std::string& member_id) {
    auto stmt = txn_.Query(
        "SELECT name, email, phone, profile_locale, profile_zone, profile_at, preferences "
        "FROM members WHERE member_id = ?1",
        member_id);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::optional<MemberRow>();
    MemberRow m;
    m.member_id = member_id;
    m.name = stmt->Text(0);
    m.email = stmt->Text(1);
    m.phone = stmt->Text(2);
    m.profile_locale = stmt->Text(3);
    m.profile_zone = stmt->Text(4);
    m.profile_at = stmt->Int(5) == 0 ? absl::InfinitePast() : FromMicros(stmt->Int(5));
    if (!stmt->IsNull(6)) {
      auto p = ParseStored<v1::Preferences>(*stmt, 6, "preferences");
      if (!p.ok()) return p.status();
      m.preferences = std::move(*p);
    }
    return std::optional<MemberRow>(std::move(m));
  }

  // Kept in IngestEventRequest's serialized form.
  absl::Status PutDeliveryEvent(const std::string& delivery_id, const Event& event) override {
    return txn_
        .Exec("INSERT OR IGNORE INTO delivery_events (delivery_id, event) VALUES (?1, ?2)", delivery_id,
              Blob{EventToWire(event).SerializeAsString()})
        .status();
  }

  absl::StatusOr<std::optional<Event>> GetDeliveryEvent(const std::string& delivery_id) override {
    auto stmt = txn_.Query("SELECT event FROM delivery_events WHERE delivery_id = ?1", delivery_id);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::optional<Event>();
    auto event = ParseStored<v1::IngestEventRequest>(*stmt, 0, "delivery event");
    if (!event.ok()) return event.status();
    return std::optional<Event>(EventFromWire(*event));
  }

  absl::Status PutMember(const MemberRow& m) override {
    members_.erase(m.member_id);
    std::optional<Blob> prefs;
    std::string bytes;
    if (m.preferences) {
      bytes = m.preferences->SerializeAsString();
      prefs = Blob{bytes};
    }
    absl::Status st =
        txn_.Exec(
                "INSERT OR REPLACE INTO members (member_id, name, email, phone, profile_locale, profile_zone, "
                "profile_at, preferences) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                m.member_id, m.name, m.email, m.phone, m.profile_locale, m.profile_zone,
                m.profile_at == absl::InfinitePast() ? int64_t{0} : Micros(m.profile_at), prefs)
            .status();
    // Written through: the same transaction reads it back right away.
    if (st.ok()) members_[m.member_id] = m;
    return st;
  }

  absl::StatusOr<std::optional<ConsentState>> GetConsent(const std::string& member_id, int channel) override {
    auto key = std::make_pair(member_id, channel);
    if (auto hit = consents_.find(key); hit != consents_.end()) return hit->second;
    auto r = ReadConsent(member_id, channel);
    if (r.ok()) consents_[key] = *r;
    return r;
  }

  absl::StatusOr<std::optional<ConsentState>> ReadConsent(const std::string& member_id, int channel) {
    auto stmt = txn_.Query("SELECT granted, effective_at FROM consents WHERE member_id = ?1 AND channel = ?2",
                           member_id, channel);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::optional<ConsentState>();
    return std::optional<ConsentState>(ConsentState{stmt->Int(0) != 0, FromMicros(stmt->Int(1))});
  }

  absl::Status PutConsent(const std::string& member_id, int channel, const ConsentState& state) override {
    consents_.erase({member_id, channel});
    absl::Status st =
        txn_.Exec("INSERT OR REPLACE INTO consents (member_id, channel, granted, effective_at) VALUES (?1,?2,?3,?4)",
                  member_id, channel, state.granted, Micros(state.effective_at))
            .status();
    if (st.ok()) consents_[{member_id, channel}] = state;
    return st;
  }

  absl::Status AppendConsentRecord(const v1::ConsentRecord& r) override {
    return txn_
        .Exec("INSERT INTO consent_history (member_id, channel, record_at, proto) VALUES (?1,?2,?3,?4)", r.member_id(),
              static_cast<int>(r.channel()), Micros(r.record_time()), Blob{r.SerializeAsString()})
        .status();
  }

  absl::StatusOr<std::vector<std::pair<int, ConsentState>>> Consents(const std::string& member_id) override {
    return Collect<std::pair<int, ConsentState>>(
        txn_.Query("SELECT channel, granted, effective_at FROM consents WHERE member_id = ?1 ORDER BY channel",
                   member_id),
        [](const Statement& s) {
          return std::make_pair(static_cast<int>(s.Int(0)), ConsentState{s.Int(1) != 0, FromMicros(s.Int(2))});
        });
  }

  absl::StatusOr<std::vector<std::pair<int64_t, v1::ConsentRecord>>> ConsentHistory(const std::string& member_id,
                                                                                    int channel, int64_t before_seq,
                                                                                    int limit) override {
    return CollectParsed<std::pair<int64_t, v1::ConsentRecord>>(
        txn_.Query("SELECT seq, proto FROM consent_history WHERE member_id = ?1 AND (?2 = 0 OR channel = ?2) "
                   "AND (?3 = 0 OR seq < ?3) ORDER BY seq DESC LIMIT ?4",
                   member_id, channel, before_seq, static_cast<int64_t>(limit)),
        [](const Statement& s) -> absl::StatusOr<std::pair<int64_t, v1::ConsentRecord>> {
          auto r = ParseStored<v1::ConsentRecord>(s, 1, "consent record");
          if (!r.ok()) return r.status();
          return std::make_pair(s.Int(0), std::move(*r));
        });
  }

  // ----------------------------------------------------------------- inbox

  absl::Status InsertInbox(const v1::InboxMessage& m) override {
    v1::InboxMessage stored = m;
    stored.clear_read_time();
    return txn_
        .Exec(
            "INSERT OR IGNORE INTO inbox (message_id, member_id, delivery_id, kind, created_at, expire_at, proto) "
            "VALUES (?1,?2,?3,?4,?5,?6,?7)",
            m.message_id(), m.member_id(), m.delivery_id(), static_cast<int>(m.kind()), Micros(m.create_time()),
            Micros(m.expire_time()), Blob{stored.SerializeAsString()})
        .status();
  }

  static absl::StatusOr<v1::InboxMessage> InboxFrom(const Statement& stmt, int proto_col, int read_col) {
    auto m = ParseStored<v1::InboxMessage>(stmt, proto_col, "inbox message");
    if (!m.ok()) return m.status();
    if (!stmt.IsNull(read_col)) *m->mutable_read_time() = ToTimestamp(FromMicros(stmt.Int(read_col)));
    return m;
  }

  absl::StatusOr<std::optional<v1::InboxMessage>> GetInbox(const std::string& message_id) override {
    auto stmt = txn_.Query("SELECT proto, read_at FROM inbox WHERE message_id = ?1", message_id);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::optional<v1::InboxMessage>();
    auto m = InboxFrom(*stmt, 0, 1);
    if (!m.ok()) return m.status();
    return std::optional<v1::InboxMessage>(std::move(*m));
  }

  absl::Status MarkInboxRead(const std::string& message_id, absl::Time at) override {
    return txn_.Exec("UPDATE inbox SET read_at = ?2 WHERE message_id = ?1 AND read_at IS NULL", message_id, Micros(at))
        .status();
  }

  absl::StatusOr<std::vector<std::pair<int64_t, v1::InboxMessage>>> ListInbox(const InboxFilter& f, int64_t before_seq,
                                                                              int limit) override {
    std::string sql = "SELECT seq, proto, read_at FROM inbox WHERE member_id = ?1 AND expire_at > ?2";
    if (f.unread_only) absl::StrAppend(&sql, " AND read_at IS NULL");
    if (!f.kinds.empty()) absl::StrAppend(&sql, " AND kind IN (SELECT value FROM json_each(?4))");
    if (before_seq > 0) absl::StrAppend(&sql, " AND seq < ?5");
    absl::StrAppend(&sql, " ORDER BY seq DESC LIMIT ?3");
    auto stmt = txn_.Query(sql, f.member_id, Micros(f.now), limit, JsonArray(f.kinds), before_seq);
    if (!stmt.ok()) return stmt.status();
    std::vector<std::pair<int64_t, v1::InboxMessage>> out;
    for (;;) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      auto m = InboxFrom(*stmt, 1, 2);
      if (!m.ok()) return m.status();
      out.emplace_back(stmt->Int(0), std::move(*m));
    }
    return out;
  }

  absl::StatusOr<int64_t> UnreadCount(const std::string& member_id, absl::Time now) override {
    auto stmt = txn_.Query("SELECT COUNT(*) FROM inbox WHERE member_id = ?1 AND expire_at > ?2 AND read_at IS NULL",
                           member_id, Micros(now));
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    return stmt->Int(0);
  }

  absl::StatusOr<InboxFeedBounds> InboxFeedRange() override {
    auto stmt = txn_.Query(
        "SELECT (SELECT MIN(seq) FROM inbox_events), "
        "(SELECT seq FROM sqlite_sequence WHERE name = 'inbox_events')");
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    InboxFeedBounds b;
    b.last = stmt->IsNull(1) ? 0 : stmt->Int(1);
    b.first = stmt->IsNull(0) ? b.last + 1 : stmt->Int(0);
    return b;
  }

  absl::StatusOr<std::vector<InboxEvent>> InboxFeed(int64_t after, int64_t through,
                                                    const std::vector<int>& kinds) override {
    std::string sql =
        "SELECT e.seq, e.type, e.member_id, i.proto, i.read_at FROM inbox_events e "
        "JOIN inbox i ON i.message_id = e.message_id WHERE e.seq > ?1 AND e.seq <= ?2";
    if (!kinds.empty()) absl::StrAppend(&sql, " AND e.kind IN (SELECT value FROM json_each(?3))");
    absl::StrAppend(&sql, " ORDER BY e.seq");
    auto stmt = txn_.Query(sql, after, through, JsonArray(kinds));
    if (!stmt.ok()) return stmt.status();
    std::vector<InboxEvent> out;
    for (;;) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      auto m = InboxFrom(*stmt, 3, 4);
      if (!m.ok()) return m.status();
      out.push_back(InboxEvent{stmt->Int(0), static_cast<int>(stmt->Int(1)), stmt->Text(2), std::move(*m)});
    }
    return out;
  }

  absl::StatusOr<std::optional<absl::Time>> OldestInboxEventAt() override {
    auto stmt = txn_.Query("SELECT at FROM inbox_events ORDER BY seq LIMIT 1");
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::optional<absl::Time>();
    return std::optional<absl::Time>(FromMicros(stmt->Int(0)));
  }

  absl::StatusOr<int64_t> PruneInboxFeed(absl::Time before, int limit) override {
    // Only the head is looked at, so a feed with nothing to prune costs one
    // short index walk, not a scan.
    return txn_.Exec(
        "DELETE FROM inbox_events WHERE seq IN (SELECT seq FROM "
        "(SELECT seq, at FROM inbox_events ORDER BY seq LIMIT ?2) WHERE at < ?1)",
        Micros(before), limit);
  }

  // -------------------------------------------------------------- settings

  absl::StatusOr<std::optional<v1::Template>> GetTemplate(const v1::TemplateKey& k) override {
    const std::string cache_key = k.SerializeAsString();
    if (auto hit = templates_.find(cache_key); hit != templates_.end()) return hit->second;
    auto r = ReadTemplate(k);
    if (r.ok()) templates_[cache_key] = *r;
    return r;
  }

  absl::StatusOr<std::optional<v1::Template>> ReadTemplate(const v1::TemplateKey& k) {
    auto stmt = txn_.Query(
        "SELECT proto FROM templates WHERE kind = ?1 AND template_key = ?2 AND channel = ?3 AND locale = ?4",
        static_cast<int>(k.kind()), k.template_key(), static_cast<int>(k.channel()), k.locale());
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::optional<v1::Template>();
    auto t = ParseStored<v1::Template>(*stmt, 0, "template");
    if (!t.ok()) return t.status();
    return std::optional<v1::Template>(std::move(*t));
  }

  absl::Status PutTemplate(const v1::Template& t) override {
    templates_.clear();
    return txn_
        .Exec(
            "INSERT OR REPLACE INTO templates (kind, template_key, channel, locale, version, proto) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            static_cast<int>(t.kind()), t.template_key(), static_cast<int>(t.channel()), t.locale(), t.version(),
            Blob{t.SerializeAsString()})
        .status();
  }

  absl::Status DeleteTemplate(const v1::TemplateKey& k) override {
    templates_.clear();
    return txn_
        .Exec("DELETE FROM templates WHERE kind = ?1 AND template_key = ?2 AND channel = ?3 AND locale = ?4",
              static_cast<int>(k.kind()), k.template_key(), static_cast<int>(k.channel()), k.locale())
        .status();
  }

  absl::StatusOr<std::vector<v1::Template>> ListTemplates(const TemplateFilter& f,
                                                          const std::optional<v1::TemplateKey>& after,
                                                          int limit) override {
    v1::TemplateKey a = after.value_or(v1::TemplateKey());
    return CollectParsed<v1::Template>(
        txn_.Query("SELECT proto FROM templates WHERE (?1 = 0 OR kind = ?1) AND (?2 = '' OR template_key = ?2) "
                   "AND (?3 = 0 OR channel = ?3) AND (?4 = '' OR locale = ?4) "
                   "AND (?5 = 0 OR (kind, template_key, channel, locale) > (?6, ?7, ?8, ?9)) "
                   "ORDER BY kind, template_key, channel, locale LIMIT ?10",
                   f.kind, f.template_key, f.channel, f.locale, after.has_value(), static_cast<int>(a.kind()),
                   a.template_key(), static_cast<int>(a.channel()), a.locale(), static_cast<int64_t>(limit)),
        [](const Statement& s) { return ParseStored<v1::Template>(s, 0, "template"); });
  }

  absl::StatusOr<std::optional<v1::Settings>> GetSettings() override {
    auto stmt = txn_.Query("SELECT proto FROM settings WHERE id = 1");
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::optional<v1::Settings>();
    auto s = ParseStored<v1::Settings>(*stmt, 0, "settings");
    if (!s.ok()) return s.status();
    return std::optional<v1::Settings>(std::move(*s));
  }

  absl::Status PutSettings(const v1::Settings& s) override {
    return txn_.Exec("INSERT OR REPLACE INTO settings (id, proto) VALUES (1, ?1)", Blob{s.SerializeAsString()})
        .status();
  }

 private:
  // Rows read or written in this transaction (the view lives as long as one
  // write or read; a failed write fails the whole transaction with it).
  std::map<std::string, std::optional<ScheduleRow>> schedules_;
  std::map<std::string, std::optional<MemberRow>> members_;
  std::map<std::pair<std::string, int>, std::optional<ConsentState>> consents_;
  std::map<std::string, std::optional<v1::Template>> templates_;
};

}  // namespace

std::unique_ptr<NotificationStore> NewSqlNotificationStore(Database& db) {
  return std::make_unique<SqlStoreOf<StoreTxn, SqlStoreTxn>>(db);
}

}  // namespace care::notification
