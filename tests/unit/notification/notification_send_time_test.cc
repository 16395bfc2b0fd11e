// The send time of a promotion alert as an invariant, not examples: for due
// times across whole years (every 15 minutes around every daylight-saving
// change), zones with odd rules and seeded random windows,
// MarketingSendTime either picks a moment inside the member's window that is
// not after due, or suppresses the alert with a reason, and suppresses it only
// when no window moment is left. The expected answers come from a reference
// model that lists every local day's window of the year on its own.
//
// The seed is printed; CARE_SEND_TIME_SEED=<n> replays one.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "gtest/gtest.h"
#include "services/notification/recipient_time.h"

namespace care::notification {
namespace {

struct ZoneYear {
  const char* zone;
  int year;
};

// New York (the fall-back night), London, Lord Howe (30-minute
// change), Tokyo (none), Sao Paulo in 2018 (the change at midnight: 00:00
// does not exist on 4 Nov), Apia in 2011 (two changes and a skipped day,
// 30 Dec) and Apia in 2031 (no changes any more).
constexpr ZoneYear kZoneYears[] = {
    {"America/New_York", 2031},  {"Europe/London", 2031}, {"Australia/Lord_Howe", 2031}, {"Asia/Tokyo", 2031},
    {"America/Sao_Paulo", 2018}, {"Pacific/Apia", 2011},  {"Pacific/Apia", 2031},
};

struct Interval {
  absl::Time start, end;
};

// The reference: a local wall-clock time that does not exist is the
// transition instant, an ambiguous one the earlier instant (the contract).
absl::Time Instant(const absl::CivilMinute& local, const absl::TimeZone& zone) {
  const absl::TimeZone::TimeInfo info = zone.At(absl::CivilSecond(local));
  switch (info.kind) {
    case absl::TimeZone::TimeInfo::SKIPPED:
      return info.trans;
    case absl::TimeZone::TimeInfo::REPEATED:
      return std::min(info.pre, info.post);
    case absl::TimeZone::TimeInfo::UNIQUE:
      break;
  }
  return info.pre;
}

// Every day's window between two local days, in order, empty ones left out.
std::vector<Interval> Windows(const absl::TimeZone& zone, const Window& w, absl::CivilDay from, absl::CivilDay to) {
  std::vector<Interval> out;
  for (absl::CivilDay day = from; day <= to; ++day) {
    const absl::CivilMinute midnight(day);
    const int end = w.start > w.end ? w.end + 1440 : w.end;
    Interval i{Instant(midnight + w.start, zone), Instant(midnight + end, zone)};
    if (i.start < i.end) out.push_back(i);
  }
  return out;
}

class Reference {
 public:
  Reference(const absl::TimeZone& zone, const Window& w, int year)
      : always_(w.always()),
        windows_(Windows(zone, w, absl::CivilDay(year - 1, 12, 20), absl::CivilDay(year + 1, 1, 10))) {}

  bool Inside(absl::Time t) const {
    if (always_) return true;
    const Interval* i = LastStartingBy(t);
    return i != nullptr && t < i->end;
  }
  // The last window that opened at or before `t`.
  const Interval* LastStartingBy(absl::Time t) const {
    auto it = std::upper_bound(windows_.begin(), windows_.end(), t,
                               [](absl::Time v, const Interval& i) { return v < i.start; });
    return it == windows_.begin() ? nullptr : &*(it - 1);
  }
  // The first window that ends after `t`.
  const Interval* FirstEndingAfter(absl::Time t) const {
    auto it = std::upper_bound(windows_.begin(), windows_.end(), t,
                               [](absl::Time v, const Interval& i) { return v < i.end; });
    return it == windows_.end() ? nullptr : &*it;
  }
  // The window did not open on one of the two local days before `due`'s
  // (nor on that day before due): a daylight-saving gap swallowed it.
  bool SwallowedBefore(absl::Time due, const absl::TimeZone& zone, const Window& w) const {
    const absl::CivilDay today = absl::ToCivilDay(due, zone);
    for (absl::CivilDay day = today - 2; day <= today; ++day) {
      const absl::CivilMinute midnight(day);
      const int end = w.start > w.end ? w.end + 1440 : w.end;
      if (Instant(midnight + w.start, zone) == Instant(midnight + end, zone)) return true;
    }
    return false;
  }
  // Some window moment in [from, to].
  bool AnyIn(absl::Time from, absl::Time to) const {
    if (from > to) return false;
    if (always_) return true;
    const Interval* i = LastStartingBy(to);
    return i != nullptr && i->end > from;
  }

 private:
  bool always_;
  std::vector<Interval> windows_;
};

// Wall-clock membership: the plain reading of "10:00-12:00 local".
bool WallClockInside(absl::Time t, const absl::TimeZone& zone, const Window& w) {
  if (w.always()) return true;
  const absl::CivilMinute local = absl::ToCivilMinute(t, zone);
  const int m = local.hour() * 60 + local.minute();
  return w.start < w.end ? (w.start <= m && m < w.end) : (m >= w.start || m < w.end);
}

// The instant of a transition: when the clock reads `from` in the old
// offset (a skipped `from`, or a repeated `to`).
absl::Time TransitionInstant(const absl::TimeZone::CivilTransition& tr, const absl::TimeZone& zone) {
  const absl::TimeZone::TimeInfo from = zone.At(tr.from), to = zone.At(tr.to);
  if (from.kind == absl::TimeZone::TimeInfo::SKIPPED) return from.trans;
  if (to.kind == absl::TimeZone::TimeInfo::REPEATED) return to.trans;
  return absl::FromCivil(tr.to, zone);
}

// No offset change within two days of `t`.
bool FarFromTransitions(absl::Time t, const absl::TimeZone& zone) {
  absl::TimeZone::CivilTransition tr;
  return !zone.NextTransition(t - absl::Hours(48), &tr) || TransitionInstant(tr, zone) > t + absl::Hours(48);
}

std::vector<Window> RandomWindows(std::mt19937_64& rng) {
  // The default, the 10:00-12:00, wrapping, tiny, full, always, one
  // that never opens (24:00-00:00), nearly always, and windows starting or
  // ending inside the hours clocks skip or repeat.
  std::vector<Window> out = {{480, 1260}, {600, 720}, {1320, 360},  {600, 615}, {0, 1440},   {0, 0},
                             {1440, 0},   {61, 60},   {120, 150},   {60, 120},  {90, 180},   {150, 240},
                             {0, 60},     {1410, 30}, {1439, 1440}, {0, 1},     {1380, 1439}};
  std::uniform_int_distribution<int> minute(0, 1440), coin(0, 3), tiny(1, 15), quarter(0, 96);
  for (int i = 0; i < 40; ++i) {
    Window w;
    switch (coin(rng)) {
      case 0:  // tiny
        w.start = minute(rng) % 1440;
        w.end = (w.start + tiny(rng)) % 1440;
        break;
      case 1:  // on quarter hours, where clocks change
        w.start = quarter(rng) * 15;
        w.end = quarter(rng) * 15;
        break;
      default:
        w.start = minute(rng);
        w.end = minute(rng);
    }
    out.push_back(w);
  }
  return out;
}

// Due times: every 15 minutes within 36 h of each change, and through the
// rest of the year every 4 h at a random minute.
std::vector<absl::Time> DueTimes(const absl::TimeZone& zone, int year, std::mt19937_64& rng) {
  std::vector<absl::Time> out;
  const absl::Time begin = absl::FromCivil(absl::CivilDay(year, 1, 1), zone);
  const absl::Time end = absl::FromCivil(absl::CivilDay(year + 1, 1, 1), zone);
  absl::TimeZone::CivilTransition tr;
  absl::Time t = begin;
  while (zone.NextTransition(t, &tr)) {
    const absl::Time at = TransitionInstant(tr, zone);
    if (at >= end || at <= t) break;
    for (absl::Time d = at - absl::Hours(36); d <= at + absl::Hours(36); d += absl::Minutes(15)) out.push_back(d);
    t = at;
  }
  std::uniform_int_distribution<int> minute(0, 239);
  for (absl::Time d = begin; d < end; d += absl::Hours(4)) out.push_back(d + absl::Minutes(minute(rng)));
  return out;
}

struct Counts {
  int64_t checked = 0, suppressed = 0, adjusted = 0;
};

std::string Describe(const char* zone, const Window& w, absl::Time due, absl::Time now, absl::Duration margin,
                     bool keep) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  return absl::StrFormat("zone=%s window=%02d:%02d-%02d:%02d due=%s now=%s margin=%s keep_notice=%d", zone,
                         w.start / 60, w.start % 60, w.end / 60, w.end % 60, absl::FormatTime(due, utc),
                         absl::FormatTime(now, utc), absl::FormatDuration(margin), keep);
}

// One case with the notice kept: the checks of the invariant.
void CheckKeepNotice(const char* zone_name, const absl::TimeZone& zone, const Window& w, const Reference& ref,
                     absl::Time due, absl::Time now, absl::Duration margin, Counts& counts) {
  MarketingDue alert{due, true, margin, due + absl::Hours(24 * 30)};
  const SendTime got = MarketingSendTime(alert, now, zone, w);
  ++counts.checked;
  const std::string what = Describe(zone_name, w, due, now, margin, true);
  if (got.suppress != NoSendTime::kNone) {
    ++counts.suppressed;
    ASSERT_EQ(got.suppress, NoSendTime::kNoWindowBeforeDue) << what;
    // Suppressed only when nothing could be sent in time.
    ASSERT_FALSE(ref.AnyIn(now, due)) << what;
    return;
  }
  counts.adjusted += got.adjusted;
  const absl::Time t = got.send_after;
  ASSERT_LE(t, due) << what << " send=" << absl::FormatTime(t);  // never late
  ASSERT_GE(t, now) << what << " send=" << absl::FormatTime(t);  // never in the past
  ASSERT_TRUE(ref.Inside(t)) << what << " send=" << absl::FormatTime(t);
  ASSERT_TRUE(InWindow(t, zone, w)) << what;
  if (FarFromTransitions(t, zone)) ASSERT_TRUE(WallClockInside(t, zone, w)) << what;
  // As late as allowed: due itself when inside the window, else the last
  // window's end minus the margin (not before its start), else now.
  if (w.always() || ref.Inside(due)) {
    ASSERT_EQ(t, due) << what;
    ASSERT_FALSE(got.adjusted) << what;
    return;
  }
  const Interval* last = ref.LastStartingBy(due);
  ASSERT_NE(last, nullptr) << what;
  const absl::Time planned = std::max(last->end - std::max(margin, absl::Minutes(1)), last->start);
  ASSERT_EQ(t, std::max(planned, now)) << what << " send=" << absl::FormatTime(t);
  ASSERT_TRUE(got.adjusted) << what;
}

// The fan-out's grace: a fan-out that itself ran late still sends inside an
// open window up to kFanOutGrace after due, never later.
void CheckGrace(const char* zone_name, const absl::TimeZone& zone, const Window& w, const Reference& ref,
                absl::Time due, absl::Time now, absl::Duration margin, Counts& counts) {
  MarketingDue alert{due, true, margin, std::nullopt, kFanOutGrace};
  const SendTime got = MarketingSendTime(alert, now, zone, w);
  ++counts.checked;
  const std::string what = Describe(zone_name, w, due, now, margin, true) + " grace";
  if (got.suppress != NoSendTime::kNone) {
    ASSERT_FALSE(ref.AnyIn(now, due)) << what;
    return;
  }
  ASSERT_LE(got.send_after, due + kFanOutGrace) << what;
  ASSERT_GE(got.send_after, now) << what;
  ASSERT_TRUE(ref.Inside(got.send_after)) << what;
  if (got.send_after > due) ASSERT_EQ(got.send_after, now) << what;
}

// Short notice: at once, within the window.
void CheckAtOnce(const char* zone_name, const absl::TimeZone& zone, const Window& w, const Reference& ref,
                 absl::Time due, absl::Time now, Counts& counts) {
  MarketingDue alert{due, false, absl::Minutes(15), std::nullopt};
  const SendTime got = MarketingSendTime(alert, now, zone, w);
  ++counts.checked;
  const std::string what = Describe(zone_name, w, due, now, absl::Minutes(15), false);
  const absl::Time from = std::max(due, now);
  const Interval* next = ref.FirstEndingAfter(from);
  if (w.always()) {
    ASSERT_EQ(got.suppress, NoSendTime::kNone) << what;
    ASSERT_EQ(got.send_after, from) << what;
    return;
  }
  if (next == nullptr) {
    ASSERT_EQ(got.suppress, NoSendTime::kNoWindowBeforeDue) << what;
    ++counts.suppressed;
    return;
  }
  ASSERT_EQ(got.suppress, NoSendTime::kNone) << what;
  ASSERT_EQ(got.send_after, std::max(next->start, from)) << what;
  ASSERT_TRUE(ref.Inside(got.send_after)) << what;
}

uint64_t Seed(int i) {
  if (const char* env = std::getenv("CARE_SEND_TIME_SEED")) return std::strtoull(env, nullptr, 10);
  return i == 0 ? 20261206 : std::random_device{}();
}

TEST(SendTimeInvariant, NeverAfterDueAlwaysInsideTheWindowOrSuppressedWithAReason) {
  const int runs = std::getenv("CARE_SEND_TIME_SEED") ? 1 : 2;  // a fixed seed and a fresh one
  for (int run = 0; run < runs; ++run) {
    const uint64_t seed = Seed(run);
    std::printf("send-time sweep seed: %llu (replay: CARE_SEND_TIME_SEED=%llu)\n",
                static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
    SCOPED_TRACE(absl::StrFormat("seed %d", seed));
    std::mt19937_64 rng(seed);
    const std::vector<Window> windows = RandomWindows(rng);
    const absl::Duration margins[] = {absl::ZeroDuration(), absl::Minutes(1), absl::Minutes(15), absl::Hours(2)};
    Counts counts;
    int64_t swallowed = 0;
    for (const ZoneYear& zy : kZoneYears) {
      absl::TimeZone zone;
      ASSERT_TRUE(absl::LoadTimeZone(zy.zone, &zone)) << zy.zone;
      const std::vector<absl::Time> dues = DueTimes(zone, zy.year, rng);
      for (size_t wi = 0; wi < windows.size(); ++wi) {
        const Window& w = windows[wi];
        const Reference ref(zone, w, zy.year);
        const bool opens = !(w.start == 1440 && w.end == 0);
        std::uniform_int_distribution<int> late(0, 27 * 60 + 60);
        for (absl::Time due : dues) {
          const absl::Duration margin = margins[(wi + (due - absl::UnixEpoch()) / absl::Minutes(15)) % 4];
          // At the schedule's fan-out time: every member whose window opens
          // at all gets a send time.
          const absl::Time fan_out = due - kMaxQuietSpan - margin;
          const int64_t before = counts.suppressed;
          CheckKeepNotice(zy.zone, zone, w, ref, due, fan_out, margin, counts);
          if (HasFatalFailure()) return;
          if (opens && counts.suppressed != before) {
            // Only a window that a skipped hour swallowed on the day
            // before (02:00-02:30 in New York on the spring-forward day)
            // leaves a gap longer than the fan-out lead.
            ASSERT_TRUE(ref.SwallowedBefore(due, zone, w)) << Describe(zy.zone, w, due, fan_out, margin, true);
            ++swallowed;
          }
          // A fan-out that ran late (loyalty down, an event that came late),
          // up to an hour after due.
          const absl::Time late_now = fan_out + absl::Minutes(late(rng));
          CheckKeepNotice(zy.zone, zone, w, ref, due, late_now, margin, counts);
          if (HasFatalFailure()) return;
          CheckGrace(zy.zone, zone, w, ref, due, late_now, margin, counts);
          if (HasFatalFailure()) return;
          CheckAtOnce(zy.zone, zone, w, ref, due, due + absl::Minutes(late(rng) % 240) - absl::Hours(2), counts);
          if (HasFatalFailure()) return;
        }
      }
    }
    std::printf(
        "checked %lld send times: %lld adjusted, %lld suppressed (%lld at fan-out time, windows a skipped "
        "hour swallowed)\n",
        static_cast<long long>(counts.checked), static_cast<long long>(counts.adjusted),
        static_cast<long long>(counts.suppressed), static_cast<long long>(swallowed));
    EXPECT_GT(counts.adjusted, 0);
    EXPECT_GT(counts.suppressed, 0);
  }
}

// The two cases, spelled out.
TEST(SendTimeInvariant, FallBackNightAndATwoHourWindowInNewYork) {
  absl::TimeZone ny;
  ASSERT_TRUE(absl::LoadTimeZone("America/New_York", &ny));
  // 2 Nov 2031: 01:00-02:00 happens twice. Due 07:30 EST; the default
  // window closed at 21:00 EDT on Saturday, eleven and a half hours before.
  const absl::Time due = absl::FromCivil(absl::CivilMinute(2031, 11, 2, 7, 30), ny);
  const absl::Time evening = absl::FromCivil(absl::CivilMinute(2031, 11, 1, 20, 45), ny);
  MarketingDue alert{due, true, absl::Minutes(15), std::nullopt};
  SendTime t = MarketingSendTime(alert, due - kMaxQuietSpan - alert.margin, ny, Window{});
  EXPECT_EQ(t.suppress, NoSendTime::kNone);
  EXPECT_EQ(t.send_after, evening);
  EXPECT_EQ(due - t.send_after, absl::Hours(11) + absl::Minutes(45));
  // Due in the repeated hour: 01:30 is the earlier (EDT) instant.
  const absl::Time ambiguous = absl::FromCivil(absl::CivilMinute(2031, 11, 2, 1, 30), ny);
  EXPECT_EQ(ambiguous, absl::FromCivil(absl::CivilMinute(2031, 11, 2, 5, 30), absl::UTCTimeZone()));
  // 10:00-12:00: due at 09:30 goes at 11:45 the day before.
  const Window late_morning{600, 720};
  const absl::Time due2 = absl::FromCivil(absl::CivilMinute(2031, 11, 2, 9, 30), ny);
  t = MarketingSendTime(MarketingDue{due2, true, absl::Minutes(15), std::nullopt},
                        due2 - kMaxQuietSpan - absl::Minutes(15), ny, late_morning);
  EXPECT_EQ(t.send_after, absl::FromCivil(absl::CivilMinute(2031, 11, 1, 11, 45), ny));
  // The fan-out came after that window closed: suppressed, not sent at
  // 10:00 (after due).
  t = MarketingSendTime(MarketingDue{due2, true, absl::Minutes(15), std::nullopt},
                        absl::FromCivil(absl::CivilMinute(2031, 11, 1, 13, 0), ny), ny, late_morning);
  EXPECT_EQ(t.suppress, NoSendTime::kNoWindowBeforeDue);
}

}  // namespace
}  // namespace care::notification
