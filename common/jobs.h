#pragma once

#include <condition_variable>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace care {

// How every job reports a failed run: one JSON line (warn) with the job, the
// status code and its message. The job is retried at its next run; a failure
// is never silent. Called from the job's own run (the runner's thread), it
// also makes the run count as failed in care_job_runs_total, and not as a
// success in care_job_last_success_timestamp_seconds.
void LogJobFailure(absl::string_view job, const absl::Status& status);

// Where a job runs when several replicas share a database.
enum class JobScope {
  kOneReplica,    // one replica at a time: the holder of the job's lease
  kEveryReplica,  // every replica (it shares its work itself, or is local)
};

// Runs background jobs (outbox relays, expiry, SLA checks...) each on its own
// cadence, on one thread, counting each run (care_job_runs_total{care_job,
// result}) and its last success (care_job_last_success_timestamp_seconds):
// a run fails when it throws or calls LogJobFailure. Kick() runs them all at once: the fake clock calls
// it after moving time, so a test sees the effect of a jump immediately.
class JobRunner final {
 public:
  // Whether this replica may run the kOneReplica job `name` (run every
  // `interval`) now: it holds or just took the job's lease. Unset: every job
  // runs (one process per database, as on SQLite).
  using Gate = std::function<bool(const std::string& name, absl::Duration interval)>;
  // Gives up what the gate took (at Stop), so another replica takes over
  // without waiting for expiry.
  using Release = std::function<void(const std::string& name)>;

  JobRunner() = default;
  ~JobRunner();  // Stop()s.

  // `fn` returns true when it did work and wants to run again right away
  // (a backlog), false to wait for its interval.
  void Add(std::string name, absl::Duration interval, std::function<bool()> fn, JobScope scope = JobScope::kOneReplica);
  // Before Start().
  void SetGate(Gate gate, Release release);
  void Start();
  void Kick();
  void Stop();

 private:
  struct Job {
    std::string name;
    absl::Duration interval;
    std::function<bool()> fn;
    JobScope scope;
    absl::Time next = absl::InfinitePast();
  };
  bool MayRun(const Job& job);
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::list<Job> jobs_;  // a list: Add() never moves a running job
  Gate gate_;
  Release release_;
  bool kicked_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace care
