#include "common/trace.h"

#include <atomic>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace care {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// -1 for anything but a lowercase hex digit (the spec refuses uppercase).
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// `text` (2n lowercase hex digits) into `out` (n bytes); false if not hex.
bool DecodeHex(absl::string_view text, uint8_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    int hi = HexValue(text[2 * i]);
    int lo = HexValue(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

template <size_t N>
bool AllZero(const std::array<uint8_t, N>& id) {
  for (uint8_t b : id) {
    if (b != 0) return false;
  }
  return true;
}

// Ids need to be unique, not secret: a per-thread generator is enough.
std::mt19937_64& Rng() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

template <size_t N>
void RandomId(std::array<uint8_t, N>& id) {
  do {
    for (size_t i = 0; i < N; i += 8) {
      uint64_t r = Rng()();
      std::memcpy(id.data() + i, &r, std::min<size_t>(8, N - i));
    }
  } while (AllZero(id));
}

std::atomic<double> g_sample_ratio{1.0};
std::atomic<SpanSink*> g_sink{nullptr};
thread_local const TraceContext* t_current = nullptr;

bool SampleNewTrace() {
  double ratio = g_sample_ratio.load(std::memory_order_relaxed);
  if (ratio >= 1.0) return true;
  if (ratio <= 0.0) return false;
  return std::uniform_real_distribution<double>(0.0, 1.0)(Rng()) < ratio;
}

TraceContext NewRoot() {
  TraceContext ctx;
  RandomId(ctx.span.trace_id);
  RandomId(ctx.span.span_id);
  ctx.span.flags = SampleNewTrace() ? 1 : 0;
  ctx.start = absl::Now();
  return ctx;
}

}  // namespace

std::optional<SpanContext> ParseTraceparent(absl::string_view h) {
  // version "-" trace-id "-" parent-id "-" flags: 2+1+32+1+16+1+2.
  constexpr size_t kLength = 55;
  if (h.size() < kLength) return std::nullopt;
  uint8_t version = 0;
  if (!DecodeHex(h.substr(0, 2), &version, 1) || version == 0xff) return std::nullopt;
  // Version 00 is exactly 55 characters; a later version may append fields
  // after a dash, which this parser does not read.
  if (version == 0 && h.size() != kLength) return std::nullopt;
  if (h.size() > kLength && h[kLength] != '-') return std::nullopt;
  if (h[2] != '-' || h[35] != '-' || h[52] != '-') return std::nullopt;
  SpanContext span;
  if (!DecodeHex(h.substr(3, 32), span.trace_id.data(), 16) || !DecodeHex(h.substr(36, 16), span.span_id.data(), 8) ||
      !DecodeHex(h.substr(53, 2), &span.flags, 1)) {
    return std::nullopt;
  }
  if (AllZero(span.trace_id) || AllZero(span.span_id)) return std::nullopt;
  return span;
}

std::string HexId(const uint8_t* bytes, size_t n) {
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 0xf];
  }
  return out;
}

std::string FormatTraceparent(const SpanContext& span) {
  std::string out = "00-";
  out.reserve(55);
  out += HexId(span.trace_id);
  out += '-';
  out += HexId(span.span_id);
  out += '-';
  out += kHex[span.flags >> 4];
  out += kHex[span.flags & 0xf];
  return out;
}

bool TraceContext::has_parent() const { return !AllZero(parent); }

TraceContext StartServerSpan(absl::string_view traceparent, absl::string_view tracestate) {
  std::optional<SpanContext> incoming = ParseTraceparent(traceparent);
  if (!incoming) return NewRoot();  // an invalid header starts a new trace; tracestate goes with it
  TraceContext ctx;
  ctx.span.trace_id = incoming->trace_id;
  ctx.span.flags = incoming->flags & 1;  // only "sampled" is defined for version 00
  ctx.parent = incoming->span_id;
  RandomId(ctx.span.span_id);
  if (tracestate.size() <= kMaxTracestateBytes) ctx.tracestate = std::string(tracestate);
  ctx.start = absl::Now();
  return ctx;
}

TraceContext StartChildSpan(absl::string_view traceparent, absl::string_view tracestate) {
  return StartServerSpan(traceparent, tracestate);
}

TraceContext StartRootSpan() { return NewRoot(); }

const TraceContext* CurrentTrace() { return t_current; }

std::string CurrentTraceparent() {
  if (t_current == nullptr) return "";
  t_current->propagated = true;
  return t_current->traceparent();
}

TraceScope::TraceScope(const TraceContext& ctx) : previous_(t_current) { t_current = &ctx; }
TraceScope::TraceScope(const TraceContext* ctx) : previous_(t_current) { t_current = ctx; }
TraceScope::~TraceScope() { t_current = previous_; }

SpanData SpanFrom(const TraceContext& ctx, std::string name, SpanData::Kind kind) {
  SpanData span;
  span.trace_id = ctx.span.trace_id;
  span.span_id = ctx.span.span_id;
  span.parent = ctx.parent;
  span.name = std::move(name);
  span.kind = kind;
  span.start_unix_nanos = absl::ToUnixNanos(ctx.start);
  span.end_unix_nanos = absl::ToUnixNanos(absl::Now());
  return span;
}

void SetTraceSampleRatio(double ratio) { g_sample_ratio = ratio; }

bool TraceExporting() { return g_sink.load(std::memory_order_acquire) != nullptr; }

void ExportSpan(SpanData span) {
  SpanSink* sink = g_sink.load(std::memory_order_acquire);
  if (sink != nullptr) sink->Add(std::move(span));
}

void SetSpanSink(SpanSink* sink) { g_sink.store(sink, std::memory_order_release); }

SpanData::Status ServerSpanStatus(int grpc_code) {
  switch (grpc_code) {
    case 2:   // UNKNOWN
    case 4:   // DEADLINE_EXCEEDED
    case 12:  // UNIMPLEMENTED
    case 13:  // INTERNAL
    case 14:  // UNAVAILABLE
    case 15:  // DATA_LOSS
      return SpanData::kError;
    default:
      return SpanData::kUnset;
  }
}

void SetRpcAttributes(SpanData& span, absl::string_view full_method, int grpc_code) {
  absl::string_view m = absl::StripPrefix(full_method, "/");
  size_t slash = m.rfind('/');
  absl::string_view service = slash == absl::string_view::npos ? m : m.substr(0, slash);
  absl::string_view method = slash == absl::string_view::npos ? "" : m.substr(slash + 1);
  span.name = std::string(m);
  span.string_attributes = {{"rpc.system", "grpc"},
                            {"rpc.service", std::string(service)},
                            {"rpc.method", std::string(method)}};
  span.int_attributes = {{"rpc.grpc.status_code", grpc_code}};
}

JobSpan::JobSpan(absl::string_view job) : job_(job), ctx_(StartRootSpan()), scope_(ctx_) {}

JobSpan::~JobSpan() {
  if (!ctx_.propagated || !ctx_.span.sampled() || !TraceExporting()) return;
  SpanData span = SpanFrom(ctx_, absl::StrCat("job ", job_), SpanData::kInternal);
  span.string_attributes = {{"care.job", std::string(job_)}};
  ExportSpan(std::move(span));
}

}  // namespace care
