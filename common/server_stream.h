#pragma once

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/errors.h"
#include "common/rpc.h"
#include "google/protobuf/message.h"

namespace care {

template <typename Response>
class BatchedWriter;

// Lets code outside a live feed end the feed's idle pause early, e.g. when
// something it may want was committed, so an idle feed need not poll.
// Shared between the writer and whoever wakes it: it outlives the writer,
// and Wake() does nothing once the call is done.
class FeedWaker final {
 public:
  // Thread-safe; cheap when the feed is busy (it re-reads once after).
  void Wake() {
    std::lock_guard lock(mu_);
    if (wake_) wake_();
  }

 private:
  template <typename Response>
  friend class BatchedWriter;
  void Attach(std::function<void()> wake) {
    std::lock_guard lock(mu_);
    wake_ = std::move(wake);
  }
  // Waits for a Wake() under way, so the writer outlives it.
  void Detach() {
    std::lock_guard lock(mu_);
    wake_ = nullptr;
  }

  std::mutex mu_;
  std::function<void()> wake_;
};

// A server-streaming call answered in batches, for results too large to hold
// in memory (e.g. an audience of a million members). `fetch` runs on the
// work pool (it may block on the database) and is called again only after
// every message of the previous batch was written, so at most one batch is
// in memory and a slow reader slows the reads (gRPC flow control) instead of
// filling memory. Authentication, authorization, status mapping and the log
// line are the same as for unary calls (RpcRuntime::Begin/End).
//
// Usage, in a callback service:
//   return new BatchedWriter<Member>(rpc_, ctx, *request, [=, cursor = std::string()](
//       const Caller& caller) mutable -> absl::StatusOr<BatchedWriter<Member>::Batch> { ... });
template <typename Response>
class BatchedWriter final : public grpc::ServerWriteReactor<Response> {
 public:
  struct Batch {
    std::vector<Response> items;
    bool last = false;  // no more batches after this one
    // A live feed with nothing new: fetch again after this pause, holding
    // no thread meanwhile (a gRPC alarm); zero = at once.
    absl::Duration idle = absl::ZeroDuration();
  };
  // Called repeatedly until it returns a batch marked `last` or an error;
  // it keeps its own cursor.
  using Fetch = std::function<absl::StatusOr<Batch>(const Caller&)>;

  // With a `waker`, the feed's idle pauses also end when it is woken (see
  // FeedWaker), so they can be long.
  BatchedWriter(RpcRuntime& rpc, grpc::CallbackServerContext* ctx, const google::protobuf::Message& request,
                Fetch fetch, std::shared_ptr<FeedWaker> waker = nullptr)
      : rpc_(rpc), ctx_(ctx), fetch_(std::move(fetch)), waker_(std::move(waker)) {
    if (waker_) waker_->Attach([this] { Wake(); });
    call_ = rpc_.Begin(ctx, request);
    Step step;
    {
      std::lock_guard lock(mu_);
      if (call_.status.ok()) {
        fetching_ = true;
        step.fetch = true;
      } else {
        step = FinishLocked(call_.status);
      }
    }
    Run(step);
  }

  void OnWriteDone(bool ok) override {
    Step step;
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      if (ok) RpcRuntime::StreamMessageSent(call_);
      if (finished_) return;
      step = ok && !cancelled_ && !ctx_->IsCancelled() ? AdvanceLocked()
                                                       : FinishLocked(absl::CancelledError("the client went away"));
    }
    Run(step);
  }

  void OnCancel() override {
    Step step;
    grpc::Alarm* alarm = nullptr;
    {
      std::lock_guard lock(mu_);
      cancelled_ = true;
      // A write in flight completes with ok=false and a fetch in flight
      // sees the flag when it returns: each finishes the call then; a
      // pending alarm is cut short and does the same.
      if (idling_) {
        alarm = alarm_.get();
      } else {
        if (writing_ || fetching_ || finished_) return;
        step = FinishLocked(absl::CancelledError("the client went away"));
      }
    }
    if (alarm != nullptr) {
      alarm->Cancel();
      return;
    }
    Run(step);
  }

  void OnDone() override {
    if (waker_) waker_->Detach();
    rpc_.Done(call_);
    delete this;
  }

 private:
  // What to do once the lock is released. gRPC operations are started
  // outside the lock, and each is the last thing that touches `this`: the
  // reaction it triggers may run (and OnDone delete us) at once.
  struct Step {
    const Response* write = nullptr;
    bool fetch = false;
    grpc::Alarm* alarm = nullptr;  // set: wait on it before fetching
    absl::Duration idle = absl::ZeroDuration();
    bool finish = false;
    grpc::Status status;
  };

  Step FinishLocked(const absl::Status& status) {
    Step step;
    finished_ = true;
    step.finish = true;
    step.status = rpc_.End(call_, status);
    return step;
  }

  Step AdvanceLocked() {
    Step step;
    if (next_ < batch_.items.size()) {
      writing_ = true;
      step.write = &batch_.items[next_++];
    } else if (batch_.last) {
      step = FinishLocked(absl::OkStatus());
    } else if (waker_ && rpc_.draining()) {
      // A woken feed may skip its pause (wake_pending_): end here instead.
      step = FinishLocked(Unavailable("SHUTTING_DOWN", "the server is shutting down; resume with the last cursor"));
    } else {
      step.idle = batch_.items.empty() ? batch_.idle : absl::ZeroDuration();
      batch_.items.clear();
      // Woken while it read or wrote: what woke it may not be in this batch.
      if (wake_pending_) step.idle = absl::ZeroDuration();
      if (step.idle > absl::ZeroDuration()) {
        idling_ = true;
        armed_ = false;
        alarm_ = std::make_unique<grpc::Alarm>();
        step.alarm = alarm_.get();
      } else {
        fetching_ = true;
        wake_pending_ = false;
      }
      step.fetch = true;
    }
    return step;
  }

  // FeedWaker's target: ends an armed idle pause now; otherwise the next
  // pause ends at once (so a change committed during a read is not left
  // waiting for the fallback poll).
  void Wake() {
    std::lock_guard lock(mu_);
    if (finished_) return;
    if (idling_ && armed_) {
      alarm_->Cancel();  // see Run: safe under the lock
    } else {
      wake_pending_ = true;
    }
  }

  void Run(const Step& step) {
    if (step.write != nullptr) {
      this->StartWrite(step.write);
    } else if (step.finish) {
      this->Finish(step.status);
    } else if (step.alarm != nullptr) {
      // Armed under the lock so that a Wake() or OnCancel() that came in
      // since AdvanceLocked is not lost. gRPC (1.51) runs an alarm's
      // callback on its executor, never inside Set or Cancel, so holding
      // mu_ here cannot deadlock with Woken; and until the alarm fires
      // nothing can finish the call, so `this` is alive.
      std::lock_guard lock(mu_);
      step.alarm->Set(std::chrono::system_clock::now() + absl::ToChronoMicroseconds(step.idle),
                      [this](bool) { Woken(); });
      armed_ = true;
      if (cancelled_ || wake_pending_) step.alarm->Cancel();
    } else if (step.fetch) {
      if (!rpc_.pool()->TrySubmit([this] {
            TraceScope trace(call_.trace);
            Fetched(fetch_(call_.caller));
          })) {
        Step refused;
        {
          std::lock_guard lock(mu_);
          fetching_ = false;
          refused = FinishLocked(RpcRuntime::Overloaded());
        }
        Run(refused);
      }
    }
  }

  // The idle pause ended (or OnCancel cut it short).
  void Woken() {
    Step step;
    {
      std::lock_guard lock(mu_);
      idling_ = false;
      armed_ = false;
      if (cancelled_ || ctx_->IsCancelled()) {
        step = FinishLocked(absl::CancelledError("the client went away"));
      } else if (rpc_.draining()) {
        step = FinishLocked(Unavailable("SHUTTING_DOWN", "the server is shutting down; resume with the last cursor"));
      } else {
        fetching_ = true;
        wake_pending_ = false;
        step.fetch = true;
      }
    }
    Run(step);
  }

  void Fetched(absl::StatusOr<Batch> batch) {
    Step step;
    {
      std::lock_guard lock(mu_);
      fetching_ = false;
      if (cancelled_ || ctx_->IsCancelled()) {
        step = FinishLocked(absl::CancelledError("the client went away"));
      } else if (!batch.ok()) {
        step = FinishLocked(batch.status());
      } else {
        batch_ = std::move(*batch);
        next_ = 0;
        step = AdvanceLocked();
      }
    }
    Run(step);
  }

  RpcRuntime& rpc_;
  grpc::CallbackServerContext* ctx_;
  Fetch fetch_;
  std::shared_ptr<FeedWaker> waker_;
  RpcRuntime::Call call_;
  std::mutex mu_;
  Batch batch_;
  size_t next_ = 0;
  std::unique_ptr<grpc::Alarm> alarm_;  // the current idle pause
  bool fetching_ = false;
  bool idling_ = false;
  bool armed_ = false;         // idling_ and its alarm is set
  bool wake_pending_ = false;  // woken since the last read started
  bool writing_ = false;
  bool cancelled_ = false;
  bool finished_ = false;
};

}  // namespace care
