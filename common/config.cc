#include "common/config.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace care {

ConfigReader::ConfigReader(int argc, char** argv, absl::string_view program_help) : program_help_(program_help) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help_ = true;
      continue;
    }
    if (arg.substr(0, 2) != "--") {
      errors_.push_back(absl::StrCat("unexpected argument \"", arg, "\" (flags are --name=value)"));
      continue;
    }
    arg.remove_prefix(2);
    auto eq = arg.find('=');
    std::string name(arg.substr(0, eq));
    for (char& c : name) c = c == '-' ? '_' : c;
    flags_[name] = eq == absl::string_view::npos ? "true" : std::string(arg.substr(eq + 1));
  }
}

bool ConfigReader::Lookup(absl::string_view name, std::string* value, std::string* source) {
  used_[std::string(name)] = true;
  if (auto it = flags_.find(name); it != flags_.end()) {
    *value = it->second;
    *source = absl::StrCat("--", name);
    return true;
  }
  std::string env = absl::StrCat("CARE_", absl::AsciiStrToUpper(name));
  if (const char* v = std::getenv(env.c_str())) {
    *value = v;
    *source = env;
    return true;
  }
  return false;
}

void ConfigReader::Describe(absl::string_view name, absl::string_view default_text, absl::string_view help) {
  help_lines_.push_back(absl::StrCat("  --", name, " (env CARE_", absl::AsciiStrToUpper(name), ", default \"",
                                     default_text, "\")\n      ", help));
}

std::string ConfigReader::String(absl::string_view name, absl::string_view default_value, absl::string_view help) {
  Describe(name, default_value, help);
  std::string value, source;
  return Lookup(name, &value, &source) ? value : std::string(default_value);
}

int64_t ConfigReader::Int(absl::string_view name, int64_t default_value, int64_t min, int64_t max,
                          absl::string_view help) {
  Describe(name, absl::StrCat(default_value), help);
  std::string value, source;
  if (!Lookup(name, &value, &source)) return default_value;
  int64_t parsed;
  if (!absl::SimpleAtoi(value, &parsed) || parsed < min || parsed > max) {
    AddError(absl::StrCat(source, "=\"", value, "\": must be an integer from ", min, " to ", max));
    return default_value;
  }
  return parsed;
}

bool ConfigReader::Bool(absl::string_view name, bool default_value, absl::string_view help) {
  Describe(name, default_value ? "true" : "false", help);
  std::string value, source;
  if (!Lookup(name, &value, &source)) return default_value;
  bool parsed;
  if (!absl::SimpleAtob(value, &parsed)) {
    AddError(absl::StrCat(source, "=\"", value, "\": must be true or false"));
    return default_value;
  }
  return parsed;
}

absl::Duration ConfigReader::Duration(absl::string_view name, absl::Duration default_value, absl::string_view help) {
  Describe(name, absl::FormatDuration(default_value), help);
  std::string value, source;
  if (!Lookup(name, &value, &source)) return default_value;
  absl::Duration parsed;
  if (!absl::ParseDuration(value, &parsed) || parsed < absl::ZeroDuration()) {
    AddError(absl::StrCat(source, "=\"", value, "\": must be a duration such as 250ms, 3s, 72h"));
    return default_value;
  }
  return parsed;
}

namespace {

// "host:port" with a port 1..65535 (an IPv6 host in brackets).
bool IsHostPort(absl::string_view address) {
  auto colon = address.rfind(':');
  int port = 0;
  return colon != absl::string_view::npos && colon > 0 && absl::SimpleAtoi(address.substr(colon + 1), &port) &&
         port > 0 && port <= 65535;
}

// What gRPC's resolvers take: host:port, dns:[//authority/]host:port, or
// ipv4:/ipv6: followed by a comma-separated list of addresses.
bool IsTarget(absl::string_view target) {
  if (absl::ConsumePrefix(&target, "dns:")) {
    if (absl::ConsumePrefix(&target, "//")) {
      auto slash = target.find('/');
      if (slash == absl::string_view::npos) return false;
      target.remove_prefix(slash + 1);
    }
    return IsHostPort(target);
  }
  if (absl::ConsumePrefix(&target, "ipv4:") || absl::ConsumePrefix(&target, "ipv6:")) {
    for (absl::string_view address : absl::StrSplit(target, ',')) {
      if (!IsHostPort(address)) return false;
    }
    return true;
  }
  return IsHostPort(target);
}

}  // namespace

std::string ConfigReader::Target(absl::string_view name, absl::string_view help) {
  std::string target = String(name, "", help);
  if (!target.empty() && !IsTarget(target)) {
    AddError(absl::StrCat(name, " \"", target,
                          "\" is not host:port, dns:///host:port or ipv4:/ipv6: followed by host:port,host:port"));
  }
  return target;
}

void ConfigReader::AddError(absl::string_view message) { errors_.emplace_back(message); }

void ConfigReader::Finish() {
  if (help_) {
    std::printf("%s\n\nOptions:\n", program_help_.c_str());
    for (const auto& line : help_lines_) std::printf("%s\n", line.c_str());
    std::exit(0);
  }
  for (const auto& [name, value] : flags_) {
    if (!used_.count(name)) errors_.push_back(absl::StrCat("unknown flag --", name));
  }
  if (errors_.empty()) return;
  for (const auto& e : errors_) std::fprintf(stderr, "configuration error: %s\n", e.c_str());
  std::fprintf(stderr, "run with --help to list the options\n");
  std::exit(2);
}

}  // namespace care
