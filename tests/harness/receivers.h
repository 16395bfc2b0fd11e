#pragma once

// Receivers for the notification channel tests, on loopback sockets: an HTTP
// webhook receiver that answers with a scripted status, and helpers to read
// what a client sent.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace care::testing {

// Reads from `fd` into `buffer` until `done(buffer)` or EOF.
inline void ReadUntil(int fd, std::string& buffer, const std::function<bool(const std::string&)>& done) {
  char chunk[4096];
  while (!done(buffer)) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0) break;
    buffer.append(chunk, n);
  }
}

inline void WriteAll(int fd, const std::string& s) { (void)!write(fd, s.data(), s.size()); }

struct HttpRequest {
  std::string head, body;
};

// One HTTP request (head and Content-Length body) from `fd`.
inline HttpRequest ReadHttpRequest(int fd) {
  std::string buf;
  ReadUntil(fd, buf, [](const std::string& b) {
    auto end = b.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    auto cl = b.find("Content-Length: ");
    size_t len = cl == std::string::npos ? 0 : std::stoul(b.substr(cl + 16));
    return b.size() >= end + 4 + len;
  });
  auto end = buf.find("\r\n\r\n");
  if (end == std::string::npos) return {buf, ""};
  return {buf.substr(0, end), buf.substr(end + 4)};
}

inline void WriteHttpResponse(int fd, int status) {
  WriteAll(fd, absl::StrCat("HTTP/1.1 ", status, " X\r\nContent-Length: 0\r\n",
                            status == 200 ? "X-Message-Id: rcv-1\r\n" : "", "Connection: close\r\n\r\n"));
}

// Value of header `name` in an HTTP head, "" if absent.
inline std::string HeaderValue(const std::string& head, const std::string& name) {
  auto at = head.find(name + ": ");
  if (at == std::string::npos) return "";
  auto end = head.find("\r\n", at);
  return head.substr(at + name.size() + 2, end - at - name.size() - 2);
}

// Serves connections one at a time on a loopback port (0 = any; a fixed
// port lets a test bring a receiver "back" where it was) until destroyed.
class LoopbackServer {
 public:
  explicit LoopbackServer(std::function<void(int fd)> serve, int port = 0) {
    listen_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ADD_FAILURE() << "LoopbackServer: bind to 127.0.0.1:" << port << ": " << std::strerror(errno);
    }
    listen(listen_, 64);
    socklen_t len = sizeof addr;
    getsockname(listen_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, serve = std::move(serve)] {
      for (;;) {
        int fd = accept(listen_, nullptr, nullptr);
        if (fd < 0) return;
        serve(fd);
        close(fd);
      }
    });
  }
  ~LoopbackServer() {
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

// Webhook receiver: answers each POST with `status(n)` (n = 0-based request
// number) and records every request.
class WebhookReceiver {
 public:
  explicit WebhookReceiver(std::function<int(int)> status, int port = 0)
      : server_(
            [this, status = std::move(status)](int fd) {
              HttpRequest r = ReadHttpRequest(fd);
              int n;
              {
                std::lock_guard<std::mutex> lock(mu_);
                n = static_cast<int>(requests_.size());
                requests_.push_back(r);
              }
              WriteHttpResponse(fd, status(n));
            },
            port) {}
  int port() const { return server_.port(); }
  std::vector<HttpRequest> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  std::mutex mu_;
  std::vector<HttpRequest> requests_;
  LoopbackServer server_;  // last: stopped before the requests it writes to
};

// Minimal SMTP receiver (RFC 5321, enough for libcurl): records each message.
class SmtpReceiver {
 public:
  struct Mail {
    std::string mail_from, rcpt, data;
  };
  // `offer_auth`: EHLO advertises AUTH PLAIN LOGIN and every AUTH exchange
  // is kept (auths()), to see which credentials a client sends.
  explicit SmtpReceiver(bool offer_auth = false) : offer_auth_(offer_auth), server_([this](int fd) { Serve(fd); }) {}
  int port() const { return server_.port(); }
  std::vector<Mail> mails() {
    std::lock_guard<std::mutex> lock(mu_);
    return mails_;
  }
  // The AUTH command lines and the client's answers to 334, as received.
  std::vector<std::string> auths() {
    std::lock_guard<std::mutex> lock(mu_);
    return auths_;
  }

 private:
  void Serve(int fd) {
    WriteAll(fd, "220 test ESMTP\r\n");
    std::string buf;
    Mail mail;
    for (;;) {
      ReadUntil(fd, buf, [](const std::string& b) { return b.find("\r\n") != std::string::npos; });
      auto eol = buf.find("\r\n");
      if (eol == std::string::npos) return;
      std::string line = buf.substr(0, eol);
      buf.erase(0, eol + 2);
      if (line.rfind("EHLO", 0) == 0 || line.rfind("HELO", 0) == 0) {
        WriteAll(fd, offer_auth_ ? "250-test\r\n250 AUTH PLAIN LOGIN\r\n" : "250 test\r\n");
      } else if (offer_auth_ && line.rfind("AUTH", 0) == 0) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          auths_.push_back(line);
        }
        // Challenge until the client has answered twice (LOGIN: user, then
        // password; PLAIN without an initial response: one answer).
        const bool plain_with_response = line.rfind("AUTH PLAIN ", 0) == 0;
        for (int i = 0; i < (plain_with_response ? 0 : line.rfind("AUTH LOGIN", 0) == 0 ? 2 : 1); ++i) {
          WriteAll(fd, "334 \r\n");
          ReadUntil(fd, buf, [](const std::string& b) { return b.find("\r\n") != std::string::npos; });
          auto end = buf.find("\r\n");
          if (end == std::string::npos) return;
          std::lock_guard<std::mutex> lock(mu_);
          auths_.push_back(buf.substr(0, end));
          buf.erase(0, end + 2);
        }
        WriteAll(fd, "235 ok\r\n");
      } else if (line.rfind("MAIL FROM:", 0) == 0) {
        mail.mail_from = line.substr(10);
        WriteAll(fd, "250 ok\r\n");
      } else if (line.rfind("RCPT TO:", 0) == 0) {
        mail.rcpt = line.substr(8);
        WriteAll(fd, "250 ok\r\n");
      } else if (line == "DATA") {
        WriteAll(fd, "354 go\r\n");
        ReadUntil(fd, buf, [](const std::string& b) { return b.find("\r\n.\r\n") != std::string::npos; });
        auto end = buf.find("\r\n.\r\n");
        if (end == std::string::npos) return;
        mail.data = buf.substr(0, end);
        buf.erase(0, end + 5);
        {
          std::lock_guard<std::mutex> lock(mu_);
          mails_.push_back(mail);
        }
        WriteAll(fd, "250 queued\r\n");
      } else if (line == "QUIT") {
        WriteAll(fd, "221 bye\r\n");
        return;
      } else {
        WriteAll(fd, "502 no\r\n");
      }
    }
  }

  const bool offer_auth_;
  std::mutex mu_;
  std::vector<Mail> mails_;
  std::vector<std::string> auths_;
  LoopbackServer server_;  // last: stopped before what it writes to
};

}  // namespace care::testing
