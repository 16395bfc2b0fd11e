// common/lease.h on the engine the test runs on (SQLite; pg.* on the run's
// PostgreSQL cluster): one holder at a time under any interleaving, expiry
// and release hand a lease over, and jobs gated by leases run on one
// replica at a time and move when it stops.
#include "common/lease.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/postgres.h"
#include "common/sqlite.h"
#include "tests/harness/harness.h"

namespace care {
namespace {

using ::care::testing::CreateTestDatabase;
using ::care::testing::DropTestDatabase;
using ::care::testing::PostgresCluster;
using ::care::testing::ReadFile;
using ::care::testing::TestPostgres;

class LeaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = TestPostgres();
    if (!cluster_) {
      auto db = SqliteDatabase::Open(absl::StrCat(dir_.path(), "/lease.db"), CommonMigrations());
      ASSERT_TRUE(db.ok()) << db.status();
      db_ = *std::move(db);
      return;
    }
    auto url = CreateTestDatabase(*cluster_);
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
    PostgresOptions o;
    o.url = url_;
    o.password = std::string(absl::StripAsciiWhitespace(ReadFile(cluster_->password_file)));
    o.pool_size = 8;
    auto db = PostgresDatabase::Open(o, CommonPostgresMigrations());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
  }
  void TearDown() override {
    db_.reset();
    if (cluster_ && !url_.empty()) DropTestDatabase(*cluster_, url_);
  }

  // Whether `holder` holds `name` after trying to take it at `now`.
  bool Acquire(const std::string& name, const std::string& holder, absl::Time now, absl::Duration ttl) {
    bool held = false;
    absl::Status s = db_->Write([&](Txn& txn) -> absl::Status {
      auto r = AcquireLease(txn, name, holder, now, ttl);
      if (!r.ok()) return r.status();
      held = *r;
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return held;
  }

  testing::TempDir dir_;
  std::optional<PostgresCluster> cluster_;
  std::string url_;
  std::unique_ptr<Database> db_;
};

TEST_F(LeaseTest, OneHolderUntilExpiryOrRelease) {
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  const absl::Duration ttl = absl::Seconds(10);
  EXPECT_TRUE(Acquire("job:a", "r1", t0, ttl));
  EXPECT_FALSE(Acquire("job:a", "r2", t0 + absl::Seconds(9), ttl)) << "taken while unexpired";
  EXPECT_TRUE(Acquire("job:b", "r2", t0, ttl)) << "leases are per name";
  EXPECT_TRUE(Acquire("job:a", "r1", t0 + absl::Seconds(9), ttl)) << "the holder renews";
  EXPECT_FALSE(Acquire("job:a", "r2", t0 + absl::Seconds(18), ttl)) << "the renewal counts from its own time";
  EXPECT_TRUE(Acquire("job:a", "r2", t0 + absl::Seconds(19), ttl)) << "expired: another takes it";
  EXPECT_FALSE(Acquire("job:a", "r1", t0 + absl::Seconds(20), ttl)) << "the old holder lost it";

  ASSERT_TRUE(db_->Write([](Txn& txn) { return ReleaseLease(txn, "job:a", "r1"); }).ok());
  EXPECT_FALSE(Acquire("job:a", "r3", t0 + absl::Seconds(20), ttl)) << "only the holder can release";
  ASSERT_TRUE(db_->Write([](Txn& txn) { return ReleaseLease(txn, "job:a", "r2"); }).ok());
  EXPECT_TRUE(Acquire("job:a", "r3", t0 + absl::Seconds(20), ttl)) << "released: free at once";
}

// Racing replicas: whatever the interleaving, each round has one winner.
TEST_F(LeaseTest, ConcurrentClaimsHaveOneWinner) {
  constexpr int kHolders = 8;
  constexpr int kRounds = 20;
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  for (int round = 0; round < kRounds; ++round) {
    // Each round starts after the last round's lease expired.
    absl::Time now = t0 + absl::Seconds(10 * round);
    std::atomic<int> winners{0};
    std::vector<std::thread> threads;
    threads.reserve(kHolders);
    for (int h = 0; h < kHolders; ++h) {
      threads.emplace_back([&, h] {
        if (Acquire("job:race", absl::StrCat("r", h), now, absl::Seconds(5))) winners.fetch_add(1);
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(winners.load(), 1) << "round " << round;
  }
}

// Two replicas' job runners on one database: a job runs on one of them at a
// time; when that one stops, the other takes the job over at its next run.
TEST_F(LeaseTest, GatedJobsRunOnOneReplicaAndMoveWhenItStops) {
  std::atomic<int> runs[2] = {0, 0};
  std::atomic<int> everywhere[2] = {0, 0};
  std::unique_ptr<JobRunner> runners[2];
  for (int i = 0; i < 2; ++i) {
    runners[i] = std::make_unique<JobRunner>();
    runners[i]->Add("count", absl::Milliseconds(20), [&runs, i] {
      runs[i].fetch_add(1);
      return false;
    });
    runners[i]->Add(
        "local", absl::Milliseconds(20),
        [&everywhere, i] {
          everywhere[i].fetch_add(1);
          return false;
        },
        JobScope::kEveryReplica);
    LeaseJobs(*runners[i], *db_, absl::StrCat("replica-", i), absl::Seconds(30));
    runners[i]->Start();
  }
  auto wait_for = [](const std::function<bool()>& done) {
    for (absl::Time end = absl::Now() + absl::Seconds(20); absl::Now() < end && !done();)
      absl::SleepFor(absl::Milliseconds(20));
    return done();
  };
  ASSERT_TRUE(wait_for([&] { return runs[0] + runs[1] >= 10 && everywhere[0] > 0 && everywhere[1] > 0; }));
  EXPECT_TRUE(runs[0] == 0 || runs[1] == 0) << "both ran the job: " << runs[0] << " and " << runs[1];
  int holder = runs[0] > 0 ? 0 : 1;
  runners[holder]->Stop();
  int other = 1 - holder;
  // Released at Stop: no wait for the 30 s expiry.
  EXPECT_TRUE(wait_for([&] { return runs[other] >= 3; })) << "the job did not move to the other replica";
  runners[other]->Stop();
}

}  // namespace
}  // namespace care
