#include "tools/carectl/parser.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace carectl {
namespace {

constexpr char kGlobalUsage[] =
    "usage: carectl [flags] <group> <command> [args]   (flags anywhere; --flag value or --flag=value)\n"
    "  --target HOST:PORT  the service; default CARE_<GROUP>_TARGET, CARE_TARGET, else 127.0.0.1:5005x;\n"
    "                      also dns:///host:port or ipv4:10.0.0.1:50051,10.0.0.2:50051 (replicas, balanced)\n"
    "  --token-file F      file holding the bearer token; default CARE_TOKEN_FILE, else the token itself in\n"
    "                      CARE_TOKEN. --token T works too but shows the token in ps and shell history.\n"
    "                      A flag always beats the environment.\n"
    "  -o, --output FMT    table (default), json (every field, zero values too) or yaml\n"
    "  --timeout 10s       deadline of the call\n"
    "  --tls               call over TLS with the system roots (CARE_TLS=1); implied by --ca-file or --cert-file\n"
    "  --ca-file F         PEM CA bundle the service's certificate must chain to (CARE_CA_FILE)\n"
    "  --cert-file F       PEM client certificate for mutual TLS, with --key-file (CARE_CERT_FILE, CARE_KEY_FILE)\n"
    "  --tls-server-name N name the certificate is checked against instead of the target's host\n"
    "                      (CARE_SERVER_NAME)\n"
    "  -h, --help          after any group or command: its usage\n"
    "exit codes: 0 ok, 1 the call failed (status code and reason on stderr), 2 bad usage (nothing sent)\n";

// The commands under `prefix` ("" for all, "loyalty", "loyalty outbox").
void PrintCommands(FILE* out, const std::vector<Command>& commands, const std::string& prefix) {
  std::fprintf(out, "%s\ncommands:\n", kGlobalUsage);
  for (const auto& c : commands) {
    if (!prefix.empty() && c.group != prefix && !absl::StartsWith(c.group, prefix + " ")) continue;
    std::fprintf(out, "  carectl %s %s\n      %s\n", FullName(c).c_str(), c.usage.c_str(), c.help.c_str());
  }
}

// Where CLI11 puts one command's arguments.
struct Bound {
  const Command* command = nullptr;
  std::vector<CLI::Option*> positionals;
  std::map<std::string, CLI::Option*> flags;  // kebab-case name -> option
  std::map<std::string, std::string> values;
  std::map<std::string, std::vector<std::string>> lists;
  std::map<std::string, bool> bools;
};

// One flag of a usage string: `--page_size=50` takes a value, `--unread` does not.
void AddFlag(CLI::App* sub, const std::string& token, Bound& b) {
  size_t eq = token.find('=');
  std::string key = token.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
  if (b.flags.count(key)) return;  // named twice, e.g. in two alternatives
  // The snake_case spelling older scripts use stays accepted.
  std::string snake = key;
  std::replace(snake.begin(), snake.end(), '-', '_');
  std::string names = absl::StrCat(key == "file" ? "-f," : "", "--", key, key != snake ? ",--" + snake : "");
  b.flags[key] = eq == std::string::npos ? sub->add_flag(names, b.bools[key]) : sub->add_option(names, b.values[key]);
}

// The options and positionals a command's usage string names (cli.h, Command::usage).
void AddArguments(CLI::App* sub, Bound& b) {
  for (absl::string_view raw : absl::StrSplit(b.command->usage, ' ', absl::SkipEmpty())) {
    std::string token(raw);
    token.erase(std::remove_if(token.begin(), token.end(),
                               [](char c) { return std::string("[]()").find(c) != std::string::npos; }),
                token.end());
    if (token.empty() || token == "|") continue;
    if (absl::StartsWith(token, "--")) {
      AddFlag(sub, token, b);
      continue;
    }
    std::string name = absl::StrCat("arg", b.positionals.size());
    if (absl::EndsWith(token, "...")) {
      b.positionals.push_back(sub->add_option(name, b.lists[name]));
    } else {
      b.positionals.push_back(sub->add_option(name, b.values[name]));
    }
  }
}

class Parser {
 public:
  Parser(const std::vector<Command>& commands, GlobalFlags& flags) : commands_(commands) {
    app_.name("carectl");
    app_.fallthrough();
    app_.require_subcommand(1);
    AddGlobalFlags(flags);
    for (const auto& c : commands_) AddCommand(c);
    AddCommand(version_);
  }

  Parsed Parse(int argc, char** argv) {
    Parsed parsed;
    try {
      app_.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
      PrintHelp(Deepest(&app_));
      parsed.exit = kOk;
      return parsed;
    } catch (const CLI::ParseError& e) {
      PrintUsageError(Deepest(&app_), e);
      parsed.exit = kUsage;
      return parsed;
    }
    const Bound* b = bound_.at(Deepest(&app_)).get();
    parsed.command = b->command == &version_ ? nullptr : b->command;
    for (const auto* opt : b->positionals) {
      if (opt->count() == 0) continue;
      for (const auto& r : opt->results()) parsed.positionals.push_back(r);
    }
    for (const auto& [key, opt] : b->flags) {
      if (opt->count() == 0) continue;
      parsed.flags[key] = b->bools.count(key) ? (b->bools.at(key) ? "true" : "false") : b->values.at(key);
    }
    return parsed;
  }

 private:
  void AddGlobalFlags(GlobalFlags& f) {
    app_.add_option("--target", f.target);
    app_.add_option("--token", f.token);
    app_.add_option("--token-file,--token_file", f.token_file);
    app_.add_option("-o,--output", f.output)->check(CLI::IsMember({"table", "json", "yaml"}));
    app_.add_flag("--json", f.json);
    app_.add_option("--timeout", f.timeout);
    app_.add_flag("--tls", f.tls.enabled)->envname("CARE_TLS");
    app_.add_option("--ca-file,--ca_file", f.tls.ca_file)->envname("CARE_CA_FILE");
    app_.add_option("--cert-file,--cert_file", f.tls.cert_file)->envname("CARE_CERT_FILE");
    app_.add_option("--key-file,--key_file", f.tls.key_file)->envname("CARE_KEY_FILE");
    app_.add_option("--tls-server-name,--server-name,--server_name", f.tls.server_name)->envname("CARE_SERVER_NAME");
  }

  // The group's subcommand, made on first use ("loyalty outbox": two levels).
  CLI::App* Group(const std::string& path) {
    CLI::App* at = &app_;
    std::string sofar;
    for (absl::string_view part : absl::StrSplit(path, ' ', absl::SkipEmpty())) {
      sofar = sofar.empty() ? std::string(part) : absl::StrCat(sofar, " ", part);
      CLI::App* next = nullptr;
      for (CLI::App* sub : at->get_subcommands([](CLI::App*) { return true; })) {
        if (sub->get_name() == part) next = sub;
      }
      if (next == nullptr) {
        next = at->add_subcommand(std::string(part), sofar);
        next->require_subcommand(1);
        groups_[next] = sofar;
      }
      at = next;
    }
    return at;
  }

  void AddCommand(const Command& c) {
    CLI::App* sub = Group(c.group)->add_subcommand(c.name, c.help);
    auto b = std::make_unique<Bound>();
    b->command = &c;
    AddArguments(sub, *b);
    bound_[sub] = std::move(b);
  }

  static CLI::App* Deepest(CLI::App* app) {
    auto subs = app->get_subcommands();
    return subs.empty() ? app : Deepest(subs.front());
  }

  std::string GroupOf(CLI::App* app) const {
    auto it = groups_.find(app);
    return it == groups_.end() ? "" : it->second;
  }

  void PrintHelp(CLI::App* at) const {
    auto it = bound_.find(at);
    if (it != bound_.end()) {
      std::printf("%s", CommandUsage(*it->second->command).c_str());
    } else {
      PrintCommands(stdout, commands_, GroupOf(at));
    }
  }

  // A short usage: what was wrong, the command's usage line (or the group's commands), where help is.
  void PrintUsageError(CLI::App* at, const CLI::ParseError& e) const {
    auto it = bound_.find(at);
    if (it != bound_.end()) {
      const Command& c = *it->second->command;
      std::fprintf(stderr, "carectl %s: %s\nusage: carectl %s %s\n", FullName(c).c_str(), e.what(), FullName(c).c_str(),
                   c.usage.c_str());
      return;
    }
    std::string group = GroupOf(at);
    std::vector<std::string> extra = app_.remaining(true);
    if (!extra.empty() && !absl::StartsWith(extra.front(), "-")) {
      std::fprintf(stderr, "carectl: unknown command \"%s\"\n", absl::StrJoin({group, extra.front()}, " ").c_str());
    } else if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr && extra.empty()) {
      std::fprintf(stderr, group.empty() ? "carectl: no command given\n" : "carectl: %s needs a command\n",
                   group.c_str());
    } else {
      std::fprintf(stderr, "carectl: %s\n", e.what());
    }
    std::vector<std::string> names;
    for (const auto* sub : at->get_subcommands([](CLI::App*) { return true; })) names.push_back(sub->get_name());
    std::fprintf(stderr, "usage: carectl %s%s<command> [args]   commands: %s\nrun \"carectl %s%s--help\" for more\n",
                 group.c_str(), group.empty() ? "" : " ", absl::StrJoin(names, ", ").c_str(), group.c_str(),
                 group.empty() ? "" : " ");
  }

  const std::vector<Command>& commands_;
  Command version_{"", "version", "", "prints carectl's version and the git commit it was built from", nullptr};
  CLI::App app_;
  std::map<CLI::App*, std::unique_ptr<Bound>> bound_;
  std::map<CLI::App*, std::string> groups_;
};

}  // namespace

std::string FullName(const Command& c) { return c.group.empty() ? c.name : absl::StrCat(c.group, " ", c.name); }

std::string CommandUsage(const Command& command) {
  return absl::StrCat("usage: carectl ", FullName(command), " ", command.usage, "\n  ", command.help,
                      "\nglobal flags (--target, --token-file, -o json|yaml|table, TLS): carectl --help\n");
}

Parsed ParseCommandLine(const std::vector<Command>& commands, int argc, char** argv, GlobalFlags& flags) {
  Parser parser(commands, flags);
  return parser.Parse(argc, argv);
}

}  // namespace carectl
