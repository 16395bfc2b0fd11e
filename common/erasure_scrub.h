#pragma once

// After an erasure, the database files still hold the erased rows' old bytes
// in the write-ahead log until it is checkpointed and truncated
// (Database::Scrub). A reader holding old frames makes that fail
// (UNAVAILABLE, CHECKPOINT_BUSY); the bytes would then stay until some
// unrelated checkpoint. ErasureScrub is the one retry of every service: an
// erasure asks for a scrub, and a job tick retries a failed one with a
// bounded back-off until it succeeds (docs/privacy.md, "Proof on disk").

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/jobs.h"
#include "common/sql.h"

namespace care {

class ErasureScrub final {
 public:
  // Wall time, not the service's clock: a reader's hold on the WAL is real
  // time, and a test's frozen --fake_clock must not stop the retries.
  using Now = std::function<absl::Time()>;
  // The first retry waits this long; each failure doubles it, up to kMaxBackoff.
  static constexpr absl::Duration kFirstBackoff = absl::Seconds(1);
  static constexpr absl::Duration kMaxBackoff = absl::Seconds(60);

  // `scrub` is Database::Scrub as the service wires it; an empty one makes
  // every call a no-op (a store without files to scrub).
  explicit ErasureScrub(
      std::function<absl::Status()> scrub, Now now = [] { return absl::Now(); });

  // After an erasure committed (or, in loyalty, a delivered request's payload
  // was blanked): scrubs now. A failure is logged with `what` (the erasure
  // id) and left to Tick; a pending retry is tried again now and its
  // back-off restarts.
  void Request(absl::string_view what);
  // The job's run: retries a pending scrub once its back-off has passed.
  // Returns false (the job waits for its interval).
  bool Tick();
  // Whether a scrub is still owed.
  bool pending() const;

 private:
  void TryLocked();  // mu_ held

  const std::function<absl::Status()> scrub_;
  const Now now_;
  mutable std::mutex mu_;  // held across a scrub: two never run at once
  bool pending_ = false;
  std::string what_;  // the latest erasure asking
  absl::Duration backoff_ = kFirstBackoff;
  absl::Time next_try_ = absl::InfinitePast();
  int failures_ = 0;
};

// The scrub of a service's database (Database::Scrub), with its retry job
// "<service>.erasure_scrub" (every second, every replica) added to `jobs`.
std::unique_ptr<ErasureScrub> StartErasureScrub(Database& db, JobRunner& jobs, absl::string_view service);

}  // namespace care
