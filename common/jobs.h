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
// is never silent.
void LogJobFailure(absl::string_view job, const absl::Status& status);

// Runs background jobs (outbox relays, expiry, SLA checks...) each on its own
// cadence, on one thread. Kick() runs them all at once: the fake clock calls
// it after moving time, so a test sees the effect of a jump immediately.
class JobRunner final {
 public:
  JobRunner() = default;
  ~JobRunner();  // Stop()s.

  // `fn` returns true when it did work and wants to run again right away
  // (a backlog), false to wait for its interval.
  void Add(std::string name, absl::Duration interval, std::function<bool()> fn);
  void Start();
  void Kick();
  void Stop();

 private:
  struct Job {
    std::string name;
    absl::Duration interval;
    std::function<bool()> fn;
    absl::Time next = absl::InfinitePast();
  };
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::list<Job> jobs_;  // a list: Add() never moves a running job
  bool kicked_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace care
