#include "common/clock.h"

namespace care {
namespace {

std::atomic<const Clock*> record_clock{nullptr};

}  // namespace

const Clock& RecordClock() {
  static const SystemClock system;
  const Clock* c = record_clock.load();
  return c != nullptr ? *c : system;
}

void SetRecordClock(const Clock* clock) { record_clock.store(clock); }

bool ManualClock::Set(absl::Time t) {
  int64_t want = absl::ToUnixNanos(t);
  int64_t cur = now_.load();
  while (want >= cur) {
    if (now_.compare_exchange_weak(cur, want)) return true;
  }
  return false;
}

void ManualClock::Advance(absl::Duration d) {
  if (d > absl::ZeroDuration()) now_.fetch_add(absl::ToInt64Nanoseconds(d));
}

}  // namespace care
