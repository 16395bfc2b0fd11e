#pragma once

// Shared set-up of the loyalty integration tests: the real care_loyalty
// binary under a fake clock, a private redis-server, and an in-process fake
// NotificationService that records the events loyalty's outbox relays to it.
// Tests talk to the binary only through the generated stubs.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "care/common/v1/runtime.grpc.pb.h"
#include "care/loyalty/v1/loyalty.grpc.pb.h"
#include "care/notification/v1/notification.grpc.pb.h"
#include "clients/loyalty/tier_cache.h"
#include "common/proto_time.h"
#include "common/redis.h"
#include "gtest/gtest.h"
#include "tests/harness/harness.h"

namespace care::testing {

namespace lv1 = ::care::loyalty::v1;
namespace nv1 = ::care::notification::v1;

constexpr char kLoyaltyHealth[] = "care.loyalty.v1.LoyaltyService";

// Fixed business time, far enough ahead of any real clock that the fake
// clock (which starts at the real time) can be set to it.
inline absl::Time Base() { return absl::FromCivil(absl::CivilSecond(2031, 1, 15, 10, 0, 0), absl::UTCTimeZone()); }

inline care::common::v1::Money Usd(int64_t minor) {
  care::common::v1::Money m;
  m.set_amount_minor(minor);
  m.set_currency_code("USD");
  return m;
}

// Polls `pred` (real time: it waits for background jobs, not business time).
template <typename Pred>
bool Eventually(Pred pred, absl::Duration timeout = absl::Seconds(10)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

// A NotificationService that only takes events: records each IngestEvent,
// deduplicated by event_id as the real service does.
class FakeNotification final : public nv1::NotificationService::CallbackService {
 public:
  FakeNotification() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeNotification() override { server_->Shutdown(std::chrono::system_clock::now()); }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

  grpc::ServerUnaryReactor* IngestEvent(grpc::CallbackServerContext* ctx, const nv1::IngestEventRequest* req,
                                        nv1::IngestEventResponse* resp) override {
    auto* reactor = ctx->DefaultReactor();
    std::lock_guard lock(mu_);
    ++calls_;
    if (down_) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down for the test"));
      return reactor;
    }
    auto auth = ctx->client_metadata().find("authorization");
    authorization_ = auth == ctx->client_metadata().end() ? "" : std::string(auth->second.data(), auth->second.size());
    resp->set_event_id(req->event_id());
    if (seen_.count(req->event_id())) {
      resp->set_duplicate(true);
    } else {
      seen_[req->event_id()] = events_.size();
      events_.push_back(*req);
    }
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  // An erasure request from loyalty's outbox: recorded, answered with a
  // receipt (UNAVAILABLE while down).
  grpc::ServerUnaryReactor* ErasePersonalData(grpc::CallbackServerContext* ctx,
                                              const care::common::v1::ErasePersonalDataRequest* req,
                                              care::common::v1::ErasureReceipt* resp) override {
    auto* reactor = ctx->DefaultReactor();
    std::lock_guard lock(mu_);
    if (down_) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down for the test"));
      return reactor;
    }
    erasures_.push_back(*req);
    resp->set_service("notification");
    resp->set_erasure_id(req->erasure_id());
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  std::vector<care::common::v1::ErasePersonalDataRequest> Erasures() {
    std::lock_guard lock(mu_);
    return erasures_;
  }

  std::vector<nv1::IngestEventRequest> Events() {
    std::lock_guard lock(mu_);
    return events_;
  }
  // Distinct events of one kind (the oneof case).
  std::vector<nv1::IngestEventRequest> Events(nv1::IngestEventRequest::EventCase kind) {
    std::vector<nv1::IngestEventRequest> out;
    for (auto& e : Events()) {
      if (e.event_case() == kind) out.push_back(e);
    }
    return out;
  }
  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::string authorization() {
    std::lock_guard lock(mu_);
    return authorization_;
  }
  void set_down(bool down) {
    std::lock_guard lock(mu_);
    down_ = down;
  }

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;
  std::vector<nv1::IngestEventRequest> events_;
  std::vector<care::common::v1::ErasePersonalDataRequest> erasures_;
  std::map<std::string, size_t> seen_;
  int calls_ = 0;
  bool down_ = false;
  std::string authorization_;
};

class LoyaltyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(redis_.ok()) << redis_.status();
    tokens_ = WriteTokens(dir_.path());
    // Each service presents its own peer token (issue 16, defect 3).
    std::string token_file = WriteTokenFile(dir_.path(), "loyalty", tokens_.peer_loyalty);
    WriteTokenFile(dir_.path(), "promotion", tokens_.peer_promotion);
    WriteTokenFile(dir_.path(), "complaint", tokens_.peer_complaint);
    WriteTokenFile(dir_.path(), "notification", tokens_.peer_notification);
    std::vector<std::string> args{"--fake_clock",
                                  "--redis_port=" + std::to_string(redis_.port()),
                                  "--notification_target=" + notification_.address(),
                                  "--service_token_file=" + token_file,
                                  "--outbox_interval=50ms",
                                  "--log_level=warn"};
    for (auto& a : ExtraArgs()) args.push_back(std::move(a));
    service_ = std::make_unique<ServiceProcess>(CARE_LOYALTY_BIN, kLoyaltyHealth, args, tokens_);
    absl::Status started = service_->Start();
    ASSERT_TRUE(started.ok()) << started;
    Connect();
    SetTime(Base());
  }

  // More flags for care_loyalty, for fixtures that need them.
  virtual std::vector<std::string> ExtraArgs() { return {}; }

  // Flags of a real care_notification reading this loyalty's members, plus `extra`.
  std::vector<std::string> NotificationArgs(const std::vector<std::string>& extra = {}) {
    // Marketing e-mail goes out only with an unsubscribe link, signed with this.
    const std::string unsubscribe_keys = dir_.path() + "/unsubscribe_keys";
    std::ofstream(unsubscribe_keys) << "u1 " << std::string(40, 'k') << "\n";
    std::vector<std::string> args{"--unsubscribe_key_file=" + unsubscribe_keys, "--fake_clock",
                                  "--redis_port=" + std::to_string(redis_.port()),
                                  "--loyalty_target=" + service_->address(),
                                  "--service_token_file=" + dir_.path() + "/notification_token", "--job_interval=50ms",
                                  "--log_level=warn",
                                  // The tests' webhook and SMTP receivers listen on loopback.
                                  "--egress_allowlist=127.0.0.1/32"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  void Connect() {
    stub_ = lv1::LoyaltyService::NewStub(service_->channel());
    clock_ = care::common::v1::ClockControl::NewStub(service_->channel());
  }

  lv1::LoyaltyService::Stub& stub() { return *stub_; }
  const std::string& svc() const { return tokens_.service; }
  // The peer that owns an event kind (issue 16, defect 3): notification takes
  // each kind only from its service; Transactional from any backend.
  const std::string& PeerFor(const nv1::IngestEventRequest& req) const {
    switch (req.event_case()) {
      case nv1::IngestEventRequest::kPromotionAlert:
      case nv1::IngestEventRequest::kPromotionAlertCancelled:
      case nv1::IngestEventRequest::kCampaignRedeemed:
        return tokens_.peer_promotion;
      case nv1::IngestEventRequest::kComplaintUpdate:
      case nv1::IngestEventRequest::kSatisfactionSurvey:
      case nv1::IngestEventRequest::kProactiveCheckIn:
      case nv1::IngestEventRequest::kStaffAlert:
        return tokens_.peer_complaint;
      case nv1::IngestEventRequest::kTransactional:
      case nv1::IngestEventRequest::EVENT_NOT_SET:
        return tokens_.service;
      default:
        return tokens_.peer_loyalty;
    }
  }
  // Goodwill (AdjustPoints, IssueVoucher) comes from the complaint service.
  const std::string& goodwill() const { return tokens_.peer_complaint; }
  const std::string& admin() const { return tokens_.admin; }

  // ------------------------------------------------------------- clock
  absl::Time Now() {
    care::common::v1::GetTimeResponse r;
    grpc::Status s = clock_->GetTime(Ctx(admin()).get(), {}, &r);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return FromTimestamp(r.time());
  }
  void SetTime(absl::Time t) {
    care::common::v1::SetTimeRequest req;
    *req.mutable_time() = ToTimestamp(t);
    care::common::v1::GetTimeResponse r;
    grpc::Status s = clock_->SetTime(Ctx(admin()).get(), req, &r);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }
  void Advance(absl::Duration d) {
    care::common::v1::SetTimeRequest req;
    *req.mutable_advance() = ToDurationProto(d);
    care::common::v1::GetTimeResponse r;
    grpc::Status s = clock_->SetTime(Ctx(admin()).get(), req, &r);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  // ----------------------------------------------------------- program
  static lv1::Tier MakeTier(const std::string& id, int rank, int64_t threshold, int multiplier_bps) {
    lv1::Tier t;
    t.set_tier_id(id);
    t.set_display_name(id == "member" ? "Member" : id == "silver" ? "Silver" : id == "gold" ? "Gold" : id);
    t.set_rank(rank);
    *t.mutable_qualifying_spend() = Usd(threshold);
    if (threshold > 0) {
      t.mutable_qualification_window()->set_kind(lv1::QUALIFICATION_WINDOW_KIND_ROLLING);
      t.mutable_qualification_window()->set_rolling_months(12);
    }
    t.mutable_benefits()->set_points_multiplier_bps(multiplier_bps);
    t.mutable_benefits()->set_discount_bps(rank * 500);
    t.mutable_benefits()->set_support_priority(rank == 0 ? lv1::SUPPORT_PRIORITY_STANDARD : lv1::SUPPORT_PRIORITY_HIGH);
    return t;
  }

  // member (base) / silver at 1,000.00 (rolling 12 months, 30 days grace,
  // 1.25x) / gold at 5,000.00 (rolling 12 months, no grace, one rank down,
  // 1.5x); 1 point per 1.00 USD, floor; points expire after 12 months with
  // a 30-day warning; a reward every 10th visit; 100 birthday points.
  static lv1::Program DefaultProgram() {
    lv1::Program p;
    p.set_display_name("CareSuite Rewards");
    p.set_currency_code("USD");
    p.set_time_zone("UTC");
    *p.add_tiers() = MakeTier("member", 0, 0, 10000);
    lv1::Tier silver = MakeTier("silver", 1, 100000, 12500);
    silver.mutable_retention()->mutable_grace_period()->set_seconds(30 * 86400);
    *p.add_tiers() = silver;
    lv1::Tier gold = MakeTier("gold", 2, 500000, 15000);
    gold.mutable_retention()->set_downgrade_mode(lv1::DOWNGRADE_MODE_ONE_RANK);
    gold.mutable_benefits()->add_perks("special care");
    gold.mutable_benefits()->set_free_returns(true);
    *p.add_tiers() = gold;
    p.mutable_earn_rule()->set_points_per_unit(1);
    *p.mutable_earn_rule()->mutable_unit_amount() = Usd(100);
    p.mutable_earn_rule()->set_rounding(lv1::ROUNDING_MODE_FLOOR);
    p.mutable_points_expiry()->set_expire_after_months(12);
    p.mutable_points_expiry()->mutable_warning_lead()->set_seconds(30 * 86400);
    p.mutable_visit_reward()->set_every_n_visits(10);
    p.mutable_visit_reward()->set_reward_name("1 free dessert");
    p.mutable_visit_reward()->set_bonus_points(25);
    p.mutable_birthday_bonus()->set_points(100);
    return p;
  }

  grpc::Status UpdateProgram(const lv1::Program& program, int64_t expected_version, lv1::Program* out,
                             const std::vector<std::string>& mask = {}) {
    lv1::UpdateProgramRequest req;
    req.set_request_id(absl::StrCat("program-", ++counter_));
    *req.mutable_program() = program;
    req.mutable_program()->set_version(expected_version);
    for (const auto& p : mask) req.mutable_update_mask()->add_paths(p);
    return stub().UpdateProgram(Ctx(admin()).get(), req, out);
  }

  lv1::Program Configure(const lv1::Program& program = DefaultProgram()) {
    lv1::GetProgramRequest get;
    lv1::Program current;
    int64_t version = stub().GetProgram(Ctx(svc()).get(), get, &current).ok() ? current.version() : 0;
    lv1::Program out;
    grpc::Status s = UpdateProgram(program, version, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  // ----------------------------------------------------------- members
  // The helpers below retry what a client retries with the same request id
  // (RetryTransient; Redeem only ABORTED, as callers check its status).
  lv1::Member Enrol(const std::string& member_id, const std::function<void(lv1::Member*)>& edit = nullptr) {
    lv1::EnrolMemberRequest req;
    req.set_request_id("enrol-" + member_id);
    req.mutable_member()->set_member_id(member_id);
    req.mutable_member()->set_name("Member " + member_id);
    req.mutable_member()->set_email(member_id + "@example.com");
    if (edit) edit(req.mutable_member());
    lv1::Member out;
    grpc::Status s = RetryTransient([&](int) { return stub().EnrolMember(Ctx(svc()).get(), req, &out); });
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  lv1::Member GetMember(const std::string& member_id) {
    lv1::GetMemberRequest req;
    req.set_member_id(member_id);
    lv1::Member out;
    grpc::Status s = stub().GetMember(Ctx(svc()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  // ---------------------------------------------------- points and tiers
  lv1::RecordPurchaseRequest PurchaseRequest(const std::string& member_id, const std::string& order_id,
                                             int64_t amount_minor) {
    lv1::RecordPurchaseRequest req;
    req.set_request_id("req-" + order_id);
    req.set_member_id(member_id);
    req.set_order_id(order_id);
    *req.mutable_amount() = Usd(amount_minor);
    return req;
  }

  lv1::RecordPurchaseResponse Purchase(const std::string& member_id, const std::string& order_id,
                                       int64_t amount_minor) {
    lv1::RecordPurchaseResponse out;
    const lv1::RecordPurchaseRequest req = PurchaseRequest(member_id, order_id, amount_minor);
    grpc::Status s = RetryTransient([&](int) { return stub().RecordPurchase(Ctx(svc()).get(), req, &out); });
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  grpc::Status Redeem(const std::string& member_id, const std::string& request_id, int64_t points,
                      lv1::RedeemPointsResponse* out) {
    lv1::RedeemPointsRequest req;
    req.set_request_id(request_id);
    req.set_member_id(member_id);
    req.set_points(points);
    return RetryAborted([&](int) { return stub().RedeemPoints(Ctx(svc()).get(), req, out); });
  }

  lv1::AdjustPointsResponse Adjust(const std::string& member_id, const std::string& request_id, int64_t delta) {
    lv1::AdjustPointsRequest req;
    req.set_request_id(request_id);
    req.set_member_id(member_id);
    req.set_points_delta(delta);
    req.set_reason_code("GOODWILL");
    lv1::AdjustPointsResponse out;
    grpc::Status s = RetryTransient([&](int) { return stub().AdjustPoints(Ctx(goodwill()).get(), req, &out); });
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  lv1::TierSnapshot GetTier(const std::string& member_id) {
    lv1::GetTierRequest req;
    req.set_member_id(member_id);
    lv1::TierSnapshot out;
    grpc::Status s = stub().GetTier(Ctx(svc()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  lv1::PointsBalance Balance(const std::string& member_id) {
    lv1::GetBalanceRequest req;
    req.set_member_id(member_id);
    lv1::PointsBalance out;
    grpc::Status s = stub().GetBalance(Ctx(svc()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  // The whole ledger, oldest first, through every page.
  std::vector<lv1::LedgerEntry> Ledger(const std::string& member_id) {
    std::vector<lv1::LedgerEntry> all;
    lv1::ListLedgerEntriesRequest req;
    req.set_member_id(member_id);
    req.set_page_size(100);
    for (;;) {
      lv1::ListLedgerEntriesResponse resp;
      grpc::Status s = stub().ListLedgerEntries(Ctx(svc()).get(), req, &resp);
      EXPECT_TRUE(s.ok()) << Describe(s);
      if (!s.ok()) break;
      all.insert(all.end(), resp.entries().begin(), resp.entries().end());
      if (resp.next_page_token().empty()) break;
      req.set_page_token(resp.next_page_token());
    }
    std::reverse(all.begin(), all.end());
    return all;
  }

  // The invariants every ledger keeps: sequences 1..n without gaps, each
  // balance_after the running sum and never negative, the last one the
  // member's balance.
  // Every Redis key and its entry's value, as one text: what a check that
  // Redis names nobody erased reads.
  std::string RedisContents() {
    CachedTier("nobody");  // opens redis_client_
    std::string all;
    uint64_t cursor = 0;
    do {
      auto step = redis_client_->Scan(cursor, "*", 100);
      EXPECT_TRUE(step.ok()) << step.status();
      if (!step.ok()) break;
      for (const std::string& key : step->second) {
        all += key + "\n";
        auto entry = redis_client_->GetVersioned(key);
        if (entry.ok() && entry->has_value()) all += (*entry)->value + "\n";
      }
      cursor = step->first;
    } while (cursor != 0);
    return all;
  }

  void ExpectLedgerConsistent(const std::string& member_id) {
    std::vector<lv1::LedgerEntry> ledger = Ledger(member_id);
    int64_t sum = 0;
    for (size_t i = 0; i < ledger.size(); ++i) {
      EXPECT_EQ(ledger[i].sequence(), static_cast<int64_t>(i + 1));
      sum += ledger[i].points_delta();
      EXPECT_EQ(ledger[i].balance_after(), sum) << "entry " << ledger[i].entry_id();
      EXPECT_GE(ledger[i].balance_after(), 0);
    }
    EXPECT_EQ(Balance(member_id).balance(), sum);
    EXPECT_EQ(GetMember(member_id).points_balance(), sum);
  }

  // The member's snapshot read straight from Redis, as other services do.
  std::optional<lv1::TierSnapshot> CachedTier(const std::string& member_id) {
    if (!redis_client_) {
      RedisOptions options;
      options.port = redis_.port();
      options.password = redis_.password();
      options.pool_size = 1;
      options.retry_after = absl::ZeroDuration();
      redis_client_ = std::make_unique<RedisPool>(options);
    }
    auto got = redis_client_->GetVersioned(TierCacheKey(member_id));
    if (!got.ok() || !got->has_value()) return std::nullopt;
    lv1::TierSnapshot snapshot;
    if (!snapshot.ParseFromString((*got)->value)) return std::nullopt;
    EXPECT_EQ((*got)->version, snapshot.version());
    return snapshot;
  }

  TempDir dir_;
  Tokens tokens_;
  RedisServer redis_;
  FakeNotification notification_;
  std::unique_ptr<ServiceProcess> service_;
  std::unique_ptr<lv1::LoyaltyService::Stub> stub_;
  std::unique_ptr<care::common::v1::ClockControl::Stub> clock_;
  std::unique_ptr<RedisPool> redis_client_;
  int counter_ = 0;
};

}  // namespace care::testing
