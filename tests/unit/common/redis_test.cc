// common/redis.h against a private redis-server: reads and writes, the
// versioned compare-and-set, and behaviour while Redis is down.
#include "common/redis.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "tests/harness/harness.h"

namespace care {
namespace {

class RedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.ok()) << server_.status();
    RedisOptions options;
    options.port = server_.port();
    options.password = server_.password();
    options.pool_size = 4;
    pool_ = std::make_unique<RedisPool>(options);
  }

  // Retries `fn` until it succeeds or `timeout` passes.
  template <typename Fn>
  bool Eventually(Fn fn, absl::Duration timeout = absl::Seconds(5)) {
    absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (fn()) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }

  testing::RedisServer server_;
  std::unique_ptr<RedisPool> pool_;
};

TEST_F(RedisTest, GetSetDelete) {
  auto missing = pool_->Get("k");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_FALSE(missing->has_value());
  ASSERT_TRUE(pool_->Set("k", std::string("v\0binary", 8)).ok());
  auto got = pool_->Get("k");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, std::string("v\0binary", 8));
  ASSERT_TRUE(pool_->Delete("k").ok());
  EXPECT_FALSE(pool_->Get("k")->has_value());
  EXPECT_TRUE(pool_->Ping().ok());
  EXPECT_TRUE(pool_->healthy());
}

TEST_F(RedisTest, SetIfNewerRefusesOlderAndEqualVersions) {
  auto w = pool_->SetIfNewer("tier:m1", 5, "GOLD");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_TRUE(*w);
  w = pool_->SetIfNewer("tier:m1", 4, "SILVER");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_FALSE(*w) << "an older version overwrote a newer one";
  w = pool_->SetIfNewer("tier:m1", 5, "BRONZE");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_FALSE(*w) << "the same version was written twice";
  auto v = pool_->GetVersioned("tier:m1");
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_TRUE(v->has_value());
  EXPECT_EQ((*v)->version, 5);
  EXPECT_EQ((*v)->value, "GOLD");

  w = pool_->SetIfNewer("tier:m1", 6, "PLATINUM");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_TRUE(*w);
  v = pool_->GetVersioned("tier:m1");
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ((*v)->version, 6);
  EXPECT_EQ((*v)->value, "PLATINUM");

  // Versions compare as numbers, not strings ("10" < "9" as text).
  ASSERT_TRUE(pool_->SetIfNewer("tier:m2", 9, "a").ok());
  w = pool_->SetIfNewer("tier:m2", 10, "b");
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE(*w);
  EXPECT_EQ((*pool_->GetVersioned("tier:m2"))->version, 10);

  auto none = pool_->GetVersioned("tier:absent");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
}

// Writers racing with versions in random order: the newest always wins.
TEST_F(RedisTest, SetIfNewerUnderConcurrentWriters) {
  constexpr int kVersions = 400;
  std::vector<int> versions(kVersions);
  for (int i = 0; i < kVersions; ++i) versions[i] = i + 1;
  std::shuffle(versions.begin(), versions.end(), std::mt19937(42));
  std::atomic<int> next{0}, written{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i; (i = next++) < kVersions;) {
        auto w = pool_->SetIfNewer("tier:race", versions[i], absl::StrCat("v", versions[i]));
        if (!w.ok())
          errors++;
        else if (*w)
          written++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GE(written.load(), 1);
  auto v = pool_->GetVersioned("tier:race");
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ((*v)->version, kVersions);
  EXPECT_EQ((*v)->value, absl::StrCat("v", kVersions));
}

TEST_F(RedisTest, CallsFailFastWhileRedisIsDown) {
  ASSERT_TRUE(pool_->Set("k", "v").ok());
  server_.Kill();
  // Several rounds: the broken pooled connections, the fail-fast window,
  // and reconnect attempts after it must all answer quickly.
  absl::Time end = absl::Now() + absl::Milliseconds(1500);
  int calls = 0;
  while (absl::Now() < end) {
    absl::Time start = absl::Now();
    auto got = pool_->Get("k");
    absl::Duration took = absl::Now() - start;
    ++calls;
    ASSERT_FALSE(got.ok()) << "a read succeeded with Redis down";
    EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
    EXPECT_EQ(ErrorReason(got.status()), "REDIS_UNAVAILABLE") << got.status();
    EXPECT_LT(took, absl::Seconds(1)) << "call " << calls << " took " << took;
    auto w = pool_->SetIfNewer("tier:m", 1, "x");
    EXPECT_EQ(w.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(ErrorReason(w.status()), "REDIS_UNAVAILABLE");
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_FALSE(pool_->healthy());
  EXPECT_EQ(ErrorReason(pool_->Ping()), "REDIS_UNAVAILABLE");
  EXPECT_EQ(ErrorReason(pool_->Set("k", "v")), "REDIS_UNAVAILABLE");
  EXPECT_EQ(ErrorReason(pool_->Delete("k")), "REDIS_UNAVAILABLE");
  EXPECT_EQ(ErrorReason(pool_->GetVersioned("k").status()), "REDIS_UNAVAILABLE");
}

// Concurrent callers while Redis is down are answered quickly too: none waits
// for a connect timeout behind another.
TEST_F(RedisTest, ConcurrentCallersFailFastWhileDown) {
  ASSERT_TRUE(pool_->Ping().ok());
  server_.Kill();
  std::atomic<int> slow{0}, succeeded{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        absl::Time start = absl::Now();
        if (pool_->Get("k").ok()) succeeded++;
        if (absl::Now() - start > absl::Seconds(1)) slow++;
        absl::SleepFor(absl::Milliseconds(30));
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(succeeded.load(), 0);
  EXPECT_EQ(slow.load(), 0);
}

// Issue 16, defect 7: a wrong password (or none, against requirepass) is
// Redis down, never an error of the caller's; an ACL user authenticates
// with its own password.
TEST_F(RedisTest, AWrongOrMissingPasswordIsRedisDown) {
  for (const std::string& password : {std::string(), std::string("wrong")}) {
    RedisOptions options;
    options.port = server_.port();
    options.password = password;
    RedisPool pool(options);
    EXPECT_EQ(ErrorReason(pool.Get("k").status()), "REDIS_UNAVAILABLE") << "password \"" << password << "\"";
    EXPECT_EQ(ErrorReason(pool.GetVersioned("k").status()), "REDIS_UNAVAILABLE");
    EXPECT_EQ(ErrorReason(pool.SetIfNewer("k", 1, "x").status()), "REDIS_UNAVAILABLE");
    EXPECT_FALSE(pool.healthy());
  }
  // ACL SETUSER through the authenticated pool's connection: a raw command.
  RedisOptions admin;
  admin.port = server_.port();
  admin.password = server_.password();
  RedisPool admin_pool(admin);
  ASSERT_TRUE(admin_pool.SetIfNewer("care:tier:v1:m", 1, "x", "sig").ok());
  timeval tv{2, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", server_.port(), tv);
  ASSERT_TRUE(c != nullptr && c->err == 0);
  freeReplyObject(redisCommand(c, "AUTH %s", server_.password().c_str()));
  auto* set = static_cast<redisReply*>(redisCommand(c, "ACL SETUSER care on >care-password ~care:* +@all"));
  ASSERT_NE(set, nullptr);
  EXPECT_EQ(set->type, REDIS_REPLY_STATUS);
  freeReplyObject(set);
  redisFree(c);
  RedisOptions user;
  user.port = server_.port();
  user.user = "care";
  user.password = "care-password";
  RedisPool user_pool(user);
  auto got = user_pool.GetVersioned("care:tier:v1:m");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->signature, "sig");
  user.password = "wrong";
  RedisPool wrong_user(user);
  EXPECT_EQ(ErrorReason(wrong_user.Get("care:tier:v1:m").status()), "REDIS_UNAVAILABLE");
}

// The audit's replace: only what was read is replaced, so a write made in
// between is never undone; a non-hash value is replaced too.
TEST_F(RedisTest, ReplaceIfUnchangedReplacesOnlyWhatWasSeen) {
  ASSERT_TRUE(*pool_->SetIfNewer("t", 9, "forged", ""));
  auto seen = pool_->GetVersioned("t");
  ASSERT_TRUE(seen.ok() && seen->has_value());
  RedisPool::Versioned fresh;
  fresh.version = 3;
  fresh.value = "truth";
  fresh.signature = "k.sig";
  ASSERT_TRUE(*pool_->SetIfNewer("t", 10, "newer", "s10"));  // a write after the read
  auto replaced = pool_->ReplaceIfUnchanged("t", **seen, fresh);
  ASSERT_TRUE(replaced.ok()) << replaced.status();
  EXPECT_FALSE(*replaced);
  EXPECT_EQ((*pool_->GetVersioned("t"))->value, "newer");
  seen = pool_->GetVersioned("t");
  replaced = pool_->ReplaceIfUnchanged("t", **seen, fresh);
  ASSERT_TRUE(replaced.ok() && *replaced);
  auto now = pool_->GetVersioned("t");
  EXPECT_EQ((*now)->version, 3);
  EXPECT_EQ((*now)->value, "truth");
  EXPECT_EQ((*now)->signature, "k.sig");
  // Deleting; and a plain string at the key reads as an empty entry that
  // both the replace and the compare-and-set overwrite.
  replaced = pool_->ReplaceIfUnchanged("t", **now, std::nullopt);
  ASSERT_TRUE(replaced.ok() && *replaced);
  EXPECT_FALSE(pool_->GetVersioned("t")->has_value());
  ASSERT_TRUE(pool_->Set("t", "gold").ok());
  auto odd = pool_->GetVersioned("t");
  ASSERT_TRUE(odd.ok() && odd->has_value());
  EXPECT_TRUE((*odd)->value.empty());
  ASSERT_TRUE(*pool_->SetIfNewer("t", 1, "v1", "s1"));
  EXPECT_EQ((*pool_->GetVersioned("t"))->value, "v1");
}

TEST_F(RedisTest, RecoversAfterRestart) {
  ASSERT_TRUE(pool_->SetIfNewer("tier:m", 3, "GOLD").ok());  // caches the script's sha
  auto run_id = pool_->RunId();
  ASSERT_TRUE(run_id.ok()) << run_id.status();
  EXPECT_FALSE(run_id->empty());
  server_.Kill();
  EXPECT_FALSE(pool_->Get("k").ok());
  ASSERT_TRUE(server_.Restart().ok()) << server_.status();
  // Within about the retry window calls work again, with no action by us.
  EXPECT_TRUE(Eventually([&] { return pool_->Ping().ok(); }, absl::Seconds(3)));
  EXPECT_TRUE(pool_->healthy());
  auto again = pool_->RunId();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_NE(*again, *run_id) << "run id must change when Redis restarts";
  // The restarted Redis lost the data and the script; the CAS reloads it.
  auto v = pool_->GetVersioned("tier:m");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_FALSE(v->has_value());
  auto w = pool_->SetIfNewer("tier:m", 1, "SILVER");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_TRUE(*w);
  w = pool_->SetIfNewer("tier:m", 1, "BRONZE");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_FALSE(*w);
  ASSERT_TRUE(pool_->Set("k", "v2").ok());
  EXPECT_EQ(**pool_->Get("k"), "v2");
}

TEST_F(RedisTest, StartsWhileRedisIsDown) {
  RedisOptions options;
  options.port = testing::FreePort();  // nothing listens there
  RedisPool pool(options);
  absl::Time start = absl::Now();
  auto got = pool.Get("k");
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(got.status()), "REDIS_UNAVAILABLE");
  EXPECT_FALSE(pool.healthy());
}

}  // namespace
}  // namespace care
