// The database server restarts (twice) under a stream of purchases: on
// PostgreSQL, every purchase the client was told succeeded is in the ledger
// exactly once, every one it was told failed is retried with the same request
// id until answered, and the balance equals the ledger. SQLite has no server
// to restart: the test runs on the PostgreSQL backend only.
#include <atomic>
#include <mutex>
#include <set>

#include "tests/integration/loyalty_fixture.h"

namespace care::testing {
namespace {

class DatabaseRestartTest : public LoyaltyTest {
 protected:
  void SetUp() override {
    if (!TestPostgres()) GTEST_SKIP() << "PostgreSQL only: SQLite has no database server to restart";
    // A cluster of the test's own: the run's shared one serves other tests.
    auto cluster = StartPrivatePostgres();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *cluster;
    auto url = CreateTestDatabase(*cluster_);
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
    LoyaltyTest::SetUp();
  }
  void TearDown() override {
    LoyaltyTest::TearDown();
    service_.reset();
    if (cluster_) StopPrivatePostgres(*cluster_);
  }
  std::vector<std::string> ExtraArgs() override {
    return {"--database_url=" + url_, "--database_password_file=" + cluster_->password_file};
  }

  std::optional<PostgresCluster> cluster_;
  std::string url_;
};

TEST_F(DatabaseRestartTest, NoAcknowledgedPurchaseIsLostOrDoubledAcrossServerRestarts) {
  Configure();
  Enrol("ann");
  std::mutex mu;
  std::set<std::string> acknowledged;
  std::atomic<bool> stop{false};
  std::atomic<int> acks{0}, refusals{0};
  std::vector<std::thread> writers;
  writers.reserve(4);
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; !stop; ++i) {
        const std::string order = absl::StrCat("w", w, "-", i);
        // A refusal while the database is away is retried with the same
        // request: the first answer, never a second purchase.
        for (int attempt = 0; attempt < 600; ++attempt) {
          lv1::RecordPurchaseResponse r;
          grpc::Status s = stub().RecordPurchase(Ctx(svc(), absl::Seconds(5)).get(),
                                                 PurchaseRequest("ann", order, 1000 + i), &r);
          if (s.ok()) {
            std::lock_guard lock(mu);
            acknowledged.insert(order);
            ++acks;
            break;
          }
          // Retryable, and said so: never INTERNAL or UNKNOWN for a database away.
          EXPECT_TRUE(s.error_code() == grpc::StatusCode::UNAVAILABLE || s.error_code() == grpc::StatusCode::ABORTED)
              << Describe(s);
          ++refusals;
          absl::SleepFor(absl::Milliseconds(50));
        }
      }
    });
  }
  for (int restart = 0; restart < 2; ++restart) {
    const int before = acks;
    ASSERT_TRUE(Eventually([&] { return acks >= before + 50; }, absl::Seconds(60)));
    ASSERT_TRUE(RestartTestPostgres(*cluster_).ok());
  }
  const int after = acks;
  ASSERT_TRUE(Eventually([&] { return acks >= after + 50; }, absl::Seconds(60)))
      << "purchases did not resume after the database came back";
  stop = true;
  for (auto& t : writers) t.join();

  std::vector<lv1::LedgerEntry> ledger = Ledger("ann");
  std::multiset<std::string> in_ledger;
  for (const auto& e : ledger) in_ledger.insert(e.purchase().order_id());
  for (const std::string& order : acknowledged) {
    EXPECT_EQ(in_ledger.count(order), 1u) << order << " was acknowledged; it must be in the ledger once";
  }
  EXPECT_EQ(ledger.size(), acknowledged.size());
  ExpectLedgerConsistent("ann");
  std::printf("[restart] %d purchases acknowledged, %d refusals retried\n", acks.load(), refusals.load());
}

}  // namespace
}  // namespace care::testing
