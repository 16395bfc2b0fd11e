#pragma once

#include <hiredis/hiredis.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace care {

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  // AUTH on every (re)connect when `password` is set: `AUTH user password`
  // for a Redis 6+ ACL user, `AUTH password` (requirepass) when `user` is "".
  std::string user;
  std::string password;
  int pool_size = 4;  // sized to the work pool's threads by the server
  absl::Duration connect_timeout = absl::Milliseconds(200);
  absl::Duration command_timeout = absl::Milliseconds(200);
  // After a failure, calls fail fast for this long instead of each waiting
  // for a connect timeout against a Redis that is down.
  absl::Duration retry_after = absl::Milliseconds(500);
  // Redis Sentinel: when `sentinels` is not empty, host and port are not
  // used; the master of `master_name` is asked of the sentinels (in turn,
  // the last one that answered first), again every `master_check_interval`
  // and at once after a failure or a READONLY reply, and connections to a
  // previous master are dropped. A server that is not a master
  // (INFO replication) is never used, whatever a sentinel says.
  std::vector<std::pair<std::string, int>> sentinels;
  std::string master_name;
  absl::Duration master_check_interval = absl::Seconds(1);
  // After a failover the new master may lack the last writes (replication
  // is asynchronous, and writes made while no master was reachable failed):
  // for this long reads (Get, GetVersioned, Scan) answer UNAVAILABLE, so
  // readers use their fallback, while writes go through and the writer's
  // repair job re-writes what was missed. Longer than that job's interval.
  absl::Duration failover_read_hold = absl::Seconds(3);
};

// A small pool of blocking hiredis connections. Redis is a cache here: every
// failure is UNAVAILABLE (reason REDIS_UNAVAILABLE) and callers fall back to
// their database. Broken connections are re-made on a later call. A refused
// AUTH (wrong password) or a server asking for one (NOAUTH) counts as Redis
// being down: the service keeps answering from its database. With
// sentinels, a failover is the same: calls fail (UNAVAILABLE) until the new
// master is found, then go to it.
class RedisPool final {
 public:
  explicit RedisPool(RedisOptions options);
  ~RedisPool();

  absl::StatusOr<std::optional<std::string>> Get(const std::string& key);
  absl::Status Set(const std::string& key, const std::string& value);
  absl::Status Delete(const std::string& key);
  absl::Status Ping();

  // Writes `value` (with its `signature`) at `key` only if `version` is
  // newer than the version stored there (atomically, in a Lua script), so a
  // slow writer can never put an older value back. Returns whether it was
  // written.
  absl::StatusOr<bool> SetIfNewer(const std::string& key, int64_t version, const std::string& value,
                                  const std::string& signature = "");
  // An entry written by SetIfNewer as stored: the raw fields ("" when
  // absent), so a caller can check them and replace exactly what it saw.
  struct Versioned {
    int64_t version = 0;
    std::string value;
    std::string signature;
    std::string raw_version;  // the stored "v" field, unparsed
  };
  absl::StatusOr<std::optional<Versioned>> GetVersioned(const std::string& key);
  // Replaces the entry at `key` only if it still holds exactly `seen` (its
  // raw version, value and signature; std::nullopt = no usable entry:
  // absent fields compare as ""), writing `replacement` or, when that is
  // std::nullopt, deleting the key. For repairing an entry that is ahead of
  // the database without undoing a write made since it was read. Returns
  // whether it replaced.
  absl::StatusOr<bool> ReplaceIfUnchanged(const std::string& key, const Versioned& seen,
                                          const std::optional<Versioned>& replacement);
  // One SCAN step over keys matching `pattern`: the keys and the cursor to
  // pass next (0 when the walk is complete).
  absl::StatusOr<std::pair<uint64_t, std::vector<std::string>>> Scan(uint64_t cursor, const std::string& pattern,
                                                                     int count);

  // The server's run id: it changes when Redis restarts (and so was emptied).
  absl::StatusOr<std::string> RunId();

  bool healthy() const { return healthy_.load(); }

 private:
  class Lease;
  using ReplyPtr = std::unique_ptr<redisReply, void (*)(void*)>;
  // `read`: refused while reads are held after a failover.
  absl::StatusOr<ReplyPtr> Command(const std::vector<std::string>& args, bool read = false);
  // EVALSHA of a script cached in `*sha` (loaded again after NOSCRIPT).
  absl::StatusOr<ReplyPtr> Eval(const char* script, std::string* sha, const std::vector<std::string>& keys_and_args);
  // Sends AUTH on a fresh connection; false (logged) when refused.
  bool Authenticate(redisContext* c);
  // A fresh connection to the current master, authenticated (and checked to
  // be a master with sentinels); null on failure.
  redisContext* Connect(const std::string& host, int port);
  // With sentinels: asks them for the master when due, switching to it.
  void RefreshMaster(std::unique_lock<std::mutex>& lock);
  // The master's address from the first sentinel that answers.
  std::optional<std::pair<std::string, int>> AskSentinels();
  redisContext* Acquire();
  void Release(redisContext* c, bool broken);
  // Whether reads are held after a failover (failover_read_hold).
  bool ReadsHeld();
  // Closes `c` (may be null) under mu_.
  void FreeLocked(redisContext* c);

  RedisOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<redisContext*> idle_;
  int outstanding_ = 0;
  absl::Time down_until_ = absl::InfinitePast();
  std::atomic<bool> healthy_{false};
  std::string cas_sha_, replace_sha_;
  // Sentinel mode: the master connections go to, and the generation of it
  // each open connection was made for (a connection to an old master is
  // closed instead of reused).
  std::string master_host_;
  int master_port_ = 0;
  uint64_t generation_ = 0;
  std::map<redisContext*, uint64_t> born_;
  absl::Time next_master_check_ = absl::InfinitePast();
  absl::Time reads_held_until_ = absl::InfinitePast();
  bool checking_master_ = false;
  size_t first_sentinel_ = 0;  // only the thread holding checking_master_ uses it
  std::atomic<bool> auth_refused_logged_{false};
  std::atomic<bool> sentinels_logged_{false}, not_master_logged_{false};
};

}  // namespace care
