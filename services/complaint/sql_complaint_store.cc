#include "services/complaint/sql_complaint_store.h"

#include <algorithm>
#include <functional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "care/complaint/internal/metric_rollup.pb.h"
#include "common/errors.h"
#include "common/idempotency.h"
#include "common/privacy.h"
#include "common/proto_time.h"
#include "services/complaint/desk_metrics.h"
#include "services/complaint/ticket_texts.h"

namespace care::complaint {
namespace {

// Configuration is one `documents` table of protos by kind and id.
enum class DocKind { kCalendar, kSlaPolicy, kSlaPolicyVersion, kPhrases, kSettings };
// Every version of a policy is kept under "<id>@<version>".
std::string PolicyVersionId(const std::string& id, int64_t version) { return absl::StrCat(id, "@", version); }
constexpr char kSettingsId[] = "current";

const char* KindName(DocKind kind) {
  switch (kind) {
    case DocKind::kCalendar:
      return "calendar";
    case DocKind::kSlaPolicy:
      return "sla_policy";
    case DocKind::kSlaPolicyVersion:
      return "sla_policy_version";
    case DocKind::kPhrases:
      return "phrases";
    case DocKind::kSettings:
      return "settings";
  }
  return "unknown";
}

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }
std::optional<int64_t> OptionalMicros(std::optional<absl::Time> t) {
  if (!t) return std::nullopt;
  return Micros(*t);
}

std::optional<int64_t> MetSeconds(const v1::SlaClock& clock) {
  if (!clock.has_met_time()) return std::nullopt;
  return FromDurationProto(clock.elapsed()) / absl::Seconds(1);
}

// The earliest due time of a running SLA clock: the work-queue order.
std::optional<int64_t> RunningDue(const v1::Complaint& c) {
  std::optional<int64_t> due;
  for (const v1::SlaClock* clock : {&c.first_response_sla(), &c.resolution_sla()}) {
    if (!clock->has_due_time() || clock->has_met_time() || clock->paused()) continue;
    int64_t t = Micros(FromTimestamp(clock->due_time()));
    if (!due || t < *due) due = t;
  }
  return due;
}

// A metric row's small columns in one integer (PostgreSQL): channel and category (enum
// numbers, far below 2^20) in 20 bits each, the four flags, then the survey
// score (1 to 5 as the API takes it; 0 for none) in 7 bits, then the kind.
constexpr char kPackedMetricFlags[] =
    "channel + 1048576 * category + 1099511627776 * (first_response_breached + 2 * resolution_breached + "
    "4 * reopened + 8 * survey_sent + 16 * CASE WHEN survey_score BETWEEN 1 AND 5 THEN survey_score ELSE 0 END) + "
    "140737488355328 * kind";

// Tickets stored before kinds existed (0) are complaints.
int KindOrComplaint(int64_t kind) { return kind == 0 ? v1::TICKET_KIND_COMPLAINT : static_cast<int>(kind); }

MetricRow UnpackMetricFlags(int64_t packed) {
  constexpr int64_t kField = 1 << 20;
  MetricRow r;
  r.channel = static_cast<int>(packed % kField);
  r.category = static_cast<int>(packed / kField % kField);
  constexpr int64_t kFlags = 128;
  const int64_t flags = packed / (kField * kField) % kFlags;
  r.kind = KindOrComplaint(packed / (kField * kField * kFlags));
  r.first_response_breached = (flags & 1) != 0;
  r.resolution_breached = (flags & 2) != 0;
  r.reopened = (flags & 4) != 0;
  r.survey_sent = (flags & 8) != 0;
  if (int score = static_cast<int>(flags / 16); score > 0) r.survey_score = score;
  return r;
}

// Team, tier, the two times, the assignee and the consultation time of a
// metric row, from column `first` on.
void ReadMetricNames(const Statement& s, int first, MetricRow& r) {
  r.team_id = s.Text(first);
  r.tier_id = s.Text(first + 1);
  if (!s.IsNull(first + 2)) r.first_response_seconds = s.Int(first + 2);
  if (!s.IsNull(first + 3)) r.resolution_seconds = s.Int(first + 3);
  // Resolved at least once: the first resolution's time is kept.
  r.resolved = !s.IsNull(first + 3);
  r.agent_id = s.Text(first + 4);
  r.consultation_seconds = s.Int(first + 5);
}

// Sorted, then the first value and the differences: small varints.
void PutValues(std::vector<int64_t> values, google::protobuf::RepeatedField<int64_t>* out) {
  std::sort(values.begin(), values.end());
  out->Reserve(static_cast<int>(values.size()));
  int64_t last = 0;
  for (int64_t v : values) {
    out->Add(v - last);
    last = v;
  }
}

void GetValues(const google::protobuf::RepeatedField<int64_t>& in, std::vector<int64_t>& out) {
  out.reserve(static_cast<size_t>(in.size()));
  int64_t last = 0;
  for (int64_t d : in) out.push_back(last += d);
}

std::string EncodeGroup(const MetricGroup& g) {
  internal::MetricRollup r;
  r.set_channel(g.channel);
  r.set_category(g.category);
  r.set_team_id(g.team_id);
  r.set_tier_id(g.tier_id);
  r.set_agent_id(g.agent_id);
  r.set_kind(g.kind);
  r.set_complaints(g.complaints);
  r.set_resolved(g.resolved);
  r.set_reopened(g.reopened);
  r.set_first_response_met(g.first_response_met);
  r.set_first_response_breached(g.first_response_breached);
  r.set_resolution_met(g.resolution_met);
  r.set_resolution_breached(g.resolution_breached);
  r.set_surveys_sent(g.surveys_sent);
  for (int64_t n : g.score_counts) r.add_score_counts(n);
  PutValues(g.first_response_seconds, r.mutable_first_response_seconds());
  PutValues(g.resolution_seconds, r.mutable_resolution_seconds());
  PutValues(g.consultation_seconds, r.mutable_consultation_seconds());
  return r.SerializeAsString();
}

absl::StatusOr<MetricGroup> DecodeGroup(const Statement& s, int col) {
  internal::MetricRollup r;
  if (absl::Status parsed = ParseBlob(s, col, r, "metric rollup"); !parsed.ok()) return parsed;
  MetricGroup g;
  g.channel = r.channel();
  g.category = r.category();
  g.team_id = r.team_id();
  g.tier_id = r.tier_id();
  g.agent_id = r.agent_id();
  g.kind = r.kind();
  g.complaints = r.complaints();
  g.resolved = r.resolved();
  g.reopened = r.reopened();
  g.first_response_met = r.first_response_met();
  g.first_response_breached = r.first_response_breached();
  g.resolution_met = r.resolution_met();
  g.resolution_breached = r.resolution_breached();
  g.surveys_sent = r.surveys_sent();
  for (int i = 0; i < r.score_counts_size() && i < static_cast<int>(g.score_counts.size()); ++i) {
    g.score_counts[static_cast<size_t>(i)] = r.score_counts(i);
  }
  GetValues(r.first_response_seconds(), g.first_response_seconds);
  GetValues(r.resolution_seconds(), g.resolution_seconds);
  GetValues(r.consultation_seconds(), g.consultation_seconds);
  return g;
}

// The proto of the first row, if any.
template <typename T>
absl::StatusOr<std::optional<T>> OneProto(absl::StatusOr<Statement> stmt, absl::string_view what) {
  return FirstRow<T>(std::move(stmt), [what](const Statement& s) { return ParseStored<T>(s, 0, what); });
}

template <typename T>
absl::StatusOr<std::vector<T>> Protos(absl::StatusOr<Statement> stmt, absl::string_view what) {
  return CollectParsed<T>(std::move(stmt), [what](const Statement& s) { return ParseStored<T>(s, 0, what); });
}

class SqlStoreTxn final : public SqlTxnBase<StoreTxn> {
 public:
  SqlStoreTxn(Txn& txn, const SubjectDigests& digests) : SqlTxnBase(txn), digests_(digests) {}

  absl::StatusOr<std::optional<v1::Complaint>> GetComplaint(const std::string& id) override {
    return OneProto<v1::Complaint>(txn_.Query("SELECT proto FROM complaints WHERE complaint_id = ?1", id), "complaint");
  }

  absl::Status PutComplaint(const v1::Complaint& c, std::optional<absl::Time> sla_check) override {
    std::optional<int64_t> check;
    if (sla_check) check = Micros(*sla_check);
    std::optional<int64_t> score;
    if (c.survey().score() > 0) score = c.survey().score();
    if (absl::Status s = MarkDirty(c); !s.ok()) return s;
    return Run(txn_.Query(
        "INSERT INTO complaints (complaint_id, member_id, order_id, category, channel, status, tier_id, team_id, "
        "create_time, sla_check_time, first_response_seconds, resolution_seconds, first_response_breached, "
        "resolution_breached, reopened, survey_score, proto, assignee_agent_id, priority, receive_time, due_time, "
        "breached, calendar_id, survey_sent, close_time, texts_removed_time, consultation_seconds, contact_id, kind) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, "
        "?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29) "
        "ON CONFLICT (complaint_id) DO UPDATE SET member_id = ?2, order_id = ?3, category = ?4, status = ?6, tier_id = "
        "?7, "
        "team_id = ?8, sla_check_time = ?10, first_response_seconds = ?11, "
        // Metrics count the first resolution: its time stays once reopened.
        "resolution_seconds = CASE WHEN ?15 <> 0 THEN COALESCE(complaints.resolution_seconds, ?12) ELSE ?12 END, "
        // Once breached, the resolution stays breached.
        "first_response_breached = ?13, "
        "resolution_breached = CASE WHEN ?14 <> 0 THEN 1 ELSE complaints.resolution_breached END, reopened = ?15, "
        "survey_score = ?16, proto = ?17, "
        "assignee_agent_id = ?18, priority = ?19, due_time = ?21, breached = ?22, calendar_id = ?23, "
        "survey_sent = ?24, close_time = ?25, texts_removed_time = ?26, consultation_seconds = ?27, contact_id = ?28, "
        "kind = ?29",
        c.complaint_id(), c.member_id(), c.order_id(), static_cast<int64_t>(c.category()),
        static_cast<int64_t>(c.channel()), static_cast<int64_t>(c.status()), c.tier().tier_id(), c.team_id(),
        Micros(FromTimestamp(c.create_time())), check, MetSeconds(c.first_response_sla()),
        MetSeconds(c.resolution_sla()), c.first_response_sla().breached(), c.resolution_sla().breached(),
        c.reopen_count() > 0, score, Blob{c.SerializeAsString()}, c.assignee_agent_id(),
        static_cast<int64_t>(c.priority()), Micros(FromTimestamp(c.receive_time())), RunningDue(c),
        c.first_response_sla().breached() || c.resolution_sla().breached(), c.calendar_id(),
        c.survey().status() != v1::SURVEY_STATUS_UNSPECIFIED, OptionalMicros(ClosedAt(c)),
        OptionalMicros(c.has_texts_removed_time() ? std::optional(FromTimestamp(c.texts_removed_time()))
                                                  : std::nullopt),
        static_cast<int64_t>(c.total_consultation_time().seconds()), c.contact_id(), static_cast<int64_t>(c.kind())));
  }

  absl::StatusOr<std::optional<std::string>> OpenDuplicate(const std::string& member_id, const std::string& order_id,
                                                           int category) override {
    auto stmt = txn_.Query(
        "SELECT complaint_id FROM complaints WHERE member_id = ?1 AND order_id = ?2 AND category = ?3 "
        "AND status NOT IN (?4, ?5) ORDER BY create_time LIMIT 1",
        member_id, order_id, static_cast<int64_t>(category), static_cast<int64_t>(v1::COMPLAINT_STATUS_RESOLVED),
        static_cast<int64_t>(v1::COMPLAINT_STATUS_CLOSED));
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::nullopt;
    return stmt->Text(0);
  }

  absl::StatusOr<std::vector<std::string>> DueForSla(absl::Time now, int limit) override {
    return Collect<std::string>(
        txn_.Query("SELECT complaint_id FROM complaints WHERE sla_check_time <= ?1 ORDER BY sla_check_time LIMIT ?2",
                   Micros(now), static_cast<int64_t>(limit)),
        [](const Statement& s) { return s.Text(0); });
  }

  absl::StatusOr<std::vector<ListedComplaint>> FindComplaints(const ComplaintQuery& q, int limit) override {
    // Every value is bound (an enum list as one JSON array), so the text
    // depends only on which conditions are asked for: a fixed, small set of
    // statements. Only those conditions and their parameters are in the SQL
    // (numbered in order: PostgreSQL cannot type a parameter no condition
    // uses), so the engine can pick an index.
    const char* key = q.order == ComplaintQuery::Order::kDueFirst ? "COALESCE(due_time, 9223372036854775807)"
                                                                  : "receive_time";
    const bool desc = q.order == ComplaintQuery::Order::kNewestFirst;
    FilteredQuery sql(absl::StrCat("SELECT ", key, ", proto FROM complaints WHERE 1 = 1"));
    auto in = [&](const char* column, const std::vector<int>& values) {
      if (!values.empty()) sql.Add(absl::StrCat(" AND ", column, kInIntegerList), JsonArray(values));
    };
    in("status", q.statuses);
    in("channel", q.channels);
    in("category", q.categories);
    in("priority", q.priorities);
    if (!q.member_id.empty()) sql.Add(" AND member_id = ?", q.member_id);
    // "<> ''" lets the planner use the partial index on contact_id.
    if (!q.contact_id.empty()) sql.Add(" AND contact_id <> '' AND contact_id = ?", q.contact_id);
    if (!q.team_id.empty()) sql.Add(" AND team_id = ?", q.team_id);
    if (!q.assignee_agent_id.empty()) {
      sql.Add(" AND assignee_agent_id = ?", q.assignee_agent_id);
    } else if (q.unassigned_only) {
      sql.Add(" AND assignee_agent_id = ''");
    }
    if (!q.order_id.empty()) sql.Add(" AND order_id = ?", q.order_id);
    if (q.breached_only) sql.Add(" AND breached = 1");
    if (q.received_after) sql.Add(" AND receive_time >= ?", Micros(*q.received_after));
    if (q.received_before) sql.Add(" AND receive_time < ?", Micros(*q.received_before));
    if (q.after) {
      sql.Add(absl::StrCat(" AND (", key, ", complaint_id) ", desc ? "<" : ">", " (?, ?)"), q.after->first,
              q.after->second);
    }
    sql.Add(absl::StrCat(" ORDER BY ", key, desc ? " DESC" : "", ", complaint_id", desc ? " DESC" : "", " LIMIT ?"),
            static_cast<int64_t>(limit));
    return CollectParsed<ListedComplaint>(sql.Query(txn_), [](const Statement& s) -> absl::StatusOr<ListedComplaint> {
      auto c = ParseStored<v1::Complaint>(s, 1, "complaint");
      if (!c.ok()) return c.status();
      return ListedComplaint{s.Int(0), *std::move(c)};
    });
  }

  absl::StatusOr<std::vector<std::string>> RunningOnCalendar(const std::string& calendar_id) override {
    return Collect<std::string>(
        txn_.Query("SELECT complaint_id FROM complaints WHERE calendar_id = ?1 AND due_time IS NOT NULL", calendar_id),
        [](const Statement& s) { return s.Text(0); });
  }

  absl::Status AppendEvent(v1::ComplaintEvent& event) override {
    auto stmt = txn_.Query("SELECT COALESCE(MAX(sequence), 0) + 1 FROM complaint_events WHERE complaint_id = ?1",
                           event.complaint_id());
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    event.set_sequence(stmt->Int(0));
    event.set_event_id(absl::StrCat(event.complaint_id(), "/", event.sequence()));
    return Run(txn_.Query("INSERT INTO complaint_events (complaint_id, sequence, proto) VALUES (?1, ?2, ?3)",
                          event.complaint_id(), event.sequence(), Blob{event.SerializeAsString()}));
  }

  absl::StatusOr<std::vector<v1::ComplaintEvent>> Events(const std::string& complaint_id, int64_t after,
                                                         int limit) override {
    return Protos<v1::ComplaintEvent>(
        txn_.Query("SELECT proto FROM complaint_events WHERE complaint_id = ?1 AND sequence > ?2 "
                   "ORDER BY sequence LIMIT ?3",
                   complaint_id, after, static_cast<int64_t>(limit)),
        "complaint event");
  }

  absl::StatusOr<std::optional<v1::BusinessCalendar>> GetCalendar(const std::string& id) override {
    return GetDocument<v1::BusinessCalendar>(DocKind::kCalendar, id);
  }
  absl::Status PutCalendar(const v1::BusinessCalendar& calendar) override {
    return PutDocument(DocKind::kCalendar, calendar.calendar_id(), calendar);
  }
  absl::StatusOr<std::vector<v1::BusinessCalendar>> Calendars() override {
    return Documents<v1::BusinessCalendar>(DocKind::kCalendar);
  }
  absl::Status DeleteCalendar(const std::string& id) override { return DeleteDocument(DocKind::kCalendar, id); }

  absl::StatusOr<std::optional<v1::SlaPolicy>> GetPolicy(const std::string& id) override {
    return GetDocument<v1::SlaPolicy>(DocKind::kSlaPolicy, id);
  }
  absl::StatusOr<std::optional<v1::SlaPolicy>> GetPolicyVersion(const std::string& id, int64_t version) override {
    return GetDocument<v1::SlaPolicy>(DocKind::kSlaPolicyVersion, PolicyVersionId(id, version));
  }
  absl::Status PutPolicy(const v1::SlaPolicy& p) override {
    if (absl::Status s = PutDocument(DocKind::kSlaPolicy, p.sla_policy_id(), p); !s.ok()) return s;
    return PutDocument(DocKind::kSlaPolicyVersion, PolicyVersionId(p.sla_policy_id(), p.version()), p);
  }
  absl::StatusOr<std::vector<v1::SlaPolicy>> Policies() override {
    return Documents<v1::SlaPolicy>(DocKind::kSlaPolicy);
  }
  absl::Status DeletePolicy(const std::string& id) override { return DeleteDocument(DocKind::kSlaPolicy, id); }

  absl::StatusOr<std::optional<v1::ForbiddenPhraseList>> GetPhrases(const std::string& locale) override {
    return GetDocument<v1::ForbiddenPhraseList>(DocKind::kPhrases, locale);
  }
  absl::Status PutPhrases(const v1::ForbiddenPhraseList& list) override {
    return PutDocument(DocKind::kPhrases, list.locale(), list);
  }
  absl::StatusOr<std::vector<v1::ForbiddenPhraseList>> PhraseLists() override {
    return Documents<v1::ForbiddenPhraseList>(DocKind::kPhrases);
  }

  absl::StatusOr<std::optional<v1::ComplaintSettings>> GetSettings() override {
    return GetDocument<v1::ComplaintSettings>(DocKind::kSettings, kSettingsId);
  }
  absl::Status PutSettings(const v1::ComplaintSettings& settings) override {
    return PutDocument(DocKind::kSettings, kSettingsId, settings);
  }

  absl::Status PutScript(const v1::Script& script) override {
    return Run(txn_.Query("INSERT INTO scripts (category, locale, version, proto) VALUES (?1, ?2, ?3, ?4)",
                          static_cast<int64_t>(script.category()), script.locale(), script.version(),
                          Blob{script.SerializeAsString()}));
  }

  absl::StatusOr<std::optional<v1::Script>> GetScript(int category, const std::string& locale,
                                                      int64_t version) override {
    if (version == 0) {
      return OneProto<v1::Script>(
          txn_.Query("SELECT proto FROM scripts WHERE category = ?1 AND locale = ?2 ORDER BY version DESC LIMIT 1",
                     static_cast<int64_t>(category), locale),
          "script");
    }
    return OneProto<v1::Script>(
        txn_.Query("SELECT proto FROM scripts WHERE category = ?1 AND locale = ?2 AND version = ?3",
                   static_cast<int64_t>(category), locale, version),
        "script");
  }

  absl::StatusOr<std::vector<v1::Script>> LatestScripts(int category) override {
    return Protos<v1::Script>(
        txn_.Query("SELECT proto FROM scripts s WHERE (?1 = 0 OR category = ?1) AND version = "
                   "(SELECT MAX(version) FROM scripts t WHERE t.category = s.category AND t.locale = s.locale) "
                   "ORDER BY category, locale",
                   static_cast<int64_t>(category)),
        "script");
  }

  absl::Status PutSurveyToken(const std::string& token, const std::string& complaint_id) override {
    return Run(txn_.Query("INSERT INTO survey_tokens (token, complaint_id) VALUES (?1, ?2)", token, complaint_id));
  }

  absl::StatusOr<std::optional<std::string>> SurveyComplaint(const std::string& token) override {
    auto stmt = txn_.Query("SELECT complaint_id FROM survey_tokens WHERE token = ?1", token);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::nullopt;
    return stmt->Text(0);
  }

  absl::StatusOr<std::vector<MetricRow>> MetricRows(absl::Time from, absl::Time to) override {
    // Served by the covering index complaints_metrics: no table row is read.
    // PostgreSQL has no INDEXED BY: its planner picks the index. There a
    // million rows cost per value sent (the server formats each as text, the
    // client parses it), so the small columns travel packed into one integer;
    // SQLite reads its columns in process, where the packing would only add
    // arithmetic.
    if (txn_.engine() == SqlEngine::kPostgres) {
      return Collect<MetricRow>(
          txn_.Query(absl::StrCat("SELECT ", kPackedMetricFlags,
                                  ", team_id, tier_id, first_response_seconds, resolution_seconds, assignee_agent_id, "
                                  "consultation_seconds FROM complaints "
                                  "WHERE receive_time >= ?1 AND receive_time < ?2"),
                     Micros(from), Micros(to)),
          [](const Statement& s) {
            MetricRow r = UnpackMetricFlags(s.Int(0));
            ReadMetricNames(s, 1, r);
            return r;
          });
    }
    return Collect<MetricRow>(
        txn_.Query("SELECT channel, category, team_id, tier_id, first_response_seconds, resolution_seconds, "
                   "assignee_agent_id, consultation_seconds, first_response_breached, resolution_breached, reopened, "
                   "survey_score, survey_sent, kind "
                   "FROM complaints INDEXED BY complaints_metrics WHERE receive_time >= ?1 AND receive_time < ?2",
                   Micros(from), Micros(to)),
        [](const Statement& s) {
          MetricRow r;
          r.channel = static_cast<int>(s.Int(0));
          r.category = static_cast<int>(s.Int(1));
          ReadMetricNames(s, 2, r);
          r.first_response_breached = s.Int(8) != 0;
          r.resolution_breached = s.Int(9) != 0;
          r.reopened = s.Int(10) != 0;
          if (!s.IsNull(11)) r.survey_score = static_cast<int>(s.Int(11));
          r.survey_sent = s.Int(12) != 0;
          r.kind = KindOrComplaint(s.Int(13));
          return r;
        });
  }

  absl::StatusOr<std::vector<int64_t>> DirtyDays(int64_t from_day, int64_t to_day, int limit) override {
    return Collect<int64_t>(txn_.Query("SELECT DISTINCT day FROM metrics_dirty WHERE day >= ?1 AND day < ?2 "
                                       "ORDER BY day LIMIT ?3",
                                       from_day, to_day, static_cast<int64_t>(limit)),
                            [](const Statement& s) { return s.Int(0); });
  }

  absl::StatusOr<std::vector<std::string>> DayMarkers(int64_t day) override {
    return Collect<std::string>(txn_.Query("SELECT complaint_id FROM metrics_dirty WHERE day = ?1", day),
                                [](const Statement& s) { return s.Text(0); });
  }

  absl::Status DeleteMarkers(int64_t day, const std::vector<std::string>& complaint_ids) override {
    return Run(
        txn_.Query("DELETE FROM metrics_dirty WHERE day = ?1 AND complaint_id IN (SELECT value FROM json_each(?2))",
                   day, JsonArray(complaint_ids)));
  }

  absl::Status PutDayRollups(int64_t day, int64_t month, const std::vector<MetricGroup>& groups) override {
    if (absl::Status s = Run(txn_.Query("DELETE FROM metrics_rollup_days WHERE day = ?1", day)); !s.ok()) return s;
    if (absl::Status s = Run(txn_.Query("DELETE FROM metrics_rollup_months_done WHERE month = ?1", month)); !s.ok())
      return s;
    return InsertGroups("metrics_rollup_days", "day", day, groups);
  }

  absl::StatusOr<std::vector<std::pair<int64_t, MetricGroup>>> DayRollups(int64_t from_day, int64_t to_day) override {
    return CollectParsed<std::pair<int64_t, MetricGroup>>(
        txn_.Query("SELECT day, rollup FROM metrics_rollup_days WHERE day >= ?1 AND day < ?2", from_day, to_day),
        [](const Statement& s) -> absl::StatusOr<std::pair<int64_t, MetricGroup>> {
          auto g = DecodeGroup(s, 1);
          if (!g.ok()) return g.status();
          return std::make_pair(s.Int(0), *std::move(g));
        });
  }

  absl::Status PutMonthRollups(int64_t month, const std::vector<MetricGroup>& groups) override {
    if (absl::Status s = Run(txn_.Query("DELETE FROM metrics_rollup_months WHERE month = ?1", month)); !s.ok())
      return s;
    if (absl::Status s = InsertGroups("metrics_rollup_months", "month", month, groups); !s.ok()) return s;
    return Run(txn_.Query("INSERT INTO metrics_rollup_months_done (month) VALUES (?1) ON CONFLICT (month) DO NOTHING",
                          month));
  }

  absl::StatusOr<std::vector<int64_t>> CurrentMonths(int64_t from_day, int64_t to_day) override {
    return Collect<int64_t>(txn_.Query("SELECT month FROM metrics_rollup_months_done WHERE month >= ?1 AND month < ?2 "
                                       "ORDER BY month",
                                       from_day, to_day),
                            [](const Statement& s) { return s.Int(0); });
  }

  absl::StatusOr<std::vector<MetricGroup>> MonthRollups(int64_t month) override {
    return CollectParsed<MetricGroup>(txn_.Query("SELECT rollup FROM metrics_rollup_months WHERE month = ?1", month),
                                      [](const Statement& s) { return DecodeGroup(s, 0); });
  }

  absl::StatusOr<std::optional<v1::Contact>> GetContact(const std::string& id) override {
    return OneProto<v1::Contact>(txn_.Query("SELECT proto FROM contacts WHERE contact_id = ?1", id), "contact");
  }

  absl::Status PutContact(const v1::Contact& ct) override {
    std::optional<std::string> source;
    if (ct.has_prospect()) source = ct.prospect().source();
    return Run(
        txn_.Query("INSERT INTO contacts (contact_id, email, phone, member_id, prospect_source, proto) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (contact_id) DO UPDATE SET email = ?2, phone = ?3, "
                   "member_id = ?4, prospect_source = ?5, proto = ?6",
                   // E-mail addresses are compared without case (as erasure subjects are).
                   ct.contact_id(), absl::AsciiStrToLower(ct.email()), ct.phone(), ct.member_id(), source,
                   Blob{ct.SerializeAsString()}));
  }

  absl::StatusOr<std::vector<v1::Contact>> FindContacts(const ContactQuery& q, int limit) override {
    FilteredQuery sql("SELECT proto FROM contacts WHERE 1 = 1");
    sql.Add(" AND contact_id > ?", q.after);
    if (q.prospects_only) sql.Add(" AND prospect_source IS NOT NULL");
    if (!q.source.empty()) sql.Add(" AND prospect_source = ?", q.source);
    if (!q.email.empty()) sql.Add(" AND email <> '' AND email = ?", absl::AsciiStrToLower(q.email));
    sql.Add(" ORDER BY contact_id LIMIT ?", static_cast<int64_t>(limit));
    return Protos<v1::Contact>(sql.Query(txn_), "contact");
  }

  absl::StatusOr<std::vector<v1::Contact>> ContactsByAddress(const std::string& email, const std::string& phone,
                                                             bool unlinked_only) override {
    // Each address through its own partial index; "" matches no row.
    return Protos<v1::Contact>(
        txn_.Query(absl::StrCat("SELECT proto FROM contacts WHERE ((email <> '' AND email = ?1) OR (phone <> '' AND "
                                "phone = ?2))",
                                unlinked_only ? " AND member_id = ''" : "", " ORDER BY contact_id"),
                   absl::AsciiStrToLower(email), phone),
        "contact");
  }

  absl::StatusOr<std::vector<v1::Contact>> SubjectContacts(const SubjectContactQuery& q, int limit) override {
    // Each of the three through its own partial index; "" matches no row.
    return Protos<v1::Contact>(
        txn_.Query("SELECT proto FROM contacts WHERE ((email <> '' AND email = ?1) OR (phone <> '' AND phone = ?2) OR "
                   "(member_id <> '' AND member_id = ?3)) AND contact_id > ?4 ORDER BY contact_id LIMIT ?5",
                   absl::AsciiStrToLower(q.email), q.phone, q.member_id, q.after, static_cast<int64_t>(limit)),
        "contact");
  }

  absl::Status DeleteContact(const std::string& id) override {
    return Run(txn_.Query("DELETE FROM contacts WHERE contact_id = ?1", id));
  }

  absl::StatusOr<std::vector<v1::Complaint>> ContactComplaints(const std::string& contact_id, const std::string& after,
                                                               int limit) override {
    return Protos<v1::Complaint>(txn_.Query("SELECT proto FROM complaints WHERE contact_id = ?1 AND contact_id <> '' "
                                            "AND complaint_id > ?2 ORDER BY complaint_id LIMIT ?3",
                                            contact_id, after, static_cast<int64_t>(limit)),
                                 "complaint");
  }

  absl::StatusOr<std::vector<v1::Complaint>> MemberComplaints(const std::string& member_id, const std::string& after,
                                                              int limit) override {
    return Protos<v1::Complaint>(txn_.Query("SELECT proto FROM complaints WHERE member_id = ?1 AND complaint_id > ?2 "
                                            "ORDER BY complaint_id LIMIT ?3",
                                            member_id, after, static_cast<int64_t>(limit)),
                                 "complaint");
  }

  absl::Status ReplaceEvent(const v1::ComplaintEvent& event) override {
    return Run(txn_.Query("UPDATE complaint_events SET proto = ?3 WHERE complaint_id = ?1 AND sequence = ?2",
                          event.complaint_id(), event.sequence(), Blob{event.SerializeAsString()}));
  }

  absl::StatusOr<int64_t> DeleteSurveyTokens(const std::string& complaint_id) override {
    return txn_.Exec("DELETE FROM survey_tokens WHERE complaint_id = ?1", complaint_id);
  }

  absl::StatusOr<TaggedDeleted> DeleteTagged(const std::string& key, TaggedEvents events) override {
    return care::DeleteTagged(txn_, key, events);
  }

  absl::StatusOr<std::vector<std::string>> ClosedTextsDue(absl::Time cutoff, int limit) override {
    // The partial index complaints_texts_kept holds only these rows.
    return Collect<std::string>(
        txn_.Query("SELECT complaint_id FROM complaints WHERE close_time <= ?1 AND texts_removed_time IS NULL "
                   "ORDER BY close_time LIMIT ?2",
                   Micros(cutoff), static_cast<int64_t>(limit)),
        [](const Statement& s) { return s.Text(0); });
  }

  absl::Status RedateClose(const std::string& complaint_id, std::optional<absl::Time> closed) override {
    return Run(txn_.Query("UPDATE complaints SET close_time = ?2 WHERE complaint_id = ?1", complaint_id,
                          OptionalMicros(closed)));
  }

  absl::Status RefuseIfErased(const std::vector<std::string>& keys) override {
    return care::RefuseIfErased(txn_, digests_, keys);
  }

  absl::Status EraseCommonRecords(const std::vector<std::string>& keys, absl::Time now,
                                  care::common::v1::ErasureReceipt& receipt) override {
    return care::EraseCommonRecords(txn_, digests_, keys, now, receipt);
  }

 private:
  const SubjectDigests& digests_;  // tombstones (common/privacy.h)

  // The ticket's receive day must be rolled up again. An update of the
  // marker when there is one (not DO NOTHING): on PostgreSQL it then
  // conflicts with a rollup deleting that very marker, so one of the two
  // runs again and the ticket's change is never left unrolled.
  absl::Status MarkDirty(const v1::Complaint& c) {
    return Run(
        txn_.Query("INSERT INTO metrics_dirty (day, complaint_id) VALUES (?1, ?2) "
                   "ON CONFLICT (day, complaint_id) DO UPDATE SET complaint_id = excluded.complaint_id",
                   DayNumber(FromTimestamp(c.receive_time())), c.complaint_id()));
  }

  // Rollup rows of one day or month (`period` in column `column`).
  absl::Status InsertGroups(const char* table, const char* column, int64_t period,
                            const std::vector<MetricGroup>& groups) {
    const std::string sql = absl::StrCat("INSERT INTO ", table, " (", column,
                                         ", channel, category, team_id, tier_id, agent_id, kind, rollup) "
                                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    for (const MetricGroup& g : groups) {
      const std::string blob = EncodeGroup(g);
      if (absl::Status s = Run(txn_.Query(sql, period, static_cast<int64_t>(g.channel),
                                          static_cast<int64_t>(g.category), g.team_id, g.tier_id, g.agent_id,
                                          static_cast<int64_t>(g.kind), Blob{blob}));
          !s.ok())
        return s;
    }
    return absl::OkStatus();
  }
  template <typename T>
  absl::StatusOr<std::optional<T>> GetDocument(DocKind kind, const std::string& id) {
    return OneProto<T>(txn_.Query("SELECT proto FROM documents WHERE kind = ?1 AND id = ?2", KindName(kind), id),
                       KindName(kind));
  }

  absl::Status PutDocument(DocKind kind, const std::string& id, const google::protobuf::Message& doc) {
    return Run(
        txn_.Query("INSERT INTO documents (kind, id, proto) VALUES (?1, ?2, ?3) "
                   "ON CONFLICT (kind, id) DO UPDATE SET proto = excluded.proto",
                   KindName(kind), id, Blob{doc.SerializeAsString()}));
  }

  // Ordered by id.
  template <typename T>
  absl::StatusOr<std::vector<T>> Documents(DocKind kind) {
    return Protos<T>(txn_.Query("SELECT proto FROM documents WHERE kind = ?1 ORDER BY id", KindName(kind)),
                     KindName(kind));
  }

  absl::Status DeleteDocument(DocKind kind, const std::string& id) {
    return Run(txn_.Query("DELETE FROM documents WHERE kind = ?1 AND id = ?2", KindName(kind), id));
  }
};

}  // namespace

std::unique_ptr<ComplaintStore> NewSqlComplaintStore(Database& db, const SubjectDigests& digests) {
  return std::make_unique<SqlStoreOf<StoreTxn, SqlStoreTxn, const SubjectDigests&>>(db, digests);
}

std::unique_ptr<StoreTxn> SqlComplaintTxn(Txn& txn, const SubjectDigests& digests) {
  return std::make_unique<SqlStoreTxn>(txn, digests);
}

}  // namespace care::complaint
