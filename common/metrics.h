#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

// Prometheus metrics: a small process-wide registry of counter, gauge and
// histogram families with labels, rendered in the text exposition format
// 0.0.4 and served over HTTP (`--metrics_port`).
//
// Hot paths (every RPC) touch only atomics: a family's cells are found once
// (`With(...)`, a shared lock and a hash lookup) and may be kept; `Inc({..})`
// does the lookup each time and is fine for anything not on every call.
//
//   auto& deliveries = care::metrics::Registry::Global().Counter(
//       "care_notification_deliveries_total", "Deliveries by channel and status",
//       {"channel", "status"});
//   deliveries.Inc({"IN_APP", "SENT"});
//
// Each family is declared once, by its owner: the runtime's in the catalog
// at the end of this file, a service's in its own prometheus.h (added with
// AddToCatalog). The Grafana dashboard test checks its expressions against
// their union.
namespace care::metrics {

using Labels = std::initializer_list<absl::string_view>;

class CounterCell final {
 public:
  void Inc(double v = 1) { value_.fetch_add(v, std::memory_order_relaxed); }
  // For a counter kept elsewhere and read at scrape time (the process's CPU
  // seconds from /proc): the source is monotonic, so the counter stays so.
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class GaugeCell final {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class HistogramCell final {
 public:
  explicit HistogramCell(const std::vector<double>* bounds);
  void Observe(double v);
  // Cumulative counts per bound (the last is +Inf), sum and count.
  std::vector<uint64_t> Cumulative() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  const std::vector<double>* bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_->size() + 1 (+Inf)
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

enum class Type { kCounter, kGauge, kHistogram };

// A named family: one cell per combination of label values.
class Family {
 public:
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
         std::vector<double> bounds);
  virtual ~Family() = default;
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  Type type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Appends this family in the text format (HELP, TYPE, one line per sample);
  // `constant` (`a="x"`, already escaped) goes first in every label set.
  void Render(std::string* out, absl::string_view constant = "") const;

 protected:
  struct Cell {
    std::vector<std::string> values;
    CounterCell counter;
    GaugeCell gauge;
    std::unique_ptr<HistogramCell> histogram;
  };
  // The cell for these label values, created on first use. Aborts when the
  // number of values differs from the number of label names (a programming
  // error, found by the first test that reaches the call).
  Cell& Find(Labels values);

 private:
  std::string name_, help_;
  Type type_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Cell>> cells_;  // key: values joined by \xff
};

class Counter final : public Family {
 public:
  using Family::Family;
  CounterCell& With(Labels values) { return Find(values).counter; }
  void Inc(Labels values, double v = 1) { With(values).Inc(v); }
};

class Gauge final : public Family {
 public:
  using Family::Family;
  GaugeCell& With(Labels values) { return Find(values).gauge; }
  void Set(Labels values, double v) { With(values).Set(v); }
};

class Histogram final : public Family {
 public:
  using Family::Family;
  HistogramCell& With(Labels values) { return *Find(values).histogram; }
  void Observe(Labels values, double v) { With(values).Observe(v); }
};

// Latency buckets in seconds, 0.5 ms .. 10 s.
const std::vector<double>& LatencyBuckets();
// Stream lifetimes in seconds, 10 ms .. 4 h (a live feed stays open for hours).
const std::vector<double>& StreamDurationBuckets();

class Registry final {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The process-wide registry the HTTP endpoint serves.
  static Registry& Global();

  // Returns the family `name`, creating it on first use. Asking again with
  // the same name returns the same family; a different type or label set is
  // a programming error and aborts.
  metrics::Counter& Counter(absl::string_view name, absl::string_view help, Labels label_names = {});
  metrics::Gauge& Gauge(absl::string_view name, absl::string_view help, Labels label_names = {});
  metrics::Histogram& Histogram(absl::string_view name, absl::string_view help, Labels label_names,
                                const std::vector<double>& bounds = LatencyBuckets());

  // Runs `refresh` before every rendering (for gauges that are cheaper to
  // read at scrape time, like an outbox backlog). Unregistered when the
  // returned handle goes away; that waits for a refresh in progress.
  class Collector final {
   public:
    Collector(Registry* registry, int id) : registry_(registry), id_(id) {}
    ~Collector();
    Collector(const Collector&) = delete;
    Collector& operator=(const Collector&) = delete;

   private:
    Registry* registry_;
    int id_;
  };
  std::unique_ptr<Collector> OnCollect(std::function<void()> refresh);

  // A label every sample of this registry carries, first: the process's own
  // identity (care_service="loyalty"). Prometheus renames a metric's label
  // that collides with a target label (job, instance, service, pod...) and
  // each way of scraping sets other target labels, so dashboards and alerts
  // select by this one. Set at start-up; no family may declare the name
  // (a programming error: aborts), and setting it again replaces the value.
  void SetConstantLabel(absl::string_view name, absl::string_view value);

  // Every family in the text exposition format 0.0.4, sorted by name.
  std::string Render();
  std::vector<std::string> Names() const;

 private:
  Family& Get(absl::string_view name, absl::string_view help, Type type, Labels label_names,
              const std::vector<double>& bounds);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_;
  std::vector<std::pair<std::string, std::string>> constant_;  // name, value
  std::mutex collect_mu_;                                      // held while refreshers run, and to unregister one
  std::map<int, std::function<void()>> collectors_;
  int next_collector_ = 0;
};

// Serves GET /metrics (the Global registry) on its own port, one request at a
// time on one thread: Prometheus scrapes every few seconds, nothing more.
class HttpExporter final {
 public:
  ~HttpExporter();  // Stops serving.
  // Listens on host:port (0 picks a free port). `host` is an IPv4 or IPv6
  // literal (brackets allowed: "[::1]"); a wildcard ("::" or "0.0.0.0")
  // listens on every address of both stacks, as gRPC does, or on IPv4 alone
  // where the host has no IPv6.
  static absl::StatusOr<std::unique_ptr<HttpExporter>> Start(const std::string& host, int port,
                                                             Registry* registry = &Registry::Global());
  int port() const { return port_; }

 private:
  HttpExporter(int fd, int port, Registry* registry);
  void Loop();
  void Serve(int client);

  int fd_;
  int port_;
  Registry* registry_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// ---------------------------------------------------------------------------
// The runtime's catalog: the families every binary exports. Defined on first
// use and declared by DeclareAll() at start-up, so a scrape lists them all
// (with HELP and TYPE) even before their first sample, and dashboards can
// bind to them. Services add their own (AddToCatalog).

// Every family below also carries care_service (the process's constant
// label, set by ServerRunner). `method` is the gRPC method's full name,
// "/care.loyalty.v1.LoyaltyService/GetTier", as in the log lines.
//
// care_rpc_calls_total{method,code}: finished unary calls.
metrics::Counter& RpcCalls();
// care_rpc_latency_seconds{method}: time from arrival to answer (unary only).
metrics::Histogram& RpcLatency();
// care_rpc_in_flight: unary calls being served now.
metrics::Gauge& RpcInFlight();
// care_rpc_stream_calls_total{method,code}: finished server-streaming calls.
metrics::Counter& RpcStreamCalls();
// care_rpc_stream_duration_seconds{method}: a stream's life, arrival to end.
metrics::Histogram& RpcStreamDuration();
// care_rpc_stream_messages_sent_total{method}: messages written to streams.
metrics::Counter& RpcStreamMessagesSent();
// care_rpc_streams_open: server streams open now.
metrics::Gauge& RpcStreamsOpen();
// care_build_info{version,commit} 1: what this binary was built from.
metrics::Gauge& BuildInfo();
// care_job_runs_total{care_job,result=ok|failed}: background job runs on
// this replica (a job another replica holds the lease of does not run).
metrics::Counter& JobRuns();
// care_job_last_success_timestamp_seconds{care_job}: Unix time of the job's
// last successful run on this replica (none before the first).
metrics::Gauge& JobLastSuccess();
// process_cpu_seconds_total, process_resident_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds: the
// Prometheus client conventions, read from /proc/self at scrape time.
void DeclareProcessMetrics();
// care_outbox_backlog{}: events not yet delivered (read at scrape time).
metrics::Gauge& OutboxBacklog();
// Seconds the oldest undelivered (not dead) outbox event has waited; 0 when
// none waits.
metrics::Gauge& OutboxOldestPendingAge();
// care_outbox_deliveries_total{destination,result=delivered|retry|dead}.
metrics::Counter& OutboxDeliveries();
// care_outbox_dead{}: events refused for good by their receiver, waiting for
// an admin to replay them (read at scrape time).
metrics::Gauge& OutboxDead();
// care_work_pool_queue_depth: tasks waiting for a work-pool thread.
metrics::Gauge& WorkPoolQueueDepth();
// care_work_pool_rejected_total: tasks refused because the queue was full.
metrics::Counter& WorkPoolRejected();
// care_sql_statements_cached: statements kept prepared by every
// connection of the process (bounded per connection).
metrics::Gauge& SqlStatementsCached();
// care_sql_conflict_retries_total{outcome=retried|exhausted}: PostgreSQL write
// transactions run again after losing a serialization conflict, and those
// that lost every attempt (answered ABORTED).
metrics::Counter& SqlConflictRetries();
// care_retention_purged_total{table=idempotency|outbox}: expired idempotency
// records and delivered outbox events deleted by the retention purge.
metrics::Counter& RetentionPurged();

// A component's own families (a service's, the tier cache's) are declared
// by the component, in one function that defines each of them; main() adds
// it here before Run(), and DeclareAll() then declares them with the
// runtime's, so a scrape lists them before their first sample. The catalog
// of a binary is the runtime's plus what it added.
void AddToCatalog(void (*declare)());

// Declares every catalog family (the runtime's and the added ones) in the
// Global registry.
void DeclareAll();

}  // namespace care::metrics
