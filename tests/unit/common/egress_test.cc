// The egress rules (issue 16, defect 1): address classes, CIDRs, the
// allow-list parser, and the scheme and address decisions.
#include "common/egress.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "gtest/gtest.h"

namespace care {
namespace {

std::string Kind(const char* address) {
  auto ip = IpAddress::Parse(address);
  EXPECT_TRUE(ip.has_value()) << address;
  return ip ? NonPublicKind(*ip) : "?";
}

TEST(Egress, AddressesAreClassified) {
  for (const char* a : {"8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700::1111", "2a00:1450:4001::200e",
                        "100.63.255.255", "100.128.0.0", "172.15.255.255", "172.32.0.0", "192.169.0.1"}) {
    EXPECT_EQ(Kind(a), "") << a;
  }
  EXPECT_EQ(Kind("127.0.0.1"), "loopback");
  EXPECT_EQ(Kind("127.255.0.9"), "loopback");
  EXPECT_EQ(Kind("::1"), "loopback");
  EXPECT_EQ(Kind("10.0.0.5"), "private");
  EXPECT_EQ(Kind("172.16.0.1"), "private");
  EXPECT_EQ(Kind("172.31.255.255"), "private");
  EXPECT_EQ(Kind("192.168.1.1"), "private");
  EXPECT_EQ(Kind("fd00::1"), "private");
  EXPECT_EQ(Kind("fc00::1"), "private");
  EXPECT_EQ(Kind("169.254.169.254"), "link-local");
  EXPECT_EQ(Kind("fe80::1"), "link-local");
  EXPECT_EQ(Kind("0.0.0.0"), "unspecified");
  EXPECT_EQ(Kind("::"), "unspecified");
  EXPECT_EQ(Kind("100.64.0.1"), "shared (CGNAT)");
  EXPECT_EQ(Kind("100.127.255.255"), "shared (CGNAT)");
  EXPECT_EQ(Kind("224.0.0.1"), "multicast");
  EXPECT_EQ(Kind("ff02::1"), "multicast");
  EXPECT_EQ(Kind("255.255.255.255"), "broadcast");
  EXPECT_EQ(Kind("240.0.0.1"), "reserved");
  EXPECT_EQ(Kind("2001:db8::1"), "reserved");
  // IPv6 forms that embed an IPv4 address are judged by it.
  EXPECT_EQ(Kind("::ffff:127.0.0.1"), "loopback");
  EXPECT_EQ(Kind("::ffff:a9fe:a9fe"), "link-local");
  EXPECT_EQ(Kind("::ffff:10.1.2.3"), "private");
  EXPECT_EQ(Kind("::127.0.0.1"), "loopback");
  EXPECT_EQ(Kind("64:ff9b::10.0.0.1"), "private");
  EXPECT_EQ(Kind("2002:c0a8:0101::1"), "private");  // 6to4 of 192.168.1.1
  EXPECT_EQ(Kind("::ffff:8.8.8.8"), "");
}

TEST(Egress, AddressesParseAndPrint) {
  EXPECT_EQ(IpAddress::Parse("[::1]")->ToString(), "::1");
  EXPECT_EQ(IpAddress::Parse("::ffff:10.0.0.5")->ToString(), "10.0.0.5");  // mapped -> IPv4
  EXPECT_FALSE(IpAddress::Parse("::ffff:10.0.0.5")->v6);
  for (const char* bad : {"", "localhost", "1.2.3", "0x7f.1", "2130706433", "1.2.3.4.5", "256.1.1.1", "::g", "[::1"}) {
    EXPECT_FALSE(IpAddress::Parse(bad).has_value()) << bad;
  }
  sockaddr_in6 six{};
  six.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:127.0.0.1", &six.sin6_addr);
  auto ip = IpAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&six));
  ASSERT_TRUE(ip.has_value());
  EXPECT_EQ(ip->ToString(), "127.0.0.1");
  EXPECT_EQ(NonPublicKind(*ip), "loopback");
}

TEST(Egress, CidrsParseStrictlyAndContain) {
  auto r = Cidr::Parse("10.1.0.0/16");
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->Contains(*IpAddress::Parse("10.1.255.1")));
  EXPECT_FALSE(r->Contains(*IpAddress::Parse("10.2.0.1")));
  EXPECT_TRUE(r->Contains(*IpAddress::Parse("::ffff:10.1.0.9")));  // the same address, mapped
  EXPECT_FALSE(r->Contains(*IpAddress::Parse("fd00::1")));
  EXPECT_TRUE(Cidr::Parse("127.0.0.1")->Contains(*IpAddress::Parse("127.0.0.1")));
  EXPECT_FALSE(Cidr::Parse("127.0.0.1")->Contains(*IpAddress::Parse("127.0.0.2")));
  EXPECT_TRUE(Cidr::Parse("fd00::/8")->Contains(*IpAddress::Parse("fd12::1")));
  EXPECT_TRUE(Cidr::Parse("0.0.0.0/0")->Contains(*IpAddress::Parse("8.8.8.8")));
  EXPECT_TRUE(Cidr::Parse("::ffff:10.0.0.0/104")->Contains(*IpAddress::Parse("10.9.9.9")));
  for (const char* bad : {"10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/+8", "fd00::/129",
                          "10.0.0.0/8/8", "host/24", "", "/8", "10.0.0.0/ 8"}) {
    EXPECT_FALSE(Cidr::Parse(bad).has_value()) << bad;
  }
}

TEST(Egress, TheAllowListParsesCidrsAddressesAndNames) {
  auto p = EgressPolicy::Parse(" 127.0.0.1/32, 10.20.0.0/16 ,fd00::/8,::1, Mail.Internal., *.hooks.corp ,,");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->AllowsHost("127.0.0.1"));
  EXPECT_TRUE(p->AllowsHost("[::1]"));
  EXPECT_TRUE(p->AllowsHost("10.20.3.4"));
  EXPECT_TRUE(p->AllowsHost("mail.internal"));
  EXPECT_TRUE(p->AllowsHost("MAIL.INTERNAL."));
  EXPECT_TRUE(p->AllowsHost("a.hooks.corp"));
  EXPECT_TRUE(p->AllowsHost("a.b.hooks.corp"));
  EXPECT_FALSE(p->AllowsHost("hooks.corp"));  // "*." is subdomains only
  EXPECT_FALSE(p->AllowsHost("evilhooks.corp"));
  EXPECT_FALSE(p->AllowsHost("mail.internal.evil.com"));
  EXPECT_FALSE(p->AllowsHost("127.0.0.2"));
  EXPECT_FALSE(p->AllowsHost(""));
  EXPECT_TRUE(EgressPolicy::Parse("").ok());
  EXPECT_TRUE(EgressPolicy::Parse("")->empty());
}

TEST(Egress, AMalformedOrOversizedAllowListIsRefusedNamingTheEntry) {
  for (const char* bad : {"10.0.0.1/8", "10.0.0.0/40", "999.1.1.1", "1.2.3", "host name", "-bad.example", "a..b",
                          "http://x", "x:80", "*.", "*", "a/b", "fd00::/200", "exa$mple.com"}) {
    auto p = EgressPolicy::Parse(bad);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(p.status().message().find("entry"), std::string::npos) << p.status();
  }
  std::string many;
  for (int i = 0; i < 65; ++i) many += "10.0.0." + std::to_string(i) + ",";
  EXPECT_EQ(EgressPolicy::Parse(many).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EgressPolicy::Parse(std::string(5000, 'a')).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EgressPolicy::Parse("", "10.0.0.0/8,mail.internal").status().code(),
            absl::StatusCode::kInvalidArgument);  // cluster ranges are CIDRs only
}

TEST(Egress, SchemesFollowTheChannelAndTheAllowList) {
  const EgressPolicy none;
  const EgressPolicy loopback = *EgressPolicy::Parse("127.0.0.1/32,hooks.internal");
  EXPECT_FALSE(none.CheckUrl(EgressUrlKind::kWebhook, "https", "hooks.example.com"));
  EXPECT_EQ(none.CheckUrl(EgressUrlKind::kWebhook, "http", "hooks.example.com")->reason, "URL_SCHEME_NOT_ALLOWED");
  EXPECT_FALSE(loopback.CheckUrl(EgressUrlKind::kWebhook, "http", "127.0.0.1"));
  EXPECT_FALSE(loopback.CheckUrl(EgressUrlKind::kWebhook, "http", "hooks.internal"));
  EXPECT_TRUE(loopback.CheckUrl(EgressUrlKind::kWebhook, "http", "hooks.example.com"));
  for (const char* scheme : {"file", "gopher", "dict", "ftp", "ldap", "smtp", "telnet", "tftp", ""}) {
    EXPECT_EQ(loopback.CheckUrl(EgressUrlKind::kWebhook, scheme, "127.0.0.1")->reason, "URL_SCHEME_NOT_ALLOWED")
        << scheme;
  }
  EXPECT_FALSE(none.CheckUrl(EgressUrlKind::kSmtp, "smtp", "mail.example.com"));
  EXPECT_FALSE(none.CheckUrl(EgressUrlKind::kSmtp, "smtps", "mail.example.com"));
  for (const char* scheme : {"http", "https", "file", "gopher", "pop3", "imap"}) {
    EXPECT_EQ(none.CheckUrl(EgressUrlKind::kSmtp, scheme, "mail.example.com")->reason, "URL_SCHEME_NOT_ALLOWED")
        << scheme;
  }
  // An address literal meets the address rule already at configuration.
  EXPECT_EQ(none.CheckUrl(EgressUrlKind::kWebhook, "https", "10.0.0.5")->reason, "EGRESS_ADDRESS_NOT_ALLOWED");
  EXPECT_EQ(none.CheckUrl(EgressUrlKind::kSmtp, "smtp", "[::1]")->reason, "EGRESS_ADDRESS_NOT_ALLOWED");
}

TEST(Egress, AddressesAreRefusedUnlessAllowListed) {
  const EgressPolicy none;
  auto refused = none.CheckAddress(*IpAddress::Parse("10.0.0.5"), "hooks.example.com");
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->reason, "EGRESS_ADDRESS_NOT_ALLOWED");
  EXPECT_EQ(refused->message, "address 10.0.0.5 is private (not on --egress_allowlist)");
  EXPECT_FALSE(none.CheckAddress(*IpAddress::Parse("93.184.216.34"), "hooks.example.com"));

  const EgressPolicy p = *EgressPolicy::Parse("127.0.0.1/32,mail.internal", "203.0.112.0/24");
  EXPECT_FALSE(p.CheckAddress(*IpAddress::Parse("127.0.0.1"), "anything.example"));
  EXPECT_FALSE(p.CheckAddress(*IpAddress::Parse("::ffff:127.0.0.1"), "127.0.0.1"));
  EXPECT_TRUE(p.CheckAddress(*IpAddress::Parse("127.0.0.2"), "127.0.0.2"));
  EXPECT_TRUE(p.CheckAddress(*IpAddress::Parse("::1"), "localhost"));
  // An allow-listed name may resolve anywhere; an unlisted one may not.
  EXPECT_FALSE(p.CheckAddress(*IpAddress::Parse("10.9.8.7"), "mail.internal"));
  EXPECT_TRUE(p.CheckAddress(*IpAddress::Parse("10.9.8.7"), "mail.external"));
  // The cluster's own ranges are refused although public.
  auto cluster = p.CheckAddress(*IpAddress::Parse("203.0.112.10"), "api.example.com");
  ASSERT_TRUE(cluster.has_value());
  EXPECT_EQ(cluster->message, "address 203.0.112.10 is in the cluster's ranges (not on --egress_allowlist)");
}

}  // namespace
}  // namespace care
