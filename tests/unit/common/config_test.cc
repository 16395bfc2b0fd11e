// common/config.h: flags over environment over defaults, every problem
// collected and reported at once by Finish() (exit 2).
#include "common/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace care {
namespace {

// Owns an argv for ConfigReader.
class Args {
 public:
  Args(std::initializer_list<std::string> args) : storage_({"prog"}) {
    storage_.insert(storage_.end(), args.begin(), args.end());
    for (auto& s : storage_) argv_.push_back(s.data());
    argv_.push_back(nullptr);
  }
  int argc() const { return static_cast<int>(storage_.size()); }
  char** argv() { return argv_.data(); }

 private:
  std::vector<std::string> storage_;
  std::vector<char*> argv_;
};

// Sets an environment variable for the scope of a test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(ConfigTest, FlagBeatsEnvironmentBeatsDefault) {
  ScopedEnv env("CARE_CFGT_COLOR", "from-env");
  {
    Args a{"--cfgt_color=from-flag"};
    ConfigReader c(a.argc(), a.argv(), "help");
    EXPECT_EQ(c.String("cfgt_color", "default", "h"), "from-flag");
    c.Finish();
  }
  {
    Args a{};
    ConfigReader c(a.argc(), a.argv(), "help");
    EXPECT_EQ(c.String("cfgt_color", "default", "h"), "from-env");
    EXPECT_EQ(c.String("cfgt_other", "default", "h"), "default");
    c.Finish();
  }
}

TEST_F(ConfigTest, ParsesEveryType) {
  ScopedEnv env("CARE_CFGT_DEADLINE", "250ms");
  Args a{"--cfgt_threads=16", "--cfgt_verbose", "--cfgt_tls=false", "--cfgt-with-dashes=x"};
  ConfigReader c(a.argc(), a.argv(), "help");
  EXPECT_EQ(c.Int("cfgt_threads", 8, 1, 256, "h"), 16);
  EXPECT_EQ(c.Int("cfgt_absent", 8, 1, 256, "h"), 8);
  EXPECT_TRUE(c.Bool("cfgt_verbose", false, "h"));
  EXPECT_FALSE(c.Bool("cfgt_tls", true, "h"));
  EXPECT_EQ(c.Duration("cfgt_deadline", absl::Seconds(10), "h"), absl::Milliseconds(250));
  EXPECT_EQ(c.Duration("cfgt_notice", absl::Hours(72), "h"), absl::Hours(72));
  EXPECT_EQ(c.String("cfgt_with_dashes", "", "h"), "x");
  c.Finish();  // no errors: returns
}

TEST_F(ConfigTest, BadValuesFallBackToDefaultsAndAreAllReported) {
  ScopedEnv env("CARE_CFGT_BADENV", "lots");
  Args a{"--cfgt_port=99999", "--cfgt_workers=abc", "--cfgt_flag=maybe", "--cfgt_wait=-3s", "--cfgt_wait2=3"};
  EXPECT_EXIT(
      {
        ConfigReader c(a.argc(), a.argv(), "help");
        c.Int("cfgt_port", 50051, 0, 65535, "h");
        c.Int("cfgt_workers", 8, 1, 256, "h");
        c.Bool("cfgt_flag", false, "h");
        c.Duration("cfgt_wait", absl::Seconds(1), "h");
        c.Duration("cfgt_wait2", absl::Seconds(1), "h");
        c.Int("cfgt_badenv", 1, 0, 10, "h");
        c.Finish();
      },
      ::testing::ExitedWithCode(2),
      // Every problem in one report, each naming where the value came from.
      "--cfgt_port=\"99999\"(.|\n)*--cfgt_workers=\"abc\"(.|\n)*--cfgt_flag=\"maybe\"(.|\n)*"
      "--cfgt_wait=\"-3s\"(.|\n)*--cfgt_wait2=\"3\"(.|\n)*CARE_CFGT_BADENV=\"lots\"");
}

TEST_F(ConfigTest, BadValueReturnsTheDefault) {
  Args a{"--cfgt_port=99999", "--cfgt_flag=maybe", "--cfgt_wait=soon"};
  ConfigReader c(a.argc(), a.argv(), "help");
  EXPECT_EQ(c.Int("cfgt_port", 50051, 0, 65535, "h"), 50051);
  EXPECT_TRUE(c.Bool("cfgt_flag", true, "h"));
  EXPECT_EQ(c.Duration("cfgt_wait", absl::Seconds(1), "h"), absl::Seconds(1));
}

TEST_F(ConfigTest, UnknownFlagStopsTheProcess) {
  Args a{"--cfgt_known=1", "--cfgt_bogus=2"};
  EXPECT_EXIT(
      {
        ConfigReader c(a.argc(), a.argv(), "help");
        c.Int("cfgt_known", 0, 0, 10, "h");
        c.Finish();
      },
      ::testing::ExitedWithCode(2), "unknown flag --cfgt_bogus");
}

TEST_F(ConfigTest, PositionalArgumentStopsTheProcess) {
  Args a{"stray"};
  EXPECT_EXIT(
      {
        ConfigReader c(a.argc(), a.argv(), "help");
        c.Finish();
      },
      ::testing::ExitedWithCode(2), "stray");
}

TEST_F(ConfigTest, CrossFieldErrorStopsTheProcess) {
  Args a{};
  EXPECT_EXIT(
      {
        ConfigReader c(a.argc(), a.argv(), "help");
        c.AddError("tls_cert_file and tls_key_file go together");
        c.Finish();
      },
      ::testing::ExitedWithCode(2), "tls_cert_file and tls_key_file go together");
}

TEST_F(ConfigTest, HelpExitsZero) {
  Args a{"--help"};
  EXPECT_EXIT(
      {
        ConfigReader c(a.argc(), a.argv(), "help");
        c.Int("cfgt_port", 1, 0, 10, "the port");
        c.Finish();
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace care
