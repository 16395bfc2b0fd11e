// The metrics registry and its text exposition (format 0.0.4), and the HTTP
// exporter, without any service.

#include "common/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "common/jobs.h"
#include "gtest/gtest.h"
#include "tests/harness/scrape.h"

namespace care::metrics {
namespace {

TEST(MetricsTest, CountersRenderWithSortedEscapedLabels) {
  Registry r;
  auto& c = r.Counter("care_test_total", "A test counter.\nSecond line", {"channel", "status"});
  c.Inc({"SMS", "SENT"});
  c.Inc({"IN_APP", "SENT"}, 2);
  c.Inc({"IN_APP", "quote\"back\\slash\nnl"});
  EXPECT_EQ(r.Render(),
            "# HELP care_test_total A test counter.\\nSecond line\n"
            "# TYPE care_test_total counter\n"
            "care_test_total{channel=\"IN_APP\",status=\"SENT\"} 2\n"
            "care_test_total{channel=\"IN_APP\",status=\"quote\\\"back\\\\slash\\nnl\"} 1\n"
            "care_test_total{channel=\"SMS\",status=\"SENT\"} 1\n");
}

TEST(MetricsTest, SameNameReturnsTheSameFamily) {
  Registry r;
  auto& a = r.Counter("care_same_total", "x", {"k"});
  auto& b = r.Counter("care_same_total", "x", {"k"});
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(&a.With({"v"}), &b.With({"v"}));
  EXPECT_EQ(r.Names(), std::vector<std::string>{"care_same_total"});
}

TEST(MetricsDeathTest, MisuseAbortsWithAMessage) {
  Registry r;
  r.Counter("care_x_total", "x", {"a"});
  EXPECT_DEATH(r.Gauge("care_x_total", "x", {"a"}), "declared before");
  EXPECT_DEATH(r.Counter("care_x_total", "x", {"a"}).Inc({"1", "2"}), "2 label values for 1 labels");
  EXPECT_DEATH(r.Counter("bad-name", "x"), "invalid metric name");
}

TEST(MetricsTest, GaugesSetAndAdd) {
  Registry r;
  auto& g = r.Gauge("care_depth", "Depth.");
  g.Set({}, 5);
  g.With({}).Add(-1.5);
  EXPECT_EQ(r.Render(), "# HELP care_depth Depth.\n# TYPE care_depth gauge\ncare_depth 3.5\n");
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithSumAndCount) {
  Registry r;
  auto& h = r.Histogram("care_latency_seconds", "Latency.", {"method"}, {0.1, 1});
  h.Observe({"Get"}, 0.05);
  h.Observe({"Get"}, 0.1);  // on the bound: le is inclusive
  h.Observe({"Get"}, 0.5);
  h.Observe({"Get"}, 7);
  EXPECT_EQ(r.Render(),
            "# HELP care_latency_seconds Latency.\n"
            "# TYPE care_latency_seconds histogram\n"
            "care_latency_seconds_bucket{method=\"Get\",le=\"0.1\"} 2\n"
            "care_latency_seconds_bucket{method=\"Get\",le=\"1\"} 3\n"
            "care_latency_seconds_bucket{method=\"Get\",le=\"+Inf\"} 4\n"
            "care_latency_seconds_sum{method=\"Get\"} 7.65\n"
            "care_latency_seconds_count{method=\"Get\"} 4\n");
}

TEST(MetricsTest, TheConstantLabelComesFirstOnEverySample) {
  Registry r;
  r.Counter("care_plain_total", "x").Inc({});
  r.Histogram("care_h_seconds", "x", {"method"}, {1}).Observe({"Get"}, 0.5);
  r.SetConstantLabel("care_service", "loy\"alty");
  EXPECT_EQ(r.Render(),
            "# HELP care_h_seconds x\n"
            "# TYPE care_h_seconds histogram\n"
            "care_h_seconds_bucket{care_service=\"loy\\\"alty\",method=\"Get\",le=\"1\"} 1\n"
            "care_h_seconds_bucket{care_service=\"loy\\\"alty\",method=\"Get\",le=\"+Inf\"} 1\n"
            "care_h_seconds_sum{care_service=\"loy\\\"alty\",method=\"Get\"} 0.5\n"
            "care_h_seconds_count{care_service=\"loy\\\"alty\",method=\"Get\"} 1\n"
            "# HELP care_plain_total x\n"
            "# TYPE care_plain_total counter\n"
            "care_plain_total{care_service=\"loy\\\"alty\"} 1\n");
  r.SetConstantLabel("care_service", "loyalty");  // replaces, not adds
  EXPECT_NE(r.Render().find("care_plain_total{care_service=\"loyalty\"} 1\n"), std::string::npos);
}

TEST(MetricsDeathTest, AFamilyCannotDeclareTheConstantLabel) {
  Registry r;
  r.SetConstantLabel("care_service", "loyalty");
  EXPECT_DEATH(r.Counter("care_y_total", "x", {"care_service"}), "constant label");
  Registry s;
  s.Counter("care_z_total", "x", {"care_service"});
  EXPECT_DEATH(s.SetConstantLabel("care_service", "loyalty"), "already has a label");
}

TEST(MetricsTest, ConcurrentIncrementsAreAllCounted) {
  Registry r;
  auto& c = r.Counter("care_concurrent_total", "x", {"k"});
  auto& h = r.Histogram("care_concurrent_seconds", "x", {});
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        c.Inc({i % 2 ? "odd" : "even"});
        h.Observe({}, 0.001 * t);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.With({"odd"}).value() + c.With({"even"}).value(), 40000);
  EXPECT_EQ(h.With({}).count(), 40000u);
  EXPECT_EQ(h.With({}).Cumulative().back(), 40000u);
}

TEST(MetricsTest, CollectorsRefreshBeforeRenderingUntilUnregistered) {
  Registry r;
  auto& g = r.Gauge("care_backlog", "Backlog.");
  int calls = 0;
  {
    auto handle = r.OnCollect([&] { g.Set({}, ++calls); });
    EXPECT_NE(r.Render().find("care_backlog 1\n"), std::string::npos);
    EXPECT_NE(r.Render().find("care_backlog 2\n"), std::string::npos);
  }
  EXPECT_NE(r.Render().find("care_backlog 2\n"), std::string::npos);
  EXPECT_EQ(calls, 2);
}

void DeclareTestFamilies() { Registry::Global().Counter("care_test_added_total", "A family a component added."); }

TEST(MetricsTest, CatalogDeclaresEveryFamilyInTheGlobalRegistry) {
  AddToCatalog(DeclareTestFamilies);
  DeclareAll();
  auto names = Registry::Global().Names();
  for (const char* n : {"care_rpc_calls_total", "care_rpc_latency_seconds", "care_outbox_backlog", "care_outbox_dead",
                        "care_work_pool_queue_depth", "care_test_added_total"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  }
}

TEST(MetricsTest, HttpExporterServesMetricsAnd404sTheRest) {
  Registry r;
  r.Counter("care_http_total", "x").Inc({});
  auto exporter = HttpExporter::Start("127.0.0.1", 0, &r);
  ASSERT_TRUE(exporter.ok()) << exporter.status();
  int port = (*exporter)->port();
  ASSERT_GT(port, 0);
  auto body = care::testing::HttpGet(port, "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_NE(body->find("care_http_total 1\n"), std::string::npos) << *body;
  auto missing = care::testing::HttpGet(port, "/nope");
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(std::string(missing.status().message()).find("404"), std::string::npos);
  EXPECT_FALSE(HttpExporter::Start("not-an-ip", 0, &r).ok());
}

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

TEST(MetricsTest, HttpExporterListensOnIpv6LiteralsAndTheWildcardTakesBothStacks) {
  if (!HaveIpv6()) GTEST_SKIP() << "this host has no IPv6 (::1 cannot be bound)";
  Registry r;
  r.Counter("care_v6_total", "x").Inc({});
  for (const char* host : {"::1", "[::1]"}) {
    auto exporter = HttpExporter::Start(host, 0, &r);
    ASSERT_TRUE(exporter.ok()) << host << ": " << exporter.status();
    auto body = care::testing::HttpGet("::1", (*exporter)->port(), "/metrics");
    ASSERT_TRUE(body.ok()) << host << ": " << body.status();
    EXPECT_NE(body->find("care_v6_total 1\n"), std::string::npos);
    // An IPv6 literal is that address only.
    EXPECT_FALSE(care::testing::HttpGet("127.0.0.1", (*exporter)->port(), "/metrics").ok()) << host;
  }
  for (const char* host : {"::", "0.0.0.0"}) {
    auto exporter = HttpExporter::Start(host, 0, &r);
    ASSERT_TRUE(exporter.ok()) << host << ": " << exporter.status();
    EXPECT_TRUE(care::testing::HttpGet("::1", (*exporter)->port(), "/metrics").ok()) << host;
    EXPECT_TRUE(care::testing::HttpGet("127.0.0.1", (*exporter)->port(), "/metrics").ok()) << host;
  }
  EXPECT_FALSE(HttpExporter::Start("::1::2", 0, &r).ok());
  EXPECT_FALSE(HttpExporter::Start("[127.0.0.1", 0, &r).ok());
}

// One sample of the Global registry's exposition, or -1.
double GlobalSample(const std::string& series) {
  auto samples = care::testing::ParseExposition(Registry::Global().Render());
  auto it = samples.find(series);
  return it == samples.end() ? -1 : it->second;
}

TEST(MetricsTest, ProcessMetricsDescribeThisProcess) {
  DeclareProcessMetrics();
  const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  EXPECT_GT(GlobalSample("process_start_time_seconds"), now - 3600);
  EXPECT_LE(GlobalSample("process_start_time_seconds"), now + 1);
  EXPECT_GT(GlobalSample("process_resident_memory_bytes"), 1 << 20);
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_EQ(GlobalSample("process_max_fds"), static_cast<double>(limit.rlim_cur));
  double fds = GlobalSample("process_open_fds");
  int extra = ::dup(0);
  ASSERT_GE(extra, 0);
  EXPECT_EQ(GlobalSample("process_open_fds"), fds + 1);
  ::close(extra);
  double cpu = GlobalSample("process_cpu_seconds_total");
  const absl::Time until = absl::Now() + absl::Milliseconds(200);
  volatile uint64_t spin = 0;
  while (absl::Now() < until) spin = spin + 1;
  EXPECT_GT(GlobalSample("process_cpu_seconds_total"), cpu + 0.05);
}

TEST(MetricsTest, JobRunsCountOkAndFailedRunsAndTheLastSuccess) {
  JobRunner jobs;
  std::atomic<int> runs{0};
  jobs.Add("test.flaky", absl::Hours(1), [&] {
    // Fails every other run, the way jobs report it.
    if (runs++ % 2 == 0) LogJobFailure("test.flaky", absl::UnavailableError("down"));
    return false;
  });
  jobs.Add("test.throws", absl::Hours(1), []() -> bool { throw std::runtime_error("bug"); });
  const double before = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  jobs.Start();
  auto ok = [] { return JobRuns().With({"test.flaky", "ok"}).value(); };
  auto failed = [] { return JobRuns().With({"test.flaky", "failed"}).value(); };
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (failed() < 1 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(failed(), 1);
  EXPECT_EQ(ok(), 0);
  EXPECT_EQ(JobLastSuccess().With({"test.flaky"}).value(), 0);  // none yet
  jobs.Kick();
  while (ok() < 1 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  jobs.Stop();
  EXPECT_EQ(ok(), 1);
  EXPECT_GE(JobLastSuccess().With({"test.flaky"}).value(), before);
  EXPECT_GE(JobRuns().With({"test.throws", "failed"}).value(), 1);
  EXPECT_EQ(JobRuns().With({"test.throws", "ok"}).value(), 0);
}

TEST(MetricsTest, AClientSendingOneByteAtATimeIsCutOffAndScrapesGoOn) {
  // Slowloris: one header byte every 250 ms would renew a per-read timeout
  // for hours; the exporter gives a client 2 s in all, then serves the next.
  Registry r;
  r.Counter("care_slow_total", "x").Inc({});
  auto exporter = HttpExporter::Start("127.0.0.1", 0, &r);
  ASSERT_TRUE(exporter.ok()) << exporter.status();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>((*exporter)->port()));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  bool cut_off = false;
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (!cut_off && absl::Now() < give_up) {
    if (::send(fd, "G", 1, MSG_NOSIGNAL) != 1) {
      cut_off = true;
      break;
    }
    absl::SleepFor(absl::Milliseconds(250));
    char c;
    cut_off = ::recv(fd, &c, 1, MSG_DONTWAIT) == 0;  // the server closed it
  }
  ::close(fd);
  EXPECT_TRUE(cut_off) << "a client trickling bytes held the exporter for 20 s";
  auto body = care::testing::HttpGet((*exporter)->port(), "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_NE(body->find("care_slow_total 1\n"), std::string::npos) << *body;
}

}  // namespace
}  // namespace care::metrics
