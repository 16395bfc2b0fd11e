// common/backup.h and common/database_ops.h on SQLite: a backup is a
// consistent, complete database published under its final name only, the
// newest N are kept; the write probe writes at most once per interval (its
// failure is tested through the binary, tests/integration/ops_data_test.cc);
// the size counts pages and WAL.
#include "common/database_ops.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/backup.h"
#include "common/sqlite.h"
#include "tests/harness/harness.h"

namespace care {
namespace {

std::vector<Migration> Schema() {
  std::vector<Migration> out = CommonMigrations();
  out.push_back({"test", 1, "items", "CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT NOT NULL);"});
  return out;
}

class DatabaseOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = SqliteDatabase::Open(dir_.path() + "/svc.db", Schema());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
  }

  absl::Status Insert(int id, size_t bytes = 100) {
    return db_->Write([&](Txn& txn) {
      return txn.Exec("INSERT INTO items (id, body) VALUES (?1, ?2)", id, std::string(bytes, 'x')).status();
    });
  }

  static int64_t CountIn(const std::string& path) {
    auto db = SqliteDatabase::Open(path, Schema());
    EXPECT_TRUE(db.ok()) << db.status();
    int64_t n = -1;
    EXPECT_TRUE((*db)
                    ->Read([&](Txn& txn) -> absl::Status {
                      auto stmt = txn.Query("SELECT COUNT(*) FROM items");
                      if (!stmt.ok()) return stmt.status();
                      auto row = stmt->Step();
                      if (!row.ok()) return row.status();
                      n = stmt->Int(0);
                      return absl::OkStatus();
                    })
                    .ok());
    return n;
  }

  testing::TempDir dir_;
  std::unique_ptr<SqliteDatabase> db_;
};

TEST_F(DatabaseOpsTest, BackupsAreCompleteNamedByTimeAndOnlyTheNewestAreKept) {
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(Insert(i).ok());
  BackupOptions options;
  options.dir = dir_.path() + "/backups";
  options.keep = 2;
  // A temporary file an interrupted backup left behind goes.
  std::filesystem::create_directories(options.dir);
  const std::string leftover = options.dir + "/.svc-2030-01-01T000000.000000Z.db.tmp";
  { std::ofstream(leftover) << "half a backup"; }

  std::vector<std::string> paths;
  const absl::Time t0 = absl::FromUnixSeconds(1900000000);
  for (int i = 0; i < 3; ++i) {
    auto path = BackupOnce(*db_, "svc", options, t0 + absl::Seconds(i));
    ASSERT_TRUE(path.ok()) << path.status();
    paths.push_back(*path);
    ASSERT_TRUE(Insert(100 + i).ok());
  }
  EXPECT_EQ(std::filesystem::path(paths[0]).filename(), "svc-2030-03-17T174640.000000Z.db");
  EXPECT_FALSE(std::filesystem::exists(leftover));
  EXPECT_FALSE(std::filesystem::exists(paths[0]));  // the oldest of three, with keep = 2
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(options.dir)) ++files;
  EXPECT_EQ(files, 2);
  // Each holds what was committed when it started.
  EXPECT_EQ(CountIn(paths[1]), 51);
  EXPECT_EQ(CountIn(paths[2]), 52);
}

TEST_F(DatabaseOpsTest, ABackupIsASnapshotWhileWritesGoOn) {
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(Insert(i, 500).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> acked{0};
  std::thread writer([&] {
    for (int i = 10000; !stop; ++i) {
      if (Insert(i).ok()) ++acked;
    }
  });
  while (acked < 10) absl::SleepFor(absl::Milliseconds(1));
  const int before = 2000 + acked.load();
  BackupOptions options;
  options.dir = dir_.path() + "/backups";
  auto path = BackupOnce(*db_, "svc", options, absl::Now());
  stop = true;
  writer.join();
  ASSERT_TRUE(path.ok()) << path.status();
  const int64_t n = CountIn(*path);
  EXPECT_GE(n, before);
  EXPECT_LE(n, 2000 + acked.load());
}

TEST_F(DatabaseOpsTest, TheWriteProbeWritesAtMostOncePerInterval) {
  WriteProbe probe(*db_, "replica-a", absl::Milliseconds(300));
  auto written_at = [&] {
    int64_t at = -1;
    EXPECT_TRUE(db_->Read([&](Txn& txn) -> absl::Status {
                     auto stmt = txn.Query("SELECT at FROM write_probe WHERE replica = 'replica-a'");
                     if (!stmt.ok()) return stmt.status();
                     auto row = stmt->Step();
                     if (!row.ok()) return row.status();
                     if (*row) at = stmt->Int(0);
                     return absl::OkStatus();
                   })
                    .ok());
    return at;
  };
  EXPECT_EQ(written_at(), -1);
  EXPECT_TRUE(probe.Ready());
  const int64_t first = written_at();
  EXPECT_GT(first, 0);
  // Polled again within the interval: the last answer, no write.
  EXPECT_TRUE(probe.Ready());
  EXPECT_EQ(written_at(), first);
  absl::SleepFor(absl::Milliseconds(350));
  EXPECT_TRUE(probe.Ready());
  EXPECT_GT(written_at(), first);
}

TEST_F(DatabaseOpsTest, TheSizeCountsPagesAndTheWal) {
  auto empty = db_->SizeBytes();
  ASSERT_TRUE(empty.ok()) << empty.status();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(Insert(i, 1000).ok());
  auto full = db_->SizeBytes();
  ASSERT_TRUE(full.ok());
  EXPECT_GE(*full - *empty, 100 * 1000);
  EXPECT_GE(*full, static_cast<int64_t>(std::filesystem::file_size(dir_.path() + "/svc.db")));
}

}  // namespace
}  // namespace care
