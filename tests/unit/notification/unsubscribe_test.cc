// List-Unsubscribe tokens: only this service's own, unaltered, unexpired
// tokens name a member; links are built the way mail clients follow them.
#include "services/notification/unsubscribe.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "gtest/gtest.h"

namespace care::notification {
namespace {

const std::vector<NamedKey> kKeys = {{"k2", std::string(32, 'b')}, {"k1", std::string(32, 'a')}};
const absl::Time kIssued = absl::FromUnixSeconds(1'800'000'000);

TEST(UnsubscribeTokens, ARoundTripNamesTheMemberDeliveryAndChannel) {
  UnsubscribeTokens tokens(kKeys, absl::Hours(24 * 365));
  const std::string token = tokens.Mint({"m-1", "dlv-42", 2, kIssued});
  auto claim = tokens.Verify(token, kIssued + absl::Hours(1));
  ASSERT_TRUE(claim.ok()) << claim.status();
  EXPECT_EQ(claim->member_id, "m-1");
  EXPECT_EQ(claim->delivery_id, "dlv-42");
  EXPECT_EQ(claim->channel, 2);
  EXPECT_EQ(claim->issued, kIssued);
  // Every attempt of one delivery carries the same link.
  EXPECT_EQ(token, tokens.Mint({"m-1", "dlv-42", 2, kIssued}));
  // URL-safe as it is: no escaping needed in a query.
  EXPECT_EQ(token.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."),
            std::string::npos);
}

TEST(UnsubscribeTokens, AnOlderKeyStillVerifiesAnUnknownOneDoesNot) {
  UnsubscribeTokens old_ring({{"k1", std::string(32, 'a')}}, absl::Hours(24 * 365));
  UnsubscribeTokens ring(kKeys, absl::Hours(24 * 365));
  EXPECT_TRUE(ring.Verify(old_ring.Mint({"m-1", "d-1", 2, kIssued}), kIssued).ok());
  UnsubscribeTokens other({{"k1", std::string(32, 'z')}}, absl::Hours(24 * 365));
  auto forged = ring.Verify(other.Mint({"m-1", "d-1", 2, kIssued}), kIssued);
  EXPECT_EQ(ErrorReason(forged.status()), "TOKEN_INVALID");
}

TEST(UnsubscribeTokens, EveryAlteredByteIsRefused) {
  UnsubscribeTokens tokens(kKeys, absl::Hours(24 * 365));
  const std::string token = tokens.Mint({"m-1", "dlv-42", 2, kIssued});
  for (size_t i = 0; i < token.size(); ++i) {
    std::string bad = token;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    if (bad == token) continue;
    EXPECT_FALSE(tokens.Verify(bad, kIssued).ok()) << "byte " << i << ": " << bad;
  }
  for (const std::string& bad :
       {std::string(), std::string("u1"), std::string("u1.k2.."), token + ".x", std::string(2000, 'a')}) {
    EXPECT_EQ(tokens.Verify(bad, kIssued).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(UnsubscribeTokens, AnotherMembersIdCannotBeSwappedIn) {
  UnsubscribeTokens tokens(kKeys, absl::Hours(24 * 365));
  std::vector<std::string> parts = absl::StrSplit(tokens.Mint({"m-1", "d-1", 2, kIssued}), '.');
  std::string payload;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(parts[2], &payload));
  payload.replace(0, 3, "m-2");
  parts[2] = absl::WebSafeBase64Escape(payload);
  EXPECT_FALSE(tokens.Verify(absl::StrJoin(parts, "."), kIssued).ok());
}

TEST(UnsubscribeTokens, ALinkExpiresAfterItsTtl) {
  UnsubscribeTokens tokens(kKeys, absl::Hours(24 * 30));
  const std::string token = tokens.Mint({"m-1", "d-1", 2, kIssued});
  EXPECT_TRUE(tokens.Verify(token, kIssued + absl::Hours(24 * 30)).ok());
  auto late = tokens.Verify(token, kIssued + absl::Hours(24 * 30) + absl::Seconds(1));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorReason(late.status()), "TOKEN_EXPIRED");
}

TEST(UnsubscribeLink, TokenReplacesThePlaceholderOrJoinsTheQuery) {
  EXPECT_EQ(UnsubscribeLink("https://shop.example/u/{token}", "T"), "https://shop.example/u/T");
  EXPECT_EQ(UnsubscribeLink("https://shop.example/u", "T"), "https://shop.example/u?token=T");
  EXPECT_EQ(UnsubscribeLink("https://shop.example/u?l=vi", "T"), "https://shop.example/u?l=vi&token=T");
}

TEST(UnsubscribeUrlProblem, OnlyPlainHttpsUrlsAreAccepted) {
  EXPECT_EQ(UnsubscribeUrlProblem(""), "");
  EXPECT_EQ(UnsubscribeUrlProblem("https://shop.example/unsubscribe"), "");
  EXPECT_EQ(UnsubscribeUrlProblem("HTTPS://shop.example/u?x={token}"), "");
  for (const char* bad :
       {"http://shop.example/u", "https://", "https://user:pw@shop.example/u", "https://shop.example/u#top",
        "https://shop.example/u v", "https://shop.example/u>\r\nBcc: x", "mailto:unsubscribe@shop.example"}) {
    EXPECT_NE(UnsubscribeUrlProblem(bad), "") << bad;
  }
  EXPECT_NE(UnsubscribeUrlProblem("https://shop.example/" + std::string(3000, 'a')), "");
}

}  // namespace
}  // namespace care::notification
