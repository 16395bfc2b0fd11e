#pragma once

// carectl's command line on CLI11: a subcommand per group (loyalty, complaint
// sla-policy, ...) and per command, the global flags accepted anywhere,
// `--flag value` and `--flag=value` alike, kebab-case names with the old
// snake_case spellings kept as aliases. An explicit flag beats the
// environment (CLI11 reads CARE_* only for flags not given).

#include <map>
#include <string>
#include <vector>

#include "common/tls.h"
#include "tools/carectl/cli.h"

namespace carectl {

// The global flags after parsing.
struct GlobalFlags {
  std::string target;
  std::string token;       // --token, given explicitly
  std::string token_file;  // --token-file, given explicitly
  std::string output = "table";
  bool json = false;  // old spelling of -o json
  std::string timeout = "10s";
  care::PeerTls tls;
};

struct Parsed {
  // >= 0: parsing ended the run (help printed: kOk; a usage error printed: kUsage).
  int exit = -1;
  const Command* command = nullptr;  // null with exit -1: `carectl version`
  std::vector<std::string> positionals;
  std::map<std::string, std::string> flags;  // the command's flags that were given
};

// Parses argv against `commands`; prints help or a short usage itself.
Parsed ParseCommandLine(const std::vector<Command>& commands, int argc, char** argv, GlobalFlags& flags);

// "loyalty outbox dead"; "ping".
std::string FullName(const Command& command);
// "loyalty get-member <member_id>\n  shows ...": what `--help` on a command prints.
std::string CommandUsage(const Command& command);

}  // namespace carectl
