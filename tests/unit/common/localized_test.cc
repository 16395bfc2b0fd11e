// common/localized.h: locale tags, the fallback chain, picking a text and
// the bounds of a map of texts by locale.
#include "common/localized.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "google/rpc/error_details.pb.h"

namespace care {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> BadFields(const FieldErrors& errors) {
  google::rpc::BadRequest bad;
  const absl::Status s = errors.ToStatus();
  if (s.ok()) return {};
  auto payload = s.GetPayload("type.googleapis.com/google.rpc.BadRequest");
  EXPECT_TRUE(payload.has_value());
  if (payload) EXPECT_TRUE(bad.ParseFromString(std::string(*payload)));
  std::vector<std::string> fields;
  for (const auto& v : bad.field_violations()) fields.push_back(v.field());
  return fields;
}

TEST(Localized, LocaleTags) {
  for (const char* good : {"en", "ja", "vi-VN", "ja-JP", "zh-Hant-TW", "EN-us", "haw", "es-419", "de-CH-1996"}) {
    EXPECT_TRUE(IsLocaleTag(good)) << good;
  }
  for (const char* bad : {"", "e", "-en", "en-", "en--US", "en_US", "ja JP", "1a", "engl", "en-123456789",
                          "ja-\xe6\x97\xa5", "en-aaaaaaaa-bbbbbbbb-cccccccc-dddddddd"}) {
    EXPECT_FALSE(IsLocaleTag(bad)) << bad;
  }
}

TEST(Localized, ChainGoesFromTheTagToItsPrefixesThenTheDefault) {
  EXPECT_THAT(LocaleFallbackChain("ja-JP", "en"), ElementsAre("ja-JP", "ja", "en"));
  EXPECT_THAT(LocaleFallbackChain("zh-Hant-TW", "en-US"), ElementsAre("zh-Hant-TW", "zh-Hant", "zh", "en-US", "en"));
  EXPECT_THAT(LocaleFallbackChain("ja", "ja"), ElementsAre("ja"));
  EXPECT_THAT(LocaleFallbackChain("EN-gb", "en"), ElementsAre("EN-gb", "EN"));
  EXPECT_THAT(LocaleFallbackChain("", "vi"), ElementsAre("vi"));
  EXPECT_THAT(LocaleFallbackChain("", ""), IsEmpty());
}

TEST(Localized, PicksTheFirstLocaleOfTheChainElseThePlainText) {
  const std::map<std::string, std::string> titles = {{"ja", "春のセール"},
                                                     {"en", "Spring sale"},
                                                     {"vi-VN", "Giảm giá"}};
  const std::string plain = "Spring sale (default)";
  EXPECT_EQ(PickLocalized(titles, LocaleFallbackChain("ja-JP", "en"), plain), "春のセール");
  EXPECT_EQ(PickLocalized(titles, LocaleFallbackChain("JA", "en"), plain), "春のセール");
  EXPECT_EQ(PickLocalized(titles, LocaleFallbackChain("vi-vn", "en"), plain), "Giảm giá");
  // No Vietnamese without the region, nor French: the default locale's text.
  EXPECT_EQ(PickLocalized(titles, LocaleFallbackChain("vi", "en"), plain), "Spring sale");
  EXPECT_EQ(PickLocalized(titles, LocaleFallbackChain("fr-FR", "en"), plain), "Spring sale");
  // Neither the reader's locale nor the default one: the plain field.
  EXPECT_EQ(PickLocalized(titles, LocaleFallbackChain("fr", "de"), plain), plain);
  EXPECT_EQ(PickLocalized(std::map<std::string, std::string>{}, LocaleFallbackChain("ja", "en"), plain), plain);
}

TEST(Localized, ValidationNamesEachBadEntry) {
  FieldErrors ok;
  ValidateLocalizedTexts(ok, "campaign.localized_display_names", std::map<std::string, std::string>{{"ja", "春"}}, 200);
  EXPECT_TRUE(ok.empty());

  FieldErrors errors;
  const std::map<std::string, std::string> texts = {{"ja", "春のセール"},
                                                    {"JA", "other"},
                                                    {"en_US", "x"},
                                                    {"vi", ""},
                                                    {"en", std::string(201, 'a')}};
  ValidateLocalizedTexts(errors, "campaign.localized_display_names", texts, 200);
  EXPECT_THAT(BadFields(errors),
              ElementsAre("campaign.localized_display_names[en]", "campaign.localized_display_names[en_US]",
                          "campaign.localized_display_names[ja]", "campaign.localized_display_names[vi]"));
  // 200 characters, not bytes: 200 Japanese characters pass.
  FieldErrors chars;
  std::string long_ja;
  for (int i = 0; i < 200; ++i) long_ja += "春";
  ValidateLocalizedTexts(chars, "t", std::map<std::string, std::string>{{"ja", long_ja}}, 200);
  EXPECT_TRUE(chars.empty());
}

TEST(Localized, AtMost32Locales) {
  std::map<std::string, std::string> texts;
  for (int i = 0; texts.size() < kMaxLocalizedTexts + 1; ++i) {
    texts[{static_cast<char>('x' + i / 26), static_cast<char>('a' + i % 26)}] = "t";  // xa..xz, ya..
  }
  FieldErrors errors;
  ValidateLocalizedTexts(errors, "tiers[0].localized_display_names", texts, 50);
  EXPECT_THAT(BadFields(errors), ElementsAre("tiers[0].localized_display_names"));
  texts.erase(texts.begin());
  FieldErrors fine;
  ValidateLocalizedTexts(fine, "tiers[0].localized_display_names", texts, 50);
  EXPECT_TRUE(fine.empty());
}

}  // namespace
}  // namespace care
