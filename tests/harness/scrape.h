#pragma once

// Reads a Prometheus /metrics endpoint for tests: a plain HTTP/1.1 GET (on
// 127.0.0.1 unless told) and a parser of the text exposition format into
// "name{labels}" -> value, with labels as the service wrote them.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <regex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace care::testing {

// The body of GET `path` on `host` (an IPv4 or IPv6 literal) at `port`; an
// error unless the answer is 200.
inline absl::StatusOr<std::string> HttpGet(const std::string& host, int port, const std::string& path) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(*v4);
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(*v6);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(host, " is not an IP address"));
  }
  const std::string authority = v4->sin_family == AF_INET ? host : absl::StrCat("[", host, "]");
  int fd = ::socket(addr.ss_family, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket");
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to ", authority, ":", port));
  }
  std::string request = absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: ", authority, ":", port,
                                     "\r\nConnection: close\r\n\r\n");
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    response.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  size_t body = response.find("\r\n\r\n");
  if (body == std::string::npos) return absl::DataLossError("no HTTP header in: " + response);
  std::string status_line = response.substr(0, response.find("\r\n"));
  if (status_line.find(" 200 ") == std::string::npos) {
    return absl::FailedPreconditionError(absl::StrCat("HTTP answer: ", status_line));
  }
  return response.substr(body + 4);
}

inline absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  return HttpGet("127.0.0.1", port, path);
}

// Samples of an exposition: "care_rpc_calls_total{care_service=\"loyalty\",method=\"...\",code=\"OK\"}"
// -> value. Comment lines (# HELP, # TYPE) are skipped. Every sample of a
// service carries the same care_service label (its process's), so each is
// also found without it: "care_rpc_calls_total{method=\"...\",code=\"OK\"}",
// "care_outbox_backlog".
inline std::map<std::string, double> ParseExposition(const std::string& text) {
  std::map<std::string, double> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "#")) continue;
    size_t space = line.rfind(' ');
    if (space == absl::string_view::npos) continue;
    double v = 0;
    absl::string_view value = line.substr(space + 1);
    if (value == "+Inf") {
      v = 1e300;
    } else if (!absl::SimpleAtod(value, &v)) {
      continue;
    }
    std::string series(line.substr(0, space));
    out[series] = v;
    static const std::regex kService(R"re(\{care_service="(?:[^"\\]|\\.)*"(,|\}))re");
    std::smatch m;
    if (std::regex_search(series, m, kService)) {
      std::string rest = m[1] == "}" ? "" : "{";
      out.emplace(series.substr(0, m.position(0)) + rest + m.suffix().str(), v);
    }
  }
  return out;
}

// The value of one sample, 0 when absent (a counter not yet incremented).
inline double Sample(const std::map<std::string, double>& samples, const std::string& series) {
  auto it = samples.find(series);
  return it == samples.end() ? 0 : it->second;
}

}  // namespace care::testing
