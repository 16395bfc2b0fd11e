// care_load: drives one scenario against a CareSuite server with N
// connections x M calls in flight for a fixed time, then reports throughput,
// latency percentiles and errors by status code.

#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "bench/scenario.h"
#include "common/config.h"
#include "common/tls.h"

namespace care::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct Options {
  std::string target;
  std::string token;
  bool tls;
  int connections;
  int inflight;
  absl::Duration duration;
  absl::Duration warmup;
  absl::Duration timeout;
  std::string scenario;
  bool json;
  std::string run_id;  // names what setup creates; "" = a random one per run
  bool setup = true;   // false: a previous run with this run_id did it
};

// One call in flight at a time. Only its own completion callback touches it
// while the run lasts (the next call starts from the previous one's
// callback), so it needs no lock; the main thread reads it once all slots
// have stopped.
struct Slot {
  std::unique_ptr<Scenario> scenario;
  std::unique_ptr<grpc::ClientContext> ctx;
  SteadyClock::time_point started;
  std::vector<int64_t> latencies_ns;  // successful calls completed inside the window
  std::array<int64_t, 17> errors{};   // failed calls inside the window, by gRPC code
  int64_t completed = 0;              // every completed call, warm-up included
};

class Runner {
 public:
  explicit Runner(const Options& o) : o_(o), bearer_(absl::StrCat("Bearer ", o.token)) {}

  // Connects, runs the warm-up and the measured window, and waits for the
  // calls still in flight. False if a channel could not connect.
  bool Run(const ScenarioInfo& info, std::string* error) {
    std::random_device random;
    std::string run_id = o_.run_id.empty() ? absl::StrFormat("%08x%08x", random(), random()) : o_.run_id;
    std::vector<std::shared_ptr<grpc::Channel>> channels;
    for (int c = 0; c < o_.connections; ++c) {
      care::PeerTls tls;
      tls.enabled = o_.tls;
      // Balanced over the replicas a target URI names, as the services call each other.
      grpc::ChannelArguments args = care::PeerChannelArguments(tls, "");
      // Each channel gets its own TCP connection: without these, channels
      // with equal arguments share one subchannel, i.e. one connection.
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetInt("care.bench.channel", c);
      auto channel = grpc::CreateCustomChannel(o_.target, care::MakeChannelCredentials(tls), args);
      if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
        *error = absl::StrCat("cannot connect to ", o_.target);
        return false;
      }
      channels.push_back(std::move(channel));
    }
    if (info.setup && o_.setup) {
      absl::Status s = info.setup(ScenarioContext{channels[0], o_.token, run_id, 0});
      if (!s.ok()) {
        *error = absl::StrCat("scenario setup: ", s.ToString());
        return false;
      }
    }
    for (int c = 0; c < o_.connections; ++c) {
      for (int i = 0; i < o_.inflight; ++i) {
        auto slot = std::make_unique<Slot>();
        slot->scenario = info.create(ScenarioContext{channels[c], o_.token, run_id, static_cast<int>(slots_.size())});
        slots_.push_back(std::move(slot));
      }
    }

    cpu_after_setup_ = CpuSeconds();
    auto start = SteadyClock::now();
    window_start_ = start + absl::ToChronoNanoseconds(o_.warmup);
    window_end_ = window_start_ + absl::ToChronoNanoseconds(o_.duration);
    active_ = static_cast<int>(slots_.size());
    for (auto& slot : slots_) Issue(*slot);
    // Every call has a deadline, so the last ones end by window_end + timeout.
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return active_ == 0; });
    return true;
  }

  // Prints the report; false when a call failed or none succeeded.
  bool Report() const {
    std::vector<int64_t> lat;
    std::array<int64_t, 17> errors{};
    int64_t completed = 0;
    for (const auto& slot : slots_) {
      lat.insert(lat.end(), slot->latencies_ns.begin(), slot->latencies_ns.end());
      for (size_t c = 0; c < errors.size(); ++c) errors[c] += slot->errors[c];
      completed += slot->completed;
    }
    std::sort(lat.begin(), lat.end());
    // Nearest-rank percentile, in milliseconds.
    auto pct = [&](double p) {
      if (lat.empty()) return 0.0;
      size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(lat.size()));
      return static_cast<double>(lat[std::min(i, lat.size() - 1)]) / 1e6;
    };
    int64_t ok = static_cast<int64_t>(lat.size());
    int64_t failed = 0;
    std::string by_code_text, by_code_json;
    for (size_t c = 0; c < errors.size(); ++c) {
      if (errors[c] == 0) continue;
      failed += errors[c];
      std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(c));
      absl::StrAppend(&by_code_text, " ", name, "=", errors[c]);
      absl::StrAppend(&by_code_json, by_code_json.empty() ? "" : ",", "\"", name, "\":", errors[c]);
    }
    double seconds = absl::ToDoubleSeconds(o_.duration);
    double rate = static_cast<double>(ok) / seconds;
    // This process's CPU from the end of setup (warm-up included, as in
    // calls_total): on a machine where the load generator shares the cores
    // with the server, what a call costs the client is part of the figures.
    const double cpu_s = CpuSeconds() - cpu_after_setup_;

    // With --json the single JSON line owns stdout, for scripts.
    FILE* text = o_.json ? stderr : stdout;
    std::fprintf(text, "scenario %s -> %s: %d connections x %d in flight, %s measured after %s warm-up\n",
                 o_.scenario.c_str(), o_.target.c_str(), o_.connections, o_.inflight,
                 absl::FormatDuration(o_.duration).c_str(), absl::FormatDuration(o_.warmup).c_str());
    std::fprintf(text, "  throughput  %.0f calls/s (%lld ok)\n", rate, static_cast<long long>(ok));
    std::fprintf(text, "  latency     p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms\n", pct(50), pct(99),
                 pct(99.9), lat.empty() ? 0.0 : static_cast<double>(lat.back()) / 1e6);
    std::fprintf(text, "  errors      %lld%s\n", static_cast<long long>(failed), by_code_text.c_str());
    if (o_.json) {
      std::printf(
          "{\"scenario\":\"%s\",\"target\":\"%s\",\"connections\":%d,\"inflight\":%d,"
          "\"duration_s\":%.3f,\"warmup_s\":%.3f,\"ok\":%lld,\"errors\":%lld,\"calls_per_s\":%.1f,"
          "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,"
          "\"errors_by_code\":{%s},\"calls_total\":%lld,\"cpu_s\":%.3f}\n",
          o_.scenario.c_str(), o_.target.c_str(), o_.connections, o_.inflight, seconds,
          absl::ToDoubleSeconds(o_.warmup), static_cast<long long>(ok), static_cast<long long>(failed), rate, pct(50),
          pct(99), pct(99.9), lat.empty() ? 0.0 : static_cast<double>(lat.back()) / 1e6, by_code_json.c_str(),
          static_cast<long long>(completed), cpu_s);
    }
    std::fflush(stdout);
    return failed == 0 && ok > 0;
  }

 private:
  static double CpuSeconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  }

  // Starts the slot's next call, or retires the slot once the window closed.
  void Issue(Slot& slot) {
    auto now = SteadyClock::now();
    if (now >= window_end_) {
      std::lock_guard lock(mu_);
      if (--active_ == 0) cv_.notify_all();
      return;
    }
    slot.ctx = std::make_unique<grpc::ClientContext>();
    slot.ctx->AddMetadata("authorization", bearer_);
    slot.ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(o_.timeout));
    slot.started = now;
    slot.scenario->Call(slot.ctx.get(), next_call_id_.fetch_add(1, std::memory_order_relaxed),
                        [this, &slot](const grpc::Status& status) { Completed(slot, status); });
  }

  // Counts a call that completed inside the measured window, then goes on.
  void Completed(Slot& slot, const grpc::Status& status) {
    auto now = SteadyClock::now();
    ++slot.completed;
    if (now >= window_start_ && now < window_end_) {
      if (status.ok()) {
        slot.latencies_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(now - slot.started).count());
      } else {
        size_t code = static_cast<size_t>(status.error_code());
        ++slot.errors[code < slot.errors.size() ? code : 2 /* UNKNOWN */];
      }
    }
    Issue(slot);
  }

  Options o_;
  std::string bearer_;
  std::vector<std::unique_ptr<Slot>> slots_;
  SteadyClock::time_point window_start_, window_end_;
  double cpu_after_setup_ = 0;  // CpuSeconds() when the load started
  std::atomic<uint64_t> next_call_id_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  int active_ = 0;
};

int Main(int argc, char** argv) {
  std::string names;
  for (const auto& [name, info] : Scenarios()) absl::StrAppend(&names, "\n  ", name, ": ", info.help);
  ConfigReader config(argc, argv,
                      absl::StrCat("care_load: drives one scenario against a CareSuite server with N "
                                   "connections x M calls in flight and reports throughput, latency "
                                   "percentiles and errors by status code.\nScenarios:",
                                   names));
  Options o;
  o.target = config.String("target", "127.0.0.1:50051",
                           "server address host:port, or a gRPC target URI; several addresses "
                           "(ipv4:127.0.0.1:p1,127.0.0.1:p2) are balanced round-robin");
  o.token = config.String("token", "", "bearer token sent as `authorization: Bearer <token>`");
  o.tls = config.Bool("tls", false, "speak TLS (system roots) instead of plaintext");
  o.connections = static_cast<int>(config.Int("connections", 16, 1, 1024, "channels, each its own TCP connection"));
  o.inflight = static_cast<int>(config.Int("inflight", 8, 1, 4096, "calls in flight per connection"));
  o.duration = config.Duration("duration", absl::Seconds(10), "measured time");
  o.warmup = config.Duration("warmup", absl::Seconds(2), "load before the measured time, not counted");
  o.timeout = config.Duration("timeout", absl::Seconds(5), "deadline of each call");
  o.scenario = config.String("scenario", "ping", "what each call does (see the list above)");
  o.json = config.Bool("json", false, "print one JSON line on stdout (the text report goes to stderr)");
  o.run_id = config.String("run_id", "",
                           "names what the scenario creates (setup data, request ids); a second run with the "
                           "same id against the same server replays the setup instead of adding to it");
  o.setup = config.Bool("setup", true,
                        "run the scenario's setup first; false when a previous run with the same --run_id did");
  auto it = Scenarios().find(o.scenario);
  if (it == Scenarios().end()) config.AddError(absl::StrCat("scenario \"", o.scenario, "\" is not one of:", names));
  if (o.duration <= absl::ZeroDuration()) config.AddError("duration must be positive");
  config.Finish();

  Runner runner(o);
  std::string error;
  if (!runner.Run(it->second, &error)) {
    std::fprintf(stderr, "care_load: %s\n", error.c_str());
    return 2;
  }
  // Non-zero when any call failed, so a script or CI notices.
  return runner.Report() ? 0 : 1;
}

}  // namespace
}  // namespace care::bench

int main(int argc, char** argv) { return care::bench::Main(argc, argv); }
