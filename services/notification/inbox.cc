// The member's inbox: listing with the unread count, marking read.
#include "common/errors.h"
#include "common/privacy.h"
#include "common/proto_time.h"
#include "common/store.h"
#include "services/notification/notification_service.h"

namespace care::notification {
absl::StatusOr<NotificationService::InboxPage> NotificationService::ListInbox(InboxFilter filter, int64_t before_seq,
                                                                              int limit) {
  filter.now = clock_.Now();
  InboxPage page;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto r = tx.ListInbox(filter, before_seq, limit);
    if (!r.ok()) return r.status();
    page.messages = std::move(*r);
    auto unread = tx.UnreadCount(filter.member_id, filter.now);
    if (!unread.ok()) return unread.status();
    page.unread_count = *unread;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return page;
}

absl::StatusOr<v1::InboxMessage> NotificationService::MarkRead(const Once& once, const std::string& member_id,
                                                               const std::string& message_id) {
  const absl::Time now = clock_.Now();
  Once tagged = once;  // its answer is the message, text and all
  tagged.subject = MemberSubject(member_id);
  auto read = WriteOnce<v1::InboxMessage>(store_, tagged, [&](StoreTxn& tx, v1::InboxMessage& out) -> absl::Status {
    auto msg = tx.GetInbox(message_id);
    if (!msg.ok()) return msg.status();
    if (!*msg || (*msg)->member_id() != member_id) {
      return NotFound("INBOX_MESSAGE_NOT_FOUND", "no such message in the member's inbox");
    }
    if (!(*msg)->has_read_time()) {
      if (absl::Status st = tx.MarkInboxRead(message_id, now); !st.ok()) return st;
      *(*msg)->mutable_read_time() = ToTimestamp(now);
    }
    out = **msg;
    return absl::OkStatus();
  });
  // A replayed request wakes its subscribers once more: harmless (one read).
  if (read.ok()) inbox_watch_.Changed({member_id});
  return read;
}

}  // namespace care::notification
