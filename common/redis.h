#pragma once

#include <hiredis/hiredis.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace care {

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  int pool_size = 4;  // sized to the work pool's threads by the server
  absl::Duration connect_timeout = absl::Milliseconds(200);
  absl::Duration command_timeout = absl::Milliseconds(200);
  // After a failure, calls fail fast for this long instead of each waiting
  // for a connect timeout against a Redis that is down.
  absl::Duration retry_after = absl::Milliseconds(500);
};

// A small pool of blocking hiredis connections. Redis is a cache here: every
// failure is UNAVAILABLE (reason REDIS_UNAVAILABLE) and callers fall back to
// their database. Broken connections are re-made on a later call.
class RedisPool final {
 public:
  explicit RedisPool(RedisOptions options);
  ~RedisPool();

  absl::StatusOr<std::optional<std::string>> Get(const std::string& key);
  absl::Status Set(const std::string& key, const std::string& value);
  absl::Status Delete(const std::string& key);
  absl::Status Ping();

  // Writes `value` at `key` only if `version` is newer than the version
  // stored there (atomically, in a Lua script), so a slow writer can never
  // put an older value back. Returns whether it was written.
  absl::StatusOr<bool> SetIfNewer(const std::string& key, int64_t version, const std::string& value);
  // Reads a value written by SetIfNewer, with its version.
  struct Versioned {
    int64_t version;
    std::string value;
  };
  absl::StatusOr<std::optional<Versioned>> GetVersioned(const std::string& key);

  // The server's run id: it changes when Redis restarts (and so was emptied).
  absl::StatusOr<std::string> RunId();

  bool healthy() const { return healthy_.load(); }

 private:
  class Lease;
  using ReplyPtr = std::unique_ptr<redisReply, void (*)(void*)>;
  absl::StatusOr<ReplyPtr> Command(const std::vector<std::string>& args);
  redisContext* Acquire();
  void Release(redisContext* c, bool broken);

  RedisOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<redisContext*> idle_;
  int outstanding_ = 0;
  absl::Time down_until_ = absl::InfinitePast();
  std::atomic<bool> healthy_{false};
  std::string cas_sha_;
};

}  // namespace care
