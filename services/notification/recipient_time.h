#pragma once

// Recipient time: send windows (quiet hours) in a member's IANA zone. Pure
// functions of their arguments, so they are tested without a server.

#include <optional>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace care::notification {

// A local send window in minutes after midnight: [start, end), each in
// 0..1440. start < end is a same-day window, start > end wraps past
// midnight, start == end means no quiet hours. 24:00-00:00 is a window that
// never opens.
struct Window {
  int start = 8 * 60;
  int end = 21 * 60;
  bool always() const { return start == end; }
};

// The longest time an alert's fan-out may need before its due time: a
// window of one minute leaves 23 h 59 min of quiet hours, and a
// daylight-saving change (up to 2 h in any zone's history) can lengthen that
// night. A schedule fans out this long (plus the margin) before it is due,
// so every member's previous window is still ahead. Only a window that a
// skipped hour swallows (02:00-02:30 in New York on the spring-forward day)
// can leave a member without a window in that span; such a member is
// suppressed, never late.
inline constexpr absl::Duration kMaxQuietSpan = absl::Hours(26);

// The instant of a local wall-clock time: a non-existent time (DST gap) maps
// to the first valid instant after it, an ambiguous one to the earlier.
absl::Time LocalInstant(const absl::CivilMinute& local, const absl::TimeZone& zone);

// True when `t` falls inside the member's send window.
bool InWindow(absl::Time t, const absl::TimeZone& zone, const Window& window);

// Start of the first window at or after `t` (`t` itself when inside one);
// InfiniteFuture() for a window that never opens.
absl::Time NextWindowStart(absl::Time t, const absl::TimeZone& zone, const Window& window);

// End of the last window that ended at or before `t`.
absl::Time PreviousWindowEnd(absl::Time t, const absl::TimeZone& zone, const Window& window);

// Why a marketing alert gets no send time at all.
enum class NoSendTime {
  kNone,
  // No window moment before the campaign's end.
  kExpired,
  // No window moment left between now and the due time: sending later would
  // give the customer less than the promised notice.
  kNoWindowBeforeDue,
};

struct SendTime {
  absl::Time send_after;
  bool adjusted = false;
  NoSendTime suppress = NoSendTime::kNone;  // kNone: send at send_after
};

// A marketing alert's timing. `due` is the latest moment the customer may
// get it when `keep_notice` (due = starts_at - notice); without it (short
// notice, or the event arrived after its due time) it goes at once, within
// the window.
struct MarketingDue {
  absl::Time due;
  bool keep_notice = true;
  absl::Duration margin = absl::Minutes(15);  // before the window's end; at least 1 min
  std::optional<absl::Time> ends_at;          // the campaign's end
  // How late a fan-out that itself ran late (job tick, an event that came
  // seconds before due) may still send at once inside an open window; 0 in
  // the invariant: never after due.
  absl::Duration grace = absl::ZeroDuration();
};

// The grace the fan-out uses: one job tick and a batch, far below the
// half-hour-and-more lateness planning at dispatch time gave; beyond it,
// suppressed.
inline constexpr absl::Duration kFanOutGrace = absl::Minutes(1);

// MARKETING ("send earlier"). keep_notice: `due` when inside the window;
// otherwise the end of the previous window minus `margin` (at least a
// minute, as the window excludes its end; not before that window's start);
// `now` if that moment passed but the window is still open; otherwise
// kNoWindowBeforeDue. Never after `due` (+ `grace`, only when the
// fan-out itself ran after the planned moment), never before `now`, always
// inside the window. Without keep_notice: the start of the next window at or
// after max(due, now). kExpired when the send time is not before ends_at.
SendTime MarketingSendTime(const MarketingDue& alert, absl::Time now, const absl::TimeZone& zone, const Window& window);

// Non-urgent TRANSACTIONAL ("defer"): the start of the next window at or
// after max(due, now).
SendTime DeferredSendTime(absl::Time due, absl::Time now, const absl::TimeZone& zone, const Window& window);

// The longest quiet span of `window` (24 h minus its length).
absl::Duration QuietSpan(const Window& window);

}  // namespace care::notification
