#pragma once

// W3C Trace Context (https://www.w3.org/TR/trace-context/): every call and
// outbox event carries a `traceparent`, each server call and outbox delivery
// is a span, log lines name the trace and span they were written in, and
// sampled spans are exported over OTLP/HTTP JSON when a collector is set
// (common/otlp.h).
//
// Cost when no collector is configured: parsing the header and making two
// random ids per call; nothing is allocated for a span that is not exported.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace care {

class ConfigReader;

// The ids and flags of one span, as a traceparent carries them.
struct SpanContext {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};
  uint8_t flags = 0;  // bit 0: sampled

  bool sampled() const { return (flags & 1) != 0; }
};

// A strictly valid traceparent, or nullopt: version two lowercase hex digits
// other than "ff"; version 00 exactly "00-<32 hex>-<16 hex>-<2 hex>"; a later
// version at least that, followed by nothing or "-..." (the spec's forward
// compatibility); trace id and span id not all zeros; lowercase only.
std::optional<SpanContext> ParseTraceparent(absl::string_view header);
// "00-<trace id>-<span id>-<flags>".
std::string FormatTraceparent(const SpanContext& span);
// Lowercase hex of an id.
std::string HexId(const uint8_t* bytes, size_t n);
inline std::string HexId(const std::array<uint8_t, 16>& id) { return HexId(id.data(), id.size()); }
inline std::string HexId(const std::array<uint8_t, 8>& id) { return HexId(id.data(), id.size()); }

// The longest tracestate passed on (the spec's minimum to propagate); a
// longer one is dropped whole rather than cut mid-entry.
inline constexpr size_t kMaxTracestateBytes = 512;

// The span a thread is working for: its ids, its parent, and the vendor
// tracestate received with it (passed through unchanged).
struct TraceContext {
  SpanContext span;
  std::array<uint8_t, 8> parent{};  // all zeros: a root span
  std::string tracestate;
  absl::Time start;
  // Set when the context was sent on (a peer call, an outbox row): a job's
  // run is exported only then, so idle polls make no spans.
  mutable bool propagated = false;

  bool has_parent() const;
  std::string traceparent() const { return FormatTraceparent(span); }
};

// A server span for a call that arrived with these headers (empty when
// absent): a child of a valid traceparent (its trace id and sampled flag),
// otherwise the root of a new trace, sampled at --trace_sample_ratio.
TraceContext StartServerSpan(absl::string_view traceparent, absl::string_view tracestate);
// A child of the stored `traceparent` (an outbox event's), or a new root
// when it is empty or not valid.
TraceContext StartChildSpan(absl::string_view traceparent, absl::string_view tracestate = "");
// The root of a new trace (a job run).
TraceContext StartRootSpan();

// The context of the span the calling thread works for, or null.
const TraceContext* CurrentTrace();
// The traceparent to send on from here ("" outside any span); marks the
// context propagated.
std::string CurrentTraceparent();

// Makes `ctx` the calling thread's current context until destroyed (then
// the previous one again). `ctx` must outlive the scope.
class TraceScope final {
 public:
  explicit TraceScope(const TraceContext& ctx);
  // Null: no context on the thread while the scope lives.
  explicit TraceScope(const TraceContext* ctx);
  ~TraceScope();
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;

 private:
  const TraceContext* previous_;
};

// A finished span, as exported.
struct SpanData {
  enum Kind { kInternal = 1, kServer = 2, kClient = 3 };
  enum Status { kUnset = 0, kOk = 1, kError = 2 };
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};
  std::array<uint8_t, 8> parent{};
  std::string name;
  Kind kind = kInternal;
  int64_t start_unix_nanos = 0;
  int64_t end_unix_nanos = 0;
  Status status = kUnset;
  std::string status_message;
  std::vector<std::pair<std::string, std::string>> string_attributes;
  std::vector<std::pair<std::string, int64_t>> int_attributes;
};

// A span from `ctx` (ids, parent, start) ending now.
SpanData SpanFrom(const TraceContext& ctx, std::string name, SpanData::Kind kind);

// Settings every binary shares: --otlp_endpoint, --trace_sample_ratio.
struct TraceOptions {
  std::string otlp_endpoint;  // "" = spans are not exported
  double sample_ratio = 1.0;  // of new traces; an incoming flag is obeyed

  // Declares the flags on `config`; a bad endpoint or ratio is a
  // configuration error naming the flag.
  static TraceOptions Read(ConfigReader& config);
};

// Sets the sampling ratio of new traces (process-wide, at start-up).
void SetTraceSampleRatio(double ratio);

// Whether finished sampled spans go anywhere: test this before building a
// SpanData, so a process that does not export allocates nothing for spans.
bool TraceExporting();
// Hands a finished span to the exporter (dropped, and counted, when its
// queue is full). Only call when TraceExporting().
void ExportSpan(SpanData span);

// Where ExportSpan sends spans; set by the exporter at start, cleared at stop.
class SpanSink {
 public:
  virtual ~SpanSink() = default;
  virtual void Add(SpanData span) = 0;
};
void SetSpanSink(SpanSink* sink);

// gRPC semantic conventions: a server span's status is an error only for
// the codes that mean the server failed (UNKNOWN, DEADLINE_EXCEEDED,
// UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS); a client's refusal
// (INVALID_ARGUMENT, NOT_FOUND...) leaves it unset.
SpanData::Status ServerSpanStatus(int grpc_code);

// Adds the rpc.* attributes of `full_method` ("/pkg.Service/Method") and
// the gRPC status code to `span`, and names it "pkg.Service/Method".
void SetRpcAttributes(SpanData& span, absl::string_view full_method, int grpc_code);

// A job run: the root of a new trace, current on the calling thread while
// it lives; exported when the run sent its context anywhere.
class JobSpan final {
 public:
  explicit JobSpan(absl::string_view job);
  ~JobSpan();
  JobSpan(const JobSpan&) = delete;
  JobSpan& operator=(const JobSpan&) = delete;

 private:
  absl::string_view job_;
  TraceContext ctx_;
  TraceScope scope_;
};

}  // namespace care
