// kill -9 in the middle of a stream of purchases: after a restart every
// purchase that was acknowledged is in the ledger (group commit answers a
// call only once its batch is durable), and the balance equals the ledger.
// SIGTERM in the middle of one: every acknowledged purchase is in the
// ledger and no purchase the client was told failed is.
#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>

#include "tests/integration/loyalty_fixture.h"

namespace care::testing {
namespace {

using DurabilityTest = LoyaltyTest;

TEST_F(DurabilityTest, EveryAcknowledgedPurchaseSurvivesKillDashNine) {
  Configure();
  Enrol("ann");
  std::mutex mu;
  std::set<std::string> acknowledged;
  std::atomic<bool> stop{false};
  std::atomic<int> acks{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; !stop; ++i) {
        std::string order = absl::StrCat("w", w, "-", i);
        lv1::RecordPurchaseResponse r;
        grpc::Status s = stub().RecordPurchase(Ctx(svc(), absl::Seconds(2)).get(),
                                               PurchaseRequest("ann", order, 1000 + i), &r);
        if (!s.ok()) break;  // the server is gone
        std::lock_guard lock(mu);
        acknowledged.insert(order);
        ++acks;
      }
    });
  }
  ASSERT_TRUE(Eventually([&] { return acks >= 200; }, absl::Seconds(30)));
  ::kill(service_->pid(), SIGKILL);
  stop = true;
  for (auto& t : writers) t.join();
  service_->Kill();  // reaps it

  ASSERT_TRUE(service_->Restart().ok());
  Connect();
  std::vector<lv1::LedgerEntry> ledger = Ledger("ann");
  std::set<std::string> in_ledger;
  for (const auto& e : ledger) in_ledger.insert(e.purchase().order_id());
  for (const std::string& order : acknowledged) {
    EXPECT_TRUE(in_ledger.count(order)) << order << " was acknowledged but is not in the ledger";
  }
  EXPECT_GE(ledger.size(), acknowledged.size());
  ExpectLedgerConsistent("ann");

  // Retrying an acknowledged order after the crash is a replay.
  const std::string order = *acknowledged.begin();
  lv1::RecordPurchaseResponse again;
  int w = 0, i = 0;
  ASSERT_EQ(sscanf(order.c_str(), "w%d-%d", &w, &i), 2);
  ASSERT_TRUE(stub().RecordPurchase(Ctx(svc()).get(), PurchaseRequest("ann", order, 1000 + i), &again).ok());
  EXPECT_EQ(Ledger("ann").size(), ledger.size());
}

// Issue 15, defect 13: under 8 concurrent writers a SIGTERM answered
// UNAVAILABLE for writes the server had committed. A graceful drain refuses
// new calls before any work and lets every admitted call finish and its
// answer leave. Several rounds, each signalled after a different number of
// answers, so a window between commit and answer has chances to show.
class DrainTest : public LoyaltyTest {
 protected:
  std::vector<std::string> ExtraArgs() override { return {"--drain_deadline=5s"}; }
};

TEST_F(DrainTest, SigtermNeverReportsACommittedWriteAsFailed) {
  Configure();
  Enrol("ann");
  std::map<std::string, grpc::Status> outcome;  // order -> what the client saw
  constexpr int kRounds = 12;
  constexpr int kWriters = 8;
  for (int round = 0; round < kRounds; ++round) {
    if (round > 0) {
      ASSERT_TRUE(service_->Restart().ok()) << service_->log();
      Connect();
      SetTime(Base());  // the fake clock restarts at the real time
    }
    std::mutex mu;
    std::atomic<bool> stop{false};
    std::atomic<int> answers{0};
    std::vector<std::thread> writers;
    auto channel = service_->channel();
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w] {
        auto stub = lv1::LoyaltyService::NewStub(channel);
        for (int i = 0; !stop; ++i) {
          std::string order = absl::StrCat("r", round, "-w", w, "-", i);
          lv1::RecordPurchaseResponse r;
          // A generous deadline: a call the client gives up on may still
          // commit, which is not what this test is about.
          grpc::Status s = stub->RecordPurchase(Ctx(svc(), absl::Seconds(30)).get(),
                                                PurchaseRequest("ann", order, 100 + i), &r);
          {
            std::lock_guard lock(mu);
            outcome[order] = s;
          }
          ++answers;
          if (!s.ok()) break;  // refused or gone: this writer's round is over
        }
      });
    }
    int before = 20 + 29 * (round % 6);
    ASSERT_TRUE(Eventually([&] { return answers >= before; }, absl::Seconds(60)));
    EXPECT_EQ(service_->Terminate(absl::Seconds(20)), 0) << service_->log();
    stop = true;
    for (auto& t : writers) t.join();
  }
  ASSERT_TRUE(service_->Restart().ok()) << service_->log();
  Connect();
  std::set<std::string> in_ledger;
  for (const auto& e : Ledger("ann")) in_ledger.insert(e.purchase().order_id());
  int ok = 0, failed = 0;
  for (const auto& [order, status] : outcome) {
    if (status.ok()) {
      ++ok;
      EXPECT_TRUE(in_ledger.count(order)) << order << " was answered OK but is not in the ledger";
    } else {
      ++failed;
      EXPECT_FALSE(in_ledger.count(order)) << order << " is in the ledger but its client was told " << Describe(status);
    }
  }
  EXPECT_GT(ok, 0);
  EXPECT_GT(failed, 0) << "no call met the shutdown: the test proved nothing";
  ExpectLedgerConsistent("ann");
}

}  // namespace
}  // namespace care::testing
