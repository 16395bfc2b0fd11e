#include "tests/harness/redis_sentinel.h"

#include <hiredis/hiredis.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace care::testing {
namespace {

using Reply = std::unique_ptr<redisReply, void (*)(void*)>;

// One connection to a server on loopback, authenticated when `password` is set.
class Conn {
 public:
  Conn(int port, const std::string& password) {
    timeval tv{0, 300000};
    c_ = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c_ != nullptr && c_->err != 0) {
      redisFree(c_);
      c_ = nullptr;
    }
    if (c_ == nullptr) return;
    timeval command{10, 0};  // WAIT may take seconds
    redisSetTimeout(c_, command);
    if (!password.empty()) Run({"AUTH", password});
  }
  ~Conn() {
    if (c_ != nullptr) redisFree(c_);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool ok() const { return c_ != nullptr; }
  Reply Run(const std::vector<std::string>& args) {
    if (c_ == nullptr) return Reply(nullptr, freeReplyObject);
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    return Reply(static_cast<redisReply*>(redisCommandArgv(c_, static_cast<int>(args.size()), argv.data(),
                                                           lens.data())),
                 freeReplyObject);
  }

 private:
  redisContext* c_ = nullptr;
};

std::string Text(const Reply& r) {
  if (r == nullptr || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)) return "";
  return std::string(r->str, r->len);
}

std::string Info(int port, const std::string& password, const std::string& section) {
  Conn c(port, password);
  return Text(c.Run({"INFO", section}));
}

// The master's port a sentinel names, 0 when it does not answer.
int AskSentinel(int port) {
  Conn c(port, "");
  Reply r = c.Run({"SENTINEL", "get-master-addr-by-name", RedisSentinelGroup::master_name()});
  int master = 0;
  if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[1]->type != REDIS_REPLY_STRING ||
      !absl::SimpleAtoi(absl::string_view(r->element[1]->str, r->element[1]->len), &master)) {
    return 0;
  }
  return master;
}

// How many entries `SENTINEL <what> care` lists (-1: no answer).
int CountOf(int port, const std::string& what) {
  Conn c(port, "");
  Reply r = c.Run({"SENTINEL", what, RedisSentinelGroup::master_name()});
  if (r == nullptr || r->type != REDIS_REPLY_ARRAY) return -1;
  return static_cast<int>(r->elements);
}

std::string Secret() {
  std::random_device rd;
  std::string token;
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 40; ++i) token += kHex[rd() % 16];
  return token;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  chmod(path.c_str(), 0600);
}

template <typename Fn>
bool Eventually(Fn fn, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (fn()) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return fn();
}

std::string Program(const std::string& name) {
  for (const char* dir : {"/usr/bin/", "/usr/local/bin/"}) {
    std::string path = absl::StrCat(dir, name);
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

}  // namespace

RedisSentinelGroup::RedisSentinelGroup(int replicas, int sentinels, absl::Duration down_after) {
  password_ = Secret();
  tier_key_ = Secret() + Secret();
  WriteFile(password_file(), password_ + "\n");
  WriteFile(tier_key_file(), absl::StrCat("test ", tier_key_, "\n"));
  for (int i = 0; i <= replicas && status_.ok(); ++i) {
    servers_.push_back(std::make_unique<Process>());
    status_ = StartServer(*servers_.back(), i == 0 ? 0 : servers_[0]->port);
  }
  if (!status_.ok()) return;
  const int primary = servers_[0]->port;
  if (!Eventually(
          [&] {
            return absl::StrContains(Info(primary, password_, "replication"),
                                     absl::StrCat("connected_slaves:", replicas, "\r\n"));
          },
          absl::Seconds(20))) {
    status_ = absl::DeadlineExceededError(absl::StrCat("replicas did not connect:\n", logs()));
    return;
  }
  for (int i = 0; i < sentinels && status_.ok(); ++i) {
    sentinels_.push_back(std::make_unique<Process>());
    status_ = StartSentinel(*sentinels_.back(), primary, down_after);
  }
  if (!status_.ok()) return;
  // A failover needs the sentinels to know each other and the replicas
  // (learnt through the servers' hello channel every 2 seconds).
  bool known = Eventually(
      [&] {
        return std::all_of(sentinels_.begin(), sentinels_.end(), [&](const auto& s) {
          return AskSentinel(s->port) == primary && CountOf(s->port, "sentinels") == sentinels - 1 &&
                 CountOf(s->port, "replicas") == replicas;
        });
      },
      absl::Seconds(30));
  if (!known) status_ = absl::DeadlineExceededError(absl::StrCat("sentinels did not meet:\n", logs()));
}

RedisSentinelGroup::~RedisSentinelGroup() {
  for (auto& s : sentinels_) s->process.Kill();
  for (auto& s : servers_) s->process.Kill();
}

std::string RedisSentinelGroup::password_file() const { return dir_.path() + "/redis_password"; }
std::string RedisSentinelGroup::tier_key_file() const { return dir_.path() + "/tier_cache_key"; }

std::string RedisSentinelGroup::sentinels() const {
  std::vector<std::string> out;
  for (const auto& s : sentinels_) out.push_back(absl::StrCat("127.0.0.1:", s->port));
  return absl::StrJoin(out, ",");
}

absl::Status RedisSentinelGroup::StartServer(Process& p, int primary_port) {
  std::string binary = Program("redis-server");
  if (binary.empty()) return absl::NotFoundError("redis-server is not installed");
  absl::Status s;
  // Another process may take the free port before redis binds it: retry.
  for (int attempt = 0; attempt < 3; ++attempt) {
    p.dir = std::make_unique<TempDir>();
    p.port = FreePort();
    std::vector<std::string> args = {binary,
                                     "--port",
                                     absl::StrCat(p.port),
                                     "--bind",
                                     "127.0.0.1",
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "no",
                                     "--daemonize",
                                     "no",
                                     "--dir",
                                     p.dir->path(),
                                     "--requirepass",
                                     password_,
                                     "--masterauth",
                                     password_};
    if (primary_port != 0) {
      args.insert(args.end(), {"--replicaof", "127.0.0.1", absl::StrCat(primary_port)});
    }
    s = p.process.Spawn(args, p.log_path());
    if (!s.ok()) return s;
    if (Eventually([&] { return Text(Conn(p.port, password_).Run({"PING"})) == "PONG" || !p.process.running(); },
                   absl::Seconds(10)) &&
        p.process.running()) {
      return absl::OkStatus();
    }
    p.process.Kill();
    s = absl::UnavailableError(absl::StrCat("redis-server did not answer PING:\n", ReadFile(p.log_path())));
  }
  return s;
}

absl::Status RedisSentinelGroup::StartSentinel(Process& p, int primary_port, absl::Duration down_after) {
  std::string binary = Program("redis-sentinel");
  bool sentinel_mode_flag = binary.empty();
  if (binary.empty()) binary = Program("redis-server");
  if (binary.empty()) return absl::NotFoundError("neither redis-sentinel nor redis-server is installed");
  int64_t down_ms = absl::ToInt64Milliseconds(down_after);
  absl::Status s;
  for (int attempt = 0; attempt < 3; ++attempt) {
    p.dir = std::make_unique<TempDir>();
    p.port = FreePort();
    // The sentinel rewrites its configuration file: it must be its own.
    std::string conf = p.dir->path() + "/sentinel.conf";
    WriteFile(conf, absl::StrCat("port ", p.port, "\nbind 127.0.0.1\ndaemonize no\ndir ", p.dir->path(),
                                 "\nsentinel monitor ", master_name(), " 127.0.0.1 ", primary_port, " 2\n",
                                 "sentinel auth-pass ", master_name(), " ", password_, "\n",
                                 "sentinel down-after-milliseconds ", master_name(), " ", down_ms, "\n",
                                 "sentinel failover-timeout ", master_name(), " ", std::max<int64_t>(3 * down_ms, 3000),
                                 "\nsentinel parallel-syncs ", master_name(), " 1\n"));
    std::vector<std::string> args = {binary, conf};
    if (sentinel_mode_flag) args.push_back("--sentinel");
    s = p.process.Spawn(args, p.log_path());
    if (!s.ok()) return s;
    if (Eventually([&] { return AskSentinel(p.port) == primary_port || !p.process.running(); }, absl::Seconds(10)) &&
        p.process.running()) {
      return absl::OkStatus();
    }
    p.process.Kill();
    s = absl::UnavailableError(absl::StrCat("redis sentinel did not start:\n", ReadFile(p.log_path())));
  }
  return s;
}

int RedisSentinelGroup::NamedMaster() {
  for (const auto& s : sentinels_) {
    if (!s->process.running()) continue;
    int port = AskSentinel(s->port);
    for (int i = 0; i < servers(); ++i) {
      if (servers_[i]->port == port) return i;
    }
  }
  return -1;
}

void RedisSentinelGroup::KillServer(int server) { servers_[server]->process.Kill(); }
void RedisSentinelGroup::KillSentinel(int sentinel) { sentinels_[sentinel]->process.Kill(); }

absl::StatusOr<int> RedisSentinelGroup::WaitForFailover(int old, absl::Duration timeout) {
  int found = -1;
  bool done = Eventually(
      [&] {
        std::map<int, int> votes;
        int live = 0;
        for (const auto& s : sentinels_) {
          if (!s->process.running()) continue;
          ++live;
          ++votes[AskSentinel(s->port)];
        }
        for (int i = 0; i < servers(); ++i) {
          if (i == old || votes[servers_[i]->port] != live) continue;
          if (absl::StrContains(Info(servers_[i]->port, password_, "replication"), "role:master\r\n")) {
            found = i;
            return true;
          }
        }
        return false;
      },
      timeout);
  if (!done)
    return absl::DeadlineExceededError(absl::StrCat("no failover within ", absl::FormatDuration(timeout), ":\n",
                                                    logs()));
  return found;
}

bool RedisSentinelGroup::WaitReplicated(int server, int replicas, absl::Duration timeout) {
  Conn c(servers_[server]->port, password_);
  c.Run({"SET", "care:test:replicated", Secret()});
  Reply r = c.Run({"WAIT", absl::StrCat(replicas), absl::StrCat(absl::ToInt64Milliseconds(timeout))});
  return r != nullptr && r->type == REDIS_REPLY_INTEGER && r->integer >= replicas;
}

std::string RedisSentinelGroup::logs() const {
  std::string out;
  for (const auto& s : servers_) absl::StrAppend(&out, "--- redis :", s->port, "\n", ReadFile(s->log_path()));
  for (const auto& s : sentinels_) absl::StrAppend(&out, "--- sentinel :", s->port, "\n", ReadFile(s->log_path()));
  if (out.size() > 12000) out = absl::StrCat("[...]\n", out.substr(out.size() - 12000));
  return out;
}

}  // namespace care::testing
