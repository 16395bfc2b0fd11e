// Retention of notification's personal data, on both engines, on the
// services' fake clocks: inbox messages are deleted (not only hidden)
// --inbox_retention after they expire, and sent deliveries with their
// payloads --delivery_retention after they were created; what is within its
// time stays. Counted in care_retention_purged_total{table}. Settings changes
// are in the audit log.
#include <libpq-fe.h>
#include <sqlite3.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "care/common/v1/audit.grpc.pb.h"
#include "tests/integration/notification_fixture.h"

namespace care::testing {
namespace {

class RetentionTest : public NotificationTest {
 protected:
  void SetUp() override {
    NotificationTest::SetUp();
    if (HasFatalFailure()) return;
    notif_.reset();  // again, with short retentions
    std::filesystem::remove(MetricsPortFile());
    StartNotification({"--metrics_port=0", "--metrics_port_file=" + MetricsPortFile(), "--inbox_retention=24h",
                       "--delivery_retention=720h"});
  }

  double Purged(const std::string& table) {
    auto body = HttpGet(std::stoi(ReadFile(MetricsPortFile())), "/metrics");
    EXPECT_TRUE(body.ok()) << body.status();
    return Sample(ParseExposition(body.ok() ? *body : ""), "care_retention_purged_total{table=\"" + table + "\"}");
  }

  // notification's --database_url, from its command line.
  std::string DatabaseUrl() {
    const std::string cmdline = ReadFile(absl::StrCat("/proc/", notif_->pid(), "/cmdline"));
    for (absl::string_view arg : absl::StrSplit(cmdline, '\0')) {
      if (absl::ConsumePrefix(&arg, "--database_url=")) return std::string(arg);
    }
    return "";
  }

  // Rows of `table` in notification's database, read from outside the
  // service: deleted, not hidden.
  int64_t Rows(const std::string& table) {
    const std::string sql = "SELECT COUNT(*) FROM " + table;
    if (auto cluster = TestPostgres()) {
      const std::string password(absl::StripAsciiWhitespace(ReadFile(cluster->password_file)));
      const char* keys[] = {"dbname", "password", "connect_timeout", nullptr};
      const std::string url = DatabaseUrl();
      const char* values[] = {url.c_str(), password.c_str(), "10", nullptr};
      PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
      int64_t n = -1;
      if (PQstatus(conn) == CONNECTION_OK) {
        PGresult* r = PQexec(conn, sql.c_str());
        if (PQresultStatus(r) == PGRES_TUPLES_OK) n = std::stoll(PQgetvalue(r, 0, 0));
        PQclear(r);
      }
      PQfinish(conn);
      return n;
    }
    sqlite3* db = nullptr;
    int64_t n = -1;
    const std::string path = notif_->data_dir() + "/notification.db";
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_stmt* stmt = nullptr;
      if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
        n = sqlite3_column_int64(stmt, 0);
      }
      sqlite3_finalize(stmt);
    }
    sqlite3_close(db);
    return n;
  }

  void Profile(const std::string& member) {
    nv1::IngestEventRequest req;
    req.set_event_id("profile-" + member);
    req.set_source("loyalty");
    *req.mutable_occurred_at() = ToTimestamp(Base());
    req.mutable_member_profile_changed()->set_member_id(member);
    req.mutable_member_profile_changed()->set_name("Lan");
    req.mutable_member_profile_changed()->set_locale("en");
    Ingest(req);
  }

  void VisitReward(const std::string& member, int visits) {
    nv1::IngestEventRequest req;
    req.set_event_id(absl::StrCat("visit-", member, "-", visits));
    req.set_source("loyalty");
    *req.mutable_occurred_at() = ToTimestamp(Base());
    req.mutable_visit_reward_earned()->set_member_id(member);
    req.mutable_visit_reward_earned()->set_visit_count(visits);
    req.mutable_visit_reward_earned()->set_reward("free coffee");
    Ingest(req);
  }

  int InAppDeliveries(const std::string& member) {
    nv1::ListDeliveriesRequest req;
    req.mutable_filter()->set_member_id(member);
    req.mutable_filter()->add_channels(care::common::v1::MESSAGE_CHANNEL_IN_APP);
    nv1::ListDeliveriesResponse resp;
    grpc::Status s = nstub_->ListDeliveries(Ctx(admin()).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return resp.deliveries_size();
  }
};

TEST_F(RetentionTest, ExpiredInboxMessagesAndOldDeliveriesAreDeleted) {
  // Inbox messages live 10 days (the in-app setting), then are hidden; the
  // change is audited with its reason.
  nv1::UpdateSettingsRequest settings;
  settings.set_request_id("short-inbox");
  *settings.mutable_settings()->mutable_in_app()->mutable_retention() = ToDurationProto(absl::Hours(24 * 10));
  settings.mutable_update_mask()->add_paths("in_app.retention");
  nv1::Settings saved;
  auto ctx = Ctx(admin());
  ctx->AddMetadata("care-reason", "data minimisation");
  ASSERT_TRUE(nstub_->UpdateSettings(ctx.get(), settings, &saved).ok());
  {
    care::common::v1::ListAuditEntriesRequest req;
    req.set_target("settings");
    care::common::v1::ListAuditEntriesResponse resp;
    auto audit = care::common::v1::AuditLog::NewStub(notif_->channel());
    ASSERT_TRUE(audit->ListAuditEntries(Ctx(admin()).get(), req, &resp).ok());
    ASSERT_EQ(resp.entries_size(), 1);
    EXPECT_TRUE(absl::EndsWith(resp.entries(0).action(), "/UpdateSettings")) << resp.entries(0).action();
    EXPECT_EQ(resp.entries(0).reason(), "data minimisation");
  }

  Profile("lan");
  VisitReward("lan", 10);  // day 0: expires day 10, deleted day 11
  ASSERT_TRUE(Eventually([&] { return Inbox("lan").messages_size() == 1; })) << notif_->log();
  const int64_t first_day = Rows("deliveries");  // every channel's
  ASSERT_GE(first_day, 1);
  AdvanceNotif(absl::Hours(24 * 5));
  VisitReward("lan", 20);  // day 5: expires day 15, deleted day 16
  ASSERT_TRUE(Eventually([&] { return Inbox("lan").messages_size() == 2; })) << notif_->log();
  ASSERT_EQ(Rows("inbox"), 2);
  ASSERT_EQ(InAppDeliveries("lan"), 2);
  const int64_t both_days = Rows("deliveries");
  const double inbox_purged = Purged("inbox");
  const double deliveries_purged = Purged("deliveries");

  // Day 10.5: the first is hidden (expired) but still within its retention.
  AdvanceNotif(absl::Hours(24 * 5 + 12));
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(Inbox("lan").messages_size(), 1);
  EXPECT_EQ(Rows("inbox"), 2);
  // Day 11 and a minute: it is gone from the database; the second stays.
  AdvanceNotif(absl::Hours(12) + absl::Minutes(1));
  ASSERT_TRUE(Eventually([&] { return Rows("inbox") == 1; })) << notif_->log();
  EXPECT_EQ(Inbox("lan").messages_size(), 1);
  EXPECT_EQ(Purged("inbox"), inbox_purged + 1);
  // Day 16 and a minute: the second too.
  AdvanceNotif(absl::Hours(24 * 5));
  ASSERT_TRUE(Eventually([&] { return Rows("inbox") == 0; })) << notif_->log();
  EXPECT_EQ(Purged("inbox"), inbox_purged + 2);

  // Deliveries are kept 30 days from their creation: at day 29 both stay.
  AdvanceNotif(absl::Hours(24 * 13));
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(InAppDeliveries("lan"), 2);
  // Day 30 and two minutes: the first went, the second (day 5) stays.
  AdvanceNotif(absl::Hours(24));
  ASSERT_TRUE(Eventually([&] { return InAppDeliveries("lan") == 1; })) << notif_->log();
  EXPECT_EQ(Rows("deliveries"), both_days - first_day);
  EXPECT_EQ(Purged("deliveries"), deliveries_purged + static_cast<double>(first_day));
  AdvanceNotif(absl::Hours(24 * 5));
  ASSERT_TRUE(Eventually([&] { return InAppDeliveries("lan") == 0; })) << notif_->log();
  EXPECT_EQ(Rows("deliveries"), 0);
}

TEST_F(RetentionTest, RetentionFlagsOutOfBoundsStopTheService) {
  ServiceProcess bad(CARE_NOTIFICATION_BIN, kNotificationHealth, NotificationArgs({"--delivery_retention=1h"}),
                     tokens_);
  absl::Status started = bad.Start();
  EXPECT_FALSE(started.ok());
  EXPECT_NE(bad.log().find("delivery_retention must be between 7 days and 3660 days"), std::string::npos) << bad.log();
}

}  // namespace
}  // namespace care::testing
