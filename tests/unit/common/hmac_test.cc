// HMAC-SHA256, one-shot and with a prepared key, against RFC 4231's vectors.
#include "common/hmac.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace care {
namespace {

TEST(HmacTest, RfcVectorsOneShotAndPreparedKeyAgree) {
  // RFC 4231 test case 2, and case 6 (a key longer than the hash's block).
  const std::string long_key(131, '\xaa');
  const std::string long_data = "Test Using Larger Than Block-Size Key - Hash Key First";
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(HmacSha256Hex(long_key, long_data), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");

  const HmacSha256Key jefe("Jefe"), big(long_key);
  EXPECT_EQ(absl::BytesToHexString(jefe.Mac("what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(absl::BytesToHexString(big.Mac(long_data)),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // The prepared key is not consumed by use.
  EXPECT_EQ(jefe.Mac("x"), HmacSha256("Jefe", "x"));
  EXPECT_EQ(jefe.Mac("x"), HmacSha256("Jefe", "x"));
}

TEST(HmacTest, APreparedKeyServesManyThreadsAtOnce) {
  const HmacSha256Key key("quote-secret");
  const std::string want = HmacSha256("quote-secret", "payload");
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) wrong[t] += key.Mac("payload") != want;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace care
