// notification_fanout: one promotion alert fanned out to N members' in-app
// inboxes through the real NotificationService on a real store, end
// to end from the due time to the last stored message, with the fan-out and
// dispatch jobs running side by side as in care_notification (dispatch
// looks again every 50 ms while idle). The audience is
// synthetic (streamed in loyalty's batch shape, no loyalty process), so the
// figure is the notification service's own cost.
//
// Store: SQLite under --data_dir, or PostgreSQL at --database_url (a fresh
// database; the service's PostgreSQL schema is applied as
// care_notification would).
//
// Baseline, same run, in transactions of the same batch size. PostgreSQL:
// a raw COPY of the same rows, i.e. the rows the fan-out stored in its six
// tables, COPYed back into clones of those tables (same indexes, constraints
// and defaults: tables same_*) on one libpq connection; beside it, for older
// figures, three COPYs of synthetic rows (one member, one delivery and one
// inbox row per member, blobs of the service's sizes; tables raw_*). SQLite:
// the three tables' synthetic rows through the same Database class.
// Memory: peak RSS of the process (VmHWM), to compare between audience sizes.
//
// --channel=webhook: the same alert as signed HTTP POSTs to a loopback sink
// (bench/http_sink.h) through the service's WEBHOOK channel, end to end to
// the last SENT delivery. Baseline, same run: the channel's transport alone
// (the same POSTs, batch size and concurrency, no store, no claims).
//
//   notification_fanout --members=1000000 [--data_dir=DIR] [--batch=500]
//   notification_fanout --members=1000000 --database_url=postgresql://... --database_password_file=F
//   notification_fanout --members=100000 --channel=webhook
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/bench_database.h"
#include "bench/http_sink.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/privacy.h"
#include "common/proto_time.h"
#include "common/sqlite.h"
#include "services/notification/channels.h"
#include "services/notification/event_wire.h"
#include "services/notification/notification_service.h"
#include "services/notification/sql_notification_store.h"

namespace {

namespace v1 = care::notification::v1;
using Clock = std::chrono::steady_clock;

// Members m0000000.. with an IN_APP marketing opt-in, in member-id order.
class SyntheticAudience final : public care::notification::AudienceSource {
 public:
  SyntheticAudience(int64_t members, int channel) : members_(members), channel_(channel) {}
  absl::Status Stream(
      const care::notification::AudienceQuery& query, int batch_size,
      const std::function<absl::Status(std::vector<care::notification::AudienceMember>)>& on_batch) override {
    std::vector<care::notification::AudienceMember> batch;
    for (int64_t i = 0; i < members_; ++i) {
      std::string id = absl::StrFormat("m%07d", i);
      if (id <= query.after_member_id) continue;
      care::notification::AudienceMember m;
      m.member_id = id;
      m.name = absl::StrCat("Member ", i);
      m.locale = "en";
      m.time_zone = "UTC";
      m.phone = absl::StrFormat("+8190%08d", i);
      m.consents.push_back({channel_, true, absl::UnixEpoch()});
      batch.push_back(std::move(m));
      if (static_cast<int>(batch.size()) == batch_size) {
        if (absl::Status s = on_batch(std::move(batch)); !s.ok()) return s;
        batch.clear();
      }
    }
    return batch.empty() ? absl::OkStatus() : on_batch(std::move(batch));
  }

 private:
  int64_t members_;
  int channel_;
};

int64_t PeakRssKb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  }
  return 0;
}

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

// The sink listens on 127.0.0.1 over plain http.
care::notification::EgressOptions LoopbackEgress() {
  care::notification::EgressOptions egress;
  egress.policy = *care::EgressPolicy::Parse("127.0.0.1/32");
  return egress;
}

// The webhook baseline: the channel's transport alone, the same POSTs in
// batches of the same size.
double RawPosts(const v1::WebhookEndpoint& endpoint, int64_t members, int batch) {
  auto channel = care::notification::MakeWebhookChannel(endpoint, LoopbackEgress());
  auto t0 = Clock::now();
  for (int64_t done = 0; done < members; done += batch) {
    std::vector<care::notification::OutgoingMessage> messages;
    for (int64_t i = done; i < std::min(members, done + batch); ++i) {
      care::notification::OutgoingMessage& m = messages.emplace_back();
      m.channel = care::common::v1::MESSAGE_CHANNEL_WEBHOOK;
      m.member_id = absl::StrFormat("m%07d", i);
      m.delivery_id = "raw-" + m.member_id;
      m.message_key = "promotion-alert/bench";
      m.kind = "MESSAGE_KIND_PROMOTION_ALERT";
      m.category = "MESSAGE_CATEGORY_MARKETING";
      m.locale = "en";
      m.subject = "Spring sale starts soon";
      m.body = "Spring sale: 15% off everything, from 18 Jan 2031 12:00 to 25 Jan 2031 12:00.";
      m.phone = absl::StrFormat("+8190%08d", i);
      m.attempt = 1;
    }
    for (const auto& r : channel->SendAll(messages)) {
      if (r.outcome != care::notification::SendResult::Outcome::kSent) return -1;
    }
  }
  return Seconds(t0);
}

// The baseline: the same number of rows, as plain inserts.
double RawInsert(const std::string& path, int64_t members, int batch) {
  auto db = care::SqliteDatabase::Open(path,
                                       {{"bench", 1, "raw",
                                         "CREATE TABLE members (id TEXT PRIMARY KEY, proto BLOB);"
                                         "CREATE TABLE deliveries (id TEXT PRIMARY KEY, member TEXT, proto BLOB);"
                                         "CREATE TABLE inbox (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, member TEXT, "
                                         "proto BLOB);"
                                         "CREATE INDEX inbox_member ON inbox (member, seq);"}});
  if (!db.ok()) return -1;
  const std::string member_blob(60, 'm'), delivery_blob(220, 'd'), inbox_blob(260, 'i');
  auto t0 = Clock::now();
  for (int64_t done = 0; done < members; done += batch) {
    absl::Status s = (*db)->Write([&](care::Txn& txn) -> absl::Status {
      for (int64_t i = done; i < std::min(members, done + batch); ++i) {
        std::string id = absl::StrFormat("m%07d", i);
        for (const auto& r :
             {txn.Exec("INSERT INTO members VALUES (?1, ?2)", id, care::Blob{member_blob}),
              txn.Exec("INSERT INTO deliveries VALUES (?1, ?2, ?3)", "d" + id, id, care::Blob{delivery_blob}),
              txn.Exec("INSERT INTO inbox (id, member, proto) VALUES (?1, ?2, ?3)", "i" + id, id,
                       care::Blob{inbox_blob})}) {
          if (!r.ok()) return r.status();
        }
      }
      return absl::OkStatus();
    });
    if (!s.ok()) return -1;
  }
  return Seconds(t0);
}

// Sends `data` (COPY text format) into `copy_sql` (COPY ... FROM STDIN).
absl::Status CopyIn(PGconn* c, const std::string& copy_sql, const std::string& data) {
  PGresult* r = PQexec(c, copy_sql.c_str());
  const bool copying = PQresultStatus(r) == PGRES_COPY_IN;
  PQclear(r);
  if (!copying || PQputCopyData(c, data.data(), static_cast<int>(data.size())) != 1 || PQputCopyEnd(c, nullptr) != 1) {
    return absl::InternalError(absl::StrCat("copy: ", PQerrorMessage(c)));
  }
  absl::Status out = absl::OkStatus();
  while ((r = PQgetResult(c)) != nullptr) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK) out = absl::InternalError(absl::StrCat("copy: ", PQerrorMessage(c)));
    PQclear(r);
  }
  return out;
}

// A bytea value in COPY text format: \\x and hex digits.
std::string CopyBytea(char fill, size_t size) {
  std::string out = "\\\\x";
  for (size_t i = 0; i < size; ++i) absl::StrAppendFormat(&out, "%02x", static_cast<unsigned char>(fill));
  return out;
}

// The PostgreSQL baseline: the same rows as RawInsert, COPYed in one
// transaction per batch.
double RawCopy(const care::bench::BenchDatabase& target, int64_t members, int batch) {
  auto conn = care::bench::ConnectRaw(target);
  if (!conn.ok()) return -1;
  PGconn* c = conn->get();
  if (!care::bench::PgExec(c,
                           "DROP TABLE IF EXISTS raw_members, raw_deliveries, raw_inbox;"
                           "CREATE TABLE raw_members (id TEXT PRIMARY KEY, proto BYTEA);"
                           "CREATE TABLE raw_deliveries (id TEXT PRIMARY KEY, member TEXT, proto BYTEA);"
                           "CREATE TABLE raw_inbox (seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
                           "id TEXT UNIQUE, member TEXT, proto BYTEA);"
                           "CREATE INDEX raw_inbox_member ON raw_inbox (member, seq);")
           .ok()) {
    return -1;
  }
  const std::string member_blob = CopyBytea('m', 60), delivery_blob = CopyBytea('d', 220),
                    inbox_blob = CopyBytea('i', 260);
  auto t0 = Clock::now();
  for (int64_t done = 0; done < members; done += batch) {
    std::string m, d, in;
    for (int64_t i = done; i < std::min(members, done + batch); ++i) {
      std::string id = absl::StrFormat("m%07d", i);
      absl::StrAppend(&m, id, "\t", member_blob, "\n");
      absl::StrAppend(&d, "d", id, "\t", id, "\t", delivery_blob, "\n");
      absl::StrAppend(&in, "i", id, "\t", id, "\t", inbox_blob, "\n");
    }
    absl::Status s = care::bench::PgExec(c, "BEGIN");
    if (s.ok()) s = CopyIn(c, "COPY raw_members FROM STDIN", m);
    if (s.ok()) s = CopyIn(c, "COPY raw_deliveries FROM STDIN", d);
    if (s.ok()) s = CopyIn(c, "COPY raw_inbox (id, member, proto) FROM STDIN", in);
    if (s.ok()) s = care::bench::PgExec(c, "COMMIT");
    if (!s.ok()) {
      std::fprintf(stderr, "raw copy: %s\n", std::string(s.message()).c_str());
      return -1;
    }
  }
  return Seconds(t0);
}

// The tables a fan-out batch fills, and the column that puts a row in a
// batch: a member's rows by member id; the feed by position (one event per
// member, in the order the batches stored them).
struct StoredTable {
  const char* name;
  const char* key;
};
constexpr StoredTable kStoredTables[] = {{"members", "member_id"},         {"consents", "member_id"},
                                         {"consent_history", "member_id"}, {"deliveries", "member_id"},
                                         {"inbox", "member_id"},           {"inbox_events", "seq"}};

// COPY (query) TO STDOUT in binary format, whole, into memory.
absl::StatusOr<std::string> CopyOut(PGconn* c, const std::string& query) {
  const std::string sql = absl::StrCat("COPY (", query, ") TO STDOUT (FORMAT binary)");
  PGresult* r = PQexec(c, sql.c_str());
  const bool copying = PQresultStatus(r) == PGRES_COPY_OUT;
  PQclear(r);
  if (!copying) return absl::InternalError(absl::StrCat("copy out: ", PQerrorMessage(c)));
  std::string out;
  char* buf = nullptr;
  int n = 0;
  while ((n = PQgetCopyData(c, &buf, 0)) > 0) {
    out.append(buf, static_cast<size_t>(n));
    PQfreemem(buf);
  }
  absl::Status status = n == -1 ? absl::OkStatus() : absl::InternalError(absl::StrCat("copy out: ", PQerrorMessage(c)));
  while ((r = PQgetResult(c)) != nullptr) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
      status = absl::InternalError(absl::StrCat("copy out: ", PQerrorMessage(c)));
    PQclear(r);
  }
  if (!status.ok()) return status;
  return out;
}

// The baseline the issue sets for PostgreSQL: a raw COPY of the same rows.
// Each table the fan-out filled is cloned with its indexes, constraints and
// defaults (LIKE ... INCLUDING ALL), and the very rows the service stored go
// into the clones by binary COPY, one transaction per batch of the same size.
// Reading a batch's rows back is not timed.
double RawCopySameRows(const care::bench::BenchDatabase& target, int64_t members, int64_t batch) {
  auto conn = care::bench::ConnectRaw(target);
  if (!conn.ok()) return -1;
  PGconn* c = conn->get();
  std::string ddl;
  for (const StoredTable& t : kStoredTables) {
    absl::StrAppend(&ddl, "DROP TABLE IF EXISTS same_", t.name, "; CREATE TABLE same_", t.name, " (LIKE ", t.name,
                    " INCLUDING ALL);");
  }
  if (!care::bench::PgExec(c, ddl).ok()) return -1;
  double timed = 0;
  int64_t last_seq = 0;
  for (int64_t first = 0; first < members; first += batch) {
    const int64_t last = std::min(members, first + batch) - 1;
    std::vector<std::string> rows;
    for (const StoredTable& t : kStoredTables) {
      const std::string query = std::string(t.key) == "seq"
                                    ? absl::StrCat("SELECT * FROM inbox_events WHERE seq > ", last_seq,
                                                   " ORDER BY seq LIMIT ", last - first + 1)
                                    : absl::StrFormat("SELECT * FROM %s WHERE member_id BETWEEN 'm%07d' AND 'm%07d'",
                                                      t.name, first, last);
      auto data = CopyOut(c, query);
      if (!data.ok()) return -1;
      rows.push_back(std::move(*data));
    }
    PGresult* r = PQexec(c, absl::StrCat("SELECT COALESCE(max(seq), ", last_seq,
                                         ") FROM (SELECT seq FROM inbox_events WHERE seq > ", last_seq,
                                         " ORDER BY seq LIMIT ", last - first + 1, ") AS b")
                                .c_str());
    const bool read = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (read) last_seq = std::stoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (!read) return -1;
    auto t0 = Clock::now();
    absl::Status s = care::bench::PgExec(c, "BEGIN");
    for (size_t i = 0; s.ok() && i < rows.size(); ++i) {
      s = CopyIn(c, absl::StrCat("COPY same_", kStoredTables[i].name, " FROM STDIN (FORMAT binary)"), rows[i]);
    }
    if (s.ok()) s = care::bench::PgExec(c, "COMMIT");
    timed += Seconds(t0);
    if (!s.ok()) {
      std::fprintf(stderr, "raw copy of the same rows: %s\n", std::string(s.message()).c_str());
      return -1;
    }
  }
  // Every stored row was copied, no more: else the figure is not the same rows'.
  for (const StoredTable& t : kStoredTables) {
    PGresult* r = PQexec(
        c,
        absl::StrCat("SELECT (SELECT count(*) FROM ", t.name, ") - (SELECT count(*) FROM same_", t.name, ")").c_str());
    const bool same = PQresultStatus(r) == PGRES_TUPLES_OK && std::string(PQgetvalue(r, 0, 0)) == "0";
    PQclear(r);
    if (!same) {
      std::fprintf(stderr, "raw copy of the same rows: %s differs from its copy\n", t.name);
      return -1;
    }
  }
  return timed;
}

// The service as care_notification runs it, with fan-out and dispatch batches of `batch` and webhooks to
// the loopback sink.
care::notification::NotificationOptions ServiceOptions(int64_t batch) {
  care::notification::NotificationOptions options;
  options.egress = LoopbackEgress().policy;
  options.channels = [](int c, const v1::Settings& settings) -> std::unique_ptr<care::notification::Channel> {
    if (c == care::common::v1::MESSAGE_CHANNEL_WEBHOOK) {
      return care::notification::MakeWebhookChannel(settings.webhook(), LoopbackEgress());
    }
    return nullptr;
  };
  options.fan_out_batch = static_cast<int>(batch);
  options.dispatch_batch = static_cast<int>(batch);
  return options;
}

// Points the WEBHOOK channel at `endpoint`.
absl::Status UseWebhook(care::notification::NotificationService& service, const v1::WebhookEndpoint& endpoint) {
  v1::UpdateSettingsRequest update;
  update.set_request_id("bench-settings");
  *update.mutable_settings()->mutable_webhook() = endpoint;
  update.mutable_update_mask()->add_paths("webhook.url");
  update.mutable_update_mask()->add_paths("webhook.signing_secret");
  const care::Once once{"bench", "notification.UpdateSettings", update.request_id(), care::FingerprintOf(update)};
  return service.UpdateSettings(once, update.settings(), update.update_mask(), "bench").status();
}

// A promotion alert on `channel`, announced at `now` with three days' notice (so due a second later).
v1::IngestEventRequest AlertEvent(absl::Time now, int channel) {
  v1::IngestEventRequest alert;
  alert.set_event_id("bench-alert");
  alert.set_source("bench");
  *alert.mutable_occurred_at() = care::ToTimestamp(now);
  v1::PromotionAlert* a = alert.mutable_promotion_alert();
  a->set_campaign_id("bench");
  a->set_campaign_version(1);
  a->set_title("Spring sale");
  a->set_description("15% off everything");
  a->add_channels(static_cast<care::common::v1::MessageChannel>(channel));
  *a->mutable_starts_at() = care::ToTimestamp(now + absl::Hours(72) + absl::Seconds(1));
  *a->mutable_ends_at() = care::ToTimestamp(now + absl::Hours(24 * 10));
  *a->mutable_notice() = care::ToDurationProto(absl::Hours(72));
  return alert;
}

struct JobTimes {
  double fan_out_done_s = 0;  // the last member stored
  double all_done_s = 0;      // the last delivery made
};

// The two jobs side by side, as in care_notification, until neither has work left.
JobTimes RunJobs(care::notification::NotificationService& service) {
  JobTimes times;
  auto t0 = Clock::now();
  std::atomic<bool> fanning_out{true};
  std::thread fan_out([&] {
    while (service.RunFanOut()) {
    }
    times.fan_out_done_s = Seconds(t0);
    fanning_out = false;
  });
  for (;;) {
    bool more = service.RunDispatch();
    if (!more && !fanning_out) {
      if (!service.RunDispatch()) break;  // nothing stored after the last look
    }
    // Idle: wait like the job runner does (--job_interval=50ms, the tests'
    // setting), not spin: a spinning dispatcher is a transaction per loop
    // that competes with the fan-out for the cores and, on PostgreSQL, the
    // server.
    if (!more) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  fan_out.join();
  times.all_done_s = Seconds(t0);
  return times;
}

int64_t SentCount(care::notification::NotificationService& service) {
  auto stats = service.CampaignStats("bench");
  int64_t sent = 0;
  if (stats.ok()) {
    for (const auto& c : stats->counts()) {
      if (c.status() == v1::DELIVERY_STATUS_SENT) sent += c.count();
    }
  }
  return sent;
}

}  // namespace

int main(int argc, char** argv) {
  care::ConfigReader config(argc, argv, "notification_fanout: one alert to N in-app inboxes, end to end");
  care::bench::BenchDatabase target = care::bench::ReadBenchDatabase(config);
  // Member ids are m0000000..m9999999 (RawCopySameRows batches by their range).
  int64_t members = config.Int("members", 1000000, 1, 9999999, "audience size");
  int64_t batch = config.Int("batch", 500, 1, 10000, "fan-out and dispatch batch (as --fan_out_batch)");
  std::string dir = config.String("data_dir", "", "scratch directory (default: a new one under /tmp)");
  bool baseline = config.Bool("baseline", true, "also time the raw insert baseline");
  std::string channel_name = config.String("channel", "in_app", "in_app or webhook");
  config.Finish();
  const bool webhook = channel_name == "webhook";
  if (!webhook && channel_name != "in_app") {
    std::fprintf(stderr, "--channel: in_app or webhook\n");
    return 2;
  }
  const int channel = webhook ? care::common::v1::MESSAGE_CHANNEL_WEBHOOK : care::common::v1::MESSAGE_CHANNEL_IN_APP;
  care::bench::HttpSink sink;
  if (dir.empty()) dir = absl::StrCat(std::filesystem::temp_directory_path().string(), "/fanout-", getpid());
  std::filesystem::create_directories(dir);

  auto db = care::bench::OpenBenchDatabase(target, dir + "/notification.db", care::NotificationSchema());
  if (!db.ok()) {
    std::fprintf(stderr, "open: %s\n", std::string(db.status().message()).c_str());
    return 1;
  }
  // Tombstones are keyed; the bench erases no one, any key will do.
  const care::SubjectDigests digests(std::vector<care::NamedKey>{{"bench", std::string(32, 'b')}});
  auto store = care::notification::NewSqlNotificationStore(**db, digests);
  // Noon UTC: every member's send window is open, nothing is deferred.
  care::ManualClock clock(absl::FromCivil(absl::CivilSecond(2031, 1, 15, 12, 0, 0), absl::UTCTimeZone()));
  SyntheticAudience audience(members, channel);
  care::notification::NotificationService service(*store, clock, &audience, ServiceOptions(batch));

  v1::WebhookEndpoint endpoint;
  endpoint.set_url(sink.url());
  endpoint.set_signing_secret(std::string(32, 'k'));
  if (webhook) {
    if (absl::Status s = UseWebhook(service, endpoint); !s.ok()) {
      std::fprintf(stderr, "settings: %s\n", std::string(s.message()).c_str());
      return 1;
    }
  }
  v1::IngestEventRequest alert = AlertEvent(clock.Now(), channel);
  const care::Once once{"bench", "notification.IngestEvent", alert.event_id(), care::FingerprintOf(alert)};
  if (auto r = service.Ingest(once, care::notification::EventFromWire(alert)); !r.ok()) {
    std::fprintf(stderr, "ingest: %s\n", std::string(r.status().message()).c_str());
    return 1;
  }
  clock.Advance(absl::Seconds(1));  // the alert is due now

  JobTimes times = RunJobs(service);
  double fan_out_s = times.all_done_s;
  int64_t sent = SentCount(service);
  int64_t peak_kb = PeakRssKb();
  // On PostgreSQL the baseline is the COPY of the same rows; the earlier one
  // (three tables of synthetic rows) is kept beside it to compare with older
  // figures.
  // The three-table COPY first, on the database as the fan-out left it, as
  // the older figures were taken.
  double three_tables_s = baseline && !webhook && target.postgres() ? RawCopy(target, members, static_cast<int>(batch))
                                                                    : 0;
  double raw_s = !baseline           ? 0
                 : webhook           ? RawPosts(endpoint, members, static_cast<int>(batch))
                 : target.postgres() ? RawCopySameRows(target, members, batch)
                                     : RawInsert(dir + "/raw.db", members, static_cast<int>(batch));
  std::printf(
      "{\"engine\":\"%s\",\"channel\":\"%s\",\"members\":%lld,\"sent\":%lld,\"audience_stored_s\":%.1f,\"fan_out_s\":%."
      "1f,\"baseline_s\":"
      "%.1f,\"ratio\":%.2f,\"three_tables_s\":%.1f,\"ratio_three_tables\":%.2f,"
      "\"peak_rss_mb\":%.0f,\"per_s\":%.0f,\"raw_per_s\":%.0f,\"receiver_requests\":%lld}\n",
      target.postgres() ? "postgres" : "sqlite", channel_name.c_str(), static_cast<long long>(members),
      static_cast<long long>(sent), times.fan_out_done_s, fan_out_s, raw_s, raw_s > 0 ? fan_out_s / raw_s : 0.0,
      three_tables_s, three_tables_s > 0 ? fan_out_s / three_tables_s : 0.0, static_cast<double>(peak_kb) / 1024.0,
      static_cast<double>(members) / fan_out_s, raw_s > 0 ? static_cast<double>(members) / raw_s : 0.0,
      static_cast<long long>(sink.requests()));
  std::filesystem::remove_all(dir);
  return sent == members ? 0 : 1;
}
