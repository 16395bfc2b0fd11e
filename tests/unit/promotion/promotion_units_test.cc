// Pure pieces of the promotion service, without the binary: the quote
// index's ordering rule, the one campaign validation and the quote token
// key file, the redemption's conversion events.
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/promotion/alert_events.h"
#include "services/promotion/campaign_index.h"
#include "services/promotion/campaign_validation.h"
#include "services/promotion/quote_token.h"

namespace care::promotion {
namespace {

namespace v1 = ::care::promotion::v1;

v1::Campaign Version(int64_t version, v1::CampaignState state) {
  v1::Campaign c;
  c.set_campaign_id("c");
  c.set_version(version);
  c.set_state(state);
  c.add_rules()->add_effects()->mutable_free_shipping();
  return c;
}

TEST(CampaignIndexTest, AnOlderVersionArrivingLateNeverReplacesANewerOne) {
  CampaignIndex index;
  EXPECT_TRUE(index.Put(Version(1, v1::CAMPAIGN_STATE_ACTIVE)));
  // Cancel (v3) commits after the update (v2) but reaches the index first.
  EXPECT_TRUE(index.Put(Version(3, v1::CAMPAIGN_STATE_CANCELLED)));
  EXPECT_FALSE(index.Put(Version(2, v1::CAMPAIGN_STATE_ACTIVE)));
  EXPECT_EQ(index.size(), 0u);
  EXPECT_TRUE(index.All().empty());
  EXPECT_TRUE(index.Candidates({Line{"l", "sku", "", 1, 100}}, "", true).empty());
  // The same version again changes nothing either.
  EXPECT_FALSE(index.Put(Version(3, v1::CAMPAIGN_STATE_ACTIVE)));
  EXPECT_EQ(index.size(), 0u);
}

TEST(CampaignIndexTest, NewerVersionsReplaceInOrder) {
  CampaignIndex index;
  EXPECT_TRUE(index.Put(Version(2, v1::CAMPAIGN_STATE_ACTIVE)));
  EXPECT_TRUE(index.Put(Version(4, v1::CAMPAIGN_STATE_ACTIVE)));
  ASSERT_EQ(index.All().size(), 1u);
  EXPECT_EQ(index.All()[0]->version(), 4);
}

TEST(CampaignValidationTest, CurrencyMismatchIsItsOwnReasonOnlyWhenAlone) {
  v1::Campaign c;
  c.set_display_name("x");
  c.set_currency_code("USD");
  c.mutable_limits()->mutable_max_discount_total()->set_amount_minor(10);
  c.mutable_limits()->mutable_max_discount_total()->set_currency_code("EUR");
  absl::Status s = ValidateCampaign(c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorReason(s), "CURRENCY_MISMATCH");
  EXPECT_EQ(ErrorMetadataValue(s, "field"), "campaign.limits.max_discount_total.currency_code");
  c.mutable_limits()->set_max_redemptions(-5);
  s = ValidateCampaign(c);
  EXPECT_EQ(ErrorReason(s), "INVALID_FIELD");
  EXPECT_EQ(ErrorMetadataValue(s, "field"),
            "campaign.limits.max_redemptions,campaign.limits.max_discount_total.currency_code");
}

TEST(CampaignValidationTest, EveryAmountIsBoundedAndTierValuesAreChecked) {
  v1::Campaign c;
  c.set_display_name("x");
  c.set_currency_code("USD");
  auto* value = c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value();
  (*value->mutable_tier_values())["gold"].mutable_amount_off()->set_amount_minor(int64_t{1} << 62);
  absl::Status s = ValidateCampaign(c);
  EXPECT_EQ(ErrorReason(s), "INVALID_FIELD");
  EXPECT_THAT(std::string(s.message()),
              ::testing::HasSubstr("campaign.rules[0].effects[0].cart_discount.value.tier_values[\"gold\"]"
                                   ".amount_off.amount_minor"));
}

// Defect 16.2: a short or missing key is refused, never used.
TEST(QuoteKeysTest, RefusesMissingShortAndMalformedKeys) {
  const std::string k32(32, 'k');
  struct Case {
    std::string text;
    std::string why;
  };
  for (const Case& c : std::vector<Case>{
           {"", "no key"},
           {"\n\n", "no key"},
           {"a " + std::string(31, 'k'), "31 bytes"},
           {k32, "want `<key_id> <key>`"},  // a bare key: no id
           {"a.b " + k32, "key id"},
           {std::string(33, 'i') + " " + k32, "key id"},
           {absl::StrCat("a ", k32, "\nb ", k32, "\na ", k32), "line 3: key id \"a\" is listed twice"},
           {"a " + k32 + "\n\nb short", "line 3"},
       }) {
    auto keys = care::ParseKeyFile(c.text);
    EXPECT_FALSE(keys.ok()) << "accepted: " << c.text;
    if (!keys.ok()) EXPECT_THAT(std::string(keys.status().message()), ::testing::HasSubstr(c.why)) << c.text;
  }
}

TEST(QuoteKeysTest, ParsesIdsAndKeysInOrder) {
  auto keys = care::ParseKeyFile("\n  new-2  " + std::string(40, 'n') + " x \nold_1\t" + std::string(32, 'o') + "\n");
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].id, "new-2");
  EXPECT_EQ((*keys)[0].secret, std::string(40, 'n') + " x");  // the rest of the line
  EXPECT_EQ((*keys)[1].id, "old_1");
  EXPECT_EQ((*keys)[1].secret, std::string(32, 'o'));
}

// The first key signs and names itself in the token; any listed key
// verifies; a key no longer listed does not.
TEST(QuoteKeysTest, TheFirstKeySignsAndAnyListedKeyVerifies) {
  const QuoteKey a{"a", std::string(32, 'a')}, b{"b", std::string(32, 'b')};
  v1::QuoteResponse quote;
  quote.mutable_customer()->set_guest_key("g1");
  const std::string by_a = QuoteSigner({a}).Sign(quote);
  EXPECT_EQ(by_a.substr(0, 5), "q3.a.");
  const QuoteSigner rotated({b, a});
  EXPECT_EQ(rotated.Sign(quote).substr(0, 5), "q3.b.");
  auto verified = rotated.Verify(by_a);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->customer().guest_key(), "g1");

  const QuoteSigner only_b({b});
  for (const std::string& token : {by_a, "q3.b." + by_a.substr(5), "q3.x." + by_a.substr(5), by_a.substr(0, 4)}) {
    auto refused = only_b.Verify(token);
    EXPECT_FALSE(refused.ok()) << token;
    EXPECT_EQ(ErrorReason(refused.status()), "QUOTE_TOKEN_INVALID") << token;
  }
}

// One CampaignRedeemed per applied campaign of a member's redemption, under an
// id that a retry of the same order gives again; a guest's sends none.
TEST(RedeemedEventsTest, OnePerCampaignOfAMembersOrderAndNoneForAGuest) {
  v1::Redemption r;
  r.set_order_id(std::string(128, 'o'));  // the longest order id
  r.mutable_customer()->set_member_id("m1");
  r.add_campaigns()->set_campaign_id("spring");
  r.add_campaigns()->set_campaign_id(std::string(128, 'c'));
  const absl::Time now = absl::FromUnixSeconds(1767225600);
  std::vector<OutboxEvent> events = RedeemedEvents(r, now);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_NE(events[0].event_id, events[1].event_id);
  for (const OutboxEvent& e : events) {
    EXPECT_THAT(e.event_id, ::testing::StartsWith("promotion:redeemed:"));
    EXPECT_LE(e.event_id.size(), 128u);  // an event id's bound
    EXPECT_EQ(e.destination, kConversionDestination) << "a line of its own, behind no alert";
    EXPECT_EQ(e.subject, "member:m1");
  }
  EXPECT_EQ(RedeemedEvents(r, now + absl::Hours(1))[0].event_id, events[0].event_id);
  r.mutable_customer()->clear_member_id();
  r.mutable_customer()->set_guest(true);
  r.mutable_customer()->set_guest_key("g1");
  EXPECT_TRUE(RedeemedEvents(r, now).empty());
}

}  // namespace
}  // namespace care::promotion
