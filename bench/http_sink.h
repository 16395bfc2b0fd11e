#pragma once

// A loopback HTTP/1.1 sink for benchmarks: keep-alive connections, one
// thread each, every POST answered 200 at once and counted. It does as
// little as a receiver can, so a benchmark against it measures the sender.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace care::bench {

class HttpSink {
 public:
  HttpSink() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // Without its socket the bench would wait for requests that never come: stop here instead.
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listen_fd_, 1024) != 0) {
      std::perror("HttpSink: bind/listen on 127.0.0.1");
      std::abort();
    }
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~HttpSink() {
    stopping_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    acceptor_.join();
    std::unique_lock lock(mu_);
    for (int fd : fds_) shutdown(fd, SHUT_RDWR);
    done_.wait(lock, [this] { return fds_.empty(); });
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  int64_t requests() const { return requests_.load(); }

 private:
  void Accept() {
    while (!stopping_) {
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::lock_guard lock(mu_);
      fds_.insert(fd);
      // Detached: a connection's thread ends with it, so senders that
      // reconnect do not pile up threads.
      std::thread([this, fd] {
        Serve(fd);
        std::lock_guard lock(mu_);
        close(fd);
        fds_.erase(fd);
        done_.notify_all();
      }).detach();
    }
  }

  // Requests back to back on one connection: head, Content-Length body, 200.
  void Serve(int fd) {
    static const char kOk[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Message-Id: sink\r\n\r\n";
    std::string buf;
    char chunk[16384];
    for (;;) {
      size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n <= 0) return;
        buf.append(chunk, n);
      }
      size_t body = 0;
      if (const char* cl = strcasestr(buf.c_str(), "content-length:"); cl != nullptr && cl < buf.c_str() + end) {
        body = std::strtoul(cl + 15, nullptr, 10);
      }
      while (buf.size() < end + 4 + body) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n <= 0) return;
        buf.append(chunk, n);
      }
      buf.erase(0, end + 4 + body);
      ++requests_;
      if (write(fd, kOk, sizeof kOk - 1) < 0) return;
    }
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> requests_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::condition_variable done_;
  std::set<int> fds_;  // open connections
};

}  // namespace care::bench
