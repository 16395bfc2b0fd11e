// Issue 16, defect 6: mutual TLS between clients and services and between
// services, certificates and tokens that reload on rotation without a
// restart. Certificates are made at test time with the openssl command line
// (never committed); the binaries are the real ones, called through the
// generated stubs.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "care/common/v1/runtime.grpc.pb.h"
#include "care/promotion/v1/promotion.grpc.pb.h"
#include "common/tls.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/harness/harness.h"

namespace care::testing {
namespace {

using care::common::v1::Diagnostics;

constexpr char kLoyaltyHealth[] = "care.loyalty.v1.LoyaltyService";
constexpr char kPromotionHealth[] = "care.promotion.v1.PromotionService";

// A throwaway PKI under a temporary folder: CAs and leaf certificates (valid
// for 127.0.0.1 and localhost) made with the openssl command line.
class Pki final {
 public:
  std::string dir() const { return dir_.path(); }
  std::string Path(const std::string& name, const std::string& ext) const {
    return absl::StrCat(dir_.path(), "/", name, ".", ext);
  }

  // <name>.key and <name>.crt: a self-signed CA.
  void Ca(const std::string& name) {
    Run(absl::StrCat("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=",
                     name, " -keyout ", Path(name, "key"), " -out ", Path(name, "crt")));
  }

  // <name>.key and <name>.crt: a certificate with common name `cn` signed by `ca`.
  void Leaf(const std::string& name, const std::string& ca, const std::string& cn) {
    Run(absl::StrCat("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=", cn,
                     " -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout ", Path(name, "key"), " -out ",
                     Path(name, "csr")));
    Run(absl::StrCat("openssl x509 -req -days 2 -copy_extensions copy -in ", Path(name, "csr"), " -CA ",
                     Path(ca, "crt"), " -CAkey ", Path(ca, "key"), " -CAcreateserial -out ", Path(name, "crt")));
  }

  // Replaces <to>.key/.crt with <from>'s, each by a rename (as a mounted
  // Secret changes: never a half-written file).
  void Install(const std::string& from, const std::string& to) {
    for (const char* ext : {"key", "crt"}) {
      std::filesystem::copy_file(Path(from, ext), Path(to, ext) + ".tmp",
                                 std::filesystem::copy_options::overwrite_existing);
      std::filesystem::rename(Path(to, ext) + ".tmp", Path(to, ext));
    }
  }

  // Client credentials trusting `ca`, presenting `identity` ("" = none).
  std::shared_ptr<grpc::ChannelCredentials> Client(const std::string& ca, const std::string& identity) const {
    care::PeerTls tls;
    tls.enabled = true;
    tls.ca_file = Path(ca, "crt");
    if (!identity.empty()) {
      tls.cert_file = Path(identity, "crt");
      tls.key_file = Path(identity, "key");
    }
    tls.reload_interval = absl::Seconds(1);
    return care::MakeChannelCredentials(tls);
  }

  // Server flags: its certificate `identity`, clients verified against `client_ca` ("" = plain TLS).
  std::vector<std::string> ServerFlags(const std::string& identity, const std::string& client_ca) const {
    std::vector<std::string> flags = {"--tls_cert_file=" + Path(identity, "crt"),
                                      "--tls_key_file=" + Path(identity, "key"), "--tls_reload_interval=1s"};
    if (!client_ca.empty()) flags.push_back("--tls_client_ca_file=" + Path(client_ca, "crt"));
    return flags;
  }

 private:
  void Run(const std::string& command) {
    std::string full = absl::StrCat(command, " >>", dir_.path(), "/openssl.log 2>&1");
    ASSERT_EQ(std::system(full.c_str()), 0) << full << "\n" << ReadFile(dir_.path() + "/openssl.log");
  }

  TempDir dir_;
};

// A channel of its own (no connection shared with other channels to the same
// address), so each one makes a fresh handshake.
std::shared_ptr<grpc::Channel> FreshChannel(const std::string& address,
                                            std::shared_ptr<grpc::ChannelCredentials> creds) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, creds, args);
}

// Ping; on success `*server_cn` is the common name of the certificate the
// server presented.
grpc::Status Ping(const std::shared_ptr<grpc::Channel>& channel, const std::string& token,
                  std::string* server_cn = nullptr) {
  auto stub = Diagnostics::NewStub(channel);
  care::common::v1::PingRequest req;
  req.set_payload("hi");
  care::common::v1::PingResponse resp;
  auto ctx = Ctx(token, absl::Seconds(5));
  grpc::Status s = stub->Ping(ctx.get(), req, &resp);
  if (s.ok() && server_cn != nullptr) {
    server_cn->clear();
    auto auth = ctx->auth_context();
    if (auth) {
      for (const auto& v : auth->FindPropertyValues("x509_common_name")) server_cn->assign(v.data(), v.size());
    }
  }
  return s;
}

class TransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_.Ca("ca");
    pki_.Ca("other-ca");
    pki_.Leaf("loyalty", "ca", "loyalty-1");
    pki_.Leaf("promotion", "ca", "promotion-1");
    pki_.Leaf("client", "ca", "carectl");
    pki_.Leaf("stranger", "other-ca", "stranger");
    tokens_ = WriteTokens(tokens_dir_.path());
  }

  // care_loyalty serving mutual TLS with its certificate and the CA.
  std::unique_ptr<ServiceProcess> StartLoyalty(std::vector<std::string> extra = {},
                                               std::optional<Tokens> tokens = std::nullopt) {
    std::vector<std::string> args = pki_.ServerFlags("loyalty", "ca");
    args.push_back("--redis_port=" + std::to_string(redis_.port()));
    args.push_back("--log_level=warn");
    args.insert(args.end(), extra.begin(), extra.end());
    auto p = std::make_unique<ServiceProcess>(CARE_LOYALTY_BIN, kLoyaltyHealth, args, tokens.value_or(tokens_));
    p->set_channel_credentials(pki_.Client("ca", "client"));
    absl::Status s = p->Start();
    EXPECT_TRUE(s.ok()) << s;
    return s.ok() ? std::move(p) : nullptr;
  }

  // A quote for a member unknown to promotion: it asks loyalty for the tier.
  grpc::Status QuoteForAMember(ServiceProcess& promotion) {
    care::promotion::v1::QuoteRequest req;
    req.mutable_customer()->set_member_id("nobody");
    req.set_currency_code("USD");
    auto* line = req.add_lines();
    line->set_line_id("l1");
    line->set_sku("sku-1");
    line->set_category("shoes");
    line->set_quantity(1);
    line->mutable_unit_price()->set_amount_minor(1000);
    line->mutable_unit_price()->set_currency_code("USD");
    care::promotion::v1::QuoteResponse resp;
    auto stub = care::promotion::v1::PromotionService::NewStub(promotion.channel());
    return stub->Quote(Ctx(tokens_.service).get(), req, &resp);
  }

  // care_promotion (mutual TLS) calling `loyalty` with the token in `token_file`.
  std::unique_ptr<ServiceProcess> StartPromotion(const ServiceProcess& loyalty, const std::string& token_file,
                                                 std::vector<std::string> extra) {
    std::vector<std::string> args = pki_.ServerFlags("promotion", "ca");
    args.insert(args.end(), {"--redis_port=" + std::to_string(redis_.port()), "--log_level=warn",
                             "--loyalty_target=" + loyalty.address(), "--service_token_file=" + token_file});
    args.insert(args.end(), extra.begin(), extra.end());
    auto p = std::make_unique<ServiceProcess>(CARE_PROMOTION_BIN, kPromotionHealth, args, tokens_);
    p->set_channel_credentials(pki_.Client("ca", "client"));
    absl::Status s = p->Start();
    EXPECT_TRUE(s.ok()) << s;
    return s.ok() ? std::move(p) : nullptr;
  }

  std::vector<std::string> PeerFlags() const {
    return {"--peer_ca_file=" + pki_.Path("ca", "crt"), "--peer_cert_file=" + pki_.Path("promotion", "crt"),
            "--peer_key_file=" + pki_.Path("promotion", "key")};
  }

  // Exit code and log of a binary that should refuse to start.
  int StartRefused(const std::string& binary, std::vector<std::string> flags, std::string* log) {
    TempDir dir;
    Exited run = RunToExit(ServiceArgv(binary, tokens_.file, dir.path(), flags));
    *log = run.log;
    return run.code;
  }

  Pki pki_;
  TempDir tokens_dir_;
  Tokens tokens_;
  RedisServer redis_;
};

// A client holding a certificate from the suite's CA gets through; one
// without a certificate, with a certificate from another CA, or in plain
// text is refused at the handshake (UNAVAILABLE) before any call is read.
// Before the fix the server did not ask for client certificates at all.
TEST_F(TransportTest, MutualTlsAdmitsOnlyClientsWithACertificateFromTheCa) {
  auto loyalty = StartLoyalty();
  ASSERT_NE(loyalty, nullptr);
  std::string cn;
  grpc::Status ok = Ping(FreshChannel(loyalty->address(), pki_.Client("ca", "client")), tokens_.service, &cn);
  EXPECT_TRUE(ok.ok()) << Describe(ok);
  EXPECT_EQ(cn, "loyalty-1");

  grpc::Status no_cert = Ping(FreshChannel(loyalty->address(), pki_.Client("ca", "")), tokens_.service);
  EXPECT_EQ(no_cert.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(no_cert);
  grpc::Status stranger = Ping(FreshChannel(loyalty->address(), pki_.Client("ca", "stranger")), tokens_.service);
  EXPECT_EQ(stranger.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(stranger);
  grpc::Status plain = Ping(FreshChannel(loyalty->address(), grpc::InsecureChannelCredentials()), tokens_.service);
  EXPECT_EQ(plain.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(plain);
  // A client certificate is not a bearer token: the call still needs one.
  grpc::Status no_token = Ping(FreshChannel(loyalty->address(), pki_.Client("ca", "client")), "");
  EXPECT_EQ(no_token.error_code(), grpc::StatusCode::UNAUTHENTICATED) << Describe(no_token);
}

// Kubelet's gRPC probes speak plaintext without a certificate: --health_port
// answers grpc.health.v1 there and nothing else (no CareSuite method is
// reachable without mutual TLS).
TEST_F(TransportTest, ThePlaintextHealthPortServesOnlyHealth) {
  const std::string port_file = pki_.dir() + "/health_port";
  auto loyalty = StartLoyalty({"--health_port=0", "--health_port_file=" + port_file});
  ASSERT_NE(loyalty, nullptr);
  std::string port = std::string(absl::StripAsciiWhitespace(ReadFile(port_file)));
  ASSERT_FALSE(port.empty());
  auto plain = FreshChannel("127.0.0.1:" + port, grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(plain);
  grpc::health::v1::HealthCheckResponse response;
  for (const std::string service : {"", kLoyaltyHealth}) {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::Status s = health->Check(Ctx("").get(), request, &response);
    ASSERT_TRUE(s.ok()) << Describe(s);
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
  grpc::Status ping = Ping(plain, tokens_.service);
  EXPECT_EQ(ping.error_code(), grpc::StatusCode::UNIMPLEMENTED) << Describe(ping);
}

// Missing, unreadable or mismatched certificate files stop the process at
// start-up (exit 2) naming the flag, instead of failing every handshake.
TEST_F(TransportTest, BadCertificateFlagsStopTheProcessNamingTheFlag) {
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--tls_cert_file=" + pki_.Path("loyalty", "crt"), "--tls_key_file=" + pki_.Path("promotion", "key")},
       "tls_cert_file/tls_key_file: " + pki_.Path("promotion", "key") + " is not the key of the certificate"},
      {{"--tls_cert_file=" + pki_.Path("loyalty", "crt"), "--tls_key_file=" + pki_.Path("loyalty", "key"),
        "--tls_client_ca_file=" + pki_.dir() + "/missing.crt"},
       "tls_client_ca_file: cannot read"},
      {{"--tls_client_ca_file=" + pki_.Path("ca", "crt")}, "tls_client_ca_file needs tls_cert_file"},
      {{"--tls_cert_file=" + pki_.Path("loyalty", "crt"), "--tls_key_file=" + pki_.Path("loyalty", "key"),
        "--tls_client_ca_file=" + pki_.Path("loyalty", "key")},
       "tls_client_ca_file: " + pki_.Path("loyalty", "key") + " holds no PEM certificate"},
      {{"--peer_cert_file=" + pki_.Path("client", "crt")}, "peer_cert_file and peer_key_file go together"},
      {{"--peer_ca_file=" + pki_.dir() + "/missing.crt"}, "peer_ca_file: cannot read"},
      {{"--peer_cert_file=" + pki_.Path("client", "crt"), "--peer_key_file=" + pki_.Path("loyalty", "key")},
       "peer_cert_file/peer_key_file: "},
  };
  for (const Case& c : cases) {
    std::string log;
    EXPECT_EQ(StartRefused(CARE_LOYALTY_BIN, c.flags, &log), 2) << c.message;
    EXPECT_NE(log.find(c.message), std::string::npos) << "want: " << c.message << "\nlog:\n" << log;
  }
}

// promotion -> loyalty over mutual TLS with --peer_*: a quote for a member
// reaches loyalty (its answer comes back); without a client certificate
// loyalty refuses the connection and the quote is TIER_UNAVAILABLE.
TEST_F(TransportTest, ServiceToServiceCallsUseMutualTls) {
  auto loyalty = StartLoyalty();
  ASSERT_NE(loyalty, nullptr);
  const std::string token_file = tokens_dir_.path() + "/service_token";
  std::ofstream(token_file) << tokens_.service << "\n";

  auto promotion = StartPromotion(*loyalty, token_file, PeerFlags());
  ASSERT_NE(promotion, nullptr);
  // Loyalty's own answer (it has no program yet) came back through promotion.
  grpc::Status through = QuoteForAMember(*promotion);
  EXPECT_EQ(through.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(through);
  EXPECT_EQ(Reason(through), "PROGRAM_NOT_CONFIGURED") << Describe(through);

  auto no_cert = StartPromotion(*loyalty, token_file, {"--peer_ca_file=" + pki_.Path("ca", "crt")});
  ASSERT_NE(no_cert, nullptr);
  grpc::Status refused = QuoteForAMember(*no_cert);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(refused);
  EXPECT_EQ(Reason(refused), "TIER_UNAVAILABLE") << Describe(refused);
}

// New certificate files on disk are served to new connections within the
// reload interval, without a restart: first a renewal (same CA, new
// certificate), then a CA change the clients already trust.
TEST_F(TransportTest, RotatedServerCertificatesAreServedWithoutARestart) {
  auto loyalty = StartLoyalty();
  ASSERT_NE(loyalty, nullptr);
  const pid_t pid = loyalty->pid();
  std::string cn;
  ASSERT_TRUE(Ping(FreshChannel(loyalty->address(), pki_.Client("ca", "client")), tokens_.service, &cn).ok());
  ASSERT_EQ(cn, "loyalty-1");

  pki_.Leaf("loyalty-2", "ca", "loyalty-2");
  pki_.Install("loyalty-2", "loyalty");
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    grpc::Status s = Ping(FreshChannel(loyalty->address(), pki_.Client("ca", "client")), tokens_.service, &cn);
    if (s.ok() && cn == "loyalty-2") break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_EQ(cn, "loyalty-2");
  EXPECT_EQ(loyalty->pid(), pid);
  EXPECT_TRUE(loyalty->running());

  // The server moves to a certificate from a new CA: a client trusting only
  // the old CA is refused, one trusting the new CA gets through.
  pki_.Ca("ca-2");
  pki_.Leaf("loyalty-3", "ca-2", "loyalty-3");
  pki_.Install("loyalty-3", "loyalty");
  deadline = absl::Now() + absl::Seconds(20);
  grpc::Status s;
  while (absl::Now() < deadline) {
    s = Ping(FreshChannel(loyalty->address(), pki_.Client("ca-2", "client")), tokens_.service, &cn);
    if (s.ok() && cn == "loyalty-3") break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(cn, "loyalty-3");
  grpc::Status old_ca = Ping(FreshChannel(loyalty->address(), pki_.Client("ca", "client")), tokens_.service);
  EXPECT_EQ(old_ca.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(old_ca);
}

// A token added to the tokens file works and a removed one is refused,
// without a restart; a broken file keeps the tokens in force (nobody locked
// out, nobody let in) and says so in the log.
TEST_F(TransportTest, TheTokensFileReloadsWithoutARestart) {
  auto loyalty = StartLoyalty({"--tokens_reload_interval=100ms"});
  ASSERT_NE(loyalty, nullptr);
  auto channel = loyalty->channel();
  const pid_t pid = loyalty->pid();
  ASSERT_TRUE(Ping(channel, tokens_.service).ok());
  const std::string fresh = "fresh-token-0123456789abcdef";
  std::string before = ReadFile(tokens_.file);

  // The old service token is replaced by a fresh one (written, then renamed
  // into place, as a Secret update does).
  std::string text;
  for (absl::string_view line : absl::StrSplit(before, '\n')) {
    if (absl::StartsWith(line, tokens_.service + " ")) continue;
    absl::StrAppend(&text, line, "\n");
  }
  absl::StrAppend(&text, fresh, " svc:rotated service\n");
  auto replace = [&](const std::string& content) {
    std::ofstream(tokens_.file + ".tmp", std::ios::trunc) << content;
    std::filesystem::rename(tokens_.file + ".tmp", tokens_.file);
  };
  replace(text);
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline && !Ping(channel, fresh).ok()) absl::SleepFor(absl::Milliseconds(50));
  grpc::Status added = Ping(channel, fresh);
  EXPECT_TRUE(added.ok()) << Describe(added);
  grpc::Status removed = Ping(channel, tokens_.service);
  EXPECT_EQ(removed.error_code(), grpc::StatusCode::UNAUTHENTICATED) << Describe(removed);
  EXPECT_EQ(Reason(removed), "INVALID_TOKEN");

  // A broken file: the registry in force stays.
  replace(text + "not a token line\n");
  deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline && loyalty->log().find("tokens file changed but is invalid") == std::string::npos) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_NE(loyalty->log().find("tokens file changed but is invalid"), std::string::npos) << loyalty->log();
  grpc::Status kept = Ping(channel, fresh);
  EXPECT_TRUE(kept.ok()) << Describe(kept);
  EXPECT_EQ(Ping(channel, tokens_.service).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // An empty file (a Secret mid-update) is invalid too: nobody is locked out.
  replace("");
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_TRUE(Ping(channel, fresh).ok());
  EXPECT_EQ(loyalty->pid(), pid);
}

// A service's own peer token rotates without a restart: loyalty accepts
// old and new, promotion's token file changes, loyalty drops the old one,
// and promotion's calls keep getting through (it re-reads its token file).
TEST_F(TransportTest, APeerTokenRotatesWithoutARestart) {
  Tokens loyalty_tokens = tokens_;
  loyalty_tokens.file = tokens_dir_.path() + "/loyalty_tokens";
  const std::string base = ReadFile(tokens_.file);
  const std::string old_token = "old-promotion-peer-token-0123456789";
  const std::string new_token = "new-promotion-peer-token-0123456789";
  auto write = [](const std::string& path, const std::string& text) {
    std::ofstream(path + ".tmp", std::ios::trunc) << text;
    std::filesystem::rename(path + ".tmp", path);
  };
  write(loyalty_tokens.file, base + old_token + " svc:promotion service\n");
  auto loyalty = StartLoyalty({"--tokens_reload_interval=100ms"}, loyalty_tokens);
  ASSERT_NE(loyalty, nullptr);
  const std::string token_file = tokens_dir_.path() + "/promotion_token";
  write(token_file, old_token + "\n");
  std::vector<std::string> flags = PeerFlags();
  flags.push_back("--tokens_reload_interval=100ms");
  auto promotion = StartPromotion(*loyalty, token_file, flags);
  ASSERT_NE(promotion, nullptr);
  ASSERT_EQ(Reason(QuoteForAMember(*promotion)), "PROGRAM_NOT_CONFIGURED");

  write(loyalty_tokens.file, base + old_token + " svc:promotion service\n" + new_token + " svc:promotion service\n");
  write(token_file, new_token + "\n");
  absl::SleepFor(absl::Milliseconds(500));  // both re-read their files
  write(loyalty_tokens.file, base + new_token + " svc:promotion service\n");
  absl::SleepFor(absl::Milliseconds(500));
  // Before the fix promotion kept presenting the old token: TIER_UNAVAILABLE.
  grpc::Status after = QuoteForAMember(*promotion);
  EXPECT_EQ(Reason(after), "PROGRAM_NOT_CONFIGURED") << Describe(after);
}

// carectl against a mutual-TLS service: the token from --token_file or
// CARE_TOKEN (never needed on the command line), the client certificate from
// --cert_file/--key_file; without a certificate the handshake is refused.
TEST_F(TransportTest, CarectlCallsWithAClientCertificateAndATokenFromAFileOrTheEnvironment) {
  auto loyalty = StartLoyalty();
  ASSERT_NE(loyalty, nullptr);
  const std::string token_file = tokens_dir_.path() + "/carectl_token";
  std::ofstream(token_file) << tokens_.service << "\n";
  auto run = [&](std::vector<std::string> args, std::string* output) {
    TempDir dir;
    args.insert(args.begin(), {CARECTL_BIN, "--target=" + loyalty->address()});
    ChildProcess child;
    EXPECT_TRUE(child.Spawn(args, dir.path() + "/out").ok());
    int code = child.Signal(0, absl::Seconds(20));
    *output = ReadFile(dir.path() + "/out");
    return code;
  };
  const std::string ca = "--ca_file=" + pki_.Path("ca", "crt");
  const std::string cert = "--cert_file=" + pki_.Path("client", "crt");
  const std::string key = "--key_file=" + pki_.Path("client", "key");
  std::string out;
  EXPECT_EQ(run({ca, cert, key, "--token_file=" + token_file, "ping", "over-mtls"}, &out), 0) << out;
  EXPECT_NE(out.find("over-mtls"), std::string::npos) << out;

  ::setenv("CARE_TOKEN", tokens_.service.c_str(), 1);
  EXPECT_EQ(run({ca, cert, key, "ping", "from-env"}, &out), 0) << out;
  EXPECT_NE(out.find("from-env"), std::string::npos) << out;
  // No client certificate: refused at the handshake, the call fails (exit 1).
  EXPECT_EQ(run({ca, "--timeout=3s", "ping"}, &out), 1) << out;
  EXPECT_NE(out.find("UNAVAILABLE"), std::string::npos) << out;
  ::unsetenv("CARE_TOKEN");
  // Mismatched files are a usage error: nothing is sent.
  EXPECT_EQ(run({ca, cert, "--key_file=" + pki_.Path("loyalty", "key"), "--token_file=" + token_file, "ping"}, &out), 2)
      << out;
  EXPECT_NE(out.find("--cert-file/--key-file"), std::string::npos) << out;
}

}  // namespace
}  // namespace care::testing
