// Several care_notification replicas on one PostgreSQL database: an alert's
// fan-out is shared between them (each claims leased member-id ranges), and
// when one is killed mid-range another takes the range over once its lease
// ends. Each member gets one alert whatever happens.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "tests/integration/notification_fixture.h"

namespace care::testing {
namespace {

class NotificationReplicasTest : public NotificationTest {
 protected:
  // A replica of care_notification on `database_url`, its metrics on a
  // port of its own.
  std::unique_ptr<ServiceProcess> StartReplica(const PostgresCluster& pg, const std::string& database_url,
                                               const std::string& name) {
    auto replica = std::make_unique<ServiceProcess>(
        CARE_NOTIFICATION_BIN, kNotificationHealth,
        NotificationArgs({"--database_url=" + database_url, "--database_password_file=" + pg.password_file,
                          "--fan_out_batch=10", "--fan_out_lease=2s", "--metrics_port=0",
                          "--metrics_port_file=" + dir_.path() + "/" + name + "_metrics_port"}),
        tokens_);
    absl::Status started = replica->Start();
    EXPECT_TRUE(started.ok()) << started;
    return replica;
  }

  // Points the fixture's stubs at `replica` with its clock at `t`.
  void Use(ServiceProcess& replica, absl::Time t) {
    nstub_ = nv1::NotificationService::NewStub(replica.channel());
    nclock_ = care::common::v1::ClockControl::NewStub(replica.channel());
    SetNotifTime(t);
  }

  // IN_APP deliveries SENT by one replica's own fan-out (its metrics).
  double SentBy(const std::string& name) {
    auto body = HttpGet(std::stoi(ReadFile(dir_.path() + "/" + name + "_metrics_port")), "/metrics");
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
  auto database = CreateTestDatabase(*pg);
  ASSERT_TRUE(database.ok()) << database.status();
  std::unique_ptr<ServiceProcess> a = StartReplica(*pg, *database, "a");
  std::unique_ptr<ServiceProcess> b = StartReplica(*pg, *database, "b");
  ASSERT_FALSE(HasFailure());

  constexpr int kMembers = 3000;
  for (int i = 0; i < kMembers; ++i) EnrolAudience(MemberId(i), "vip", true, "en");
  Use(*a, Base());
  Ingest(Alert("promotion-replicas", "shared", 1, Base() + absl::Hours(72)));
  // Due on both replicas at once.
  Use(*b, Base() + absl::Seconds(1));
  Use(*a, Base() + absl::Seconds(1));

  // Once both have stored some, B dies mid-range.
  ASSERT_TRUE(Eventually([&] { return SentBy("a") > 0 && SentBy("b") > 0; }, absl::Seconds(60)))
      << a->log() << b->log();
  const int64_t resolved_at_kill = Schedule("shared").members_resolved();
  b->Kill();

  ASSERT_TRUE(Eventually(
      [&] {
        nv1::CampaignDeliveryStats st = Stats("shared");
        return st.schedule_state() == nv1::SCHEDULE_STATE_COMPLETED && Count(st, nv1::DELIVERY_STATUS_SENT) == kMembers;
      },
      absl::Seconds(180)))
      << a->log();
  EXPECT_LT(resolved_at_kill, kMembers) << "the kill landed after the fan-out";
  EXPECT_EQ(Schedule("shared").members_resolved(), kMembers);
  EXPECT_EQ(Stats("shared").total_deliveries(), kMembers);

  std::set<std::string> members;
  nv1::ListDeliveriesRequest list;
  list.mutable_filter()->set_campaign_id("shared");
  list.set_page_size(1000);
  for (int pages = 0; pages < 10; ++pages) {
    nv1::ListDeliveriesResponse page;
    ASSERT_TRUE(nstub_->ListDeliveries(Ctx(admin()).get(), list, &page).ok());
    for (const auto& d : page.deliveries()) {
      EXPECT_EQ(d.status(), nv1::DELIVERY_STATUS_SENT);
      EXPECT_TRUE(members.insert(d.member_id()).second) << "two deliveries for " << d.member_id();
    }
    if (page.next_page_token().empty()) break;
    list.set_page_token(page.next_page_token());
  }
  EXPECT_EQ(members.size(), static_cast<size_t>(kMembers));
  for (int i = 0; i < kMembers; i += 97) EXPECT_EQ(Inbox(MemberId(i)).messages_size(), 1) << MemberId(i);
}

}  // namespace
}  // namespace care::testing
