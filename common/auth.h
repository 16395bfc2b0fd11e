#pragma once

#include <initializer_list>
#include <map>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "care/common/v1/common.pb.h"

namespace care {

// Who is calling, as established by the bearer token.
struct Principal {
  std::string name;  // e.g. "checkout", "agent:alice", "svc:promotion"
  std::set<care::common::v1::Role> roles;
};

// Maps bearer tokens to principals. The file (a mounted Kubernetes Secret in
// production) holds one token per line: `<token> <principal> <role>[,<role>]`
// with roles named service, agent, supervisor, admin, peer (the suite's own
// services: `svc:loyalty peer` and so on); `#` starts a comment.
// A token listed twice is an error naming both lines. FromFile logs a warning
// when others may read the file (world-readable, group-writable, or
// group-readable while this user owns it).
class TokenRegistry final {
 public:
  static absl::StatusOr<TokenRegistry> FromFile(const std::string& path);
  static absl::StatusOr<TokenRegistry> FromText(absl::string_view text);

  // UNAUTHENTICATED (reason MISSING_TOKEN / INVALID_TOKEN) unless `header`
  // is "Bearer <known token>" (the scheme in any case, RFC 6750).
  // The principal lives as long as the registry.
  absl::StatusOr<const Principal*> Authenticate(absl::string_view authorization_header) const;

 private:
  std::map<std::string, Principal, std::less<>> by_token_;
};

// PERMISSION_DENIED (reason MISSING_ROLE) unless the principal holds one of `allowed`.
absl::Status Authorize(const Principal& principal, const care::common::v1::Access& allowed, absl::string_view method);

// Ties a method a peer may call to the CareSuite services that legitimately
// call it: a principal holding ROLE_PEER must be one of
// `allowed_principals` (e.g. {"svc:complaint"}), else PERMISSION_DENIED with
// reason PEER_NOT_ALLOWED naming the method and the allowed principals, so a
// compromised peer cannot use another's path. Principals without ROLE_PEER
// pass (their roles were checked by Authorize). Call after Authorize.
absl::Status AuthorizePeer(const Principal& principal, std::initializer_list<absl::string_view> allowed_principals,
                           absl::string_view method);

// Reads a token file's single line or the whole file, trimmed: how a service
// finds the token it presents when calling another service.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

}  // namespace care
