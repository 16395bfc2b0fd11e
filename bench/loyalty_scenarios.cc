// Loyalty scenarios for care_load: GetTier (the suite's hottest read, served
// from the Redis tier cache) and RecordPurchase (a durable write: ledger,
// lots, spend, visit and tier in one group-committed transaction).
//
// Setup needs a token with the admin role as well as service (it creates the
// program when none exists and enrols the members the calls use).

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "bench/scenario.h"
#include "care/loyalty/v1/loyalty.grpc.pb.h"
#include "common/grpc_status.h"

namespace care::bench {
namespace {

namespace lv1 = ::care::loyalty::v1;

constexpr int kMembers = 256;

std::string MemberId(const ScenarioContext& c, int i) { return absl::StrCat("bench-", c.run_id, "-", i); }

std::unique_ptr<grpc::ClientContext> SetupContext(const ScenarioContext& c) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("authorization", absl::StrCat("Bearer ", c.token));
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return ctx;
}

// A one-tier-above-base program in USD, unless one exists already.
absl::Status EnsureProgram(lv1::LoyaltyService::Stub& stub, const ScenarioContext& c) {
  lv1::Program current;
  grpc::Status got = stub.GetProgram(SetupContext(c).get(), lv1::GetProgramRequest(), &current);
  if (got.ok()) return absl::OkStatus();
  lv1::UpdateProgramRequest req;
  req.set_request_id(absl::StrCat("bench-program-", c.run_id));
  lv1::Program* p = req.mutable_program();
  p->set_display_name("Bench Rewards");
  p->set_currency_code("USD");
  p->set_time_zone("UTC");
  for (int rank = 0; rank < 2; ++rank) {
    lv1::Tier* t = p->add_tiers();
    t->set_tier_id(rank == 0 ? "member" : "gold");
    t->set_display_name(rank == 0 ? "Member" : "Gold");
    t->set_rank(rank);
    t->mutable_qualifying_spend()->set_amount_minor(rank == 0 ? 0 : 100000000);
    t->mutable_qualifying_spend()->set_currency_code("USD");
    if (rank > 0) t->mutable_qualification_window()->set_kind(lv1::QUALIFICATION_WINDOW_KIND_LIFETIME);
    t->mutable_benefits()->set_points_multiplier_bps(10000);
    t->mutable_benefits()->set_support_priority(lv1::SUPPORT_PRIORITY_STANDARD);
  }
  p->mutable_earn_rule()->set_points_per_unit(1);
  p->mutable_earn_rule()->mutable_unit_amount()->set_amount_minor(100);
  p->mutable_earn_rule()->mutable_unit_amount()->set_currency_code("USD");
  p->mutable_points_expiry()->set_expire_after_months(12);
  p->mutable_visit_reward()->set_every_n_visits(10);
  p->mutable_visit_reward()->set_reward_name("coffee");
  lv1::Program out;
  return FromGrpcStatus(stub.UpdateProgram(SetupContext(c).get(), req, &out));
}

absl::Status Setup(const ScenarioContext& c) {
  auto stub = lv1::LoyaltyService::NewStub(c.channel);
  if (absl::Status s = EnsureProgram(*stub, c); !s.ok()) return s;
  for (int i = 0; i < kMembers; ++i) {
    lv1::EnrolMemberRequest req;
    req.set_request_id(absl::StrCat("bench-enrol-", c.run_id, "-", i));
    req.mutable_member()->set_member_id(MemberId(c, i));
    req.mutable_member()->set_name("Bench Member");
    lv1::Member out;
    if (absl::Status s = FromGrpcStatus(stub->EnrolMember(SetupContext(c).get(), req, &out)); !s.ok()) return s;
  }
  return absl::OkStatus();
}

class GetTierScenario final : public Scenario {
 public:
  explicit GetTierScenario(const ScenarioContext& c) : c_(c), stub_(lv1::LoyaltyService::NewStub(c.channel)) {}

  void Call(grpc::ClientContext* ctx, uint64_t call_id, Done done) override {
    request_.set_member_id(MemberId(c_, static_cast<int>(call_id % kMembers)));
    stub_->async()->GetTier(ctx, &request_, &response_, std::move(done));
  }

 private:
  ScenarioContext c_;
  std::unique_ptr<lv1::LoyaltyService::Stub> stub_;
  lv1::GetTierRequest request_;
  lv1::TierSnapshot response_;
};

class RecordPurchaseScenario final : public Scenario {
 public:
  explicit RecordPurchaseScenario(const ScenarioContext& c) : c_(c), stub_(lv1::LoyaltyService::NewStub(c.channel)) {
    request_.mutable_amount()->set_currency_code("USD");
  }

  void Call(grpc::ClientContext* ctx, uint64_t call_id, Done done) override {
    request_.set_member_id(MemberId(c_, static_cast<int>(call_id % kMembers)));
    request_.set_order_id(absl::StrCat("bench-", c_.run_id, "-", call_id));
    request_.mutable_amount()->set_amount_minor(1000 + static_cast<int64_t>(call_id % 5000));
    stub_->async()->RecordPurchase(ctx, &request_, &response_, std::move(done));
  }

 private:
  ScenarioContext c_;
  std::unique_ptr<lv1::LoyaltyService::Stub> stub_;
  lv1::RecordPurchaseRequest request_;
  lv1::RecordPurchaseResponse response_;
};

}  // namespace

ScenarioInfo LoyaltyGetTierScenario() {
  return {"care.loyalty.v1.LoyaltyService/GetTier over 256 members (Redis tier cache); setup needs admin+service",
          [](const ScenarioContext& c) -> std::unique_ptr<Scenario> { return std::make_unique<GetTierScenario>(c); },
          Setup};
}

ScenarioInfo LoyaltyRecordPurchaseScenario() {
  return {
      "care.loyalty.v1.LoyaltyService/RecordPurchase, a new order per call over 256 members; setup needs "
      "admin+service",
      [](const ScenarioContext& c) -> std::unique_ptr<Scenario> { return std::make_unique<RecordPurchaseScenario>(c); },
      Setup};
}

}  // namespace care::bench
