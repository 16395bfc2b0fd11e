#include "services/notification/unsubscribe.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"

namespace care::notification {
namespace {

// Names the format and the purpose; it is part of what is signed, so a MAC
// made for anything else never verifies here.
constexpr absl::string_view kFormat = "u1";
constexpr absl::string_view kPurpose = "care.notification.unsubscribe.v1";

absl::Status Invalid() {
  return Error(absl::StatusCode::kInvalidArgument, "TOKEN_INVALID", "the unsubscribe token is malformed or altered");
}

std::string Signed(absl::string_view payload) { return absl::StrCat(kPurpose, "\n", payload); }

}  // namespace

std::string UnsubscribeTokens::Mint(const UnsubscribeClaim& claim) const {
  // Ids never hold '\n' (they are validated ids), so the fields split back.
  const std::string payload = absl::StrJoin({claim.member_id, claim.delivery_id, std::to_string(claim.channel),
                                             std::to_string(absl::ToUnixSeconds(claim.issued))},
                                            "\n");
  return absl::StrCat(kFormat, ".", keys_.signing_id(), ".", absl::WebSafeBase64Escape(payload), ".",
                      absl::WebSafeBase64Escape(keys_.Sign(Signed(payload))));
}

absl::StatusOr<UnsubscribeClaim> UnsubscribeTokens::Verify(absl::string_view token, absl::Time now) const {
  if (token.size() > kMaxUnsubscribeTokenBytes) return Invalid();
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 4 || parts[0] != kFormat) return Invalid();
  std::string payload, mac;
  // Only the canonical encoding: otherwise the unused low bits of the last
  // character would give one token several spellings.
  if (!absl::WebSafeBase64Unescape(parts[2], &payload) || !absl::WebSafeBase64Unescape(parts[3], &mac) ||
      absl::WebSafeBase64Escape(payload) != parts[2] || absl::WebSafeBase64Escape(mac) != parts[3]) {
    return Invalid();
  }
  if (!keys_.Verify(parts[1], Signed(payload), mac)) return Invalid();
  std::vector<std::string> fields = absl::StrSplit(payload, '\n');
  UnsubscribeClaim claim;
  int64_t issued = 0;
  if (fields.size() != 4 || fields[0].empty() || fields[1].empty() || !absl::SimpleAtoi(fields[2], &claim.channel) ||
      !absl::SimpleAtoi(fields[3], &issued)) {
    return Invalid();
  }
  claim.member_id = std::move(fields[0]);
  claim.delivery_id = std::move(fields[1]);
  claim.issued = absl::FromUnixSeconds(issued);
  if (now > claim.issued + ttl_) {
    return Error(absl::StatusCode::kInvalidArgument, "TOKEN_EXPIRED",
                 "the unsubscribe link has expired; the member can withdraw consent in the app or with an agent");
  }
  return claim;
}

std::string UnsubscribeLink(absl::string_view base, absl::string_view token) {
  if (absl::StrContains(base, "{token}")) return absl::StrReplaceAll(base, {{"{token}", token}});
  return absl::StrCat(base, absl::StrContains(base, '?') ? "&" : "?", "token=", token);
}

std::string UnsubscribeUrlProblem(absl::string_view url) {
  if (url.empty()) return "";
  if (url.size() > kMaxUnsubscribeUrlBytes) return absl::StrCat("is longer than ", kMaxUnsubscribeUrlBytes, " bytes");
  if (!absl::StartsWithIgnoreCase(url, "https://")) return "must be an https URL (RFC 8058)";
  const absl::string_view rest = url.substr(8);
  const absl::string_view authority = rest.substr(0, rest.find_first_of("/?"));
  if (authority.empty()) return "has no host";
  if (absl::StrContains(authority, '@')) return "must not carry credentials";
  for (char c : url) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) || absl::ascii_iscntrl(static_cast<unsigned char>(c)) ||
        c == '<' || c == '>' || c == '#') {
      return "must not contain spaces, control characters, '<', '>' or a fragment";
    }
  }
  return "";
}

}  // namespace care::notification
