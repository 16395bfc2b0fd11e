// Online backups of the embedded SQLite store, through the real binaries: a
// care_loyalty backing up on a schedule while four clients record purchases;
// the newest backup restored with tools/backup.sh into a fresh data folder
// and started as a new process holds every purchase acknowledged before the
// backup started, and every member's ledger sums to their balance. On
// PostgreSQL --backup_dir is refused, naming pg_dump and PITR.
#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "tests/harness/scrape.h"
#include "tests/integration/loyalty_fixture.h"

namespace care::testing {
namespace {

constexpr int kMembers = 8;
constexpr int kWriters = 4;

// "loyalty-2031-01-15T100000.123456Z.db" -> its start time.
std::optional<absl::Time> BackupStart(const std::string& file) {
  const std::string name = std::filesystem::path(file).filename().string();
  if (!absl::StartsWith(name, "loyalty-") || !absl::EndsWith(name, ".db")) return std::nullopt;
  const std::string stamp = name.substr(8, name.size() - 8 - 3);
  absl::Time t;
  std::string err;
  if (!absl::ParseTime("%Y-%m-%dT%H%M%E*SZ", stamp, absl::UTCTimeZone(), &t, &err)) return std::nullopt;
  return t;
}

std::vector<std::string> Backups(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

class BackupTest : public LoyaltyTest {
 protected:
  void SetUp() override {
    if (TestPostgres()) GTEST_SKIP() << "backups of the embedded SQLite store; PostgreSQL: see RefusedOnPostgres";
    LoyaltyTest::SetUp();
  }
  std::vector<std::string> ExtraArgs() override {
    return {"--backup_dir=" + backups(), "--backup_interval=10s", "--backup_keep=2", "--metrics_port=0",
            "--metrics_port_file=" + dir_.path() + "/metrics_port"};
  }
  std::string backups() const { return dir_.path() + "/backups"; }
  std::unique_ptr<ServiceProcess> original_;

  double LastBackup() {
    auto body = HttpGet(std::stoi(ReadFile(dir_.path() + "/metrics_port")), "/metrics");
    if (!body.ok()) return 0;
    for (const auto& [series, value] : ParseExposition(*body)) {
      if (absl::StartsWith(series, "care_backup_last_success_timestamp_seconds")) return value;
    }
    return 0;
  }
};

TEST_F(BackupTest, ABackupTakenUnderLoadRestoresEveryAcknowledgedWrite) {
  Configure();
  for (int m = 0; m < kMembers; ++m) Enrol(absl::StrCat("m", m));

  // Writers record purchases until stopped; each acknowledged one is kept
  // with the time its answer arrived.
  std::mutex mu;
  std::map<std::string, std::pair<std::string, absl::Time>> acked;  // request id -> member, answered at
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  writers.reserve(kWriters);
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; !stop; ++i) {
        const std::string member = absl::StrCat("m", (w + i) % kMembers);
        const std::string order = absl::StrCat("w", w, "-", i);
        lv1::RecordPurchaseResponse r;
        grpc::Status s = stub().RecordPurchase(Ctx(svc()).get(), PurchaseRequest(member, order, 100 + i % 900), &r);
        const absl::Time answered = absl::Now();
        if (s.ok()) {
          std::lock_guard lock(mu);
          acked["req-" + order] = {member, answered};
        }
      }
    });
  }
  // The first backup comes one interval after start.
  std::string backup;
  for (absl::Time deadline = absl::Now() + absl::Seconds(40); backup.empty() && absl::Now() < deadline;) {
    for (const std::string& f : Backups(backups())) {
      if (BackupStart(f)) backup = f;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  // Load on both sides of it.
  absl::SleepFor(absl::Milliseconds(500));
  stop = true;
  for (auto& t : writers) t.join();
  ASSERT_FALSE(backup.empty()) << absl::StrJoin(Backups(backups()), ", ") << "\n" << service_->log();
  const absl::Time started = *BackupStart(backup);
  EXPECT_GE(LastBackup(), absl::ToDoubleSeconds(started - absl::UnixEpoch()) - 1);
  // Only complete backups are in the folder (no temporary names left).
  for (const std::string& f : Backups(backups())) EXPECT_TRUE(BackupStart(f).has_value()) << f;

  int before = 0, after = 0;
  for (const auto& [id, write] : acked) (write.second < started ? before : after)++;
  ASSERT_GT(before, 0);
  ASSERT_GT(after, 0) << "no write after the backup started: not under load";

  // The machine is lost; the backup is restored into a fresh data folder
  // with the script and a new process started on it.
  service_->Kill();
  auto restored = std::make_unique<ServiceProcess>(
      CARE_LOYALTY_BIN, kLoyaltyHealth,
      std::vector<std::string>{"--fake_clock", "--redis_port=" + std::to_string(redis_.port()),
                               "--notification_target=" + notification_.address(),
                               "--service_token_file=" + dir_.path() + "/loyalty_token", "--log_level=warn"},
      tokens_);
  Exited script = RunToExit({"/bin/bash", CARE_BACKUP_SCRIPT, "restore", backup, restored->data_dir(), "loyalty"});
  ASSERT_EQ(script.code, 0) << script.log;
  ASSERT_TRUE(restored->Start().ok()) << restored->log();
  original_ = std::move(service_);
  service_ = std::move(restored);
  Connect();

  std::map<std::string, std::set<std::string>> present;  // member -> request ids in its ledger
  for (int m = 0; m < kMembers; ++m) {
    const std::string member = absl::StrCat("m", m);
    for (const auto& e : Ledger(member)) present[member].insert(e.request_id());
    ExpectLedgerConsistent(member);
  }
  int missing = 0;
  for (const auto& [id, write] : acked) {
    if (write.second < started && present[write.first].count(id) == 0) ++missing;
  }
  EXPECT_EQ(missing, 0) << "of " << before << " purchases acknowledged before the backup started";
}

TEST(BackupFlagsTest, RefusedOnPostgresAndOutOfBounds) {
  TempDir dir;
  Tokens tokens = WriteTokens(dir.path());
  std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--backup_dir=" + dir.path() + "/b", "--backup_interval=5s"}, "backup_interval must be between 10s and 168h"},
      {{"--backup_dir=" + dir.path() + "/b", "--backup_keep=0"}, "backup_keep"},
  };
  // Whatever this run's backend: the flag names PostgreSQL's own tools.
  cases.push_back({{"--backup_dir=" + dir.path() + "/b", "--database_url=postgresql://care@127.0.0.1:1/x"},
                   "on PostgreSQL back up the server with pg_dump"});
  for (const auto& [flags, message] : cases) {
    Exited run = RunToExit(ServiceArgv(CARE_LOYALTY_BIN, tokens.file, dir.path(), flags));
    EXPECT_EQ(run.code, 2) << flags[1];
    EXPECT_NE(run.log.find(message), std::string::npos) << run.log;
  }
}

}  // namespace
}  // namespace care::testing
