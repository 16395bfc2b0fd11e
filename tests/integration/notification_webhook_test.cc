// WEBHOOK deliveries end to end: a promotion alert through the real binaries
// to a receiver in the test, with retries on the fake clock, dead letters
// and their replay.
#include "common/hmac.h"
#include "tests/harness/receivers.h"
#include "tests/integration/notification_fixture.h"

namespace care::testing {
namespace {

using care::common::v1::MESSAGE_CHANNEL_WEBHOOK;

constexpr char kSecret[] = "webhook-secret-0123456789abcdef0123";

class NotificationWebhookTest : public NotificationTest {
 protected:
  void EnrolWebhookMember(const std::string& id, const std::string& segment) {
    Enrol(id, [&](lv1::Member* m) {
      m->set_segment(segment);
      m->set_phone("+8490123456" + std::to_string(id.size()));
      auto* c = m->add_marketing_consents();
      c->set_channel(MESSAGE_CHANNEL_WEBHOOK);
      c->set_granted(true);
    });
  }

  void ConfigureWebhook(int port, int max_attempts) {
    nv1::UpdateSettingsRequest req;
    req.set_request_id("settings-webhook-" + std::to_string(port));
    nv1::Settings* s = req.mutable_settings();
    s->mutable_webhook()->set_url("http://127.0.0.1:" + std::to_string(port) + "/hook");
    s->mutable_webhook()->set_signing_secret(kSecret);
    s->mutable_retry_policy()->set_max_attempts(max_attempts);
    *s->mutable_retry_policy()->mutable_initial_backoff() = ToDurationProto(absl::Seconds(10));
    *s->mutable_retry_policy()->mutable_max_backoff() = ToDurationProto(absl::Minutes(1));
    s->mutable_retry_policy()->set_multiplier(2.0);
    for (const char* p : {"webhook.url", "webhook.signing_secret", "retry_policy"})
      req.mutable_update_mask()->add_paths(p);
    nv1::Settings out;
    grpc::Status st = nstub_->UpdateSettings(Ctx(admin()).get(), req, &out);
    ASSERT_TRUE(st.ok()) << Describe(st);
    EXPECT_TRUE(out.webhook().signing_secret().empty());  // never returned
    EXPECT_TRUE(out.webhook().signing_secret_set());
  }

  nv1::Delivery WebhookDelivery(const std::string& member, const std::string& campaign) {
    nv1::GetDeliveryRequest get;
    get.mutable_delivery_key()->set_member_id(member);
    get.mutable_delivery_key()->set_message_key("promotion-alert/" + campaign);
    get.mutable_delivery_key()->set_channel(MESSAGE_CHANNEL_WEBHOOK);
    nv1::Delivery d;
    (void)nstub_->GetDelivery(Ctx(svc()).get(), get, &d);
    return d;
  }

  // Moves the service's clock a minute at a time (past any backoff) until
  // `done`.
  bool AdvanceUntil(const std::function<bool()>& done) {
    for (int i = 0; i < 20; ++i) {
      if (Eventually(done, absl::Seconds(2))) return true;
      AdvanceNotif(absl::Minutes(1));
    }
    return done();
  }
};

TEST_F(NotificationWebhookTest, OneSignedPostPerMemberSurvivesTwoFailures) {
  WebhookReceiver receiver([](int n) { return n < 2 ? 503 : 200; });
  ConfigureWebhook(receiver.port(), 5);
  EnrolWebhookMember("w-1", "vip");
  EnrolWebhookMember("w-retail", "retail");
  Ingest(Alert("promotion-w", "autumn", 1, Base() + absl::Hours(72) + absl::Seconds(5), {"vip"},
               {MESSAGE_CHANNEL_WEBHOOK}));
  AdvanceNotif(absl::Seconds(10));
  ASSERT_TRUE(AdvanceUntil([&] { return WebhookDelivery("w-1", "autumn").status() == nv1::DELIVERY_STATUS_SENT; }))
      << notif_->log();
  nv1::Delivery d = WebhookDelivery("w-1", "autumn");
  EXPECT_EQ(d.attempts(), 3);
  EXPECT_EQ(d.provider_message_id(), "rcv-1");
  AdvanceNotif(absl::Minutes(5));
  std::vector<HttpRequest> got = receiver.requests();
  ASSERT_EQ(got.size(), 3u);  // two refused, one accepted, none after
  for (const HttpRequest& r : got) {
    EXPECT_EQ(HeaderValue(r.head, "X-Care-Delivery-Id"), d.delivery_id());
    EXPECT_EQ(HeaderValue(r.head, "X-Care-Signature"),
              "v1=" + HmacSha256Hex(kSecret, HeaderValue(r.head, "X-Care-Timestamp") + "." + r.body));
    EXPECT_NE(r.body.find("\"member_id\":\"w-1\""), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("Spring sale"), std::string::npos) << r.body;
  }
  EXPECT_EQ(WebhookDelivery("w-retail", "autumn").delivery_id(), "");  // not targeted
}

// A receiver's refusal is recorded by its status alone: its body is remote
// content and never kept (issue 16, defect 1; it was kept as last_error,
// which showed agents whatever a URL returned, files included).
TEST_F(NotificationWebhookTest, AReceiversAnswerIsNeverKeptOnlyItsStatus) {
  std::string answer;
  for (int i = 0; i < 300; ++i) answer += "\xE1\xBB\x87";  // U+1EC7, 3 bytes each
  LoopbackServer receiver([&](int fd) {
    ReadHttpRequest(fd);
    WriteAll(fd, absl::StrCat("HTTP/1.1 400 X\r\nContent-Length: ", answer.size(), "\r\nConnection: close\r\n\r\n",
                              answer));
  });
  ConfigureWebhook(receiver.port(), 3);
  EnrolWebhookMember("u-1", "vip");
  Ingest(Alert("promotion-u", "utf8", 1, Base() + absl::Hours(72) + absl::Seconds(5), {"vip"},
               {MESSAGE_CHANNEL_WEBHOOK}));
  AdvanceNotif(absl::Seconds(10));
  ASSERT_TRUE(AdvanceUntil([&] { return WebhookDelivery("u-1", "utf8").status() == nv1::DELIVERY_STATUS_FAILED; }))
      << WebhookDelivery("u-1", "utf8").DebugString() << notif_->log();
  nv1::Delivery d = WebhookDelivery("u-1", "utf8");
  EXPECT_EQ(d.last_error_code(), "WEBHOOK_HTTP_400");
  EXPECT_EQ(d.last_error(), "HTTP 400");
}

TEST_F(NotificationWebhookTest, AReceiverDownForGoodYieldsDeadLettersThatReplayDelivers) {
  int port = 0;
  {
    LoopbackServer gone([](int) {});
    port = gone.port();
  }  // nothing listens there now
  ConfigureWebhook(port, 3);
  EnrolWebhookMember("d-1", "vip");
  EnrolWebhookMember("d-2", "vip");
  Ingest(Alert("promotion-d", "winter", 1, Base() + absl::Hours(72) + absl::Seconds(5), {"vip"},
               {MESSAGE_CHANNEL_WEBHOOK}));
  AdvanceNotif(absl::Seconds(10));
  ASSERT_TRUE(AdvanceUntil([&] {
    return WebhookDelivery("d-1", "winter").status() == nv1::DELIVERY_STATUS_DEAD_LETTER &&
           WebhookDelivery("d-2", "winter").status() == nv1::DELIVERY_STATUS_DEAD_LETTER;
  })) << notif_->log();
  nv1::Delivery dead = WebhookDelivery("d-1", "winter");
  EXPECT_EQ(dead.attempts(), 3);
  EXPECT_EQ(dead.last_error_code(), "CONNECT_FAILED");
  EXPECT_TRUE(dead.has_dead_letter_time());

  WebhookReceiver back([](int) { return 200; }, port);
  nv1::ReplayDeadLettersRequest replay;
  replay.set_request_id("replay-winter");
  replay.mutable_filter()->set_campaign_id("winter");
  nv1::ReplayDeadLettersResponse out;
  grpc::Status st = nstub_->ReplayDeadLetters(Ctx(admin()).get(), replay, &out);
  ASSERT_TRUE(st.ok()) << Describe(st);
  EXPECT_EQ(out.replayed_count(), 2);
  ASSERT_TRUE(AdvanceUntil([&] {
    return WebhookDelivery("d-1", "winter").status() == nv1::DELIVERY_STATUS_SENT &&
           WebhookDelivery("d-2", "winter").status() == nv1::DELIVERY_STATUS_SENT;
  })) << notif_->log();
  EXPECT_EQ(back.requests().size(), 2u);
  EXPECT_EQ(WebhookDelivery("d-1", "winter").replay_count(), 1);

  nv1::ReplayDeadLettersRequest unfiltered;
  unfiltered.set_request_id("replay-all");
  st = nstub_->ReplayDeadLetters(Ctx(admin()).get(), unfiltered, &out);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(NotificationWebhookTest, EmailReachesTheMemberThroughAnSmtpReceiver) {
  // The receiver speaks no TLS, which SMTP requires unless allowed.
  notif_->Kill();
  notif_->set_extra_args(NotificationArgs({"--smtp_allow_plaintext=true"}));
  absl::Status restarted = notif_->Start();
  ASSERT_TRUE(restarted.ok()) << restarted;
  ConnectNotification();
  SetNotifTime(Base());
  SmtpReceiver smtp;
  nv1::UpdateSettingsRequest req;
  req.set_request_id("settings-email");
  req.mutable_settings()->mutable_email()->set_smtp_url("smtp://127.0.0.1:" + std::to_string(smtp.port()));
  req.mutable_settings()->mutable_email()->set_from_address("care@example.com");
  req.mutable_settings()->mutable_email()->set_unsubscribe_url("https://shop.example/unsubscribe");
  for (const char* p : {"email.smtp_url", "email.from_address", "email.unsubscribe_url"}) {
    req.mutable_update_mask()->add_paths(p);
  }
  nv1::Settings settings;
  grpc::Status st = nstub_->UpdateSettings(Ctx(admin()).get(), req, &settings);
  ASSERT_TRUE(st.ok()) << Describe(st);
  Enrol("e-1", [](lv1::Member* m) {
    m->set_segment("vip");
    m->set_email("ann@example.com");
    auto* c = m->add_marketing_consents();
    c->set_channel(care::common::v1::MESSAGE_CHANNEL_EMAIL);
    c->set_granted(true);
  });
  Ingest(Alert("promotion-e", "spring-mail", 1, Base() + absl::Hours(72) + absl::Seconds(5), {"vip"},
               {care::common::v1::MESSAGE_CHANNEL_EMAIL}));
  AdvanceNotif(absl::Seconds(10));
  ASSERT_TRUE(Eventually([&] { return smtp.mails().size() == 1; })) << notif_->log();
  SmtpReceiver::Mail mail = smtp.mails()[0];
  EXPECT_EQ(mail.rcpt, "<ann@example.com>");
  EXPECT_EQ(mail.mail_from, "<care@example.com>");
  EXPECT_NE(mail.data.find("\r\nSubject: "), std::string::npos) << mail.data;
  EXPECT_NE(mail.data.find("Spring sale"), std::string::npos) << mail.data;
  EXPECT_NE(mail.data.find("To: <ann@example.com>"), std::string::npos) << mail.data;
}

}  // namespace
}  // namespace care::testing
