// W3C traceparent parsing, span contexts, the trace fields of log lines, the
// work pool carrying a context, and the OTLP/HTTP JSON exporter against a
// loopback HTTP sink.
#include "common/trace.h"

#include <gtest/gtest.h>

#include <future>
#include <string>

#include "common/log.h"
#include "common/metrics.h"
#include "common/otlp.h"
#include "common/work_pool.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/harness/receivers.h"

namespace care {
namespace {

constexpr char kTrace[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kSpan[] = "00f067aa0ba902b7";

std::string Header(const std::string& version, const std::string& trace, const std::string& span,
                   const std::string& flags) {
  return version + "-" + trace + "-" + span + "-" + flags;
}

TEST(TraceparentTest, AcceptsTheSpecExample) {
  auto parsed = ParseTraceparent(Header("00", kTrace, kSpan, "01"));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(HexId(parsed->trace_id), kTrace);
  EXPECT_EQ(HexId(parsed->span_id), kSpan);
  EXPECT_TRUE(parsed->sampled());
  EXPECT_FALSE(ParseTraceparent(Header("00", kTrace, kSpan, "00"))->sampled());
  EXPECT_EQ(FormatTraceparent(*parsed), Header("00", kTrace, kSpan, "01"));
}

TEST(TraceparentTest, RefusesBadVersions) {
  EXPECT_FALSE(ParseTraceparent(Header("ff", kTrace, kSpan, "01")));  // forbidden by the spec
  EXPECT_FALSE(ParseTraceparent(Header("0g", kTrace, kSpan, "01")));
  EXPECT_FALSE(ParseTraceparent(Header("0", kTrace, kSpan, "01")));
  EXPECT_FALSE(ParseTraceparent(Header("000", kTrace, kSpan, "01")));
  // Version 00 has exactly four fields.
  EXPECT_FALSE(ParseTraceparent(Header("00", kTrace, kSpan, "01") + "-extra"));
  EXPECT_FALSE(ParseTraceparent(Header("00", kTrace, kSpan, "01") + " "));
  // A later version is read as 00 where it can be: its own fields follow a dash.
  EXPECT_TRUE(ParseTraceparent(Header("01", kTrace, kSpan, "01")));
  EXPECT_TRUE(ParseTraceparent(Header("cc", kTrace, kSpan, "01") + "-what-the-future-holds"));
  EXPECT_FALSE(ParseTraceparent(Header("cc", kTrace, kSpan, "01") + "what"));
}

TEST(TraceparentTest, RefusesUppercase) {
  EXPECT_FALSE(ParseTraceparent(Header("00", "4BF92F3577B34DA6A3CE929D0E0E4736", kSpan, "01")));
  EXPECT_FALSE(ParseTraceparent(Header("00", kTrace, "00F067AA0BA902B7", "01")));
  EXPECT_FALSE(ParseTraceparent(Header("0A", kTrace, kSpan, "01")));
  EXPECT_FALSE(ParseTraceparent(Header("00", kTrace, kSpan, "0A")));
}

TEST(TraceparentTest, RefusesAllZeroIds) {
  EXPECT_FALSE(ParseTraceparent(Header("00", std::string(32, '0'), kSpan, "01")));
  EXPECT_FALSE(ParseTraceparent(Header("00", kTrace, std::string(16, '0'), "01")));
}

TEST(TraceparentTest, RefusesWrongLengthsAndSeparators) {
  EXPECT_FALSE(ParseTraceparent(""));
  EXPECT_FALSE(ParseTraceparent(Header("00", std::string(kTrace).substr(1), kSpan, "01")));
  EXPECT_FALSE(ParseTraceparent(Header("00", std::string(kTrace) + "a", kSpan, "01")));
  EXPECT_FALSE(ParseTraceparent(Header("00", kTrace, std::string(kSpan).substr(1), "01")));
  EXPECT_FALSE(ParseTraceparent(Header("00", kTrace, std::string(kSpan) + "a", "01")));
  EXPECT_FALSE(ParseTraceparent(Header("00", kTrace, kSpan, "1")));
  EXPECT_FALSE(ParseTraceparent(Header("00", kTrace, kSpan, "001")));
  EXPECT_FALSE(ParseTraceparent(std::string("00_") + kTrace + "-" + kSpan + "-01"));
  EXPECT_FALSE(ParseTraceparent(Header("00", std::string(kTrace).replace(5, 1, "-"), kSpan, "01")));
}

TEST(SpanContextTest, AServerSpanContinuesAValidParentAndObeysItsSampledFlag) {
  SetTraceSampleRatio(1.0);
  TraceContext ctx = StartServerSpan(Header("00", kTrace, kSpan, "00"), "vendor=abc");
  EXPECT_EQ(HexId(ctx.span.trace_id), kTrace);
  EXPECT_EQ(HexId(ctx.parent), kSpan);
  EXPECT_NE(HexId(ctx.span.span_id), kSpan);
  EXPECT_TRUE(ctx.has_parent());
  EXPECT_FALSE(ctx.span.sampled()) << "the caller did not sample: neither do we";
  EXPECT_EQ(ctx.tracestate, "vendor=abc");
  EXPECT_TRUE(StartServerSpan(Header("00", kTrace, kSpan, "01"), "").span.sampled());
}

TEST(SpanContextTest, AMissingOrInvalidParentStartsANewTraceWithoutItsState) {
  SetTraceSampleRatio(1.0);
  for (const std::string& bad : {std::string(), Header("00", std::string(32, '0'), kSpan, "01"),
                                 Header("00", "4BF92F3577B34DA6A3CE929D0E0E4736", kSpan, "01")}) {
    TraceContext ctx = StartServerSpan(bad, "vendor=abc");
    EXPECT_NE(HexId(ctx.span.trace_id), kTrace) << bad;
    EXPECT_NE(HexId(ctx.span.trace_id), std::string(32, '0')) << bad;
    EXPECT_FALSE(ctx.has_parent()) << bad;
    EXPECT_TRUE(ctx.span.sampled()) << bad;
    EXPECT_TRUE(ctx.tracestate.empty()) << "tracestate is not trusted without a valid traceparent";
  }
  EXPECT_NE(HexId(StartRootSpan().span.trace_id), HexId(StartRootSpan().span.trace_id));
  EXPECT_TRUE(
      StartServerSpan(Header("00", kTrace, kSpan, "01"), std::string(kMaxTracestateBytes + 1, 'a')).tracestate.empty());
}

TEST(SpanContextTest, TheSampleRatioDecidesNewTracesOnly) {
  SetTraceSampleRatio(0.0);
  EXPECT_FALSE(StartRootSpan().span.sampled());
  EXPECT_TRUE(StartServerSpan(Header("00", kTrace, kSpan, "01"), "").span.sampled());
  SetTraceSampleRatio(1.0);
}

TEST(TraceScopeTest, LogLinesCarryTheCurrentTraceAndSpan) {
  TraceContext ctx = StartServerSpan(Header("00", kTrace, kSpan, "01"), "");
  ::testing::internal::CaptureStderr();
  {
    TraceScope scope(ctx);
    LogWarn("inside", {{"k", "v"}});
    EXPECT_EQ(CurrentTraceparent(), FormatTraceparent(ctx.span));
    EXPECT_TRUE(ctx.propagated);
  }
  LogWarn("outside");
  std::string out = ::testing::internal::GetCapturedStderr();
  std::string inside = out.substr(0, out.find('\n'));
  std::string outside = out.substr(out.find('\n') + 1);
  EXPECT_NE(inside.find(absl::StrCat("\"trace_id\":\"", kTrace, "\",\"span_id\":\"", HexId(ctx.span.span_id), "\"")),
            std::string::npos)
      << inside;
  EXPECT_EQ(outside.find("trace_id"), std::string::npos) << outside;
  EXPECT_EQ(CurrentTrace(), nullptr);
  EXPECT_EQ(CurrentTraceparent(), "");
}

TEST(TraceScopeTest, WorkPoolTasksRunInTheContextTheyWereSubmittedFrom) {
  WorkPool pool(1, 8);
  TraceContext ctx = StartRootSpan();
  std::promise<std::string> seen, seen_without;
  {
    TraceScope scope(ctx);
    ASSERT_TRUE(pool.TrySubmit([&] { seen.set_value(CurrentTraceparent()); }));
  }
  ASSERT_TRUE(pool.TrySubmit([&] { seen_without.set_value(CurrentTraceparent()); }));
  EXPECT_EQ(seen.get_future().get(), FormatTraceparent(ctx.span));
  EXPECT_EQ(seen_without.get_future().get(), "") << "a context leaked into the next task";
}

TEST(OtlpTest, EndpointsMustBeHttpUrlsOfTheOperatorsChoosing) {
  EXPECT_TRUE(CheckOtlpEndpoint("http://127.0.0.1:4318").ok());
  EXPECT_TRUE(CheckOtlpEndpoint("http://otel-collector.monitoring:4318/").ok());
  EXPECT_TRUE(CheckOtlpEndpoint("https://collector.example.com").ok());
  EXPECT_TRUE(CheckOtlpEndpoint("http://[::1]:4318").ok());
  EXPECT_FALSE(CheckOtlpEndpoint("file:///etc/passwd").ok());
  EXPECT_FALSE(CheckOtlpEndpoint("gopher://collector:4318").ok());
  EXPECT_FALSE(CheckOtlpEndpoint("collector:4318").ok());
  EXPECT_FALSE(CheckOtlpEndpoint("http://user:secret@collector:4318").ok());
  EXPECT_FALSE(CheckOtlpEndpoint("http://collector:4318/?x=1").ok());
}

SpanData ServerSpan(const TraceContext& ctx, int code) {
  SpanData span = SpanFrom(ctx, "", SpanData::kServer);
  SetRpcAttributes(span, "/care.loyalty.v1.LoyaltyService/GetTier", code);
  span.status = ServerSpanStatus(code);
  return span;
}

google::protobuf::Struct ParseJson(const std::string& json) {
  google::protobuf::Struct parsed;
  auto s = google::protobuf::util::JsonStringToMessage(json, &parsed);
  EXPECT_TRUE(s.ok()) << s << json;
  return parsed;
}

TEST(OtlpTest, JsonIsAnExportTraceServiceRequest) {
  TraceContext ctx = StartServerSpan(Header("00", kTrace, kSpan, "01"), "");
  auto request = ParseJson(OtlpJson("loyalty", {ServerSpan(ctx, 13), ServerSpan(StartRootSpan(), 0)}));
  const auto& rs = request.fields().at("resourceSpans").list_value().values(0).struct_value();
  const auto& attr = rs.fields().at("resource").struct_value().fields().at("attributes").list_value().values(0);
  EXPECT_EQ(attr.struct_value().fields().at("key").string_value(), "service.name");
  EXPECT_EQ(attr.struct_value().fields().at("value").struct_value().fields().at("stringValue").string_value(),
            "loyalty");
  const auto& spans =
      rs.fields().at("scopeSpans").list_value().values(0).struct_value().fields().at("spans").list_value();
  ASSERT_EQ(spans.values_size(), 2);
  const auto& s = spans.values(0).struct_value().fields();
  EXPECT_EQ(s.at("traceId").string_value(), kTrace);
  EXPECT_EQ(s.at("spanId").string_value(), HexId(ctx.span.span_id));
  EXPECT_EQ(s.at("parentSpanId").string_value(), kSpan);
  EXPECT_EQ(s.at("name").string_value(), "care.loyalty.v1.LoyaltyService/GetTier");
  EXPECT_EQ(s.at("kind").number_value(), 2);
  EXPECT_LE(std::stoll(s.at("startTimeUnixNano").string_value()), std::stoll(s.at("endTimeUnixNano").string_value()));
  EXPECT_EQ(s.at("status").struct_value().fields().at("code").number_value(), 2) << "INTERNAL is the server's error";
  std::map<std::string, std::string> attributes;
  for (const auto& a : s.at("attributes").list_value().values()) {
    const auto& v = a.struct_value().fields().at("value").struct_value().fields();
    attributes[a.struct_value().fields().at("key").string_value()] = v.count("stringValue")
                                                                         ? v.at("stringValue").string_value()
                                                                         : v.at("intValue").string_value();
  }
  EXPECT_EQ(attributes["rpc.system"], "grpc");
  EXPECT_EQ(attributes["rpc.service"], "care.loyalty.v1.LoyaltyService");
  EXPECT_EQ(attributes["rpc.method"], "GetTier");
  EXPECT_EQ(attributes["rpc.grpc.status_code"], "13");
  const auto& root = spans.values(1).struct_value().fields();
  EXPECT_EQ(root.count("parentSpanId"), 0u) << "a root has no parent";
  EXPECT_EQ(root.at("status").struct_value().fields_size(), 0) << "OK leaves the status unset";
}

double Dropped() {
  std::string text = metrics::Registry::Global().Render();
  auto at = text.find("care_trace_spans_dropped_total{reason=\"queue_full\"} ");
  if (at == std::string::npos) return 0;
  return std::stod(text.substr(text.find(' ', at) + 1));
}

TEST(OtlpTest, TheExporterPostsBatchesAndDropsWhatItsQueueCannotHold) {
  testing::WebhookReceiver sink([](int) { return 200; });
  double dropped_before = Dropped();
  {
    OtlpExporterOptions options;
    options.max_queue = 4;
    options.max_batch = 100;
    options.flush_interval = absl::Seconds(30);  // only the final flush sends
    OtlpExporter exporter(absl::StrCat("http://127.0.0.1:", sink.port(), "/"), "promotion", options);
    ASSERT_TRUE(TraceExporting());
    TraceContext ctx = StartRootSpan();
    for (int i = 0; i < 6; ++i) ExportSpan(ServerSpan(ctx, 0));
  }
  EXPECT_FALSE(TraceExporting());
  EXPECT_EQ(Dropped() - dropped_before, 2);
  auto requests = sink.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_NE(requests[0].head.find("POST /v1/traces HTTP/1.1"), std::string::npos) << requests[0].head;
  EXPECT_EQ(testing::HeaderValue(requests[0].head, "Content-Type"), "application/json");
  auto request = ParseJson(requests[0].body);
  const auto& spans = request.fields()
                          .at("resourceSpans")
                          .list_value()
                          .values(0)
                          .struct_value()
                          .fields()
                          .at("scopeSpans")
                          .list_value()
                          .values(0)
                          .struct_value()
                          .fields()
                          .at("spans")
                          .list_value();
  EXPECT_EQ(spans.values_size(), 4);
}

}  // namespace
}  // namespace care
