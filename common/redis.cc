#include "common/redis.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/log.h"

namespace care {
namespace {

// KEYS[1] = key; ARGV = version, value. A hash holds {v: version, d: data}.
constexpr char kSetIfNewerLua[] = R"lua(
local cur = redis.call('HGET', KEYS[1], 'v')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
return 1
)lua";


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
  if (!idle_.empty()) {
    redisContext* c = idle_.back();
    idle_.pop_back();
    return c;
  }
  if (absl::Now() < down_until_) {
    --outstanding_;
    cv_.notify_one();
    return nullptr;
  }
  lock.unlock();
  timeval tv = absl::ToTimeval(options_.connect_timeout);
  redisContext* c = redisConnectWithTimeout(options_.host.c_str(), options_.port, tv);
  if (c == nullptr || c->err) {
    if (c) redisFree(c);
    Release(nullptr, true);
    return nullptr;
  }
  timeval cmd = absl::ToTimeval(options_.command_timeout);
  redisSetTimeout(c, cmd);
  return c;
}

void RedisPool::Release(redisContext* c, bool broken) {
  {
    std::lock_guard lock(mu_);
    --outstanding_;
    if (broken) {
      if (c) redisFree(c);
      if (healthy_.exchange(false)) LogWarn("redis connection lost; serving without the cache");
      down_until_ = absl::Now() + options_.retry_after;
      // Drop idle connections too: after a failure they are likely dead.
      for (auto* i : idle_) redisFree(i);
      idle_.clear();
    } else {
      idle_.push_back(c);
      if (!healthy_.exchange(true)) LogInfo("redis connected");
    }
  }
  cv_.notify_one();
}

absl::StatusOr<RedisPool::ReplyPtr> RedisPool::Command(const std::vector<std::string>& args) {
  redisContext* c = Acquire();
  if (c == nullptr) return Down("cannot connect");
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* raw = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()));
  if (raw == nullptr) {
    Release(c, true);
    return Down("command failed");
  }
  ReplyPtr reply(raw, freeReplyObject);
  Release(c, false);
  return reply;
}

absl::StatusOr<std::optional<std::string>> RedisPool::Get(const std::string& key) {
  auto r = Command({"GET", key});
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

absl::StatusOr<bool> RedisPool::SetIfNewer(const std::string& key, int64_t version,
                                           const std::string& value) {
  std::string sha;
  {
    std::lock_guard lock(mu_);
    sha = cas_sha_;
  }
  if (!sha.empty()) {
    auto r = Command({"EVALSHA", sha, "1", key, absl::StrCat(version), value});
    if (!r.ok()) return r.status();
    if ((*r)->type == REDIS_REPLY_INTEGER) return (*r)->integer == 1;
    // NOSCRIPT after a Redis restart: load it again below.
  }
  auto load = Command({"SCRIPT", "LOAD", kSetIfNewerLua});
  if (!load.ok()) return load.status();
  if ((*load)->type != REDIS_REPLY_STRING) return Down("SCRIPT LOAD failed");
  {
    std::lock_guard lock(mu_);
    cas_sha_.assign((*load)->str, (*load)->len);
    sha = cas_sha_;
  }
  auto r = Command({"EVALSHA", sha, "1", key, absl::StrCat(version), value});
  if (!r.ok()) return r.status();
  if ((*r)->type != REDIS_REPLY_INTEGER) return Down("unexpected reply to EVALSHA");
  return (*r)->integer == 1;
}

absl::StatusOr<std::optional<RedisPool::Versioned>> RedisPool::GetVersioned(const std::string& key) {
  auto r = Command({"HMGET", key, "v", "d"});
  if (!r.ok()) return r.status();
  if ((*r)->type != REDIS_REPLY_ARRAY || (*r)->elements != 2) return Down("unexpected reply to HMGET");
  redisReply* v = (*r)->element[0];
  redisReply* d = (*r)->element[1];
  if (v->type != REDIS_REPLY_STRING || d->type != REDIS_REPLY_STRING) return std::nullopt;
  Versioned out;
  if (!absl::SimpleAtoi(absl::string_view(v->str, v->len), &out.version)) return std::nullopt;
  out.value.assign(d->str, d->len);
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
