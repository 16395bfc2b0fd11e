#include "services/loyalty/sql_loyalty_store.h"

#include <array>
#include <atomic>
#include <iterator>
#include <limits>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/idempotency.h"
#include "common/outbox.h"
#include "common/outbox_state.h"
#include "common/privacy.h"
#include "common/proto_time.h"
#include "services/loyalty/loyalty_proto.h"

namespace care::loyalty {
namespace {

// Times are stored as unix microseconds; the infinities as the int64 ends.
int64_t Micros(absl::Time t) {
  if (t == absl::InfinitePast()) return std::numeric_limits<int64_t>::min();
  if (t == absl::InfiniteFuture()) return std::numeric_limits<int64_t>::max();
  return absl::ToUnixMicros(t);
}
std::optional<int64_t> Micros(const std::optional<absl::Time>& t) {
  if (!t) return std::nullopt;
  return Micros(*t);
}
absl::Time TimeAt(int64_t micros) { return absl::FromUnixMicros(micros); }
std::optional<absl::Time> OptTime(const Statement& s, int col) {
  if (s.IsNull(col)) return std::nullopt;
  return TimeAt(s.Int(col));
}

// Consents as "channel:granted:micros;..." (a handful per member).
std::string EncodeConsents(const std::vector<Consent>& consents) {
  std::vector<std::string> parts;
  parts.reserve(consents.size());
  for (const Consent& c : consents) {
    parts.push_back(absl::StrCat(c.channel, ":", c.granted ? 1 : 0, ":", Micros(c.update_time)));
  }
  return absl::StrJoin(parts, ";");
}
std::vector<Consent> DecodeConsents(absl::string_view text) {
  std::vector<Consent> out;
  for (absl::string_view part : absl::StrSplit(text, ';', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(part, ':');
    Consent c;
    int64_t micros = 0;
    int granted = 0;
    if (f.size() != 3 || !absl::SimpleAtoi(f[0], &c.channel) || !absl::SimpleAtoi(f[1], &granted) ||
        !absl::SimpleAtoi(f[2], &micros)) {
      continue;
    }
    c.granted = granted != 0;
    c.update_time = micros == std::numeric_limits<int64_t>::min() ? absl::InfinitePast() : TimeAt(micros);
    out.push_back(c);
  }
  return out;
}
int64_t ConsentMask(const std::vector<Consent>& consents) {
  int64_t mask = 0;
  for (const Consent& c : consents) {
    if (c.granted && c.channel > 0 && c.channel < 63) mask |= int64_t{1} << c.channel;
  }
  return mask;
}

constexpr char kMemberColumns[] =
    "member_id, name, email, phone, locale, time_zone, birth_year, birth_month, birth_day, segment, "
    "gender, age_band, occupation, consents, tier_id, tier_in_grace, tier_achieved_at, tier_review_at, "
    "tier_grace_end_at, tier_version, tier_program_version, tier_snapshot_at, points_balance, ledger_seq, "
    "visit_count, visits_since_reward, last_visit_at, lifetime_spend, create_time, update_time, version, "
    "next_birthday_at, birthday_bonus_year, next_anniversary_at, activity_day, activity_day_purchases, "
    "activity_month, activity_month_purchases";

Member MemberFromRow(const Statement& s) {
  Member m;
  m.member_id = s.Text(0);
  Profile& p = m.profile;
  p.name = s.Text(1);
  p.email = s.Text(2);
  p.phone = s.Text(3);
  p.locale = s.Text(4);
  p.time_zone = s.Text(5);
  if (s.Int(7) != 0) {
    p.birthday = BirthDate{static_cast<int>(s.Int(6)), static_cast<int>(s.Int(7)), static_cast<int>(s.Int(8))};
  }
  p.segment = s.Text(9);
  p.gender = static_cast<int>(s.Int(10));
  p.age_band = static_cast<int>(s.Int(11));
  p.occupation = s.Text(12);
  p.consents = DecodeConsents(s.Text(13));
  Standing& t = m.tier;
  t.tier_id = s.Text(14);
  t.in_grace = s.Int(15) != 0;
  t.achieved_time = TimeAt(s.Int(16));
  t.review_time = OptTime(s, 17);
  t.grace_end_time = OptTime(s, 18);
  t.version = s.Int(19);
  t.program_version = s.Int(20);
  t.snapshot_time = TimeAt(s.Int(21));
  m.points_balance = s.Int(22);
  m.ledger_sequence = s.Int(23);
  m.visit_count = static_cast<int>(s.Int(24));
  m.visits_since_reward = static_cast<int>(s.Int(25));
  m.last_visit_time = OptTime(s, 26);
  m.lifetime_spend = s.Int(27);
  m.create_time = TimeAt(s.Int(28));
  m.update_time = TimeAt(s.Int(29));
  m.version = s.Int(30);
  m.next_birthday_time = OptTime(s, 31);
  m.birthday_bonus_year = static_cast<int>(s.Int(32));
  m.next_anniversary_time = OptTime(s, 33);
  m.activity_day = s.Int(34);
  m.activity_day_purchases = static_cast<int>(s.Int(35));
  m.activity_month = s.Int(36);
  m.activity_month_purchases = static_cast<int>(s.Int(37));
  return m;
}

// Binds every column of kMemberColumns, in order, plus the derived ones
// (email_lc, consent_mask, tier_due_at) as ?39..?41.
void BindMember(Statement& s, const Member& m) {
  const Profile& p = m.profile;
  int i = 0;
  s.Bind(++i, m.member_id);
  s.Bind(++i, p.name);
  s.Bind(++i, p.email);
  s.Bind(++i, p.phone);
  s.Bind(++i, p.locale);
  s.Bind(++i, p.time_zone);
  s.Bind(++i, p.birthday ? p.birthday->year : 0);
  s.Bind(++i, p.birthday ? p.birthday->month : 0);
  s.Bind(++i, p.birthday ? p.birthday->day : 0);
  s.Bind(++i, p.segment);
  s.Bind(++i, p.gender);
  s.Bind(++i, p.age_band);
  s.Bind(++i, p.occupation);
  s.Bind(++i, EncodeConsents(p.consents));
  s.Bind(++i, m.tier.tier_id);
  s.Bind(++i, m.tier.in_grace);
  s.Bind(++i, Micros(m.tier.achieved_time));
  s.Bind(++i, Micros(m.tier.review_time));
  s.Bind(++i, Micros(m.tier.grace_end_time));
  s.Bind(++i, m.tier.version);
  s.Bind(++i, m.tier.program_version);
  s.Bind(++i, Micros(m.tier.snapshot_time));
  s.Bind(++i, m.points_balance);
  s.Bind(++i, m.ledger_sequence);
  s.Bind(++i, m.visit_count);
  s.Bind(++i, m.visits_since_reward);
  s.Bind(++i, Micros(m.last_visit_time));
  s.Bind(++i, m.lifetime_spend);
  s.Bind(++i, Micros(m.create_time));
  s.Bind(++i, Micros(m.update_time));
  s.Bind(++i, m.version);
  s.Bind(++i, Micros(m.next_birthday_time));
  s.Bind(++i, m.birthday_bonus_year);
  s.Bind(++i, Micros(m.next_anniversary_time));
  s.Bind(++i, m.activity_day);
  s.Bind(++i, m.activity_day_purchases);
  s.Bind(++i, m.activity_month);
  s.Bind(++i, m.activity_month_purchases);
  s.Bind(++i, absl::AsciiStrToLower(p.email));
  s.Bind(++i, ConsentMask(p.consents));
  s.Bind(++i, Micros(m.tier.DueTime()));
}

// The rows each (day, tier) of analytics_daily is spread over.
constexpr int64_t kRollupShards = 32;

// The counters of analytics_daily, in the order of RollupFields.
constexpr const char* kRollupColumns[] =
    {"members_delta",       "enrolled",        "erased",          "upgraded",       "downgraded",
     "points_net",          "points_earned",   "points_bonus",    "points_visit",   "points_adjusted_in",
     "points_adjusted_out", "points_redeemed", "points_reversed", "points_expired", "points_forfeited",
     "purchases",           "purchase_amount", "returned_amount", "active_day",     "active_month",
     "repeat_day",          "repeat_month"};

std::array<int64_t*, std::size(kRollupColumns)> RollupFields(RollupCounters& c) {
  return {&c.members_delta,       &c.enrolled,        &c.erased,          &c.upgraded,       &c.downgraded,
          &c.points_net,          &c.points_earned,   &c.points_bonus,    &c.points_visit,   &c.points_adjusted_in,
          &c.points_adjusted_out, &c.points_redeemed, &c.points_reversed, &c.points_expired, &c.points_forfeited,
          &c.purchases,           &c.purchase_amount, &c.returned_amount, &c.active_day,     &c.active_month,
          &c.repeat_day,          &c.repeat_month};
}

std::array<int64_t, std::size(kRollupColumns)> RollupValues(RollupCounters c) {
  std::array<int64_t, std::size(kRollupColumns)> out{};
  auto fields = RollupFields(c);
  for (size_t i = 0; i < fields.size(); ++i) out[i] = *fields[i];
  return out;
}

class SqlStoreTxn final : public SqlTxnBase<StoreTxn> {
 public:
  SqlStoreTxn(Txn& txn, const SubjectDigests& digests) : SqlTxnBase(txn), digests_(digests) {}

  absl::StatusOr<std::optional<Program>> ProgramAt(absl::Time at) override {
    auto p = OneProgram(txn_.Query(
        "SELECT body FROM program_versions WHERE effective_at <= ?1 ORDER BY effective_at DESC, version DESC "
        "LIMIT 1",
        Micros(at)));
    if (!p.ok() || p->has_value()) return p;
    return OneProgram(txn_.Query("SELECT body FROM program_versions ORDER BY version LIMIT 1"));
  }

  absl::StatusOr<std::optional<Program>> ProgramVersion(int64_t version) override {
    return OneProgram(txn_.Query("SELECT body FROM program_versions WHERE version = ?1", version));
  }

  absl::StatusOr<std::vector<Program>> ProgramVersions(int64_t before, int limit) override {
    if (before <= 0) before = std::numeric_limits<int64_t>::max();
    return CollectParsed<Program>(
        txn_.Query("SELECT body FROM program_versions WHERE version < ?1 ORDER BY version DESC LIMIT ?2", before,
                   limit),
        ParseProgram);
  }

  absl::Status InsertProgram(const Program& program) override {
    auto superseded = SupersededBody(program);
    if (!superseded.ok()) return superseded.status();
    absl::Status s = Run(txn_.Query(
        "UPDATE program_versions SET superseded_at = ?1, body = ?3 WHERE version = ?2 AND superseded_at IS NULL",
        Micros(program.effective_time), program.version - 1, Blob{*superseded}));
    if (!s.ok()) return s;
    return Run(txn_.Query("INSERT INTO program_versions (version, effective_at, body) VALUES (?1, ?2, ?3)",
                          program.version, Micros(program.effective_time),
                          Blob{ProgramToProto(program).SerializeAsString()}));
  }

  absl::StatusOr<bool> AnyPurchase() override { return Exists(txn_.Query("SELECT 1 FROM purchases LIMIT 1")); }

  absl::StatusOr<bool> TierHeld(const std::string& tier_id) override {
    return Exists(txn_.Query("SELECT 1 FROM members WHERE tier_id = ?1 LIMIT 1", tier_id));
  }

  absl::StatusOr<std::optional<Member>> GetMember(const std::string& member_id) override {
    auto stmt = txn_.Query(absl::StrCat("SELECT ", kMemberColumns, " FROM members WHERE member_id = ?1"), member_id);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::nullopt;
    return MemberFromRow(*stmt);
  }

  absl::StatusOr<bool> InsertMember(const Member& member) override {
    auto taken = Exists(txn_.Query("SELECT 1 FROM members WHERE member_id = ?1", member.member_id));
    if (!taken.ok()) return taken.status();
    if (*taken) return false;
    auto stmt = txn_.Prepare(absl::StrCat(
        "INSERT INTO members (", kMemberColumns,
        ", email_lc, consent_mask, tier_due_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
        "?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, "
        "?35, ?36, ?37, ?38, ?39, ?40, ?41)"));
    if (!stmt.ok()) return stmt.status();
    BindMember(*stmt, member);
    absl::Status s = Run(std::move(stmt));
    if (!s.ok()) return s;
    return true;
  }

  absl::Status SaveMember(const Member& member) override {
    auto stmt = txn_.Prepare(
        "UPDATE members SET name = ?2, email = ?3, phone = ?4, locale = ?5, time_zone = ?6, birth_year = ?7, "
        "birth_month = ?8, birth_day = ?9, segment = ?10, gender = ?11, age_band = ?12, occupation = ?13, "
        "consents = ?14, tier_id = ?15, tier_in_grace = ?16, tier_achieved_at = ?17, tier_review_at = ?18, "
        "tier_grace_end_at = ?19, tier_version = ?20, tier_program_version = ?21, tier_snapshot_at = ?22, "
        "points_balance = ?23, ledger_seq = ?24, visit_count = ?25, visits_since_reward = ?26, "
        "last_visit_at = ?27, lifetime_spend = ?28, create_time = ?29, update_time = ?30, version = ?31, "
        "next_birthday_at = ?32, birthday_bonus_year = ?33, next_anniversary_at = ?34, activity_day = ?35, "
        "activity_day_purchases = ?36, activity_month = ?37, activity_month_purchases = ?38, email_lc = ?39, "
        "consent_mask = ?40, tier_due_at = ?41 WHERE member_id = ?1");
    if (!stmt.ok()) return stmt.status();
    BindMember(*stmt, member);
    return Run(std::move(stmt));
  }

  absl::StatusOr<std::vector<Member>> ListMembers(const MemberFilter& f, const std::string& after, int limit) override {
    // One statement for every filter combination: an empty filter matches
    // all. Keyset paging on the primary key keeps each page cheap. The lists
    // are tested with json_array_length so that PostgreSQL types them json.
    return Collect<Member>(
        txn_.Query(absl::StrCat("SELECT ", kMemberColumns,
                                " FROM members WHERE member_id > ?1"
                                " AND (json_array_length(?2) = 0 OR tier_id IN (SELECT value FROM json_each(?2)))"
                                " AND (json_array_length(?3) = 0 OR segment IN (SELECT value FROM json_each(?3)))"
                                " AND (?4 = '' OR email_lc = ?4) AND (?5 = '' OR phone = ?5)"
                                " AND (?6 = 0 OR (consent_mask & ?6) != 0)"
                                " ORDER BY member_id LIMIT ?7"),
                   after, JsonArray(f.tier_ids), JsonArray(f.segments), absl::AsciiStrToLower(f.email), f.phone,
                   f.consent_channel > 0 && f.consent_channel < 63 ? int64_t{1} << f.consent_channel : int64_t{0},
                   limit),
        MemberFromRow);
  }

  absl::StatusOr<std::vector<std::string>> MembersDueForReview(absl::Time now, int limit) override {
    return Ids(txn_.Query(
        "SELECT member_id FROM members WHERE tier_due_at IS NOT NULL AND tier_due_at <= ?1 ORDER BY tier_due_at "
        "LIMIT ?2",
        Micros(now), limit));
  }

  absl::StatusOr<std::vector<std::string>> MembersDueForBirthday(absl::Time now, int limit) override {
    return Ids(
        txn_.Query("SELECT member_id FROM members WHERE next_birthday_at IS NOT NULL AND next_birthday_at <= ?1 "
                   "ORDER BY next_birthday_at LIMIT ?2",
                   Micros(now), limit));
  }

  absl::StatusOr<std::vector<std::string>> MembersDueForAnniversary(absl::Time now, int limit) override {
    return Ids(
        txn_.Query("SELECT member_id FROM members WHERE next_anniversary_at IS NOT NULL AND next_anniversary_at <= ?1 "
                   "ORDER BY next_anniversary_at LIMIT ?2",
                   Micros(now), limit));
  }

  absl::StatusOr<std::vector<std::string>> MemberTimeZones() override {
    // A skip scan of members_zone: one index probe per distinct zone, not
    // one row per member.
    return Ids(txn_.Query(
        "WITH RECURSIVE zones(tz) AS (SELECT MIN(time_zone) FROM members UNION ALL "
        "SELECT (SELECT MIN(time_zone) FROM members WHERE time_zone > zones.tz) FROM zones WHERE zones.tz IS NOT NULL) "
        "SELECT tz FROM zones WHERE tz IS NOT NULL"));
  }

  absl::StatusOr<std::vector<std::string>> MemberIdsInZone(const std::string& time_zone, const std::string& after,
                                                           int limit) override {
    return Ids(
        txn_.Query("SELECT member_id FROM members WHERE time_zone = ?1 AND member_id > ?2 ORDER BY member_id LIMIT ?3",
                   time_zone, after, limit));
  }

  absl::StatusOr<bool> InsertOccasionGrant(const std::string& occasion_id, int occurrence, const std::string& member_id,
                                           absl::Time at) override {
    auto added = txn_.Exec(
        "INSERT INTO occasion_grants (occasion_id, occurrence, member_id, grant_time) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT DO NOTHING",
        occasion_id, occurrence, member_id, Micros(at));
    if (!added.ok()) return added.status();
    return *added == 1;
  }

  absl::StatusOr<std::vector<std::string>> MembersDueForCadence(absl::Time now, int limit) override {
    return Ids(txn_.Query("SELECT member_id FROM cadence_due WHERE due_at <= ?1 ORDER BY due_at LIMIT ?2", Micros(now),
                          limit));
  }

  absl::Status SetCadenceDue(const std::string& member_id, std::optional<absl::Time> due) override {
    if (!due) return Run(txn_.Query("DELETE FROM cadence_due WHERE member_id = ?1", member_id));
    return Run(
        txn_.Query("INSERT INTO cadence_due (member_id, due_at) VALUES (?1, ?2) "
                   "ON CONFLICT (member_id) DO UPDATE SET due_at = excluded.due_at",
                   member_id, Micros(*due)));
  }

  absl::Status PullCadenceDue(const std::string& member_id, absl::Time at) override {
    return Run(txn_.Query(
        "INSERT INTO cadence_due (member_id, due_at) VALUES (?1, ?2) "
        "ON CONFLICT (member_id) DO UPDATE SET due_at = excluded.due_at WHERE cadence_due.due_at > excluded.due_at",
        member_id, Micros(at)));
  }

  absl::StatusOr<std::optional<absl::Time>> LastPurchaseTime(const std::string& member_id) override {
    // purchases_member_time answers from the index's last entry.
    auto stmt = txn_.Query("SELECT MAX(purchase_at) FROM purchases WHERE member_id = ?1", member_id);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::nullopt;
    return OptTime(*stmt, 0);
  }

  absl::StatusOr<std::map<std::string, CadenceContact>> CadenceContacts(const std::string& member_id) override {
    auto stmt = txn_.Query("SELECT rule_id, contacts, last_contact_at FROM cadence_contacts WHERE member_id = ?1",
                           member_id);
    if (!stmt.ok()) return stmt.status();
    std::map<std::string, CadenceContact> out;
    for (;;) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) return out;
      out[stmt->Text(0)] = CadenceContact{static_cast<int>(stmt->Int(1)), TimeAt(stmt->Int(2))};
    }
  }

  absl::StatusOr<bool> RecordCadenceContact(const std::string& member_id, const std::string& rule_id, absl::Time at,
                                            std::optional<absl::Time> repeat_if_last_by) override {
    // The key and the condition are the guarantee: a second writer of the
    // same check-in inserts nothing and updates nothing.
    auto added = repeat_if_last_by
                     ? txn_.Exec(
                           "INSERT INTO cadence_contacts (member_id, rule_id, contacts, last_contact_at) "
                           "VALUES (?1, ?2, 1, ?3) ON CONFLICT (member_id, rule_id) DO UPDATE SET "
                           "contacts = cadence_contacts.contacts + 1, last_contact_at = excluded.last_contact_at "
                           "WHERE cadence_contacts.last_contact_at <= ?4",
                           member_id, rule_id, Micros(at), Micros(*repeat_if_last_by))
                     : txn_.Exec(
                           "INSERT INTO cadence_contacts (member_id, rule_id, contacts, last_contact_at) "
                           "VALUES (?1, ?2, 1, ?3) ON CONFLICT DO NOTHING",
                           member_id, rule_id, Micros(at));
    if (!added.ok()) return added.status();
    return *added == 1;
  }

  absl::StatusOr<std::vector<std::string>> MemberIds(const std::string& after, int limit) override {
    return Ids(txn_.Query("SELECT member_id FROM members WHERE member_id > ?1 ORDER BY member_id LIMIT ?2", after,
                          limit));
  }

  absl::StatusOr<std::optional<Purchase>> GetPurchase(const std::string& order_id) override {
    auto stmt = txn_.Query(
        "SELECT order_id, member_id, amount, purchase_at, returned, earn_seq, points_earned, rounding, "
        "points_reversed FROM purchases WHERE order_id = ?1",
        order_id);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::nullopt;
    Purchase p;
    p.order_id = stmt->Text(0);
    p.member_id = stmt->Text(1);
    p.amount = stmt->Int(2);
    p.purchase_time = TimeAt(stmt->Int(3));
    p.returned_amount = stmt->Int(4);
    p.earn_sequence = stmt->Int(5);
    p.points_earned = stmt->Int(6);
    p.rounding = static_cast<Rounding>(stmt->Int(7));
    p.points_reversed = stmt->Int(8);
    return p;
  }

  absl::Status InsertPurchase(const Purchase& p) override {
    return Run(txn_.Query(
        "INSERT INTO purchases (order_id, member_id, amount, purchase_at, returned, earn_seq, points_earned, "
        "rounding, points_reversed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        p.order_id, p.member_id, p.amount, Micros(p.purchase_time), p.returned_amount, p.earn_sequence, p.points_earned,
        static_cast<int>(p.rounding), p.points_reversed));
  }

  absl::Status SavePurchase(const Purchase& p) override {
    return Run(txn_.Query("UPDATE purchases SET returned = ?2, points_reversed = ?3 WHERE order_id = ?1", p.order_id,
                          p.returned_amount, p.points_reversed));
  }

  absl::StatusOr<int64_t> Spend(const std::string& member_id, absl::Time start, absl::Time end) override {
    auto stmt = txn_.Query(
        "SELECT COALESCE(SUM(amount - returned), 0) FROM purchases WHERE member_id = ?1 AND purchase_at > ?2 "
        "AND purchase_at <= ?3",
        member_id, Micros(start), Micros(end));
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    return stmt->Int(0);
  }

  absl::StatusOr<bool> AddVisitDay(const std::string& member_id, int64_t day) override {
    auto changed = txn_.Exec("INSERT INTO visits (member_id, day) VALUES (?1, ?2) ON CONFLICT DO NOTHING", member_id,
                             day);
    if (!changed.ok()) return changed.status();
    return *changed == 1;
  }

  absl::Status AppendEntry(const LedgerEntry& e) override {
    // The currency is carried by the program; entries keep amounts in it.
    // e.sequence comes from members.ledger_seq. Claiming it on the member
    // row before the insert makes two writers of one member conflict on that
    // row: on PostgreSQL the loser is re-run (a serialization failure) rather
    // than failing on the ledger key, and sequences follow commit order, so
    // paging by seq skips no entry.
    absl::Status claimed = Run(txn_.Query("UPDATE members SET ledger_seq = ?2 WHERE member_id = ?1", e.member_id,
                                          e.sequence));
    if (!claimed.ok()) return claimed;
    return Run(txn_.Query(
        "INSERT INTO ledger (member_id, seq, kind, delta, balance_after, create_time, order_id, body) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        e.member_id, e.sequence, static_cast<int>(e.kind), e.points_delta, e.balance_after, Micros(e.create_time),
        e.order_id.empty() ? std::optional<std::string>() : std::optional<std::string>(e.order_id),
        Blob{EntryToProto(e, "").SerializeAsString()}));
  }

  absl::StatusOr<std::vector<LedgerEntry>> ListEntries(const EntryFilter& f, int64_t before, int limit) override {
    if (before <= 0) before = std::numeric_limits<int64_t>::max();
    std::vector<std::string> kinds;
    for (EntryKind k : f.kinds) kinds.push_back(absl::StrCat(static_cast<int>(k)));
    return CollectParsed<LedgerEntry>(
        txn_.Query("SELECT body FROM ledger WHERE member_id = ?1 AND seq < ?2"
                   " AND (json_array_length(?3) = 0 OR kind IN (SELECT CAST(value AS BIGINT) FROM json_each(?3)))"
                   " AND (?4 = '' OR order_id = ?4) AND create_time >= ?5 AND create_time < ?6"
                   " ORDER BY seq DESC LIMIT ?7",
                   f.member_id, before, JsonArray(kinds), f.order_id,
                   Micros(f.start_time.value_or(absl::InfinitePast())),
                   Micros(f.end_time.value_or(absl::InfiniteFuture())), limit),
        ParseEntry);
  }

  absl::StatusOr<std::map<EntryKind, int64_t>> SumByKind(const std::string& member_id) override {
    auto rows = Collect<std::pair<EntryKind, int64_t>>(
        txn_.Query("SELECT kind, SUM(delta) FROM ledger WHERE member_id = ?1 GROUP BY kind", member_id),
        [](const Statement& s) { return std::make_pair(static_cast<EntryKind>(s.Int(0)), s.Int(1)); });
    if (!rows.ok()) return rows.status();
    return std::map<EntryKind, int64_t>(rows->begin(), rows->end());
  }

  absl::Status AddLot(const std::string& member_id, const Lot& lot) override {
    return Run(txn_.Query("INSERT INTO lots (member_id, seq, expire_at, remaining) VALUES (?1, ?2, ?3, ?4)", member_id,
                          lot.sequence, Micros(lot.expire_time), lot.remaining));
  }

  absl::StatusOr<std::vector<Lot>> OpenLots(const std::string& member_id) override {
    return Collect<Lot>(txn_.Query("SELECT seq, expire_at, remaining FROM lots WHERE member_id = ?1 AND remaining > 0 "
                                   "ORDER BY expire_at IS NULL, expire_at, seq",
                                   member_id),
                        [](const Statement& s) {
                          return Lot{s.Int(0), OptTime(s, 1), s.Int(2)};
                        });
  }

  absl::Status SetLotRemaining(const std::string& member_id, int64_t sequence, int64_t remaining) override {
    return Run(txn_.Query("UPDATE lots SET remaining = ?3 WHERE member_id = ?1 AND seq = ?2", member_id, sequence,
                          remaining));
  }

  absl::StatusOr<std::vector<MemberExpiry>> DueExpiries(absl::Time now, int limit) override {
    return Collect<MemberExpiry>(
        txn_.Query("SELECT member_id, expire_at, SUM(remaining) FROM lots WHERE remaining > 0 AND "
                   "expire_at IS NOT NULL AND expire_at <= ?1 GROUP BY expire_at, member_id "
                   "ORDER BY expire_at, member_id LIMIT ?2",
                   Micros(now), limit),
        [](const Statement& s) {
          return MemberExpiry{s.Text(0), TimeAt(s.Int(1)), s.Int(2)};
        });
  }

  absl::StatusOr<std::vector<MemberExpiry>> DueWarnings(absl::Time now, absl::Time until, int limit) override {
    return Collect<MemberExpiry>(
        txn_.Query("SELECT member_id, expire_at, SUM(remaining) FROM lots WHERE remaining > 0 AND warned = 0 AND "
                   "expire_at IS NOT NULL AND expire_at > ?1 AND expire_at <= ?2 GROUP BY expire_at, member_id "
                   "ORDER BY expire_at, member_id LIMIT ?3",
                   Micros(now), Micros(until), limit),
        [](const Statement& s) {
          return MemberExpiry{s.Text(0), TimeAt(s.Int(1)), s.Int(2)};
        });
  }

  absl::StatusOr<bool> MarkWarned(const std::string& member_id, absl::Time expire_time) override {
    absl::Status s = Run(txn_.Query("UPDATE lots SET warned = 1 WHERE member_id = ?1 AND expire_at = ?2 AND warned = 0",
                                    member_id, Micros(expire_time)));
    if (!s.ok()) return s;
    auto added = txn_.Exec("INSERT INTO expiry_warnings (member_id, expire_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                           member_id, Micros(expire_time));
    if (!added.ok()) return added.status();
    return *added == 1;
  }

  absl::StatusOr<std::vector<MemberExpiry>> UpcomingExpiries(const std::string& member_id, int limit) override {
    return Collect<MemberExpiry>(
        txn_.Query("SELECT member_id, expire_at, SUM(remaining) FROM lots WHERE member_id = ?1 AND remaining > 0 "
                   "AND expire_at IS NOT NULL GROUP BY member_id, expire_at ORDER BY expire_at LIMIT ?2",
                   member_id, limit),
        [](const Statement& s) {
          return MemberExpiry{s.Text(0), TimeAt(s.Int(1)), s.Int(2)};
        });
  }

  absl::Status MarkCacheDirty(const std::string& member_id, int64_t version) override {
    return Run(
        txn_.Query("INSERT INTO tier_cache_dirty (member_id, version) VALUES (?1, ?2) "
                   "ON CONFLICT (member_id) DO UPDATE SET version = CASE WHEN excluded.version > "
                   "tier_cache_dirty.version THEN excluded.version ELSE tier_cache_dirty.version END",
                   member_id, version));
  }

  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> DirtyCacheEntries(int limit) override {
    return Collect<std::pair<std::string, int64_t>>(
        txn_.Query("SELECT member_id, version FROM tier_cache_dirty LIMIT ?1", limit),
        [](const Statement& s) { return std::make_pair(s.Text(0), s.Int(1)); });
  }

  absl::Status ClearCacheDirty(const std::string& member_id, int64_t version) override {
    return Run(txn_.Query("DELETE FROM tier_cache_dirty WHERE member_id = ?1 AND version <= ?2", member_id, version));
  }

  absl::StatusOr<bool> SubjectErased(const std::vector<std::string>& keys) override {
    return care::IsErased(txn_, digests_, keys);
  }

  absl::Status EraseMember(const std::string& member_id, const std::string& pseudonym,
                           const std::function<void(LedgerEntry&)>& deidentify,
                           care::common::v1::ErasureReceipt& receipt) override {
    // The ledger keeps every entry (balances and totals must still add up),
    // each rewritten under the pseudonym: its body names the member too.
    auto entries = CollectParsed<LedgerEntry>(
        txn_.Query("SELECT body FROM ledger WHERE member_id = ?1 ORDER BY seq", member_id), ParseEntry);
    if (!entries.ok()) return entries.status();
    for (LedgerEntry& e : *entries) {
      const int64_t seq = e.sequence;
      deidentify(e);
      absl::Status s = Run(txn_.Query("UPDATE ledger SET member_id = ?3, body = ?4 WHERE member_id = ?1 AND seq = ?2",
                                      member_id, seq, pseudonym, Blob{EntryToProto(e, "").SerializeAsString()}));
      if (!s.ok()) return s;
    }
    auto& kept = *receipt.mutable_deidentified();
    kept["ledger_entry"] += static_cast<int64_t>(entries->size());
    auto purchases = txn_.Exec("UPDATE purchases SET member_id = ?2 WHERE member_id = ?1", member_id, pseudonym);
    if (!purchases.ok()) return purchases.status();
    kept["purchase"] += *purchases;
    // What only describes the person goes; the lots go with the profile (the
    // ledger keeps what they were made of).
    static constexpr std::pair<const char*, const char*> kOwned[] = {{"lots", "points_lot"},
                                                                     {"visits", "visit"},
                                                                     {"expiry_warnings", "expiry_warning"},
                                                                     {"tier_cache_dirty", "tier_cache_mark"},
                                                                     {"occasion_grants", "occasion_grant"},
                                                                     {"cadence_due", "cadence_due"},
                                                                     {"cadence_contacts", "cadence_contact"},
                                                                     {"reward_redemptions", "reward_redemption"},
                                                                     {"members", "member"}};
    auto& erased = *receipt.mutable_erased();
    for (const auto& [table, kind] : kOwned) {
      auto n = txn_.Exec(absl::StrCat("DELETE FROM ", table, " WHERE member_id = ?1"), member_id);
      if (!n.ok()) return n.status();
      erased[kind] += *n;
    }
    return absl::OkStatus();
  }

  absl::Status EraseCommonRecords(const std::vector<std::string>& keys, absl::Time now,
                                  care::common::v1::ErasureReceipt& receipt) override {
    return care::EraseCommonRecords(txn_, digests_, keys, now, receipt);
  }

  absl::Status SaveErasure(const v1::Erasure& erasure) override {
    return Run(txn_.Query(
        "INSERT INTO erasures (erasure_id, create_time, body) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (erasure_id) DO UPDATE SET body = excluded.body",
        erasure.erasure_id(), Micros(FromTimestamp(erasure.create_time())), Blob{erasure.SerializeAsString()}));
  }

  absl::StatusOr<std::optional<v1::Erasure>> GetErasure(const std::string& erasure_id) override {
    return FirstRow<v1::Erasure>(txn_.Query("SELECT body FROM erasures WHERE erasure_id = ?1", erasure_id),
                                 [](const Statement& s) { return ParseStored<v1::Erasure>(s, 0, "erasure"); });
  }

  absl::StatusOr<std::optional<OutboxEventState>> OutboxState(const std::string& event_id) override {
    return OutboxEventStateOf(txn_, event_id);
  }

  absl::Status AddRollup(int64_t day, const std::string& tier_id, const RollupCounters& c) override {
    // One statement whatever the counters: zeros add nothing.
    static const std::string sql = [] {
      std::string cols = "day, tier_id, shard";
      std::string values = "?1, ?2, ?3";
      std::string sets;
      int n = 3;
      for (const char* col : kRollupColumns) {
        absl::StrAppend(&cols, ", ", col);
        absl::StrAppend(&values, ", ?", ++n);
        absl::StrAppend(&sets, sets.empty() ? "" : ", ", col, " = analytics_daily.", col, " + excluded.", col);
      }
      return absl::StrCat("INSERT INTO analytics_daily (", cols, ") VALUES (", values,
                          ") ON CONFLICT (day, tier_id, shard) DO UPDATE SET ", sets);
    }();
    // Any shard will do (queries sum them): each thread writes its own, so
    // the transactions of one process never wait on each other's row, and
    // each process starts at a random one so replicas rarely meet
    // (migrations/0004_analytics.sql).
    static std::atomic<int64_t> next_shard{std::random_device{}()};
    thread_local const int64_t shard = next_shard.fetch_add(1) % kRollupShards;
    auto stmt = txn_.Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, day);
    stmt->Bind(2, tier_id);
    stmt->Bind(3, shard);
    int i = 3;
    for (int64_t v : RollupValues(c)) stmt->Bind(++i, v);
    return Run(std::move(stmt));
  }

  absl::StatusOr<std::vector<RollupRow>> Rollups(int64_t first_day, int64_t last_day) override {
    static const std::string sql = [] {
      std::string sums;
      for (const char* col : kRollupColumns) absl::StrAppend(&sums, ", SUM(", col, ")");
      return absl::StrCat("SELECT day, tier_id", sums,
                          " FROM analytics_daily WHERE day >= ?1 AND day <= ?2 "
                          "GROUP BY day, tier_id ORDER BY day, tier_id");
    }();
    return Collect<RollupRow>(txn_.Query(sql, first_day, last_day), [](const Statement& s) {
      RollupRow row{s.Int(0), s.Text(1), {}};
      int i = 2;
      for (int64_t* field : RollupFields(row.counters)) *field = s.Int(i++);
      return row;
    });
  }

  absl::StatusOr<std::vector<RollupRow>> RollupTotalsBefore(int64_t day) override {
    return Collect<RollupRow>(
        txn_.Query("SELECT tier_id, COALESCE(SUM(members_delta), 0), COALESCE(SUM(points_net), 0) FROM "
                   "analytics_daily WHERE day < ?1 GROUP BY tier_id ORDER BY tier_id",
                   day),
        [](const Statement& s) {
          RollupRow row;
          row.tier_id = s.Text(0);
          row.counters.members_delta = s.Int(1);
          row.counters.points_net = s.Int(2);
          return row;
        });
  }

  absl::StatusOr<std::optional<v1::Reward>> GetReward(const std::string& reward_id) override {
    return FirstRow<v1::Reward>(txn_.Query("SELECT body FROM rewards WHERE reward_id = ?1", reward_id),
                                [](const Statement& s) { return ParseStored<v1::Reward>(s, 0, "reward"); });
  }

  absl::StatusOr<bool> InsertReward(const v1::Reward& reward) override {
    auto n = txn_.Exec(
        "INSERT INTO rewards (reward_id, archived, body) VALUES (?1, ?2, ?3) ON CONFLICT (reward_id) DO NOTHING",
        reward.reward_id(), reward.state() == v1::REWARD_STATE_ARCHIVED ? 1 : 0, Blob{reward.SerializeAsString()});
    if (!n.ok()) return n.status();
    return *n == 1;
  }

  absl::Status SaveReward(const v1::Reward& reward) override {
    return Run(txn_.Query("UPDATE rewards SET archived = ?2, body = ?3 WHERE reward_id = ?1", reward.reward_id(),
                          reward.state() == v1::REWARD_STATE_ARCHIVED ? 1 : 0, Blob{reward.SerializeAsString()}));
  }

  absl::StatusOr<std::vector<v1::Reward>> ListRewards(bool archived, const std::string& after, int limit) override {
    return CollectParsed<v1::Reward>(
        txn_.Query("SELECT body FROM rewards WHERE reward_id > ?1 AND (?2 = 1 OR archived = 0) ORDER BY reward_id "
                   "LIMIT ?3",
                   after, archived ? 1 : 0, limit),
        [](const Statement& s) { return ParseStored<v1::Reward>(s, 0, "reward"); });
  }

  absl::Status SaveRedemption(const v1::RewardRedemption& r, int64_t seq) override {
    return Run(
        txn_.Query("INSERT INTO reward_redemptions (redemption_id, member_id, seq, body) VALUES (?1, ?2, ?3, ?4) "
                   "ON CONFLICT (redemption_id) DO UPDATE SET body = excluded.body",
                   r.redemption_id(), r.member_id(), seq, Blob{r.SerializeAsString()}));
  }

  absl::StatusOr<std::optional<v1::RewardRedemption>> GetRedemption(const std::string& redemption_id) override {
    return FirstRow<v1::RewardRedemption>(
        txn_.Query("SELECT body FROM reward_redemptions WHERE redemption_id = ?1", redemption_id),
        [](const Statement& s) { return ParseStored<v1::RewardRedemption>(s, 0, "reward redemption"); });
  }

  absl::StatusOr<std::vector<v1::RewardRedemption>> ListRedemptions(const std::string& member_id, int64_t before,
                                                                    int limit) override {
    if (before <= 0) before = std::numeric_limits<int64_t>::max();
    return CollectParsed<v1::RewardRedemption>(
        txn_.Query("SELECT body FROM reward_redemptions WHERE member_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
                   member_id, before, limit),
        [](const Statement& s) { return ParseStored<v1::RewardRedemption>(s, 0, "reward redemption"); });
  }

  absl::StatusOr<std::optional<std::string>> GetJobState(const std::string& name) override {
    auto stmt = txn_.Query("SELECT value FROM job_state WHERE name = ?1", name);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::nullopt;
    return stmt->Text(0);
  }

  absl::Status SetJobState(const std::string& name, const std::optional<std::string>& value) override {
    if (!value) return Run(txn_.Query("DELETE FROM job_state WHERE name = ?1", name));
    return Run(txn_.Query(
        "INSERT INTO job_state (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        name, *value));
  }

 private:
  const SubjectDigests& digests_;  // tombstones (common/privacy.h)
  // Stored versions were validated when written: only an unreadable blob
  // is an error here.
  static absl::StatusOr<Program> ParseProgram(const Statement& s) {
    v1::Program proto;
    if (absl::Status parsed = ParseBlob(s, 0, proto, "program version"); !parsed.ok()) return parsed;
    FieldErrors ignored;
    return ProgramFromProto(proto, ignored);
  }

  static absl::StatusOr<LedgerEntry> ParseEntry(const Statement& s) {
    v1::LedgerEntry proto;
    if (absl::Status parsed = ParseBlob(s, 0, proto, "ledger entry"); !parsed.ok()) return parsed;
    return EntryFromProto(proto);
  }

  // The body of the version before `next`, marked superseded by it (empty
  // when there is none: the update then changes no row).
  absl::StatusOr<std::string> SupersededBody(const Program& next) {
    auto prev = ProgramVersion(next.version - 1);
    if (!prev.ok()) return prev.status();
    if (!prev->has_value()) return std::string();
    Program p = **prev;
    p.superseded_time = next.effective_time;
    return ProgramToProto(p).SerializeAsString();
  }

  static absl::StatusOr<std::optional<Program>> OneProgram(absl::StatusOr<Statement> stmt) {
    return FirstRow<Program>(std::move(stmt), ParseProgram);
  }

  static absl::StatusOr<std::vector<std::string>> Ids(absl::StatusOr<Statement> stmt) {
    return Collect<std::string>(std::move(stmt), [](const Statement& s) { return s.Text(0); });
  }
};

}  // namespace

std::unique_ptr<LoyaltyStore> NewSqlLoyaltyStore(Database& db, const SubjectDigests& digests) {
  return std::make_unique<SqlStoreOf<StoreTxn, SqlStoreTxn, const SubjectDigests&>>(db, digests);
}

std::unique_ptr<StoreTxn> SqlLoyaltyTxn(Txn& txn, const SubjectDigests& digests) {
  return std::make_unique<SqlStoreTxn>(txn, digests);
}

}  // namespace care::loyalty
