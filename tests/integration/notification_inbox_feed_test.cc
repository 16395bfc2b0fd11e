// SubscribeInbox: the inbox change feed for backend consumers, through the
// generated client against the real care_loyalty and care_notification.
#include <string>
#include <vector>

#include "tests/integration/notification_fixture.h"

namespace care::testing {
namespace {

using Event = nv1::SubscribeInboxResponse;

class InboxFeedTest : public NotificationTest {
 protected:
  // Reads until `n` events arrived or `wait` passed, then hangs up.
  std::vector<Event> ReadFeed(const nv1::SubscribeInboxRequest& req, size_t n,
                              absl::Duration wait = absl::Seconds(10), grpc::Status* end = nullptr) {
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
