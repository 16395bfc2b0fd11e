#include "common/auth.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "common/log.h"

namespace care {
namespace {

using care::common::v1::Role;

bool ParseRole(absl::string_view name, Role* role) {
  static const std::map<absl::string_view, Role> kRoles = {
      {"service", care::common::v1::ROLE_SERVICE},
      {"agent", care::common::v1::ROLE_AGENT},
      {"supervisor", care::common::v1::ROLE_SUPERVISOR},
      {"admin", care::common::v1::ROLE_ADMIN},
      {"peer", care::common::v1::ROLE_PEER},
  };
  auto it = kRoles.find(name);
  if (it == kRoles.end()) return false;
  *role = it->second;
  return true;
}

// Compares without an early exit, so response time says nothing about how
// much of a guessed token was right.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// Why a tokens file's permissions expose it, or "" when they do not. Group
// read alone is fine when the group is how this process reads a file it does
// not own (a Kubernetes Secret: root-owned, mode 0440, the pod's fsGroup).
absl::string_view TokenFileExposure(mode_t mode, bool owned_by_this_user) {
  if (mode & (S_IROTH | S_IWOTH)) return "readable or writable by every user (chmod 600)";
  if (mode & S_IWGRP) return "writable by its group (chmod 600)";
  if ((mode & S_IRGRP) && owned_by_this_user) return "readable by its group (chmod 600)";
  return "";
}

}  // namespace

absl::StatusOr<TokenRegistry> TokenRegistry::FromText(absl::string_view text) {
  TokenRegistry registry;
  std::map<std::string, int, std::less<>> first_line;  // token -> the line that listed it
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (parts.size() != 3 || parts[0].size() < 16) {
      return absl::InvalidArgumentError(absl::StrCat("token file line ", line_no,
                                                     ": want `<token of 16+ chars> <principal> <roles>`"));
    }
    // A token listed twice would silently take the later line's principal
    // and roles; the message names the lines, never the token.
    if (auto it = first_line.find(parts[0]); it != first_line.end()) {
      return absl::InvalidArgumentError(absl::StrCat("token file line ", line_no, ": the same token as line ",
                                                     it->second));
    }
    first_line.emplace(std::string(parts[0]), line_no);
    Principal p{std::string(parts[1]), {}};
    for (absl::string_view r : absl::StrSplit(parts[2], ',')) {
      Role role;
      if (!ParseRole(r, &role)) {
        return absl::InvalidArgumentError(absl::StrCat("token file line ", line_no, ": unknown role \"", r, "\""));
      }
      p.roles.insert(role);
    }
    registry.by_token_[std::string(parts[0])] = std::move(p);
  }
  if (registry.by_token_.empty()) return absl::InvalidArgumentError("token file has no tokens");
  return registry;
}

absl::StatusOr<TokenRegistry> TokenRegistry::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read token file ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  auto registry = FromText(ss.str());
  if (!registry.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", registry.status().message()));
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    absl::string_view why = TokenFileExposure(st.st_mode, st.st_uid == ::geteuid());
    if (!why.empty()) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      LogWarn("the tokens file is open to more than this service", {{"file", path}, {"mode", mode}, {"why", why}});
    }
  }
  return registry;
}

absl::StatusOr<const Principal*> TokenRegistry::Authenticate(absl::string_view header) const {
  // RFC 6750 (by RFC 7235): the scheme name is case-insensitive.
  constexpr absl::string_view kPrefix = "Bearer ";
  if (header.empty()) {
    return Error(absl::StatusCode::kUnauthenticated, "MISSING_TOKEN",
                 "missing `authorization: Bearer <token>` metadata");
  }
  if (!absl::StartsWithIgnoreCase(header, kPrefix)) {
    return Error(absl::StatusCode::kUnauthenticated, "INVALID_TOKEN",
                 "authorization metadata must be `Bearer <token>`");
  }
  absl::string_view token = header.substr(kPrefix.size());
  const Principal* found = nullptr;
  for (const auto& [known, principal] : by_token_) {
    if (ConstantTimeEquals(known, token)) found = &principal;
  }
  if (found == nullptr) return Error(absl::StatusCode::kUnauthenticated, "INVALID_TOKEN", "unknown token");
  return found;
}

absl::Status Authorize(const Principal& principal, const care::common::v1::Access& allowed, absl::string_view method) {
  std::vector<std::string> names;
  for (int r : allowed.roles()) {
    if (principal.roles.count(static_cast<Role>(r))) return absl::OkStatus();
    names.push_back(care::common::v1::Role_Name(static_cast<Role>(r)));
  }
  return Error(absl::StatusCode::kPermissionDenied, "MISSING_ROLE",
               absl::StrCat(principal.name, " may not call ", method, " (needs one of ", absl::StrJoin(names, ", "),
                            ")"),
               {{"method", std::string(method)}, {"principal", principal.name}});
}

absl::Status AuthorizePeer(const Principal& principal, std::initializer_list<absl::string_view> allowed_principals,
                           absl::string_view method) {
  // A peer is judged by its principal even if its token also lists a human
  // role: peer tokens are machine credentials and must not widen by accident.
  if (!principal.roles.count(care::common::v1::ROLE_PEER)) return absl::OkStatus();
  for (absl::string_view allowed : allowed_principals) {
    if (principal.name == allowed) return absl::OkStatus();
  }
  std::string names = absl::StrJoin(allowed_principals, ", ");
  return Error(absl::StatusCode::kPermissionDenied, "PEER_NOT_ALLOWED",
               absl::StrCat(principal.name, " may not call ", method, " (only ", names, " among peers)"),
               {{"method", std::string(method)}, {"principal", principal.name}, {"allowed", names}});
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(ss.str()));
}

}  // namespace care
