#include "common/redis.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/log.h"

namespace care {
namespace {

// KEYS[1] = key; ARGV = version, value, signature. A hash holds
// {v: version, d: data, s: signature}. A key of another type, or a version
// that is not a number, was not written by this script: it is replaced.
constexpr char kSetIfNewerLua[] = R"lua(
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'hash' then
  local cur = tonumber(redis.call('HGET', KEYS[1], 'v'))
  if cur and cur >= tonumber(ARGV[1]) then return 0 end
elseif t ~= 'none' then
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2], 's', ARGV[3])
return 1
)lua";

// KEYS[1] = key; ARGV = seen v, d, s ("" = absent), then "1", v, d, s to
// write or "0" to delete. Replaces only what the caller saw.
constexpr char kReplaceLua[] = R"lua(
local t = redis.call('TYPE', KEYS[1]).ok
local v, d, s = '', '', ''
if t == 'hash' then
  local cur = redis.call('HMGET', KEYS[1], 'v', 'd', 's')
  v, d, s = cur[1] or '', cur[2] or '', cur[3] or ''
end
if v ~= ARGV[1] or d ~= ARGV[2] or s ~= ARGV[3] then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[4] == '1' then redis.call('HSET', KEYS[1], 'v', ARGV[5], 'd', ARGV[6], 's', ARGV[7]) end
return 1
)lua";

// Replies meaning this connection may not run commands: a Redis that wants
// a password we did not send (or a wrong one), or an ACL user without the
// right. The cache is then as good as down.
bool IsAuthError(const redisReply* r) {
  if (r->type != REDIS_REPLY_ERROR) return false;
  absl::string_view e(r->str, r->len);
  return absl::StartsWith(e, "NOAUTH") || absl::StartsWith(e, "WRONGPASS") || absl::StartsWith(e, "NOPERM") ||
         absl::StartsWith(e, "ERR AUTH") || absl::StartsWith(e, "ERR invalid password");
}

// A write refused by a replica: the master we knew was demoted.
bool IsReadOnly(const redisReply* r) {
  return r->type == REDIS_REPLY_ERROR && absl::StartsWith(absl::string_view(r->str, r->len), "READONLY");
}

// One command on `c`; null on a connection failure.
redisReply* RunCommand(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()));
}

// Whether `c` talks to a master (INFO replication says role:master).
bool IsMaster(redisContext* c) {
  auto* raw = RunCommand(c, {"INFO", "replication"});
  if (raw == nullptr) return false;
  std::unique_ptr<redisReply, void (*)(void*)> reply(raw, freeReplyObject);
  return reply->type == REDIS_REPLY_STRING &&
         absl::StrContains(absl::string_view(reply->str, reply->len), "role:master\r\n");
}

absl::Status Down(absl::string_view what) {
  return Unavailable("REDIS_UNAVAILABLE", absl::StrCat("redis unavailable: ", what));
}

}  // namespace

RedisPool::RedisPool(RedisOptions options) : options_(std::move(options)) {}

RedisPool::~RedisPool() {
  for (auto* c : idle_) redisFree(c);
}

redisContext* RedisPool::Acquire() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return !idle_.empty() || outstanding_ < options_.pool_size; });
  ++outstanding_;
  const bool sentinel = !options_.sentinels.empty();
  if (sentinel) RefreshMaster(lock);
  if (!idle_.empty()) {
    redisContext* c = idle_.back();
    idle_.pop_back();
    return c;
  }
  if (absl::Now() < down_until_ || (sentinel && master_port_ == 0)) {
    --outstanding_;
    cv_.notify_one();
    return nullptr;
  }
  std::string host = sentinel ? master_host_ : options_.host;
  int port = sentinel ? master_port_ : options_.port;
  uint64_t generation = generation_;
  lock.unlock();
  redisContext* c = Connect(host, port);
  if (c == nullptr) {
    Release(nullptr, true);
    return nullptr;
  }
  lock.lock();
  born_[c] = generation;
  return c;
}

redisContext* RedisPool::Connect(const std::string& host, int port) {
  timeval tv = absl::ToTimeval(options_.connect_timeout);
  redisContext* c = redisConnectWithTimeout(host.c_str(), port, tv);
  if (c == nullptr || c->err) {
    if (c) redisFree(c);
    return nullptr;
  }
  timeval cmd = absl::ToTimeval(options_.command_timeout);
  redisSetTimeout(c, cmd);
  if (!options_.password.empty() && !Authenticate(c)) {
    redisFree(c);
    return nullptr;
  }
  if (!options_.sentinels.empty() && !IsMaster(c)) {
    // A sentinel behind the failover (or a partitioned one) named a replica:
    // writing there would fail, reading there could be stale.
    if (!not_master_logged_.exchange(true)) {
      LogWarn("redis server named by the sentinels is not a master; asking again", {{"host", host}, {"port", port}});
    }
    redisFree(c);
    return nullptr;
  }
  return c;
}

void RedisPool::RefreshMaster(std::unique_lock<std::mutex>& lock) {
  if (checking_master_ || absl::Now() < next_master_check_) return;
  checking_master_ = true;
  lock.unlock();
  std::optional<std::pair<std::string, int>> found = AskSentinels();
  lock.lock();
  checking_master_ = false;
  next_master_check_ = absl::Now() + (found ? options_.master_check_interval : options_.retry_after);
  if (!found || (found->first == master_host_ && found->second == master_port_)) return;
  LogInfo("redis master", {{"master_name", options_.master_name}, {"host", found->first}, {"port", found->second}});
  if (master_port_ != 0) reads_held_until_ = absl::Now() + options_.failover_read_hold;  // a failover
  master_host_ = found->first;
  master_port_ = found->second;
  ++generation_;
  for (auto* i : idle_) FreeLocked(i);
  idle_.clear();
  down_until_ = absl::InfinitePast();  // a new master: try it now
}

std::optional<std::pair<std::string, int>> RedisPool::AskSentinels() {
  const size_t n = options_.sentinels.size();
  for (size_t i = 0; i < n; ++i) {
    size_t at = (first_sentinel_ + i) % n;
    const auto& [host, port] = options_.sentinels[at];
    timeval tv = absl::ToTimeval(options_.connect_timeout);
    redisContext* c = redisConnectWithTimeout(host.c_str(), port, tv);
    if (c == nullptr || c->err) {
      if (c) redisFree(c);
      continue;
    }
    redisSetTimeout(c, absl::ToTimeval(options_.command_timeout));
    ReplyPtr reply(RunCommand(c, {"SENTINEL", "get-master-addr-by-name", options_.master_name}), freeReplyObject);
    redisFree(c);
    int master_port = 0;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_STRING && reply->element[1]->type == REDIS_REPLY_STRING &&
        absl::SimpleAtoi(absl::string_view(reply->element[1]->str, reply->element[1]->len), &master_port)) {
      first_sentinel_ = at;
      sentinels_logged_.store(false);
      return std::make_pair(std::string(reply->element[0]->str, reply->element[0]->len), master_port);
    }
  }
  if (!sentinels_logged_.exchange(true)) {
    LogWarn("no redis sentinel named the master; serving without the cache",
            {{"master_name", options_.master_name}, {"sentinels", static_cast<int64_t>(n)}});
  }
  return std::nullopt;
}

bool RedisPool::Authenticate(redisContext* c) {
  std::vector<std::string> args = {"AUTH"};
  if (!options_.user.empty()) args.push_back(options_.user);
  args.push_back(options_.password);
  auto* raw = RunCommand(c, args);
  if (raw == nullptr) return false;  // connection trouble: Release logs it
  ReplyPtr reply(raw, freeReplyObject);
  if (reply->type == REDIS_REPLY_STATUS) {
    auth_refused_logged_.store(false);
    return true;
  }
  // Logged once per outage, not per connection attempt; never the password.
  if (!auth_refused_logged_.exchange(true)) {
    LogWarn("redis refused AUTH; serving without the cache",
            {{"user", options_.user.empty() ? "default" : options_.user},
             {"error", reply->type == REDIS_REPLY_ERROR ? std::string(reply->str, reply->len) : "unexpected reply"}});
  }
  return false;
}

bool RedisPool::ReadsHeld() {
  std::lock_guard lock(mu_);
  return absl::Now() < reads_held_until_;
}

void RedisPool::FreeLocked(redisContext* c) {
  if (c == nullptr) return;
  born_.erase(c);
  redisFree(c);
}

void RedisPool::Release(redisContext* c, bool broken) {
  {
    std::lock_guard lock(mu_);
    --outstanding_;
    if (broken) {
      FreeLocked(c);
      if (healthy_.exchange(false)) LogWarn("redis connection lost; serving without the cache");
      down_until_ = absl::Now() + options_.retry_after;
      // The master may have moved: ask the sentinels again at once.
      next_master_check_ = absl::InfinitePast();
      // Drop idle connections too: after a failure they are likely dead.
      for (auto* i : idle_) FreeLocked(i);
      idle_.clear();
    } else {
      auto it = born_.find(c);
      if (it != born_.end() && it->second != generation_) {
        FreeLocked(c);  // made for a previous master
      } else {
        idle_.push_back(c);
      }
      if (!healthy_.exchange(true)) {
        not_master_logged_.store(false);
        LogInfo("redis connected");
      }
    }
  }
  cv_.notify_one();
}

absl::StatusOr<RedisPool::ReplyPtr> RedisPool::Command(const std::vector<std::string>& args, bool read) {
  redisContext* c = Acquire();
  if (c == nullptr) return Down("cannot connect");
  if (read && ReadsHeld()) {
    Release(c, false);
    return Down("reads held after a failover");
  }
  auto* raw = RunCommand(c, args);
  if (raw == nullptr) {
    Release(c, true);
    return Down("command failed");
  }
  ReplyPtr reply(raw, freeReplyObject);
  if (IsAuthError(reply.get())) {
    if (!auth_refused_logged_.exchange(true)) {
      LogWarn("redis refused a command (authentication); serving without the cache",
              {{"error", std::string(reply->str, reply->len)}});
    }
    Release(c, true);
    return Down("not authenticated");
  }
  if (IsReadOnly(reply.get())) {
    // This master became a replica (a failover): find the new one.
    Release(c, true);
    return Down("the server is a replica now");
  }
  Release(c, false);
  return reply;
}

absl::StatusOr<RedisPool::ReplyPtr> RedisPool::Eval(const char* script, std::string* sha,
                                                    const std::vector<std::string>& keys_and_args) {
  auto run = [&](const std::string& with) {
    std::vector<std::string> args = {"EVALSHA", with, "1"};
    args.insert(args.end(), keys_and_args.begin(), keys_and_args.end());
    return Command(args);
  };
  std::string known;
  {
    std::lock_guard lock(mu_);
    known = *sha;
  }
  if (!known.empty()) {
    auto r = run(known);
    if (!r.ok()) return r.status();
    // NOSCRIPT after a Redis restart: load it again below.
    if ((*r)->type != REDIS_REPLY_ERROR || !absl::StartsWith(absl::string_view((*r)->str, (*r)->len), "NOSCRIPT")) {
      return r;
    }
  }
  auto load = Command({"SCRIPT", "LOAD", script});
  if (!load.ok()) return load.status();
  if ((*load)->type != REDIS_REPLY_STRING) return Down("SCRIPT LOAD failed");
  {
    std::lock_guard lock(mu_);
    sha->assign((*load)->str, (*load)->len);
    known = *sha;
  }
  return run(known);
}

absl::StatusOr<std::optional<std::string>> RedisPool::Get(const std::string& key) {
  auto r = Command({"GET", key}, /*read=*/true);
  if (!r.ok()) return r.status();
  if ((*r)->type == REDIS_REPLY_NIL) return std::nullopt;
  if ((*r)->type != REDIS_REPLY_STRING) return Down("unexpected reply to GET");
  return std::string((*r)->str, (*r)->len);
}

absl::Status RedisPool::Set(const std::string& key, const std::string& value) {
  auto r = Command({"SET", key, value});
  if (!r.ok()) return r.status();
  return (*r)->type == REDIS_REPLY_ERROR ? Down((*r)->str) : absl::OkStatus();
}

absl::Status RedisPool::Delete(const std::string& key) {
  auto r = Command({"DEL", key});
  return r.status();
}

absl::Status RedisPool::Ping() {
  auto r = Command({"PING"});
  return r.status();
}

absl::StatusOr<bool> RedisPool::SetIfNewer(const std::string& key, int64_t version, const std::string& value,
                                           const std::string& signature) {
  auto r = Eval(kSetIfNewerLua, &cas_sha_, {key, absl::StrCat(version), value, signature});
  if (!r.ok()) return r.status();
  if ((*r)->type != REDIS_REPLY_INTEGER) return Down("unexpected reply to EVALSHA");
  return (*r)->integer == 1;
}

absl::StatusOr<bool> RedisPool::ReplaceIfUnchanged(const std::string& key, const Versioned& seen,
                                                   const std::optional<Versioned>& replacement) {
  std::vector<std::string> args = {key, seen.raw_version, seen.value, seen.signature};
  if (replacement.has_value()) {
    args.insert(args.end(), {"1", absl::StrCat(replacement->version), replacement->value, replacement->signature});
  } else {
    args.push_back("0");
  }
  auto r = Eval(kReplaceLua, &replace_sha_, args);
  if (!r.ok()) return r.status();
  if ((*r)->type != REDIS_REPLY_INTEGER) return Down("unexpected reply to EVALSHA");
  return (*r)->integer == 1;
}

absl::StatusOr<std::optional<RedisPool::Versioned>> RedisPool::GetVersioned(const std::string& key) {
  auto r = Command({"HMGET", key, "v", "d", "s"}, /*read=*/true);
  if (!r.ok()) return r.status();
  // WRONGTYPE: something else sits at the key; not an entry of ours.
  if ((*r)->type == REDIS_REPLY_ERROR) return Versioned{};
  if ((*r)->type != REDIS_REPLY_ARRAY || (*r)->elements != 3) return Down("unexpected reply to HMGET");
  auto field = [&](size_t i) {
    redisReply* e = (*r)->element[i];
    return e->type == REDIS_REPLY_STRING ? std::string(e->str, e->len) : std::string();
  };
  Versioned out;
  out.raw_version = field(0);
  out.value = field(1);
  out.signature = field(2);
  if ((*r)->element[0]->type != REDIS_REPLY_STRING && (*r)->element[1]->type != REDIS_REPLY_STRING) {
    return std::nullopt;  // no entry
  }
  if (!absl::SimpleAtoi(out.raw_version, &out.version)) out.version = 0;
  return out;
}

absl::StatusOr<std::pair<uint64_t, std::vector<std::string>>> RedisPool::Scan(uint64_t cursor,
                                                                              const std::string& pattern, int count) {
  auto r = Command({"SCAN", absl::StrCat(cursor), "MATCH", pattern, "COUNT", absl::StrCat(count)}, /*read=*/true);
  if (!r.ok()) return r.status();
  if ((*r)->type != REDIS_REPLY_ARRAY || (*r)->elements != 2 || (*r)->element[0]->type != REDIS_REPLY_STRING ||
      (*r)->element[1]->type != REDIS_REPLY_ARRAY) {
    return Down("unexpected reply to SCAN");
  }
  std::pair<uint64_t, std::vector<std::string>> out;
  if (!absl::SimpleAtoi(absl::string_view((*r)->element[0]->str, (*r)->element[0]->len), &out.first)) {
    return Down("unexpected SCAN cursor");
  }
  redisReply* keys = (*r)->element[1];
  for (size_t i = 0; i < keys->elements; ++i) {
    if (keys->element[i]->type == REDIS_REPLY_STRING)
      out.second.emplace_back(keys->element[i]->str, keys->element[i]->len);
  }
  return out;
}

absl::StatusOr<std::string> RedisPool::RunId() {
  auto r = Command({"INFO", "server"});
  if (!r.ok()) return r.status();
  if ((*r)->type != REDIS_REPLY_STRING) return Down("INFO failed");
  absl::string_view info((*r)->str, (*r)->len);
  auto pos = info.find("run_id:");
  if (pos == absl::string_view::npos) return Down("INFO has no run_id");
  auto end = info.find_first_of("\r\n", pos);
  return std::string(info.substr(pos + 7, end - pos - 7));
}

}  // namespace care
