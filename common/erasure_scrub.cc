#include "common/erasure_scrub.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace care {

ErasureScrub::ErasureScrub(std::function<absl::Status()> scrub, Now now)
    : scrub_(std::move(scrub)), now_(std::move(now)) {}

void ErasureScrub::Request(absl::string_view what) {
  if (!scrub_) return;
  std::lock_guard lock(mu_);
  pending_ = true;
  what_ = std::string(what);
  backoff_ = kFirstBackoff;
  TryLocked();
}

bool ErasureScrub::Tick() {
  if (!scrub_) return false;
  std::lock_guard lock(mu_);
  if (pending_ && now_() >= next_try_) TryLocked();
  return false;
}

bool ErasureScrub::pending() const {
  std::lock_guard lock(mu_);
  return pending_;
}

void ErasureScrub::TryLocked() {
  absl::Status s = scrub_();
  if (s.ok()) {
    if (failures_ > 0)
      LogInfo("erasure: the database files are scrubbed", {{"erasure", what_}, {"failures", failures_}});
    pending_ = false;
    failures_ = 0;
    return;
  }
  ++failures_;
  next_try_ = now_() + backoff_;
  // One line per failed try: at most one per back-off period.
  LogWarn("erasure: scrubbing the database files failed; retried",
          {{"erasure", what_},
           {"failures", failures_},
           {"retry_in_ms", absl::ToInt64Milliseconds(backoff_)},
           {"error", s.ToString()}});
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
}

std::unique_ptr<ErasureScrub> StartErasureScrub(Database& db, JobRunner& jobs, absl::string_view service) {
  auto scrub = std::make_unique<ErasureScrub>([&db] { return db.Scrub(); });
  jobs.Add(
      absl::StrCat(service, ".erasure_scrub"), absl::Seconds(1), [s = scrub.get()] { return s->Tick(); },
      JobScope::kEveryReplica);
  return scrub;
}

}  // namespace care
