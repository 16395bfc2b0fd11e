// The harness itself, and the shared server runtime through it: care_test_server
// is ServerRunner with only the Diagnostics (and, under --fake_clock,
// ClockControl) services, started as a real process.
#include "tests/harness/harness.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "care/common/v1/runtime.grpc.pb.h"
#include "common/redis.h"
#include "google/protobuf/util/time_util.h"

namespace care::testing {
namespace {

using care::common::v1::ClockControl;
using care::common::v1::Diagnostics;
using care::common::v1::GetTimeRequest;
using care::common::v1::GetTimeResponse;
using care::common::v1::PingRequest;
using care::common::v1::PingResponse;
using care::common::v1::SetTimeRequest;
using google::protobuf::util::TimeUtil;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kHealthName[] = "care.common.v1.Diagnostics";

std::unique_ptr<ServiceProcess> TestServer(std::vector<std::string> extra_args = {}) {
  return std::make_unique<ServiceProcess>(CARE_TEST_SERVER_BIN, kHealthName, std::move(extra_args));
}

grpc::Status Ping(ServiceProcess& server, const std::string& token, PingResponse* response,
                  const std::string& payload = "hello") {
  PingRequest request;
  request.set_payload(payload);
  auto ctx = Ctx(token);
  return Diagnostics::NewStub(server.channel())->Ping(ctx.get(), request, response);
}

// --- small pieces -------------------------------------------------------------

TEST(FreePortTest, PortCanBeBound) {
  int port = FreePort();
  ASSERT_GT(port, 0);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);
}

TEST(TempDirTest, CreatedAndRemovedWithItsContents) {
  std::string path;
  {
    TempDir dir;
    path = dir.path();
    EXPECT_TRUE(std::filesystem::is_directory(path));
    std::filesystem::create_directories(path + "/a/b");
    std::ofstream(path + "/a/b/file") << "x";
    TempDir other;
    EXPECT_NE(other.path(), path);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(ChildProcessTest, ReportsExitCodesAndSignals) {
  TempDir dir;
  ChildProcess p;
  ASSERT_TRUE(p.Spawn({"sh", "-c", "echo out; echo err >&2; exit 3"}, dir.path() + "/log").ok());
  while (p.running()) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(p.exit_status(), 3);
  std::string log = ReadFile(dir.path() + "/log");
  EXPECT_THAT(log, HasSubstr("out"));
  EXPECT_THAT(log, HasSubstr("err"));

  ASSERT_TRUE(p.Spawn({"sleep", "60"}, dir.path() + "/log").ok());
  EXPECT_TRUE(p.running());
  EXPECT_EQ(p.Signal(SIGTERM, absl::Seconds(5)), -SIGTERM);
  EXPECT_FALSE(p.running());

  EXPECT_EQ(p.Spawn({"/no/such/binary"}, dir.path() + "/log").code(), absl::StatusCode::kNotFound);
}

TEST(ChildProcessTest, SignalEscalatesToKill) {
  TempDir dir;
  ChildProcess p;
  ASSERT_TRUE(p.Spawn({"sh", "-c", "trap '' TERM; sleep 60"}, dir.path() + "/log").ok());
  absl::SleepFor(absl::Milliseconds(100));  // let the shell install its trap
  EXPECT_EQ(p.Signal(SIGTERM, absl::Milliseconds(300)), -SIGKILL);
}

// The child gets SIGKILL when the process that started it dies.
TEST(ChildProcessTest, ChildDiesWithItsParent) {
  TempDir dir;
  std::string pid_file = dir.path() + "/grandchild.pid";
  pid_t middle = ::fork();
  ASSERT_GE(middle, 0);
  if (middle == 0) {
    ChildProcess p;
    if (!p.Spawn({"sleep", "60"}, dir.path() + "/log").ok()) ::_exit(1);
    std::ofstream(pid_file) << p.pid();
    ::sleep(60);
    ::_exit(0);
  }
  pid_t grandchild = 0;
  for (int i = 0; i < 500 && grandchild == 0; ++i) {
    std::ifstream(pid_file) >> grandchild;
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_GT(grandchild, 0);
  ::kill(middle, SIGKILL);
  ::waitpid(middle, nullptr, 0);
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    // The orphan is reaped by init (or a subreaper); once gone, kill fails.
    gone = ::kill(grandchild, 0) != 0;
    if (!gone) {
      std::string stat = ReadFile(absl::StrCat("/proc/", grandchild, "/stat"));
      gone = stat.find(") Z") != std::string::npos;  // a zombie is dead too
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(gone) << "the child outlived its parent";
}

TEST(RedisServerTest, StartsKillsAndRestartsOnTheSamePort) {
  RedisServer redis;
  ASSERT_TRUE(redis.ok()) << redis.status();
  RedisOptions options;
  options.port = redis.port();
  options.password = redis.password();
  RedisPool pool(options);
  ASSERT_TRUE(pool.Set("k", "v").ok());
  int port = redis.port();
  redis.Kill();
  EXPECT_FALSE(pool.Ping().ok());
  ASSERT_TRUE(redis.Restart().ok()) << redis.status();
  EXPECT_EQ(redis.port(), port);
  absl::Time deadline = absl::Now() + absl::Seconds(3);
  while (!pool.Ping().ok() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  ASSERT_TRUE(pool.Ping().ok());
  auto got = pool.Get("k");
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value()) << "a restarted private Redis starts empty (no persistence)";
}

TEST(StatusHelpersTest, DecodeDetails) {
  grpc::Status plain(grpc::StatusCode::UNAVAILABLE, "down");
  EXPECT_EQ(Reason(plain), "");
  EXPECT_THAT(BadFields(plain), IsEmpty());
  EXPECT_EQ(Describe(plain), "UNAVAILABLE: down []");
}

TEST(CtxTest, SetsTheDeadline) {
  auto ctx = Ctx("", absl::Seconds(3));
  auto left = ctx->deadline() - std::chrono::system_clock::now();
  EXPECT_GT(left, std::chrono::seconds(2));
  EXPECT_LE(left, std::chrono::seconds(3));
}

// --- ServiceProcess against care_test_server --------------------------------

TEST(ServiceProcessTest, StartsAndServes) {
  auto server = TestServer();
  ASSERT_TRUE(server->Start().ok()) << server->log();
  EXPECT_GT(server->port(), 0);
  EXPECT_TRUE(server->running());
  EXPECT_EQ(server->HealthStatus(kHealthName), "SERVING");
  EXPECT_EQ(server->HealthStatus(""), "SERVING");
  EXPECT_EQ(server->HealthStatus("no.such.Service"), "NOT_FOUND");
  // Its database lives in the test's data folder.
  EXPECT_TRUE(std::filesystem::exists(server->data_dir() + "/testsrv.db"));
  // Structured log lines went to the log file.
  EXPECT_THAT(server->log(), HasSubstr("\"msg\":\"serving\""));

  PingResponse response;
  grpc::Status s = Ping(*server, server->tokens().agent, &response, "echo me");
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(response.payload(), "echo me");
  EXPECT_LT(absl::AbsDuration(absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(response.server_time())) -
                              absl::Now()),
            absl::Seconds(5));
}

TEST(ServiceProcessTest, ListsServicesThroughReflection) {
  auto server = TestServer({"--fake_clock"});
  ASSERT_TRUE(server->Start().ok()) << server->log();
  auto services = ListServices(server->channel());
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_THAT(*services, Contains("care.common.v1.Diagnostics"));
  EXPECT_THAT(*services, Contains("care.common.v1.ClockControl"));
  EXPECT_THAT(*services, Contains("grpc.health.v1.Health"));
}

TEST(ServiceProcessTest, CallsWithoutAValidTokenAreUnauthenticated) {
  auto server = TestServer();
  ASSERT_TRUE(server->Start().ok()) << server->log();
  PingResponse response;
  grpc::Status none = Ping(*server, "", &response);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED) << Describe(none);
  EXPECT_EQ(Reason(none), "MISSING_TOKEN");
  grpc::Status wrong = Ping(*server, "not-a-known-token-at-all", &response);
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED) << Describe(wrong);
  EXPECT_EQ(Reason(wrong), "INVALID_TOKEN");
  for (const std::string& token :
       {server->tokens().admin, server->tokens().service, server->tokens().agent, server->tokens().supervisor}) {
    grpc::Status ok = Ping(*server, token, &response);
    EXPECT_TRUE(ok.ok()) << Describe(ok);
  }
}

TEST(ServiceProcessTest, FakeClockIsAdminOnlyAndValidated) {
  auto server = TestServer({"--fake_clock"});
  ASSERT_TRUE(server->Start().ok()) << server->log();
  auto clock = ClockControl::NewStub(server->channel());
  const Tokens& tokens = server->tokens();

  GetTimeResponse before;
  {
    auto ctx = Ctx(tokens.admin);
    grpc::Status s = clock->GetTime(ctx.get(), GetTimeRequest(), &before);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }
  SetTimeRequest advance;
  *advance.mutable_advance() = TimeUtil::SecondsToDuration(72 * 3600);
  GetTimeResponse after;
  {
    auto ctx = Ctx(tokens.no_role_holder);
    grpc::Status s = clock->SetTime(ctx.get(), advance, &after);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
    EXPECT_EQ(Reason(s), "MISSING_ROLE");
    EXPECT_EQ(ReasonMetadata(s, "method"), "/care.common.v1.ClockControl/SetTime");
  }
  {
    auto ctx = Ctx(tokens.service);
    grpc::Status s = clock->SetTime(ctx.get(), advance, &after);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
  }
  {
    SetTimeRequest backwards;
    *backwards.mutable_advance() = TimeUtil::SecondsToDuration(-1);
    auto ctx = Ctx(tokens.admin);
    grpc::Status s = clock->SetTime(ctx.get(), backwards, &after);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
    EXPECT_EQ(Reason(s), "INVALID_FIELD");
    EXPECT_THAT(BadFields(s), ElementsAre("advance"));
  }
  {
    SetTimeRequest past;
    *past.mutable_time() = TimeUtil::SecondsToTimestamp(1000);
    auto ctx = Ctx(tokens.admin);
    grpc::Status s = clock->SetTime(ctx.get(), past, &after);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
    EXPECT_THAT(BadFields(s), ElementsAre("time"));
  }
  {
    auto ctx = Ctx(tokens.admin);
    grpc::Status s = clock->SetTime(ctx.get(), SetTimeRequest(), &after);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
    EXPECT_THAT(BadFields(s), ElementsAre("change"));
  }
  {
    auto ctx = Ctx(tokens.admin);
    grpc::Status s = clock->SetTime(ctx.get(), advance, &after);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }
  EXPECT_EQ(TimeUtil::TimestampToSeconds(after.time()) - TimeUtil::TimestampToSeconds(before.time()), 72 * 3600);
  // Every call sees the moved clock.
  PingResponse ping;
  ASSERT_TRUE(Ping(*server, tokens.agent, &ping).ok());
  EXPECT_EQ(ping.server_time().seconds(), after.time().seconds());
}

TEST(ServiceProcessTest, ClockControlIsAbsentWithoutFakeClock) {
  auto server = TestServer();
  ASSERT_TRUE(server->Start().ok()) << server->log();
  auto ctx = Ctx(server->tokens().admin);
  GetTimeResponse response;
  grpc::Status s = ClockControl::NewStub(server->channel())->GetTime(ctx.get(), GetTimeRequest(), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED) << Describe(s);
}

TEST(ServiceProcessTest, TerminateDrainsAndExitsZero) {
  auto server = TestServer({"--drain_deadline=2s"});
  ASSERT_TRUE(server->Start().ok()) << server->log();
  PingResponse response;
  ASSERT_TRUE(Ping(*server, server->tokens().admin, &response).ok());
  absl::Time start = absl::Now();
  EXPECT_EQ(server->Terminate(), 0) << server->log();
  // Within the drain deadline, plus start-up slack.
  EXPECT_LT(absl::Now() - start, absl::Seconds(4)) << server->log();
  EXPECT_FALSE(server->running());
  EXPECT_THAT(server->log(), HasSubstr("\"msg\":\"draining\""));
  EXPECT_THAT(server->log(), HasSubstr("\"msg\":\"stopped\""));
}

// KNOWN ISSUE (common/server.cc, ServerRunner::Run): grpc::Server::Shutdown(deadline)
// only completes once every client connection has closed, and an idle
// gRPC C++ client keeps its connection after the GOAWAY. So with any client
// still connected (always, in production) SIGTERM takes the whole
// --drain_deadline even with no call in flight. Enable once the runner stops
// waiting when nothing is in flight.
TEST(ServiceProcessTest, TerminateWithAnIdleClientDoesNotWaitForTheDeadline) {
  auto server = TestServer({"--drain_deadline=5s"});
  ASSERT_TRUE(server->Start().ok()) << server->log();
  std::shared_ptr<grpc::Channel> idle_client = server->channel();
  PingResponse response;
  ASSERT_TRUE(Ping(*server, server->tokens().admin, &response).ok());
  absl::Time start = absl::Now();
  EXPECT_EQ(server->Terminate(), 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST(ServiceProcessTest, RestartKeepsTheDataFolder) {
  auto server = TestServer({"--fake_clock"});
  ASSERT_TRUE(server->Start().ok()) << server->log();
  std::string db = server->data_dir() + "/testsrv.db";
  ASSERT_TRUE(std::filesystem::exists(db));
  EXPECT_EQ(server->Terminate(), 0);
  ASSERT_TRUE(server->Restart().ok()) << server->log();
  EXPECT_EQ(server->HealthStatus(kHealthName), "SERVING");
  EXPECT_TRUE(std::filesystem::exists(db));
  // Migrations ran once: the second start found them applied.
  std::string log = server->log();
  size_t first = log.find("\"msg\":\"migration applied\"");
  ASSERT_NE(first, std::string::npos);
  size_t second_start = log.rfind("=== care::testing: starting");
  EXPECT_EQ(log.find("\"msg\":\"migration applied\"", second_start), std::string::npos);
  PingResponse response;
  EXPECT_TRUE(Ping(*server, server->tokens().admin, &response).ok());
}

TEST(ServiceProcessTest, KillThenRestart) {
  auto server = TestServer();
  ASSERT_TRUE(server->Start().ok()) << server->log();
  pid_t first = server->pid();
  std::shared_ptr<grpc::Channel> old_channel = server->channel();
  server->Kill();
  EXPECT_FALSE(server->running());
  EXPECT_EQ(server->channel(), nullptr);
  PingResponse response;
  {
    auto ctx = Ctx(server->tokens().admin, absl::Seconds(2));
    grpc::Status s = Diagnostics::NewStub(old_channel)->Ping(ctx.get(), PingRequest(), &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(s);
  }
  ASSERT_TRUE(server->Restart().ok()) << server->log();
  EXPECT_NE(server->pid(), first);
  grpc::Status s = Ping(*server, server->tokens().admin, &response);
  EXPECT_TRUE(s.ok()) << Describe(s);
}

TEST(ServiceProcessTest, StartFailsFastWithTheLog) {
  auto server = TestServer({"--no_such_flag=1"});
  absl::Time start = absl::Now();
  absl::Status s = server->Start();
  EXPECT_FALSE(s.ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_THAT(std::string(s.message()), HasSubstr("unknown flag --no_such_flag"));
  EXPECT_FALSE(server->running());

  ServiceProcess missing("/no/such/care_binary", kHealthName, {});
  EXPECT_EQ(missing.Start().code(), absl::StatusCode::kNotFound);
}

TEST(ServiceProcessTest, SharedTokensAcrossServices) {
  TempDir dir;
  Tokens tokens = WriteTokens(dir.path());
  ServiceProcess a(CARE_TEST_SERVER_BIN, kHealthName, {}, tokens);
  ServiceProcess b(CARE_TEST_SERVER_BIN, kHealthName, {}, tokens);
  ASSERT_TRUE(a.Start().ok()) << a.log();
  ASSERT_TRUE(b.Start().ok()) << b.log();
  EXPECT_NE(a.port(), b.port());
  EXPECT_NE(a.data_dir(), b.data_dir());
  PingResponse response;
  EXPECT_TRUE(Ping(a, tokens.service, &response).ok());
  EXPECT_TRUE(Ping(b, tokens.service, &response).ok());
}

TEST(ServiceProcessTest, KillingRedisLeavesTheServerHealthy) {
  RedisServer redis;
  ASSERT_TRUE(redis.ok()) << redis.status();
  auto server = TestServer({absl::StrCat("--redis_port=", redis.port())});
  ASSERT_TRUE(server->Start().ok()) << server->log();
  redis.Kill();
  absl::SleepFor(absl::Milliseconds(600));  // past one readiness pass
  EXPECT_EQ(server->HealthStatus(kHealthName), "SERVING");
  EXPECT_EQ(server->HealthStatus(""), "SERVING");
}

}  // namespace
}  // namespace care::testing
