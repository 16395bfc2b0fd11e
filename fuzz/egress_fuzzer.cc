// common/egress (issue 16, defect 1): the parsers of the allow-list flag and
// of address literals never crash and stay within their bounds, and the
// address rule never lets a non-public address through a policy that does
// not list it. Input: a policy text, then address and host texts (or raw
// address bytes), all through ByteReader.

#include <cstdint>
#include <string>

#include "common/egress.h"
#include "fuzz/fuzz_support.h"

namespace {

using care::Cidr;
using care::EgressPolicy;
using care::EgressUrlKind;
using care::IpAddress;
using care::fuzz::ByteReader;

// Parse(ToString()) is the same address: what the service logs and what it
// compares are one value.
void CheckRoundTrip(const IpAddress& a) {
  auto again = IpAddress::Parse(a.ToString());
  CARE_FUZZ_CHECK(again.has_value(), "ToString does not parse: " + a.ToString());
  CARE_FUZZ_CHECK(again->v6 == a.v6 && again->bytes == a.bytes, "round trip changed " + a.ToString());
}

IpAddress RawAddress(ByteReader& in) {
  IpAddress a;
  a.v6 = in.Bool();
  for (int i = 0; i < (a.v6 ? 16 : 4); ++i) a.bytes[i] = in.Byte();
  return a;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteReader in(data, size);
  const std::string allowlist = in.String(care::kMaxEgressListBytes + 64);
  const std::string cluster = in.String(256);
  const std::string address_text = in.String(64);
  const std::string host = in.String(128);
  const std::string scheme = in.String(12);
  IpAddress raw = RawAddress(in);

  // Address and range literals: parsed or refused, and a parsed one is exact.
  if (auto a = IpAddress::Parse(address_text)) CheckRoundTrip(*a);
  if (auto c = Cidr::Parse(address_text)) {
    CARE_FUZZ_CHECK(c->prefix_length >= 0 && c->prefix_length <= (c->base.v6 ? 128 : 32), address_text);
    CARE_FUZZ_CHECK(c->Contains(c->base), "a range without its own base: " + address_text);
  }
  // ::ffff:a.b.c.d is kept as its IPv4 form (IpAddress's contract).
  if (raw.v6 && raw.bytes[10] == 0xff && raw.bytes[11] == 0xff) {
    bool mapped = true;
    for (int i = 0; i < 10; ++i) mapped &= raw.bytes[i] == 0;
    if (mapped) {
      IpAddress v4;
      for (int i = 0; i < 4; ++i) v4.bytes[i] = raw.bytes[12 + i];
      raw = v4;
    }
  }
  CheckRoundTrip(raw);

  // With no allow-list nothing non-public is reachable, whatever the host
  // is called; a public address is.
  const EgressPolicy strict;
  const bool non_public = !care::NonPublicKind(raw).empty();
  CARE_FUZZ_CHECK(strict.CheckAddress(raw, host).has_value() == non_public, raw.ToString() + " for " + host);
  // Webhooks are https only, SMTP smtp/smtps only, without an allow-list.
  if (scheme != "https") {
    CARE_FUZZ_CHECK(strict.CheckUrl(EgressUrlKind::kWebhook, scheme, host).has_value(), "webhook scheme " + scheme);
  }
  if (scheme != "smtp" && scheme != "smtps") {
    CARE_FUZZ_CHECK(strict.CheckUrl(EgressUrlKind::kSmtp, scheme, host).has_value(), "smtp scheme " + scheme);
  }

  // Any policy the flag parser accepts: within its bounds, and an address it
  // lets through is public, in an allow-listed range, or for an allow-listed
  // host; a cluster range is refused unless allow-listed.
  auto policy = EgressPolicy::Parse(allowlist, cluster);
  if (!policy.ok()) {
    CARE_FUZZ_CHECK(policy.status().code() == absl::StatusCode::kInvalidArgument, policy.status().ToString());
    return 0;
  }
  CARE_FUZZ_CHECK(allowlist.size() <= care::kMaxEgressListBytes, "an over-long allow-list was accepted");
  const bool allowed = !policy->CheckAddress(raw, host).has_value();
  if (allowed && non_public) {
    CARE_FUZZ_CHECK(policy->AllowsHost(host) || policy->AllowsHost(raw.ToString()),
                    raw.ToString() + " let through for " + host + " by " + allowlist);
  }
  return 0;
}
