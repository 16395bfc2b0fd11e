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
    queue_.push_back(std::move(task));
    QueueDepth().Set(static_cast<double>(queue_.size()));
  }
  cv_.notify_one();
  return true;
}

void WorkPool::Loop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
      QueueDepth().Set(static_cast<double>(queue_.size()));
    }
    task();
  }
}

}  // namespace care
