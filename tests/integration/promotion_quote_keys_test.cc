// Issue 16, defect 2: quote signing fails closed and its keys rotate. The
// real care_promotion refuses to start with a missing, empty or short key;
// tokens name the key that signed them, so a token of a key still listed
// redeems after a rotation and one of a retired key does not.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/promotion_fixture.h"

namespace care::testing {
namespace {

const std::string kKeyA = std::string(32, 'a') + "-key-a";
const std::string kKeyB = std::string(32, 'b') + "-key-b";

TEST(PromotionQuoteKeyFileTest, RefusesToStartWithAnEmptyOrShortKey) {
  TempDir dir;
  Tokens tokens = WriteTokens(dir.path());
  const std::string key_file = dir.path() + "/quote_secret";
  for (const std::string& text : {std::string(), std::string("\n"), "k1 " + std::string(31, 'x') + "\n",
                                  std::string(31, 'x') + "\n", std::string(40, 'x') + "\n"}) {
    std::ofstream(key_file, std::ios::trunc) << text;
    Exited run = RunToExit(ServiceArgv(CARE_PROMOTION_BIN, tokens.file, dir.path(),
                                       {"--quote_token_secret_file=" + key_file}));
    // Before the fix it served (RunToExit then kills it after the timeout: -9).
    EXPECT_EQ(run.code, 2) << "key file: \"" << text << "\"";
    const std::string& out = run.log;
    EXPECT_NE(out.find("configuration error: quote_token_secret_file"), std::string::npos) << out;
    // The refusal never echoes key material.
    EXPECT_EQ(out.find("xxxxxxxx"), std::string::npos) << out;
  }
}

class PromotionQuoteKeysTest : public PromotionTest {
 protected:
  void SetUp() override {
    PromotionTest::SetUp();
    if (HasFatalFailure()) return;
    quote_keys_ = "a " + kKeyA + "\n";
    StartPromotion("", {"--drain_deadline=1s"});
    if (HasFatalFailure()) return;
    pv1::Campaign c = BaseCampaign(Base());
    c.clear_starts_at();
    *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
    Live("ten-off", c);
  }

  pv1::QuoteResponse GuestQuote() { return Quote(Cart("", {CartLine("l1", "X", "x", 2, 1500)})); }
};

TEST_F(PromotionQuoteKeysTest, TokensOfAListedKeyRedeemAfterARotationAndOfARetiredKeyDoNot) {
  const pv1::QuoteResponse by_a = GuestQuote(), also_by_a = GuestQuote();
  ASSERT_EQ(by_a.totals().items_discount().amount_minor(), 300);
  ASSERT_EQ(by_a.quote_token().substr(0, 5), "q3.a.");

  // Rotation: B is added on top and signs; A still verifies, across a restart.
  WriteQuoteKeys("b " + kKeyB + "\na " + kKeyA + "\n");
  RestartPromotion();
  pv1::Redemption r;
  grpc::Status s = Redeem("order-a", by_a.quote_token(), &r);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(r.order_id(), "order-a");
  const pv1::QuoteResponse by_b = GuestQuote();
  EXPECT_EQ(by_b.quote_token().substr(0, 5), "q3.b.");

  // A retired: its tokens are refused, B's still redeem.
  WriteQuoteKeys("b " + kKeyB + "\n");
  RestartPromotion();
  s = Redeem("order-a2", also_by_a.quote_token(), &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_EQ(Reason(s), "QUOTE_TOKEN_INVALID");
  // Relabelled as B's: the MAC is A's, so still refused.
  s = Redeem("order-a3", "q3.b." + also_by_a.quote_token().substr(5), &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_EQ(Reason(s), "QUOTE_TOKEN_INVALID");
  s = Redeem("order-b", by_b.quote_token(), &r);
  EXPECT_TRUE(s.ok()) << Describe(s);
}

}  // namespace
}  // namespace care::testing
