// SubscribeInbox: the inbox change feed for backend consumers, through the
// generated client against the real care_loyalty and care_notification.
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/notification_fixture.h"

namespace care::testing {
namespace {

using Event = nv1::SubscribeInboxResponse;

class InboxFeedTest : public NotificationTest {
 protected:
  // Reads until `n` events arrived or `wait` passed, then hangs up.
  std::vector<Event> ReadFeed(const nv1::SubscribeInboxRequest& req, size_t n, absl::Duration wait = absl::Seconds(10),
                              grpc::Status* end = nullptr) {
    auto ctx = Ctx(svc(), wait);
    auto reader = nstub_->SubscribeInbox(ctx.get(), req);
    std::vector<Event> out;
    Event e;
    bool open = true;
    while (out.size() < n && (open = reader->Read(&e))) out.push_back(e);
    if (open) ctx->TryCancel();  // the stream never ends by itself
    grpc::Status s = reader->Finish();
    if (end != nullptr) *end = s;
    return out;
  }

  // An open subscription, read by the test itself.
  struct Stream {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientReader<Event>> reader;
  };
  Stream Open(const nv1::SubscribeInboxRequest& req, absl::Duration deadline = absl::Seconds(30)) {
    Stream s;
    s.ctx = Ctx(svc(), deadline);
    s.reader = nstub_->SubscribeInbox(s.ctx.get(), req);
    return s;
  }
  // Hangs up; the status the stream ended with.
  static grpc::Status Close(Stream& s) {
    s.ctx->TryCancel();
    return s.reader->Finish();
  }
  double FeedReads() {
    auto body = HttpGet(std::stoi(ReadFile(MetricsPortFile())), "/metrics");
    EXPECT_TRUE(body.ok()) << body.status();
    return Sample(ParseExposition(body.ok() ? *body : ""), "care_notification_inbox_feed_reads_total");
  }
  // A promotion alert to the "vip" segment, delivered to the inboxes.
  void Deliver(const std::string& event_id, const std::string& campaign) {
    Ingest(Alert(event_id, campaign, 1, Base() + absl::Hours(72) + absl::Seconds(5)));
    AdvanceNotif(absl::Seconds(10));
  }

  void MarkRead(const std::string& member, const std::string& message_id) {
    nv1::MarkInboxMessageReadRequest mark;
    mark.set_request_id("read-" + message_id);
    mark.set_member_id(member);
    mark.set_message_id(message_id);
    nv1::InboxMessage read;
    grpc::Status s = nstub_->MarkInboxMessageRead(Ctx(svc()).get(), mark, &read);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }
};

TEST_F(InboxFeedTest, ASubscriberSeesEveryChangeOnceAndResumesAfterItsCursorWithoutGapsOrRepeats) {
  EnrolAudience("f-ja", "vip", true, "ja");
  EnrolAudience("f-vi", "vip", true, "vi");
  EnrolAudience("f-en", "vip", true, "en");

  // Subscribed before anything happens: from now on.
  nv1::SubscribeInboxRequest all;
  std::vector<Event> created;
  std::thread reader([&] { created = ReadFeed(all, 3); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Ingest(Alert("feed-1", "feed-spring", 1, Base() + absl::Hours(72) + absl::Seconds(5)));
  AdvanceNotif(absl::Seconds(10));
  reader.join();

  ASSERT_EQ(created.size(), 3u) << notif_->log();
  std::set<std::string> members;
  for (const Event& e : created) {
    EXPECT_EQ(e.type(), nv1::INBOX_EVENT_TYPE_CREATED);
    EXPECT_EQ(e.message().kind(), nv1::MESSAGE_KIND_PROMOTION_ALERT);
    EXPECT_EQ(e.message().attributes().at("campaign_id"), "feed-spring");
    EXPECT_FALSE(e.cursor().empty());
    members.insert(e.message().member_id());
    // The event is the stored message.
    EXPECT_EQ(Inbox(e.message().member_id()).messages(0).message_id(), e.message().message_id());
  }
  EXPECT_EQ(members, (std::set<std::string>{"f-ja", "f-vi", "f-en"}));
  EXPECT_EQ(created[0].message().subject().empty(), false);

  // Offline after the second event; meanwhile two messages are read.
  for (const char* m : {"f-ja", "f-vi"}) MarkRead(m, Inbox(m).messages(0).message_id());
  nv1::SubscribeInboxRequest resume;
  resume.set_cursor(created[1].cursor());
  std::vector<Event> after = ReadFeed(resume, 4, absl::Seconds(3));
  ASSERT_EQ(after.size(), 3u);
  EXPECT_EQ(after[0].type(), nv1::INBOX_EVENT_TYPE_CREATED);
  EXPECT_EQ(after[0].message().message_id(), created[2].message().message_id());
  EXPECT_EQ(after[1].type(), nv1::INBOX_EVENT_TYPE_READ);
  EXPECT_EQ(after[1].message().member_id(), "f-ja");
  EXPECT_TRUE(after[1].message().has_read_time());
  EXPECT_EQ(after[2].type(), nv1::INBOX_EVENT_TYPE_READ);
  EXPECT_EQ(after[2].message().member_id(), "f-vi");
  EXPECT_GT(std::stoll(after[2].cursor()), std::stoll(after[1].cursor()));

  // Marking read again changes nothing, so the feed stays quiet.
  MarkRead("f-ja", Inbox("f-ja").messages(0).message_id());
  resume.set_cursor(after.back().cursor());
  EXPECT_EQ(ReadFeed(resume, 1, absl::Seconds(1)).size(), 0u);

  // One member's events only.
  nv1::SubscribeInboxRequest one;
  one.add_member_ids("f-vi");
  one.set_cursor(created[0].cursor());
  std::vector<Event> vi = ReadFeed(one, 3, absl::Seconds(2));
  for (const Event& e : vi) EXPECT_EQ(e.message().member_id(), "f-vi");
  EXPECT_EQ(vi.size(), created[0].message().member_id() == "f-vi" ? 1u : 2u);
  // A kind filter that matches nothing.
  one.add_kinds(nv1::MESSAGE_KIND_BIRTHDAY_REWARD);
  EXPECT_EQ(ReadFeed(one, 1, absl::Seconds(1)).size(), 0u);
}

// Inbox changes committed concurrently (on PostgreSQL: many transactions at
// once) reach a live subscriber each exactly once, in increasing positions:
// a change that took its position before another but committed after it is
// not skipped by a subscriber that already read the other.
TEST_F(InboxFeedTest, ConcurrentChangesReachALiveSubscriberEachOnce) {
  constexpr int kMembers = 24;
  std::vector<std::string> ids;
  for (int i = 0; i < kMembers; ++i) {
    ids.push_back("c-" + std::to_string(i));
    EnrolAudience(ids.back(), "vip", true, "en");
  }
  Ingest(Alert("feed-c", "feed-concurrent", 1, Base() + absl::Hours(72) + absl::Seconds(5)));
  AdvanceNotif(absl::Seconds(10));
  std::vector<std::string> messages;
  for (const std::string& id : ids) {
    ASSERT_TRUE(Eventually([&] { return Inbox(id).messages_size() == 1; })) << notif_->log();
    messages.push_back(Inbox(id).messages(0).message_id());
  }

  // Subscribed from now on, reading while the reads commit.
  std::vector<Event> seen;
  std::thread reader([&] { seen = ReadFeed(nv1::SubscribeInboxRequest(), kMembers, absl::Seconds(20)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  constexpr int kWriters = 6;
  std::vector<std::thread> writers;
  writers.reserve(kWriters);
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = w; i < kMembers; i += kWriters) MarkRead(ids[i], messages[i]);
    });
  }
  for (std::thread& t : writers) t.join();
  reader.join();

  std::set<std::string> members;
  int64_t last = 0;
  for (const Event& e : seen) {
    EXPECT_EQ(e.type(), nv1::INBOX_EVENT_TYPE_READ);
    EXPECT_TRUE(members.insert(e.message().member_id()).second) << "twice: " << e.message().member_id();
    EXPECT_GT(std::stoll(e.cursor()), last);
    last = std::stoll(e.cursor());
  }
  EXPECT_EQ(members.size(), static_cast<size_t>(kMembers)) << "a committed change was skipped";
}

TEST_F(InboxFeedTest, BadAndExpiredCursorsAreRefusedWithTheirReason) {
  EnrolAudience("g-en", "vip", true, "en");
  nv1::SubscribeInboxRequest req;
  req.set_cursor("not-a-cursor");
  grpc::Status s;
  ReadFeed(req, 1, absl::Seconds(5), &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"cursor"});
  req.set_cursor("999999");
  ReadFeed(req, 1, absl::Seconds(5), &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  req.clear_cursor();
  req.add_kinds(static_cast<nv1::MessageKind>(999));
  ReadFeed(req, 1, absl::Seconds(5), &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"kinds[0]"});

  Ingest(Alert("feed-2", "feed-old", 1, Base() + absl::Hours(72) + absl::Seconds(5)));
  AdvanceNotif(absl::Seconds(10));
  ASSERT_TRUE(Eventually([&] { return Inbox("g-en").messages_size() == 1; })) << notif_->log();
  nv1::SubscribeInboxRequest from_start;
  from_start.set_cursor("0");
  std::vector<Event> events = ReadFeed(from_start, 1);
  ASSERT_EQ(events.size(), 1u);

  // Past the replay window (7 days by default) the event is pruned: a
  // subscriber resuming from before it must reconcile instead.
  AdvanceNotif(absl::Hours(24 * 8));
  ASSERT_TRUE(Eventually([&] {
    grpc::Status st;
    ReadFeed(from_start, 1, absl::Seconds(2), &st);
    return st.error_code() == grpc::StatusCode::OUT_OF_RANGE && Reason(st) == "CURSOR_EXPIRED";
  })) << notif_->log();
  // Its own cursor (after the pruned event) still works, and the message
  // itself is still in the inbox.
  nv1::SubscribeInboxRequest current;
  current.set_cursor(events[0].cursor());
  ReadFeed(current, 1, absl::Seconds(1), &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << "open and quiet until our deadline";
  EXPECT_EQ(Inbox("g-en").messages_size(), 1);
}

// Issue 16, defect 9: one principal may hold --inbox_streams_per_principal
// live streams; one more is RESOURCE_EXHAUSTED / TOO_MANY_STREAMS, and a
// stream that ends frees its slot. The admitted streams still get messages.
TEST_F(InboxFeedTest, APrincipalsStreamsAreCappedAndAClosedOneFreesItsSlot) {
  notif_->Kill();
  StartNotification({"--inbox_streams_per_principal=2", "--metrics_port=0",
                     "--metrics_port_file=" + MetricsPortFile()});
  EnrolAudience("cap-en", "vip", true, "en");
  Stream a = Open({}), b = Open({});
  // Both admitted (each read the feed once it started) before the third.
  ASSERT_TRUE(Eventually([&] { return FeedReads() >= 4; })) << FeedReads();
  Stream c = Open({});
  Event e;
  EXPECT_FALSE(c.reader->Read(&e));
  grpc::Status refused = c.reader->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << Describe(refused);
  EXPECT_EQ(Reason(refused), "TOO_MANY_STREAMS");
  EXPECT_EQ(ReasonMetadata(refused, "limit"), "2");

  // The two open streams are served.
  Deliver("cap-1", "cap-spring");
  ASSERT_TRUE(a.reader->Read(&e)) << notif_->log();
  EXPECT_EQ(e.message().member_id(), "cap-en");
  ASSERT_TRUE(b.reader->Read(&e));
  EXPECT_EQ(e.message().member_id(), "cap-en");

  // Hanging up one frees its slot: a new stream stays open (here until its
  // own short deadline) instead of being refused.
  EXPECT_EQ(Close(a).error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(Eventually([&] {
    Stream d = Open({}, absl::Seconds(1));
    Event ignored;
    while (d.reader->Read(&ignored)) {
    }
    return d.reader->Finish().error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
  }));
  Close(b);
}

// Issue 16, defect 9: a caught-up stream read the feed every 200 ms, so N
// idle subscribers cost 5N queries a second. Now it reads when a change for
// its members commits (and on a 30 s fallback): idle streams add no reads,
// and a new message still reaches every open stream.
TEST_F(InboxFeedTest, IdleStreamsDoNotReadTheFeedAndAreWokenByANewMessage) {
  EnrolAudience("idle-en", "vip", true, "en");
  std::vector<Stream> streams;
  for (int i = 0; i < 3; ++i) streams.push_back(Open({}));
  nv1::SubscribeInboxRequest other;
  other.add_member_ids("someone-else");
  streams.push_back(Open(other));
  ASSERT_TRUE(Eventually([&] { return FeedReads() >= 8; })) << FeedReads();
  absl::SleepFor(absl::Milliseconds(300));  // any first read still under way
  const double settled = FeedReads();
  absl::SleepFor(absl::Milliseconds(1500));
  EXPECT_EQ(FeedReads(), settled) << "idle streams read the feed";

  Deliver("idle-1", "idle-spring");
  for (int i = 0; i < 3; ++i) {
    Event e;
    ASSERT_TRUE(streams[i].reader->Read(&e)) << i << notif_->log();
    EXPECT_EQ(e.type(), nv1::INBOX_EVENT_TYPE_CREATED);
    EXPECT_EQ(e.message().member_id(), "idle-en");
  }
  // Each woken stream read once or a few times (the wake, the follow-up
  // after writing, once more if woken mid-read); polling would have added
  // about five a second per stream meanwhile.
  const double after = FeedReads();
  EXPECT_GE(after - settled, 3);
  EXPECT_LE(after - settled, 11);
  for (Stream& s : streams) Close(s);
}

TEST_F(InboxFeedTest, AnOpenSubscriptionDoesNotHoldUpAGracefulShutdown) {
  grpc::Status end;
  std::thread reader([&] { ReadFeed(nv1::SubscribeInboxRequest(), 1, absl::Seconds(30), &end); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const absl::Time start = absl::Now();
  EXPECT_EQ(notif_->Terminate(), 0);
  reader.join();
  // Well inside the drain deadline: the stream ends at its next pause.
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(end.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Reason(end), "SHUTTING_DOWN");
}

}  // namespace
}  // namespace care::testing
