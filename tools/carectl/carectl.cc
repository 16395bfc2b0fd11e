// carectl: the operators' and support staff's command line over the
// generated stubs.
//   carectl [global options] <group> <command> [args]   e.g. carectl loyalty get-member ann
//   carectl [global options] ping [payload]
// Tables by default, the response as JSON with --json. Exit codes scripts can
// rely on: 0 ok, 1 the call failed (code, message, reason and field errors on
// stderr), 2 bad usage (nothing was sent).
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
#include "common/tls.h"
#include "tools/carectl/commands.h"

namespace carectl {
namespace {

// Default local ports (tools/suite.sh); CARE_<GROUP>_TARGET or --target override.
const std::map<std::string, std::string> kDefaultTargets = {{"", "127.0.0.1:50051"},
                                                            {"loyalty", "127.0.0.1:50051"},
                                                            {"promotion", "127.0.0.1:50052"},
                                                            {"complaint", "127.0.0.1:50053"},
                                                            {"notification", "127.0.0.1:50054"}};

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
      {"", "ping", "[payload]", "calls Diagnostics/Ping on any service: checks the target and the token", Ping}};
  for (auto group :
       {LoyaltyCommands(), PromotionCommands(), ComplaintCommands(), NotificationCommands(), OutboxCommands()}) {
    all.insert(all.end(), group.begin(), group.end());
  }
  return all;
}

constexpr char kGlobalUsage[] =
    "usage: carectl [--target=host:port] [--token_file=F] [--tls] [--ca_file=F] [--cert_file=F --key_file=F]\n"
    "               [--server_name=N] [--json] [--timeout=10s] <group> <command> [args]\n"
    "  --target      the service; default CARE_<GROUP>_TARGET, CARE_TARGET, else 127.0.0.1:5005x; also\n"
    "                dns:///host:port or ipv4:10.0.0.1:50051,10.0.0.2:50051 (replicas, balanced)\n"
    "  --token_file  file holding the bearer token (CARE_TOKEN_FILE), or the token itself in CARE_TOKEN;\n"
    "                keep tokens off the command line (other users see it in ps and shell history)\n"
    "  --tls         call over TLS with the system roots (CARE_TLS=1); implied by --ca_file or --cert_file\n"
    "  --ca_file     PEM CA bundle the service's certificate must chain to (CARE_CA_FILE)\n"
    "  --cert_file   PEM client certificate for mutual TLS, with --key_file (CARE_CERT_FILE, CARE_KEY_FILE)\n"
    "  --server_name name the certificate is checked against instead of the target's host (CARE_SERVER_NAME)\n"
    "  --json        print the response as JSON instead of a table\n"
    "  --help        after any command: its usage\n"
    "exit codes: 0 ok, 1 the call failed (status code and reason on stderr), 2 bad usage\n";

std::string FullName(const Command& c) { return c.group.empty() ? c.name : absl::StrCat(c.group, " ", c.name); }

void PrintCommands(FILE* out, const std::vector<Command>& commands, const std::string& group) {
  std::fprintf(out, "%s\ncommands:\n", kGlobalUsage);
  for (const auto& c : commands) {
    if (!group.empty() && c.group != group) continue;
    std::fprintf(out, "  carectl %s %s\n      %s\n", FullName(c).c_str(), c.usage.c_str(), c.help.c_str());
  }
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// What the global flags and the environment say, before a command is chosen.
struct GlobalFlags {
  Options options;
  std::string token_file;
  care::PeerTls tls;
  bool help = false;
  std::vector<std::string> words;  // group, command and the command's own arguments
};

// The environment's defaults, then the global flags over them. False (after printing why) on a bad flag.
bool ParseGlobalFlags(int argc, char** argv, GlobalFlags& flags) {
  Options& options = flags.options;
  care::PeerTls& tls = flags.tls;
  options.token = Env("CARE_TOKEN");
  flags.token_file = Env("CARE_TOKEN_FILE");
  tls.enabled = Env("CARE_TLS") == "1" || Env("CARE_TLS") == "true";
  tls.ca_file = Env("CARE_CA_FILE");
  tls.cert_file = Env("CARE_CERT_FILE");
  tls.key_file = Env("CARE_KEY_FILE");
  tls.server_name = Env("CARE_SERVER_NAME");
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--json") {
      options.json = true;
    } else if (arg == "--help" || arg == "-h" || (flags.words.empty() && arg == "help")) {
      flags.help = true;
    } else if (absl::StartsWith(arg, "--target=")) {
      options.target = arg.substr(9);
    } else if (absl::StartsWith(arg, "--token=")) {
      // Still accepted for old scripts, never required: --token_file or CARE_TOKEN.
      options.token = arg.substr(8);
    } else if (arg == "--tls") {
      tls.enabled = true;
    } else if (absl::StartsWith(arg, "--ca_file=")) {
      tls.ca_file = arg.substr(10);
    } else if (absl::StartsWith(arg, "--cert_file=")) {
      tls.cert_file = arg.substr(12);
    } else if (absl::StartsWith(arg, "--key_file=")) {
      tls.key_file = arg.substr(11);
    } else if (absl::StartsWith(arg, "--server_name=")) {
      tls.server_name = arg.substr(14);
    } else if (absl::StartsWith(arg, "--token_file=")) {
      flags.token_file = arg.substr(13);
    } else if (absl::StartsWith(arg, "--timeout=")) {
      if (!absl::ParseDuration(arg.substr(10), &options.timeout) || options.timeout <= absl::ZeroDuration()) {
        std::fprintf(stderr, "carectl: --timeout \"%s\" is not a duration like 5s\n", arg.substr(10).c_str());
        return false;
      }
    } else {
      flags.words.push_back(arg);
    }
  }
  return true;
}

// The command `words` names: "<name>" for top-level ones, else "<group> <name>".
struct Lookup {
  const Command* command = nullptr;  // null: not found
  size_t consumed = 0;               // how many words named it
  bool known_group = false;          // words[0] is a group
};

Lookup FindCommand(const std::vector<Command>& commands, const std::vector<std::string>& words) {
  Lookup found;
  for (const auto& c : commands) {
    if (c.group.empty() && !words.empty() && words[0] == c.name) {
      found.command = &c;
      found.consumed = 1;
    }
    if (!c.group.empty() && !words.empty() && words[0] == c.group) {
      found.known_group = true;
      if (words.size() > 1 && words[1] == c.name) {
        found.command = &c;
        found.consumed = 2;
      }
    }
  }
  return found;
}

// No command found: the list asked for (kOk), or why not and the list (kUsage).
int NoCommand(const std::vector<Command>& commands, const GlobalFlags& flags, bool known_group) {
  const std::vector<std::string>& words = flags.words;
  std::string group = known_group ? words[0] : "";
  if (flags.help && (words.empty() || (known_group && words.size() == 1))) {
    PrintCommands(stdout, commands, group);
    return kOk;
  }
  if (words.empty()) {
    std::fprintf(stderr, "carectl: no command given\n");
  } else if (!known_group) {
    std::fprintf(stderr, "carectl: unknown command \"%s\"\n", words[0].c_str());
  } else if (words.size() == 1) {
    std::fprintf(stderr, "carectl: %s needs a command\n", group.c_str());
  } else {
    std::fprintf(stderr, "carectl: unknown command \"%s %s\"\n", group.c_str(), words[1].c_str());
  }
  PrintCommands(stderr, commands, group);
  return kUsage;
}

// The token from --token_file and the target for `command`'s group. False (after printing why) on an
// unreadable token file.
bool ResolveTokenAndTarget(const Command& command, GlobalFlags& flags) {
  Options& options = flags.options;
  if (!flags.token_file.empty()) {
    auto token = care::ReadSecretFile(flags.token_file);
    if (!token.ok()) {
      std::fprintf(stderr, "carectl: %s\n", std::string(token.status().message()).c_str());
      return false;
    }
    options.token = *token;
  }
  if (options.target.empty()) {
    std::string env = command.group.empty()
                          ? ""
                          : Env(absl::StrCat("CARE_", absl::AsciiStrToUpper(command.group), "_TARGET").c_str());
    options.target = !env.empty()                  ? env
                     : !Env("CARE_TARGET").empty() ? Env("CARE_TARGET")
                                                   : kDefaultTargets.at(command.group);
  }
  return true;
}

// Bad TLS files are a usage error (nothing sent), not a handshake failure. False after printing why.
bool CheckTlsFiles(care::PeerTls& tls) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    std::fprintf(stderr, "carectl: --cert_file and --key_file go together\n");
    return false;
  }
  if (!tls.cert_file.empty()) {
    if (absl::Status s = care::CheckKeyPair(tls.cert_file, tls.key_file); !s.ok()) {
      std::fprintf(stderr, "carectl: --cert_file/--key_file: %s\n", std::string(s.message()).c_str());
      return false;
    }
  }
  if (!tls.ca_file.empty()) {
    if (absl::Status s = care::CheckCertificatesFile(tls.ca_file); !s.ok()) {
      std::fprintf(stderr, "carectl: --ca_file: %s\n", std::string(s.message()).c_str());
      return false;
    }
  }
  tls.enabled = tls.enabled || !tls.ca_file.empty() || !tls.cert_file.empty();
  return true;
}

int Main(int argc, char** argv) {
  std::vector<Command> commands = AllCommands();
  GlobalFlags flags;
  if (!ParseGlobalFlags(argc, argv, flags)) return kUsage;
  Lookup found = FindCommand(commands, flags.words);
  if (found.command == nullptr) return NoCommand(commands, flags, found.known_group);
  const Command& command = *found.command;
  std::string usage = absl::StrCat("usage: carectl ", FullName(command), " ", command.usage, "\n  ", command.help,
                                   "\n");
  if (flags.help) {
    std::printf("%s", usage.c_str());
    return kOk;
  }
  if (!ResolveTokenAndTarget(command, flags) || !CheckTlsFiles(flags.tls)) return kUsage;
  // Only replicas serving the group's service get the call (any live one for ping).
  Context context(flags.options,
                  care::DialPeer(flags.options.target, flags.tls, care::clients::PeerHealthService(command.group)));
  Args args(std::vector<std::string>(flags.words.begin() + static_cast<std::ptrdiff_t>(found.consumed),
                                     flags.words.end()));
  try {
    return command.run(context, args);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "carectl %s: %s\n%s", FullName(command).c_str(), e.what(), usage.c_str());
    return kUsage;
  }
}

}  // namespace
}  // namespace carectl

int main(int argc, char** argv) { return carectl::Main(argc, argv); }
