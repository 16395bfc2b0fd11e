#include "services/notification/recipient_time.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/time/civil_time.h"

namespace care::notification {
namespace {

// The window intervals of the local days around `t`.
std::vector<std::pair<absl::Time, absl::Time>> Intervals(absl::Time t, const absl::TimeZone& zone, const Window& w) {
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
    if (start >= t && start < end) best = std::min(best, start);
  }
  return best;
}

absl::Time PreviousWindowEnd(absl::Time t, const absl::TimeZone& zone, const Window& window) {
  absl::Time best = absl::InfinitePast();
  for (const auto& [start, end] : Intervals(t, zone, window)) {
    if (end <= t && start < end) best = std::max(best, end);
  }
  return best;
}

SendTime MarketingSendTime(const MarketingDue& alert, absl::Time now, const absl::TimeZone& zone,
                           const Window& window) {
  SendTime out{alert.due};
  if (!alert.keep_notice) {
    absl::Time from = std::max(alert.due, now);
    out.send_after = NextWindowStart(from, zone, window);
    out.adjusted = out.send_after != from;
    if (out.send_after == absl::InfiniteFuture()) {
      out.send_after = from;  // a window that never opens
      out.suppress = NoSendTime::kNoWindowBeforeDue;
    }
  } else if (window.always()) {
    if (alert.due < now) {
      if (now <= alert.due + alert.grace) {
        out.send_after = now;
      } else {
        out.suppress = NoSendTime::kNoWindowBeforeDue;
      }
    }
  } else {
    // The last window that opened at or before due (days whose window a
    // daylight-saving gap swallowed are empty and skipped).
    std::optional<std::pair<absl::Time, absl::Time>> last;
    for (const auto& interval : Intervals(alert.due, zone, window)) {
      if (interval.first <= alert.due && interval.first < interval.second && (!last || interval.first > last->first)) {
        last = interval;
      }
    }
    if (!last) {
      out.suppress = NoSendTime::kNoWindowBeforeDue;
    } else {
      const auto [start, end] = *last;
      if (alert.due >= end) {
        out.adjusted = true;
        // The window excludes its end: at least its last minute.
        out.send_after = std::max(end - std::max(alert.margin, absl::Minutes(1)), start);
      }
      if (out.send_after < now) {
        // The planned moment passed: still fine while that window is open
        // and due (plus the grace) has not passed; later would shorten the
        // notice.
        if (now < end && now <= alert.due + alert.grace) {
          out.send_after = now;
          out.adjusted = true;
        } else {
          out.suppress = NoSendTime::kNoWindowBeforeDue;
        }
      }
    }
  }
  if (out.suppress == NoSendTime::kNone && alert.ends_at && out.send_after >= *alert.ends_at) {
    out.suppress = NoSendTime::kExpired;
  }
  return out;
}

SendTime DeferredSendTime(absl::Time due, absl::Time now, const absl::TimeZone& zone, const Window& window) {
  absl::Time from = std::max(due, now);
  absl::Time at = NextWindowStart(from, zone, window);
  if (at == absl::InfiniteFuture()) at = from;  // a window that never opens (refused on input)
  return SendTime{at, at != from};
}

absl::Duration QuietSpan(const Window& w) {
  if (w.always()) return absl::ZeroDuration();
  int length = w.start < w.end ? w.end - w.start : 1440 - w.start + w.end;
  return absl::Minutes(1440 - length);
}

}  // namespace care::notification
