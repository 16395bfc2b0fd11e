#include "common/egress.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/errors.h"

namespace care {
namespace {

IpAddress V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  IpAddress ip;
  ip.bytes[0] = a;
  ip.bytes[1] = b;
  ip.bytes[2] = c;
  ip.bytes[3] = d;
  return ip;
}

// An IPv4-mapped IPv6 address becomes its IPv4 form.
IpAddress Normalize(IpAddress ip) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (ip.v6 && std::memcmp(ip.bytes.data(), kMapped, 12) == 0) {
    return V4(ip.bytes[12], ip.bytes[13], ip.bytes[14], ip.bytes[15]);
  }
  return ip;
}

bool InRange(const IpAddress& ip, const char* cidr) {
  auto range = Cidr::Parse(cidr);
  return range && range->Contains(ip);
}

std::string V4Kind(const IpAddress& ip) {
  struct Range {
    const char* cidr;
    const char* kind;
  };
  // RFC 6890 special-purpose IPv4 ranges; 255.255.255.255 before 240/4.
  static constexpr Range kRanges[] = {
      {"0.0.0.0/8", "unspecified"},   {"10.0.0.0/8", "private"},        {"100.64.0.0/10", "shared (CGNAT)"},
      {"127.0.0.0/8", "loopback"},    {"169.254.0.0/16", "link-local"}, {"172.16.0.0/12", "private"},
      {"192.0.0.0/24", "reserved"},   {"192.0.2.0/24", "reserved"},     {"192.88.99.0/24", "reserved"},
      {"192.168.0.0/16", "private"},  {"198.18.0.0/15", "reserved"},    {"198.51.100.0/24", "reserved"},
      {"203.0.113.0/24", "reserved"}, {"224.0.0.0/4", "multicast"},     {"255.255.255.255/32", "broadcast"},
      {"240.0.0.0/4", "reserved"},
  };
  for (const Range& r : kRanges) {
    if (InRange(ip, r.cidr)) return r.kind;
  }
  return "";
}

std::string V6Kind(const IpAddress& ip) {
  const auto& b = ip.bytes;
  // Forms that carry an IPv4 address are judged by it.
  if (InRange(ip, "::/96") && !InRange(ip, "::/127")) return V4Kind(V4(b[12], b[13], b[14], b[15]));
  if (InRange(ip, "64:ff9b::/96")) return V4Kind(V4(b[12], b[13], b[14], b[15]));
  if (InRange(ip, "2002::/16")) return V4Kind(V4(b[2], b[3], b[4], b[5]));
  struct Range {
    const char* cidr;
    const char* kind;
  };
  static constexpr Range kRanges[] = {
      {"::/128", "unspecified"}, {"::1/128", "loopback"},       {"fe80::/10", "link-local"},   {"fec0::/10", "private"},
      {"fc00::/7", "private"},   {"ff00::/8", "multicast"},     {"64:ff9b:1::/48", "private"}, {"100::/64", "reserved"},
      {"2001::/23", "reserved"}, {"2001:db8::/32", "reserved"}, {"3fff::/20", "reserved"},
  };
  for (const Range& r : kRanges) {
    if (InRange(ip, r.cidr)) return r.kind;
  }
  return "";
}

// A DNS host name: labels of [A-Za-z0-9_-], 1..63 bytes each, 253 in all,
// and a last label that is not all digits (that would be a mistyped address).
bool ValidHostName(absl::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::vector<absl::string_view> labels = absl::StrSplit(name, '.');
  for (absl::string_view label : labels) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(c) && c != '-' && c != '_') return false;
    }
  }
  const absl::string_view last = labels.back();
  for (char c : last) {
    if (!absl::ascii_isdigit(c)) return true;
  }
  return false;
}

std::string CanonicalHost(absl::string_view host) {
  std::string h = absl::AsciiStrToLower(host);
  if (!h.empty() && h.back() == '.') h.pop_back();
  return h;
}

// The entries of a comma-separated flag value, blanks trimmed, empties skipped.
absl::StatusOr<std::vector<std::string>> Entries(absl::string_view list) {
  if (list.size() > kMaxEgressListBytes) {
    return absl::InvalidArgumentError(absl::StrCat("is over ", kMaxEgressListBytes, " bytes"));
  }
  std::vector<std::string> out;
  for (absl::string_view e : absl::StrSplit(list, ',')) {
    e = absl::StripAsciiWhitespace(e);
    if (!e.empty()) out.emplace_back(e);
  }
  if (out.size() > kMaxEgressEntries) {
    return absl::InvalidArgumentError(absl::StrCat("has ", out.size(), " entries; at most ", kMaxEgressEntries));
  }
  return out;
}

}  // namespace

std::optional<IpAddress> IpAddress::Parse(absl::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  if (text.empty() || text.size() > 45) return std::nullopt;
  const std::string s(text);
  IpAddress ip;
  if (s.find(':') == std::string::npos) {
    // inet_pton takes dotted quads only: "0x7f.1" or "2130706433" are not addresses here.
    in_addr a;
    if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
    std::memcpy(ip.bytes.data(), &a, 4);
    return ip;
  }
  in6_addr a;
  if (inet_pton(AF_INET6, s.c_str(), &a) != 1) return std::nullopt;
  ip.v6 = true;
  std::memcpy(ip.bytes.data(), &a, 16);
  return Normalize(ip);
}

std::optional<IpAddress> IpAddress::FromSockaddr(const sockaddr* address) {
  if (address == nullptr) return std::nullopt;
  IpAddress ip;
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    std::memcpy(ip.bytes.data(), &in->sin_addr, 4);
    return ip;
  }
  if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    ip.v6 = true;
    std::memcpy(ip.bytes.data(), &in6->sin6_addr, 16);
    return Normalize(ip);
  }
  return std::nullopt;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

std::optional<Cidr> Cidr::Parse(absl::string_view text) {
  absl::string_view address = text;
  int prefix = -1;
  if (size_t slash = text.find('/'); slash != absl::string_view::npos) {
    address = text.substr(0, slash);
    absl::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3 || !absl::SimpleAtoi(digits, &prefix)) return std::nullopt;
    for (char c : digits) {
      if (!absl::ascii_isdigit(c)) return std::nullopt;
    }
  }
  auto ip = IpAddress::Parse(address);
  if (!ip) return std::nullopt;
  // "::ffff:10.0.0.0/104" reads as the IPv4 range it covers.
  const bool mapped = !ip->v6 && absl::StrContains(address, ':');
  const int bits = ip->v6 ? 128 : 32;
  if (prefix < 0) prefix = bits;
  if (mapped) {
    if (prefix < 96) return std::nullopt;
    prefix -= 96;
  }
  if (prefix > bits) return std::nullopt;
  Cidr range{*ip, prefix};
  for (int i = prefix; i < bits; ++i) {
    if (range.base.bytes[i / 8] & (0x80 >> (i % 8))) return std::nullopt;
  }
  return range;
}

bool Cidr::Contains(const IpAddress& address) const {
  if (address.v6 != base.v6) return false;
  for (int i = 0; i < prefix_length; ++i) {
    const uint8_t bit = 0x80 >> (i % 8);
    if ((address.bytes[i / 8] & bit) != (base.bytes[i / 8] & bit)) return false;
  }
  return true;
}

std::string NonPublicKind(const IpAddress& address) { return address.v6 ? V6Kind(address) : V4Kind(address); }

absl::StatusOr<EgressPolicy> EgressPolicy::Parse(absl::string_view allowlist, absl::string_view cluster_cidrs) {
  EgressPolicy policy;
  auto allowed = Entries(allowlist);
  if (!allowed.ok()) return allowed.status();
  for (const std::string& entry : *allowed) {
    if (auto range = Cidr::Parse(entry)) {
      policy.allowed_ranges_.push_back(*range);
      continue;
    }
    const std::string name = CanonicalHost(entry);
    const absl::string_view base = absl::StartsWith(name, "*.") ? absl::string_view(name).substr(2) : name;
    if (absl::StrContains(entry, '/') || absl::StrContains(entry, ':') || !ValidHostName(base)) {
      return absl::InvalidArgumentError(absl::StrCat("entry ", EchoValue(entry),
                                                     " is not a CIDR (10.0.0.0/8), an address or a host name"));
    }
    policy.allowed_names_.push_back(name);
  }
  auto cluster = Entries(cluster_cidrs);
  if (!cluster.ok()) return cluster.status();
  for (const std::string& entry : *cluster) {
    auto range = Cidr::Parse(entry);
    if (!range) return absl::InvalidArgumentError(absl::StrCat("entry ", EchoValue(entry), " is not a CIDR"));
    policy.cluster_ranges_.push_back(*range);
  }
  return policy;
}

bool EgressPolicy::AllowsHost(absl::string_view host) const {
  if (auto ip = IpAddress::Parse(host)) {
    for (const Cidr& r : allowed_ranges_) {
      if (r.Contains(*ip)) return true;
    }
    return false;
  }
  const std::string name = CanonicalHost(host);
  if (name.empty()) return false;
  for (const std::string& allowed : allowed_names_) {
    if (allowed == name) return true;
    if (absl::StartsWith(allowed, "*.") && absl::EndsWith(name, absl::string_view(allowed).substr(1))) return true;
  }
  return false;
}

std::optional<EgressRefusal> EgressPolicy::CheckUrl(EgressUrlKind kind, absl::string_view scheme,
                                                    absl::string_view host) const {
  const bool allowed = kind == EgressUrlKind::kSmtp ? scheme == "smtp" || scheme == "smtps"
                                                    : scheme == "https" || (scheme == "http" && AllowsHost(host));
  if (!allowed) {
    return EgressRefusal{"URL_SCHEME_NOT_ALLOWED",
                         kind == EgressUrlKind::kSmtp
                             ? absl::StrCat("scheme ", EchoValue(scheme), " is not allowed for SMTP (smtp or smtps)")
                             : absl::StrCat(
                                   "scheme ", EchoValue(scheme),
                                   " is not allowed for webhooks (https; http only for hosts on --egress_allowlist)")};
  }
  if (auto ip = IpAddress::Parse(host)) return CheckAddress(*ip, host);
  return std::nullopt;
}

std::optional<EgressRefusal> EgressPolicy::CheckAddress(const IpAddress& address, absl::string_view host) const {
  std::string why;
  if (std::string kind = NonPublicKind(address); !kind.empty()) {
    why = absl::StrCat("is ", kind);
  } else {
    for (const Cidr& r : cluster_ranges_) {
      if (r.Contains(address)) why = "is in the cluster's ranges";
    }
  }
  if (why.empty()) return std::nullopt;
  for (const Cidr& r : allowed_ranges_) {
    if (r.Contains(address)) return std::nullopt;
  }
  // An allow-listed name is trusted whatever it resolves to; an address
  // literal only through the ranges above.
  if (!IpAddress::Parse(host) && AllowsHost(host)) return std::nullopt;
  return EgressRefusal{"EGRESS_ADDRESS_NOT_ALLOWED",
                       absl::StrCat("address ", address.ToString(), " ", why, " (not on --egress_allowlist)")};
}

}  // namespace care
