// WEBHOOK and EMAIL transports against receivers started by the test on
// loopback sockets: what the receiver gets (signed JSON, SMTP envelope and
// message) and how its answers map to sent / transient / permanent.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/hmac.h"
#include "gtest/gtest.h"
#include "services/notification/channels.h"

namespace care::notification {
namespace {

// Accepts one connection on a loopback port and runs `serve` on it.
class OneShotServer {
 public:
  explicit OneShotServer(std::function<void(int fd)> serve) {
    listen_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(listen_, 1);
    socklen_t len = sizeof addr;
    getsockname(listen_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, serve] {
      int fd = accept(listen_, nullptr, nullptr);
      if (fd >= 0) {
        serve(fd);
        close(fd);
      }
    });
  }
  ~OneShotServer() {
    shutdown(listen_, SHUT_RDWR);
    close(listen_);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  int listen_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// Reads until `done(buffer)` or EOF.
std::string ReadUntil(int fd, std::string& buffer, const std::function<bool(const std::string&)>& done) {
  char chunk[4096];
  while (!done(buffer)) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0) break;
    buffer.append(chunk, n);
  }
  return buffer;
}

void Write(int fd, const std::string& s) { (void)!write(fd, s.data(), s.size()); }

struct HttpRequest {
  std::string head, body;
};

// One HTTP request answered with `status` (and X-Message-Id when 200).
std::function<void(int)> HttpOnce(HttpRequest* got, int status) {
  return [got, status](int fd) {
    std::string buf;
    ReadUntil(fd, buf, [](const std::string& b) {
      auto end = b.find("\r\n\r\n");
      if (end == std::string::npos) return false;
      auto cl = b.find("Content-Length: ");
      size_t len = cl == std::string::npos ? 0 : std::stoul(b.substr(cl + 16));
      return b.size() >= end + 4 + len;
    });
    auto end = buf.find("\r\n\r\n");
    got->head = buf.substr(0, end);
    got->body = buf.substr(end + 4);
    Write(fd, absl::StrCat("HTTP/1.1 ", status, " X\r\nContent-Length: 0\r\n",
                           status == 200 ? "X-Message-Id: rcv-1\r\n" : "", "Connection: close\r\n\r\n"));
  };
}

std::string Header(const std::string& head, const std::string& name) {
  auto at = head.find(name + ": ");
  if (at == std::string::npos) return "";
  auto end = head.find("\r\n", at);
  return head.substr(at + name.size() + 2, end - at - name.size() - 2);
}

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

TEST(NotificationChannels, WebhookPostsSignedJsonOnceAndReadsTheReceiversId) {
  HttpRequest got;
  OneShotServer server(HttpOnce(&got, 200));
  v1::WebhookEndpoint endpoint;
  endpoint.set_url(absl::StrCat("http://127.0.0.1:", server.port(), "/hook"));
  endpoint.set_signing_secret(kSecret);
  SendResult r = MakeWebhookChannel(endpoint)->Send(Message());
  EXPECT_EQ(r.outcome, SendResult::Outcome::kSent) << r.error_code << " " << r.error;
  EXPECT_EQ(r.provider_message_id, "rcv-1");
  EXPECT_TRUE(absl::StartsWith(got.head, "POST /hook "));
  EXPECT_EQ(Header(got.head, "X-Care-Delivery-Id"), "dlv-1");
  const std::string ts = Header(got.head, "X-Care-Timestamp");
  EXPECT_EQ(Header(got.head, "X-Care-Signature"), "v1=" + HmacSha256Hex(kSecret, ts + "." + got.body));
  EXPECT_TRUE(absl::StrContains(got.body, "\"subject\":\"Summer sale\"")) << got.body;
  EXPECT_TRUE(absl::StrContains(got.body, "\"delivery_id\":\"dlv-1\"")) << got.body;
}

TEST(NotificationChannels, WebhookAnswersMapToTransientOrPermanent) {
  v1::WebhookEndpoint endpoint;
  endpoint.set_signing_secret(kSecret);
  {
    HttpRequest got;
    OneShotServer server(HttpOnce(&got, 503));
    endpoint.set_url(absl::StrCat("http://127.0.0.1:", server.port(), "/"));
    SendResult r = MakeWebhookChannel(endpoint)->Send(Message());
    EXPECT_EQ(r.outcome, SendResult::Outcome::kTransient);
    EXPECT_EQ(r.error_code, "WEBHOOK_HTTP_503");
  }
  {
    HttpRequest got;
    OneShotServer server(HttpOnce(&got, 400));
    endpoint.set_url(absl::StrCat("http://127.0.0.1:", server.port(), "/"));
    SendResult r = MakeWebhookChannel(endpoint)->Send(Message());
    EXPECT_EQ(r.outcome, SendResult::Outcome::kPermanent);
    EXPECT_EQ(r.error_code, "WEBHOOK_HTTP_400");
  }
  int port = 0;
  { OneShotServer closed([](int) {}); port = closed.port(); }  // nothing listens there any more
  endpoint.set_url(absl::StrCat("http://127.0.0.1:", port, "/"));
  SendResult down = MakeWebhookChannel(endpoint)->Send(Message());
  EXPECT_EQ(down.outcome, SendResult::Outcome::kTransient);
  EXPECT_EQ(down.error_code, "CONNECT_FAILED");
}

TEST(NotificationChannels, EmailIsDeliveredOverSmtpWithRecipientSubjectAndBody) {
  std::string rcpt, mail_from, data;
  OneShotServer server([&](int fd) {
    Write(fd, "220 test ESMTP\r\n");
    std::string buf;
    for (;;) {
      ReadUntil(fd, buf, [](const std::string& b) { return absl::StrContains(b, "\r\n"); });
      auto eol = buf.find("\r\n");
      if (eol == std::string::npos) return;
      std::string line = buf.substr(0, eol);
      buf.erase(0, eol + 2);
      if (absl::StartsWith(line, "EHLO") || absl::StartsWith(line, "HELO")) {
        Write(fd, "250 test\r\n");
      } else if (absl::StartsWith(line, "MAIL FROM:")) {
        mail_from = line.substr(10);
        Write(fd, "250 ok\r\n");
      } else if (absl::StartsWith(line, "RCPT TO:")) {
        rcpt = line.substr(8);
        Write(fd, "250 ok\r\n");
      } else if (line == "DATA") {
        Write(fd, "354 go\r\n");
        ReadUntil(fd, buf, [](const std::string& b) { return absl::StrContains(b, "\r\n.\r\n"); });
        auto end = buf.find("\r\n.\r\n");
        data = buf.substr(0, end);
        buf.erase(0, end + 5);
        Write(fd, "250 queued\r\n");
      } else if (line == "QUIT") {
        Write(fd, "221 bye\r\n");
        return;
      } else {
        Write(fd, "502 no\r\n");
      }
    }
  });
  v1::EmailEndpoint endpoint;
  endpoint.set_smtp_url(absl::StrCat("smtp://127.0.0.1:", server.port()));
  endpoint.set_from_address("care@example.com");
  endpoint.set_from_name("CareSuite");
  SendResult r = MakeEmailChannel(endpoint)->Send(Message());
  EXPECT_EQ(r.outcome, SendResult::Outcome::kSent) << r.error_code << " " << r.error;
  EXPECT_EQ(rcpt, "<ann@example.com>");
  EXPECT_EQ(mail_from, "<care@example.com>");
  EXPECT_TRUE(absl::StrContains(data, "Subject: Summer sale\r\n")) << data;
  EXPECT_TRUE(absl::StrContains(data, "\r\n\r\nStarts in three days.")) << data;
  EXPECT_TRUE(absl::StrContains(data, "Message-ID: " + r.provider_message_id)) << data;
}

}  // namespace
}  // namespace care::notification
