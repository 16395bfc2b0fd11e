// A service on SQLite runs as one replica: a second process of the same
// service started on the same --data_dir (two pods mounting one volume, a
// force-deleted pod's process still running beside its replacement, a copy
// started by hand) stops at start-up naming the database file, and the first
// keeps serving.
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "care/common/v1/runtime.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/harness/harness.h"

namespace care::testing {
namespace {

struct Binary {
  const char* name;
  const char* path;
  const char* health;
};

// The test's name says which service; gtest would print the struct's bytes.
void PrintTo(const Binary& binary, std::ostream* os) { *os << binary.name; }

class SqliteSingleWriterTest : public ::testing::TestWithParam<Binary> {};

TEST_P(SqliteSingleWriterTest, ASecondProcessOnTheSameDataDirStopsAndTheFirstKeepsServing) {
  if (TestPostgres()) GTEST_SKIP() << "several replicas share one PostgreSQL database";
  RedisServer redis;
  ASSERT_TRUE(redis.ok()) << redis.status();
  const std::string redis_port = "--redis_port=" + std::to_string(redis.port());
  ServiceProcess first(GetParam().path, GetParam().health, {redis_port});
  ASSERT_TRUE(first.Start().ok()) << first.log();

  // Same binary, same folder, a port of its own. Loyalty checks its tier
  // cache key before it opens the database: give it one.
  TempDir dir;
  const std::string tier_key = dir.path() + "/tier_cache_key";
  std::ofstream(tier_key) << "k1 " << std::string(32, 'k') << "\n";
  const std::vector<std::string> flags = {redis_port, "--tier_cache_key_file=" + tier_key};
  Exited second = RunToExit(ServiceArgv(GetParam().path, first.tokens().file, first.data_dir(), flags),
                            absl::Seconds(30));
  EXPECT_NE(second.code, 0) << second.log;
  EXPECT_NE(second.code, -9) << "the second process was still running: " << second.log;
  const std::string db = first.data_dir() + "/" + GetParam().name + ".db";
  EXPECT_NE(second.log.find(db + " is already open in another process"), std::string::npos) << second.log;
  EXPECT_NE(second.log.find("SQLite allows one writer"), std::string::npos) << second.log;
  EXPECT_NE(second.log.find("exactly one replica"), std::string::npos) << second.log;

  // The first process is untouched: serving, and answering calls.
  EXPECT_EQ(first.HealthStatus(GetParam().health), "SERVING");
  auto stub = care::common::v1::Diagnostics::NewStub(first.channel());
  care::common::v1::PingRequest request;
  request.set_payload("still here");
  care::common::v1::PingResponse response;
  grpc::Status status = stub->Ping(Ctx(first.tokens().admin).get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.payload(), "still here");
}

INSTANTIATE_TEST_SUITE_P(
    Services, SqliteSingleWriterTest,
    ::testing::Values(Binary{"loyalty", CARE_LOYALTY_BIN, "care.loyalty.v1.LoyaltyService"},
                      Binary{"promotion", CARE_PROMOTION_BIN, "care.promotion.v1.PromotionService"},
                      Binary{"complaint", CARE_COMPLAINT_BIN, "care.complaint.v1.ComplaintService"},
                      Binary{"notification", CARE_NOTIFICATION_BIN, "care.notification.v1.NotificationService"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace care::testing
