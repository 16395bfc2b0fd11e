// WEBHOOK and EMAIL transports against receivers started by the test on
// loopback sockets: what the receiver gets (signed JSON, SMTP envelope and
// message) and how its answers map to sent / transient / permanent.
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/hmac.h"
#include "gtest/gtest.h"
#include "services/notification/channels.h"
#include "tests/integration/notification_receivers.h"

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
  SendResult r = MakeWebhookChannel(endpoint)->Send(Message());
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
    SendResult r = MakeWebhookChannel(endpoint)->Send(Message());
    EXPECT_EQ(r.outcome, SendResult::Outcome::kTransient);
    EXPECT_EQ(r.error_code, "WEBHOOK_HTTP_503");
  }
  {
    WebhookReceiver server([](int) { return 400; });
    endpoint.set_url(absl::StrCat("http://127.0.0.1:", server.port(), "/"));
    SendResult r = MakeWebhookChannel(endpoint)->Send(Message());
    EXPECT_EQ(r.outcome, SendResult::Outcome::kPermanent);
    EXPECT_EQ(r.error_code, "WEBHOOK_HTTP_400");
  }
  int port = 0;
  { LoopbackServer closed([](int) {}); port = closed.port(); }  // nothing listens there any more
  endpoint.set_url(absl::StrCat("http://127.0.0.1:", port, "/"));
  SendResult down = MakeWebhookChannel(endpoint)->Send(Message());
  EXPECT_EQ(down.outcome, SendResult::Outcome::kTransient);
  EXPECT_EQ(down.error_code, "CONNECT_FAILED");
}

TEST(NotificationChannels, EmailIsDeliveredOverSmtpWithRecipientSubjectAndBody) {
  SmtpReceiver server;
  v1::EmailEndpoint endpoint;
  endpoint.set_smtp_url(absl::StrCat("smtp://127.0.0.1:", server.port()));
  endpoint.set_from_address("care@example.com");
  endpoint.set_from_name("CareSuite");
  SendResult r = MakeEmailChannel(endpoint)->Send(Message());
  EXPECT_EQ(r.outcome, SendResult::Outcome::kSent) << r.error_code << " " << r.error;
  ASSERT_EQ(server.mails().size(), 1u);
  const auto [mail_from, rcpt, data] = server.mails()[0];
  EXPECT_EQ(rcpt, "<ann@example.com>");
  EXPECT_EQ(mail_from, "<care@example.com>");
  EXPECT_TRUE(absl::StrContains(data, "Subject: Summer sale\r\n")) << data;
  EXPECT_TRUE(absl::StrContains(data, "\r\n\r\nStarts in three days.")) << data;
  EXPECT_TRUE(absl::StrContains(data, "Message-ID: " + r.provider_message_id)) << data;
}

}  // namespace
}  // namespace care::notification
