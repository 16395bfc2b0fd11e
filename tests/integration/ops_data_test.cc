// Operations data of a running care_loyalty, on both engines: the database
// size is exported on the metrics endpoint, readiness goes NOT_SERVING while
// the database refuses writes (and back, losing nothing), and delivered
// outbox events are purged after --outbox_retention on the injectable clock.
//
// Making the database refuse writes without root: on SQLite the process gets
// a file size limit of 0 (prlimit, started with SIGXFSZ ignored so a write
// fails with EFBIG as on a full volume instead of killing it); on PostgreSQL
// the database turns read-only (default_transaction_read_only, sessions cut
// so the service reconnects into it), as after a failover to a standby.
#include <signal.h>
#include <sys/resource.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/harness/postgres_admin.h"
#include "tests/harness/scrape.h"
#include "tests/integration/loyalty_fixture.h"

namespace care::testing {
namespace {

// The sum of the samples of `name` whose labels contain `label` (whatever
// other labels, such as the service's, the exporter adds).
double Metric(const std::map<std::string, double>& samples, const std::string& name, const std::string& label = "") {
  double sum = 0;
  for (const auto& [series, value] : samples) {
    if (series != name && !absl::StartsWith(series, name + "{")) continue;
    if (!label.empty() && series.find(label) == std::string::npos) continue;
    sum += value;
  }
  return sum;
}

class OpsDataTest : public LoyaltyTest {
 protected:
  void SetUp() override {
    // Inherited by the service: past its file size limit a write fails
    // (EFBIG) instead of the process being killed.
    ::signal(SIGXFSZ, SIG_IGN);
    cluster_ = TestPostgres();
    if (cluster_) {
      // A database of the test's own name, to make it read-only.
      auto url = CreateTestDatabase(*cluster_);
      ASSERT_TRUE(url.ok()) << url.status();
      url_ = *url;
    }
    LoyaltyTest::SetUp();
    if (HasFatalFailure()) return;
    Configure();
  }
  void TearDown() override {
    service_.reset();
    if (cluster_ && !url_.empty()) DropTestDatabase(*cluster_, url_);
    ::signal(SIGXFSZ, SIG_DFL);
  }
  std::vector<std::string> ExtraArgs() override {
    std::vector<std::string> args{"--metrics_port=0", "--metrics_port_file=" + dir_.path() + "/metrics_port"};
    if (cluster_) {
      args.push_back("--database_url=" + url_);
      args.push_back("--database_password_file=" + cluster_->password_file);
    }
    return args;
  }

  std::map<std::string, double> Scrape() {
    auto body = HttpGet(std::stoi(ReadFile(dir_.path() + "/metrics_port")), "/metrics");
    EXPECT_TRUE(body.ok()) << body.status();
    return ParseExposition(body.ok() ? *body : "");
  }
  double DatabaseSize() { return Metric(Scrape(), "care_database_size_bytes"); }

  std::string Health() { return service_->HealthStatus(kLoyaltyHealth); }

  // Whether the service's database takes writes.
  void SetWritable(bool writable) {
    if (cluster_) {
      const std::string name = url_.substr(url_.rfind('/') + 1);
      ASSERT_TRUE(PostgresAdminStatement(*cluster_,
                                         absl::StrCat("ALTER DATABASE ", name, writable ? " RESET" : " SET",
                                                      " default_transaction_read_only", writable ? "" : " = on"))
                      .ok());
      // The setting applies to new sessions: cut the service's.
      ASSERT_TRUE(PostgresAdminStatement(*cluster_,
                                         absl::StrCat("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                                      "WHERE datname = '",
                                                      name, "'"))
                      .ok());
      return;
    }
    rlimit limit{writable ? RLIM_INFINITY : 0, RLIM_INFINITY};
    ASSERT_EQ(::prlimit(service_->pid(), RLIMIT_FSIZE, &limit, nullptr), 0) << std::strerror(errno);
  }

  std::optional<PostgresCluster> cluster_;
  std::string url_;
};

TEST_F(OpsDataTest, TheDatabaseSizeIsExportedAndFollowsTheData) {
  // Refreshed by a job that runs at start.
  ASSERT_TRUE(Eventually([&] { return DatabaseSize() > 0; })) << service_->log();
  if (!cluster_) {
    // Pages plus WAL: at least what the database file holds.
    const auto file = static_cast<double>(std::filesystem::file_size(service_->data_dir() + "/loyalty.db"));
    Advance(absl::Minutes(1));  // kicks the jobs
    EXPECT_TRUE(Eventually([&] { return DatabaseSize() >= file; })) << DatabaseSize() << " < " << file;
  }
  const double before = DatabaseSize();
  // 200 members of about 1 kB each (and their idempotency records).
  for (int i = 0; i < 200; ++i) {
    Enrol(absl::StrCat("m", i), [&](lv1::Member* m) {
      m->set_name(std::string(200, 'n'));
      m->set_occupation(std::string(100, 'o'));
    });
  }
  Advance(absl::Minutes(1));
  EXPECT_TRUE(Eventually([&] { return DatabaseSize() >= before + 100 * 1000; }))
      << "before " << before << ", now " << DatabaseSize();
}

TEST_F(OpsDataTest, ReadinessFailsWhileTheDatabaseRefusesWritesAndNothingIsLost) {
  ASSERT_EQ(Health(), "SERVING");
  Enrol("ann");
  Purchase("ann", "o1", 12000);
  const int64_t balance = Balance("ann").balance();
  ASSERT_GT(balance, 0);

  SetWritable(false);
  // The probe runs every 5 s: before the fix readiness read only and stayed
  // SERVING while every write failed.
  EXPECT_TRUE(Eventually([&] { return Health() == "NOT_SERVING"; }, absl::Seconds(20))) << Health();
  // A purchase now is refused, not acknowledged.
  lv1::RecordPurchaseResponse refused;
  grpc::Status s = stub().RecordPurchase(Ctx(svc()).get(), PurchaseRequest("ann", "o2", 5000), &refused);
  EXPECT_FALSE(s.ok());
  // Reads still work.
  EXPECT_EQ(Balance("ann").balance(), balance);

  SetWritable(true);
  EXPECT_TRUE(Eventually([&] { return Health() == "SERVING"; }, absl::Seconds(20))) << Health();
  // The refused purchase, retried with its request id, applies once.
  lv1::RecordPurchaseResponse applied;
  ASSERT_TRUE(Eventually(
      [&] { return stub().RecordPurchase(Ctx(svc()).get(), PurchaseRequest("ann", "o2", 5000), &applied).ok(); },
      absl::Seconds(20)));
  EXPECT_EQ(applied.points_balance(), balance + 50);
  EXPECT_EQ(Balance("ann").balance(), balance + 50);
  ExpectLedgerConsistent("ann");
  EXPECT_GE(Metric(Scrape(), "care_database_write_probe_failures_total"), 1);
}

TEST_F(OpsDataTest, DeliveredOutboxEventsArePurgedAfterTheirRetention) {
  Enrol("bea");
  Purchase("bea", "o1", 150000);  // to silver: a tier change event
  ASSERT_TRUE(Eventually([&] { return !notification_.Events().empty(); })) << service_->log();
  const double purged = Metric(Scrape(), "care_retention_purged_total", "table=\"outbox\"");
  // Kept for the retention (30 days by default)...
  Advance(absl::Hours(24 * 29));
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(Metric(Scrape(), "care_retention_purged_total", "table=\"outbox\""), purged);
  // ... then purged by the job on the service's clock.
  Advance(absl::Hours(24 * 1) + absl::Minutes(1));
  EXPECT_TRUE(Eventually([&] {
    return Metric(Scrape(), "care_retention_purged_total", "table=\"outbox\"") >= purged + 1;
  })) << service_->log();
  // The member's data is not operations data: it stays.
  EXPECT_EQ(GetMember("bea").member_id(), "bea");
}

}  // namespace
}  // namespace care::testing
