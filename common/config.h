#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace care {

// Reads settings from `--name=value` flags, then `CARE_NAME` environment
// variables, then defaults. Every problem (unknown flag, bad value) is
// collected; Finish() reports them all and stops the process, so a
// misconfigured pod fails at start-up, not at its first request.
class ConfigReader final {
 public:
  ConfigReader(int argc, char** argv, absl::string_view program_help);

  std::string String(absl::string_view name, absl::string_view default_value, absl::string_view help);
  int64_t Int(absl::string_view name, int64_t default_value, int64_t min, int64_t max, absl::string_view help);
  bool Bool(absl::string_view name, bool default_value, absl::string_view help);
  // Accepts absl durations: "250ms", "3s", "72h".
  absl::Duration Duration(absl::string_view name, absl::Duration default_value, absl::string_view help);

  // A peer: "host:port" (port 1..65535) or a gRPC target URI naming its
  // replicas ("dns:///loyalty-headless:50051", "ipv4:10.0.0.1:50051,10.0.0.2:50051");
  // "" when not set.
  std::string Target(absl::string_view name, absl::string_view help);

  // Records an error found by a cross-field check of the caller.
  void AddError(absl::string_view message);

  // Prints --help and exits 0, or prints every error and exits 2.
  void Finish();

 private:
  // The raw value if set by flag or environment, and where it came from.
  bool Lookup(absl::string_view name, std::string* value, std::string* source);
  void Describe(absl::string_view name, absl::string_view default_text, absl::string_view help);

  std::string program_help_;
  std::map<std::string, std::string, std::less<>> flags_;
  std::map<std::string, bool, std::less<>> used_;
  std::vector<std::string> errors_;
  std::vector<std::string> help_lines_;
  bool help_ = false;
};

}  // namespace care
