// Balancing over an address list under mutual TLS: an `ipv4:` target has no
// host name to check the replicas' certificates against, so the call is
// refused at the handshake unless the name is given (carectl --server_name,
// the services' --peer_tls_server_name); with it, calls go through to either
// replica and keep going when one is killed.
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/tls.h"
#include "gtest/gtest.h"
#include "tests/harness/harness.h"

namespace care::testing {
namespace {

constexpr char kLoyaltyHealth[] = "care.loyalty.v1.LoyaltyService";

class LbTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Openssl(absl::StrCat("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=ca",
                         " -keyout ", Path("ca.key"), " -out ", Path("ca.crt")));
    for (const char* name : {"loyalty", "client"}) {
      Openssl(absl::StrCat("req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=", name,
                           " -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout ", Path(name, ".key"), " -out ",
                           Path(name, ".csr")));
      Openssl(absl::StrCat("x509 -req -days 2 -copy_extensions copy -in ", Path(name, ".csr"), " -CA ", Path("ca.crt"),
                           " -CAkey ", Path("ca.key"), " -CAcreateserial -out ", Path(name, ".crt")));
    }
    if (HasFatalFailure()) return;
    ASSERT_TRUE(redis_.ok()) << redis_.status();
    tokens_ = WriteTokens(dir_.path());
    token_file_ = WriteTokenFile(dir_.path(), "operator", tokens_.service);
    for (auto* replica : {&first_, &second_}) {
      *replica = std::make_unique<ServiceProcess>(
          CARE_LOYALTY_BIN, kLoyaltyHealth,
          std::vector<std::string>{"--tls_cert_file=" + Path("loyalty.crt"), "--tls_key_file=" + Path("loyalty.key"),
                                   "--tls_client_ca_file=" + Path("ca.crt"),
                                   "--redis_port=" + std::to_string(redis_.port()), "--log_level=warn"},
          tokens_);
      care::PeerTls tls;
      tls.enabled = true;
      tls.ca_file = Path("ca.crt");
      tls.cert_file = Path("client.crt");
      tls.key_file = Path("client.key");
      (*replica)->set_channel_credentials(care::MakeChannelCredentials(tls));
      absl::Status started = (*replica)->Start();
      ASSERT_TRUE(started.ok()) << started;
    }
  }

  std::string Path(const std::string& name, const std::string& ext = "") const {
    return absl::StrCat(dir_.path(), "/", name, ext);
  }

  void Openssl(const std::string& args) {
    std::string command = absl::StrCat("openssl ", args, " >>", Path("openssl.log"), " 2>&1");
    ASSERT_EQ(std::system(command.c_str()), 0) << command << "\n" << ReadFile(Path("openssl.log"));
  }

  // carectl ping through both replicas, with mutual TLS, plus `extra` flags.
  Exited Ping(const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {CARECTL_BIN,
                                     absl::StrCat("--target=ipv4:", first_->address(), ",", second_->address()),
                                     "--token_file=" + token_file_,
                                     "--ca_file=" + Path("ca.crt"),
                                     "--cert_file=" + Path("client.crt"),
                                     "--key_file=" + Path("client.key"),
                                     "--timeout=3s"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.insert(argv.end(), {"ping", "hello"});
    return RunToExit(argv);
  }

  TempDir dir_;
  RedisServer redis_;
  Tokens tokens_;
  std::string token_file_;
  std::unique_ptr<ServiceProcess> first_, second_;
};

TEST_F(LbTlsTest, AnAddressListNeedsTheServerNameAndThenBalancesUnderMutualTls) {
  // The list itself is no name the certificates carry: refused.
  Exited unnamed = Ping({});
  EXPECT_EQ(unnamed.code, 1) << unnamed.log;
  EXPECT_TRUE(absl::StrContains(unnamed.log, "UNAVAILABLE")) << unnamed.log;

  Exited named = Ping({"--server_name=localhost"});
  EXPECT_EQ(named.code, 0) << named.log;
  EXPECT_TRUE(absl::StrContains(named.log, "hello")) << named.log;

  // A name the certificates do not carry is refused as well.
  Exited wrong = Ping({"--server_name=loyalty.elsewhere.test"});
  EXPECT_EQ(wrong.code, 1) << wrong.log;

  first_->Kill();
  for (int i = 0; i < 3; ++i) {
    Exited one = Ping({"--server_name=localhost"});
    EXPECT_EQ(one.code, 0) << one.log;
  }
}

}  // namespace
}  // namespace care::testing
