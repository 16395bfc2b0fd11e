#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/trace.h"

namespace care {

// A fixed set of threads with a bounded queue. Blocking work (SQLite, Redis)
// runs here, never on gRPC's callback threads; a full queue is refused at
// once so overload turns into RESOURCE_EXHAUSTED instead of unbounded latency.
class WorkPool final {
 public:
  WorkPool(int threads, size_t max_queue);
  ~WorkPool();  // Runs what is queued, then joins.
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // False when the queue is full or the pool is stopping.
  bool TrySubmit(std::function<void()> task);
  int threads() const { return static_cast<int>(workers_.size()); }

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  // A task runs in the trace context it was submitted from (if any), so
  // work handed on by a handler logs under the handler's span.
  struct Task {
    std::function<void()> fn;
    std::optional<TraceContext> trace;
  };
  std::deque<Task> queue_;
  size_t max_queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace care
