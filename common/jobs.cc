#include "common/jobs.h"

#include "absl/time/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/trace.h"

namespace care {
namespace {

// Set by LogJobFailure while a job runs on the runner's thread: the run is
// counted as failed.
thread_local bool run_failed = false;

void CountRun(const std::string& job, bool ok) {
  metrics::JobRuns().Inc({job, ok ? "ok" : "failed"});
  if (ok) metrics::JobLastSuccess().Set({job}, absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
}

}  // namespace

void LogJobFailure(absl::string_view job, const absl::Status& status) {
  run_failed = true;
  LogWarn("job failed; retried at its next run",
          {{"job", job}, {"code", absl::StatusCodeToString(status.code())}, {"error", status.message()}});
}

JobRunner::~JobRunner() { Stop(); }

void JobRunner::Add(std::string name, absl::Duration interval, std::function<bool()> fn, JobScope scope) {
  std::lock_guard lock(mu_);
  jobs_.push_back(Job{std::move(name), interval, std::move(fn), scope});
}

void JobRunner::SetGate(Gate gate, Release release) {
  std::lock_guard lock(mu_);
  gate_ = std::move(gate);
  release_ = std::move(release);
}

bool JobRunner::MayRun(const Job& job) {
  if (job.scope == JobScope::kEveryReplica || !gate_) return true;
  try {
    return gate_(job.name, job.interval);
  } catch (const std::exception& e) {
    LogError("job lease check failed", {{"job", job.name}, {"error", e.what()}});
    return false;
  }
}

void JobRunner::Start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
}

void JobRunner::Kick() {
  {
    std::lock_guard lock(mu_);
    kicked_ = true;
  }
  cv_.notify_all();
}

void JobRunner::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  if (!release_) return;
  for (const Job& job : jobs_) {
    if (job.scope == JobScope::kOneReplica) release_(job.name);
  }
  release_ = nullptr;  // once, whether Stop() runs again or not
}

void JobRunner::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    bool kicked = kicked_;
    kicked_ = false;
    // Jobs run in real time (their cadence), while what they do depends on
    // the injectable clock they were built with.
    absl::Time now = absl::Now();
    absl::Time wake = now + absl::Seconds(1);
    for (auto& job : jobs_) {
      if (kicked || job.next <= now) {
        lock.unlock();
        bool again = false;
        try {
          // Another replica holds the job: wait for the interval, then ask again.
          if (MayRun(job)) {
            JobSpan span(job.name);  // each run is the root of its own trace
            run_failed = false;
            again = job.fn();
            CountRun(job.name, !run_failed);
          }
        } catch (const std::exception& e) {
          LogError("job failed", {{"job", job.name}, {"error", e.what()}});
          CountRun(job.name, false);
        }
        lock.lock();
        job.next = again ? absl::Now() : absl::Now() + job.interval;
        if (stopping_) return;
      }
      wake = std::min(wake, job.next);
    }
    if (kicked_) continue;
    cv_.wait_for(lock, absl::ToChronoNanoseconds(std::max(wake - absl::Now(), absl::ZeroDuration())),
                 [this] { return stopping_ || kicked_; });
  }
}

}  // namespace care
