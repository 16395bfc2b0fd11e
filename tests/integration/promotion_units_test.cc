// Pure pieces of the promotion service, without the binary: the quote
// index's ordering rule and the one campaign validation.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/promotion/campaign_index.h"
#include "services/promotion/campaign_validation.h"

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

}  // namespace
}  // namespace care::promotion
