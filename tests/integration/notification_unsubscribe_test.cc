// Marketing e-mail and its one-click unsubscribe (RFC 8058) end to end: the
// real binaries send a promotion alert to an SMTP receiver in the test, and
// the link it carries withdraws the member's consent through Unsubscribe,
// as a retailer's web gateway would call it.
#include <regex>

#include "tests/harness/receivers.h"
#include "tests/integration/notification_fixture.h"

namespace care::testing {
namespace {

using care::common::v1::MESSAGE_CHANNEL_EMAIL;

constexpr char kUnsubscribePage[] = "https://shop.example/unsubscribe";

class NotificationUnsubscribeTest : public NotificationTest {
 protected:
  // Restarts notification with plaintext SMTP allowed (the receiver speaks
  // no TLS) and, unless `with_key` is false, the fixture's unsubscribe key.
  void Restart(bool with_key) {
    std::vector<std::string> args = NotificationArgs({"--smtp_allow_plaintext=true"});
    if (!with_key) {
      std::erase_if(args, [](const std::string& a) { return a.rfind("--unsubscribe_key_file=", 0) == 0; });
    }
    notif_->Kill();
    notif_->set_extra_args(args);
    absl::Status restarted = notif_->Start();
    ASSERT_TRUE(restarted.ok()) << restarted;
    ConnectNotification();
    SetNotifTime(Base());
  }

  grpc::Status ConfigureEmail(const std::string& unsubscribe_url) {
    nv1::UpdateSettingsRequest req;
    req.set_request_id("settings-email-" + std::to_string(smtp_.port()) + "-" + std::to_string(unsubscribe_url.size()));
    nv1::EmailEndpoint* e = req.mutable_settings()->mutable_email();
    e->set_smtp_url("smtp://127.0.0.1:" + std::to_string(smtp_.port()));
    e->set_from_address("care@example.com");
    e->set_unsubscribe_url(unsubscribe_url);
    for (const char* p : {"email.smtp_url", "email.from_address", "email.unsubscribe_url"}) {
      req.mutable_update_mask()->add_paths(p);
    }
    nv1::Settings out;
    return nstub_->UpdateSettings(Ctx(admin()).get(), req, &out);
  }

  void EnrolEmailMember(const std::string& id, const std::string& email) {
    Enrol(id, [&](lv1::Member* m) {
      m->set_segment("vip");
      m->set_email(email);
      auto* c = m->add_marketing_consents();
      c->set_channel(MESSAGE_CHANNEL_EMAIL);
      c->set_granted(true);
    });
  }

  void SendAlert(const std::string& campaign) {
    Ingest(Alert("promotion-" + campaign, campaign, 1, Base() + absl::Hours(72) + absl::Seconds(5), {"vip"},
                 {MESSAGE_CHANNEL_EMAIL}));
    AdvanceNotif(absl::Seconds(10));
  }

  nv1::Delivery EmailDelivery(const std::string& member, const std::string& campaign) {
    nv1::GetDeliveryRequest get;
    get.mutable_delivery_key()->set_member_id(member);
    get.mutable_delivery_key()->set_message_key("promotion-alert/" + campaign);
    get.mutable_delivery_key()->set_channel(MESSAGE_CHANNEL_EMAIL);
    nv1::Delivery d;
    (void)nstub_->GetDelivery(Ctx(svc()).get(), get, &d);
    return d;
  }

  grpc::Status Unsubscribe(const std::string& caller, const std::string& token, nv1::ConsentRecord* out,
                           const std::string& evidence = "") {
    nv1::UnsubscribeRequest req;
    req.set_token(token);
    req.set_evidence(evidence);
    return nstub_->Unsubscribe(Ctx(caller).get(), req, out);
  }

  std::vector<nv1::ConsentRecord> History(const std::string& member) {
    nv1::ListConsentHistoryRequest req;
    req.set_member_id(member);
    nv1::ListConsentHistoryResponse resp;
    grpc::Status st = nstub_->ListConsentHistory(Ctx(svc()).get(), req, &resp);
    EXPECT_TRUE(st.ok()) << Describe(st);
    return {resp.records().begin(), resp.records().end()};
  }

  SmtpReceiver smtp_;
};

// The value of `name` in a mail's header block ("" when absent).
std::string Header(const std::string& data, const std::string& name) {
  std::smatch m;
  const std::regex line("(^|\r\n)" + name + ": ([^\r\n]*)\r\n");
  const std::string head = data.substr(0, data.find("\r\n\r\n") + 2);
  return std::regex_search(head, m, line) ? m[2].str() : "";
}

TEST_F(NotificationUnsubscribeTest, AMarketingEmailsOneClickLinkWithdrawsConsentOnce) {
  Restart(true);
  grpc::Status st = ConfigureEmail(kUnsubscribePage);
  ASSERT_TRUE(st.ok()) << Describe(st);
  EnrolEmailMember("e-1", "ann@example.com");
  SendAlert("spring-mail");
  ASSERT_TRUE(Eventually([&] { return smtp_.mails().size() == 1; })) << notif_->log();
  const std::string data = smtp_.mails()[0].data;
  EXPECT_EQ(Header(data, "List-Unsubscribe-Post"), "List-Unsubscribe=One-Click") << data;
  const std::string link = Header(data, "List-Unsubscribe");
  const std::string prefix = std::string("<") + kUnsubscribePage + "?token=";
  ASSERT_EQ(link.rfind(prefix, 0), 0u) << data;
  ASSERT_EQ(link.back(), '>');
  const std::string token = link.substr(prefix.size(), link.size() - prefix.size() - 1);
  const nv1::Delivery sent = EmailDelivery("e-1", "spring-mail");

  // Only the gateway's role may use it, and only unaltered.
  nv1::ConsentRecord rec;
  EXPECT_EQ(Unsubscribe(tokens_.agent, token, &rec).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  std::string altered = token;
  altered[altered.size() / 2] = altered[altered.size() / 2] == 'A' ? 'B' : 'A';
  st = Unsubscribe(svc(), altered, &rec);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(st), "TOKEN_INVALID");
  st = Unsubscribe(svc(), "", &rec);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(st);
  EXPECT_EQ(History("e-1").size(), 1u);  // only the grant loyalty relayed

  st = Unsubscribe(svc(), token, &rec, "client 203.0.113.9");
  ASSERT_TRUE(st.ok()) << Describe(st);
  EXPECT_EQ(rec.member_id(), "e-1");
  EXPECT_EQ(rec.channel(), MESSAGE_CHANNEL_EMAIL);
  EXPECT_FALSE(rec.granted());
  EXPECT_TRUE(rec.applied());
  EXPECT_EQ(rec.source(), nv1::CONSENT_SOURCE_UNSUBSCRIBE_REQUEST);
  EXPECT_EQ(rec.legal_basis(), nv1::LEGAL_BASIS_CONSENT);
  EXPECT_NE(rec.evidence().find(sent.delivery_id()), std::string::npos) << rec.evidence();
  EXPECT_NE(rec.evidence().find("client 203.0.113.9"), std::string::npos) << rec.evidence();
  // A mail client's retry (other evidence) is the same withdrawal.
  nv1::ConsentRecord again;
  st = Unsubscribe(svc(), token, &again, "client 203.0.113.10");
  ASSERT_TRUE(st.ok()) << Describe(st);
  EXPECT_EQ(again.consent_id(), rec.consent_id());
  std::vector<nv1::ConsentRecord> history = History("e-1");
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].consent_id(), rec.consent_id());

  // The next campaign's e-mail is not sent to them.
  SendAlert("summer-mail");
  ASSERT_TRUE(Eventually([&] {
    return EmailDelivery("e-1", "summer-mail").status() == nv1::DELIVERY_STATUS_SUPPRESSED;
  })) << notif_->log();
  EXPECT_EQ(EmailDelivery("e-1", "summer-mail").suppression_reason(), nv1::SUPPRESSION_REASON_NO_CONSENT);
  EXPECT_EQ(smtp_.mails().size(), 1u);
}

TEST_F(NotificationUnsubscribeTest, TheLinkSurvivesARestartAndExpiresOnTheClock) {
  Restart(true);
  ASSERT_TRUE(ConfigureEmail(std::string(kUnsubscribePage) + "/{token}?lang=en").ok());
  EnrolEmailMember("e-2", "bo@example.com");
  SendAlert("autumn-mail");
  ASSERT_TRUE(Eventually([&] { return smtp_.mails().size() == 1; })) << notif_->log();
  const std::string link = Header(smtp_.mails()[0].data, "List-Unsubscribe");
  const std::string prefix = std::string("<") + kUnsubscribePage + "/";
  ASSERT_EQ(link.rfind(prefix, 0), 0u) << link;
  const std::string token = link.substr(prefix.size(), link.find('?') - prefix.size());
  Restart(true);  // the same key file: links already sent keep working
  AdvanceNotif(absl::Hours(24 * 300));
  nv1::ConsentRecord rec;
  grpc::Status st = Unsubscribe(svc(), token, &rec);
  ASSERT_TRUE(st.ok()) << Describe(st);
  EXPECT_EQ(rec.member_id(), "e-2");
  // A year after the e-mail the link is dead, even for a retry.
  AdvanceNotif(absl::Hours(24 * 66));
  st = Unsubscribe(svc(), token, &rec);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(st), "TOKEN_EXPIRED");
}

TEST_F(NotificationUnsubscribeTest, WithoutAKeyMarketingEmailIsNeverSentAndTheLinkCannotBeSet) {
  Restart(false);
  grpc::Status st = ConfigureEmail(kUnsubscribePage);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(st);
  EXPECT_EQ(Reason(st), "UNSUBSCRIBE_KEY_NOT_CONFIGURED");
  st = ConfigureEmail("");  // SMTP alone is accepted: transactional mail needs no link
  ASSERT_TRUE(st.ok()) << Describe(st);
  EnrolEmailMember("e-3", "cy@example.com");
  SendAlert("winter-mail");
  ASSERT_TRUE(Eventually([&] {
    return EmailDelivery("e-3", "winter-mail").status() == nv1::DELIVERY_STATUS_SUPPRESSED;
  })) << notif_->log();
  EXPECT_EQ(EmailDelivery("e-3", "winter-mail").suppression_reason(), nv1::SUPPRESSION_REASON_CHANNEL_NOT_CONFIGURED);
  EXPECT_TRUE(smtp_.mails().empty());
  nv1::ConsentRecord rec;
  st = Unsubscribe(svc(), "u1.k.x.y", &rec);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(st);
}

TEST_F(NotificationUnsubscribeTest, OnlyAPlainHttpsPageIsAcceptedAsTheLink) {
  Restart(true);
  for (const std::string bad :
       {"http://shop.example/u", "https://user:pw@shop.example/u", "https://shop.example/u\r\nBcc: x"}) {
    grpc::Status st = ConfigureEmail(bad);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_NE(Describe(st).find("settings.email.unsubscribe_url"), std::string::npos) << Describe(st);
  }
}

}  // namespace
}  // namespace care::testing
