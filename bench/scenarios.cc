#include "bench/scenario.h"
#include "care/common/v1/runtime.grpc.pb.h"

namespace care::bench {

// Defined in loyalty_scenarios.cc.
ScenarioInfo LoyaltyGetTierScenario();
ScenarioInfo LoyaltyRecordPurchaseScenario();
// Defined in complaint_scenarios.cc.
ScenarioInfo ComplaintCreateScenario();
ScenarioInfo ComplaintMetricsScenarioInfo();
// Defined in promotion_scenarios.cc.
ScenarioInfo PromotionQuoteScenario(int campaigns, int matching = -1, bool full = false);
ScenarioInfo PromotionRedeemScenario();

namespace {

// The empty-RPC baseline: authentication, work-pool hop and logging on the
// real server stack, no domain work. Every service binary serves it, so the
// baseline can be measured against the very process being benchmarked.
class PingScenario final : public Scenario {
 public:
  explicit PingScenario(const ScenarioContext& c) : stub_(care::common::v1::Diagnostics::NewStub(c.channel)) {}

  void Call(grpc::ClientContext* ctx, uint64_t call_id, Done done) override {
    stub_->async()->Ping(ctx, &request_, &response_, std::move(done));
  }

 private:
  std::unique_ptr<care::common::v1::Diagnostics::Stub> stub_;
  care::common::v1::PingRequest request_;
  care::common::v1::PingResponse response_;
};

template <typename T>
std::unique_ptr<Scenario> Make(const ScenarioContext& c) {
  return std::make_unique<T>(c);
}

}  // namespace

const std::map<std::string, ScenarioInfo>& Scenarios() {
  static const auto* scenarios = new std::map<std::string, ScenarioInfo>{
      {"ping", {"care.common.v1.Diagnostics/Ping: the empty-RPC baseline", Make<PingScenario>, nullptr}},
      {"loyalty_get_tier", LoyaltyGetTierScenario()},
      {"loyalty_record_purchase", LoyaltyRecordPurchaseScenario()},
      {"complaint_create", ComplaintCreateScenario()},
      {"complaint_metrics", ComplaintMetricsScenarioInfo()},
      {"promotion_quote", PromotionQuoteScenario(100)},
      {"promotion_quote_10", PromotionQuoteScenario(10)},
      {"promotion_quote_1000", PromotionQuoteScenario(1000)},
      {"promotion_quote_10000", PromotionQuoteScenario(10000)},
      {"promotion_quote_typical", PromotionQuoteScenario(100, 2)},
      {"promotion_quote_full", PromotionQuoteScenario(100, -1, true)},
      {"promotion_redeem", PromotionRedeemScenario()},
  };
  return *scenarios;
}

}  // namespace care::bench
