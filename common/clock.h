#pragma once

#include <atomic>
#include <memory>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace care {

// The only source of "now" for time-dependent logic, so tests can move time
// instead of waiting for it.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

// A clock that moves only when told; never goes backwards.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(absl::Time start) : now_(absl::ToUnixNanos(start)) {}
  absl::Time Now() const override { return absl::FromUnixNanos(now_.load()); }
  // Returns false (and changes nothing) if `t` lies before the current time.
  bool Set(absl::Time t);
  void Advance(absl::Duration d);

 private:
  std::atomic<int64_t> now_;
};

// The clock that dates records kept only for a retention (idempotency
// records, delivered outbox events) and ages them: the process's clock once
// ServerRunner sets it, so a test that moves a fake clock ages them too (a
// wall-clock stamp would look years old to a clock set ahead); the system
// clock until then. `clock` must outlive its use; nullptr restores the
// system clock.
const Clock& RecordClock();
void SetRecordClock(const Clock* clock);

}  // namespace care
