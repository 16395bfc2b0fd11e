// common/redis.h with Redis Sentinel: the pool asks the sentinels for the
// master, follows a real failover (a primary, a replica and three
// sentinels), never uses a server that is not a master whatever a sentinel
// says, and leaves a demoted master on its READONLY reply.
#include "tests/harness/redis_sentinel.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <atomic>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "common/redis.h"
#include "tests/harness/receivers.h"

namespace care {
namespace {

using testing::RedisSentinelGroup;

template <typename Fn>
bool Eventually(Fn fn, absl::Duration timeout = absl::Seconds(10)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (fn()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return fn();
}

RedisOptions SentinelOptions(const RedisSentinelGroup& group, std::vector<std::pair<std::string, int>> sentinels) {
  RedisOptions options;
  options.sentinels = std::move(sentinels);
  options.master_name = RedisSentinelGroup::master_name();
  options.password = group.password();
  options.pool_size = 2;
  options.retry_after = absl::Milliseconds(50);
  return options;
}

// Reads `key` on data server `server` directly ("" when absent).
std::string ValueOn(const RedisSentinelGroup& group, int server, const std::string& key) {
  RedisOptions options;
  options.port = group.port(server);
  options.password = group.password();
  options.pool_size = 1;
  RedisPool direct(options);
  auto got = direct.Get(key);
  return got.ok() && got->has_value() ? **got : "";
}

// A stand-in sentinel that names whichever data server the test says, as a
// sentinel behind a failover (or lying) would.
class FakeSentinel {
 public:
  explicit FakeSentinel(std::atomic<int>* master_port)
      : server_([master_port](int fd) {
          std::string request;
          testing::ReadUntil(fd, request, [](const std::string& r) {
            return r.find("get-master-addr-by-name\r\n$4\r\ncare\r\n") != std::string::npos;
          });
          std::string port = absl::StrCat(master_port->load());
          testing::WriteAll(fd, absl::StrCat("*2\r\n$9\r\n127.0.0.1\r\n$", port.size(), "\r\n", port, "\r\n"));
        }) {}
  std::vector<std::pair<std::string, int>> address() const { return {{"127.0.0.1", server_.port()}}; }

 private:
  testing::LoopbackServer server_;
};

TEST(RedisSentinelTest, FollowsTheMasterThroughAFailover) {
  RedisSentinelGroup group(1, 3, absl::Seconds(1));
  ASSERT_TRUE(group.ok()) << group.status();
  std::vector<std::pair<std::string, int>> sentinels;
  for (absl::string_view s : absl::StrSplit(group.sentinels(), ',')) {
    auto colon = s.rfind(':');
    int port = 0;
    ASSERT_TRUE(absl::SimpleAtoi(s.substr(colon + 1), &port));
    sentinels.emplace_back(std::string(s.substr(0, colon)), port);
  }
  // The first sentinel is dead from the start: the others answer.
  group.KillSentinel(0);
  RedisOptions options = SentinelOptions(group, sentinels);
  options.failover_read_hold = absl::Seconds(2);
  RedisPool pool(options);
  auto wrote = pool.SetIfNewer("k", 1, "one");
  ASSERT_TRUE(wrote.ok()) << wrote.status();
  ASSERT_TRUE(*wrote);
  ASSERT_TRUE(group.WaitReplicated(0, 1));

  group.KillServer(0);
  absl::Status down = pool.SetIfNewer("k", 2, "two").status();
  EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(down), "REDIS_UNAVAILABLE");
  ASSERT_TRUE(group.WaitForFailover(0).ok());
  // Writes reach the promoted replica once the sentinels name it.
  ASSERT_TRUE(Eventually([&] {
    auto w = pool.SetIfNewer("k", 2, "two");
    return w.ok() && *w;
  }));
  // Reads are held for a while after the switch (the new master may be
  // behind), then answer from it.
  absl::Status held = pool.GetVersioned("k").status();
  EXPECT_EQ(held.code(), absl::StatusCode::kUnavailable) << held;
  ASSERT_TRUE(Eventually([&] {
    auto got = pool.GetVersioned("k");
    return got.ok() && got->has_value() && (*got)->version == 2 && (*got)->value == "two";
  }));
  EXPECT_TRUE(pool.healthy());
}

TEST(RedisSentinelTest, NeverUsesAServerThatIsNotAMaster) {
  RedisSentinelGroup group(1, 0);
  ASSERT_TRUE(group.ok()) << group.status();
  std::atomic<int> named{group.port(1)};  // the replica
  FakeSentinel sentinel(&named);
  RedisPool pool(SentinelOptions(group, sentinel.address()));
  absl::Status refused = pool.Set("k", "v");
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  auto read = pool.Get("k");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(pool.healthy());

  named = group.port(0);
  ASSERT_TRUE(Eventually([&] { return pool.Set("k", "v").ok(); }));
  EXPECT_EQ(ValueOn(group, 0, "k"), "v");
}

TEST(RedisSentinelTest, LeavesADemotedMasterOnItsReadonlyReply) {
  RedisSentinelGroup group(1, 0);
  ASSERT_TRUE(group.ok()) << group.status();
  std::atomic<int> named{group.port(0)};
  FakeSentinel sentinel(&named);
  RedisOptions options = SentinelOptions(group, sentinel.address());
  options.master_check_interval = absl::Hours(1);  // only an error makes it ask again
  options.failover_read_hold = absl::ZeroDuration();
  RedisPool pool(options);
  ASSERT_TRUE(pool.Set("k", "before").ok());

  // A failover behind the pool's back: the replica becomes the master and
  // the old master its replica.
  auto run = [&](int server, const std::vector<std::string>& args) {
    timeval tv{2, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", group.port(server), tv);
    ASSERT_TRUE(c != nullptr && c->err == 0);
    freeReplyObject(redisCommand(c, "AUTH %s", group.password().c_str()));
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()));
    ASSERT_NE(r, nullptr);
    freeReplyObject(r);
    redisFree(c);
  };
  run(1, {"REPLICAOF", "NO", "ONE"});
  run(0, {"REPLICAOF", "127.0.0.1", absl::StrCat(group.port(1))});
  named = group.port(1);

  // The first write after it may fail (READONLY, or the connection the
  // demotion closed); the pool then asks again and writes to the new master.
  ASSERT_TRUE(Eventually([&] { return pool.Set("k", "after").ok(); }));
  EXPECT_EQ(ValueOn(group, 1, "k"), "after");
}

}  // namespace
}  // namespace care
