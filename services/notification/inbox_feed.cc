// SubscribeInbox's feed: inbox changes in commit order (inbox_events, written
// by triggers), read in windows of positions and pruned after the replay
// window.
#include <algorithm>

#include "common/errors.h"
#include "common/proto_time.h"
#include "services/notification/notification_service.h"

namespace care::notification {
namespace {

constexpr int kPruneBatch = 5000;

}  // namespace

absl::StatusOr<int64_t> NotificationService::InboxFeedStart(std::optional<int64_t> cursor) {
  InboxFeedBounds bounds;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto b = tx.InboxFeedRange();
    if (!b.ok()) return b.status();
    bounds = *b;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!cursor) return bounds.last;
  if (*cursor < 0 || *cursor > bounds.last) return InvalidField("cursor", "not a cursor of this feed");
  if (*cursor + 1 < bounds.first) {
    return Error(absl::StatusCode::kOutOfRange, "CURSOR_EXPIRED",
                  "the cursor is older than the replay window; subscribe without a cursor and reconcile");
  }
  return *cursor;
}

absl::StatusOr<NotificationService::InboxFeedPage> NotificationService::ReadInboxFeed(const InboxFeedQuery& query,
                                                                                     int64_t after, int window) {
  InboxFeedPage page;
  page.position = after;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto bounds = tx.InboxFeedRange();
    if (!bounds.ok()) return bounds.status();
    if (after + 1 < bounds->first) {
      return Error(absl::StatusCode::kResourceExhausted, "SUBSCRIBER_TOO_SLOW",
                    "events after the last cursor were pruned before they were read");
    }
    const int64_t through = std::min(bounds->last, after + window);
    auto events = tx.InboxFeed(after, through, query.kinds);
    if (!events.ok()) return events.status();
    for (InboxEvent& e : *events) {
      if (query.member_ids.empty() || query.member_ids.contains(e.member_id)) page.events.push_back(std::move(e));
    }
    page.position = through;
    page.caught_up = through == bounds->last;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return page;
}

bool NotificationService::RunInboxFeedPrune() {
  auto settings = CurrentSettings();
  if (!settings.ok()) return false;
  const absl::Time cutoff = clock_.Now() - FromDurationProto(settings->in_app().replay_window());
  // A read first: most runs find nothing old enough and then write nothing.
  std::optional<absl::Time> oldest;
  absl::Status read = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto at = tx.OldestInboxEventAt();
    if (!at.ok()) return at.status();
    oldest = *at;
    return absl::OkStatus();
  });
  if (!read.ok() || !oldest || *oldest >= cutoff) return false;
  int64_t pruned = 0;
  absl::Status s = store_.Write([&](StoreTxn& tx) -> absl::Status {
    auto n = tx.PruneInboxFeed(cutoff, kPruneBatch);
    if (!n.ok()) return n.status();
    pruned = *n;
    return absl::OkStatus();
  });
  return s.ok() && pruned == kPruneBatch;
}

}  // namespace care::notification
