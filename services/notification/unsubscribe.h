#pragma once

// List-Unsubscribe tokens (RFC 8058 one-click): a marketing e-mail's link
// names the member and the delivery it came from, signed so that nobody can
// withdraw another member's consent, and bound to this one purpose so that
// no other token of the suite is accepted in its place.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/key_file.h"

namespace care::notification {

// Longest token accepted (ids are bounded, so real ones are far shorter).
inline constexpr size_t kMaxUnsubscribeTokenBytes = 1024;
// Longest unsubscribe_url accepted.
inline constexpr size_t kMaxUnsubscribeUrlBytes = 2048;

// What a valid token says.
struct UnsubscribeClaim {
  std::string member_id;
  std::string delivery_id;
  int channel = 0;  // care.common.v1.MessageChannel
  absl::Time issued;
};

class UnsubscribeTokens final {
 public:
  // `keys` as --unsubscribe_key_file lists them (the first signs); `ttl`:
  // how long after its e-mail was created a link still works.
  UnsubscribeTokens(const std::vector<NamedKey>& keys, absl::Duration ttl) : keys_(keys), ttl_(ttl) {}

  // The token of one delivery. Deterministic: every attempt of a delivery
  // (issued = its creation time) carries the same link.
  std::string Mint(const UnsubscribeClaim& claim) const;

  // The claim of a token this service signed, or INVALID_ARGUMENT with
  // reason TOKEN_INVALID (malformed, altered, unknown key) or TOKEN_EXPIRED.
  absl::StatusOr<UnsubscribeClaim> Verify(absl::string_view token, absl::Time now) const;

 private:
  HmacKeyRing keys_;
  absl::Duration ttl_;
};

// `base` (an https URL) with `token` in place of `{token}`, or appended to
// the query as `token=` when the URL has no placeholder.
std::string UnsubscribeLink(absl::string_view base, absl::string_view token);

// Whether `url` may be stored as the unsubscribe URL: empty (means unset),
// or an absolute https URL without credentials, fragment or whitespace, at
// most kMaxUnsubscribeUrlBytes. Returns the problem, or "" when fine.
std::string UnsubscribeUrlProblem(absl::string_view url);

}  // namespace care::notification
