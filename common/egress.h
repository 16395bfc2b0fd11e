#pragma once

// Outbound-connection policy: which URL schemes a
// channel may use and which resolved addresses it may connect to. Pure
// logic, no sockets or libcurl, so the rules are unit-tested here and the
// transports (services/notification/channels_curl.cc) only apply them.
//
// The rules, in order:
//  - webhooks: scheme https; http only when the URL's host is on the
//    allow-list. SMTP: smtp or smtps. Anything else (file, gopher, dict, ...)
//    is refused.
//  - an address is refused when it is not public (NonPublicKind) or inside
//    one of the cluster's ranges, unless it lies in an allow-listed CIDR or
//    the URL's host is an allow-listed name.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct sockaddr;

namespace care {

// Bounds of an address-list flag (--egress_allowlist, --egress_cluster_cidrs).
inline constexpr size_t kMaxEgressEntries = 64;
inline constexpr size_t kMaxEgressListBytes = 4096;

// An IPv4 or IPv6 address. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is
// kept as its IPv4 form, so a rule or a CIDR sees one spelling of it.
struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4 in bytes[0..3]

  // A literal "10.0.0.5", "::1" or "[::1]" (dotted-quad IPv4 only); nullopt otherwise.
  static std::optional<IpAddress> Parse(absl::string_view text);
  // The address of an AF_INET / AF_INET6 socket address; nullopt for other families.
  static std::optional<IpAddress> FromSockaddr(const sockaddr* address);
  std::string ToString() const;
};

// A range "10.0.0.0/8" or "fd00::/8"; a bare address is one host (/32, /128).
struct Cidr {
  IpAddress base;
  int prefix_length = 0;

  // Nullopt for a malformed range, or one with bits set past the prefix
  // ("10.0.0.1/8" is a typo, not a range).
  static std::optional<Cidr> Parse(absl::string_view text);
  bool Contains(const IpAddress& address) const;
};

// Why `address` is not a public internet address: "unspecified",
// "loopback", "private", "link-local", "shared (CGNAT)", "multicast",
// "broadcast" or "reserved"; empty when it is public. IPv6 forms that embed
// an IPv4 address (IPv4-compatible ::/96, NAT64 64:ff9b::/96, 6to4
// 2002::/16) are judged by the embedded address.
std::string NonPublicKind(const IpAddress& address);

// The URL kinds a channel sends to.
enum class EgressUrlKind { kWebhook, kSmtp };

// A refused URL or address: an ErrorInfo-style reason and a short text that
// holds nothing from the remote side.
struct EgressRefusal {
  std::string reason;   // URL_SCHEME_NOT_ALLOWED, EGRESS_ADDRESS_NOT_ALLOWED
  std::string message;  // "scheme \"file\" is not allowed for webhooks (https, ...)"
};

class EgressPolicy final {
 public:
  // No allow-list, no cluster ranges: https/smtp(s) to public addresses only.
  EgressPolicy() = default;

  // `allowlist`: comma-separated CIDRs, addresses and host names ("*.name"
  // matches any subdomain of name); `cluster_cidrs`: comma-separated CIDRs
  // refused besides the non-public ones. Blanks around entries are ignored.
  // INVALID_ARGUMENT naming the first bad entry, or a list over the bounds.
  static absl::StatusOr<EgressPolicy> Parse(absl::string_view allowlist, absl::string_view cluster_cidrs = "");

  // Whether `host` (a URL's host: a name, or an address literal, IPv6 in
  // brackets or not) is on the allow-list.
  bool AllowsHost(absl::string_view host) const;

  // The scheme rule, and for an address-literal host the address rule.
  // `scheme` is lower case as a URL parser gives it.
  std::optional<EgressRefusal> CheckUrl(EgressUrlKind kind, absl::string_view scheme, absl::string_view host) const;

  // The address rule for a connection to `address` made for a URL with
  // `host`: nullopt when allowed.
  std::optional<EgressRefusal> CheckAddress(const IpAddress& address, absl::string_view host) const;

  bool empty() const { return allowed_ranges_.empty() && allowed_names_.empty(); }

 private:
  std::vector<Cidr> allowed_ranges_;
  std::vector<std::string> allowed_names_;  // lower case; "*.x" for subdomains of x
  std::vector<Cidr> cluster_ranges_;
};

}  // namespace care
