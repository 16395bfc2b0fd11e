#include "services/notification/sql_notification_store.h"

#include <algorithm>
#include <map>
#include <set>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/idempotency.h"
#include "common/privacy.h"
#include "common/proto_time.h"
#include "services/notification/event_wire.h"

namespace care::notification {
namespace {

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }
absl::Time FromMicros(int64_t us) { return absl::FromUnixMicros(us); }
int64_t Micros(const google::protobuf::Timestamp& t) { return Micros(FromTimestamp(t)); }

// One inbox change for SubscribeInbox's feed (inbox_events).
struct FeedChange {
  int64_t type;  // InboxEventType: 1 created, 2 read
  std::string message_id, member_id;
  int64_t kind, at;
};

// Rows per multi-row INSERT, largest first: a fan-out batch of 500 rows is
// 8 statements per table, from 5 statement texts per table (each prepared
// once per connection). 256 rows of 14 columns stay far below either
// engine's parameter limit.
constexpr int kRowsPerInsert[] = {256, 64, 16, 4, 1};

// The array element type of a column type InsertRows names.
SqlArray::Type ArrayType(absl::string_view type) {
  if (type == "bigint") return SqlArray::Type::kInt8;
  if (type == "bytea") return SqlArray::Type::kBytea;
  return SqlArray::Type::kText;
}

class SqlStoreTxn final : public SqlTxnBase<StoreTxn> {
 public:
  SqlStoreTxn(Txn& txn, const SubjectDigests& digests) : SqlTxnBase(txn), digests_(digests) {}

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
            "INSERT INTO schedules (schedule_id, kind, campaign_id, member_id, state, campaign_version, "
            "due_at, fan_out_at, after_member_id, retry_at, proto) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11) "
            "ON CONFLICT (schedule_id) DO UPDATE SET kind = excluded.kind, campaign_id = excluded.campaign_id, "
            "member_id = excluded.member_id, state = excluded.state, campaign_version = excluded.campaign_version, "
            "due_at = excluded.due_at, fan_out_at = excluded.fan_out_at, after_member_id = excluded.after_member_id, "
            "retry_at = excluded.retry_at, proto = excluded.proto",
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
    // The text depends only on which filters are set, so SQLite can still
    // pick an index.
    FilteredQuery q("SELECT proto FROM schedules WHERE 1=1");
    if (!f.states.empty()) q.Add(absl::StrCat(" AND state", kInIntegerList), JsonArray(f.states));
    if (f.kind != 0) q.Add(" AND kind = ?", int64_t{f.kind});
    if (!f.campaign_id.empty()) q.Add(" AND campaign_id = ?", f.campaign_id);
    if (!f.member_id.empty()) q.Add(" AND member_id = ?", f.member_id);
    if (f.due_after) q.Add(" AND due_at >= ?", Micros(*f.due_after));
    if (f.due_before) q.Add(" AND due_at < ?", Micros(*f.due_before));
    if (after) q.Add(" AND (due_at, schedule_id) > (?, ?)", after->due_at, after->schedule_id);
    q.Add(" ORDER BY due_at, schedule_id LIMIT ?", int64_t{limit});
    return CollectParsed<v1::Schedule>(q.Query(txn_), [](const Statement& st) {
      return ParseStored<v1::Schedule>(st, 0, "schedule");
    });
  }

  // ------------------------------------------------------ fan-out chunks

  static constexpr char kChunkColumns[] = "schedule_id, chunk, lo, hi, after_member_id, done, holder, lease_until";

  static FanOutChunk ChunkFrom(const Statement& st) {
    FanOutChunk c;
    c.schedule_id = st.Text(0);
    c.chunk = static_cast<int>(st.Int(1));
    c.lo = st.Text(2);
    c.hi = st.Text(3);
    c.after_member_id = st.Text(4);
    c.done = st.Int(5) != 0;
    c.holder = st.Text(6);
    c.lease_until = st.Int(7) == 0 ? absl::InfinitePast() : FromMicros(st.Int(7));
    return c;
  }

  absl::StatusOr<std::vector<FanOutChunk>> Chunks(const std::string& schedule_id) override {
    return Collect<FanOutChunk>(txn_.Query(absl::StrCat("SELECT ", kChunkColumns,
                                                        " FROM fan_out_chunks WHERE schedule_id = ?1 ORDER BY chunk"),
                                           schedule_id),
                                ChunkFrom);
  }

  absl::StatusOr<std::optional<FanOutChunk>> ClaimableChunk(const std::string& schedule_id, const std::string& holder,
                                                            absl::Time wall_now) override {
    // On PostgreSQL two replicas claiming at once each get a different chunk
    // instead of one waiting for the other's lock (SERIALIZABLE still re-runs
    // a loser). A SQLite file has one writing process, so a chunk held by
    // another holder is a previous run's of this one: taken back at once.
    const bool shared = txn_.engine() == SqlEngine::kPostgres;
    return FirstRow<FanOutChunk>(
        txn_.Query(absl::StrCat("SELECT ", kChunkColumns,
                                " FROM fan_out_chunks WHERE schedule_id = ?1 AND done = 0 AND ",
                                shared ? "(holder = ?2 OR lease_until < ?3)" : "?2 = ?2 AND ?3 = ?3",
                                " ORDER BY chunk LIMIT 1", shared ? " FOR UPDATE SKIP LOCKED" : ""),
                   schedule_id, holder, Micros(wall_now)),
        ChunkFrom);
  }

  absl::StatusOr<std::optional<FanOutChunk>> GetChunk(const std::string& schedule_id, int chunk) override {
    return FirstRow<FanOutChunk>(txn_.Query(absl::StrCat("SELECT ", kChunkColumns,
                                                         " FROM fan_out_chunks WHERE schedule_id = ?1 AND chunk = ?2"),
                                            schedule_id, chunk),
                                 ChunkFrom);
  }

  absl::Status PutChunk(const FanOutChunk& c) override {
    return txn_
        .Exec(absl::StrCat("INSERT INTO fan_out_chunks (", kChunkColumns,
                           ") VALUES (?1,?2,?3,?4,?5,?6,?7,?8) ON CONFLICT (schedule_id, chunk) DO UPDATE SET "
                           "lo = excluded.lo, hi = excluded.hi, after_member_id = excluded.after_member_id, "
                           "done = excluded.done, holder = excluded.holder, lease_until = excluded.lease_until"),
              c.schedule_id, c.chunk, c.lo, c.hi, c.after_member_id, c.done, c.holder,
              c.lease_until == absl::InfinitePast() ? int64_t{0} : Micros(c.lease_until))
        .status();
  }

  // ----------------------------------------------------------- deliveries

  // A delivery of a member whose rows PrefetchDeliveries read is kept back
  // and written by FlushPending with the batch's others (the view knows it
  // is new: a row of the same key it could not see fails this transaction,
  // and the next run reads it); any other goes in at once.
  absl::StatusOr<bool> InsertDelivery(const v1::Delivery& d) override {
    if (auto view = delivery_view_.find(d.member_id());
        view != delivery_view_.end() && d.message_key() == prefetched_key_) {
      for (const v1::Delivery& known : view->second) {
        if (known.message_key() == d.message_key() && known.channel() == d.channel()) return false;
      }
      view->second.push_back(d);
      pending_deliveries_.push_back(d);
      return true;
    }
    if (absl::Status st = FlushDeliveries(); !st.ok()) return st;
    delivery_view_.erase(d.member_id());
    // A contact's message comes this way (a fan-out's batch holds members'
    // alone), so only here is contact_id written.
    auto n = txn_.Exec(
        "INSERT INTO deliveries (delivery_id, member_id, message_key, channel, kind, category, schedule_id, "
        "campaign_id, complaint_id, status, suppression_reason, send_after, create_at, proto, contact_id) "
        "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15) ON CONFLICT DO NOTHING",
        d.delivery_id(), d.member_id(), d.message_key(), static_cast<int>(d.channel()), static_cast<int>(d.kind()),
        static_cast<int>(d.category()), d.schedule_id(), d.campaign_id(), d.complaint_id(),
        static_cast<int>(d.status()), static_cast<int>(d.suppression_reason()), NextTry(d), Micros(d.create_time()),
        Blob{d.SerializeAsString()}, d.contact_id());
    if (!n.ok()) return n.status();
    return *n > 0;
  }

  // "SELECT <columns> FROM <table> WHERE member_id is one of a batch's ids
  // (?1) AND <condition>". On PostgreSQL the ids are one array parameter,
  // each looked up on its own (a LATERAL subquery that OFFSET 0 keeps from
  // being merged into a join): before a fresh table's first ANALYZE the
  // planner takes 500 ids for most of the table and hash-joined them against
  // a sequential scan, so every batch of a fan-out read the whole table it
  // was filling (time quadratic in the audience). SQLite: json_each.
  std::string OfMembersSql(absl::string_view columns, absl::string_view table, absl::string_view condition) const {
    if (txn_.engine() == SqlEngine::kPostgres) {
      return absl::StrCat("SELECT found.* FROM unnest(?1::text[]) AS ids(id) CROSS JOIN LATERAL (SELECT ", columns,
                          " FROM ", table, " WHERE member_id = ids.id AND ", condition, " OFFSET 0) AS found");
    }
    return absl::StrCat("SELECT ", columns, " FROM ", table,
                        " WHERE member_id IN (SELECT value FROM json_each(?1)) AND ", condition);
  }
  // An OfMembersSql query with its ids, the rest bound after them.
  template <typename... Args>
  absl::StatusOr<Statement> OfMembers(absl::string_view sql, const std::vector<std::string>& ids, const Args&... rest) {
    if (txn_.engine() != SqlEngine::kPostgres) return txn_.Query(sql, JsonArray(ids), rest...);
    SqlArray array(SqlArray::Type::kText);
    for (const std::string& id : ids) array.Put(id);
    return txn_.Query(sql, array, rest...);
  }

  // Reads the deliveries of these members that GetDeliveryByKey(member,
  // message_key, ...) and MarketingSentSince(member, ...) look at, in one
  // query; until the transaction ends those answer from this view, and
  // InsertDelivery of them is written with the batch.
  absl::Status PrefetchDeliveries(const std::vector<std::string>& ids, const std::string& message_key) override {
    if (absl::Status st = FlushDeliveries(); !st.ok()) return st;
    delivery_view_.clear();
    prefetched_key_ = message_key;
    if (ids.empty()) return absl::OkStatus();
    auto rows = CollectParsed<v1::Delivery>(
        OfMembers(OfMembersSql("proto", "deliveries", "(message_key = ?2 OR (category = 2 AND status = 2))"), ids,
                  message_key),
        [](const Statement& st) { return ParseStored<v1::Delivery>(st, 0, "delivery"); });
    if (!rows.ok()) return rows.status();
    for (const std::string& id : ids) delivery_view_[id];
    for (v1::Delivery& d : *rows) delivery_view_[d.member_id()].push_back(std::move(d));
    return absl::OkStatus();
  }

  static int64_t NextTry(const v1::Delivery& d) {
    if (d.has_next_attempt_time()) return Micros(d.next_attempt_time());
    return Micros(d.send_after());
  }

  absl::Status UpdateDelivery(const v1::Delivery& d) override {
    if (absl::Status st = FlushDeliveries(); !st.ok()) return st;
    delivery_view_.erase(d.member_id());
    return txn_
        .Exec(
            "UPDATE deliveries SET status = ?2, suppression_reason = ?3, send_after = ?4, proto = ?5 "
            "WHERE delivery_id = ?1",
            d.delivery_id(), static_cast<int>(d.status()), static_cast<int>(d.suppression_reason()), NextTry(d),
            Blob{d.SerializeAsString()})
        .status();
  }

  static absl::StatusOr<std::optional<v1::Delivery>> OneDelivery(absl::StatusOr<Statement> stmt) {
    return FirstRow<v1::Delivery>(std::move(stmt),
                                  [](const Statement& st) { return ParseStored<v1::Delivery>(st, 0, "delivery"); });
  }

  absl::StatusOr<std::optional<v1::Delivery>> GetDelivery(const std::string& id) override {
    if (absl::Status st = FlushDeliveries(); !st.ok()) return st;
    return OneDelivery(txn_.Query("SELECT proto FROM deliveries WHERE delivery_id = ?1", id));
  }
  absl::StatusOr<std::optional<v1::Delivery>> GetDeliveryByKey(const std::string& member_id,
                                                               const std::string& message_key, int channel) override {
    if (auto view = delivery_view_.find(member_id); view != delivery_view_.end() && message_key == prefetched_key_) {
      for (const v1::Delivery& d : view->second) {
        if (d.message_key() == message_key && d.channel() == channel) return std::optional<v1::Delivery>(d);
      }
      return std::optional<v1::Delivery>();
    }
    if (absl::Status st = FlushDeliveries(); !st.ok()) return st;
    return OneDelivery(
        txn_.Query("SELECT proto FROM deliveries WHERE member_id = ?1 AND message_key = ?2 AND channel = ?3", member_id,
                   message_key, channel));
  }

  absl::StatusOr<std::vector<v1::Delivery>> DueDeliveries(absl::Time now, int limit) override {
    if (absl::Status st = FlushDeliveries(); !st.ok()) return st;
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
    if (absl::Status st = FlushDeliveries(); !st.ok()) return st;
    auto stmt = txn_.Query(
        "SELECT seq, proto FROM deliveries WHERE schedule_id = ?1 AND status = 1 AND seq > ?2 "
        "ORDER BY seq LIMIT ?3",
        schedule_id, after, limit);
    if (!stmt.ok()) return stmt.status();
    return SeqDeliveries(*stmt);
  }

  absl::StatusOr<std::vector<std::pair<int64_t, v1::Delivery>>> ListDeliveries(const DeliveryFilter& f,
                                                                               int64_t before_seq, int limit) override {
    if (absl::Status st = FlushDeliveries(); !st.ok()) return st;
    FilteredQuery q("SELECT seq, proto FROM deliveries WHERE 1=1");
    if (!f.member_id.empty()) q.Add(" AND member_id = ?", f.member_id);
    // "<> ''" lets the planner use the partial index on contact_id.
    if (!f.contact_id.empty()) q.Add(" AND contact_id <> '' AND contact_id = ?", f.contact_id);
    if (!f.campaign_id.empty()) q.Add(" AND campaign_id = ?", f.campaign_id);
    if (!f.message_key.empty()) q.Add(" AND message_key = ?", f.message_key);
    if (!f.schedule_id.empty()) q.Add(" AND schedule_id = ?", f.schedule_id);
    if (!f.complaint_id.empty()) q.Add(" AND complaint_id = ?", f.complaint_id);
    if (!f.statuses.empty()) q.Add(absl::StrCat(" AND status", kInIntegerList), JsonArray(f.statuses));
    if (f.suppression_reason != 0) q.Add(" AND suppression_reason = ?", int64_t{f.suppression_reason});
    if (!f.channels.empty()) q.Add(absl::StrCat(" AND channel", kInIntegerList), JsonArray(f.channels));
    if (!f.kinds.empty()) q.Add(absl::StrCat(" AND kind", kInIntegerList), JsonArray(f.kinds));
    if (f.created_after) q.Add(" AND create_at >= ?", Micros(*f.created_after));
    if (f.created_before) q.Add(" AND create_at < ?", Micros(*f.created_before));
    if (before_seq > 0) q.Add(" AND seq < ?", before_seq);
    q.Add(" ORDER BY seq DESC LIMIT ?", int64_t{limit});
    auto stmt = q.Query(txn_);
    if (!stmt.ok()) return stmt.status();
    return SeqDeliveries(*stmt);
  }

  absl::StatusOr<std::vector<v1::DeliveryCount>> CampaignCounts(const std::string& campaign_id) override {
    if (absl::Status st = FlushDeliveries(); !st.ok()) return st;
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

  absl::Status AddConversion(const std::string& campaign_id, int channel, const std::string& member_id) override {
    // A stable shard per member (FNV-1a): the conversions of one campaign
    // land on up to kConversionShards rows instead of one hot row.
    constexpr uint64_t kConversionShards = 16;
    uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : member_id) h = (h ^ c) * 1099511628211ULL;
    return txn_
        .Exec(
            "INSERT INTO campaign_conversions (campaign_id, channel, shard, members) VALUES (?1, ?2, ?3, 1) "
            "ON CONFLICT (campaign_id, channel, shard) DO UPDATE SET members = campaign_conversions.members + 1",
            campaign_id, channel, static_cast<int64_t>(h % kConversionShards))
        .status();
  }

  absl::StatusOr<std::map<int, int64_t>> CampaignConversions(const std::string& campaign_id) override {
    auto stmt = txn_.Query(
        "SELECT channel, SUM(members) FROM campaign_conversions WHERE campaign_id = ?1 GROUP BY channel", campaign_id);
    if (!stmt.ok()) return stmt.status();
    std::map<int, int64_t> out;
    for (;;) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      out[static_cast<int>(stmt->Int(0))] = stmt->Int(1);
    }
    return out;
  }

  absl::StatusOr<int64_t> MarketingSentSince(const std::string& member_id, absl::Time since) override {
    std::vector<std::string> keys;
    auto count = [&](const v1::Delivery& d) {
      if (d.category() == v1::MESSAGE_CATEGORY_MARKETING && d.status() == v1::DELIVERY_STATUS_SENT &&
          FromTimestamp(d.sent_time()) >= since) {
        keys.push_back(d.message_key());
      }
    };
    if (auto view = delivery_view_.find(member_id); view != delivery_view_.end()) {
      for (const v1::Delivery& d : view->second) count(d);
    } else {
      if (absl::Status st = FlushDeliveries(); !st.ok()) return st;
      // The send time lives in the blob; deliveries of a member are few, so
      // filter on the columns and check sent_time in C++.
      auto rows = CollectParsed<v1::Delivery>(
          txn_.Query("SELECT proto FROM deliveries WHERE member_id = ?1 AND category = 2 AND status = 2", member_id),
          [](const Statement& st) { return ParseStored<v1::Delivery>(st, 0, "delivery"); });
      if (!rows.ok()) return rows.status();
      for (const v1::Delivery& d : *rows) count(d);
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

  static constexpr char kMemberColumns[] =
      "member_id, name, email, phone, profile_locale, profile_zone, profile_at, preferences";

  absl::StatusOr<std::optional<MemberRow>> ReadMember(const std::string& member_id) {
    return FirstRow<MemberRow>(txn_.Query(absl::StrCat("SELECT ", kMemberColumns, " FROM members WHERE member_id = ?1"),
                                          member_id),
                               MemberFrom);
  }

  static absl::StatusOr<MemberRow> MemberFrom(const Statement& st) {
    MemberRow m;
    m.member_id = st.Text(0);
    m.name = st.Text(1);
    m.email = st.Text(2);
    m.phone = st.Text(3);
    m.profile_locale = st.Text(4);
    m.profile_zone = st.Text(5);
    m.profile_at = st.Int(6) == 0 ? absl::InfinitePast() : FromMicros(st.Int(6));
    if (!st.IsNull(7)) {
      auto p = ParseStored<v1::Preferences>(st, 7, "preferences");
      if (!p.ok()) return p.status();
      m.preferences = std::move(*p);
    }
    return m;
  }

  // Two queries for a whole fan-out batch instead of two or more per member.
  absl::Status PrefetchMembers(const std::vector<std::string>& ids) override {
    if (ids.empty()) return absl::OkStatus();
    auto members = CollectParsed<MemberRow>(OfMembers(OfMembersSql(kMemberColumns, "members", "TRUE"), ids),
                                            MemberFrom);
    if (!members.ok()) return members.status();
    // emplace: what this transaction wrote already stays.
    for (const std::string& id : ids) members_.emplace(id, std::nullopt);
    for (MemberRow& m : *members) {
      auto& cached = members_[m.member_id];
      if (!cached && !pending_members_.contains(m.member_id)) cached = std::move(m);
    }
    auto consents = Collect<bool>(
        OfMembers(OfMembersSql("member_id, channel, granted, effective_at", "consents", "TRUE"), ids),
        [this](const Statement& st) {
          consents_.emplace(std::make_pair(st.Text(0), static_cast<int>(st.Int(1))),
                            ConsentState{st.Int(2) != 0, FromMicros(st.Int(3))});
          return true;
        });
    if (!consents.ok()) return consents.status();
    consents_known_.insert(ids.begin(), ids.end());
    return absl::OkStatus();
  }

  // Kept in IngestEventRequest's serialized form.
  absl::Status PutDeliveryEvent(const std::string& delivery_id, const Event& event) override {
    return txn_
        .Exec("INSERT INTO delivery_events (delivery_id, event) VALUES (?1, ?2) ON CONFLICT DO NOTHING", delivery_id,
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

  // Written through to this transaction's reads at once and to the table
  // by FlushPending, many rows per statement (a fan-out batch writes one
  // member row per member). Only this view reads the members table.
  absl::Status PutMember(const MemberRow& m) override {
    members_[m.member_id] = m;
    pending_members_[m.member_id] = m;
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<ConsentState>> GetConsent(const std::string& member_id, int channel) override {
    auto key = std::make_pair(member_id, channel);
    if (auto hit = consents_.find(key); hit != consents_.end()) return hit->second;
    if (consents_known_.contains(member_id)) return std::optional<ConsentState>();  // prefetched: none
    auto r = ReadConsent(member_id, channel);
    if (r.ok()) consents_[key] = *r;
    return r;
  }

  absl::StatusOr<std::optional<ConsentState>> ReadConsent(const std::string& member_id, int channel) {
    if (absl::Status st = FlushConsents(); !st.ok()) return st;
    auto stmt = txn_.Query("SELECT granted, effective_at FROM consents WHERE member_id = ?1 AND channel = ?2",
                           member_id, channel);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::optional<ConsentState>();
    return std::optional<ConsentState>(ConsentState{stmt->Int(0) != 0, FromMicros(stmt->Int(1))});
  }

  // Consents and their records are written by FlushPending, many rows per
  // statement (a fan-out batch may change one per member); reads of the
  // tables write them first.
  absl::Status PutConsent(const std::string& member_id, int channel, const ConsentState& state) override {
    consents_[{member_id, channel}] = state;
    pending_consents_[{member_id, channel}] = state;
    return absl::OkStatus();
  }

  absl::Status AppendConsentRecord(const v1::ConsentRecord& r) override {
    pending_records_.push_back(r);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::pair<int, ConsentState>>> Consents(const std::string& member_id) override {
    if (absl::Status st = FlushConsents(); !st.ok()) return st;
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
    if (absl::Status st = FlushConsents(); !st.ok()) return st;
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

  // Written by FlushPending with the transaction's others; reads of the
  // inbox write them first.
  absl::Status InsertInbox(const v1::InboxMessage& m) override {
    pending_inbox_.push_back(m);
    pending_inbox_.back().clear_read_time();
    return absl::OkStatus();
  }

  static absl::StatusOr<v1::InboxMessage> InboxFrom(const Statement& stmt, int proto_col, int read_col) {
    auto m = ParseStored<v1::InboxMessage>(stmt, proto_col, "inbox message");
    if (!m.ok()) return m.status();
    if (!stmt.IsNull(read_col)) *m->mutable_read_time() = ToTimestamp(FromMicros(stmt.Int(read_col)));
    return m;
  }

  absl::StatusOr<std::optional<v1::InboxMessage>> GetInbox(const std::string& message_id) override {
    if (absl::Status st = FlushInbox(); !st.ok()) return st;
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
    if (absl::Status st = FlushInbox(); !st.ok()) return st;
    auto read = FirstRow<FeedChange>(
        txn_.Query("UPDATE inbox SET read_at = ?2 WHERE message_id = ?1 AND read_at IS NULL RETURNING member_id, kind",
                   message_id, Micros(at)),
        [&](const Statement& st) -> absl::StatusOr<FeedChange> {
          return FeedChange{2, message_id, st.Text(0), st.Int(1), Micros(at)};
        });
    if (!read.ok()) return read.status();
    if (*read) feed_.push_back(**read);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::pair<int64_t, v1::InboxMessage>>> ListInbox(const InboxFilter& f, int64_t before_seq,
                                                                              int limit) override {
    if (absl::Status st = FlushInbox(); !st.ok()) return st;
    FilteredQuery q("SELECT seq, proto, read_at FROM inbox WHERE");
    q.Add(" member_id = ? AND expire_at > ?", f.member_id, Micros(f.now));
    if (f.unread_only) q.Add(" AND read_at IS NULL");
    if (!f.kinds.empty()) q.Add(absl::StrCat(" AND kind", kInIntegerList), JsonArray(f.kinds));
    if (before_seq > 0) q.Add(" AND seq < ?", before_seq);
    q.Add(" ORDER BY seq DESC LIMIT ?", int64_t{limit});
    auto stmt = q.Query(txn_);
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
    if (absl::Status st = FlushInbox(); !st.ok()) return st;
    auto stmt = txn_.Query("SELECT COUNT(*) FROM inbox WHERE member_id = ?1 AND expire_at > ?2 AND read_at IS NULL",
                           member_id, Micros(now));
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    return stmt->Int(0);
  }

  absl::StatusOr<InboxFeedBounds> InboxFeedRange() override {
    if (absl::Status st = FlushInbox(); !st.ok()) return st;
    auto stmt = txn_.Query(
        "SELECT (SELECT MIN(seq) FROM inbox_events), "
        "(SELECT last_seq FROM inbox_feed_head WHERE id = 1)");
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
    if (absl::Status st = FlushInbox(); !st.ok()) return st;
    std::string sql =
        "SELECT e.seq, e.type, e.member_id, i.proto, i.read_at FROM inbox_events e "
        "JOIN inbox i ON i.message_id = e.message_id WHERE e.seq > ?1 AND e.seq <= ?2";
    if (!kinds.empty()) absl::StrAppend(&sql, " AND e.kind IN (SELECT CAST(value AS BIGINT) FROM json_each(?3))");
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
        "(SELECT seq, at FROM inbox_events ORDER BY seq LIMIT ?2) AS head WHERE at < ?1)",
        Micros(before), limit);
  }

  absl::StatusOr<int64_t> PurgeExpiredInbox(absl::Time expired_before, int limit) override {
    // Index inbox_expiry.
    return txn_.Exec(
        "DELETE FROM inbox WHERE seq IN (SELECT seq FROM inbox WHERE expire_at < ?1 ORDER BY expire_at LIMIT ?2)",
        Micros(expired_before), limit);
  }

  absl::StatusOr<int64_t> PurgeFinalDeliveries(absl::Time created_before, int limit) override {
    // The conditions of the partial index deliveries_final_age; a batch's
    // events go first, while their deliveries still name them.
    constexpr absl::string_view kBatch =
        "SELECT seq FROM deliveries WHERE status <> 1 AND create_at < ?1 ORDER BY create_at LIMIT ?2";
    auto events = txn_.Exec(absl::StrCat("DELETE FROM delivery_events WHERE delivery_id IN "
                                         "(SELECT delivery_id FROM deliveries WHERE seq IN (",
                                         kBatch, "))"),
                            Micros(created_before), limit);
    if (!events.ok()) return events.status();
    return txn_.Exec(absl::StrCat("DELETE FROM deliveries WHERE seq IN (", kBatch, ")"), Micros(created_before), limit);
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
            "INSERT INTO templates (kind, template_key, channel, locale, version, proto) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (kind, template_key, channel, locale) DO UPDATE SET "
            "version = excluded.version, proto = excluded.proto",
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
    return txn_
        .Exec("INSERT INTO settings (id, proto) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET proto = excluded.proto",
              Blob{s.SerializeAsString()})
        .status();
  }

  // --------------------------------------------------------- personal data

  absl::StatusOr<std::vector<std::string>> MembersWithContact(const std::string& email,
                                                              const std::string& phone) override {
    if (absl::Status st = FlushMembers(); !st.ok()) return st;
    auto text = [](const Statement& st) -> std::string { return st.Text(0); };
    std::set<std::string> ids;
    // One query per address, so each can use its index (migration 0006).
    if (!email.empty()) {
      auto rows = Collect<std::string>(
          txn_.Query("SELECT member_id FROM members WHERE lower(email) = lower(?1) AND email <> ''", email), text);
      if (!rows.ok()) return rows.status();
      ids.insert(rows->begin(), rows->end());
    }
    if (!phone.empty()) {
      auto rows = Collect<std::string>(
          txn_.Query("SELECT member_id FROM members WHERE phone = ?1 AND phone <> ''", phone), text);
      if (!rows.ok()) return rows.status();
      ids.insert(rows->begin(), rows->end());
    }
    return std::vector<std::string>(ids.begin(), ids.end());
  }

  absl::StatusOr<std::map<std::string, int64_t>> DeleteMemberData(const std::string& member_id) override {
    for (absl::Status (SqlStoreTxn::*flush)() : {&SqlStoreTxn::FlushMembers, &SqlStoreTxn::FlushConsents,
                                                 &SqlStoreTxn::FlushDeliveries, &SqlStoreTxn::FlushInbox}) {
      if (absl::Status st = (this->*flush)(); !st.ok()) return st;
    }
    members_.erase(member_id);
    consents_known_.erase(member_id);
    delivery_view_.erase(member_id);
    std::erase_if(consents_, [&](const auto& kv) { return kv.first.first == member_id; });
    // The feed's rows stay where they are (a subscriber's cursor is a
    // position in it) but name nothing; the join with the inbox skips them.
    static constexpr std::pair<const char*, const char*> kStatements[] = {
        {"profile", "DELETE FROM members WHERE member_id = ?1"},
        {"consent_state", "DELETE FROM consents WHERE member_id = ?1"},
        {"delivery_payload",
         "DELETE FROM delivery_events WHERE delivery_id IN (SELECT delivery_id FROM deliveries WHERE member_id = ?1)"},
        {"inbox_message", "DELETE FROM inbox WHERE member_id = ?1"},
        {"inbox_feed_event", "UPDATE inbox_events SET member_id = '', message_id = '' WHERE member_id = ?1"},
        // A finished fan-out's cursor is read no more; a running one's is
        // where it resumes, so it stays until the fan-out ends.
        {"fan_out_cursor", "UPDATE fan_out_chunks SET after_member_id = '' WHERE after_member_id = ?1 AND done = 1"},
        {"fan_out_cursor",
         "UPDATE schedules SET after_member_id = '' WHERE after_member_id = ?1 AND state NOT IN (1, 2)"},
    };
    std::map<std::string, int64_t> counts;
    for (const auto& [kind, sql] : kStatements) {
      auto n = txn_.Exec(sql, member_id);
      if (!n.ok()) return n.status();
      counts[kind] += *n;
    }
    return counts;
  }

  absl::StatusOr<int64_t> DeleteContactPayloads(const std::string& contact_id) override {
    if (absl::Status st = FlushDeliveries(); !st.ok()) return st;
    return txn_.Exec(
        "DELETE FROM delivery_events WHERE delivery_id IN "
        "(SELECT delivery_id FROM deliveries WHERE contact_id <> '' AND contact_id = ?1)",
        contact_id);
  }

  absl::StatusOr<int64_t> DeleteConsentHistory(const std::string& member_id) override {
    if (absl::Status st = FlushConsents(); !st.ok()) return st;
    return txn_.Exec("DELETE FROM consent_history WHERE member_id = ?1", member_id);
  }

  absl::Status RekeyDelivery(const std::string& delivery_id, const v1::Delivery& d) override {
    if (absl::Status st = FlushDeliveries(); !st.ok()) return st;
    delivery_view_.clear();
    return txn_
        .Exec(
            "UPDATE deliveries SET member_id = ?2, status = ?3, suppression_reason = ?4, send_after = ?5, proto = ?6, "
            "delivery_id = ?7, message_key = ?8, contact_id = ?9 WHERE delivery_id = ?1",
            delivery_id, d.member_id(), static_cast<int>(d.status()), static_cast<int>(d.suppression_reason()),
            NextTry(d), Blob{d.SerializeAsString()}, d.delivery_id(), d.message_key(), d.contact_id())
        .status();
  }

  absl::StatusOr<bool> IsErased(const std::vector<std::string>& keys) override {
    return care::IsErased(txn_, digests_, keys);
  }

  // One query for a whole fan-out batch.
  absl::StatusOr<std::set<std::string>> ErasedMembers(const std::vector<std::string>& member_ids) override {
    std::map<std::string, std::string> by_digest;
    std::vector<std::string> digests;
    for (const std::string& id : member_ids) {
      for (std::string& digest : digests_.Candidates(MemberSubject(id))) {
        digests.push_back(digest);
        by_digest[std::move(digest)] = id;
      }
    }
    std::set<std::string> erased;
    if (digests.empty()) return erased;
    auto rows = Collect<std::string>(
        txn_.Query("SELECT digest FROM erased_subjects WHERE digest IN (SELECT value FROM json_each(?1))",
                   JsonArray(digests)),
        [](const Statement& st) -> std::string { return st.Text(0); });
    if (!rows.ok()) return rows.status();
    for (const std::string& d : *rows) erased.insert(by_digest[d]);
    return erased;
  }

  absl::Status EraseCommonRecords(const std::vector<std::string>& keys, absl::Time now,
                                  care::common::v1::ErasureReceipt& receipt) override {
    return care::EraseCommonRecords(txn_, digests_, keys, now, receipt);
  }

  // Writes what this transaction kept back: its member, consent, delivery and
  // inbox rows, then its inbox changes with their feed positions, as its
  // last statements. Positions come
  // from one counter row (inbox_feed_head) that the same transaction bumps,
  // not from a sequence: a sequence hands out numbers at insert time, so a
  // transaction that took 7 and commits after the one that took 8 would let a
  // subscriber that read 8 move its cursor past 7 for good. Two transactions
  // that bump the row cannot both commit concurrently (a row lock; at
  // SERIALIZABLE the later one is re-run after the first commits), so
  // positions follow commit order and a snapshot that sees the head sees
  // every event up to it. Bumping it last keeps the lock short.
  absl::Status FlushPending() {
    for (absl::Status (SqlStoreTxn::*flush)() : {&SqlStoreTxn::FlushMembers, &SqlStoreTxn::FlushConsents,
                                                 &SqlStoreTxn::FlushDeliveries, &SqlStoreTxn::FlushInbox}) {
      if (absl::Status st = (this->*flush)(); !st.ok()) return st;
    }
    absl::Status st = txn_.engine() == SqlEngine::kPostgres ? FlushFeedInOne() : FlushFeed();
    feed_.clear();
    return st;
  }

 private:
  const SubjectDigests& digests_;  // tombstones (common/privacy.h)
  absl::Status FlushFeed() {
    if (feed_.empty()) return absl::OkStatus();
    auto head = FirstRow<int64_t>(
        txn_.Query("UPDATE inbox_feed_head SET last_seq = last_seq + ?1 WHERE id = 1 RETURNING last_seq",
                   static_cast<int64_t>(feed_.size())),
        [](const Statement& st) -> absl::StatusOr<int64_t> { return st.Int(0); });
    if (!head.ok()) return head.status();
    if (!*head) return absl::InternalError("inbox_feed_head has no row");
    const int64_t first = **head - static_cast<int64_t>(feed_.size());
    return InsertRows("INSERT INTO inbox_events (seq, type, message_id, member_id, kind, at)",
                      {"bigint", "bigint", "text", "text", "bigint", "bigint"}, "", feed_.size(),
                      [&](auto put, size_t i) {
                        const FeedChange& c = feed_[i];
                        put(1, first + 1 + static_cast<int64_t>(i));
                        put(2, c.type);
                        put(3, c.message_id);
                        put(4, c.member_id);
                        put(5, c.kind);
                        put(6, c.at);
                      });
  }

  // The same in one statement and round trip on PostgreSQL: the head's bump
  // (a data-modifying WITH, run once) numbers the events in their order.
  absl::Status FlushFeedInOne() {
    if (feed_.empty()) return absl::OkStatus();
    SqlArray type(SqlArray::Type::kInt8), message(SqlArray::Type::kText), member(SqlArray::Type::kText),
        kind(SqlArray::Type::kInt8), at(SqlArray::Type::kInt8);
    for (const FeedChange& c : feed_) {
      type.Put(c.type);
      message.Put(c.message_id);
      member.Put(c.member_id);
      kind.Put(c.kind);
      at.Put(c.at);
    }
    const auto count = static_cast<int64_t>(feed_.size());
    auto n = txn_.Exec(
        "WITH head AS (UPDATE inbox_feed_head SET last_seq = last_seq + ?1 WHERE id = 1 RETURNING last_seq) "
        "INSERT INTO inbox_events (seq, type, message_id, member_id, kind, at) "
        "SELECT head.last_seq - ?1 + e.n, e.type, e.message_id, e.member_id, e.kind, e.at FROM head, "
        "unnest(?2::bigint[], ?3::text[], ?4::text[], ?5::bigint[], ?6::bigint[]) "
        "WITH ORDINALITY AS e(type, message_id, member_id, kind, at, n)",
        count, type, message, member, kind, at);
    if (!n.ok()) return n.status();
    if (*n != count) return absl::InternalError("inbox_feed_head has no row");
    return absl::OkStatus();
  }

  absl::Status FlushMembers() {
    std::vector<const MemberRow*> rows;
    rows.reserve(pending_members_.size());
    for (const auto& [id, m] : pending_members_) rows.push_back(&m);
    std::vector<std::string> prefs(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i]->preferences) prefs[i] = rows[i]->preferences->SerializeAsString();
    }
    absl::Status st = InsertRows(
        "INSERT INTO members (member_id, name, email, phone, profile_locale, profile_zone, profile_at, preferences)",
        {"text", "text", "text", "text", "text", "text", "bigint", "bytea"},
        " ON CONFLICT (member_id) DO UPDATE SET name = excluded.name, email = excluded.email, "
        "phone = excluded.phone, profile_locale = excluded.profile_locale, profile_zone = excluded.profile_zone, "
        "profile_at = excluded.profile_at, preferences = excluded.preferences",
        rows.size(), [&](auto put, size_t i) {
          const MemberRow& m = *rows[i];
          put(1, m.member_id);
          put(2, m.name);
          put(3, m.email);
          put(4, m.phone);
          put(5, m.profile_locale);
          put(6, m.profile_zone);
          put(7, m.profile_at == absl::InfinitePast() ? int64_t{0} : Micros(m.profile_at));
          if (m.preferences) {
            put(8, Blob{prefs[i]});
          } else {
            put(8, nullptr);
          }
        });
    pending_members_.clear();
    return st;
  }

  // `head` rows `tail` for `count` rows of columns of the given PostgreSQL
  // types. add(put, i) gives row i's values as put(column, value), columns
  // from 1; returned(stmt) reads each row a RETURNING tail yields. On
  // PostgreSQL the rows go in one statement, each column one array
  // parameter (`head` SELECT * FROM unnest(?1::text[], ...) `tail`: one
  // round trip per table and batch, one statement text whatever the count;
  // CockroachDB and YugabyteDB run it too). On SQLite, in process, multi-row
  // VALUES of kRowsPerInsert rows.
  template <typename AddRow, typename Returned>
  absl::Status InsertRows(absl::string_view head, const std::vector<absl::string_view>& types, absl::string_view tail,
                          size_t count, AddRow add, Returned returned) {
    if (count == 0) return absl::OkStatus();
    if (txn_.engine() == SqlEngine::kPostgres) return InsertArrays(head, types, tail, count, add, returned);
    const int columns = static_cast<int>(types.size());
    for (size_t i = 0; i < count;) {
      int n = 1;
      for (int size : kRowsPerInsert) {
        if (count - i >= static_cast<size_t>(size)) {
          n = size;
          break;
        }
      }
      std::string sql = absl::StrCat(head, " VALUES ");
      for (int r = 0; r < n; ++r) {
        absl::StrAppend(&sql, r ? ",(" : "(");
        for (int c = 1; c <= columns; ++c) absl::StrAppend(&sql, c > 1 ? ",?" : "?", r * columns + c);
        absl::StrAppend(&sql, ")");
      }
      absl::StrAppend(&sql, tail);
      auto stmt = txn_.Prepare(sql);
      if (!stmt.ok()) return stmt.status();
      for (int r = 0; r < n; ++r) {
        const int p = r * columns;
        add([&](int column, const auto& v) { stmt->Bind(p + column, v); }, i + r);
      }
      if (absl::Status st = ReadReturned(*stmt, returned); !st.ok()) return st;
      i += n;
    }
    return absl::OkStatus();
  }
  template <typename AddRow>
  absl::Status InsertRows(absl::string_view head, const std::vector<absl::string_view>& types, absl::string_view tail,
                          size_t count, AddRow add) {
    return InsertRows(head, types, tail, count, add, [](const Statement&) {});
  }

  template <typename AddRow, typename Returned>
  absl::Status InsertArrays(absl::string_view head, const std::vector<absl::string_view>& types, absl::string_view tail,
                            size_t count, AddRow add, Returned returned) {
    std::vector<SqlArray> arrays;
    arrays.reserve(types.size());
    for (absl::string_view type : types) arrays.emplace_back(ArrayType(type));
    for (size_t i = 0; i < count; ++i) {
      add([&](int column, const auto& v) { arrays[column - 1].Put(v); }, i);
    }
    std::string sql = absl::StrCat(head, " SELECT * FROM unnest(");
    for (size_t c = 0; c < types.size(); ++c) absl::StrAppend(&sql, c ? "," : "", "?", c + 1, "::", types[c], "[]");
    absl::StrAppend(&sql, ")", tail);
    auto stmt = txn_.Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    for (size_t c = 0; c < arrays.size(); ++c) stmt->Bind(static_cast<int>(c + 1), arrays[c]);
    return ReadReturned(*stmt, returned);
  }

  template <typename Returned>
  static absl::Status ReadReturned(Statement& stmt, Returned& returned) {
    for (;;) {
      auto row = stmt.Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::OkStatus();
      returned(stmt);
    }
  }

  absl::Status FlushConsents() {
    std::vector<std::pair<const std::pair<std::string, int>*, const ConsentState*>> rows;
    for (const auto& [key, state] : pending_consents_) rows.emplace_back(&key, &state);
    absl::Status st = InsertRows("INSERT INTO consents (member_id, channel, granted, effective_at)",
                                 {"text", "bigint", "bigint", "bigint"},
                                 " ON CONFLICT (member_id, channel) DO UPDATE SET granted = excluded.granted, "
                                 "effective_at = excluded.effective_at",
                                 rows.size(), [&](auto put, size_t i) {
                                   put(1, rows[i].first->first);
                                   put(2, rows[i].first->second);
                                   put(3, rows[i].second->granted);
                                   put(4, Micros(rows[i].second->effective_at));
                                 });
    pending_consents_.clear();
    if (!st.ok()) return st;
    // In the order they were appended: seq follows the rows' order.
    std::vector<std::string> blobs;
    blobs.reserve(pending_records_.size());
    for (const v1::ConsentRecord& r : pending_records_) blobs.push_back(r.SerializeAsString());
    st = InsertRows("INSERT INTO consent_history (member_id, channel, record_at, proto)",
                    {"text", "bigint", "bigint", "bytea"}, "", pending_records_.size(), [&](auto put, size_t i) {
                      const v1::ConsentRecord& r = pending_records_[i];
                      put(1, r.member_id());
                      put(2, static_cast<int>(r.channel()));
                      put(3, Micros(r.record_time()));
                      put(4, Blob{blobs[i]});
                    });
    pending_records_.clear();
    return st;
  }

  absl::Status FlushDeliveries() {
    if (pending_deliveries_.empty()) return absl::OkStatus();
    std::vector<std::string> blobs;
    blobs.reserve(pending_deliveries_.size());
    for (const v1::Delivery& d : pending_deliveries_) blobs.push_back(d.SerializeAsString());
    absl::Status st = InsertRows(
        "INSERT INTO deliveries (delivery_id, member_id, message_key, channel, kind, category, schedule_id, "
        "campaign_id, complaint_id, status, suppression_reason, send_after, create_at, proto)",
        {"text", "text", "text", "bigint", "bigint", "bigint", "text", "text", "text", "bigint", "bigint", "bigint",
         "bigint", "bytea"},
        "", pending_deliveries_.size(), [&](auto put, size_t i) {
          const v1::Delivery& d = pending_deliveries_[i];
          put(1, d.delivery_id());
          put(2, d.member_id());
          put(3, d.message_key());
          put(4, static_cast<int>(d.channel()));
          put(5, static_cast<int>(d.kind()));
          put(6, static_cast<int>(d.category()));
          put(7, d.schedule_id());
          put(8, d.campaign_id());
          put(9, d.complaint_id());
          put(10, static_cast<int>(d.status()));
          put(11, static_cast<int>(d.suppression_reason()));
          put(12, NextTry(d));
          put(13, Micros(d.create_time()));
          put(14, Blob{blobs[i]});
        });
    // The view said each was new, so a plain INSERT: a row it missed (a
    // broken view, or one this transaction cannot see) fails the statement
    // on the unique key, and no speculative insertion is paid per row.
    if (st.ok()) {
      for (const v1::Delivery& d : pending_deliveries_) new_deliveries_.insert(d.delivery_id());
    }
    pending_deliveries_.clear();
    return st;
  }

  // Inserted messages join the feed in the order they were stored. The
  // message of a delivery this transaction stored is new as well (one
  // message per delivery): a plain INSERT, like the delivery's; any other
  // may be a repeat and is skipped.
  absl::Status FlushInbox() {
    if (pending_inbox_.empty()) return absl::OkStatus();
    std::vector<std::string> blobs;
    blobs.reserve(pending_inbox_.size());
    for (const v1::InboxMessage& m : pending_inbox_) blobs.push_back(m.SerializeAsString());
    std::vector<size_t> fresh, other;
    for (size_t i = 0; i < pending_inbox_.size(); ++i) {
      (new_deliveries_.contains(pending_inbox_[i].delivery_id()) ? fresh : other).push_back(i);
    }
    std::set<std::string> inserted;
    auto write = [&](const std::vector<size_t>& rows, absl::string_view tail) {
      return InsertRows(
          "INSERT INTO inbox (message_id, member_id, delivery_id, kind, created_at, expire_at, proto)",
          {"text", "text", "text", "bigint", "bigint", "bigint", "bytea"}, tail, rows.size(),
          [&](auto put, size_t k) {
            const v1::InboxMessage& m = pending_inbox_[rows[k]];
            put(1, m.message_id());
            put(2, m.member_id());
            put(3, m.delivery_id());
            put(4, static_cast<int>(m.kind()));
            put(5, Micros(m.create_time()));
            put(6, Micros(m.expire_time()));
            put(7, Blob{blobs[rows[k]]});
          },
          [&](const Statement& stmt) { inserted.insert(stmt.Text(0)); });
    };
    absl::Status st = write(fresh, "");
    for (size_t i : fresh) inserted.insert(pending_inbox_[i].message_id());
    if (st.ok()) st = write(other, " ON CONFLICT DO NOTHING RETURNING message_id");
    if (st.ok()) {
      for (const v1::InboxMessage& m : pending_inbox_) {
        if (inserted.erase(m.message_id()) > 0) {
          feed_.push_back(FeedChange{1, m.message_id(), m.member_id(), m.kind(), Micros(m.create_time())});
        }
      }
    }
    pending_inbox_.clear();
    return st;
  }

  // Writes kept back until FlushPending (or a read of their table).
  std::map<std::pair<std::string, int>, ConsentState> pending_consents_;
  std::vector<v1::ConsentRecord> pending_records_;
  std::vector<v1::Delivery> pending_deliveries_;
  std::vector<v1::InboxMessage> pending_inbox_;
  // Deliveries this transaction inserted from pending_deliveries_.
  std::set<std::string> new_deliveries_;
  // PrefetchDeliveries: per member, its deliveries with prefetched_key_ and
  // its SENT marketing ones, including this transaction's.
  std::map<std::string, std::vector<v1::Delivery>> delivery_view_;
  std::string prefetched_key_;
  // Members written by this transaction, not yet in the table.
  std::map<std::string, MemberRow> pending_members_;
  // Members whose every consent is in consents_ (PrefetchMembers).
  std::set<std::string> consents_known_;
  // Inbox changes of this transaction, written to the feed by FlushPending.
  std::vector<FeedChange> feed_;
  // Rows read or written in this transaction (the view lives as long as one
  // write or read; a failed write fails the whole transaction with it).
  std::map<std::string, std::optional<ScheduleRow>> schedules_;
  std::map<std::string, std::optional<MemberRow>> members_;
  std::map<std::pair<std::string, int>, std::optional<ConsentState>> consents_;
  std::map<std::string, std::optional<v1::Template>> templates_;
};

// SqlStoreOf (common/sql.h), plus FlushPending last in every write.
class SqlNotificationStore final : public NotificationStore {
 public:
  SqlNotificationStore(Database& db, const SubjectDigests& digests) : db_(db), digests_(digests) {}
  absl::Status Write(const std::function<absl::Status(StoreTxn&)>& fn) override {
    return db_.Write([this, &fn](Txn& txn) -> absl::Status {
      SqlStoreTxn view(txn, digests_);
      if (absl::Status s = fn(view); !s.ok()) return s;
      return view.FlushPending();
    });
  }
  absl::Status Read(const std::function<absl::Status(StoreTxn&)>& fn) override {
    return db_.Read([this, &fn](Txn& txn) {
      SqlStoreTxn view(txn, digests_);
      return fn(view);
    });
  }

 private:
  Database& db_;
  const SubjectDigests& digests_;
};

}  // namespace

std::unique_ptr<NotificationStore> NewSqlNotificationStore(Database& db, const SubjectDigests& digests) {
  return std::make_unique<SqlNotificationStore>(db, digests);
}

}  // namespace care::notification
