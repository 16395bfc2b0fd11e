// Issue 16, defects 1 and 8, through the real care_notification binary:
// webhook and SMTP URLs are checked when configured and again at send time
// (a stored file:// or gopher:// URL is never fetched), addresses outside the
// allow-list are refused, a gateway's secret stays with its host, and SMTP is
// TLS unless plaintext was allowed for development.
#include <libpq-fe.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/redis.h"
#include "tests/harness/receivers.h"
#include "tests/integration/notification_fixture.h"

namespace care::testing {
namespace {

using care::common::v1::MESSAGE_CHANNEL_EMAIL;
using care::common::v1::MESSAGE_CHANNEL_WEBHOOK;

constexpr char kSecret[] = "webhook-secret-0123456789abcdef0123";

class NotificationEgressTest : public NotificationTest {
 protected:
  // Restarts notification on the same data with the fixture's flags, less
  // those starting with `drop`, plus `extra`.
  void RestartNotification(const std::vector<std::string>& extra, const std::string& drop = "") {
    std::vector<std::string> args = NotificationArgs(extra);
    if (!drop.empty()) std::erase_if(args, [&](const std::string& a) { return absl::StartsWith(a, drop); });
    notif_->Kill();
    notif_->set_extra_args(args);
    absl::Status started = notif_->Start();
    ASSERT_TRUE(started.ok()) << started;
    ConnectNotification();
    SetNotifTime(Base());
  }

  // Writes `webhook_url` into the stored settings the way a release before
  // the fix could have stored it, bypassing UpdateSettings, then restarts.
  void StoreWebhookUrlDirectly(const std::string& webhook_url) {
    nv1::Settings settings;  // the defaults in force, then the URL
    ASSERT_TRUE(nstub_->GetSettings(Ctx(admin()).get(), nv1::GetSettingsRequest(), &settings).ok());
    // The database the harness gave this process, when on PostgreSQL.
    const std::string url = FlagOf(notif_->pid(), "--database_url=");
    const std::string password_file = FlagOf(notif_->pid(), "--database_password_file=");
    notif_->Kill();
    settings.set_version(1);
    settings.mutable_webhook()->set_url(webhook_url);
    settings.mutable_webhook()->set_signing_secret(kSecret);
    const std::string blob = settings.SerializeAsString();
    if (TestPostgres()) {
      ASSERT_FALSE(url.empty()) << "notification runs on PostgreSQL but has no --database_url";
      PutSettingsRowPostgres(url, password_file, blob);
    } else {
      PutSettingsRowSqlite(notif_->data_dir() + "/notification.db", blob);
    }
    absl::Status started = notif_->Start();
    ASSERT_TRUE(started.ok()) << started;
    ConnectNotification();
    SetNotifTime(Base());
  }

  // The value of `--<name>=` on a running process's command line ("" when absent).
  static std::string FlagOf(pid_t pid, absl::string_view prefix) {
    const std::string cmdline = ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
    for (absl::string_view arg : absl::StrSplit(cmdline, '\0')) {
      if (absl::ConsumePrefix(&arg, prefix)) return std::string(arg);
    }
    return "";
  }

  static void PutSettingsRowSqlite(const std::string& path, const std::string& blob) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO settings (id, proto) VALUES (1, ?1)", -1, &stmt, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_bind_blob(stmt, 1, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
    EXPECT_EQ(sqlite3_step(stmt), SQLITE_DONE) << sqlite3_errmsg(db);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
  }

  static void PutSettingsRowPostgres(const std::string& url, const std::string& password_file,
                                     const std::string& blob) {
    const std::string password(absl::StripAsciiWhitespace(ReadFile(password_file)));
    const char* keys[] = {"dbname", "password", "connect_timeout", nullptr};
    const char* values[] = {url.c_str(), password.c_str(), "10", nullptr};
    PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
    EXPECT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
    if (PQstatus(conn) == CONNECTION_OK) {
      const char* params[] = {blob.data()};
      const int lengths[] = {static_cast<int>(blob.size())};
      const int formats[] = {1};  // binary: the bytea as is
      PGresult* r = PQexecParams(
          conn, "INSERT INTO settings (id, proto) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET proto = excluded.proto",
          1, nullptr, params, lengths, formats, 0);
      EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQresultErrorMessage(r);
      PQclear(r);
    }
    PQfinish(conn);
  }

  grpc::Status SetUrl(const std::string& path, const std::string& url, nv1::Settings* out) {
    static int n = 0;
    nv1::UpdateSettingsRequest req;
    req.set_request_id("egress-settings-" + std::to_string(++n));
    if (path == "webhook.url") {
      req.mutable_settings()->mutable_webhook()->set_url(url);
    } else {
      req.mutable_settings()->mutable_email()->set_smtp_url(url);
      req.mutable_settings()->mutable_email()->set_from_address("care@example.com");
      req.mutable_settings()->mutable_email()->set_unsubscribe_url("https://shop.example/unsubscribe");
      req.mutable_update_mask()->add_paths("email.from_address");
      req.mutable_update_mask()->add_paths("email.unsubscribe_url");
    }
    req.mutable_update_mask()->add_paths(path);
    return nstub_->UpdateSettings(Ctx(admin()).get(), req, out);
  }

  void EnrolReachable(const std::string& id, care::common::v1::MessageChannel channel) {
    Enrol(id, [&](lv1::Member* m) {
      m->set_segment("vip");
      m->set_phone("+84901234567");
      m->set_email(id + "@example.com");
      auto* c = m->add_marketing_consents();
      c->set_channel(channel);
      c->set_granted(true);
    });
  }

  // Sends campaign `campaign` on `channel` and waits until its delivery to
  // `member` left PENDING or made its first attempt; returns it.
  nv1::Delivery SendAndWait(const std::string& member, const std::string& campaign,
                            care::common::v1::MessageChannel channel) {
    Ingest(Alert("promotion-" + campaign, campaign, 1, Base() + absl::Hours(72) + absl::Seconds(5), {"vip"},
                 {channel}));
    AdvanceNotif(absl::Seconds(10));
    nv1::GetDeliveryRequest get;
    get.mutable_delivery_key()->set_member_id(member);
    get.mutable_delivery_key()->set_message_key("promotion-alert/" + campaign);
    get.mutable_delivery_key()->set_channel(channel);
    nv1::Delivery d;
    EXPECT_TRUE(Eventually([&] {
      return nstub_->GetDelivery(Ctx(svc()).get(), get, &d).ok() &&
             (d.status() != nv1::DELIVERY_STATUS_PENDING || !d.last_error_code().empty());
    })) << d.DebugString()
        << notif_->log();
    return d;
  }
};

TEST_F(NotificationEgressTest, FileAndGopherUrlsAreRefusedWhenConfigured) {
  nv1::Settings out;
  for (const std::string& url :
       {std::string("file:///etc/passwd"),
        absl::StrCat("gopher://127.0.0.1:", redis_.port(), "/_SET%20egress-probe%20x%0D%0A"),
        std::string("dict://127.0.0.1:6379/info"), std::string("http://hooks.example.com/not-on-the-allow-list")}) {
    grpc::Status s = SetUrl("webhook.url", url, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << url;
    EXPECT_EQ(Reason(s), "URL_SCHEME_NOT_ALLOWED") << url << ": " << Describe(s);
    EXPECT_EQ(BadFields(s), std::vector<std::string>{"settings.webhook.url"}) << url;
    s = SetUrl("email.smtp_url", url, &out);
    EXPECT_EQ(Reason(s), "URL_SCHEME_NOT_ALLOWED") << url << ": " << Describe(s);
    EXPECT_EQ(BadFields(s), std::vector<std::string>{"settings.email.smtp_url"}) << url;
  }
  grpc::Status s = SetUrl("webhook.url", "https://10.0.0.5/hook", &out);
  EXPECT_EQ(Reason(s), "EGRESS_ADDRESS_NOT_ALLOWED") << Describe(s);
  s = SetUrl("webhook.url", "https://user:pw@hooks.example.com/", &out);
  EXPECT_EQ(Reason(s), "URL_CREDENTIALS_NOT_ALLOWED") << Describe(s);
  // Nothing was written.
  ASSERT_TRUE(nstub_->GetSettings(Ctx(admin()).get(), nv1::GetSettingsRequest(), &out).ok());
  EXPECT_EQ(out.webhook().url(), "");
  EXPECT_EQ(out.email().smtp_url(), "");
  EXPECT_EQ(out.version(), 0);
}

// Before the fix the file was read and shown to agents in last_error.
TEST_F(NotificationEgressTest, AStoredFileUrlIsNeverRead) {
  StoreWebhookUrlDirectly("file:///etc/passwd");
  EnrolReachable("f-1", MESSAGE_CHANNEL_WEBHOOK);
  nv1::Delivery d = SendAndWait("f-1", "files", MESSAGE_CHANNEL_WEBHOOK);
  EXPECT_EQ(d.status(), nv1::DELIVERY_STATUS_FAILED) << d.DebugString();
  EXPECT_EQ(d.last_error_code(), "EGRESS_REFUSED");
  EXPECT_TRUE(absl::StartsWith(d.last_error(), "egress refused: scheme \"file\"")) << d.last_error();
  EXPECT_FALSE(absl::StrContains(d.last_error(), "root:")) << d.last_error();
}

// Before the fix the URL's path was sent to Redis as a command.
TEST_F(NotificationEgressTest, AStoredGopherUrlNeverSpeaksToRedis) {
  StoreWebhookUrlDirectly(absl::StrCat("gopher://127.0.0.1:", redis_.port(), "/_SET%20egress-probe%20forged%0D%0A"));
  EnrolReachable("g-1", MESSAGE_CHANNEL_WEBHOOK);
  nv1::Delivery d = SendAndWait("g-1", "gopher", MESSAGE_CHANNEL_WEBHOOK);
  EXPECT_EQ(d.status(), nv1::DELIVERY_STATUS_FAILED) << d.DebugString();
  EXPECT_EQ(d.last_error_code(), "EGRESS_REFUSED");
  RedisOptions options;
  options.port = redis_.port();
  options.password = redis_.password();
  RedisPool redis(options);
  auto probe = redis.Get("egress-probe");
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_FALSE(probe->has_value()) << "Redis executed the URL: " << **probe;
}

TEST_F(NotificationEgressTest, LoopbackIsReachedOnlyThroughTheAllowList) {
  WebhookReceiver receiver([](int) { return 200; });
  nv1::Settings out;
  // The fixture allow-lists 127.0.0.1/32: http to it is configured and delivered.
  {
    nv1::UpdateSettingsRequest req;
    req.set_request_id("egress-loopback");
    req.mutable_settings()->mutable_webhook()->set_url(absl::StrCat("http://127.0.0.1:", receiver.port(), "/hook"));
    req.mutable_settings()->mutable_webhook()->set_signing_secret(kSecret);
    for (const char* p : {"webhook.url", "webhook.signing_secret"}) req.mutable_update_mask()->add_paths(p);
    grpc::Status s = nstub_->UpdateSettings(Ctx(admin()).get(), req, &out);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }
  EnrolReachable("l-1", MESSAGE_CHANNEL_WEBHOOK);
  EXPECT_EQ(SendAndWait("l-1", "allowed", MESSAGE_CHANNEL_WEBHOOK).status(), nv1::DELIVERY_STATUS_SENT);
  ASSERT_EQ(receiver.requests().size(), 1u);

  // Without the allow-list the stored http URL is refused at send time ...
  RestartNotification({}, "--egress_allowlist");
  nv1::Delivery d = SendAndWait("l-1", "refused", MESSAGE_CHANNEL_WEBHOOK);
  EXPECT_EQ(d.status(), nv1::DELIVERY_STATUS_FAILED) << d.DebugString();
  EXPECT_EQ(d.last_error_code(), "EGRESS_REFUSED");
  // ... and neither http nor an address literal of loopback can be configured.
  grpc::Status s = SetUrl("webhook.url", absl::StrCat("http://127.0.0.1:", receiver.port(), "/v2"), &out);
  EXPECT_EQ(Reason(s), "URL_SCHEME_NOT_ALLOWED") << Describe(s);
  s = SetUrl("webhook.url", absl::StrCat("https://127.0.0.1:", receiver.port(), "/v2"), &out);
  EXPECT_EQ(Reason(s), "EGRESS_ADDRESS_NOT_ALLOWED") << Describe(s);
  s = SetUrl("webhook.url", absl::StrCat("https://[::ffff:127.0.0.1]:", receiver.port(), "/v2"), &out);
  EXPECT_EQ(Reason(s), "EGRESS_ADDRESS_NOT_ALLOWED") << Describe(s);
  // A name is accepted, but the address it resolves to is checked where
  // libcurl connects: a name pointing at loopback is refused like the literal.
  s = SetUrl("webhook.url", absl::StrCat("https://localhost:", receiver.port(), "/v3"), &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  d = SendAndWait("l-1", "by-name", MESSAGE_CHANNEL_WEBHOOK);
  EXPECT_EQ(d.status(), nv1::DELIVERY_STATUS_FAILED) << d.DebugString();
  EXPECT_EQ(d.last_error_code(), "EGRESS_REFUSED");
  EXPECT_TRUE(absl::StrContains(d.last_error(), "is loopback")) << d.last_error();
  EXPECT_EQ(receiver.requests().size(), 1u);  // nothing reached it after the first
}

TEST_F(NotificationEgressTest, SmtpIsTlsByDefault) {
  SmtpReceiver plaintext;  // offers no STARTTLS
  nv1::Settings out;
  grpc::Status s = SetUrl("email.smtp_url", absl::StrCat("smtp://127.0.0.1:", plaintext.port()), &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EnrolReachable("t-1", MESSAGE_CHANNEL_EMAIL);
  nv1::Delivery d = SendAndWait("t-1", "tls", MESSAGE_CHANNEL_EMAIL);
  EXPECT_NE(d.status(), nv1::DELIVERY_STATUS_SENT) << d.DebugString();
  EXPECT_EQ(d.last_error_code(), "SMTP_TLS_UNAVAILABLE") << d.DebugString();
  EXPECT_TRUE(plaintext.mails().empty()) << "the message went out in plaintext";
}

// Before the fix the stored password went to whatever host the URL named next.
TEST_F(NotificationEgressTest, MovingTheSmtpUrlToAnotherHostDropsThePassword) {
  RestartNotification({"--smtp_allow_plaintext=true"});  // the test receivers speak no TLS
  const std::string password = "hunter2-smtp-password";
  SmtpReceiver first(/*offer_auth=*/true), second(/*offer_auth=*/true);
  nv1::UpdateSettingsRequest req;
  req.set_request_id("egress-smtp-1");
  nv1::EmailEndpoint* e = req.mutable_settings()->mutable_email();
  e->set_smtp_url(absl::StrCat("smtp://127.0.0.1:", first.port()));
  e->set_from_address("care@example.com");
  e->set_username("care");
  e->set_password(password);
  e->set_unsubscribe_url("https://shop.example/unsubscribe");
  for (const char* p :
       {"email.smtp_url", "email.from_address", "email.username", "email.password", "email.unsubscribe_url"}) {
    req.mutable_update_mask()->add_paths(p);
  }
  nv1::Settings out;
  grpc::Status s = nstub_->UpdateSettings(Ctx(admin()).get(), req, &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_TRUE(out.email().password_set());
  EnrolReachable("p-1", MESSAGE_CHANNEL_EMAIL);
  EXPECT_EQ(SendAndWait("p-1", "first-host", MESSAGE_CHANNEL_EMAIL).status(), nv1::DELIVERY_STATUS_SENT);
  ASSERT_FALSE(first.auths().empty());  // the host it was given for gets it

  // Only the URL changes, to another port: another server.
  s = SetUrl("email.smtp_url", absl::StrCat("smtp://127.0.0.1:", second.port()), &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_FALSE(out.email().password_set());
  ASSERT_TRUE(nstub_->GetSettings(Ctx(admin()).get(), nv1::GetSettingsRequest(), &out).ok());
  EXPECT_FALSE(out.email().password_set());
  EXPECT_EQ(SendAndWait("p-1", "second-host", MESSAGE_CHANNEL_EMAIL).status(), nv1::DELIVERY_STATUS_SENT);
  ASSERT_EQ(second.mails().size(), 1u);
  for (const std::string& line : second.auths()) {
    std::string decoded;
    for (absl::string_view word : absl::StrSplit(line, ' ')) {
      if (absl::Base64Unescape(word, &decoded)) {
        EXPECT_FALSE(absl::StrContains(decoded, password)) << line;
      }
    }
    EXPECT_FALSE(absl::StrContains(line, password)) << line;
  }
}

TEST_F(NotificationEgressTest, TheWebhookSecretStaysWithItsOrigin) {
  nv1::UpdateSettingsRequest req;
  req.set_request_id("egress-webhook-secret");
  req.mutable_settings()->mutable_webhook()->set_url("https://hooks.example.com/a");
  req.mutable_settings()->mutable_webhook()->set_signing_secret(kSecret);
  for (const char* p : {"webhook.url", "webhook.signing_secret"}) req.mutable_update_mask()->add_paths(p);
  nv1::Settings out;
  grpc::Status s = nstub_->UpdateSettings(Ctx(admin()).get(), req, &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  // Another path on the same origin keeps it ...
  ASSERT_TRUE(SetUrl("webhook.url", "https://HOOKS.example.com:443/b", &out).ok());
  EXPECT_TRUE(out.webhook().signing_secret_set());
  // ... another host drops it, as does another port or scheme.
  ASSERT_TRUE(SetUrl("webhook.url", "https://elsewhere.example.net/b", &out).ok());
  EXPECT_FALSE(out.webhook().signing_secret_set());
}

TEST(NotificationEgressFlags, AMalformedAllowListStopsStartUpNamingTheFlag) {
  TempDir dir;
  Tokens tokens = WriteTokens(dir.path());
  for (const auto& [flag, value] :
       std::vector<std::pair<std::string, std::string>>{{"egress_allowlist", "10.0.0.1/8"},
                                                        {"egress_allowlist", "127.0.0.1/32,http://hooks.example.com"},
                                                        {"egress_allowlist", std::string(5000, 'a')},
                                                        {"egress_cluster_cidrs", "cluster.local"}}) {
    Exited run = RunToExit(ServiceArgv(CARE_NOTIFICATION_BIN, tokens.file, dir.path(), {"--" + flag + "=" + value}));
    EXPECT_EQ(run.code, 2) << flag << "=" << value;
    EXPECT_NE(run.log.find("configuration error: " + flag), std::string::npos) << run.log;
  }
}

}  // namespace
}  // namespace care::testing
