#pragma once

// A webhook gateway for the demo: an HTTP receiver on a loopback port that
// keeps every body posted to it and answers 200, standing in for the chat
// gateway a team lead's alerts go to (notification's WEBHOOK channel;
// tools/suite.sh allow-lists 127.0.0.1 for egress). It lives as long as the
// demo: a suite kept running with --keep has no receiver behind the URL.

#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace care::demo {

class WebhookSink final {
 public:
  // Listens on 127.0.0.1, a free port; port() is 0 when it could not.
  WebhookSink();
  ~WebhookSink();
  WebhookSink(const WebhookSink&) = delete;
  WebhookSink& operator=(const WebhookSink&) = delete;

  int port() const { return port_; }
  // The bodies received so far, in order.
  std::vector<std::string> Bodies();

 private:
  void Serve(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  std::mutex mu_;
  std::vector<std::string> bodies_;
  std::thread thread_;  // last: joined before the members it uses go
};

}  // namespace care::demo
