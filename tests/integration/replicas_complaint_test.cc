// Three care_complaint replicas and three care_loyalty replicas, each set on
// one PostgreSQL database: SLA escalation fires once per level with every
// replica's clock moved, and goodwill points cross to loyalty once while the
// loyalty replicas restart in turn.
#include "tests/integration/complaint_fixture.h"
#include "tests/integration/replicas_fixture.h"

namespace care::testing {
namespace {

class ReplicasComplaintTest : public ComplaintTest {
 protected:
  // Replaces ComplaintTest's single processes with replicas; its helpers
  // (complaints(), stub(), Ledger()...) talk to replica 0 of each.
  void SetUp() override {
    if (!TestPostgres()) GTEST_SKIP() << kSkipOnSqlite;
    ASSERT_TRUE(redis_.ok()) << redis_.status();
    tokens_ = WriteTokens(dir_.path());
    StartLoyalty();
    if (HasFatalFailure()) return;
    Configure();
    std::vector<std::string> args{"--fake_clock",
                                  "--redis_port=" + std::to_string(redis_.port()),
                                  "--loyalty_target=" + loyalty_target_,
                                  "--notification_target=" + notification_.address(),
                                  "--service_token_file=" +
                                      WriteTokenFile(dir_.path(), "complaint", tokens_.peer_complaint),
                                  "--job_interval=50ms",
                                  "--outbox_interval=50ms",
                                  "--log_level=warn"};
    complaints_ = std::make_unique<Replicas>(CARE_COMPLAINT_BIN, kComplaintHealth, kReplicaCount, args, tokens_);
    absl::Status started = StartTogether(Processes(*complaints_));
    ASSERT_TRUE(started.ok()) << started;
    cstubs_ = StubsOf<kv1::ComplaintService>(*complaints_);
    cstub_ = kv1::ComplaintService::NewStub((*complaints_)[0].channel());
    cclock_ = care::common::v1::ClockControl::NewStub((*complaints_)[0].channel());
    SetAll(Base());
  }

  // Loyalty replicas on fixed ports: complaint reaches them through one
  // multi-address target, which still names a restarted replica.
  void StartLoyalty() {
    std::vector<std::string> args{"--fake_clock", "--redis_port=" + std::to_string(redis_.port()),
                                  "--notification_target=" + notification_.address(),
                                  "--service_token_file=" +
                                      WriteTokenFile(dir_.path(), "loyalty", tokens_.peer_loyalty),
                                  "--outbox_interval=50ms",
                                  // Complaint's connections would hold a restart for the whole drain.
                                  "--drain_deadline=1s", "--log_level=warn"};
    loyalty_ = std::make_unique<Replicas>(CARE_LOYALTY_BIN, kLoyaltyHealth, kReplicaCount, args, tokens_);
    loyalty_target_ = PinPorts(*loyalty_, args);
    absl::Status started = StartTogether(Processes(*loyalty_));
    ASSERT_TRUE(started.ok()) << started;
    Reconnect();
  }
  void Reconnect() {
    stub_ = lv1::LoyaltyService::NewStub((*loyalty_)[0].channel());
    clock_ = care::common::v1::ClockControl::NewStub((*loyalty_)[0].channel());
  }

  void SetAll(absl::Time t) {
    now_ = t;
    SetClocks(*loyalty_, t, admin());
    SetClocks(*complaints_, t, admin());
  }

  kv1::ComplaintService::Stub& on(size_t replica) { return *cstubs_[replica % cstubs_.size()]; }

  kv1::Complaint FileOn(size_t replica, const std::string& member, const std::string& order) {
    kv1::CreateComplaintRequest req;
    req.set_request_id("file-" + order);
    req.set_member_id(member);
    req.set_channel(kv1::CHANNEL_PHONE);
    req.set_category(kv1::CATEGORY_DELIVERY);
    req.set_order_id(order);
    req.set_description("The parcel arrived broken");
    req.set_locale("en");
    kv1::CreateComplaintResponse out;
    grpc::Status s = on(replica).CreateComplaint(Ctx(agent()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out.complaint();
  }
  kv1::Complaint GetOn(size_t replica, const std::string& id) {
    kv1::GetComplaintRequest req;
    req.set_complaint_id(id);
    kv1::Complaint out;
    grpc::Status s = on(replica).GetComplaint(Ctx(agent()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  std::unique_ptr<Replicas> loyalty_;
  std::unique_ptr<Replicas> complaints_;
  std::string loyalty_target_;
  std::vector<std::unique_ptr<kv1::ComplaintService::Stub>> cstubs_;
  absl::Time now_;
};

TEST_F(ReplicasComplaintTest, SlaEscalationFiresOncePerLevelWithEveryReplicasClockMoved) {
  Calendar("office");
  Policy("standard", 10, absl::Hours(4), "office");
  constexpr int kTickets = 6;
  SetAll(HanoiTime(2031, 1, 17, 17, 30));  // a Friday: due Monday 12:30
  std::vector<std::string> ids;
  for (int i = 0; i < kTickets; ++i) {
    std::string member = absl::StrCat("m", i);
    Enrol(member);
    kv1::Complaint c = FileOn(i, member, absl::StrCat("o-", i));
    ASSERT_EQ(FromTimestamp(c.first_response_sla().due_time()), HanoiTime(2031, 1, 20, 12, 30));
    ids.push_back(c.complaint_id());
  }
  auto all_escalated = [&](int levels) {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (GetOn(i + 1, ids[i]).escalations_size() != levels) return false;
    }
    return true;
  };

  SetAll(HanoiTime(2031, 1, 20, 12, 31));
  ASSERT_TRUE(Eventually([&] { return all_escalated(1); }, absl::Seconds(20)));
  SetAll(HanoiTime(2031, 1, 20, 13, 31));  // level 2 one business hour later
  ASSERT_TRUE(Eventually([&] { return all_escalated(2); }, absl::Seconds(20)));
  SetAll(HanoiTime(2031, 1, 22, 9, 0));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // every replica's job runs again

  for (size_t i = 0; i < ids.size(); ++i) {
    kv1::Complaint c = GetOn(i + 2, ids[i]);
    EXPECT_TRUE(c.first_response_sla().breached()) << ids[i];
    EXPECT_EQ(FromTimestamp(c.first_response_sla().breach_time()), HanoiTime(2031, 1, 20, 12, 30)) << ids[i];
    ASSERT_EQ(c.escalations_size(), 2) << ids[i];
    EXPECT_EQ(c.escalations(0).level(), 1) << ids[i];
    EXPECT_EQ(c.escalations(1).level(), 2) << ids[i];
    EXPECT_EQ(c.team_id(), "supervisors") << ids[i];
    EXPECT_EQ(CountEvents(ids[i], kv1::COMPLAINT_EVENT_KIND_SLA_BREACHED), 1) << ids[i];
    EXPECT_EQ(CountEvents(ids[i], kv1::COMPLAINT_EVENT_KIND_ESCALATED), 2) << ids[i];
  }
}

TEST_F(ReplicasComplaintTest, GoodwillCrossesToLoyaltyOnceWhileLoyaltyReplicasRestartInTurn) {
  constexpr int kMembers = 4;
  constexpr int kPerMember = 3;
  struct Ticket {
    std::string id, member;
    int64_t points;
  };
  std::vector<Ticket> tickets;
  for (int m = 0; m < kMembers; ++m) Enrol(absl::StrCat("g", m));
  for (int i = 0; i < kMembers * kPerMember; ++i) {
    std::string member = absl::StrCat("g", i % kMembers);
    tickets.push_back({FileOn(i, member, absl::StrCat("go-", i)).complaint_id(), member, 10 + i});
  }
  // Each loyalty replica in turn restarts while a third of the goodwill is
  // being relayed, resolved on every complaint replica.
  for (int turn = 0; turn < kReplicaCount; ++turn) {
    for (int i = turn; i < static_cast<int>(tickets.size()); i += kReplicaCount) {
      kv1::ResolveComplaintResponse r;
      grpc::Status s = RetryAborted([&](int attempt) {
        return on(i + attempt)
            .ResolveComplaint(Ctx(agent()).get(), ResolveRequest(tickets[i].id, tickets[i].points), &r);
      });
      ASSERT_TRUE(s.ok()) << Describe(s);
    }
    absl::Status restarted = (*loyalty_)[turn].Restart();
    ASSERT_TRUE(restarted.ok()) << restarted;
    SetClock((*loyalty_)[turn], now_, admin());
  }
  Reconnect();

  std::map<std::string, int64_t> owed;
  for (const auto& t : tickets) owed[t.member] += t.points;
  auto all_issued = [&] {
    for (size_t i = 0; i < tickets.size(); ++i) {
      kv1::Complaint c = GetOn(i, tickets[i].id);
      if (c.compensations_size() != 1 || c.compensations(0).status() != kv1::COMPENSATION_STATUS_ISSUED) return false;
    }
    return true;
  };
  ASSERT_TRUE(Eventually(all_issued, absl::Seconds(30)));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // the relays run again: nothing more
  for (const auto& [member, points] : owed) {
    EXPECT_EQ(Balance(member).balance(), points) << member;
    int adjustments = 0;
    for (const auto& e : Ledger(member)) adjustments += e.kind() == lv1::LEDGER_ENTRY_KIND_ADJUST ? 1 : 0;
    EXPECT_EQ(adjustments, kPerMember) << member;
    ExpectLedgerConsistent(member);
  }
  for (size_t i = 0; i < tickets.size(); ++i) {
    std::string reference = GetOn(i, tickets[i].id).compensations(0).issued_reference();
    int found = 0;
    for (const auto& e : Ledger(tickets[i].member)) {
      if (e.entry_id() == reference) {
        ++found;
        EXPECT_EQ(e.points_delta(), tickets[i].points) << tickets[i].id;
      }
    }
    EXPECT_EQ(found, 1) << tickets[i].id;
  }
}

}  // namespace
}  // namespace care::testing
