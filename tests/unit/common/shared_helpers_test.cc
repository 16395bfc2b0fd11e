// The small helpers every service uses instead of its own copy: stable
// hashes and ids, timestamp checks, page trimming, corrupt blobs, and one
// idempotent write path keyed by an explicit Once.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "care/common/v1/runtime.pb.h"
#include "common/errors.h"
#include "common/hash.h"
#include "common/idempotency.h"
#include "common/ids.h"
#include "common/pagination.h"
#include "common/proto_time.h"
#include "common/sqlite.h"
#include "common/store.h"
#include "tests/harness/harness.h"

namespace care {
namespace {

using care::common::v1::PingRequest;
using care::common::v1::PingResponse;

// The values ids and stored fingerprints were made with since the first
// release: a change here would re-key stored rows.
TEST(HashTest, StableHash64KeepsItsValues) {
  EXPECT_EQ(StableHash64(""), 1469598103934665603ULL);
  EXPECT_EQ(StableHash64("a"), 4953267810257967366ULL);
  EXPECT_EQ(StableHash64("foobar"), 9870438755804841970ULL);
}

TEST(IdsTest, StableIdsRepeatAndNewIdsDoNot) {
  EXPECT_EQ(StableId("dlv-", "a"), "dlv-44bd8ad473cd9906");
  EXPECT_EQ(StableId("x", "key"), StableId("x", "key"));
  const std::string a = NewId("m-"), b = NewId("m-");
  EXPECT_NE(a, b);
  ASSERT_EQ(a.size(), 18u);
  EXPECT_EQ(a.substr(0, 2), "m-");
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef", 2), std::string::npos);
  EXPECT_EQ(NewId("t", 32).size(), 33u);
}

TEST(TimestampCheckTest, NamesTheFieldOnlyWhenOutOfRange) {
  google::protobuf::Timestamp good = ToTimestamp(absl::FromUnixSeconds(1700000000));
  google::protobuf::Timestamp bad;
  bad.set_seconds(253402300800);  // 10000-01-01
  FieldErrors errors;
  CheckTimestamp(errors, "start_time", good);
  CheckOptionalTimestamp(errors, "end_time", false, bad);
  EXPECT_TRUE(errors.empty());
  CheckOptionalTimestamp(errors, "end_time", true, bad);
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(std::string(errors.ToStatus().message()).find("end_time"), std::string::npos);
}

TEST(TrimPageTest, KeepsThePageSizeAndPointsPastTheLastRowKept) {
  PingRequest request;
  request.set_payload("filter");
  std::vector<int> rows = {9, 8, 7, 6};
  std::string token = TrimPage(rows, 3, request, [](int row) { return row; });
  EXPECT_EQ(rows, (std::vector<int>{9, 8, 7}));
  auto next = ReadPageRequest(request, 3, token);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->cursor, 7);
  // Bound to the filters it was issued for.
  PingRequest other;
  other.set_payload("other");
  EXPECT_EQ(ErrorReason(ReadPageRequest(other, 3, token).status()), "INVALID_PAGE_TOKEN");
  // The last page has no token.
  std::vector<int> last = {2, 1};
  EXPECT_EQ(TrimPage(last, 3, request, [](int row) { return row; }), "");
  EXPECT_EQ(last.size(), 2u);
  auto text = ReadPageCursor(request, 0, EncodePageToken(request, "m-42"));
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(text->cursor, "m-42");
  EXPECT_EQ(text->size, 50);
}

class StoredRowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = SqliteDatabase::Open(dir_.path() + "/rows.db", CommonMigrations());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
  }
  testing::TempDir dir_;
  std::unique_ptr<Database> db_;
};

TEST_F(StoredRowsTest, ACorruptBlobIsDataLossNamingWhatItHeld) {
  PingResponse ok;
  ok.set_payload("fine");
  absl::Status s = db_->Read([&](Txn& txn) -> absl::Status {
    auto stmt = txn.Query("SELECT ?1, ?2", Blob{ok.SerializeAsString()}, Blob{std::string("\xff\xff\xff", 3)});
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    PingResponse good, corrupt;
    if (absl::Status p = ParseBlob(*stmt, 0, good, "answer"); !p.ok()) return p;
    EXPECT_EQ(good.payload(), "fine");
    return ParseBlob(*stmt, 1, corrupt, "campaign");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "stored campaign is unreadable");
}

// A store of nothing but the shared ServiceTxn, as a service's would be.
using PlainStore = SqlStoreOf<ServiceTxn, SqlTxnBase<ServiceTxn>>;

TEST_F(StoredRowsTest, WriteOnceAnswersARetryFromItsOwnerOnlyAndEnqueuesInTheSameTransaction) {
  PlainStore store(*db_);
  PingRequest request;
  request.set_payload("earn 10");
  int runs = 0;
  auto earn = [&](const Once& once) {
    return WriteOnce<PingResponse>(store, once, [&](ServiceTxn& tx, PingResponse& response) -> absl::Status {
      ++runs;
      response.set_payload(absl::StrCat("run ", runs, " for ", once.owner));
      return tx.Enqueue(OutboxEvent{absl::StrCat("ev-", runs), "notification", "/svc/Ingest", "x"});
    });
  };
  const Once alice{"agent:alice", "Earn", "req-1", FingerprintOf(request)};
  auto first = earn(alice);
  ASSERT_TRUE(first.ok()) << first.status();
  auto retry = earn(alice);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->payload(), "run 1 for agent:alice");
  EXPECT_EQ(runs, 1);
  // Another principal's id is its own.
  auto bob = earn(Once{"agent:bob", "Earn", "req-1", FingerprintOf(request)});
  ASSERT_TRUE(bob.ok()) << bob.status();
  EXPECT_EQ(bob->payload(), "run 2 for agent:bob");
  // The same id with another request is refused, and nothing is enqueued.
  PingRequest other;
  other.set_payload("earn 99");
  EXPECT_EQ(ErrorReason(earn(Once{"agent:alice", "Earn", "req-1", FingerprintOf(other)}).status()),
            "REQUEST_ID_REUSED");
  int64_t events = 0;
  ASSERT_TRUE(db_->Read([&](Txn& txn) -> absl::Status {
                   auto n = txn.Query("SELECT COUNT(*) FROM outbox");
                   if (!n.ok()) return n.status();
                   if (auto row = n->Step(); !row.ok()) return row.status();
                   events = n->Int(0);
                   return absl::OkStatus();
                 })
                  .ok());
  EXPECT_EQ(events, 2);
}

}  // namespace
}  // namespace care
