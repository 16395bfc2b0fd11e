// kill -9 in the middle of a stream of purchases: after a restart every
// purchase that was acknowledged is in the ledger (group commit answers a
// call only once its batch is durable), and the balance equals the ledger.
#include <atomic>
#include <mutex>
#include <set>
#include <signal.h>

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

}  // namespace
}  // namespace care::testing
