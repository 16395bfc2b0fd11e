#pragma once

// Recipient time: send windows (quiet hours) in a member's IANA zone. Pure
// functions of their arguments, so they are tested without a server.

#include <optional>

#include "absl/time/time.h"

namespace care::notification {

// A local send window in minutes after midnight: [start, end). start < end is
// a same-day window, start > end wraps past midnight, start == end means no
// quiet hours. end may be 1440 (24:00).
struct Window {
  int start = 8 * 60;
  int end = 21 * 60;
  bool always() const { return start == end; }
};

// The instant of a local wall-clock time: a non-existent time (DST gap) maps
// to the first valid instant after it, an ambiguous one to the earlier.
absl::Time LocalInstant(const absl::CivilMinute& local, const absl::TimeZone& zone);

// True when `t` falls inside the member's send window.
bool InWindow(absl::Time t, const absl::TimeZone& zone, const Window& window);

// Start of the first window at or after `t` (`t` itself when inside one).
absl::Time NextWindowStart(absl::Time t, const absl::TimeZone& zone, const Window& window);

// End of the last window that ended at or before `t`.
absl::Time PreviousWindowEnd(absl::Time t, const absl::TimeZone& zone, const Window& window);

struct SendTime {
  absl::Time send_after;
  bool adjusted = false;
  bool expired = false;  // no acceptable time before `deadline`
};

// MARKETING ("send earlier"): `due` when inside the window; otherwise the end
// of the previous window minus `margin`; if that is before `now`, the start
// of the next window at or after `now`; expired if that is after `deadline`.
SendTime MarketingSendTime(absl::Time due, absl::Time now, const absl::TimeZone& zone, const Window& window,
                           absl::Duration margin, std::optional<absl::Time> deadline);

// Non-urgent TRANSACTIONAL ("defer"): the start of the next window at or
// after max(due, now).
SendTime DeferredSendTime(absl::Time due, absl::Time now, const absl::TimeZone& zone, const Window& window);

// The longest quiet span of `window` (24 h minus its length).
absl::Duration QuietSpan(const Window& window);

}  // namespace care::notification
