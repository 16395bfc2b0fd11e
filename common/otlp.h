#pragma once

// Exports finished spans to an OpenTelemetry collector over OTLP/HTTP with
// the JSON encoding (POST <endpoint>/v1/traces, an ExportTraceServiceRequest),
// from one background thread, in batches. opentelemetry-cpp is not packaged
// for Debian 12; this is the part of it the suite needs, on libcurl.
//
// Spans wait in a bounded queue: when the collector is slow or gone, spans
// beyond it are dropped and counted (care_trace_spans_dropped_total), so a
// call never waits on tracing and memory stays bounded.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/trace.h"

namespace care {

// Checks an --otlp_endpoint: an absolute http or https URL with a host, no
// user info, query or fragment. The collector is a destination the operator
// names on the command line (like a peer address), not one from data, so
// the exporter's egress policy (common/egress.h) allows exactly its host,
// with its scheme, and the transport follows no redirect and no proxy, so
// spans can go nowhere else.
absl::Status CheckOtlpEndpoint(absl::string_view url);

// The OTLP JSON ExportTraceServiceRequest of `spans`, from `service`.
std::string OtlpJson(absl::string_view service, const std::vector<SpanData>& spans);

struct OtlpExporterOptions {
  size_t max_queue = 2048;  // spans waiting; more are dropped
  size_t max_batch = 512;   // spans per request
  absl::Duration flush_interval = absl::Seconds(1);
  absl::Duration timeout = absl::Seconds(5);  // per request; also the bound of the final flush at stop
};

class OtlpExporter final : public SpanSink {
 public:
  // Starts the background thread and becomes the process's span sink.
  OtlpExporter(const std::string& endpoint, std::string service, OtlpExporterOptions options = {});
  // No longer the sink; sends what is queued (within options.timeout), then stops.
  ~OtlpExporter() override;
  OtlpExporter(const OtlpExporter&) = delete;
  OtlpExporter& operator=(const OtlpExporter&) = delete;

  void Add(SpanData span) override;

 private:
  void Loop();
  // One POST; false (and logged, at most once a minute) when it failed.
  bool Post(const std::string& body);

  std::string url_;  // <endpoint>/v1/traces
  std::string host_;
  std::string scheme_;
  std::string service_;
  OtlpExporterOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<SpanData> queue_;
  bool stopping_ = false;
  absl::Time last_warning_ = absl::InfinitePast();
  std::thread thread_;
};

// Declares care_trace_spans_dropped_total and care_trace_spans_exported_total
// (listed at zero when nothing is exported), sets the sampling ratio, and
// starts an exporter when options name an endpoint (null otherwise).
std::unique_ptr<OtlpExporter> StartTracing(const TraceOptions& options, absl::string_view service);

}  // namespace care
