#include "common/random.h"

#include <map>
#include <set>
#include <string>

#include "gtest/gtest.h"

namespace care {
namespace {

TEST(RandomTokenTest, HasTheLengthAndOnlyTheAlphabet) {
  EXPECT_EQ(RandomToken(0, kLowerHex), "");
  for (size_t length : {1, 16, 63, 64, 65, 1000}) {
    std::string t = RandomToken(length, "xyz");
    EXPECT_EQ(t.size(), length);
    EXPECT_EQ(t.find_first_not_of("xyz"), std::string::npos) << t;
  }
  std::string hex = RandomToken(4096, kLowerHex);
  EXPECT_EQ(hex.find_first_not_of(kLowerHex.data(), 0, kLowerHex.size()), std::string::npos);
  // A 256-character alphabet takes every byte.
  std::string all(256, '\0');
  for (int i = 0; i < 256; ++i) all[i] = static_cast<char>(i);
  EXPECT_EQ(RandomToken(512, all).size(), 512u);
}

TEST(RandomTokenTest, TokensAreDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 20000; ++i) seen.insert(RandomToken(16, kLowerHex));
  EXPECT_EQ(seen.size(), 20000u);
}

// 200 characters: taking a byte modulo 200 would make the first 56 twice as
// likely as the rest (chi-square in the tens of thousands). Uniform draws
// give about 199 +- 20; 320 is far outside chance (p < 1e-8).
TEST(RandomTokenTest, EveryCharacterIsEquallyLikely) {
  std::string alphabet;
  for (int i = 0; i < 200; ++i) alphabet.push_back(static_cast<char>(32 + i));
  constexpr int kSample = 400000;
  std::string sample = RandomToken(kSample, alphabet);
  std::map<char, int> counts;
  for (char c : sample) ++counts[c];
  EXPECT_EQ(counts.size(), alphabet.size());
  const double expected = static_cast<double>(kSample) / alphabet.size();
  double chi2 = 0;
  for (char c : alphabet) {
    double d = counts[c] - expected;
    chi2 += d * d / expected;
  }
  EXPECT_LT(chi2, 320) << "chi-square over 199 degrees of freedom";
  EXPECT_GT(chi2, 100) << "too even to be random";
}

}  // namespace
}  // namespace care
