// common/outbox.h: events committed with their state change, delivered in
// order per destination, retried until delivered once, poison events set
// aside. The sender is a fake; GrpcOutboxSender is covered by the service
// integration tests.
#include "common/outbox.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "tests/harness/harness.h"

namespace care {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

// Records deliveries; fails per destination or per event as told.
class FakeSender final : public OutboxSender {
 public:
  absl::Status Send(const OutboxEvent& event) override {
    std::lock_guard lock(mu_);
    ++attempts_[event.event_id];
    if (auto it = refuse_event_.find(event.event_id); it != refuse_event_.end()) return it->second;
    if (auto it = fail_destination_.find(event.destination); it != fail_destination_.end()) return it->second;
    delivered_.push_back(event);
    return absl::OkStatus();
  }

  void FailDestination(const std::string& d, absl::Status s) {
    std::lock_guard lock(mu_);
    fail_destination_[d] = std::move(s);
  }
  void Recover(const std::string& d) {
    std::lock_guard lock(mu_);
    fail_destination_.erase(d);
  }
  void RefuseEvent(const std::string& id, absl::Status s) {
    std::lock_guard lock(mu_);
    refuse_event_[id] = std::move(s);
  }
  std::vector<std::string> DeliveredTo(const std::string& destination) {
    std::lock_guard lock(mu_);
    std::vector<std::string> ids;
    for (const auto& e : delivered_) {
      if (e.destination == destination) ids.push_back(e.event_id);
    }
    return ids;
  }
  std::vector<OutboxEvent> delivered() {
    std::lock_guard lock(mu_);
    return delivered_;
  }
  int attempts(const std::string& id) {
    std::lock_guard lock(mu_);
    return attempts_[id];
  }

 private:
  std::mutex mu_;
  std::map<std::string, absl::Status> fail_destination_;
  std::map<std::string, absl::Status> refuse_event_;
  std::map<std::string, int> attempts_;
  std::vector<OutboxEvent> delivered_;
};

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open(dir_.path() + "/outbox.db", CommonMigrations());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    options_.initial_backoff = absl::Milliseconds(5);
    options_.max_backoff = absl::Milliseconds(20);
  }

  OutboxEvent Event(const std::string& id, const std::string& destination) {
    return OutboxEvent{id, destination, "/care.notification.v1.NotificationService/IngestEvent",
                       absl::StrCat("payload of ", id)};
  }

  void Enqueue(std::initializer_list<std::pair<std::string, std::string>> events) {
    for (const auto& e : events) {  // clang-14 cannot capture structured bindings
      ASSERT_TRUE(db_->Write([&](Txn& txn) { return EnqueueOutbox(txn, Event(e.first, e.second)); }).ok());
    }
  }

  int64_t Backlog(OutboxRelay& relay) {
    auto b = relay.Backlog();
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? *b : -1;
  }

  // Runs the relay until the backlog is empty or `timeout` passes.
  bool Drain(OutboxRelay& relay, absl::Duration timeout = absl::Seconds(5)) {
    absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      relay.RunOnce();
      if (Backlog(relay) == 0) return true;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return false;
  }

  testing::TempDir dir_;
  std::unique_ptr<Database> db_;
  RelayOptions options_;
  FakeSender sender_;
};

TEST_F(OutboxTest, EventCommitsWithItsTransactionOnly) {
  OutboxRelay relay(*db_, sender_, options_);
  absl::Status s = db_->Write([&](Txn& txn) -> absl::Status {
    if (absl::Status e = EnqueueOutbox(txn, Event("lost", "notification")); !e.ok()) return e;
    return FailedPrecondition("STATE_CHANGE_FAILED", "the change it announces failed");
  });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(Backlog(relay), 0);
  Enqueue({{"kept", "notification"}});
  EXPECT_EQ(Backlog(relay), 1);
  relay.RunOnce();
  EXPECT_THAT(sender_.DeliveredTo("notification"), ElementsAre("kept"));
}

TEST_F(OutboxTest, DuplicateEventIdIsRefused) {
  Enqueue({{"e1", "notification"}});
  absl::Status s = db_->Write([&](Txn& txn) { return EnqueueOutbox(txn, Event("e1", "notification")); });
  EXPECT_FALSE(s.ok());
}

TEST_F(OutboxTest, DeliversInOrderPerDestination) {
  OutboxRelay relay(*db_, sender_, options_);
  Enqueue({{"a1", "A"}, {"b1", "B"}, {"a2", "A"}, {"a3", "A"}, {"b2", "B"}, {"a4", "A"}});
  EXPECT_EQ(Backlog(relay), 6);
  relay.RunOnce();
  EXPECT_EQ(Backlog(relay), 0);
  EXPECT_THAT(sender_.DeliveredTo("A"), ElementsAre("a1", "a2", "a3", "a4"));
  EXPECT_THAT(sender_.DeliveredTo("B"), ElementsAre("b1", "b2"));
  // The event reaches the sender intact.
  auto delivered = sender_.delivered();
  ASSERT_FALSE(delivered.empty());
  EXPECT_EQ(delivered[0].payload, "payload of a1");
  EXPECT_EQ(delivered[0].method, "/care.notification.v1.NotificationService/IngestEvent");
  // Nothing is sent twice.
  relay.RunOnce();
  EXPECT_EQ(sender_.delivered().size(), 6u);
}

TEST_F(OutboxTest, RetryableFailureHoldsTheDestinationUntilRecovery) {
  OutboxRelay relay(*db_, sender_, options_);
  sender_.FailDestination("A", Unavailable("PEER_UNAVAILABLE", "connection refused"));
  Enqueue({{"a1", "A"}, {"b1", "B"}, {"a2", "A"}, {"b2", "B"}, {"a3", "A"}});
  for (int i = 0; i < 5; ++i) {
    relay.RunOnce();
    absl::SleepFor(absl::Milliseconds(10));
  }
  // B is not held back by A; A's head is retried, the rest of A waits.
  EXPECT_THAT(sender_.DeliveredTo("B"), ElementsAre("b1", "b2"));
  EXPECT_TRUE(sender_.DeliveredTo("A").empty());
  EXPECT_GE(sender_.attempts("a1"), 2) << "a retryable failure was not retried";
  EXPECT_EQ(sender_.attempts("a2"), 0) << "a later event overtook the failed head";
  EXPECT_EQ(Backlog(relay), 3);

  sender_.Recover("A");
  ASSERT_TRUE(Drain(relay));
  EXPECT_THAT(sender_.DeliveredTo("A"), ElementsAre("a1", "a2", "a3"));
  EXPECT_EQ(sender_.delivered().size(), 5u) << "an event was delivered twice";
  for (int i = 0; i < 3; ++i) relay.RunOnce();
  EXPECT_EQ(sender_.delivered().size(), 5u) << "a delivered event was sent again";
}

TEST_F(OutboxTest, BackoffSpacesRetries) {
  options_.initial_backoff = absl::Milliseconds(300);
  options_.max_backoff = absl::Seconds(1);
  OutboxRelay relay(*db_, sender_, options_);
  sender_.FailDestination("A", absl::DeadlineExceededError("timeout"));
  Enqueue({{"a1", "A"}});
  relay.RunOnce();
  EXPECT_EQ(sender_.attempts("a1"), 1);
  // Immediately again: still within the backoff (at least half of 300 ms).
  relay.RunOnce();
  relay.RunOnce();
  EXPECT_EQ(sender_.attempts("a1"), 1) << "retried without backing off";
  absl::SleepFor(absl::Milliseconds(350));
  relay.RunOnce();
  EXPECT_EQ(sender_.attempts("a1"), 2);
}

TEST_F(OutboxTest, PermanentFailureIsMarkedDeadAndDoesNotBlock) {
  OutboxRelay relay(*db_, sender_, options_);
  sender_.RefuseEvent("a1", InvalidField("event.member_id", "is required"));
  Enqueue({{"a1", "A"}, {"a2", "A"}, {"a3", "A"}});
  ASSERT_TRUE(Drain(relay));
  EXPECT_THAT(sender_.DeliveredTo("A"), ElementsAre("a2", "a3"));
  EXPECT_EQ(sender_.attempts("a1"), 1) << "a refused event was retried";
  EXPECT_EQ(Backlog(relay), 0) << "dead events must not count as backlog";
  for (int i = 0; i < 3; ++i) relay.RunOnce();
  EXPECT_EQ(sender_.attempts("a1"), 1);
  // The dead event is kept, marked, with the reason.
  int64_t dead = -1;
  std::string last_error;
  ASSERT_TRUE(db_->Read([&](Txn& txn) -> absl::Status {
                  auto stmt = txn.Query("SELECT dead, last_error FROM outbox WHERE event_id = 'a1'");
                  if (!stmt.ok()) return stmt.status();
                  auto row = stmt->Step();
                  if (!row.ok()) return row.status();
                  if (*row) {
                    dead = stmt->Int(0);
                    last_error = stmt->Text(1);
                  }
                  return absl::OkStatus();
                }).ok());
  EXPECT_EQ(dead, 1);
  EXPECT_THAT(last_error, ::testing::HasSubstr("member_id"));
}

TEST_F(OutboxTest, BacklogCountsUndeliveredEvents) {
  OutboxRelay relay(*db_, sender_, options_);
  EXPECT_EQ(Backlog(relay), 0);
  sender_.FailDestination("A", Unavailable("PEER_UNAVAILABLE", "down"));
  Enqueue({{"a1", "A"}, {"a2", "A"}, {"b1", "B"}});
  EXPECT_EQ(Backlog(relay), 3);
  relay.RunOnce();
  EXPECT_EQ(Backlog(relay), 2);
  sender_.Recover("A");
  ASSERT_TRUE(Drain(relay));
  EXPECT_EQ(Backlog(relay), 0);
}

TEST_F(OutboxTest, RunOnceAsksForMoreWhenABatchIsFull) {
  options_.batch = 3;
  OutboxRelay relay(*db_, sender_, options_);
  Enqueue({{"e1", "A"}, {"e2", "A"}, {"e3", "A"}, {"e4", "A"}, {"e5", "A"}});
  EXPECT_TRUE(relay.RunOnce()) << "a full batch was delivered: more may be due";
  EXPECT_FALSE(relay.RunOnce());
  EXPECT_EQ(Backlog(relay), 0);
  EXPECT_THAT(sender_.DeliveredTo("A"), ElementsAre("e1", "e2", "e3", "e4", "e5"));
}

TEST_F(OutboxTest, EventsSurviveRestart) {
  Enqueue({{"e1", "A"}, {"e2", "A"}});
  db_.reset();
  auto db = Database::Open(dir_.path() + "/outbox.db", CommonMigrations());
  ASSERT_TRUE(db.ok()) << db.status();
  db_ = *std::move(db);
  OutboxRelay relay(*db_, sender_, options_);
  EXPECT_EQ(Backlog(relay), 2);
  ASSERT_TRUE(Drain(relay));
  EXPECT_THAT(sender_.DeliveredTo("A"), ElementsAre("e1", "e2"));
}

// KNOWN BUG (common/outbox.cc, OutboxRelay::RunOnce): the relay reads the
// first `batch` pending events of every destination together, ordered by
// seq. When one destination is down and its backlog fills a whole batch,
// events for healthy destinations further back are never read, so one peer
// that is down stops delivery to all others. Enable once fixed.
TEST_F(OutboxTest, DownDestinationDoesNotStarveOthers) {
  options_.batch = 3;
  OutboxRelay relay(*db_, sender_, options_);
  sender_.FailDestination("A", Unavailable("PEER_UNAVAILABLE", "down"));
  Enqueue({{"a1", "A"}, {"a2", "A"}, {"a3", "A"}, {"a4", "A"}, {"b1", "B"}});
  for (int i = 0; i < 10; ++i) {
    relay.RunOnce();
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_THAT(sender_.DeliveredTo("B"), ElementsAre("b1"));
}

}  // namespace
}  // namespace care
