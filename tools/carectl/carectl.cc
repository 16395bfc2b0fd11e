// carectl: the operators' and support staff's command line over the
// generated stubs, on kubectl/gh conventions.
//   carectl [flags] <group> [<resource>] <command> [args]   e.g. carectl loyalty get-member ann
//   carectl [flags] ping [payload] | carectl version
// Tables by default, the response as JSON or YAML with -o json|yaml. Exit
// codes scripts can rely on: 0 ok, 1 the call failed (code, message, reason
// and field errors on stderr), 2 bad usage (nothing was sent).
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "care/common/v1/runtime.grpc.pb.h"
#include "clients/peer_health.h"
#include "common/auth.h"
#include "common/build_info.h"
#include "common/tls.h"
#include "tools/carectl/commands.h"
#include "tools/carectl/parser.h"

namespace carectl {
namespace {

// Default local ports (tools/suite.sh); CARE_<GROUP>_TARGET or --target override.
const std::map<std::string, std::string> kDefaultTargets = {{"", "127.0.0.1:50051"},
                                                            {"loyalty", "127.0.0.1:50051"},
                                                            {"promotion", "127.0.0.1:50052"},
                                                            {"complaint", "127.0.0.1:50053"},
                                                            {"notification", "127.0.0.1:50054"}};

// The service a command's group calls: its first word; privacy commands
// start at loyalty (the erasure entry point).
std::string ServiceOf(const Command& command) {
  std::string service = command.group.substr(0, command.group.find(' '));
  return service == "privacy" ? "loyalty" : service;
}

int Ping(Context& c, Args& a) {
  care::common::v1::PingRequest req;
  req.set_payload(a.OptionalPositional("payload", "ping"));
  a.Done();
  care::common::v1::PingResponse resp;
  auto stub = care::common::v1::Diagnostics::NewStub(c.channel());
  return c.Finish(stub->Ping(c.NewCall().get(), req, &resp), resp, [&] {
    PrintFields({{"PAYLOAD", resp.payload()}, {"SERVER", Time(resp.server_time())}});
  });
}

std::vector<Command> AllCommands() {
  std::vector<Command> all = {
      {"", "ping", "[<payload>]", "calls Diagnostics/Ping on any service: checks the target and the token", Ping}};
  for (auto group : {LoyaltyCommands(), RewardCommands(), PromotionCommands(), VoucherCommands(), ComplaintCommands(),
                     ComplaintSetupCommands(), ComplaintStaffCommands(), ContactCommands(), NotificationCommands(),
                     TemplateCommands(), OutboxCommands(), PrivacyCommands()}) {
    all.insert(all.end(), group.begin(), group.end());
  }
  return all;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// CARE_<SERVICE>_TARGET, else the service's local default.
std::string TargetOf(const std::string& service) {
  std::string env = Env(absl::StrCat("CARE_", absl::AsciiStrToUpper(service), "_TARGET").c_str());
  return env.empty() ? kDefaultTargets.at(service) : env;
}

int Version(const Options& options) {
  if (options.output == Output::kTable) {
    std::printf("carectl %s (commit %s)\n", care::build_info::kVersion, care::build_info::kCommit);
    return kOk;
  }
  std::string json = absl::StrCat("{\"version\": \"", care::build_info::kVersion, "\", \"commit\": \"",
                                  care::build_info::kCommit, "\"}");
  std::printf("%s", options.output == Output::kJson ? (json + "\n").c_str() : JsonToYaml(json).c_str());
  return kOk;
}

// -o, --json and --timeout into `options`. False (after printing why) on a bad value.
bool ResolveOutput(const GlobalFlags& flags, Options& options) {
  options.output = flags.json || flags.output == "json" ? Output::kJson
                   : flags.output == "yaml"             ? Output::kYaml
                                                        : Output::kTable;
  if (!absl::ParseDuration(flags.timeout, &options.timeout) || options.timeout <= absl::ZeroDuration()) {
    std::fprintf(stderr, "carectl: --timeout \"%s\" is not a duration like 5s\n", flags.timeout.c_str());
    return false;
  }
  return true;
}

// The token: --token, else --token-file, else CARE_TOKEN_FILE, else CARE_TOKEN (a flag beats the
// environment). The target: --target, else CARE_<GROUP>_TARGET, CARE_TARGET, the group's default.
// False (after printing why) on an unreadable token file or two token flags.
bool ResolveTokenAndTarget(const Command& command, const GlobalFlags& flags, Options& options) {
  if (!flags.token.empty() && !flags.token_file.empty()) {
    std::fprintf(stderr, "carectl: give --token or --token-file, not both\n");
    return false;
  }
  std::string file = flags.token_file.empty() && flags.token.empty() ? Env("CARE_TOKEN_FILE") : flags.token_file;
  options.token = flags.token.empty() && file.empty() ? Env("CARE_TOKEN") : flags.token;
  if (!file.empty()) {
    auto token = care::ReadSecretFile(file);
    if (!token.ok()) {
      std::fprintf(stderr, "carectl: %s\n", std::string(token.status().message()).c_str());
      return false;
    }
    options.token = *token;
  }
  std::string service = ServiceOf(command);
  options.target = flags.target;
  if (options.target.empty()) {
    std::string env = service.empty() ? ""
                                      : Env(absl::StrCat("CARE_", absl::AsciiStrToUpper(service), "_TARGET").c_str());
    options.target = !env.empty()                  ? env
                     : !Env("CARE_TARGET").empty() ? Env("CARE_TARGET")
                                                   : kDefaultTargets.at(service);
  }
  return true;
}

// Bad TLS files are a usage error (nothing sent), not a handshake failure. False after printing why.
bool CheckTlsFiles(care::PeerTls& tls) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    std::fprintf(stderr, "carectl: --cert-file and --key-file go together\n");
    return false;
  }
  if (!tls.cert_file.empty()) {
    if (absl::Status s = care::CheckKeyPair(tls.cert_file, tls.key_file); !s.ok()) {
      std::fprintf(stderr, "carectl: --cert-file/--key-file: %s\n", std::string(s.message()).c_str());
      return false;
    }
  }
  if (!tls.ca_file.empty()) {
    if (absl::Status s = care::CheckCertificatesFile(tls.ca_file); !s.ok()) {
      std::fprintf(stderr, "carectl: --ca-file: %s\n", std::string(s.message()).c_str());
      return false;
    }
  }
  tls.enabled = tls.enabled || !tls.ca_file.empty() || !tls.cert_file.empty();
  return true;
}

int Main(int argc, char** argv) {
  std::vector<Command> commands = AllCommands();
  GlobalFlags flags;
  Parsed parsed = ParseCommandLine(commands, argc, argv, flags);
  if (parsed.exit >= 0) return parsed.exit;
  Options options;
  if (!ResolveOutput(flags, options)) return kUsage;
  if (parsed.command == nullptr) return Version(options);
  const Command& command = *parsed.command;
  if (!ResolveTokenAndTarget(command, flags, options) || !CheckTlsFiles(flags.tls)) return kUsage;
  std::string service = ServiceOf(command);
  // Only replicas serving the group's service get the call (any live one for ping).
  Context context(options, care::DialPeer(options.target, flags.tls, care::clients::PeerHealthService(service)));
  context.set_dialer([&flags](const std::string& peer) {
    return care::DialPeer(TargetOf(peer), flags.tls, care::clients::PeerHealthService(peer));
  });
  Args args(std::move(parsed.positionals), parsed.flags);
  try {
    return command.run(context, args);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "carectl %s: %s\n%s", FullName(command).c_str(), e.what(), CommandUsage(command).c_str());
    return kUsage;
  }
}

}  // namespace
}  // namespace carectl

int main(int argc, char** argv) { return carectl::Main(argc, argv); }
