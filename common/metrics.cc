#include "common/metrics.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/backup.h"
#include "common/build_info.h"
#include "common/database_ops.h"

namespace care::metrics {
namespace {

[[noreturn]] void Misuse(absl::string_view what) {
  std::fprintf(stderr, "metrics: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

// Label values escaped as the text format wants: backslash, quote, newline.
std::string EscapeLabel(absl::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(absl::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return absl::StrCat(static_cast<int64_t>(v));
  // The shortest text that reads back as the same double ("0.1", not 0.1000...01).
  for (int precision = 15; precision < 17; ++precision) {
    std::string text = absl::StrFormat("%.*g", precision, v);
    if (std::strtod(text.c_str(), nullptr) == v) return text;
  }
  return absl::StrFormat("%.17g", v);
}

// `{c="k",a="x",b="y"}`: the registry's constant pairs (rendered), the
// family's, and an optional extra pair (the histogram's `le`).
std::string LabelSet(absl::string_view constant, const std::vector<std::string>& names,
                     const std::vector<std::string>& values, absl::string_view extra_name = "",
                     absl::string_view extra_value = "") {
  std::vector<std::string> parts;
  if (!constant.empty()) parts.emplace_back(constant);
  for (size_t i = 0; i < names.size(); ++i) {
    parts.push_back(absl::StrCat(names[i], "=\"", EscapeLabel(values[i]), "\""));
  }
  if (!extra_name.empty()) parts.push_back(absl::StrCat(extra_name, "=\"", extra_value, "\""));
  if (parts.empty()) return "";
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

bool ValidName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

}  // namespace

HistogramCell::HistogramCell(const std::vector<double>* bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds_->size(); ++i) buckets_[i].store(0);
}

void HistogramCell::Observe(double v) {
  // Per-bucket (not cumulative) counts: one increment per observation.
  size_t i = std::lower_bound(bounds_->begin(), bounds_->end(), v) - bounds_->begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<uint64_t> HistogramCell::Cumulative() const {
  std::vector<uint64_t> out(bounds_->size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_->size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    out[i] = total;
  }
  return out;
}

Family::Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
               std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)),
      bounds_(std::move(bounds)) {}

Family::Cell& Family::Find(Labels values) {
  if (values.size() != label_names_.size()) {
    Misuse(absl::StrCat(name_, ": ", values.size(), " label values for ", label_names_.size(), " labels"));
  }
  std::string key = absl::StrJoin(values, "\xff");
  {
    std::shared_lock lock(mu_);
    auto it = cells_.find(key);
    if (it != cells_.end()) return *it->second;
  }
  std::unique_lock lock(mu_);
  auto& cell = cells_[key];
  if (!cell) {
    cell = std::make_unique<Cell>();
    for (absl::string_view v : values) cell->values.emplace_back(v);
    if (type_ == Type::kHistogram) cell->histogram = std::make_unique<HistogramCell>(&bounds_);
  }
  return *cell;
}

void Family::Render(std::string* out, absl::string_view constant) const {
  static constexpr const char* kTypeNames[] = {"counter", "gauge", "histogram"};
  absl::StrAppend(out, "# HELP ", name_, " ", EscapeHelp(help_), "\n# TYPE ", name_, " ",
                  kTypeNames[static_cast<int>(type_)], "\n");
  std::vector<const Cell*> cells;
  {
    std::shared_lock lock(mu_);
    for (const auto& [key, cell] : cells_) cells.push_back(cell.get());
  }
  // Sorted, so scrapes are stable and diffable.
  std::sort(cells.begin(), cells.end(), [](const Cell* a, const Cell* b) { return a->values < b->values; });
  for (const Cell* cell : cells) {
    switch (type_) {
      case Type::kCounter:
        absl::StrAppend(out, name_, LabelSet(constant, label_names_, cell->values), " ",
                        FormatValue(cell->counter.value()), "\n");
        break;
      case Type::kGauge:
        absl::StrAppend(out, name_, LabelSet(constant, label_names_, cell->values), " ",
                        FormatValue(cell->gauge.value()), "\n");
        break;
      case Type::kHistogram: {
        std::vector<uint64_t> cumulative = cell->histogram->Cumulative();
        for (size_t i = 0; i < cumulative.size(); ++i) {
          std::string le = i < bounds_.size() ? FormatValue(bounds_[i]) : "+Inf";
          absl::StrAppend(out, name_, "_bucket", LabelSet(constant, label_names_, cell->values, "le", le), " ",
                          cumulative[i], "\n");
        }
        // Count is the +Inf bucket, so the three always agree within a scrape.
        absl::StrAppend(out, name_, "_sum", LabelSet(constant, label_names_, cell->values), " ",
                        FormatValue(cell->histogram->sum()), "\n");
        absl::StrAppend(out, name_, "_count", LabelSet(constant, label_names_, cell->values), " ", cumulative.back(),
                        "\n");
        break;
      }
    }
  }
}

const std::vector<double>& LatencyBuckets() {
  static const auto* buckets = new std::vector<double>{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                       0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return *buckets;
}

const std::vector<double>& StreamDurationBuckets() {
  static const auto* buckets = new std::vector<double>{0.01, 0.1, 0.5, 1,    5,    10,   30,
                                                       60,   300, 900, 1800, 3600, 7200, 14400};
  return *buckets;
}

Registry& Registry::Global() {
  static auto* registry = new Registry();  // leaked: used until the process exits
  return *registry;
}

Family& Registry::Get(absl::string_view name, absl::string_view help, Type type, Labels label_names,
                      const std::vector<double>& bounds) {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    Family& f = *it->second;
    if (f.type() != type ||
        !std::equal(f.label_names().begin(), f.label_names().end(), label_names.begin(), label_names.end())) {
      Misuse(absl::StrCat(name, " was declared before with another type or labels"));
    }
    return f;
  }
  if (!ValidName(name)) Misuse(absl::StrCat("invalid metric name \"", name, "\""));
  std::vector<std::string> labels;
  for (absl::string_view l : label_names) {
    if (!ValidName(l) || l == "le") Misuse(absl::StrCat(name, ": invalid label name \"", l, "\""));
    for (const auto& [constant, value] : constant_) {
      if (l == constant) Misuse(absl::StrCat(name, ": label \"", l, "\" is the registry's constant label"));
    }
    labels.emplace_back(l);
  }
  if (!std::is_sorted(bounds.begin(), bounds.end())) Misuse(absl::StrCat(name, ": unsorted buckets"));
  std::unique_ptr<Family> family;
  switch (type) {
    case Type::kCounter:
      family = std::make_unique<metrics::Counter>(std::string(name), std::string(help), type, labels, bounds);
      break;
    case Type::kGauge:
      family = std::make_unique<metrics::Gauge>(std::string(name), std::string(help), type, labels, bounds);
      break;
    case Type::kHistogram:
      family = std::make_unique<metrics::Histogram>(std::string(name), std::string(help), type, labels, bounds);
      break;
  }
  Family& ref = *family;
  families_.emplace(std::string(name), std::move(family));
  return ref;
}

metrics::Counter& Registry::Counter(absl::string_view name, absl::string_view help, Labels label_names) {
  return static_cast<metrics::Counter&>(Get(name, help, Type::kCounter, label_names, {}));
}

metrics::Gauge& Registry::Gauge(absl::string_view name, absl::string_view help, Labels label_names) {
  return static_cast<metrics::Gauge&>(Get(name, help, Type::kGauge, label_names, {}));
}

metrics::Histogram& Registry::Histogram(absl::string_view name, absl::string_view help, Labels label_names,
                                        const std::vector<double>& bounds) {
  return static_cast<metrics::Histogram&>(Get(name, help, Type::kHistogram, label_names, bounds));
}

Registry::Collector::~Collector() {
  std::lock_guard lock(registry_->collect_mu_);
  registry_->collectors_.erase(id_);
}

std::unique_ptr<Registry::Collector> Registry::OnCollect(std::function<void()> refresh) {
  std::lock_guard lock(collect_mu_);
  int id = next_collector_++;
  collectors_[id] = std::move(refresh);
  return std::make_unique<Collector>(this, id);
}

void Registry::SetConstantLabel(absl::string_view name, absl::string_view value) {
  std::lock_guard lock(mu_);
  if (!ValidName(name) || name == "le") Misuse(absl::StrCat("invalid constant label name \"", name, "\""));
  for (const auto& [family_name, family] : families_) {
    const auto& names = family->label_names();
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      Misuse(absl::StrCat(family_name, " already has a label \"", name, "\""));
    }
  }
  for (auto& [n, v] : constant_) {
    if (n == name) {
      v = std::string(value);
      return;
    }
  }
  constant_.emplace_back(name, value);
}

std::string Registry::Render() {
  {
    std::lock_guard lock(collect_mu_);
    for (auto& [id, refresh] : collectors_) refresh();
  }
  std::vector<const Family*> families;
  std::vector<std::string> constant;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, family] : families_) families.push_back(family.get());
    for (const auto& [name, value] : constant_) constant.push_back(absl::StrCat(name, "=\"", EscapeLabel(value), "\""));
  }
  std::string prefix = absl::StrJoin(constant, ",");
  std::string out;
  for (const Family* f : families) f->Render(&out, prefix);
  return out;
}

std::vector<std::string> Registry::Names() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, family] : families_) out.push_back(name);
  return out;
}

// --- HTTP ------------------------------------------------------------------

namespace {

// A listening TCP socket on `addr`, or -1 with the errno of the step that
// failed in `*error`. `dual_stack`: an IPv6 wildcard that takes IPv4 too,
// whatever net.ipv6.bindv6only says.
int ListenOn(const sockaddr* addr, socklen_t len, bool dual_stack, int* error) {
  int fd = ::socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = errno;
    return -1;
  }
  int one = 1;
  int v6only = dual_stack ? 0 : 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if ((addr->sa_family == AF_INET6 && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) != 0) ||
      ::bind(fd, addr, len) != 0 || ::listen(fd, 16) != 0) {
    *error = errno;
    ::close(fd);
    return -1;
  }
  return fd;
}

int BoundPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                          : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpExporter>> HttpExporter::Start(const std::string& host, int port,
                                                                  Registry* registry) {
  absl::string_view literal = host;
  if (literal.size() >= 2 && literal.front() == '[' && literal.back() == ']') {
    literal = literal.substr(1, literal.size() - 2);
  }
  const std::string text(literal);
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  v4.sin_port = htons(static_cast<uint16_t>(port));
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  v6.sin6_port = htons(static_cast<uint16_t>(port));
  bool is_v4 = ::inet_pton(AF_INET, text.c_str(), &v4.sin_addr) == 1;
  bool is_v6 = !is_v4 && ::inet_pton(AF_INET6, text.c_str(), &v6.sin6_addr) == 1;
  if (!is_v4 && !is_v6) {
    return absl::InvalidArgumentError(absl::StrCat("metrics: listen_host ", host, " is not an IPv4 or IPv6 address"));
  }
  bool wildcard = is_v4 ? v4.sin_addr.s_addr == htonl(INADDR_ANY) : IN6_IS_ADDR_UNSPECIFIED(&v6.sin6_addr);
  int error = 0;
  int fd = -1;
  if (is_v6 || wildcard) {
    v6.sin6_addr = wildcard ? in6addr_any : v6.sin6_addr;
    fd = ListenOn(reinterpret_cast<sockaddr*>(&v6), sizeof(v6), wildcard, &error);
    // No IPv6 on this host: the wildcard listens on IPv4 alone.
    if (fd < 0 && wildcard && (error == EAFNOSUPPORT || error == EADDRNOTAVAIL)) is_v4 = true;
  }
  if (fd < 0 && is_v4) {
    v4.sin_addr.s_addr = wildcard ? htonl(INADDR_ANY) : v4.sin_addr.s_addr;
    fd = ListenOn(reinterpret_cast<sockaddr*>(&v4), sizeof(v4), false, &error);
  }
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("metrics: cannot listen on ", host, " port ", port, ": ",
                                               std::strerror(error)));
  }
  return std::unique_ptr<HttpExporter>(new HttpExporter(fd, BoundPort(fd), registry));
}

HttpExporter::HttpExporter(int fd, int port, Registry* registry)
    : fd_(fd), port_(port), registry_(registry), thread_([this] { Loop(); }) {}

HttpExporter::~HttpExporter() {
  stopping_ = true;
  thread_.join();
  ::close(fd_);
}

void HttpExporter::Loop() {
  while (!stopping_) {
    pollfd p{fd_, POLLIN, 0};
    // Wakes up to notice stopping_; a scrape waits at most this long.
    if (::poll(&p, 1, 200) <= 0) continue;
    int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    Serve(client);
    ::close(client);
  }
}

void HttpExporter::Serve(int client) {
  // A slow or silent client must not hold the one-thread exporter: 2 s in
  // all to send the headers and take the answer. A per-call socket timeout
  // alone would let a client that sends one byte a second hold it for hours.
  const absl::Time deadline = absl::Now() + absl::Seconds(2);
  const auto time_left = [&]() -> bool {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    timeval tv = absl::ToTimeval(left);
    ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return true;
  };
  std::string request;
  char buf[2048];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 16384) {
    if (!time_left()) return;
    ssize_t n = ::recv(client, buf, sizeof(buf), 0);
    if (n <= 0) return;
    request.append(buf, static_cast<size_t>(n));
  }
  absl::string_view line(request);
  line = line.substr(0, line.find("\r\n"));
  std::string status = "200 OK";
  std::string type = "text/plain; version=0.0.4; charset=utf-8";
  std::string body;
  bool head = absl::StartsWith(line, "HEAD ");
  if (!absl::StartsWith(line, "GET ") && !head) {
    status = "405 Method Not Allowed";
    body = "only GET\n";
  } else {
    absl::string_view path = line.substr(line.find(' ') + 1);
    path = path.substr(0, path.find(' '));
    if (path == "/metrics" || absl::StartsWith(path, "/metrics?")) {
      body = registry_->Render();
    } else {
      status = "404 Not Found";
      type = "text/plain; charset=utf-8";
      body = "metrics are at /metrics\n";
    }
  }
  std::string response = absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", type,
                                      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n");
  if (!head) response += body;
  size_t sent = 0;
  while (sent < response.size()) {
    if (!time_left()) return;
    ssize_t n = ::send(client, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

// --- Catalog ----------------------------------------------------------------

metrics::Counter& RpcCalls() {
  static auto& f = Registry::Global().Counter("care_rpc_calls_total",
                                              "Finished unary calls by method and gRPC status code.",
                                              {"method", "code"});
  return f;
}

metrics::Histogram& RpcLatency() {
  static auto& f = Registry::Global().Histogram("care_rpc_latency_seconds",
                                                "Unary call latency, from arrival to answer.", {"method"});
  return f;
}

metrics::Gauge& RpcInFlight() {
  static auto& f = Registry::Global().Gauge("care_rpc_in_flight", "Unary calls being served now.");
  return f;
}

metrics::Counter& RpcStreamCalls() {
  static auto& f = Registry::Global().Counter("care_rpc_stream_calls_total",
                                              "Finished server-streaming calls by method and gRPC status code.",
                                              {"method", "code"});
  return f;
}

metrics::Histogram& RpcStreamDuration() {
  static auto& f = Registry::Global().Histogram("care_rpc_stream_duration_seconds",
                                                "Server-streaming call lifetime, from arrival to the final status.",
                                                {"method"}, StreamDurationBuckets());
  return f;
}

metrics::Counter& RpcStreamMessagesSent() {
  static auto& f = Registry::Global().Counter("care_rpc_stream_messages_sent_total",
                                              "Messages written to server streams, by method.", {"method"});
  return f;
}

metrics::Gauge& RpcStreamsOpen() {
  static auto& f = Registry::Global().Gauge("care_rpc_streams_open", "Server-streaming calls open now.");
  return f;
}

metrics::Gauge& BuildInfo() {
  static auto& f = []() -> metrics::Gauge& {
    auto& g = Registry::Global().Gauge("care_build_info",
                                       "Always 1: the version and commit this binary was built from.",
                                       {"version", "commit"});
    g.Set({build_info::kVersion, build_info::kCommit}, 1);
    return g;
  }();
  return f;
}

metrics::Counter& JobRuns() {
  static auto& f = Registry::Global().Counter("care_job_runs_total",
                                              "Background job runs on this replica by job and result (ok, failed).",
                                              {"care_job", "result"});
  return f;
}

metrics::Gauge& JobLastSuccess() {
  static auto& f = Registry::Global().Gauge("care_job_last_success_timestamp_seconds",
                                            "Unix time of the job's last successful run on this replica.",
                                            {"care_job"});
  return f;
}

metrics::Gauge& OutboxBacklog() {
  static auto& f = Registry::Global().Gauge("care_outbox_backlog",
                                            "Outbox events not yet delivered (dead events excluded).");
  return f;
}

metrics::Gauge& OutboxOldestPendingAge() {
  static auto& f = Registry::Global().Gauge("care_outbox_oldest_pending_age_seconds",
                                            "Seconds the oldest undelivered outbox event has waited (0: none waits); a "
                                            "receiver down or refusing shows here.");
  return f;
}

metrics::Counter& OutboxDeliveries() {
  static auto& f = Registry::Global().Counter(
      "care_outbox_deliveries_total", "Outbox delivery attempts by destination and result (delivered, retry, dead).",
      {"destination", "result"});
  return f;
}

metrics::Gauge& OutboxDead() {
  static auto& f = Registry::Global().Gauge(
      "care_outbox_dead", "Outbox events refused for good by their receiver, waiting for an admin replay.");
  return f;
}

metrics::Gauge& WorkPoolQueueDepth() {
  static auto& f = Registry::Global().Gauge("care_work_pool_queue_depth", "Tasks waiting for a work-pool thread.");
  return f;
}

metrics::Counter& WorkPoolRejected() {
  static auto& f = Registry::Global().Counter("care_work_pool_rejected_total",
                                              "Tasks refused because the work-pool queue was full.");
  return f;
}

metrics::Gauge& SqlStatementsCached() {
  static auto& f = Registry::Global().Gauge("care_sql_statements_cached",
                                            "SQL statements kept prepared by the connections of this process.");
  return f;
}

metrics::Counter& SqlConflictRetries() {
  static auto& f = Registry::Global().Counter(
      "care_sql_conflict_retries_total",
      "PostgreSQL write transactions run again after a serialization conflict, and those out of attempts.",
      {"outcome"});
  return f;
}

metrics::Counter& RetentionPurged() {
  static auto& f = Registry::Global().Counter(
      "care_retention_purged_total",
      "Rows deleted by the retention purge: expired idempotency records, delivered outbox events.", {"table"});
  return f;
}

// --- Process ----------------------------------------------------------------

namespace {

std::string ReadWhole(const char* path) {
  std::string out;
  FILE* f = std::fopen(path, "re");
  if (f == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

// Fields of /proc/self/stat after the command name (which may hold spaces
// and parentheses: everything up to the last ')' is skipped). fields[0] is
// field 3 of proc(5), so field N is fields[N - 3].
std::vector<absl::string_view> StatFields(const std::string& stat) {
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return {};
  return absl::StrSplit(absl::string_view(stat).substr(close + 1), ' ', absl::SkipEmpty());
}

double Field(const std::vector<absl::string_view>& fields, size_t n) {
  double v = 0;
  if (n - 3 < fields.size()) (void)absl::SimpleAtod(fields[n - 3], &v);
  return v;
}

// Unix time the process started: boot time (/proc/stat btime) plus its
// start in clock ticks since boot (field 22). Fixed for the process's life.
double StartTime() {
  double btime = 0;
  for (absl::string_view line : absl::StrSplit(ReadWhole("/proc/stat"), '\n')) {
    if (absl::ConsumePrefix(&line, "btime ")) (void)absl::SimpleAtod(line, &btime);
  }
  return btime + Field(StatFields(ReadWhole("/proc/self/stat")), 22) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double OpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  double n = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n - 1;  // the directory's own descriptor
}

double MaxFds() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  return static_cast<double>(limit.rlim_cur);
}

}  // namespace

void DeclareProcessMetrics() {
  // Registered once and kept for the process's life, as the registry is.
  static Registry::Collector* const collector = [] {
    Registry& r = Registry::Global();
    auto& cpu = r.Counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.").With({});
    auto& rss = r.Gauge("process_resident_memory_bytes", "Resident memory size in bytes.").With({});
    auto& open = r.Gauge("process_open_fds", "Number of open file descriptors.").With({});
    auto& max = r.Gauge("process_max_fds", "Maximum number of open file descriptors.").With({});
    auto& start = r.Gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.");
    start.Set({}, StartTime());
    const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
    return r
        .OnCollect([&cpu, &rss, &open, &max, tick, page] {
          const std::string stat = ReadWhole("/proc/self/stat");
          const auto fields = StatFields(stat);
          cpu.Set((Field(fields, 14) + Field(fields, 15)) / tick);  // utime + stime
          rss.Set(Field(fields, 24) * page);
          open.Set(OpenFds());
          max.Set(MaxFds());
        })
        .release();
  }();
  (void)collector;
}

namespace {

std::mutex catalog_mu;
std::vector<void (*)()>& Added() {
  static auto* added = new std::vector<void (*)()>();
  return *added;
}

}  // namespace

void AddToCatalog(void (*declare)()) {
  std::lock_guard lock(catalog_mu);
  Added().push_back(declare);
}

void DeclareAll() {
  std::vector<void (*)()> added;
  {
    std::lock_guard lock(catalog_mu);
    added = Added();
  }
  RpcCalls();
  RpcLatency();
  RpcInFlight();
  RpcStreamCalls();
  RpcStreamDuration();
  RpcStreamMessagesSent();
  RpcStreamsOpen();
  BuildInfo();
  JobRuns();
  JobLastSuccess();
  DeclareProcessMetrics();
  OutboxBacklog();
  OutboxOldestPendingAge();
  OutboxDeliveries();
  OutboxDead();
  WorkPoolQueueDepth();
  WorkPoolRejected();
  SqlStatementsCached();
  SqlConflictRetries();
  RetentionPurged();
  DeclareDatabaseOpsMetrics();
  DeclareBackupMetrics();
  for (auto declare : added) declare();
}

}  // namespace care::metrics
