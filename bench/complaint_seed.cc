// complaint_seed: fills a complaint database with N tickets through the
// service's own store (the columns metrics read are derived exactly as in
// production), then times the baselines of the metrics benchmark: reading the
// narrow metric rows of every ticket straight from the database, with no
// aggregation and no RPC, through the store (raw_scan_ms) and as one value
// per column (wide_scan_ms, the store's read before it packed the small
// columns). Prints one JSON line. SQLite under --data_dir, or PostgreSQL at
// --database_url (a fresh database; the service's PostgreSQL schema is
// applied as care_complaint would).
//
//   complaint_seed --data_dir=DIR --tickets=1000000
//   complaint_seed --database_url=postgresql://care@127.0.0.1:5432/complaint --database_password_file=F
//   complaint_seed --data_dir=DIR --seed=false   # only the timed scans, again
//
// Tickets are received over 2030 (365 days), on every channel and category,
// five teams, three tiers; 80% answered, 70% resolved, 10% breached, 5%
// reopened, 30% surveyed. Each write marks its day dirty, as the service's
// do; then the service's own complaint.metrics_rollup job rolls every day
// and month up (rollup_s), on a clock set to 2031-01-02 so the year's
// months have ended (--rollup=false leaves the queue for care_complaint).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/bench_database.h"
#include "common/config.h"
#include "common/privacy.h"
#include "common/proto_time.h"
#include "services/complaint/complaint_service.h"
#include "services/complaint/sql_complaint_store.h"

namespace {

namespace v1 = care::complaint::v1;

v1::Complaint Ticket(int64_t i, std::mt19937_64& rng, absl::Time year_start) {
  std::uniform_int_distribution<int> percent(0, 99);
  v1::Complaint c;
  c.set_complaint_id(absl::StrCat("seed-", i));
  c.set_member_id(absl::StrCat("member-", i % 50000));
  c.set_channel(static_cast<v1::Channel>(1 + i % 6));
  c.set_category(static_cast<v1::Category>(1 + (i / 6) % 7));
  c.set_team_id(absl::StrCat("team-", i % 5));
  c.mutable_tier()->set_tier_id(i % 3 == 0 ? "gold" : i % 3 == 1 ? "silver" : "bronze");
  absl::Time received = year_start + absl::Seconds(std::uniform_int_distribution<int64_t>(0, 365LL * 86400 - 1)(rng));
  *c.mutable_receive_time() = care::ToTimestamp(received);
  *c.mutable_create_time() = care::ToTimestamp(received);
  c.set_status(v1::COMPLAINT_STATUS_IN_PROGRESS);
  auto met = [&](v1::SlaClock* clock, int64_t seconds) {
    *clock->mutable_elapsed() = care::ToDurationProto(absl::Seconds(seconds));
    *clock->mutable_met_time() = care::ToTimestamp(received + absl::Seconds(seconds));
  };
  if (percent(rng) < 80) met(c.mutable_first_response_sla(), std::uniform_int_distribution<int64_t>(60, 8 * 3600)(rng));
  if (percent(rng) < 70) {
    met(c.mutable_resolution_sla(), std::uniform_int_distribution<int64_t>(3600, 5 * 86400)(rng));
    c.set_status(v1::COMPLAINT_STATUS_RESOLVED);
  }
  if (percent(rng) < 10) c.mutable_first_response_sla()->set_breached(true);
  if (percent(rng) < 5) c.set_reopen_count(1);
  if (percent(rng) < 30) {
    c.mutable_survey()->set_status(v1::SURVEY_STATUS_ANSWERED);
    c.mutable_survey()->set_score(std::uniform_int_distribution<int>(1, 5)(rng));
  }
  return c;
}

double Millis(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The metric rows of every ticket in [from, to) read as the store read them
// before it packed the small columns on PostgreSQL: one value per column.
absl::StatusOr<size_t> WideScan(care::Database& db, absl::Time from, absl::Time to) {
  size_t rows = 0;
  absl::Status s = db.Read([&](care::Txn& txn) -> absl::Status {
    auto got = care::Collect<care::complaint::MetricRow>(
        txn.Query(absl::StrCat("SELECT channel, category, team_id, tier_id, first_response_seconds, "
                               "resolution_seconds, first_response_breached, resolution_breached, reopened, "
                               "survey_score, survey_sent FROM complaints",
                               txn.engine() == care::SqlEngine::kSqlite ? " INDEXED BY complaints_metrics" : "",
                               " WHERE receive_time >= ?1 AND receive_time < ?2"),
                  absl::ToUnixMicros(from), absl::ToUnixMicros(to)),
        [](const care::Statement& st) {
          care::complaint::MetricRow r;
          r.channel = static_cast<int>(st.Int(0));
          r.category = static_cast<int>(st.Int(1));
          r.team_id = st.Text(2);
          r.tier_id = st.Text(3);
          if (!st.IsNull(4)) r.first_response_seconds = st.Int(4);
          if (!st.IsNull(5)) r.resolution_seconds = st.Int(5);
          r.resolved = !st.IsNull(5);
          r.first_response_breached = st.Int(6) != 0;
          r.resolution_breached = st.Int(7) != 0;
          r.reopened = st.Int(8) != 0;
          if (!st.IsNull(9)) r.survey_score = static_cast<int>(st.Int(9));
          r.survey_sent = st.Int(10) != 0;
          return r;
        });
    if (!got.ok()) return got.status();
    rows = got->size();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return rows;
}

// The service's rollup job run until no day is dirty (each run a batch of
// days), on a clock after the seeded year so its months have ended; seconds.
double RollUp(care::complaint::ComplaintStore& store) {
  const care::ManualClock after_the_year(absl::FromCivil(absl::CivilDay(2031, 1, 2), absl::UTCTimeZone()));
  care::complaint::ComplaintService service(store, after_the_year, care::complaint::ComplaintOptions{});
  auto r0 = std::chrono::steady_clock::now();
  while (service.RunMetricsRollup()) {
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - r0).count();
}

}  // namespace

int main(int argc, char** argv) {
  care::ConfigReader config(argc, argv, "complaint_seed: fill a complaint database and time the raw metric-row scan");
  care::bench::BenchDatabase target = care::bench::ReadBenchDatabase(config);
  std::string data_dir = config.String("data_dir", "", "directory of complaint.db (created; without database_url)");
  int64_t tickets = config.Int("tickets", 1000000, 1, 100000000, "tickets to store");
  int64_t batch = config.Int("batch", 10000, 1, 1000000, "tickets per transaction");
  int repeats = static_cast<int>(config.Int("repeats", 5, 1, 100, "timed scans; the median is reported"));
  bool seed = config.Bool("seed", true, "fill the database first; false times the scans of what it holds");
  bool rollup = config.Bool("rollup", true, "run the metrics rollup job over what is dirty before the scans");
  if (target.postgres() == !data_dir.empty()) config.AddError("give exactly one of --data_dir and --database_url");
  config.Finish();
  if (!target.postgres()) std::filesystem::create_directories(data_dir);
  auto db = care::bench::OpenBenchDatabase(target, data_dir + "/complaint.db", care::ComplaintSchema());
  if (!db.ok()) {
    std::fprintf(stderr, "open: %s\n", std::string(db.status().message()).c_str());
    return 1;
  }
  // Tombstones are keyed; the bench erases no one, any key will do.
  const care::SubjectDigests digests(std::vector<care::NamedKey>{{"bench", std::string(32, 'b')}});
  auto store = care::complaint::NewSqlComplaintStore(**db, digests);
  const absl::Time year_start = absl::FromCivil(absl::CivilDay(2030, 1, 1), absl::UTCTimeZone());
  std::mt19937_64 rng(42);
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t done = 0; seed && done < tickets; done += batch) {
    // A PostgreSQL write may run again: each run draws from the batch's
    // starting state, and the state moves on only once the batch committed.
    std::mt19937_64 next = rng;
    absl::Status s = store->Write([&](care::complaint::StoreTxn& tx) -> absl::Status {
      next = rng;
      for (int64_t i = done; i < std::min(tickets, done + batch); ++i) {
        if (absl::Status put = tx.PutComplaint(Ticket(i, next, year_start), std::nullopt); !put.ok()) return put;
      }
      return absl::OkStatus();
    });
    rng = next;
    if (!s.ok()) {
      std::fprintf(stderr, "seed: %s\n", std::string(s.message()).c_str());
      return 1;
    }
  }
  double seed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double rollup_s = rollup ? RollUp(*store) : 0;

  // The baselines: the rows the metrics query reads, with nothing done to
  // them: through the store (as the service reads them), and as the eleven
  // narrow columns one value each (how the store read them before it packed
  // the small ones), through the same Database layer. Interleaved, so a drift
  // in the machine's load touches both.
  const absl::Time year_end = year_start + absl::Hours(24 * 365);
  std::vector<double> scans, wide_scans;
  size_t rows = 0, wide_rows = 0;
  for (int r = 0; r < repeats; ++r) {
    auto s0 = std::chrono::steady_clock::now();
    absl::Status s = store->Read([&](care::complaint::StoreTxn& tx) -> absl::Status {
      auto got = tx.MetricRows(year_start, year_end);
      if (!got.ok()) return got.status();
      rows = got->size();
      return absl::OkStatus();
    });
    if (!s.ok()) return 1;
    scans.push_back(Millis(s0));
    s0 = std::chrono::steady_clock::now();
    auto wide = WideScan(**db, year_start, year_end);
    if (!wide.ok()) {
      std::fprintf(stderr, "wide scan: %s\n", std::string(wide.status().message()).c_str());
      return 1;
    }
    wide_rows = *wide;
    wide_scans.push_back(Millis(s0));
  }
  std::printf(
      "{\"engine\":\"%s\",\"tickets\":%lld,\"seed_s\":%.1f,\"rollup_s\":%.1f,\"rows_scanned\":%zu,"
      "\"raw_scan_ms\":%.1f,\"wide_rows\":%zu,\"wide_scan_ms\":%.1f}\n",
      target.postgres() ? "postgres" : "sqlite", static_cast<long long>(tickets), seed_s, rollup_s, rows, Median(scans),
      wide_rows, Median(wide_scans));
  return 0;
}
