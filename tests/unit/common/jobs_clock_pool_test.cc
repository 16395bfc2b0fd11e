// common/jobs.h, common/clock.h and common/work_pool.h.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/jobs.h"
#include "common/work_pool.h"

namespace care {
namespace {

template <typename Fn>
bool Eventually(Fn fn, absl::Duration timeout = absl::Seconds(5)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (fn()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return fn();
}

// --- JobRunner ----------------------------------------------------------------

TEST(JobRunnerTest, RunsEachJobAtStart) {
  JobRunner jobs;
  std::atomic<int> a{0}, b{0};
  jobs.Add("a", absl::Hours(1), [&] {
    ++a;
    return false;
  });
  jobs.Add("b", absl::Hours(1), [&] {
    ++b;
    return false;
  });
  jobs.Start();
  EXPECT_TRUE(Eventually([&] { return a.load() == 1 && b.load() == 1; }));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(a.load(), 1) << "a job ran again before its interval";
}

TEST(JobRunnerTest, KickRunsJobsAtOnce) {
  JobRunner jobs;
  std::atomic<int> runs{0};
  jobs.Add("hourly", absl::Hours(1), [&] {
    ++runs;
    return false;
  });
  jobs.Start();
  ASSERT_TRUE(Eventually([&] { return runs.load() == 1; }));
  for (int expected = 2; expected <= 4; ++expected) {
    absl::Time start = absl::Now();
    jobs.Kick();
    ASSERT_TRUE(Eventually([&] { return runs.load() >= expected; }, absl::Seconds(2)))
        << "Kick did not run an hourly job";
    EXPECT_LT(absl::Now() - start, absl::Milliseconds(500));
  }
}

TEST(JobRunnerTest, RepeatsOnItsInterval) {
  JobRunner jobs;
  std::atomic<int> runs{0};
  jobs.Add("fast", absl::Milliseconds(20), [&] {
    ++runs;
    return false;
  });
  jobs.Start();
  EXPECT_TRUE(Eventually([&] { return runs.load() >= 5; }, absl::Seconds(3)));
}

TEST(JobRunnerTest, BacklogRunsAgainRightAway) {
  JobRunner jobs;
  std::atomic<int> runs{0};
  // Returns true (more work) nine times, then waits an hour.
  jobs.Add("drain", absl::Hours(1), [&] { return ++runs < 10; });
  jobs.Start();
  EXPECT_TRUE(Eventually([&] { return runs.load() == 10; }, absl::Seconds(2)));
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(runs.load(), 10);
}

TEST(JobRunnerTest, AJobThatThrowsDoesNotStopTheOthers) {
  JobRunner jobs;
  std::atomic<int> runs{0};
  jobs.Add("throws", absl::Milliseconds(10), []() -> bool { throw std::runtime_error("boom"); });
  jobs.Add("counts", absl::Milliseconds(10), [&] {
    ++runs;
    return false;
  });
  jobs.Start();
  EXPECT_TRUE(Eventually([&] { return runs.load() >= 3; }));
}

TEST(JobRunnerTest, StopWaitsForARunningJobAndStopsRunning) {
  std::atomic<int> runs{0};
  std::atomic<bool> in_job{false};
  {
    JobRunner jobs;
    jobs.Add("slow", absl::Milliseconds(1), [&] {
      in_job = true;
      absl::SleepFor(absl::Milliseconds(50));
      ++runs;
      in_job = false;
      return false;
    });
    jobs.Start();
    ASSERT_TRUE(Eventually([&] { return in_job.load(); }));
    jobs.Stop();
    EXPECT_FALSE(in_job.load()) << "Stop returned while a job was running";
  }
  int after = runs.load();
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(runs.load(), after);
}

// --- Clock ------------------------------------------------------------------

TEST(ManualClockTest, MovesOnlyWhenTold) {
  absl::Time t0 = absl::FromUnixSeconds(1700000000);
  ManualClock clock(t0);
  EXPECT_EQ(clock.Now(), t0);
  absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(clock.Now(), t0);
  clock.Advance(absl::Hours(72));
  EXPECT_EQ(clock.Now(), t0 + absl::Hours(72));
  EXPECT_TRUE(clock.Set(t0 + absl::Hours(100)));
  EXPECT_EQ(clock.Now(), t0 + absl::Hours(100));
  EXPECT_TRUE(clock.Set(t0 + absl::Hours(100))) << "setting the current time is allowed";
}

TEST(ManualClockTest, NeverGoesBackwards) {
  absl::Time t0 = absl::FromUnixSeconds(1700000000);
  ManualClock clock(t0);
  EXPECT_FALSE(clock.Set(t0 - absl::Nanoseconds(1)));
  EXPECT_EQ(clock.Now(), t0);
  clock.Advance(-absl::Hours(1));
  EXPECT_EQ(clock.Now(), t0);
  clock.Advance(absl::ZeroDuration());
  EXPECT_EQ(clock.Now(), t0);
}

TEST(ManualClockTest, ConcurrentMovesNeverGoBackwards) {
  absl::Time t0 = absl::FromUnixSeconds(1700000000);
  ManualClock clock(t0);
  std::atomic<bool> done{false};
  std::atomic<int> backwards{0};
  std::thread observer([&] {
    absl::Time last = clock.Now();
    while (!done.load()) {
      absl::Time now = clock.Now();
      if (now < last) backwards++;
      last = now;
    }
  });
  std::vector<std::thread> movers;
  for (int t = 0; t < 4; ++t) {
    movers.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        // Some targets are in the past by the time they are applied.
        clock.Set(t0 + absl::Seconds((i * 7 + t * 13) % 5000));
        clock.Advance(absl::Milliseconds(1));
      }
    });
  }
  for (auto& m : movers) m.join();
  done = true;
  observer.join();
  EXPECT_EQ(backwards.load(), 0);
}

TEST(SystemClockTest, FollowsTheWallClock) {
  SystemClock clock;
  absl::Duration skew = clock.Now() - absl::Now();
  EXPECT_LT(absl::AbsDuration(skew), absl::Seconds(1));
}

// --- WorkPool -----------------------------------------------------------------

TEST(WorkPoolTest, RunsSubmittedTasks) {
  std::atomic<int> ran{0};
  {
    WorkPool pool(4, 1000);
    EXPECT_EQ(pool.threads(), 4);
    for (int i = 0; i < 500; ++i) ASSERT_TRUE(pool.TrySubmit([&] { ++ran; }));
  }  // the destructor runs what is queued
  EXPECT_EQ(ran.load(), 500);
}

TEST(WorkPoolTest, FullQueueIsRefusedAtOnce) {
  absl::Notification started, release;
  std::atomic<int> ran{0};
  WorkPool pool(1, 2);  // after what its tasks use: destroyed (joined) first
  ASSERT_TRUE(pool.TrySubmit([&] {
    started.Notify();
    release.WaitForNotification();
    ++ran;
  }));
  started.WaitForNotification();  // the only thread is busy; the queue is empty
  EXPECT_TRUE(pool.TrySubmit([&] { ++ran; }));
  EXPECT_TRUE(pool.TrySubmit([&] { ++ran; }));
  absl::Time start = absl::Now();
  EXPECT_FALSE(pool.TrySubmit([&] { ++ran; })) << "a full queue accepted a task";
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(100)) << "TrySubmit blocked";
  release.Notify();
  ASSERT_TRUE(Eventually([&] { return ran.load() == 3; }));
  // Room again once the queue drained.
  EXPECT_TRUE(pool.TrySubmit([&] { ++ran; }));
  EXPECT_TRUE(Eventually([&] { return ran.load() == 4; }));
}

TEST(WorkPoolTest, TasksRunConcurrently) {
  std::atomic<int> inside{0}, peak{0};
  absl::Notification release;
  // Declared after what its tasks use, so it joins them before those go out
  // of scope (ASan: stack-use-after-scope on `inside` otherwise).
  WorkPool pool(4, 16);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(pool.TrySubmit([&] {
      int now = ++inside;
      int p = peak.load();
      while (now > p && !peak.compare_exchange_weak(p, now)) {
      }
      release.WaitForNotificationWithTimeout(absl::Seconds(5));
      --inside;
    }));
  }
  EXPECT_TRUE(Eventually([&] { return peak.load() == 4; }));
  release.Notify();
}

}  // namespace
}  // namespace care
