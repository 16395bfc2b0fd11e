// Prometheus metrics of a running service: care_loyalty started with
// --metrics_port=0, scraped over HTTP before and after calls made through the
// generated stubs; the counters, histograms and gauges must move with them.

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/harness/scrape.h"
#include "tests/integration/loyalty_fixture.h"

namespace care::testing {
namespace {

constexpr char kService[] = "care.loyalty.v1.LoyaltyService";

std::string Calls(const std::string& method, const std::string& code) {
  return absl::StrCat("care_rpc_calls_total{service=\"", kService, "\",method=\"", method, "\",code=\"", code, "\"}");
}
std::string LatencyCount(const std::string& method) {
  return absl::StrCat("care_rpc_latency_seconds_count{service=\"", kService, "\",method=\"", method, "\"}");
}
std::string Lookups(const std::string& result) {
  return absl::StrCat("care_tier_cache_lookups_total{result=\"", result, "\"}");
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
  EXPECT_GT(Sample(after, absl::StrCat("care_rpc_latency_seconds_sum{service=\"", kService, "\",method=\"GetTier\"}")),
            0);
  // Cumulative buckets: the +Inf bucket is the count.
  EXPECT_EQ(Sample(after, absl::StrCat("care_rpc_latency_seconds_bucket{service=\"", kService,
                                       "\",method=\"GetTier\",le=\"+Inf\"}")),
            Sample(after, LatencyCount("GetTier")));
  // Only this scrape's own calls are in flight: none.
  EXPECT_EQ(Sample(after, "care_rpc_in_flight"), 0);
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
  notification_.set_down(false);
  ASSERT_TRUE(Eventually([&] { return Sample(Scrape(), "care_outbox_backlog") == 0; }, absl::Seconds(30)))
      << ScrapeText();
}

TEST_F(MetricsTest, ExpositionDeclaresEveryFamilyWithHelpAndType) {
  std::string text = ScrapeText();
  // The runtime's families, the tier cache's and loyalty's own are declared
  // before their first sample, so dashboards bind.
  for (const char* family :
       {"care_rpc_calls_total counter", "care_rpc_latency_seconds histogram", "care_rpc_in_flight gauge",
        "care_tier_cache_lookups_total counter", "care_outbox_backlog gauge", "care_outbox_deliveries_total counter",
        "care_work_pool_queue_depth gauge", "care_work_pool_rejected_total counter",
        "care_loyalty_member_exports_total counter"}) {
    EXPECT_NE(text.find(absl::StrCat("# TYPE ", family, "\n")), std::string::npos) << family << "\n" << text;
  }
  EXPECT_NE(text.find("# HELP care_rpc_calls_total "), std::string::npos);
  // Anything but /metrics is a 404, not a crash.
  auto other = HttpGet(MetricsPort(), "/");
  EXPECT_FALSE(other.ok());
  EXPECT_NE(std::string(other.status().message()).find("404"), std::string::npos) << other.status();
  // The server still answers afterwards.
  EXPECT_TRUE(HttpGet(MetricsPort(), "/metrics").ok());
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
