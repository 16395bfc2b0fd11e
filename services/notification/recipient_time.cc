#include "services/notification/recipient_time.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/time/civil_time.h"

namespace care::notification {
namespace {

// The window intervals of the local days around `t`.
std::vector<std::pair<absl::Time, absl::Time>> Intervals(absl::Time t, const absl::TimeZone& zone,
                                                         const Window& w) {
  std::vector<std::pair<absl::Time, absl::Time>> out;
  absl::CivilDay today = absl::ToCivilDay(t, zone);
  for (int offset = -2; offset <= 2; ++offset) {
    absl::CivilMinute day_start(today + offset);
    absl::CivilMinute start = day_start + w.start;
    absl::CivilMinute end = day_start + w.end + (w.start > w.end ? 1440 : 0);
    out.emplace_back(LocalInstant(start, zone), LocalInstant(end, zone));
  }
  return out;
}

}  // namespace

absl::Time LocalInstant(const absl::CivilMinute& local, const absl::TimeZone& zone) {
  absl::TimeZone::TimeInfo info = zone.At(absl::CivilSecond(local));
  return info.kind == absl::TimeZone::TimeInfo::SKIPPED ? info.trans : info.pre;
}

bool InWindow(absl::Time t, const absl::TimeZone& zone, const Window& window) {
  if (window.always()) return true;
  for (const auto& [start, end] : Intervals(t, zone, window)) {
    if (start <= t && t < end) return true;
  }
  return false;
}

absl::Time NextWindowStart(absl::Time t, const absl::TimeZone& zone, const Window& window) {
  if (InWindow(t, zone, window)) return t;
  absl::Time best = absl::InfiniteFuture();
  for (const auto& [start, end] : Intervals(t, zone, window)) {
    if (start >= t) best = std::min(best, start);
  }
  return best;
}

absl::Time PreviousWindowEnd(absl::Time t, const absl::TimeZone& zone, const Window& window) {
  absl::Time best = absl::InfinitePast();
  for (const auto& [start, end] : Intervals(t, zone, window)) {
    if (end <= t) best = std::max(best, end);
  }
  return best;
}

SendTime MarketingSendTime(absl::Time due, absl::Time now, const absl::TimeZone& zone, const Window& window,
                           absl::Duration margin, std::optional<absl::Time> deadline) {
  SendTime out{due};
  if (InWindow(due, zone, window)) {
    out.send_after = due;
  } else {
    out.adjusted = true;
    absl::Time earlier = PreviousWindowEnd(due, zone, window) - margin;
    // Still inside the previous window (a margin longer than the window
    // would push it out): otherwise the window's start.
    if (!InWindow(earlier, zone, window)) earlier = PreviousWindowEnd(due, zone, window) - absl::Minutes(1);
    out.send_after = earlier >= now ? earlier : NextWindowStart(now, zone, window);
  }
  if (out.send_after < now && !InWindow(now, zone, window)) {
    out.send_after = NextWindowStart(now, zone, window);
    out.adjusted = true;
  }
  if (deadline && out.send_after >= *deadline) out.expired = true;
  return out;
}

SendTime DeferredSendTime(absl::Time due, absl::Time now, const absl::TimeZone& zone, const Window& window) {
  absl::Time from = std::max(due, now);
  absl::Time at = NextWindowStart(from, zone, window);
  return SendTime{at, at != from, false};
}

absl::Duration QuietSpan(const Window& w) {
  if (w.always()) return absl::ZeroDuration();
  int length = w.start < w.end ? w.end - w.start : 1440 - w.start + w.end;
  return absl::Minutes(1440 - length);
}

}  // namespace care::notification
