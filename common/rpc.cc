#include "common/rpc.h"

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/metrics.h"

namespace care {

// Cells resolved at registration, so a call touches only atomics: the
// latency histogram, and a counter per status code made on first use.
// Streaming calls have families of their own: a stream open for an hour is
// no unary latency.
struct MethodMetrics {
  std::string method;  // the full name
  bool stream;
  metrics::HistogramCell* latency;  // care_rpc_latency_seconds or care_rpc_stream_duration_seconds
  metrics::CounterCell* messages;   // streams: care_rpc_stream_messages_sent_total
  std::atomic<metrics::CounterCell*> calls[17] = {};
};

namespace {

// Why an admin acts (the audit log's reason; docs/privacy.md).
constexpr char kReasonHeader[] = "care-reason";
constexpr size_t kMaxReasonLength = 500;

bool IsStream(const MethodInfo* info) { return info != nullptr && info->metrics != nullptr && info->metrics->stream; }

// Unary calls in care_rpc_in_flight, streams in care_rpc_streams_open.
metrics::GaugeCell& OpenGauge(const MethodInfo* info) {
  static auto& in_flight = metrics::RpcInFlight().With({});
  static auto& streams = metrics::RpcStreamsOpen().With({});
  return IsStream(info) ? streams : in_flight;
}

void Record(const MethodInfo* info, absl::StatusCode code, double seconds) {
  OpenGauge(info).Add(-1);
  std::string code_name = absl::StatusCodeToString(code);
  if (info == nullptr || info->metrics == nullptr || static_cast<int>(code) > 16) {
    metrics::RpcCalls().Inc({"?", code_name});
    return;
  }
  MethodMetrics& m = *info->metrics;
  auto& slot = m.calls[static_cast<int>(code)];
  metrics::CounterCell* calls = slot.load(std::memory_order_acquire);
  if (calls == nullptr) {
    calls = &(m.stream ? metrics::RpcStreamCalls() : metrics::RpcCalls()).With({m.method, code_name});
    slot.store(calls, std::memory_order_release);
  }
  calls->Inc();
  m.latency->Observe(seconds);
}

thread_local bool malformed_request = false;

using Metadata = std::multimap<grpc::string_ref, grpc::string_ref>;

absl::string_view View(const grpc::string_ref& s) { return {s.data(), s.size()}; }

// The call's span from its traceparent and tracestate headers. Two
// traceparents are invalid (a new trace); several tracestate headers are
// one list, joined in order.
TraceContext TraceOf(const Metadata& md) {
  auto [first, end] = md.equal_range("traceparent");
  absl::string_view parent;
  if (first != end && std::next(first) == end) parent = View(first->second);
  auto [state, state_end] = md.equal_range("tracestate");
  if (state == state_end || std::next(state) == state_end) {
    return StartServerSpan(parent, state == state_end ? absl::string_view() : View(state->second));
  }
  std::string joined;
  for (auto it = state; it != state_end; ++it) absl::StrAppend(&joined, joined.empty() ? "" : ",", View(it->second));
  return StartServerSpan(parent, joined);
}

// The call's server span, when exported.
void ExportServerSpan(const RpcRuntime::Call& call, const grpc::Status& out) {
  if (!call.trace.span.sampled() || !TraceExporting()) return;
  SpanData span = SpanFrom(call.trace, "", SpanData::kServer);
  SetRpcAttributes(span, call.method ? absl::string_view(call.method->full_name) : "/?/?", out.error_code());
  span.status = ServerSpanStatus(out.error_code());
  if (span.status == SpanData::kError) span.status_message = out.error_message();
  ExportSpan(std::move(span));
}

}  // namespace

void RpcRuntime::StreamMessageSent(const Call& call) {
  if (IsStream(call.method)) call.method->metrics->messages->Inc();
}

RpcRuntime::MalformedRequestScope::MalformedRequestScope() { malformed_request = true; }
RpcRuntime::MalformedRequestScope::~MalformedRequestScope() { malformed_request = false; }

RpcRuntime::RpcRuntime(std::string domain, TokenRegistry tokens, WorkPool* pool)
    : domain_(std::move(domain)), tokens_(std::make_shared<const TokenRegistry>(std::move(tokens))), pool_(pool) {}

void RpcRuntime::ReplaceTokens(std::shared_ptr<const TokenRegistry> tokens) {
  std::lock_guard lock(tokens_mu_);
  tokens_ = std::move(tokens);
}

absl::Status RpcRuntime::RegisterService(const google::protobuf::ServiceDescriptor* service) {
  for (int i = 0; i < service->method_count(); ++i) {
    const auto* m = service->method(i);
    if (!m->options().HasExtension(care::common::v1::access) ||
        m->options().GetExtension(care::common::v1::access).roles().empty()) {
      return absl::FailedPreconditionError(absl::StrCat(m->full_name(), " has no (care.common.v1.access) option"));
    }
    if (methods_.count(m->input_type())) {
      return absl::FailedPreconditionError(absl::StrCat(m->full_name(), " shares its request type ",
                                                        m->input_type()->full_name()));
    }
    methods_[m->input_type()] = std::make_unique<MethodInfo>(
        MethodInfo{absl::StrCat("/", service->full_name(), "/", m->name()),
                   m->options().GetExtension(care::common::v1::access),
                   m->input_type()->FindFieldByName("request_id")});
    auto mm = std::make_shared<MethodMetrics>();
    mm->method = methods_[m->input_type()]->full_name;
    mm->stream = m->server_streaming() || m->client_streaming();
    mm->latency = mm->stream ? &metrics::RpcStreamDuration().With({mm->method})
                             : &metrics::RpcLatency().With({mm->method});
    mm->messages = mm->stream ? &metrics::RpcStreamMessagesSent().With({mm->method}) : nullptr;
    methods_[m->input_type()]->metrics = std::move(mm);
  }
  return absl::OkStatus();
}

absl::Status RpcRuntime::Overloaded() {
  return Error(absl::StatusCode::kResourceExhausted, "OVERLOADED", "the service is at capacity; retry with backoff");
}

RpcRuntime::Call RpcRuntime::Begin(grpc::ServerContextBase* ctx, const google::protobuf::Message& request) {
  Call call;
  call.start = absl::Now();
  call.trace = TraceOf(ctx->client_metadata());
  bool malformed = malformed_request;
  malformed_request = false;  // one call per scope
  auto it = methods_.find(request.GetDescriptor());
  if (it == methods_.end()) {
    OpenGauge(nullptr).Add(1);
    call.status = absl::InternalError("method not registered with RpcRuntime");
    return call;
  }
  call.method = it->second.get();
  OpenGauge(call.method).Add(1);
  // Count first, then look at the flag (both sequentially consistent): the
  // drain sets the flag, then reads the count. Either this call sees the
  // flag and does nothing, or the drain sees the call and waits for it.
  ++in_flight_;
  if (draining_.load()) {
    --in_flight_;
    call.status = Unavailable("SHUTTING_DOWN", "the server is shutting down; retry (nothing was done)");
    return call;
  }
  call.admitted = true;
  const auto& md = ctx->client_metadata();
  auto auth = md.find("authorization");
  absl::string_view header = auth == md.end() ? absl::string_view()
                                              : absl::string_view(auth->second.data(), auth->second.size());
  call.tokens = tokens();
  auto principal = call.tokens->Authenticate(header);
  if (!principal.ok()) {
    call.status = principal.status();
    return call;
  }
  call.caller.principal = *principal;
  // Only an authenticated caller's request id reaches the log: before this
  // point anyone who can open a connection could write into it.
  if (call.method->request_id_field) {
    call.caller.request_id = request.GetReflection()->GetString(request, call.method->request_id_field);
  }
  call.status = Authorize(*call.caller.principal, call.method->access, call.method->full_name);
  call.caller.method = call.method->full_name;
  if (auto why = md.find(kReasonHeader); why != md.end())
    call.caller.reason.assign(why->second.data(), why->second.size());
  if (call.status.ok() && call.caller.reason.size() > kMaxReasonLength) {
    call.status = InvalidField(kReasonHeader, "at most 500 characters");
  }
  if (call.status.ok() && malformed) {
    call.status = Error(absl::StatusCode::kInvalidArgument, "MALFORMED_REQUEST",
                        absl::StrCat("the request body is not a valid ", request.GetDescriptor()->full_name()));
  }
  return call;
}

grpc::Status RpcRuntime::End(const Call& call, const absl::Status& status) {
  TraceScope trace(call.trace);
  grpc::Status out = ToGrpcStatus(status, domain_);
  absl::Duration elapsed = absl::Now() - call.start;
  // The code the client sees (an unexplained error goes out as INTERNAL).
  Record(call.method, static_cast<absl::StatusCode>(out.error_code()), absl::ToDoubleSeconds(elapsed));
  bool failed = !out.ok() && out.error_code() == grpc::StatusCode::INTERNAL;
  LogLevel level = failed ? LogLevel::kError : LogLevel::kInfo;
  if (LogEnabled(level)) {
    std::string reason = ErrorReason(status);
    std::vector<LogField> fields = {{"method", call.method ? call.method->full_name : "?"},
                                    {"request_id", call.caller.request_id},
                                    {"principal", call.caller.principal ? call.caller.principal->name : ""},
                                    {"code", absl::StatusCodeToString(status.code())},
                                    {"ms", absl::ToDoubleMilliseconds(elapsed)}};
    if (!reason.empty()) fields.push_back({"reason", reason});
    // The real cause of an internal error stays in our log only.
    if (failed) fields.push_back({"error", status.message()});
    Log(level, "rpc", fields);
  }
  ExportServerSpan(call, out);
  return out;
}

}  // namespace care
