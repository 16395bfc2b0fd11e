// SubscribeInbox with two notification replicas on one PostgreSQL database:
// an inbox change committed through one replica reaches a stream held by
// the other within about a second (the feed head each replica polls), not
// after the idle stream's 30 s fallback. SQLite has one process per file.
#include <string>
#include <vector>

#include "tests/integration/notification_fixture.h"

namespace care::testing {
namespace {

class InboxFeedReplicasTest : public NotificationTest {
 protected:
  void SetUp() override {
    cluster_ = TestPostgres();
    if (!cluster_) GTEST_SKIP() << "PostgreSQL only: replicas share a database server";
    auto url = CreateTestDatabase(*cluster_);
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
    NotificationTest::SetUp();
    if (HasFatalFailure()) return;
    // Replica A (the fixture's own process) and B, both on `url_`.
    const std::vector<std::string> shared = {"--database_url=" + url_,
                                             "--database_password_file=" + cluster_->password_file};
    notif_->Kill();
    StartNotification(shared);
    if (HasFatalFailure()) return;
    other_ = std::make_unique<ServiceProcess>(CARE_NOTIFICATION_BIN, kNotificationHealth, NotificationArgs(shared),
                                              tokens_);
    absl::Status started = other_->Start();
    ASSERT_TRUE(started.ok()) << started;
    other_stub_ = nv1::NotificationService::NewStub(other_->channel());
    other_clock_ = care::common::v1::ClockControl::NewStub(other_->channel());
    MoveOtherClock(Base(), absl::ZeroDuration());
  }
  void TearDown() override {
    other_.reset();
    NotificationTest::TearDown();
    notif_.reset();
    if (cluster_ && !url_.empty()) DropTestDatabase(*cluster_, url_);
  }
  void MoveOtherClock(std::optional<absl::Time> to, absl::Duration by) {
    care::common::v1::SetTimeRequest req;
    if (to) {
      *req.mutable_time() = ToTimestamp(*to);
    } else {
      *req.mutable_advance() = ToDurationProto(by);
    }
    care::common::v1::GetTimeResponse r;
    grpc::Status s = other_clock_->SetTime(Ctx(admin()).get(), req, &r);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  std::optional<PostgresCluster> cluster_;
  std::string url_;
  std::unique_ptr<ServiceProcess> other_;
  std::unique_ptr<nv1::NotificationService::Stub> other_stub_;
  std::unique_ptr<care::common::v1::ClockControl::Stub> other_clock_;
};

TEST_F(InboxFeedReplicasTest, AChangeThroughOneReplicaReachesAStreamOnTheOther) {
  EnrolAudience("rep-en", "vip", true, "en");
  // Whichever replica holds the fan-out job sends the alert at its time.
  Ingest(Alert("rep-1", "rep-spring", 1, Base() + absl::Hours(72) + absl::Seconds(5)));
  AdvanceNotif(absl::Seconds(10));
  MoveOtherClock(std::nullopt, absl::Seconds(10));
  ASSERT_TRUE(Eventually([&] { return Inbox("rep-en").messages_size() == 1; }, absl::Seconds(20)))
      << notif_->log() << other_->log();
  const std::string message_id = Inbox("rep-en").messages(0).message_id();

  // A caught-up stream on replica B, from now on.
  auto ctx = Ctx(svc(), absl::Seconds(30));
  auto reader = other_stub_->SubscribeInbox(ctx.get(), nv1::SubscribeInboxRequest());
  absl::SleepFor(absl::Milliseconds(500));  // subscribed and idle

  // Read through replica A: B's stream sees it well before its idle fallback.
  const absl::Time marked = absl::Now();
  nv1::MarkInboxMessageReadRequest mark;
  mark.set_request_id("rep-read-1");
  mark.set_member_id("rep-en");
  mark.set_message_id(message_id);
  nv1::InboxMessage read;
  grpc::Status s = nstub_->MarkInboxMessageRead(Ctx(svc()).get(), mark, &read);
  ASSERT_TRUE(s.ok()) << Describe(s);

  nv1::SubscribeInboxResponse event;
  ASSERT_TRUE(reader->Read(&event)) << other_->log();
  EXPECT_LT(absl::Now() - marked, absl::Seconds(5)) << "woken by the idle fallback, not the feed head";
  EXPECT_EQ(event.type(), nv1::INBOX_EVENT_TYPE_READ);
  EXPECT_EQ(event.message().member_id(), "rep-en");
  EXPECT_EQ(event.message().message_id(), message_id);
  ctx->TryCancel();
  reader->Finish();
}

}  // namespace
}  // namespace care::testing
