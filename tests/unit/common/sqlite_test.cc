// common/sqlite.h: migrations, transactions, group commit, reads, reopen.
#include "common/sqlite.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/metrics.h"
#include "tests/harness/harness.h"

namespace care {
namespace {

using ::testing::HasSubstr;

std::vector<Migration> TestMigrations(int upto = 2) {
  std::vector<Migration> all = {
      {"test", 1, "items", "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, n INTEGER);"},
      {"test", 2, "tags",
       "CREATE TABLE tags (item INTEGER NOT NULL, tag TEXT NOT NULL);"
       "CREATE INDEX tags_item ON tags (item);"},
  };
  all.resize(upto);
  std::vector<Migration> out = CommonMigrations();
  out.insert(out.end(), all.begin(), all.end());
  return out;
}

std::unique_ptr<Database> OpenOrDie(const std::string& path, const std::vector<Migration>& migrations,
                                    const SqliteOptions& options = {}) {
  auto db = SqliteDatabase::Open(path, migrations, options);
  EXPECT_TRUE(db.ok()) << db.status();
  return db.ok() ? *std::move(db) : nullptr;
}

int64_t Count(Database& db, const std::string& sql) {
  int64_t n = -1;
  absl::Status s = db.Read([&](Txn& txn) -> absl::Status {
    auto stmt = txn.Query(sql);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (*row) n = stmt->Int(0);
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  return n;
}

absl::Status Insert(Database& db, const std::string& name, int64_t n = 0) {
  return db.Write([&](Txn& txn) { return txn.Exec("INSERT INTO items (name, n) VALUES (?1, ?2)", name, n).status(); });
}

class SqliteTest : public ::testing::Test {
 protected:
  std::string DbPath() const { return dir_.path() + "/test.db"; }
  testing::TempDir dir_;
};

TEST_F(SqliteTest, MigrationsAreAppliedOnceAndRecorded) {
  {
    auto db = OpenOrDie(DbPath(), TestMigrations());
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM schema_migrations WHERE component = 'test'"), 2);
    EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM schema_migrations WHERE component = 'common'"),
              static_cast<int64_t>(CommonMigrations().size()));
    EXPECT_EQ(Count(*db, "SELECT MAX(version) FROM schema_migrations WHERE component = 'test'"), 2);
    EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM items"), 0);
    EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM outbox"), 0);
    ASSERT_TRUE(Insert(*db, "kept").ok());
  }
  // Re-running CREATE TABLE would fail: opening again proves each ran once.
  auto db = OpenOrDie(DbPath(), TestMigrations());
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM schema_migrations WHERE component = 'test'"), 2);
  EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM items"), 1);
}

TEST_F(SqliteTest, NewMigrationsApplyOnUpgrade) {
  { ASSERT_NE(OpenOrDie(DbPath(), TestMigrations(1)), nullptr); }
  auto db = OpenOrDie(DbPath(), TestMigrations(2));
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM schema_migrations WHERE component = 'test'"), 2);
  EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM tags"), 0);
}

TEST_F(SqliteTest, NewerSchemaIsRefused) {
  { ASSERT_NE(OpenOrDie(DbPath(), TestMigrations(2)), nullptr); }
  auto db = SqliteDatabase::Open(DbPath(), TestMigrations(1));
  ASSERT_FALSE(db.ok()) << "an older binary opened a newer schema";
  EXPECT_EQ(db.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(db.status().message()), HasSubstr("test"));
}

TEST_F(SqliteTest, FailedMigrationLeavesNothing) {
  std::vector<Migration> migrations = TestMigrations(2);
  migrations.push_back({"test", 3, "broken", "CREATE TABLE half (x); THIS IS NOT SQL;"});
  auto db = SqliteDatabase::Open(DbPath(), migrations);
  ASSERT_FALSE(db.ok());
  EXPECT_THAT(std::string(db.status().message()), HasSubstr("broken"));
  // The earlier migrations committed; the broken one left no table, no record.
  auto again = OpenOrDie(DbPath(), TestMigrations(2));
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(Count(*again, "SELECT MAX(version) FROM schema_migrations WHERE component = 'test'"), 2);
  EXPECT_EQ(Count(*again, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'half'"), 0);
}

// One writer per file: while one SqliteDatabase holds the file, another open
// of it (a second replica on the same volume) is refused naming the file, and
// the first keeps working; once it is closed the file opens again.
TEST_F(SqliteTest, ASecondOpenOfTheSameFileIsRefusedWhileTheFirstHoldsIt) {
  auto first = OpenOrDie(DbPath(), TestMigrations());
  ASSERT_NE(first, nullptr);
  auto second = SqliteDatabase::Open(DbPath(), TestMigrations());
  ASSERT_FALSE(second.ok()) << "two writers opened " << DbPath();
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr(DbPath() + " is already open in another process"));
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("exactly one replica"));
  ASSERT_TRUE(Insert(*first, "still-writable").ok());
  EXPECT_EQ(Count(*first, "SELECT COUNT(*) FROM items"), 1);

  // Another file in the same folder is not affected.
  ASSERT_NE(OpenOrDie(dir_.path() + "/other.db", TestMigrations()), nullptr);

  first.reset();
  auto reopened = OpenOrDie(DbPath(), TestMigrations());
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(Count(*reopened, "SELECT COUNT(*) FROM items"), 1);
}

// Every byte of the files in `dir` (database, WAL, anything beside them).
std::string FilesIn(const std::string& dir) {
  std::string all;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    all += ss.str();
  }
  return all;
}

// Issue 21: secure_delete zeroes what is deleted from now on, but pages an
// older release freed without it still held the deleted rows (erased people
// among them). Open VACUUMs each file once, records it, and not again.
TEST_F(SqliteTest, PagesFreedBeforeSecureDeleteAreVacuumedOnce) {
  const std::string secret = "Freed-Before-Secure-Delete-Okonkwo";
  // As an older release left its file: rows deleted without secure_delete.
  auto leave_free_pages = [&] {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(DbPath().c_str(), &raw), SQLITE_OK);
    std::string sql = "PRAGMA secure_delete=OFF; BEGIN; CREATE TABLE IF NOT EXISTS old_rows (t TEXT);";
    for (int i = 0; i < 200; ++i) absl::StrAppend(&sql, "INSERT INTO old_rows VALUES ('", secret, "-", i, "');");
    sql += "DELETE FROM old_rows; COMMIT;";
    EXPECT_EQ(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(raw);
    sqlite3_close(raw);
  };
  leave_free_pages();
  ASSERT_NE(FilesIn(dir_.path()).find(secret), std::string::npos) << "the test needs the old bytes in free pages";
  const std::string ran = "SELECT COUNT(*) FROM maintenance_runs WHERE name = 'vacuum_after_secure_delete'";
  {
    auto db = OpenOrDie(DbPath(), TestMigrations());
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(Count(*db, ran), 1);
    EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM pragma_freelist_count() WHERE freelist_count > 0"), 0);
  }
  EXPECT_EQ(FilesIn(dir_.path()).find(secret), std::string::npos) << "the freed pages were not rewritten";

  // Recorded: the next start does not VACUUM again (what is freed now is
  // zeroed by secure_delete; these bytes were freed without it on purpose).
  leave_free_pages();
  {
    auto db = OpenOrDie(DbPath(), TestMigrations());
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(Count(*db, ran), 1);
  }
  EXPECT_NE(FilesIn(dir_.path()).find(secret), std::string::npos) << "VACUUM ran a second time";
}

TEST_F(SqliteTest, WalModeIsOn) {
  auto db = OpenOrDie(DbPath(), TestMigrations());
  ASSERT_NE(db, nullptr);
  std::string mode;
  ASSERT_TRUE(db->Read([&](Txn& txn) -> absl::Status {
                  auto stmt = txn.Query("PRAGMA journal_mode");
                  if (!stmt.ok()) return stmt.status();
                  auto row = stmt->Step();
                  if (!row.ok()) return row.status();
                  mode = stmt->Text(0);
                  return absl::OkStatus();
                }).ok());
  EXPECT_EQ(mode, "wal");
}

TEST_F(SqliteTest, FailingWriteIsRolledBack) {
  auto db = OpenOrDie(DbPath(), TestMigrations());
  ASSERT_NE(db, nullptr);
  absl::Status s = db->Write([](Txn& txn) -> absl::Status {
    auto r = txn.Exec("INSERT INTO items (name, n) VALUES ('ghost', 1)");
    if (!r.ok()) return r.status();
    EXPECT_EQ(*r, 1);
    r = txn.Exec("INSERT INTO tags (item, tag) VALUES (1, 'x')");
    if (!r.ok()) return r.status();
    return absl::FailedPreconditionError("changed my mind");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "changed my mind");
  EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM items"), 0);
  EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM tags"), 0);
  // The writer is still usable afterwards.
  EXPECT_TRUE(Insert(*db, "real").ok());
  EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM items"), 1);
  EXPECT_TRUE(db->Healthy());
}

TEST_F(SqliteTest, ConstraintViolationIsAlreadyExistsAndRollsBack) {
  auto db = OpenOrDie(DbPath(), TestMigrations());
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(Insert(*db, "dup").ok());
  absl::Status s = db->Write([](Txn& txn) -> absl::Status {
    auto r = txn.Exec("INSERT INTO tags (item, tag) VALUES (1, 'before')");
    if (!r.ok()) return r.status();
    return txn.Exec("INSERT INTO items (name) VALUES ('dup')").status();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM tags"), 0);
  EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM items"), 1);
}

// A failing write rolls back only itself, even when it shares a batch (one
// SQLite transaction) with writes that succeed.
TEST_F(SqliteTest, FailingWriteInABatchLeavesTheOthers) {
  auto db = OpenOrDie(DbPath(), TestMigrations());
  ASSERT_NE(db, nullptr);
  absl::Notification entered, release;
  std::thread blocker([&] {
    EXPECT_TRUE(db->Write([&](Txn& txn) {
                    entered.Notify();
                    release.WaitForNotification();
                    return txn.Exec("INSERT INTO items (name) VALUES ('first')").status();
                  }).ok());
  });
  entered.WaitForNotification();
  // These queue up behind the blocked writer and go in one batch.
  std::vector<std::thread> writers;
  writers.reserve(6);
  std::atomic<int> ok{0}, failed{0};
  for (int i = 0; i < 6; ++i) {
    writers.emplace_back([&, i] {
      absl::Status s = db->Write([i](Txn& txn) -> absl::Status {
        auto r = txn.Exec("INSERT INTO items (name, n) VALUES (?1, ?2)", absl::StrCat("w", i), i);
        if (!r.ok()) return r.status();
        if (i % 2 == 1) return absl::AbortedError("odd ones fail");
        return absl::OkStatus();
      });
      (s.ok() ? ok : failed)++;
      if (i % 2 == 1) {
        EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(200));
  release.Notify();
  blocker.join();
  for (auto& t : writers) t.join();
  EXPECT_EQ(ok.load(), 3);
  EXPECT_EQ(failed.load(), 3);
  EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM items"), 4);
  EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM items WHERE n % 2 = 1"), 0);
}

// Writes queued while the writer is busy commit together: none of them is
// visible to readers before the others (one transaction), unlike writes
// committed one by one, where each would see its predecessors committed.
TEST_F(SqliteTest, QueuedWritesCommitTogether) {
  auto db = OpenOrDie(DbPath(), TestMigrations());
  ASSERT_NE(db, nullptr);
  absl::Notification entered, release;
  std::thread blocker([&] {
    EXPECT_TRUE(db->Write([&](Txn& txn) {
                    entered.Notify();
                    release.WaitForNotification();
                    return txn.Exec("INSERT INTO items (name) VALUES ('first')").status();
                  }).ok());
  });
  entered.WaitForNotification();
  constexpr int kQueued = 7;
  std::vector<int64_t> seen(kQueued, -1);
  std::vector<std::thread> writers;
  writers.reserve(kQueued);
  for (int i = 0; i < kQueued; ++i) {
    writers.emplace_back([&, i] {
      EXPECT_TRUE(db->Write([&, i](Txn& txn) -> absl::Status {
                      // What a reader sees committed while this write runs.
                      seen[i] = Count(*db, "SELECT COUNT(*) FROM items");
                      return txn.Exec("INSERT INTO items (name) VALUES (?1)", absl::StrCat("q", i)).status();
                    }).ok());
    });
  }
  absl::SleepFor(absl::Milliseconds(500));  // let every writer queue up
  release.Notify();
  blocker.join();
  for (auto& t : writers) t.join();
  EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM items"), kQueued + 1);
  for (int i = 0; i < kQueued; ++i) EXPECT_EQ(seen[i], 1) << "write " << i << " saw " << seen[i];
}

TEST_F(SqliteTest, GroupCommitUnderConcurrency) {
  auto db = OpenOrDie(DbPath(), TestMigrations());
  ASSERT_NE(db, nullptr);
  constexpr int kThreads = 8;
  constexpr int kWrites = 500;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  absl::Time start = absl::Now();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i) {
        absl::Status s = db->Write([&](Txn& txn) -> absl::Status {
          auto r = txn.Query("INSERT INTO items (name, n) VALUES (?1, ?2) RETURNING id", absl::StrCat(t, "-", i), t);
          if (!r.ok()) return r.status();
          auto row = r->Step();
          if (!row.ok()) return row.status();
          const int64_t id = r->Int(0);
          if (absl::Status done = care::Run(std::move(r)); !done.ok()) return done;
          return txn.Exec("INSERT INTO tags (item, tag) VALUES (?1, 'x')", id).status();
        });
        if (!s.ok()) {
          ADD_FAILURE() << s;
          failures++;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  absl::Duration elapsed = absl::Now() - start;
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM items"), kThreads * kWrites);
  EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM tags"), kThreads * kWrites);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(Count(*db, absl::StrCat("SELECT COUNT(*) FROM items WHERE n = ", t)), kWrites);
  }
  RecordProperty("group_commit_ms", static_cast<int>(absl::ToInt64Milliseconds(elapsed)));
}

TEST_F(SqliteTest, ReadSeesCommittedDataAtOnce) {
  auto db = OpenOrDie(DbPath(), TestMigrations());
  ASSERT_NE(db, nullptr);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(Insert(*db, absl::StrCat("item", i), i).ok());
    // A write is answered only once committed: the next read sees it.
    EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM items"), i + 1);
  }
  std::string name;
  ASSERT_TRUE(db->Read([&](Txn& txn) -> absl::Status {
                  auto stmt = txn.Query("SELECT name FROM items WHERE n = ?1", 7);
                  if (!stmt.ok()) return stmt.status();
                  auto row = stmt->Step();
                  if (!row.ok()) return row.status();
                  if (*row) name = stmt->Text(0);
                  return absl::OkStatus();
                }).ok());
  EXPECT_EQ(name, "item7");
}

TEST_F(SqliteTest, ReadStatusIsReturned) {
  auto db = OpenOrDie(DbPath(), TestMigrations());
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->Read([](Txn&) { return absl::NotFoundError("nope"); }).code(), absl::StatusCode::kNotFound);
  absl::Status bad = db->Read([](Txn& txn) { return txn.Exec("SELECT * FROM no_such_table").status(); });
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(db->Probe().ok());
}

TEST_F(SqliteTest, ConcurrentReadersAndWriter) {
  auto db = OpenOrDie(DbPath(), TestMigrations(), SqliteOptions{.readers = 2});
  ASSERT_NE(db, nullptr);
  std::atomic<bool> done{false};
  std::atomic<int> bad_reads{0};
  std::vector<std::thread> readers;
  readers.reserve(4);
  for (int r = 0; r < 4; ++r) {  // more threads than reader connections
    readers.emplace_back([&] {
      int64_t last = 0;
      while (!done.load()) {
        int64_t n = Count(*db, "SELECT COUNT(*) FROM items");
        if (n < last) bad_reads++;  // committed data never disappears
        last = n;
      }
    });
  }
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(Insert(*db, absl::StrCat("c", i)).ok());
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad_reads.load(), 0);
  EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM items"), 200);
}

TEST_F(SqliteTest, DataSurvivesReopen) {
  {
    auto db = OpenOrDie(DbPath(), TestMigrations());
    ASSERT_NE(db, nullptr);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(Insert(*db, absl::StrCat("p", i), i).ok());
  }
  auto db = OpenOrDie(DbPath(), TestMigrations());
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM items"), 10);
  EXPECT_EQ(Count(*db, "SELECT SUM(n) FROM items"), 45);
}

TEST_F(SqliteTest, BlobsRoundTrip) {
  auto db = OpenOrDie(DbPath(), TestMigrations());
  ASSERT_NE(db, nullptr);
  std::string bytes("a\0b\xff", 4);
  ASSERT_TRUE(db->Write([&](Txn& txn) {
                  return txn.Exec("INSERT INTO items (name, n) VALUES (?1, ?2)", Blob{bytes}, std::optional<int64_t>())
                      .status();
                }).ok());
  ASSERT_TRUE(db->Read([&](Txn& txn) -> absl::Status {
                  auto stmt = txn.Query("SELECT name, n FROM items");
                  if (!stmt.ok()) return stmt.status();
                  auto row = stmt->Step();
                  if (!row.ok()) return row.status();
                  EXPECT_TRUE(*row);
                  EXPECT_EQ(stmt->Bytes(0), bytes);
                  EXPECT_TRUE(stmt->IsNull(1));
                  return absl::OkStatus();
                }).ok());
}

// Issue 16, defect 5: a connection keeps at most its capacity of prepared
// statements however many distinct texts it is given, and the process gauge
// follows.
TEST_F(SqliteTest, StatementCacheStaysWithinItsCapacity) {
  SqliteOptions options;
  options.readers = 1;
  options.statement_cache_capacity = 8;
  auto db = OpenOrDie(DbPath(), TestMigrations(), options);
  ASSERT_NE(db, nullptr);
  auto& gauge = metrics::SqlStatementsCached().With({});
  const double before = gauge.value();
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE(db->Write([&](Txn& txn) {
                    return txn.Exec(absl::StrCat("INSERT INTO items (name, n) VALUES ('w", i, "', ", i, ")")).status();
                  }).ok());
    ASSERT_EQ(Count(*db, absl::StrCat("SELECT ", i, " + COUNT(*) FROM items")), i + i + 1);
  }
  size_t reader = 0, writer = 0;
  ASSERT_TRUE(db->Read([&](Txn& txn) {
                  reader = txn.cached_statements();
                  return absl::OkStatus();
                }).ok());
  ASSERT_TRUE(db->Write([&](Txn& txn) {
                  writer = txn.cached_statements();
                  return absl::OkStatus();
                }).ok());
  EXPECT_LE(reader, 8u);
  EXPECT_LE(writer, 8u);
  EXPECT_LE(gauge.value() - before, 16);
  db.reset();
  EXPECT_LE(gauge.value(), before);  // closing finalizes them all
}

// A statement still being stepped is never finalized under its handle, even
// when the cache is full of statements prepared after it.
TEST_F(SqliteTest, BorrowedStatementIsNotEvicted) {
  SqliteOptions options;
  options.readers = 1;
  options.statement_cache_capacity = 2;
  auto db = OpenOrDie(DbPath(), TestMigrations(), options);
  ASSERT_NE(db, nullptr);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Insert(*db, absl::StrCat("i", i), i).ok());
  ASSERT_TRUE(db->Read([&](Txn& txn) -> absl::Status {
                  auto outer = txn.Query("SELECT n FROM items ORDER BY n");
                  if (!outer.ok()) return outer.status();
                  int64_t sum = 0;
                  for (int round = 0;; ++round) {
                    auto row = outer->Step();
                    if (!row.ok()) return row.status();
                    if (!*row) break;
                    sum += outer->Int(0);
                    // Three new texts per row: more than the capacity.
                    for (int k = 0; k < 3; ++k) {
                      auto inner = txn.Query(absl::StrCat("SELECT ", round * 10 + k, " + ?1"), int64_t{1});
                      if (!inner.ok()) return inner.status();
                      auto r = inner->Step();
                      if (!r.ok()) return r.status();
                      EXPECT_EQ(inner->Int(0), round * 10 + k + 1);
                    }
                    EXPECT_LE(txn.cached_statements(), 3u);  // the borrowed one may stay over
                  }
                  EXPECT_EQ(sum, 0 + 1 + 2 + 3 + 4);
                  return absl::OkStatus();
                }).ok());
}

// A list is bound as one JSON array: any number of values, one statement
// text, and values with quotes, backslashes and control characters intact.
TEST_F(SqliteTest, JsonArrayBindsAListAsOneValue) {
  auto db = OpenOrDie(DbPath(), TestMigrations());
  ASSERT_NE(db, nullptr);
  const std::vector<std::string> names = {"plain", "quo\"te", "back\\slash", "new\nline", "tab\tx", "\x01"};
  for (size_t i = 0; i < names.size(); ++i) ASSERT_TRUE(Insert(*db, names[i], static_cast<int64_t>(i)).ok());
  ASSERT_TRUE(Insert(*db, "other", 99).ok());
  ASSERT_TRUE(db->Read([&](Txn& txn) -> absl::Status {
                  auto stmt = txn.Query(
                      "SELECT COUNT(*) FROM items WHERE name IN (SELECT value FROM json_each(?1)) "
                      "AND n IN (SELECT value FROM json_each(?2))",
                      JsonArray(names), JsonArray(std::vector<int>{0, 1, 2, 3, 4, 5, 99}));
                  if (!stmt.ok()) return stmt.status();
                  auto row = stmt->Step();
                  if (!row.ok()) return row.status();
                  EXPECT_EQ(stmt->Int(0), static_cast<int64_t>(names.size()));
                  return absl::OkStatus();
                }).ok());
  EXPECT_EQ(JsonArray(std::vector<int>{}), "[]");
  EXPECT_EQ(JsonArray(std::vector<std::string>{}), "[]");
}

// Array parameters are PostgreSQL's: on SQLite the statement fails instead
// of storing something else.
TEST_F(SqliteTest, AnArrayParameterFailsTheStatement) {
  auto db = OpenOrDie(DbPath(), TestMigrations());
  ASSERT_NE(db, nullptr);
  absl::Status s = db->Write([&](Txn& txn) {
    SqlArray names(SqlArray::Type::kText);
    names.Put("a");
    return txn.Exec("INSERT INTO items (name, n) VALUES (?1, 1)", names).status();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM items"), 0);
}

}  // namespace
}  // namespace care
