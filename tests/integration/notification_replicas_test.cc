// Several care_notification replicas on one PostgreSQL database: an alert's
// fan-out is shared between them (each claims leased member-id ranges), and
// when one is killed mid-range another takes the range over once its lease
// ends. Each member gets one alert whatever happens.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tests/integration/notification_fixture.h"

namespace care::testing {
namespace {

class NotificationReplicasTest : public NotificationTest {
 protected:
  // Replica `i` of `replicas`, with its metrics on a port of its own.
  std::vector<std::string> ReplicaArgs(const Replicas& replicas, const PostgresCluster& pg, size_t i) {
    return NotificationArgs({"--database_url=" + replicas.database_url(),
                             "--database_password_file=" + pg.password_file, "--fan_out_batch=10", "--fan_out_lease=2s",
                             "--metrics_port=0", "--metrics_port_file=" + MetricsFile(i)});
  }
  std::string MetricsFile(size_t i) { return absl::StrCat(dir_.path(), "/replica", i, "_metrics_port"); }

  // Points the fixture's stubs at `replica` with its clock at `t`.
  void Use(ServiceProcess& replica, absl::Time t) {
    nstub_ = nv1::NotificationService::NewStub(replica.channel());
    nclock_ = care::common::v1::ClockControl::NewStub(replica.channel());
    SetNotifTime(t);
  }

  // IN_APP deliveries SENT by replica `i`'s own fan-out (its metrics).
  double SentBy(size_t i) {
    auto body = HttpGet(std::stoi(ReadFile(MetricsFile(i))), "/metrics");
    return Sample(ParseExposition(body.ok() ? *body : ""),
                  "care_notification_deliveries_total{channel=\"IN_APP\",status=\"SENT\"}");
  }
};

// Loyalty-style ids ("m-" and hex digits), spread over the id space.
std::string MemberId(int i) { return absl::StrFormat("m-%04x%012d", (i * 7919) % 65536, i); }

TEST_F(NotificationReplicasTest, TwoReplicasShareAFanOutAndOneKilledMidwayLeavesExactlyOneAlertEach) {
  std::optional<PostgresCluster> pg = TestPostgres();
  if (!pg) GTEST_SKIP() << "several writers on one database: PostgreSQL only";
  notif_->Kill();  // the fixture's own replica, on a database of its own
  Replicas replicas(CARE_NOTIFICATION_BIN, kNotificationHealth, 2, {}, tokens_);
  // Started from this thread, one after the other: a child is killed when
  // the thread that started it ends (PR_SET_PDEATHSIG), and StartAll starts
  // each on a thread of its own.
  for (size_t i = 0; i < replicas.size(); ++i) {
    replicas[i].set_extra_args(ReplicaArgs(replicas, *pg, i));
    absl::Status started = replicas[i].Start();
    ASSERT_TRUE(started.ok()) << started;
  }
  ServiceProcess& a = replicas[0];
  ServiceProcess& b = replicas[1];

  constexpr int kMembers = 3000;
  for (int i = 0; i < kMembers; ++i) EnrolAudience(MemberId(i), "vip", true, "en");
  Use(a, Base());
  Ingest(Alert("promotion-replicas", "shared", 1, Base() + absl::Hours(72)));
  // Due on both replicas at once.
  Use(b, Base() + absl::Seconds(1));
  Use(a, Base() + absl::Seconds(1));

  // Once both have stored some, B dies mid-range.
  ASSERT_TRUE(Eventually([&] { return SentBy(0) > 0 && SentBy(1) > 0; }, absl::Seconds(60))) << a.log() << b.log();
  const int64_t resolved_at_kill = Schedule("shared").members_resolved();
  b.Kill();

  ASSERT_TRUE(Eventually(
      [&] {
        nv1::CampaignDeliveryStats st = Stats("shared");
        return st.schedule_state() == nv1::SCHEDULE_STATE_COMPLETED && Count(st, nv1::DELIVERY_STATUS_SENT) == kMembers;
      },
      absl::Seconds(180)))
      << a.log();
  EXPECT_LT(resolved_at_kill, kMembers) << "the kill landed after the fan-out";
  EXPECT_EQ(Schedule("shared").members_resolved(), kMembers);
  EXPECT_EQ(Stats("shared").total_deliveries(), kMembers);

  std::set<std::string> members = SentMembers("shared");
  EXPECT_EQ(members.size(), static_cast<size_t>(kMembers));
  for (int i = 0; i < kMembers; i += 97) EXPECT_EQ(Inbox(MemberId(i)).messages_size(), 1) << MemberId(i);
}

}  // namespace
}  // namespace care::testing
