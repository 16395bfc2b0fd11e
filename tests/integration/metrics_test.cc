// Prometheus metrics of a running service: care_loyalty started with
// --metrics_port=0, scraped over HTTP before and after calls made through the
// generated stubs; the counters, histograms and gauges must move with them.

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/build_info.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/harness/scrape.h"
#include "tests/integration/notification_fixture.h"

namespace care::testing {
namespace {

// Every sample of the process carries care_service, the binary's service.
constexpr char kLabel[] = "care_service=\"loyalty\"";
constexpr char kMethods[] = "/care.loyalty.v1.LoyaltyService/";

std::string Calls(const std::string& method, const std::string& code) {
  return absl::StrCat("care_rpc_calls_total{", kLabel, ",method=\"", kMethods, method, "\",code=\"", code, "\"}");
}
std::string LatencyCount(const std::string& method) {
  return absl::StrCat("care_rpc_latency_seconds_count{", kLabel, ",method=\"", kMethods, method, "\"}");
}
std::string Lookups(const std::string& result) {
  return absl::StrCat("care_tier_cache_lookups_total{", kLabel, ",result=\"", result, "\"}");
}
// A series of the streaming families: care_rpc_stream_<name>{care_service,method[,code]}.
std::string Stream(const std::string& name, const std::string& method, const std::string& code = "") {
  return absl::StrCat("care_rpc_stream_", name, "{", kLabel, ",method=\"", kMethods, method, "\"",
                      code.empty() ? "" : absl::StrCat(",code=\"", code, "\""), "}");
}

class MetricsTest : public LoyaltyTest {
 protected:
  std::vector<std::string> ExtraArgs() override {
    // Memo off: every GetTier then asks Redis, so hits and misses are Redis's
    // (MemoHitsAreCountedApart covers the memo).
    return {"--metrics_port=0", "--metrics_port_file=" + PortFile(), "--tier_memo_entries=" + memo_entries_};
  }
  std::string PortFile() { return dir_.path() + "/metrics_port"; }
  std::string memo_entries_ = "0";

  int MetricsPort() { return std::stoi(ReadFile(PortFile())); }

  std::string ScrapeText() {
    auto body = HttpGet(MetricsPort(), "/metrics");
    EXPECT_TRUE(body.ok()) << body.status();
    return body.ok() ? *body : "";
  }
  std::map<std::string, double> Scrape() { return ParseExposition(ScrapeText()); }
};

class MemoMetricsTest : public MetricsTest {
 protected:
  MemoMetricsTest() { memo_entries_ = "1000"; }
};

TEST_F(MemoMetricsTest, MemoHitsAreCountedApart) {
  Configure();
  Enrol("ann");
  auto before = Scrape();
  EXPECT_EQ(GetTier("ann").tier_id(), "member");  // enrolment put it in the memo
  auto after = Scrape();
  auto delta = [&](const std::string& series) { return Sample(after, series) - Sample(before, series); };
  EXPECT_EQ(delta(Lookups("memo")), 1);
  EXPECT_EQ(delta(Lookups("hit")), 0);
  EXPECT_EQ(delta(Lookups("miss")), 0);
}

TEST_F(MetricsTest, CallsCacheLookupsAndLatencyMoveWithTraffic) {
  Configure();
  Enrol("ann");
  ASSERT_TRUE(Eventually([&] { return CachedTier("ann").has_value(); }));
  auto before = Scrape();

  // A hit: the snapshot is in Redis.
  EXPECT_EQ(GetTier("ann").tier_id(), "member");
  // A miss: the entry is gone, so loyalty reads its database (and refills).
  ASSERT_TRUE(redis_client_->Delete(TierCacheKey("ann")).ok());
  EXPECT_EQ(GetTier("ann").tier_id(), "member");
  // An error the client sees: NOT_FOUND for a member that does not exist.
  lv1::GetMemberRequest missing;
  missing.set_member_id("nobody");
  lv1::Member member;
  grpc::Status s = stub().GetMember(Ctx(svc()).get(), missing, &member);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(s);
  // And one refused before the handler: no token.
  s = stub().GetMember(Ctx("").get(), missing, &member);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << Describe(s);

  auto after = Scrape();
  auto delta = [&](const std::string& series) { return Sample(after, series) - Sample(before, series); };
  EXPECT_EQ(delta(Calls("GetTier", "OK")), 2);
  EXPECT_EQ(delta(Calls("GetMember", "NOT_FOUND")), 1);
  EXPECT_EQ(delta(Calls("GetMember", "UNAUTHENTICATED")), 1);
  EXPECT_EQ(delta(Lookups("hit")), 1);
  EXPECT_EQ(delta(Lookups("miss")), 1);
  EXPECT_EQ(delta(Lookups("error")), 0);
  EXPECT_EQ(delta(LatencyCount("GetTier")), 2);
  EXPECT_EQ(delta(LatencyCount("GetMember")), 2);
  EXPECT_GT(Sample(after, absl::StrCat("care_rpc_latency_seconds_sum{", kLabel, ",method=\"", kMethods, "GetTier\"}")),
            0);
  // Cumulative buckets: the +Inf bucket is the count.
  EXPECT_EQ(Sample(after, absl::StrCat("care_rpc_latency_seconds_bucket{", kLabel, ",method=\"", kMethods,
                                       "GetTier\",le=\"+Inf\"}")),
            Sample(after, LatencyCount("GetTier")));
  // Only this scrape's own calls are in flight: none.
  EXPECT_EQ(Sample(after, absl::StrCat("care_rpc_in_flight{", kLabel, "}")), 0);
}

TEST_F(MetricsTest, StreamsHaveTheirOwnFamiliesAndStayOutOfUnaryLatency) {
  Configure();
  for (int i = 0; i < 5; ++i) Enrol(absl::StrCat("s", i));
  auto before = Scrape();
  int received = 0;
  {
    auto ctx = Ctx(tokens_.peer_notification);
    auto reader = stub().ExportMembers(ctx.get(), lv1::ExportMembersRequest());
    lv1::Member m;
    while (reader->Read(&m)) ++received;
    grpc::Status s = reader->Finish();
    ASSERT_TRUE(s.ok()) << Describe(s);
  }
  {  // Refused before its handler: a stream too, with its code.
    auto ctx = Ctx(svc());
    auto reader = stub().ExportMembers(ctx.get(), lv1::ExportMembersRequest());
    lv1::Member m;
    EXPECT_FALSE(reader->Read(&m));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  ASSERT_EQ(received, 5);
  auto after = Scrape();
  auto delta = [&](const std::string& series) { return Sample(after, series) - Sample(before, series); };
  EXPECT_EQ(delta(Stream("calls_total", "ExportMembers", "OK")), 1) << ScrapeText();
  EXPECT_EQ(delta(Stream("calls_total", "ExportMembers", "PERMISSION_DENIED")), 1);
  EXPECT_EQ(delta(Stream("messages_sent_total", "ExportMembers")), 5);
  EXPECT_EQ(delta(Stream("duration_seconds_count", "ExportMembers")), 2);
  EXPECT_GT(Sample(after, Stream("duration_seconds_sum", "ExportMembers")), 0);
  EXPECT_EQ(Sample(after, absl::StrCat("care_rpc_streams_open{", kLabel, "}")), 0);
  // Not a unary call: no latency sample, no care_rpc_calls_total.
  EXPECT_EQ(after.count(LatencyCount("ExportMembers")), 0u);
  EXPECT_EQ(after.count(Calls("ExportMembers", "OK")), 0u);
  EXPECT_EQ(after.count(Calls("ExportMembers", "PERMISSION_DENIED")), 0u);
}

// A live inbox feed stays open (it waits for changes): counted in
// care_rpc_streams_open while it lasts, never as a unary call in flight.
class InboxStreamMetricsTest : public NotificationTest {
 protected:
  std::map<std::string, double> ScrapeNotification() {
    auto body = HttpGet(std::stoi(ReadFile(MetricsPortFile())), "/metrics");
    EXPECT_TRUE(body.ok()) << body.status();
    return ParseExposition(body.ok() ? *body : "");
  }
};

TEST_F(InboxStreamMetricsTest, ALiveFeedIsAnOpenStreamUntilItEnds) {
  constexpr char kLabels[] = "{care_service=\"notification\"}";
  const std::string open = absl::StrCat("care_rpc_streams_open", kLabels);
  const std::string method = "method=\"/care.notification.v1.NotificationService/SubscribeInbox\"";
  auto ctx = Ctx(svc(), absl::Seconds(30));
  auto reader = nstub_->SubscribeInbox(ctx.get(), nv1::SubscribeInboxRequest());
  ASSERT_TRUE(Eventually([&] { return Sample(ScrapeNotification(), open) == 1; }));
  EXPECT_EQ(Sample(ScrapeNotification(), absl::StrCat("care_rpc_in_flight", kLabels)), 0);
  ctx->TryCancel();
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(Eventually([&] { return Sample(ScrapeNotification(), open) == 0; }));
  auto m = ScrapeNotification();
  EXPECT_EQ(Sample(m, absl::StrCat("care_rpc_stream_calls_total{care_service=\"notification\",", method,
                                   ",code=\"CANCELLED\"}")),
            1);
  EXPECT_EQ(
      Sample(m, absl::StrCat("care_rpc_stream_duration_seconds_count{care_service=\"notification\",", method, "}")), 1);
  EXPECT_EQ(m.count(absl::StrCat("care_rpc_latency_seconds_count{care_service=\"notification\",", method, "}")), 0u);
}

// /proc/<pid>/<file> of the service, as text.
std::string ProcFile(pid_t pid, const std::string& file) { return ReadFile(absl::StrCat("/proc/", pid, "/", file)); }

// A "Key:   <number> ..." line of /proc/<pid>/status or limits.
double ProcNumber(const std::string& text, absl::string_view key) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, key)) continue;
    std::vector<absl::string_view> words = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    double v = 0;
    if (!words.empty() && absl::SimpleAtod(words[0], &v)) return v;
  }
  return -1;
}

TEST_F(MetricsTest, BuildInfoAndProcessMetricsDescribeTheServiceProcess) {
  const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  auto m = Scrape();
  EXPECT_EQ(Sample(m, absl::StrCat("care_build_info{", kLabel, ",version=\"", build_info::kVersion, "\",commit=\"",
                                   build_info::kCommit, "\"}")),
            1)
      << ScrapeText();
  const pid_t pid = service_->pid();
  const std::string status = ProcFile(pid, "status");
  // Started by this test's fixture, moments ago.
  double start = Sample(m, absl::StrCat("process_start_time_seconds{", kLabel, "}"));
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 120);
  // What the kernel says of the same process (it may move a little between the reads).
  double rss = Sample(m, absl::StrCat("process_resident_memory_bytes{", kLabel, "}"));
  double kernel_rss = ProcNumber(status, "VmRSS:") * 1024;
  EXPECT_GT(rss, 0.5 * kernel_rss);
  EXPECT_LT(rss, 2 * kernel_rss);
  EXPECT_EQ(Sample(m, absl::StrCat("process_max_fds{", kLabel, "}")),
            ProcNumber(ProcFile(pid, "limits"), "Max open files"));
  int fds = 0;
  if (DIR* dir = ::opendir(absl::StrCat("/proc/", pid, "/fd").c_str())) {
    while (const dirent* e = ::readdir(dir)) fds += e->d_name[0] != '.';
    ::closedir(dir);
  }
  double open = Sample(m, absl::StrCat("process_open_fds{", kLabel, "}"));
  EXPECT_GT(open, 3);
  EXPECT_NEAR(open, fds, 10);
  // Start-up (migrations, gRPC) used some CPU; the counter never goes back.
  double cpu = Sample(m, absl::StrCat("process_cpu_seconds_total{", kLabel, "}"));
  EXPECT_GT(cpu, 0);
  EXPECT_GE(Sample(Scrape(), absl::StrCat("process_cpu_seconds_total{", kLabel, "}")), cpu);
}

TEST_F(MetricsTest, JobRunsAndTheirLastSuccessAreExported) {
  // The outbox relay runs every 50 ms (the fixture's --outbox_interval).
  const std::string runs = absl::StrCat("care_job_runs_total{", kLabel,
                                        ",care_job=\"loyalty.outbox_relay\",result=\"ok\"}");
  const std::string last = absl::StrCat("care_job_last_success_timestamp_seconds{", kLabel,
                                        ",care_job=\"loyalty.outbox_relay\"}");
  double first = Sample(Scrape(), runs);
  ASSERT_TRUE(Eventually([&] { return Sample(Scrape(), runs) > first; })) << ScrapeText();
  auto m = Scrape();
  double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  EXPECT_GT(Sample(m, last), now - 10) << ScrapeText();
  EXPECT_LE(Sample(m, last), now + 1);
  EXPECT_EQ(Sample(m, absl::StrCat("care_job_runs_total{", kLabel,
                                   ",care_job=\"loyalty.outbox_relay\",result=\"failed\"}")),
            0);
}

TEST_F(MetricsTest, OutboxDeliveriesAndBacklogAreExported) {
  Configure();
  Enrol("bob");
  Purchase("bob", "o-1", 100000);  // crosses silver: a TierChanged event for notification
  ASSERT_TRUE(Eventually([&] { return !notification_.Events(nv1::IngestEventRequest::kTierChanged).empty(); }));
  ASSERT_TRUE(Eventually([&] {
    auto m = Scrape();
    return Sample(m, "care_outbox_deliveries_total{destination=\"notification\",result=\"delivered\"}") >= 1 &&
           m.count("care_outbox_backlog") == 1 && Sample(m, "care_outbox_backlog") == 0;
  })) << ScrapeText();

  // Notification down: events wait in the backlog and failures are retries.
  notification_.set_down(true);
  Purchase("bob", "o-2", 100);
  Enrol("cid");
  ASSERT_TRUE(Eventually([&] {
    auto m = Scrape();
    return Sample(m, "care_outbox_deliveries_total{destination=\"notification\",result=\"retry\"}") >= 1 &&
           Sample(m, "care_outbox_backlog") >= 1;
  })) << ScrapeText();
  // The oldest waiting event ages while the receiver stays down.
  ASSERT_TRUE(Eventually([&] { return Sample(Scrape(), "care_outbox_oldest_pending_age_seconds") >= 1; }))
      << ScrapeText();
  EXPECT_LT(Sample(Scrape(), "care_outbox_oldest_pending_age_seconds"), 60) << ScrapeText();
  notification_.set_down(false);
  ASSERT_TRUE(Eventually([&] { return Sample(Scrape(), "care_outbox_backlog") == 0; }, absl::Seconds(30)))
      << ScrapeText();
  EXPECT_EQ(Sample(Scrape(), "care_outbox_oldest_pending_age_seconds"), 0) << ScrapeText();
}

TEST_F(MetricsTest, ExpositionDeclaresEveryFamilyWithHelpAndType) {
  std::string text = ScrapeText();
  // The runtime's families, the tier cache's and loyalty's own are declared
  // before their first sample, so dashboards bind.
  for (const char* family : {"care_rpc_calls_total counter",
                             "care_rpc_latency_seconds histogram",
                             "care_rpc_in_flight gauge",
                             "care_rpc_stream_calls_total counter",
                             "care_rpc_stream_duration_seconds histogram",
                             "care_rpc_stream_messages_sent_total counter",
                             "care_rpc_streams_open gauge",
                             "care_build_info gauge",
                             "care_job_runs_total counter",
                             "care_job_last_success_timestamp_seconds gauge",
                             "process_cpu_seconds_total counter",
                             "process_resident_memory_bytes gauge",
                             "process_open_fds gauge",
                             "process_max_fds gauge",
                             "process_start_time_seconds gauge",
                             "care_tier_cache_lookups_total counter",
                             "care_outbox_backlog gauge",
                             "care_outbox_oldest_pending_age_seconds gauge",
                             "care_outbox_deliveries_total counter",
                             "care_work_pool_queue_depth gauge",
                             "care_work_pool_rejected_total counter",
                             "care_loyalty_member_exports_total counter"}) {
    EXPECT_NE(text.find(absl::StrCat("# TYPE ", family, "\n")), std::string::npos) << family << "\n" << text;
  }
  EXPECT_NE(text.find("# HELP care_rpc_calls_total "), std::string::npos);
  // Every sample names the service, first: no way of scraping renames it.
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "#")) continue;
    EXPECT_NE(line.find(absl::StrCat("{", kLabel)), absl::string_view::npos) << line;
  }
  // Anything but /metrics is a 404, not a crash.
  auto other = HttpGet(MetricsPort(), "/");
  EXPECT_FALSE(other.ok());
  EXPECT_NE(std::string(other.status().message()).find("404"), std::string::npos) << other.status();
  // The server still answers afterwards.
  EXPECT_TRUE(HttpGet(MetricsPort(), "/metrics").ok());
}

// Whether this host has IPv6 at all: ::1 can be bound.
bool HaveIpv6() {
  int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// The harness passes --listen_host=127.0.0.1; a later flag wins. A wildcard,
// "::" (the default) or "0.0.0.0" (as gRPC reads it), is every address of
// both stacks (IPv4 alone on a host without IPv6, where the service must
// start all the same).
class DualStackTest : public MetricsTest, public ::testing::WithParamInterface<const char*> {
 protected:
  std::vector<std::string> ExtraArgs() override {
    std::vector<std::string> args = MetricsTest::ExtraArgs();
    args.push_back(absl::StrCat("--listen_host=", GetParam()));
    return args;
  }
};

INSTANTIATE_TEST_SUITE_P(Wildcards, DualStackTest, ::testing::Values("::", "0.0.0.0"),
                         [](const auto& info) { return std::string(info.index == 0 ? "ipv6_any" : "ipv4_any"); });

TEST_P(DualStackTest, GrpcHealthCallsAndMetricsAnswerOnIpv6Loopback) {
  if (!HaveIpv6()) GTEST_SKIP() << "this host has no IPv6 (::1 cannot be bound), so nothing can answer on it";
  Configure();
  auto channel = grpc::CreateChannel(absl::StrCat("ipv6:[::1]:", service_->port()), grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(kLoyaltyHealth);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status s = health->Check(Ctx("").get(), request, &response);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  lv1::Program program;
  s = lv1::LoyaltyService::NewStub(channel)->GetProgram(Ctx(svc()).get(), lv1::GetProgramRequest(), &program);
  EXPECT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(program.currency_code(), "USD");

  auto v6 = HttpGet("::1", MetricsPort(), "/metrics");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_NE(v6->find("care_build_info{care_service=\"loyalty\""), std::string::npos) << *v6;
  // The same socket takes IPv4 (the harness reached gRPC on 127.0.0.1 too).
  auto v4 = HttpGet("127.0.0.1", MetricsPort(), "/metrics");
  EXPECT_TRUE(v4.ok()) << v4.status();
}

// The fixture logs at warn; this one at info, to read the per-call lines.
class RpcLogTest : public LoyaltyTest {
 protected:
  std::vector<std::string> ExtraArgs() override { return {"--log_level=info"}; }  // later flags win
};

TEST_F(RpcLogTest, RpcLogLinesLeaveOutEmptyReasonAndError) {
  Configure();
  lv1::GetMemberRequest missing;
  missing.set_member_id("nobody");
  lv1::Member member;
  grpc::Status s = stub().GetMember(Ctx(svc()).get(), missing, &member);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  lv1::GetProgramRequest get;
  lv1::Program program;
  ASSERT_TRUE(stub().GetProgram(Ctx(svc()).get(), get, &program).ok());
  std::string log = service_->log();
  std::string ok_line, not_found_line;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (line.find("\"msg\":\"rpc\"") == absl::string_view::npos) continue;
    if (line.find("/GetProgram\"") != absl::string_view::npos) ok_line = std::string(line);
    if (line.find("\"code\":\"NOT_FOUND\"") != absl::string_view::npos) not_found_line = std::string(line);
  }
  ASSERT_FALSE(ok_line.empty()) << log;
  EXPECT_EQ(ok_line.find("\"reason\""), std::string::npos) << ok_line;
  EXPECT_EQ(ok_line.find("\"error\""), std::string::npos) << ok_line;
  ASSERT_FALSE(not_found_line.empty()) << log;
  EXPECT_NE(not_found_line.find("\"reason\":\"MEMBER_NOT_FOUND\""), std::string::npos) << not_found_line;
  EXPECT_EQ(not_found_line.find("\"error\""), std::string::npos) << not_found_line;
}

}  // namespace
}  // namespace care::testing
