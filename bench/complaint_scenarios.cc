// Complaint scenario for care_load: CreateComplaint, a new ticket per call
// (own request id), durable (group commit, synchronous=FULL), against a
// care_complaint with an SLA policy and calendar so every ticket starts its
// clocks. Run it without --loyalty_target to measure intake alone.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "bench/scenario.h"
#include "care/complaint/v1/complaint.grpc.pb.h"
#include "common/grpc_status.h"
#include "common/proto_time.h"

namespace care::bench {
namespace {

namespace kv1 = ::care::complaint::v1;

std::unique_ptr<grpc::ClientContext> SetupContext(const ScenarioContext& c) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("authorization", absl::StrCat("Bearer ", c.token));
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return ctx;
}

// A Mon-Sun 08:00-20:00 calendar and a policy that matches every ticket.
absl::Status Setup(const ScenarioContext& c) {
  auto stub = kv1::ComplaintService::NewStub(c.channel);
  kv1::CreateBusinessCalendarRequest cal;
  cal.set_request_id(absl::StrCat("bench-cal-", c.run_id));
  cal.mutable_calendar()->set_calendar_id(absl::StrCat("bench-", c.run_id));
  cal.mutable_calendar()->set_time_zone("Asia/Ho_Chi_Minh");
  for (int d = kv1::WEEKDAY_MONDAY; d <= kv1::WEEKDAY_SUNDAY; ++d) {
    auto* h = cal.mutable_calendar()->add_weekly_hours();
    h->set_day(static_cast<kv1::Weekday>(d));
    h->mutable_start()->set_hours(8);
    h->mutable_end()->set_hours(20);
  }
  kv1::BusinessCalendar calendar;
  grpc::Status s = stub->CreateBusinessCalendar(SetupContext(c).get(), cal, &calendar);
  if (!s.ok()) return FromGrpcStatus(s);
  kv1::CreateSlaPolicyRequest policy;
  policy.set_request_id(absl::StrCat("bench-policy-", c.run_id));
  policy.mutable_policy()->set_sla_policy_id(absl::StrCat("bench-", c.run_id));
  policy.mutable_policy()->set_enabled(true);
  policy.mutable_policy()->set_calendar_id(calendar.calendar_id());
  *policy.mutable_policy()->mutable_first_response_target() = ToDurationProto(absl::Hours(4));
  *policy.mutable_policy()->mutable_resolution_target() = ToDurationProto(absl::Hours(40));
  kv1::SlaPolicy out;
  s = stub->CreateSlaPolicy(SetupContext(c).get(), policy, &out);
  return s.ok() ? absl::OkStatus() : FromGrpcStatus(s);
}

class CreateComplaintScenario final : public Scenario {
 public:
  explicit CreateComplaintScenario(const ScenarioContext& c)
      : c_(c), stub_(kv1::ComplaintService::NewStub(c.channel)) {}

  void Call(grpc::ClientContext* ctx, uint64_t call_id, Done done) override {
    request_.Clear();
    request_.set_request_id(absl::StrCat("bench-", c_.run_id, "-", call_id));
    request_.set_member_id(absl::StrCat("bench-member-", call_id % 1000));
    request_.set_channel(kv1::CHANNEL_CHAT);
    request_.set_category(kv1::CATEGORY_DELIVERY);
    request_.set_order_id(absl::StrCat("bench-order-", c_.run_id, "-", call_id));
    request_.set_description("The parcel arrived late");
    stub_->async()->CreateComplaint(ctx, &request_, &response_, std::move(done));
  }

 private:
  ScenarioContext c_;
  std::unique_ptr<kv1::ComplaintService::Stub> stub_;
  kv1::CreateComplaintRequest request_;
  kv1::CreateComplaintResponse response_;
};

// GetComplaintMetrics over 2030 (the year complaint_seed fills), grouped by
// channel and tier: every ticket of the year is read and aggregated per call.
class ComplaintMetricsScenario final : public Scenario {
 public:
  explicit ComplaintMetricsScenario(const ScenarioContext& c) : stub_(kv1::ComplaintService::NewStub(c.channel)) {
    absl::Time start = absl::FromCivil(absl::CivilDay(2030, 1, 1), absl::UTCTimeZone());
    *request_.mutable_start_time() = ToTimestamp(start);
    *request_.mutable_end_time() = ToTimestamp(start + absl::Hours(24 * 365));
    request_.add_group_by(kv1::METRICS_DIMENSION_CHANNEL);
    request_.add_group_by(kv1::METRICS_DIMENSION_TIER);
  }

  void Call(grpc::ClientContext* ctx, uint64_t, Done done) override {
    stub_->async()->GetComplaintMetrics(ctx, &request_, &response_, std::move(done));
  }

 private:
  std::unique_ptr<kv1::ComplaintService::Stub> stub_;
  kv1::GetComplaintMetricsRequest request_;
  kv1::ComplaintMetrics response_;
};

}  // namespace

ScenarioInfo ComplaintMetricsScenarioInfo() {
  return {
      "care.complaint.v1.ComplaintService/GetComplaintMetrics over 2030 grouped by channel and tier "
      "(fill the database with complaint_seed first)",
      [](const ScenarioContext& c) -> std::unique_ptr<Scenario> {
        return std::make_unique<ComplaintMetricsScenario>(c);
      },
      nullptr};
}

ScenarioInfo ComplaintCreateScenario() {
  return {
      "care.complaint.v1.ComplaintService/CreateComplaint, a new ticket per call under an SLA policy; "
      "setup needs admin",
      [](const ScenarioContext& c) -> std::unique_ptr<Scenario> {
        return std::make_unique<CreateComplaintScenario>(c);
      },
      Setup};
}

}  // namespace care::bench
