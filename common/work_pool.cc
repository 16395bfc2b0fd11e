#include "common/work_pool.h"

#include "common/metrics.h"

namespace care {
namespace {

metrics::GaugeCell& QueueDepth() {
  static auto& cell = metrics::WorkPoolQueueDepth().With({});
  return cell;
}

}  // namespace

WorkPool::WorkPool(int threads, size_t max_queue) : max_queue_(max_queue) {
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Loop(); });
}

WorkPool::~WorkPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

bool WorkPool::TrySubmit(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= max_queue_) {
      static auto& rejected = metrics::WorkPoolRejected().With({});
      rejected.Inc();
      return false;
    }
    const TraceContext* trace = CurrentTrace();
    queue_.push_back(Task{std::move(task), trace ? std::optional<TraceContext>(*trace) : std::nullopt});
    QueueDepth().Set(static_cast<double>(queue_.size()));
  }
  cv_.notify_one();
  return true;
}

void WorkPool::Loop() {
  for (;;) {
    Task task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
      QueueDepth().Set(static_cast<double>(queue_.size()));
    }
    if (task.trace) {
      TraceScope scope(*task.trace);
      task.fn();
    } else {
      task.fn();
    }
  }
}

}  // namespace care
