// WEBHOOK and EMAIL transports against receivers started by the test on
// loopback sockets: what the receiver gets (signed JSON, SMTP envelope and
// message) and how its answers map to sent / transient / permanent.
#include <atomic>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/hmac.h"
#include "gtest/gtest.h"
#include "services/notification/channels.h"
#include "tests/harness/receivers.h"

namespace care::notification {
namespace {

using care::testing::HeaderValue;
using care::testing::HttpRequest;
using care::testing::LoopbackServer;
using care::testing::SmtpReceiver;
using care::testing::WebhookReceiver;

OutgoingMessage Message() {
  OutgoingMessage m;
  m.delivery_id = "dlv-1";
  m.message_key = "promotion-alert/summer";
  m.member_id = "m-1";
  m.kind = "MESSAGE_KIND_PROMOTION_ALERT";
  m.subject = "Summer sale";
  m.body = "Starts in three days.";
  m.email = "ann@example.com";
  m.phone = "+84901234567";
  m.attempt = 1;
  return m;
}

constexpr char kSecret[] = "0123456789abcdef0123456789abcdef";

// The test receivers listen on 127.0.0.1 over plain http and smtp.
EgressOptions Loopback() {
  EgressOptions egress;
  egress.policy = *EgressPolicy::Parse("127.0.0.1/32");
  egress.smtp_allow_plaintext = true;
  return egress;
}

TEST(NotificationChannels, ReceiverTextCountsCharactersAndNeverSplitsOne) {
  const std::string viet = "Kh\xC3\xB4ng h\xE1\xBB\xA3p l\xE1\xBB\x87";  // "Không hợp lệ", 12 characters
  EXPECT_EQ(ReceiverText(viet, 200), viet);
  EXPECT_EQ(ReceiverText(viet, 11), viet.substr(0, viet.size() - 3));  // the last character whole, or not at all
  EXPECT_EQ(ReceiverText("\xE6\x97\xA5\xE6\x9C\xAC", 1), "\xE6\x97\xA5");
  // Bytes that are not UTF-8 (a cut sequence, a stray continuation, an
  // overlong form) become U+FFFD, one per byte.
  EXPECT_EQ(ReceiverText("a\xE1\xBB", 10), "a\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(ReceiverText("\x80z", 10), "\xEF\xBF\xBDz");
  EXPECT_EQ(ReceiverText("\xC0\xAF", 1), "\xEF\xBF\xBD");
  EXPECT_EQ(ReceiverText("", 5), "");
}

TEST(NotificationChannels, WebhookPostsSignedJsonOnceAndReadsTheReceiversId) {
  WebhookReceiver server([](int) { return 200; });
  v1::WebhookEndpoint endpoint;
  endpoint.set_url(absl::StrCat("http://127.0.0.1:", server.port(), "/hook"));
  endpoint.set_signing_secret(kSecret);
  SendResult r = MakeWebhookChannel(endpoint, Loopback())->Send(Message());
  EXPECT_EQ(r.outcome, SendResult::Outcome::kSent) << r.error_code << " " << r.error;
  EXPECT_EQ(r.provider_message_id, "rcv-1");
  ASSERT_EQ(server.requests().size(), 1u);
  HttpRequest got = server.requests()[0];
  EXPECT_TRUE(absl::StartsWith(got.head, "POST /hook "));
  EXPECT_EQ(HeaderValue(got.head, "X-Care-Delivery-Id"), "dlv-1");
  const std::string ts = HeaderValue(got.head, "X-Care-Timestamp");
  EXPECT_EQ(HeaderValue(got.head, "X-Care-Signature"), "v1=" + HmacSha256Hex(kSecret, ts + "." + got.body));
  EXPECT_TRUE(absl::StrContains(got.body, "\"subject\":\"Summer sale\"")) << got.body;
  EXPECT_TRUE(absl::StrContains(got.body, "\"delivery_id\":\"dlv-1\"")) << got.body;
}

TEST(NotificationChannels, WebhookAnswersMapToTransientOrPermanent) {
  v1::WebhookEndpoint endpoint;
  endpoint.set_signing_secret(kSecret);
  {
    WebhookReceiver server([](int) { return 503; });
    endpoint.set_url(absl::StrCat("http://127.0.0.1:", server.port(), "/"));
    SendResult r = MakeWebhookChannel(endpoint, Loopback())->Send(Message());
    EXPECT_EQ(r.outcome, SendResult::Outcome::kTransient);
    EXPECT_EQ(r.error_code, "WEBHOOK_HTTP_503");
  }
  {
    WebhookReceiver server([](int) { return 400; });
    endpoint.set_url(absl::StrCat("http://127.0.0.1:", server.port(), "/"));
    SendResult r = MakeWebhookChannel(endpoint, Loopback())->Send(Message());
    EXPECT_EQ(r.outcome, SendResult::Outcome::kPermanent);
    EXPECT_EQ(r.error_code, "WEBHOOK_HTTP_400");
    EXPECT_EQ(r.error, "HTTP 400");  // the status, never the receiver's body
  }
  int port = 0;
  {
    LoopbackServer closed([](int) {});
    port = closed.port();
  }  // nothing listens there any more
  endpoint.set_url(absl::StrCat("http://127.0.0.1:", port, "/"));
  SendResult down = MakeWebhookChannel(endpoint, Loopback())->Send(Message());
  EXPECT_EQ(down.outcome, SendResult::Outcome::kTransient);
  EXPECT_EQ(down.error_code, "CONNECT_FAILED");
}

TEST(NotificationChannels, EmailIsDeliveredOverSmtpWithRecipientSubjectAndBody) {
  SmtpReceiver server;
  v1::EmailEndpoint endpoint;
  endpoint.set_smtp_url(absl::StrCat("smtp://127.0.0.1:", server.port()));
  endpoint.set_from_address("care@example.com");
  endpoint.set_from_name("CareSuite");
  SendResult r = MakeEmailChannel(endpoint, Loopback())->Send(Message());
  EXPECT_EQ(r.outcome, SendResult::Outcome::kSent) << r.error_code << " " << r.error;
  ASSERT_EQ(server.mails().size(), 1u);
  const auto [mail_from, rcpt, data] = server.mails()[0];
  EXPECT_EQ(rcpt, "<ann@example.com>");
  EXPECT_EQ(mail_from, "<care@example.com>");
  EXPECT_TRUE(absl::StrContains(data, "Subject: Summer sale\r\n")) << data;
  EXPECT_TRUE(absl::StrContains(data, "\r\n\r\nStarts in three days.")) << data;
  EXPECT_TRUE(absl::StrContains(data, "Message-ID: " + r.provider_message_id)) << data;
}

// A URL the egress rules refuse is never fetched, whatever was stored; the
// refusal is a short permanent failure.
TEST(NotificationChannels, AFileOrGopherUrlIsNeverFetched) {
  std::atomic<int> connections = 0;
  LoopbackServer probe([&](int) { ++connections; });
  for (const std::string& url :
       {std::string("file:///etc/passwd"), absl::StrCat("gopher://127.0.0.1:", probe.port(), "/_SET%20k%20v%0D%0A"),
        absl::StrCat("dict://127.0.0.1:", probe.port(), "/info"),
        absl::StrCat("ftp://127.0.0.1:", probe.port(), "/")}) {
    v1::WebhookEndpoint endpoint;
    endpoint.set_url(url);
    SendResult r = MakeWebhookChannel(endpoint, Loopback())->Send(Message());
    EXPECT_EQ(r.outcome, SendResult::Outcome::kPermanent) << url;
    EXPECT_EQ(r.error_code, "EGRESS_REFUSED") << url;
    EXPECT_FALSE(absl::StrContains(r.error, "root:")) << r.error;
    v1::EmailEndpoint email;
    email.set_smtp_url(url);
    email.set_from_address("care@example.com");
    EXPECT_EQ(MakeEmailChannel(email, Loopback())->Send(Message()).error_code, "EGRESS_REFUSED") << url;
  }
  EXPECT_EQ(connections, 0);
}

// The address check runs on the address curl connects to, after its own
// DNS lookup: a name that resolves to loopback is refused like the literal.
TEST(NotificationChannels, AnAddressOutsideTheAllowListIsRefusedAtConnect) {
  WebhookReceiver server([](int) { return 200; });
  v1::WebhookEndpoint endpoint;
  endpoint.set_signing_secret(kSecret);
  endpoint.set_url(absl::StrCat("https://localhost:", server.port(), "/hook"));
  SendResult r = MakeWebhookChannel(endpoint, EgressOptions{})->Send(Message());
  EXPECT_EQ(r.outcome, SendResult::Outcome::kPermanent);
  EXPECT_EQ(r.error_code, "EGRESS_REFUSED");
  EXPECT_TRUE(absl::StartsWith(r.error, "egress refused: address ")) << r.error;
  EXPECT_TRUE(absl::StrContains(r.error, "is loopback")) << r.error;
  // http to a host that is not allow-listed is refused before any lookup.
  endpoint.set_url(absl::StrCat("http://127.0.0.1:", server.port(), "/hook"));
  r = MakeWebhookChannel(endpoint, EgressOptions{})->Send(Message());
  EXPECT_EQ(r.error_code, "EGRESS_REFUSED");
  EXPECT_TRUE(absl::StrContains(r.error, "scheme")) << r.error;
  // Same for SMTP.
  SmtpReceiver smtp;
  v1::EmailEndpoint email;
  email.set_smtp_url(absl::StrCat("smtp://localhost:", smtp.port()));
  email.set_from_address("care@example.com");
  r = MakeEmailChannel(email, EgressOptions{})->Send(Message());
  EXPECT_EQ(r.error_code, "EGRESS_REFUSED") << r.error;
  EXPECT_TRUE(server.requests().empty());
  EXPECT_TRUE(smtp.mails().empty());
}

TEST(NotificationChannels, ChannelUrlsAreCheckedWithTheFieldAndTheRule) {
  const EgressPolicy none;
  const EgressPolicy loopback = *EgressPolicy::Parse("127.0.0.1/32,hooks.internal");
  const int webhook = care::common::v1::MESSAGE_CHANNEL_WEBHOOK;
  const int email = care::common::v1::MESSAGE_CHANNEL_EMAIL;
  EXPECT_TRUE(CheckChannelUrl(webhook, "https://hooks.example.com/x", none, "f").ok());
  EXPECT_TRUE(CheckChannelUrl(webhook, "http://127.0.0.1:8080/x", loopback, "f").ok());
  EXPECT_TRUE(CheckChannelUrl(webhook, "http://hooks.internal/x", loopback, "f").ok());
  EXPECT_TRUE(CheckChannelUrl(email, "smtps://smtp.example.com:465", none, "f").ok());
  EXPECT_TRUE(CheckChannelUrl(email, "smtp://smtp.example.com:587", none, "f").ok());
  struct Case {
    int channel;
    std::string url;
    const EgressPolicy* policy;
    std::string reason;
  } cases[] = {
      {webhook, "file:///etc/passwd", &loopback, "URL_SCHEME_NOT_ALLOWED"},
      {webhook, "gopher://127.0.0.1:6379/_SET", &loopback, "URL_SCHEME_NOT_ALLOWED"},
      {webhook, "FILE:///etc/passwd", &loopback, "URL_SCHEME_NOT_ALLOWED"},
      {webhook, "http://hooks.example.com/x", &none, "URL_SCHEME_NOT_ALLOWED"},
      {webhook, "http://127.0.0.1/x", &none, "URL_SCHEME_NOT_ALLOWED"},
      {webhook, "smtp://127.0.0.1/x", &loopback, "URL_SCHEME_NOT_ALLOWED"},
      {email, "https://smtp.example.com", &none, "URL_SCHEME_NOT_ALLOWED"},
      {webhook, "https://127.0.0.1/x", &none, "EGRESS_ADDRESS_NOT_ALLOWED"},
      {webhook, "https://[::ffff:169.254.169.254]/latest", &none, "EGRESS_ADDRESS_NOT_ALLOWED"},
      {webhook, "https://0x7f.1/x", &none, "EGRESS_ADDRESS_NOT_ALLOWED"},  // curl reads it as 127.0.0.1
      {email, "smtp://10.0.0.5:25", &none, "EGRESS_ADDRESS_NOT_ALLOWED"},
      {webhook, "https://user:pw@hooks.example.com/", &none, "URL_CREDENTIALS_NOT_ALLOWED"},
      {webhook, "hooks.example.com/x", &none, "URL_MALFORMED"},
      {webhook, "https://hooks.example.com/a b", &none, "URL_MALFORMED"},
      {webhook, "https://hooks.example.com/" + std::string(3000, 'a'), &none, "URL_MALFORMED"},
  };
  for (const Case& c : cases) {
    absl::Status s = CheckChannelUrl(c.channel, c.url, *c.policy, "settings.webhook.url");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.url;
    EXPECT_EQ(ErrorReason(s), c.reason) << c.url << ": " << s;
    EXPECT_EQ(ErrorMetadataValue(s, "field"), "settings.webhook.url") << c.url;
  }
}

TEST(NotificationChannels, AnOriginIsSchemeHostAndPort) {
  EXPECT_EQ(UrlOrigin("smtp://Mail.Example.com"), "smtp://mail.example.com:25");
  EXPECT_EQ(UrlOrigin("smtp://mail.example.com:25/x"), UrlOrigin("smtp://mail.example.com"));
  EXPECT_NE(UrlOrigin("smtps://mail.example.com"), UrlOrigin("smtp://mail.example.com"));
  EXPECT_NE(UrlOrigin("https://a.example.com/x"), UrlOrigin("https://b.example.com/x"));
  EXPECT_EQ(UrlOrigin("https://a.example.com/x"), UrlOrigin("https://a.example.com:443/y"));
}

}  // namespace
}  // namespace care::notification
