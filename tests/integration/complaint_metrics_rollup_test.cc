// GetComplaintMetrics answered from the rollups (issue 22 item 8), through
// the real binary on a fake clock: tickets received over several days, the
// complaint.metrics_rollup job run (the clock moved: the fake clock kicks
// the jobs; the test waits for the job's run to be counted), the figures
// equal hand-computed values, and a ticket resolved after its day was
// rolled up counts at once, before the job runs again.
#include "tests/harness/scrape.h"
#include "tests/integration/complaint_fixture.h"

namespace care::testing {
namespace {

absl::Time Jan(int day, int hour) {
  return absl::FromCivil(absl::CivilSecond(2031, 1, day, hour, 0, 0), absl::UTCTimeZone());
}

class ComplaintMetricsRollupTest : public ComplaintTest {
 protected:
  // The job runs at start and when the clock moves, not on its own.
  std::vector<std::string> ExtraComplaintArgs() override {
    return {"--metrics_rollup_interval=1h", "--metrics_port=0", "--metrics_port_file=" + dir_.path() + "/cmetrics"};
  }

  double RollupRuns() {
    auto body = HttpGet(std::stoi(ReadFile(dir_.path() + "/cmetrics")), "/metrics");
    if (!body.ok()) return -1;
    return Sample(
        ParseExposition(*body),
        "care_job_runs_total{care_service=\"complaint\",care_job=\"complaint.metrics_rollup\",result=\"ok\"}");
  }

  // Moves both clocks (which kicks the jobs) and waits for a run of the
  // rollup job that started after the move: twice, since the first run
  // counted may be one that was under way before it.
  void RollUpAt(absl::Time t) {
    for (int i = 0; i < 2; ++i) {
      const double before = RollupRuns();
      SetBoth(t + absl::Seconds(i));
      ASSERT_TRUE(Eventually([&] { return RollupRuns() > before; })) << "the rollup job did not run";
    }
  }

  std::string FileAt(const std::string& order, kv1::Channel channel, absl::Time received) {
    kv1::CreateComplaintRequest req;
    req.set_request_id("rollup-" + order);
    req.set_member_id("m1");
    req.set_channel(channel);
    req.set_category(kv1::CATEGORY_DELIVERY);
    req.set_order_id(order);
    req.set_description("Late");
    *req.mutable_received_time() = ToTimestamp(received);
    kv1::CreateComplaintResponse out;
    grpc::Status s = complaints().CreateComplaint(Ctx(agent()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out.complaint().complaint_id();
  }

  kv1::ComplaintMetrics ByChannel(absl::Time from, absl::Time to) {
    kv1::GetComplaintMetricsRequest req;
    *req.mutable_start_time() = ToTimestamp(from);
    *req.mutable_end_time() = ToTimestamp(to);
    req.add_group_by(kv1::METRICS_DIMENSION_CHANNEL);
    kv1::ComplaintMetrics m;
    grpc::Status s = complaints().GetComplaintMetrics(Ctx(supervisor()).get(), req, &m);
    EXPECT_TRUE(s.ok()) << Describe(s);
    m.clear_compute_time();
    return m;
  }
};

absl::Duration Median(const kv1::DurationStats& d) { return FromDurationProto(d.median()); }
absl::Duration P90(const kv1::DurationStats& d) { return FromDurationProto(d.p90()); }

TEST_F(ComplaintMetricsRollupTest, RolledUpDaysGiveHandComputedFiguresAndALaterResolutionCountsAtOnce) {
  Enrol("m1");
  // Base() is 2031-01-15 10:00 UTC. Five tickets over four days.
  const std::string t1 = FileAt("o-1", kv1::CHANNEL_PHONE, Jan(12, 9));
  const std::string t2 = FileAt("o-2", kv1::CHANNEL_PHONE, Jan(12, 15));
  const std::string t3 = FileAt("o-3", kv1::CHANNEL_EMAIL, Jan(13, 8));
  const std::string t4 = FileAt("o-4", kv1::CHANNEL_EMAIL, Jan(14, 23));
  FileAt("o-5", kv1::CHANNEL_PHONE, Jan(15, 9));
  // First responses now (no calendar: wall time): t1 after 73 h, t3 after
  // 50 h, t4 after 11 h.
  kv1::ReplyToComplaintResponse out;
  for (const std::string& id : {t1, t3, t4}) ASSERT_TRUE(Reply(id, "We are on it", &out).ok());
  RollUpAt(Base() + absl::Minutes(1));

  kv1::ComplaintMetrics m = ByChannel(Jan(12, 0), Jan(16, 0));
  EXPECT_EQ(m.overall().complaint_count(), 5);
  EXPECT_EQ(m.overall().first_response_time().count(), 3);
  EXPECT_EQ(Median(m.overall().first_response_time()), absl::Hours(50));  // rank 2 of 11, 50, 73
  EXPECT_EQ(P90(m.overall().first_response_time()), absl::Hours(73));     // rank 3
  EXPECT_EQ(FromDurationProto(m.overall().total_consultation_time()), absl::Minutes(15));
  ASSERT_EQ(m.groups_size(), 2);
  EXPECT_EQ(m.groups(0).key().channel(), kv1::CHANNEL_PHONE);
  EXPECT_EQ(m.groups(0).complaint_count(), 3);
  EXPECT_EQ(Median(m.groups(0).first_response_time()), absl::Hours(73));
  EXPECT_EQ(m.groups(1).key().channel(), kv1::CHANNEL_EMAIL);
  EXPECT_EQ(m.groups(1).complaint_count(), 2);
  EXPECT_EQ(Median(m.groups(1).first_response_time()), absl::Hours(11));  // rank 1 of 11, 50
  EXPECT_EQ(P90(m.groups(1).first_response_time()), absl::Hours(50));     // rank 2
  // Part of a day at each edge: t2 (Jan 12 15:00) and t3 only.
  EXPECT_EQ(ByChannel(Jan(12, 12), Jan(14, 0)).overall().complaint_count(), 2);

  // t2, of a day already rolled up, resolved now (the clock is at Base() +
  // 1 min 1 s: its first response too, after 67 h 1 min 1 s): counted at
  // once, before the job runs again.
  kv1::ResolveComplaintResponse resolved;
  grpc::Status s = complaints().ResolveComplaint(Ctx(agent()).get(), ResolveRequest(t2, 0), &resolved);
  ASSERT_TRUE(s.ok()) << Describe(s);
  const absl::Duration t2_time = absl::Hours(67) + absl::Minutes(1) + absl::Seconds(1);
  m = ByChannel(Jan(12, 0), Jan(16, 0));
  EXPECT_EQ(m.overall().resolved_count(), 1);
  EXPECT_EQ(m.overall().first_response_time().count(), 4);
  EXPECT_EQ(Median(m.overall().first_response_time()), absl::Hours(50));  // rank 2 of 11, 50, 67:01:01, 73
  EXPECT_EQ(Median(m.overall().resolution_time()), t2_time);
  ASSERT_EQ(m.groups_size(), 2);
  EXPECT_EQ(m.groups(0).resolved_count(), 1);
  EXPECT_EQ(Median(m.groups(0).first_response_time()), t2_time);  // rank 1 of 67:01:01, 73
  EXPECT_EQ(P90(m.groups(0).first_response_time()), absl::Hours(73));

  // Rolled up again: the same figures.
  RollUpAt(Base() + absl::Minutes(2));
  EXPECT_EQ(ByChannel(Jan(12, 0), Jan(16, 0)).SerializeAsString(), m.SerializeAsString());
}

}  // namespace
}  // namespace care::testing
