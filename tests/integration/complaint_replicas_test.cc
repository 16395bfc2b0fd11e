// Several care_complaint replicas on one PostgreSQL database, each under its
// own fake clock with its SLA job running every 50 ms: whichever replica's
// job reaches a ticket first, each breach and each escalation level is
// recorded once. Nothing may rely on one replica at a time running the job
// (a job lease can lapse while its old holder still runs), so the replicas
// share one --replica_id: each takes the job's lease as its own, and all run
// the job at once. SQLite keeps one writer per file: skipped there.
#include "tests/integration/complaint_fixture.h"

namespace care::testing {
namespace {

constexpr int kReplicas = 3;

class ComplaintReplicasTest : public ComplaintTest {
 protected:
  void SetUp() override {
    pg_ = TestPostgres();
    if (!pg_) GTEST_SKIP() << "replicas share a PostgreSQL database; SQLite has one writer per file";
    auto url = CreateTestDatabase(*pg_);
    ASSERT_TRUE(url.ok()) << url.status();
    database_args_ = {"--database_url=" + *url, "--database_password_file=" + pg_->password_file,
                      "--replica_id=complaint-sla-holder"};
    ComplaintTest::SetUp();
    if (HasFatalFailure()) return;
    stubs_.push_back(kv1::ComplaintService::NewStub(complaint_->channel()));
    clocks_.push_back(care::common::v1::ClockControl::NewStub(complaint_->channel()));
    for (int i = 1; i < kReplicas; ++i) {
      auto& replica = replicas_.emplace_back(std::make_unique<ServiceProcess>(CARE_COMPLAINT_BIN, kComplaintHealth,
                                                                              ComplaintArgs(), tokens_));
      absl::Status started = replica->Start();
      ASSERT_TRUE(started.ok()) << started;
      stubs_.push_back(kv1::ComplaintService::NewStub(replica->channel()));
      clocks_.push_back(care::common::v1::ClockControl::NewStub(replica->channel()));
    }
  }

  std::vector<std::string> ExtraComplaintArgs() override { return database_args_; }

  // Loyalty's clock and every replica's.
  void SetAll(absl::Time t) {
    SetTime(t);
    for (auto& clock : clocks_) {
      care::common::v1::SetTimeRequest req;
      *req.mutable_time() = ToTimestamp(t);
      care::common::v1::GetTimeResponse r;
      grpc::Status s = clock->SetTime(Ctx(admin()).get(), req, &r);
      ASSERT_TRUE(s.ok()) << Describe(s);
    }
  }

  // Files a ticket through replica `r`.
  std::string FileVia(int r, const std::string& order) {
    kv1::CreateComplaintRequest req;
    req.set_request_id("file-" + order);
    req.set_member_id("m1");
    req.set_channel(kv1::CHANNEL_PHONE);
    req.set_category(kv1::CATEGORY_DELIVERY);
    req.set_order_id(order);
    req.set_description("The parcel arrived broken");
    req.set_locale("en");
    kv1::CreateComplaintResponse out;
    grpc::Status s = stubs_[r]->CreateComplaint(Ctx(agent()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out.complaint().complaint_id();
  }

  // Whether every ticket reached `levels` escalations (read round-robin).
  bool AllEscalated(const std::vector<std::string>& ids, int levels) {
    for (size_t i = 0; i < ids.size(); ++i) {
      kv1::GetComplaintRequest req;
      req.set_complaint_id(ids[i]);
      kv1::Complaint c;
      if (!stubs_[i % kReplicas]->GetComplaint(Ctx(agent()).get(), req, &c).ok()) return false;
      if (c.escalations_size() < levels) return false;
    }
    return true;
  }

  std::optional<PostgresCluster> pg_;
  std::vector<std::string> database_args_;
  std::vector<std::unique_ptr<ServiceProcess>> replicas_;
  std::vector<std::unique_ptr<kv1::ComplaintService::Stub>> stubs_;
  std::vector<std::unique_ptr<care::common::v1::ClockControl::Stub>> clocks_;
};

TEST_F(ComplaintReplicasTest, EveryReplicaRunsTheSlaJobAndEachTicketBreachesOnceAndEscalatesOncePerLevel) {
  Calendar("office");
  Policy("standard", 10, absl::Hours(4), "office");
  Enrol("m1");
  SetAll(HanoiTime(2031, 1, 17, 17, 30));  // a Friday: due Monday 12:30, level 2 at 13:30
  constexpr int kTickets = 30;
  std::vector<std::string> ids;
  ids.reserve(kTickets);
  for (int i = 0; i < kTickets; ++i) ids.push_back(FileVia(i % kReplicas, absl::StrCat("o-", i)));
  ASSERT_FALSE(HasFailure());

  // Breach and level 1 on every replica's clock at once, then level 2.
  SetAll(HanoiTime(2031, 1, 20, 12, 31));
  ASSERT_TRUE(Eventually([&] { return AllEscalated(ids, 1); }, absl::Seconds(60)));
  SetAll(HanoiTime(2031, 1, 20, 13, 31));
  ASSERT_TRUE(Eventually([&] { return AllEscalated(ids, 2); }, absl::Seconds(60)));
  // Later rounds of every replica's job find nothing left to fire.
  SetAll(HanoiTime(2031, 1, 22, 9, 0));
  LetJobsRun();

  for (const std::string& id : ids) {
    SCOPED_TRACE(id);
    kv1::Complaint c = Get(id);
    ASSERT_EQ(c.escalations_size(), 2);
    EXPECT_EQ(c.escalations(0).level(), 1);
    EXPECT_EQ(c.escalations(1).level(), 2);
    EXPECT_EQ(c.team_id(), "supervisors");
    EXPECT_EQ(CountEvents(id, kv1::COMPLAINT_EVENT_KIND_SLA_BREACHED), 1);
    EXPECT_EQ(CountEvents(id, kv1::COMPLAINT_EVENT_KIND_ESCALATED), 2);
    EXPECT_EQ(CountEvents(id, kv1::COMPLAINT_EVENT_KIND_PRIORITY_CHANGED), 1);
    // The audit trail has no sequence twice and none skipped.
    std::vector<kv1::ComplaintEvent> events = Events(id);
    for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].sequence(), static_cast<int64_t>(i + 1));
  }
}

}  // namespace
}  // namespace care::testing
