// common/idempotency.h: a retried mutation gets its first answer; a request
// id reused for another request is refused; ids are the caller's own
// fingerprinted with SHA-256 and purged after their retention.
#include "common/idempotency.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/strings/escaping.h"
#include "care/common/v1/runtime.pb.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/outbox.h"
#include "common/retention.h"
#include "common/sqlite.h"
#include "tests/harness/harness.h"

namespace care {
namespace {

using care::common::v1::PingRequest;
using care::common::v1::PingResponse;

class IdempotencyTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    db_.reset();
    auto db = SqliteDatabase::Open(dir_.path() + "/idem.db", CommonMigrations());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
  }

  // What a handler does: replay the first answer, or mutate and remember.
  // Returns the answer and whether it was replayed.
  absl::StatusOr<std::pair<PingResponse, bool>> Handle(const std::string& scope, const std::string& key,
                                                       const PingRequest& request, const std::string& answer,
                                                       const std::string& owner = "agent:alice") {
    PingResponse response;
    bool replayed = false;
    const Once k{owner, scope, key, FingerprintOf(request)};
    absl::Status s = db_->Write([&](Txn& txn) -> absl::Status {
      auto r = Replay(txn, k, &response);
      if (!r.ok()) return r.status();
      replayed = *r;
      if (replayed) return absl::OkStatus();
      response.set_payload(answer);
      ++mutations_;
      return Remember(txn, k, response);
    });
    if (!s.ok()) return s;
    return std::make_pair(response, replayed);
  }

  testing::TempDir dir_;
  std::unique_ptr<Database> db_;
  int mutations_ = 0;
};

PingRequest Req(const std::string& payload) {
  PingRequest r;
  r.set_payload(payload);
  return r;
}

TEST_F(IdempotencyTest, RetryGetsTheFirstAnswer) {
  auto first = Handle("/svc/Earn", "req-1", Req("earn 10"), "first");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->second);
  EXPECT_EQ(first->first.payload(), "first");
  auto retry = Handle("/svc/Earn", "req-1", Req("earn 10"), "second");
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_TRUE(retry->second);
  EXPECT_EQ(retry->first.payload(), "first");
  EXPECT_EQ(mutations_, 1);
}

TEST_F(IdempotencyTest, ReusedKeyWithAnotherRequestIsRefused) {
  ASSERT_TRUE(Handle("/svc/Earn", "req-1", Req("earn 10"), "first").ok());
  auto reused = Handle("/svc/Earn", "req-1", Req("earn 99"), "second");
  ASSERT_FALSE(reused.ok());
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrorReason(reused.status()), "REQUEST_ID_REUSED");
  EXPECT_EQ(mutations_, 1);
}

TEST_F(IdempotencyTest, KeysAreScopedAndIndependent) {
  ASSERT_TRUE(Handle("/svc/Earn", "req-1", Req("x"), "a").ok());
  auto other_scope = Handle("/svc/Burn", "req-1", Req("x"), "b");
  ASSERT_TRUE(other_scope.ok()) << other_scope.status();
  EXPECT_FALSE(other_scope->second);
  EXPECT_EQ(other_scope->first.payload(), "b");
  auto other_key = Handle("/svc/Earn", "req-2", Req("x"), "c");
  ASSERT_TRUE(other_key.ok());
  EXPECT_FALSE(other_key->second);
  EXPECT_EQ(mutations_, 3);
}

TEST_F(IdempotencyTest, FailedMutationIsNotRemembered) {
  absl::Status s = db_->Write([&](Txn& txn) -> absl::Status {
    PingResponse response;
    const Once k{"agent:alice", "/svc/Earn", "req-1", FingerprintOf(Req("x"))};
    auto r = Replay(txn, k, &response);
    if (!r.ok()) return r.status();
    response.set_payload("never");
    if (absl::Status m = Remember(txn, k, response); !m.ok()) return m;
    return FailedPrecondition("INSUFFICIENT_POINTS", "later check failed");
  });
  ASSERT_EQ(ErrorReason(s), "INSUFFICIENT_POINTS");
  auto retry = Handle("/svc/Earn", "req-1", Req("x"), "now");
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_FALSE(retry->second);
  EXPECT_EQ(retry->first.payload(), "now");
}

TEST_F(IdempotencyTest, AnswersSurviveRestart) {
  ASSERT_TRUE(Handle("/svc/Earn", "req-1", Req("x"), "first").ok());
  Open();
  auto retry = Handle("/svc/Earn", "req-1", Req("x"), "second");
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_TRUE(retry->second);
  EXPECT_EQ(retry->first.payload(), "first");
}

TEST_F(IdempotencyTest, ConcurrentRetriesMutateOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto r = Handle("/svc/Earn", "req-race", Req("x"), "only");
      if (r.ok() && r->first.payload() == "only") ok++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(mutations_, 1);
}

TEST_F(IdempotencyTest, EachPrincipalOwnsItsRequestIds) {
  ASSERT_TRUE(Handle("/svc/Earn", "req-1", Req("earn 10"), "alice's", "agent:alice").ok());
  // Before issue 16 (defect 4) bob got REQUEST_ID_REUSED here, learning
  // that someone had used the id, and alice could pre-claim bob's ids.
  auto bob = Handle("/svc/Earn", "req-1", Req("earn 99"), "bob's", "agent:bob");
  ASSERT_TRUE(bob.ok()) << bob.status();
  EXPECT_FALSE(bob->second);
  EXPECT_EQ(bob->first.payload(), "bob's");
  // Bob's identical request is his own too, never alice's answer.
  ASSERT_TRUE(Handle("/svc/Earn", "req-2", Req("x"), "bob-2", "agent:bob").ok());
  ASSERT_TRUE(Handle("/svc/Earn", "req-2", Req("x"), "alice-2", "agent:alice").ok());
  auto alice_retry = Handle("/svc/Earn", "req-2", Req("x"), "never", "agent:alice");
  ASSERT_TRUE(alice_retry.ok());
  EXPECT_EQ(alice_retry->first.payload(), "alice-2");
  auto bob_retry = Handle("/svc/Earn", "req-2", Req("x"), "never", "agent:bob");
  ASSERT_TRUE(bob_retry.ok());
  EXPECT_EQ(bob_retry->first.payload(), "bob-2");
  // Each retry still gets its own first answer.
  auto alice = Handle("/svc/Earn", "req-1", Req("earn 10"), "again", "agent:alice");
  ASSERT_TRUE(alice.ok());
  EXPECT_TRUE(alice->second);
  EXPECT_EQ(alice->first.payload(), "alice's");
  EXPECT_EQ(mutations_, 4);
}

TEST_F(IdempotencyTest, NaturalKeysAreSharedByEveryCaller) {
  ASSERT_TRUE(Handle("/svc/RecordPurchase", "order-1", Req("100"), "first", std::string(kSharedKeys)).ok());
  auto reused = Handle("/svc/RecordPurchase", "order-1", Req("200"), "second", std::string(kSharedKeys));
  EXPECT_EQ(ErrorReason(reused.status()), "REQUEST_ID_REUSED");
}

TEST(RequestFingerprintTest, IsTheSha256OfTheDeterministicSerialization) {
  // The empty message serializes to no bytes: SHA-256("").
  EXPECT_EQ(absl::BytesToHexString(RequestSha256(PingRequest())),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  PingRequest abc;
  abc.set_payload("abc");  // field 1, length 3: 0a 03 61 62 63
  EXPECT_EQ(absl::BytesToHexString(RequestSha256(abc)),
            "8ab7a6c5e74737878ac73863cb76739d15d4666de44e5756bf55a2f9e9ab5f44");
}

// A database written by the binary before issue 16: common migration 1 only.
TEST(IdempotencyUpgradeTest, PreUpgradeAnswersStayReadableAndNeverLeak) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/old.db";
  PingRequest earn;
  earn.set_payload("earn 10");
  PingResponse first;
  first.set_payload("pre-upgrade answer");
  {
    std::vector<Migration> v1 = CommonMigrations();
    v1.resize(1);
    auto db = SqliteDatabase::Open(path, v1);
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)
                    ->Write([&](Txn& txn) {
                      return txn
                          .Exec(
                              "INSERT INTO idempotency (scope, key, request_hash, response, created_at) "
                              "VALUES ('/svc/Earn', 'req-old', ?1, ?2, 1), "
                              "('/svc/RecordPurchase', 'order-old', ?1, ?2, 1)",
                              StableMessageHash(earn), Blob{first.SerializeAsString()})
                          .status();
                    })
                    .ok());
  }
  auto db = SqliteDatabase::Open(path, CommonMigrations());
  ASSERT_TRUE(db.ok()) << db.status();
  auto replay = [&](std::string owner, std::string scope, std::string key,
                    const PingRequest& req) -> absl::StatusOr<std::string> {
    PingResponse out;
    bool hit = false;
    const Once once{std::move(owner), std::move(scope), std::move(key), FingerprintOf(req)};
    absl::Status s = (*db)->Write([&](Txn& txn) -> absl::Status {
      auto r = Replay(txn, once, &out);
      if (!r.ok()) return r.status();
      hit = *r;
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return hit ? out.payload() : std::string("(not seen)");
  };
  // A retry made across the upgrade gets its answer: not applied twice.
  EXPECT_EQ(*replay("agent:alice", "/svc/Earn", "req-old", earn), "pre-upgrade answer");
  // Another request under that id is nobody's business now: not refused.
  PingRequest other;
  other.set_payload("earn 99");
  EXPECT_EQ(*replay("agent:bob", "/svc/Earn", "req-old", other), "(not seen)");
  // A natural key keeps refusing another request, as before.
  EXPECT_EQ(*replay(std::string(kSharedKeys), "/svc/RecordPurchase", "order-old", earn), "pre-upgrade answer");
  EXPECT_EQ(ErrorReason(replay(std::string(kSharedKeys), "/svc/RecordPurchase", "order-old", other).status()),
            "REQUEST_ID_REUSED");
}

class RetentionTest : public IdempotencyTest {
 protected:
  void TearDown() override { SetRecordClock(nullptr); }
  ManualClock clock_{absl::FromUnixSeconds(2000000000)};

  int64_t Count(absl::string_view sql) {
    int64_t n = -1;
    EXPECT_TRUE(db_->Read([&](Txn& txn) -> absl::Status {
                     auto stmt = txn.Query(sql);
                     if (!stmt.ok()) return stmt.status();
                     auto row = stmt->Step();
                     if (!row.ok()) return row.status();
                     n = stmt->Int(0);
                     return absl::OkStatus();
                   })
                    .ok());
    return n;
  }
};

TEST_F(RetentionTest, ExpiredRequestIdsArePurgedInBatchesNaturalKeysKept) {
  SetRecordClock(&clock_);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(Handle("/svc/Earn", "req-" + std::to_string(i), Req("x"), "a").ok());
  }
  ASSERT_TRUE(Handle("/svc/RecordPurchase", "order-1", Req("x"), "a", std::string(kSharedKeys)).ok());
  clock_.Advance(absl::Hours(24 * 30) - absl::Seconds(1));
  ASSERT_TRUE(Handle("/svc/Earn", "req-young", Req("x"), "a").ok());
  RetentionOptions options;
  options.batch = 2;
  // Not yet 30 days old: nothing goes.
  EXPECT_FALSE(PurgeExpired(*db_, clock_.Now(), options));
  EXPECT_EQ(Count("SELECT COUNT(*) FROM idempotency_records"), 7);
  clock_.Advance(absl::Seconds(2));
  EXPECT_TRUE(PurgeExpired(*db_, clock_.Now(), options));  // a full batch: more is due
  EXPECT_EQ(Count("SELECT COUNT(*) FROM idempotency_records"), 5);
  while (PurgeExpired(*db_, clock_.Now(), options)) {
  }
  // The young one and the natural key stay.
  EXPECT_EQ(Count("SELECT COUNT(*) FROM idempotency_records"), 2);
  auto retry = Handle("/svc/Earn", "req-young", Req("x"), "b");
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(retry->second);
  // An expired id may be used afresh.
  auto fresh = Handle("/svc/Earn", "req-0", Req("other"), "new");
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_FALSE(fresh->second);
}

TEST_F(RetentionTest, OnlyDeliveredOutboxEventsArePurged) {
  SetRecordClock(&clock_);
  ASSERT_TRUE(db_->Write([&](Txn& txn) -> absl::Status {
                   for (const char* id : {"delivered", "pending", "dead"}) {
                     if (auto s = EnqueueOutbox(txn, {id, "notification", "/x/Y", ""}); !s.ok()) return s;
                   }
                   auto s = txn.Exec("UPDATE outbox SET delivered_at = ?1 WHERE event_id = 'delivered'",
                                     absl::ToUnixMicros(clock_.Now()));
                   if (!s.ok()) return s.status();
                   return txn.Exec("UPDATE outbox SET dead = 1 WHERE event_id = 'dead'").status();
                 })
                  .ok());
  RetentionOptions options;
  clock_.Advance(absl::Hours(24 * 365));
  PurgeExpired(*db_, clock_.Now(), options);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM outbox WHERE event_id = 'delivered'"), 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM outbox"), 2);
}

}  // namespace
}  // namespace care
