// SubscribeInbox's feed: inbox changes in commit order (inbox_events, written
// by the store with each inbox change), read in windows of positions and
// pruned after the replay window.
#include <algorithm>

#include "common/errors.h"
#include "common/jobs.h"
#include "common/metrics.h"
#include "common/proto_time.h"
#include "services/notification/notification_service.h"
#include "services/notification/prometheus.h"

namespace care::notification {
namespace {

constexpr int kPruneBatch = 5000;
constexpr char kPruneJob[] = "notification.inbox_feed_prune";

}  // namespace

std::shared_ptr<void> InboxWatch::Watch(absl::flat_hash_set<std::string> members, std::function<void()> wake,
                                        std::function<int64_t()> read_through) {
  auto watcher = std::make_shared<const Watcher>(Watcher{std::move(members), std::move(wake), std::move(read_through)});
  int64_t id;
  {
    std::lock_guard lock(mu_);
    id = next_id_++;
    watchers_.emplace(id, std::move(watcher));
  }
  // Non-null (callers test the handle); the deleter only unregisters.
  return std::shared_ptr<void>(static_cast<void*>(this), [this, id](void*) {
    std::lock_guard lock(mu_);
    watchers_.erase(id);
  });
}

std::vector<std::function<void()>> InboxWatch::Matching(const std::vector<std::string>* members) {
  std::vector<std::function<void()>> out;
  std::lock_guard lock(mu_);
  for (const auto& [id, w] : watchers_) {
    bool wanted = members == nullptr || w->members.empty();
    for (size_t i = 0; !wanted && i < members->size(); ++i) wanted = w->members.contains((*members)[i]);
    if (wanted) out.push_back(w->wake);
  }
  return out;
}

// The wakes run outside the lock: a stream ending meanwhile only makes its
// wake a no-op (FeedWaker), never blocks a commit on a stream.
void InboxWatch::Changed(const std::vector<std::string>& members) {
  if (members.empty()) return;
  for (const auto& wake : Matching(&members)) wake();
}

void InboxWatch::Advanced(int64_t head) {
  std::vector<std::function<void()>> behind;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, w] : watchers_) {
      if (!w->read_through || w->read_through() < head) behind.push_back(w->wake);
    }
  }
  for (const auto& wake : behind) wake();
}

void InboxWatch::WakeAll() {
  for (const auto& wake : Matching(nullptr)) wake();
}

std::shared_ptr<void> PerPrincipalLimit::TryAcquire(const std::string& principal) {
  {
    std::lock_guard lock(mu_);
    int& held = held_[principal];
    if (held >= limit_) {
      if (held == 0) held_.erase(principal);
      return nullptr;
    }
    ++held;
  }
  return std::shared_ptr<void>(static_cast<void*>(this), [this, principal](void*) {
    std::lock_guard lock(mu_);
    if (--held_[principal] == 0) held_.erase(principal);
  });
}

absl::StatusOr<int64_t> NotificationService::InboxFeedStart(std::optional<int64_t> cursor) {
  InboxFeedBounds bounds;
  InboxFeedReadsMetric().Inc({});
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

bool NotificationService::WatchFeedHead() {
  int64_t head = 0;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto b = tx.InboxFeedRange();
    if (!b.ok()) return b.status();
    head = b->last;
    return absl::OkStatus();
  });
  if (!s.ok()) {
    LogJobFailure("notification.feed_head", s);
    return false;
  }
  // Streams that already read this far (woken by this replica's own
  // commits) are left alone.
  if (seen_feed_head_.exchange(head) < head) inbox_watch_.Advanced(head);
  return false;
}

absl::StatusOr<NotificationService::InboxFeedPage> NotificationService::ReadInboxFeed(const InboxFeedQuery& query,
                                                                                      int64_t after, int window) {
  InboxFeedPage page;
  page.position = after;
  InboxFeedReadsMetric().Inc({});
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
  if (!settings.ok()) {
    LogJobFailure(kPruneJob, settings.status());
    return false;
  }
  const absl::Time cutoff = clock_.Now() - FromDurationProto(settings->in_app().replay_window());
  // A read first: most runs find nothing old enough and then write nothing.
  std::optional<absl::Time> oldest;
  absl::Status read = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto at = tx.OldestInboxEventAt();
    if (!at.ok()) return at.status();
    oldest = *at;
    return absl::OkStatus();
  });
  if (!read.ok()) LogJobFailure(kPruneJob, read);
  if (!read.ok() || !oldest || *oldest >= cutoff) return false;
  int64_t pruned = 0;
  absl::Status s = store_.Write([&](StoreTxn& tx) -> absl::Status {
    auto n = tx.PruneInboxFeed(cutoff, kPruneBatch);
    if (!n.ok()) return n.status();
    pruned = *n;
    return absl::OkStatus();
  });
  if (!s.ok()) LogJobFailure(kPruneJob, s);
  return s.ok() && pruned == kPruneBatch;
}

}  // namespace care::notification
