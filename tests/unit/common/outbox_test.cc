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
#include "common/sqlite.h"
#include "tests/harness/harness.h"

namespace care {
namespace {

using ::testing::ElementsAre;

// Records deliveries; fails per destination or per event as told.
class FakeSender final : public OutboxSender {
 public:
  absl::Status Send(const OutboxEvent& event, std::string* response) override {
    std::lock_guard lock(mu_);
    ++attempts_[event.event_id];
    if (auto it = refuse_event_.find(event.event_id); it != refuse_event_.end()) return it->second;
    if (auto it = fail_destination_.find(event.destination); it != fail_destination_.end()) return it->second;
    delivered_.push_back(event);
    if (response != nullptr) *response = "receipt of " + event.event_id;
    return absl::OkStatus();
  }
  void Forgive(const std::string& id) {
    std::lock_guard lock(mu_);
    refuse_event_.erase(id);
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
    auto db = SqliteDatabase::Open(dir_.path() + "/outbox.db", CommonMigrations());
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
                 })
                  .ok());
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
  auto db = SqliteDatabase::Open(dir_.path() + "/outbox.db", CommonMigrations());
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

TEST(ClassifyDeliveryTest, OnlyAReceiversDomainRefusalIsFinal) {
  EXPECT_EQ(ClassifyDelivery(absl::OkStatus()), DeliveryVerdict::kDelivered);
  // The receiver's domain refusal, with its reason: dead.
  EXPECT_EQ(ClassifyDelivery(InvalidField("event.member_id", "is required")), DeliveryVerdict::kDead);
  EXPECT_EQ(ClassifyDelivery(FailedPrecondition("MEMBER_CLOSED", "closed")), DeliveryVerdict::kDead);
  EXPECT_EQ(ClassifyDelivery(NotFound("MEMBER_NOT_FOUND", "no such member")), DeliveryVerdict::kDead);
  // Configuration, credentials, versions, transport: fixable, so retried.
  for (const absl::Status& s :
       {Unavailable(kUnknownDestination, "no peer configured for promotion"),
        FailedPrecondition(kUnknownDestination, "an older sender's wording"),
        Error(absl::StatusCode::kUnauthenticated, "UNAUTHENTICATED", "no token"),
        Error(absl::StatusCode::kPermissionDenied, "MISSING_ROLE", "wrong token"),
        Error(absl::StatusCode::kUnimplemented, "PEER_ERROR", "unknown method"),
        absl::NotFoundError("no reason: a proxy's answer"), Unavailable("PEER_UNAVAILABLE", "connection refused"),
        absl::DeadlineExceededError("slow"), absl::InternalError("boom"), absl::ResourceExhaustedError("busy"),
        absl::AbortedError("conflict"),
        // No reason from the receiver (a proxy, a gRPC-level refusal).
        absl::InvalidArgumentError("bad frame"), Error(absl::StatusCode::kFailedPrecondition, "PEER_ERROR", "?")}) {
    EXPECT_EQ(ClassifyDelivery(s), DeliveryVerdict::kRetry) << s;
  }
}

TEST(GrpcOutboxSenderTest, AnUnconfiguredPeerIsRetriedNotDead) {
  GrpcOutboxSender sender(std::map<std::string, Peer>{});
  std::string response;
  absl::Status s = sender.Send(OutboxEvent{"e1", "promotion", "/x.Y/Z", ""}, &response);
  EXPECT_EQ(ErrorReason(s), kUnknownDestination);
  EXPECT_EQ(ClassifyDelivery(s), DeliveryVerdict::kRetry);
}

TEST_F(OutboxTest, ConfigurationErrorsWaitAndAreDeliveredOnceFixed) {
  OutboxRelay relay(*db_, sender_, options_);
  sender_.FailDestination("promotion", Unavailable(kUnknownDestination, "no peer configured"));
  sender_.FailDestination("loyalty", Error(absl::StatusCode::kPermissionDenied, "MISSING_ROLE", "wrong token"));
  sender_.FailDestination("notification", Error(absl::StatusCode::kUnimplemented, "PEER_ERROR", "no method"));
  Enqueue({{"p1", "promotion"}, {"l1", "loyalty"}, {"n1", "notification"}});
  for (int i = 0; i < 5; ++i) {
    relay.RunOnce();
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(Backlog(relay), 3) << "a configuration error killed an event";
  EXPECT_GE(sender_.attempts("p1"), 2);
  sender_.Recover("promotion");
  sender_.Recover("loyalty");
  sender_.Recover("notification");
  ASSERT_TRUE(Drain(relay));
  EXPECT_THAT(sender_.DeliveredTo("promotion"), ElementsAre("p1"));
  EXPECT_THAT(sender_.DeliveredTo("loyalty"), ElementsAre("l1"));
  EXPECT_THAT(sender_.DeliveredTo("notification"), ElementsAre("n1"));
}

TEST_F(OutboxTest, BackoffIsCapped) {
  options_.initial_backoff = absl::Milliseconds(10);
  options_.max_backoff = absl::Milliseconds(40);
  OutboxRelay relay(*db_, sender_, options_);
  sender_.FailDestination("A", Unavailable(kUnknownDestination, "not configured"));
  Enqueue({{"a1", "A"}});
  // 10 * 2^n would reach seconds after a few tries; the cap keeps it at 40 ms.
  absl::Time end = absl::Now() + absl::Milliseconds(800);
  while (absl::Now() < end) {
    relay.RunOnce();
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_GE(sender_.attempts("a1"), 12);
}

TEST_F(OutboxTest, OutcomeHandlerSeesTheReceiversResponseOrItsRefusalInTheSameTransaction) {
  OutboxRelay relay(*db_, sender_, options_);
  std::vector<std::string> outcomes;
  relay.OnOutcome("/care.notification.v1.NotificationService/IngestEvent",
                  [&](Txn& txn, const OutboxEvent& e, const absl::Status& result, const std::string& response) {
                    outcomes.push_back(result.ok() ? e.event_id + " ok: " + response
                                                   : e.event_id + " dead: " + ErrorReason(result));
                    return absl::OkStatus();
                  });
  sender_.RefuseEvent("a2", FailedPrecondition("MEMBER_CLOSED", "closed"));
  Enqueue({{"a1", "A"}, {"a2", "A"}});
  ASSERT_TRUE(Drain(relay));
  EXPECT_THAT(outcomes, ElementsAre("a1 ok: receipt of a1", "a2 dead: MEMBER_CLOSED"));
}

TEST_F(OutboxTest, AFailingOutcomeHandlerLeavesTheEventToBeSentAgain) {
  OutboxRelay relay(*db_, sender_, options_);
  int calls = 0;
  relay.OnOutcome("/care.notification.v1.NotificationService/IngestEvent",
                  [&](Txn&, const OutboxEvent&, const absl::Status&, const std::string&) -> absl::Status {
                    return ++calls == 1 ? absl::InternalError("disk full") : absl::OkStatus();
                  });
  Enqueue({{"a1", "A"}});
  relay.RunOnce();
  EXPECT_EQ(Backlog(relay), 1) << "the outcome was not recorded, so the event must stay";
  ASSERT_TRUE(Drain(relay));
  EXPECT_EQ(calls, 2);
}

TEST_F(OutboxTest, DeadEventsAreListedAndReplayedByAnAdmin) {
  OutboxRelay relay(*db_, sender_, options_);
  sender_.RefuseEvent("a1", FailedPrecondition("MEMBER_CLOSED", "closed"));
  sender_.RefuseEvent("b1", InvalidField("points", "too many"));
  Enqueue({{"a1", "A"}, {"a2", "A"}, {"b1", "B"}});
  ASSERT_TRUE(Drain(relay));
  std::vector<DeadOutboxEvent> dead;
  ASSERT_TRUE(db_->Read([&](Txn& txn) -> absl::Status {
                   auto d = ListDeadOutbox(txn, "", 0, 10);
                   if (!d.ok()) return d.status();
                   dead = *d;
                   return absl::OkStatus();
                 })
                  .ok());
  ASSERT_EQ(dead.size(), 2u);
  EXPECT_EQ(dead[0].event.event_id, "a1");
  EXPECT_THAT(dead[0].last_error, ::testing::HasSubstr("MEMBER_CLOSED"));
  EXPECT_EQ(dead[1].event.event_id, "b1");
  // Paging and the destination filter.
  ASSERT_TRUE(db_->Read([&](Txn& txn) -> absl::Status {
                   auto d = ListDeadOutbox(txn, "", dead[0].seq, 10);
                   EXPECT_TRUE(d.ok() && d->size() == 1 && (*d)[0].event.event_id == "b1");
                   auto b = ListDeadOutbox(txn, "A", 0, 10);
                   EXPECT_TRUE(b.ok() && b->size() == 1 && (*b)[0].event.event_id == "a1");
                   return absl::OkStatus();
                 })
                  .ok());

  sender_.Forgive("a1");
  std::vector<std::string> replayed;
  ASSERT_TRUE(db_->Write([&](Txn& txn) -> absl::Status {
                   auto r = ReplayDeadOutbox(txn, {"a1", "a2", "nope"}, "");
                   if (!r.ok()) return r.status();
                   replayed = *r;
                   return absl::OkStatus();
                 })
                  .ok());
  EXPECT_THAT(replayed, ElementsAre("a1")) << "only dead events are replayed";
  ASSERT_TRUE(Drain(relay));
  EXPECT_THAT(sender_.DeliveredTo("A"), ElementsAre("a2", "a1"));
  // Replaying everything of B: still refused, dead again, never delivered.
  ASSERT_TRUE(db_->Write([&](Txn& txn) { return ReplayDeadOutbox(txn, {}, "B").status(); }).ok());
  ASSERT_TRUE(Drain(relay));
  EXPECT_EQ(sender_.attempts("b1"), 2);
  EXPECT_TRUE(sender_.DeliveredTo("B").empty());
}

}  // namespace
}  // namespace care
