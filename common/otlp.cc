#include "common/otlp.h"

#include <curl/curl.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/config.h"
#include "common/egress.h"
#include "common/log.h"
#include "common/metrics.h"

namespace care {
namespace {

metrics::Counter& SpansDropped() {
  static auto& c = metrics::Registry::Global().Counter(
      "care_trace_spans_dropped_total",
      "Finished spans not exported: queue_full (the collector is slower than the spans) or export_failed", {"reason"});
  return c;
}

metrics::Counter& SpansExported() {
  static auto& c = metrics::Registry::Global().Counter("care_trace_spans_exported_total",
                                                       "Spans the OTLP collector accepted");
  return c;
}

struct UrlParts {
  std::string scheme, host;
};

// The parts of `url` libcurl will use, through libcurl's own parser.
absl::StatusOr<UrlParts> ParseUrl(absl::string_view url) {
  std::unique_ptr<CURLU, void (*)(CURLU*)> u(curl_url(), curl_url_cleanup);
  if (!u || curl_url_set(u.get(), CURLUPART_URL, std::string(url).c_str(), 0) != CURLUE_OK) {
    return absl::InvalidArgumentError(absl::StrCat("\"", url, "\" is not an absolute URL"));
  }
  auto part = [&](CURLUPart which) -> std::optional<std::string> {
    char* text = nullptr;
    if (curl_url_get(u.get(), which, &text, 0) != CURLUE_OK || text == nullptr) return std::nullopt;
    std::string out(text);
    curl_free(text);
    return out;
  };
  UrlParts parts;
  parts.scheme = part(CURLUPART_SCHEME).value_or("");
  parts.host = part(CURLUPART_HOST).value_or("");
  if (part(CURLUPART_USER) || part(CURLUPART_QUERY) || part(CURLUPART_FRAGMENT)) {
    return absl::InvalidArgumentError("must not carry user info, a query or a fragment");
  }
  if (parts.host.empty()) return absl::InvalidArgumentError("has no host");
  return parts;
}

// The exporter's egress policy: the operator's collector host alone.
std::optional<EgressRefusal> CheckEgress(const UrlParts& parts) {
  absl::string_view host = parts.host;
  if (absl::ConsumePrefix(&host, "[")) absl::ConsumeSuffix(&host, "]");
  auto policy = EgressPolicy::Parse(host);
  if (!policy.ok()) return EgressRefusal{"EGRESS_ADDRESS_NOT_ALLOWED", std::string(policy.status().message())};
  return policy->CheckUrl(EgressUrlKind::kWebhook, parts.scheme, parts.host);
}

void AppendAttribute(std::string& out, absl::string_view key, absl::string_view json_value) {
  if (out.back() != '[') out += ',';
  absl::StrAppend(&out, "{\"key\":", JsonQuote(key), ",\"value\":", json_value, "}");
}

void AppendSpan(std::string& out, const SpanData& s) {
  absl::StrAppend(&out, "{\"traceId\":\"", HexId(s.trace_id), "\",\"spanId\":\"", HexId(s.span_id), "\"");
  bool root = true;
  for (uint8_t b : s.parent) root = root && b == 0;
  if (!root) absl::StrAppend(&out, ",\"parentSpanId\":\"", HexId(s.parent), "\"");
  // 64-bit integers are strings in OTLP JSON (as in proto3's JSON mapping).
  absl::StrAppend(&out, ",\"name\":", JsonQuote(s.name), ",\"kind\":", static_cast<int>(s.kind),
                  ",\"startTimeUnixNano\":\"", s.start_unix_nanos, "\",\"endTimeUnixNano\":\"", s.end_unix_nanos,
                  "\",\"attributes\":[");
  for (const auto& [k, v] : s.string_attributes)
    AppendAttribute(out, k, absl::StrCat("{\"stringValue\":", JsonQuote(v), "}"));
  for (const auto& [k, v] : s.int_attributes) AppendAttribute(out, k, absl::StrCat("{\"intValue\":\"", v, "\"}"));
  out += "],\"status\":{";
  if (s.status != SpanData::kUnset) {
    absl::StrAppend(&out, "\"code\":", static_cast<int>(s.status));
    if (!s.status_message.empty()) absl::StrAppend(&out, ",\"message\":", JsonQuote(s.status_message));
  }
  out += "}}";
}

size_t DiscardBody(char*, size_t size, size_t n, void*) { return size * n; }

}  // namespace

absl::Status CheckOtlpEndpoint(absl::string_view url) {
  auto parts = ParseUrl(url);
  if (!parts.ok()) return parts.status();
  if (parts->scheme != "http" && parts->scheme != "https") {
    return absl::InvalidArgumentError(absl::StrCat("scheme \"", parts->scheme, "\" is not http or https"));
  }
  if (auto refused = CheckEgress(*parts)) return absl::InvalidArgumentError(refused->message);
  return absl::OkStatus();
}

std::string OtlpJson(absl::string_view service, const std::vector<SpanData>& spans) {
  std::string out = "{\"resourceSpans\":[{\"resource\":{\"attributes\":[";
  AppendAttribute(out, "service.name", absl::StrCat("{\"stringValue\":", JsonQuote(service), "}"));
  out += "]},\"scopeSpans\":[{\"scope\":{\"name\":\"caresuite\"},\"spans\":[";
  for (size_t i = 0; i < spans.size(); ++i) {
    if (i > 0) out += ',';
    AppendSpan(out, spans[i]);
  }
  out += "]}]}]}";
  return out;
}

OtlpExporter::OtlpExporter(const std::string& endpoint, std::string service, OtlpExporterOptions options)
    : url_(absl::StrCat(absl::StripSuffix(endpoint, "/"), "/v1/traces")),
      service_(std::move(service)),
      options_(options) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (auto parts = ParseUrl(endpoint); parts.ok()) {
    scheme_ = parts->scheme;
    host_ = parts->host;
  }
  thread_ = std::thread([this] { Loop(); });
  SetSpanSink(this);
}

OtlpExporter::~OtlpExporter() {
  SetSpanSink(nullptr);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void OtlpExporter::Add(SpanData span) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= options_.max_queue) {
      static auto& dropped = SpansDropped().With({"queue_full"});
      dropped.Inc();
      return;
    }
    queue_.push_back(std::move(span));
    if (queue_.size() < options_.max_batch) return;
  }
  cv_.notify_one();
}

void OtlpExporter::Loop() {
  static auto& failed = SpansDropped().With({"export_failed"});
  static auto& exported = SpansExported().With({});
  absl::Time stop_by = absl::InfiniteFuture();
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait_for(lock, absl::ToChronoNanoseconds(options_.flush_interval),
                 [this] { return stopping_ || queue_.size() >= options_.max_batch; });
    if (stopping_ && stop_by == absl::InfiniteFuture()) stop_by = absl::Now() + options_.timeout;
    if (queue_.empty() && stopping_) return;
    while (!queue_.empty()) {
      std::vector<SpanData> batch;
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      lock.unlock();
      // At stop, what the time bound leaves unsent is dropped, not waited for.
      bool sent = absl::Now() < stop_by && Post(OtlpJson(service_, batch));
      (sent ? exported : failed).Inc(static_cast<double>(batch.size()));
      lock.lock();
      if (!stopping_ && queue_.size() < options_.max_batch) break;
    }
  }
}

bool OtlpExporter::Post(const std::string& body) {
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return false;
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(
      curl_slist_append(nullptr, "Content-Type: application/json"), curl_slist_free_all);
  // No "Expect: 100-continue" round trip before a large batch.
  headers.reset(curl_slist_append(headers.release(), "Expect:"));
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url_.c_str());
  // Egress: the configured scheme to the configured host only.
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, scheme_.c_str());
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(options_.timeout)));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, DiscardBody);
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (rc == CURLE_OK && status >= 200 && status < 300) return true;
  if (absl::Now() - last_warning_ >= absl::Minutes(1)) {
    last_warning_ = absl::Now();
    LogWarn("span export failed; spans dropped",
            {{"endpoint", url_}, {"http_status", static_cast<int64_t>(status)}, {"error", curl_easy_strerror(rc)}});
  }
  return false;
}

std::unique_ptr<OtlpExporter> StartTracing(const TraceOptions& options, absl::string_view service) {
  SpansDropped();
  SpansExported();
  SetTraceSampleRatio(options.sample_ratio);
  if (options.otlp_endpoint.empty()) return nullptr;
  LogInfo("exporting spans", {{"endpoint", options.otlp_endpoint}, {"sample_ratio", options.sample_ratio}});
  return std::make_unique<OtlpExporter>(options.otlp_endpoint, std::string(service));
}

TraceOptions TraceOptions::Read(ConfigReader& c) {
  TraceOptions o;
  o.otlp_endpoint = c.String(
      "otlp_endpoint", "",
      "OpenTelemetry collector base URL, http or https (e.g. http://otel-collector:4318); spans are POSTed to "
      "<url>/v1/traces as OTLP/HTTP JSON; empty = not exported");
  std::string ratio = c.String("trace_sample_ratio", "1",
                               "share of new traces that are sampled, 0..1 (an incoming traceparent's sampled flag "
                               "is obeyed)");
  if (!absl::SimpleAtod(ratio, &o.sample_ratio) || !(o.sample_ratio >= 0.0 && o.sample_ratio <= 1.0)) {
    c.AddError(absl::StrCat("trace_sample_ratio \"", ratio, "\" is not a number between 0 and 1"));
  }
  if (!o.otlp_endpoint.empty()) {
    if (absl::Status s = CheckOtlpEndpoint(o.otlp_endpoint); !s.ok()) {
      c.AddError(absl::StrCat("otlp_endpoint: ", s.message()));
    }
  }
  return o;
}

}  // namespace care
