#include "tools/demo/webhook_sink.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace care::demo {
namespace {

// Bytes of a request kept at most: alerts are a few KiB.
constexpr size_t kMaxRequestBytes = 1 << 20;

// The Content-Length of a request head (0 when absent or bad).
size_t ContentLength(const std::string& head) {
  const std::string lower = absl::AsciiStrToLower(head);
  const size_t at = lower.find("\r\ncontent-length:");
  if (at == std::string::npos) return 0;
  const size_t start = at + 17;
  const size_t end = lower.find("\r\n", start);
  size_t n = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(lower.substr(start, end - start)), &n)) return 0;
  return n;
}

}  // namespace

WebhookSink::WebhookSink() {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listen_fd_, 16) != 0 || getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return;
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] {
    for (;;) {
      const int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;  // shut down
      Serve(fd);
      close(fd);
    }
  });
}

WebhookSink::~WebhookSink() {
  if (listen_fd_ >= 0) {
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
  }
  if (thread_.joinable()) thread_.join();
}

std::vector<std::string> WebhookSink::Bodies() {
  std::lock_guard<std::mutex> lock(mu_);
  return bodies_;
}

// One request per connection: its body is kept, the answer is 200.
void WebhookSink::Serve(int fd) {
  std::string buf;
  char chunk[4096];
  size_t head_end = std::string::npos;
  while (buf.size() < kMaxRequestBytes) {
    if (head_end == std::string::npos) head_end = buf.find("\r\n\r\n");
    if (head_end != std::string::npos && buf.size() >= head_end + 4 + ContentLength(buf.substr(0, head_end + 2))) {
      break;
    }
    const ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0) return;
    buf.append(chunk, static_cast<size_t>(n));
  }
  if (head_end == std::string::npos) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    bodies_.push_back(buf.substr(head_end + 4));
  }
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Message-Id: demo\r\nConnection: close\r\n\r\n";
  (void)!write(fd, ok.data(), ok.size());
}

}  // namespace care::demo
