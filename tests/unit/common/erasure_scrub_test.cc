// common/erasure_scrub.h on SQLite: while a reader holds the write-ahead log,
// the scrub after an erasure fails (CHECKPOINT_BUSY) and the erased text stays
// in the WAL; the job's tick retries it after its back-off, and once the
// reader is gone the text is in none of the database's files.
#include "common/erasure_scrub.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/errors.h"
#include "common/sqlite.h"
#include "tests/harness/harness.h"

namespace care {
namespace {

constexpr char kText[] = "Ann Distinctive Okonkwo-Lindqvist";

std::string AllFiles(const std::string& dir) {
  std::string all;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    all += ss.str();
  }
  return all;
}

class ErasureScrubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SqliteOptions options;
    options.busy_timeout_ms = 200;  // the held-up checkpoint gives up quickly
    auto db = SqliteDatabase::Open(dir_.path() + "/svc.db", {}, options);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    ASSERT_TRUE(db_->Write([](Txn& txn) { return txn.ExecScript("CREATE TABLE people (name TEXT NOT NULL)"); }).ok());
  }

  absl::Status Exec(const std::string& sql) {
    return db_->Write([&](Txn& txn) { return txn.ExecScript(sql); });
  }

  ErasureScrub NewScrub() {
    return ErasureScrub(
        [this] {
          ++scrubs_;
          return db_->Scrub();
        },
        [this] { return now_; });
  }

  testing::TempDir dir_;
  std::unique_ptr<SqliteDatabase> db_;
  int scrubs_ = 0;
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
};

TEST_F(ErasureScrubTest, AScrubAReaderHeldUpIsRetriedUntilItSucceeds) {
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(Exec(absl::StrCat("INSERT INTO people VALUES ('", kText, "')")).ok());
  ASSERT_TRUE(Exec("DELETE FROM people").ok());  // the erasure
  ASSERT_NE(AllFiles(dir_.path()).find(kText), std::string::npos) << "the test needs the old text in the WAL";

  ErasureScrub scrub = NewScrub();
  // A reader in the middle of a read transaction holds the WAL: the scrub
  // the erasure asks for cannot truncate it.
  ASSERT_TRUE(db_->Read([&](Txn& txn) -> absl::Status {
                   auto stmt = txn.Query("SELECT COUNT(*) FROM people");
                   if (!stmt.ok()) return stmt.status();
                   if (auto row = stmt->Step(); !row.ok()) return row.status();
                   EXPECT_EQ(ErrorReason(db_->Scrub()), "CHECKPOINT_BUSY");
                   scrub.Request("er-1");
                   return absl::OkStatus();
                 })
                  .ok());
  EXPECT_TRUE(scrub.pending());
  const int tried = scrubs_;
  EXPECT_NE(AllFiles(dir_.path()).find(kText), std::string::npos);

  // Before its back-off has passed, a tick does not try again.
  now_ += ErasureScrub::kFirstBackoff - absl::Milliseconds(1);
  scrub.Tick();
  EXPECT_EQ(scrubs_, tried);
  EXPECT_TRUE(scrub.pending());

  // After it, the tick scrubs: the reader is gone, so it succeeds, and
  // nothing is owed any more.
  now_ += absl::Milliseconds(1);
  scrub.Tick();
  EXPECT_EQ(scrubs_, tried + 1);
  EXPECT_FALSE(scrub.pending());
  EXPECT_EQ(AllFiles(dir_.path()).find(kText), std::string::npos) << "the erased text is still in the files";
  scrub.Tick();
  EXPECT_EQ(scrubs_, tried + 1) << "a scrub that succeeded is not repeated";
}

TEST_F(ErasureScrubTest, EachFailureDoublesTheWaitUpToTheBound) {
  int calls = 0;
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  ErasureScrub scrub(
      [&calls] {
        ++calls;
        return Unavailable("CHECKPOINT_BUSY", "a reader");
      },
      [&now] { return now; });
  scrub.Request("er-2");
  ASSERT_EQ(calls, 1);
  absl::Duration wait = ErasureScrub::kFirstBackoff;
  for (int i = 0; i < 12; ++i) {
    now += wait - absl::Milliseconds(1);
    scrub.Tick();
    EXPECT_EQ(calls, i + 1) << "tried before its back-off of " << wait;
    now += absl::Milliseconds(1);
    scrub.Tick();
    EXPECT_EQ(calls, i + 2);
    wait = std::min(wait * 2, ErasureScrub::kMaxBackoff);
  }
  EXPECT_EQ(wait, ErasureScrub::kMaxBackoff);
  EXPECT_TRUE(scrub.pending());
  // A new erasure tries at once and starts the back-off again.
  scrub.Request("er-3");
  EXPECT_EQ(calls, 14);
}

TEST(ErasureScrubWithoutFilesTest, NothingToScrubIsNoOp) {
  ErasureScrub scrub(nullptr);
  scrub.Request("er-4");
  EXPECT_FALSE(scrub.pending());
  EXPECT_FALSE(scrub.Tick());
}

}  // namespace
}  // namespace care
