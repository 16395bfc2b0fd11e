// Tracing through the real binaries: a ResolveComplaint call carrying a W3C
// traceparent grants a voucher (outbox → care_promotion) and tells the
// member (outbox → care_notification). The caller's trace id is in the log
// lines of all three services, and an OTLP/HTTP sink receives their spans,
// each linked to its parent: the call, the relay's delivery, the receiver.
#include <regex>
#include <sstream>

#include "absl/strings/ascii.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/harness/receivers.h"
#include "tests/integration/complaint_fixture.h"

namespace care::testing {
namespace {

constexpr char kTrace[] = "0af7651916cd43dd8448eb211c80319c";
constexpr char kCallerSpan[] = "b7ad6b7169203331";

// A span as the sink received it.
struct Span {
  std::string service, trace_id, span_id, parent, name;
  int kind = 0;
};

// The spans of an OTLP JSON ExportTraceServiceRequest.
std::vector<Span> SpansOf(const std::string& body) {
  google::protobuf::Struct request;
  if (!google::protobuf::util::JsonStringToMessage(body, &request).ok()) {
    ADD_FAILURE() << "not JSON: " << body;
    return {};
  }
  std::vector<Span> out;
  for (const auto& rs : request.fields().at("resourceSpans").list_value().values()) {
    std::string service;
    for (const auto& a :
         rs.struct_value().fields().at("resource").struct_value().fields().at("attributes").list_value().values()) {
      if (a.struct_value().fields().at("key").string_value() == "service.name") {
        service = a.struct_value().fields().at("value").struct_value().fields().at("stringValue").string_value();
      }
    }
    for (const auto& ss : rs.struct_value().fields().at("scopeSpans").list_value().values()) {
      for (const auto& v : ss.struct_value().fields().at("spans").list_value().values()) {
        const auto& f = v.struct_value().fields();
        Span s{service,
               f.at("traceId").string_value(),
               f.at("spanId").string_value(),
               f.count("parentSpanId") ? f.at("parentSpanId").string_value() : "",
               f.at("name").string_value(),
               static_cast<int>(f.at("kind").number_value())};
        out.push_back(std::move(s));
      }
    }
  }
  return out;
}

// The log line of `service_log` for a call of `method` in trace `trace_id`
// ("" when there is none).
std::string RpcLine(const std::string& service_log, const std::string& method, const std::string& trace_id) {
  std::istringstream lines(service_log);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find("\"msg\":\"rpc\"") != std::string::npos &&
        line.find("\"method\":\"" + method + "\"") != std::string::npos &&
        line.find("\"trace_id\":\"" + trace_id + "\"") != std::string::npos) {
      return line;
    }
  }
  return "";
}

// The field `key` of a JSON log line.
std::string Field(const std::string& line, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(line, m, std::regex("\"" + key + "\":\"([^\"]*)\""))) return "";
  return m[1];
}

class TracingTest : public ComplaintTest {
 protected:
  // ComplaintTest's own SetUp starts complaint at once; here it starts
  // last, once the peers it is pointed at run.
  void SetUp() override {
    LoyaltyTest::SetUp();  // NOLINT(bugprone-parent-virtual-call)
    if (HasFatalFailure()) return;
    Configure();
    notif_ = std::make_unique<ServiceProcess>(CARE_NOTIFICATION_BIN, "care.notification.v1.NotificationService",
                                              NotificationArgs(Traced()), tokens_);
    ASSERT_TRUE(notif_->Start().ok()) << notif_->log();
    SetBaseTime(*notif_);
    std::vector<std::string> promo_args = PromotionArgs();
    for (auto& a : Traced()) promo_args.push_back(a);
    promotion_ = std::make_unique<ServiceProcess>(CARE_PROMOTION_BIN, "care.promotion.v1.PromotionService", promo_args,
                                                  tokens_);
    ASSERT_TRUE(promotion_->Start().ok()) << promotion_->log();
    complaint_ = std::make_unique<ServiceProcess>(CARE_COMPLAINT_BIN, kComplaintHealth, ComplaintArgs(), tokens_);
    ASSERT_TRUE(complaint_->Start().ok()) << complaint_->log();
    cstub_ = kv1::ComplaintService::NewStub(complaint_->channel());
    cclock_ = care::common::v1::ClockControl::NewStub(complaint_->channel());
    SetBoth(Base());
  }

  // Every traced service exports to the sink and logs each call (info).
  std::vector<std::string> Traced() {
    return {"--otlp_endpoint=http://127.0.0.1:" + std::to_string(sink_.port()), "--log_level=info"};
  }
  std::vector<std::string> ExtraComplaintArgs() override {
    std::vector<std::string> args = Traced();
    args.push_back("--notification_target=" + notif_->address());
    args.push_back("--promotion_target=" + promotion_->address());
    return args;
  }

  std::vector<Span> Received() {
    std::vector<Span> all;
    for (const auto& r : sink_.requests()) {
      EXPECT_NE(r.head.find("POST /v1/traces "), std::string::npos) << r.head;
      for (auto& s : SpansOf(r.body)) all.push_back(std::move(s));
    }
    return all;
  }

  // The first received span matching all given fields ("" / 0: any).
  std::optional<Span> Find(const std::string& service, const std::string& name, int kind, const std::string& parent) {
    for (const Span& s : Received()) {
      if (s.trace_id == kTrace && s.service == service && s.name == name && s.kind == kind &&
          (parent.empty() || s.parent == parent)) {
        return s;
      }
    }
    return std::nullopt;
  }

  std::unique_ptr<grpc::ClientContext> WithTrace(const std::string& token, const std::string& traceparent) {
    auto ctx = Ctx(token);
    ctx->AddMetadata("traceparent", traceparent);
    return ctx;
  }

  WebhookReceiver sink_{[](int) { return 200; }};
  std::unique_ptr<ServiceProcess> notif_;
  std::unique_ptr<ServiceProcess> promotion_;
};

TEST_F(TracingTest, OneCallsTraceRunsThroughTheOutboxToTwoPeersLogsAndSpans) {
  Enrol("m1");
  kv1::Complaint c = File("m1", "o-1");
  kv1::ResolveComplaintRequest req = ResolveRequest(c.complaint_id(), 0);
  req.mutable_compensation()->mutable_voucher()->mutable_amount()->set_amount_minor(500);
  req.mutable_compensation()->mutable_voucher()->mutable_amount()->set_currency_code("USD");
  req.mutable_compensation()->set_reason_code("LATE_DELIVERY");
  kv1::ResolveComplaintResponse r;
  grpc::Status s = complaints().ResolveComplaint(
      WithTrace(supervisor(), absl::StrCat("00-", kTrace, "-", kCallerSpan, "-01")).get(), req, &r);
  ASSERT_TRUE(s.ok()) << Describe(s);

  const std::string resolve = "/care.complaint.v1.ComplaintService/ResolveComplaint";
  const std::string issue = "/care.promotion.v1.PromotionService/IssueVoucher";
  const std::string ingest = "/care.notification.v1.NotificationService/IngestEvent";
  // One trace id in the logs of the three services.
  ASSERT_TRUE(Eventually([&] { return !RpcLine(promotion_->log(), issue, kTrace).empty(); }, absl::Seconds(30)))
      << promotion_->log() << complaint_->log();
  ASSERT_TRUE(Eventually([&] { return !RpcLine(notif_->log(), ingest, kTrace).empty(); }, absl::Seconds(30)))
      << notif_->log() << complaint_->log();
  std::string call_line = RpcLine(complaint_->log(), resolve, kTrace);
  ASSERT_FALSE(call_line.empty()) << complaint_->log();
  const std::string call_span = Field(call_line, "span_id");
  EXPECT_TRUE(std::regex_match(call_span, std::regex("[0-9a-f]{16}"))) << call_line;
  EXPECT_NE(call_span, kCallerSpan) << "the server call is a span of its own";

  // The spans, linked: caller → ResolveComplaint → each delivery → each receiver.
  std::optional<Span> voucher_sent, voucher_served, message_sent, message_served;
  ASSERT_TRUE(Eventually(
      [&] {
        std::optional<Span> call = Find("complaint", resolve.substr(1), 2, kCallerSpan);
        if (!call) return false;
        EXPECT_EQ(call->span_id, call_span) << "the log line names the span exported";
        voucher_sent = Find("complaint", issue.substr(1), 3, call->span_id);
        message_sent = Find("complaint", ingest.substr(1), 3, call->span_id);
        voucher_served = voucher_sent ? Find("promotion", issue.substr(1), 2, voucher_sent->span_id) : std::nullopt;
        message_served = message_sent ? Find("notification", ingest.substr(1), 2, message_sent->span_id) : std::nullopt;
        return voucher_served && message_served;
      },
      absl::Seconds(30)))
      << "spans received: " << Received().size() << "\n"
      << complaint_->log();
  // The receivers log under their own server spans.
  EXPECT_EQ(Field(RpcLine(promotion_->log(), issue, kTrace), "span_id"), voucher_served->span_id);
  EXPECT_EQ(Field(RpcLine(notif_->log(), ingest, kTrace), "span_id"), message_served->span_id);
}

TEST_F(TracingTest, AnUnsampledTraceIsLoggedNotExportedAndABadHeaderStartsANewTrace) {
  Enrol("m1");
  kv1::Complaint c = File("m1", "o-1");
  const std::string get = "/care.complaint.v1.ComplaintService/GetComplaint";
  kv1::GetComplaintRequest req;
  req.set_complaint_id(c.complaint_id());
  kv1::Complaint out;
  // Sampled flag off: the ids still reach the log, no span leaves.
  grpc::Status s = complaints().GetComplaint(
      WithTrace(agent(), absl::StrCat("00-", kTrace, "-", kCallerSpan, "-00")).get(), req, &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  // Uppercase hex is not a traceparent: the call is served in a new trace.
  const std::string upper = "0AF7651916CD43DD8448EB211C80319C";
  s = complaints().GetComplaint(WithTrace(agent(), absl::StrCat("00-", upper, "-", kCallerSpan, "-01")).get(), req,
                                &out);
  ASSERT_TRUE(s.ok()) << Describe(s);

  ASSERT_TRUE(Eventually([&] { return !RpcLine(complaint_->log(), get, kTrace).empty(); })) << complaint_->log();
  // Both GetComplaint calls were exported or not within a flush (1 s).
  ASSERT_TRUE(Eventually([&] {
    for (const Span& sp : Received()) {
      if (sp.name == get.substr(1) && sp.parent.empty()) return true;
    }
    return false;
  })) << complaint_->log();
  for (const Span& sp : Received()) EXPECT_NE(sp.trace_id, kTrace) << "an unsampled span was exported: " << sp.name;
  int fresh = 0;
  std::istringstream lines(complaint_->log());
  for (std::string line; std::getline(lines, line);) {
    if (line.find("\"method\":\"" + get + "\"") == std::string::npos) continue;
    std::string id = Field(line, "trace_id");
    EXPECT_TRUE(std::regex_match(id, std::regex("[0-9a-f]{32}"))) << line;
    if (id != kTrace && absl::AsciiStrToLower(upper) != id) ++fresh;
  }
  EXPECT_EQ(fresh, 1) << complaint_->log();
}

}  // namespace
}  // namespace care::testing
