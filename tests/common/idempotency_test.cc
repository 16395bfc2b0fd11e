// common/idempotency.h: a retried mutation gets its first answer; a request
// id reused for another request is refused.
#include "common/idempotency.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "care/common/v1/runtime.pb.h"
#include "common/errors.h"
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
    auto db = Database::Open(dir_.path() + "/idem.db", CommonMigrations());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
  }

  // What a handler does: replay the first answer, or mutate and remember.
  // Returns the answer and whether it was replayed.
  absl::StatusOr<std::pair<PingResponse, bool>> Handle(const std::string& scope, const std::string& key,
                                                       const PingRequest& request, const std::string& answer) {
    PingResponse response;
    bool replayed = false;
    absl::Status s = db_->Write([&](Txn& txn) -> absl::Status {
      auto r = Replay(txn, scope, key, request, &response);
      if (!r.ok()) return r.status();
      replayed = *r;
      if (replayed) return absl::OkStatus();
      response.set_payload(answer);
      ++mutations_;
      return Remember(txn, scope, key, request, response);
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
    auto r = Replay(txn, "/svc/Earn", "req-1", Req("x"), &response);
    if (!r.ok()) return r.status();
    response.set_payload("never");
    if (absl::Status m = Remember(txn, "/svc/Earn", "req-1", Req("x"), response); !m.ok()) return m;
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

}  // namespace
}  // namespace care
