// Three care_loyalty replicas on one PostgreSQL database behave as one:
// money operations spread over them stay exact, a request id retried on
// another replica gets the first answer, and a scheduled job run with every
// replica's clock moved grants or expires once per member.
#include "tests/integration/loyalty_fixture.h"
#include "tests/integration/replicas_fixture.h"

namespace care::testing {
namespace {

absl::Time Utc(int y, int m, int d) { return absl::FromCivil(absl::CivilDay(y, m, d), absl::UTCTimeZone()); }

class ReplicasLoyaltyTest : public LoyaltyTest {
 protected:
  // Replaces the single loyalty of LoyaltyTest with three replicas; the
  // helpers it inherits (stub(), Ledger()...) talk to replica 0.
  void SetUp() override {
    if (!TestPostgres()) GTEST_SKIP() << kSkipOnSqlite;
    ASSERT_TRUE(redis_.ok()) << redis_.status();
    tokens_ = WriteTokens(dir_.path());
    std::vector<std::string> args{"--fake_clock",
                                  "--redis_port=" + std::to_string(redis_.port()),
                                  "--notification_target=" + notification_.address(),
                                  "--service_token_file=" +
                                      WriteTokenFile(dir_.path(), "loyalty", tokens_.peer_loyalty),
                                  "--outbox_interval=50ms",
                                  "--job_interval=1s",
                                  "--log_level=warn"};
    loyalty_ = std::make_unique<Replicas>(CARE_LOYALTY_BIN, kLoyaltyHealth, kReplicaCount, args, tokens_);
    absl::Status started = StartTogether(Processes(*loyalty_));
    ASSERT_TRUE(started.ok()) << started;
    stubs_ = StubsOf<lv1::LoyaltyService>(*loyalty_);
    stub_ = lv1::LoyaltyService::NewStub((*loyalty_)[0].channel());
    clock_ = care::common::v1::ClockControl::NewStub((*loyalty_)[0].channel());
    SetClocks(*loyalty_, Base(), admin());
    Configure();
  }

  lv1::LoyaltyService::Stub& on(size_t replica) { return *stubs_[replica % stubs_.size()]; }

  grpc::Status PurchaseOn(size_t replica, const lv1::RecordPurchaseRequest& req, lv1::RecordPurchaseResponse* out) {
    return RetryAborted([&](int attempt) { return on(replica + attempt).RecordPurchase(Ctx(svc()).get(), req, out); });
  }
  grpc::Status RedeemOn(size_t replica, const std::string& member, const std::string& request_id, int64_t points,
                        lv1::RedeemPointsResponse* out) {
    lv1::RedeemPointsRequest req;
    req.set_request_id(request_id);
    req.set_member_id(member);
    req.set_points(points);
    return RetryAborted([&](int attempt) { return on(replica + attempt).RedeemPoints(Ctx(svc()).get(), req, out); });
  }

  // Ledger entries of `member` for which `pred` holds.
  int CountEntries(const std::string& member, const std::function<bool(const lv1::LedgerEntry&)>& pred) {
    int n = 0;
    for (const auto& e : Ledger(member)) n += pred(e) ? 1 : 0;
    return n;
  }

  std::unique_ptr<Replicas> loyalty_;
  std::vector<std::unique_ptr<lv1::LoyaltyService::Stub>> stubs_;
};

// 200 purchases and 100 redemptions of one member at once, spread over the
// replicas: the redemptions ask for more than is ever earned, so some are
// refused; the ledger stays gapless and never negative, the balance is its
// sum, and each acknowledged operation is in it exactly once.
TEST_F(ReplicasLoyaltyTest, ConcurrentMoneyOperationsSpreadOverReplicasStayExact) {
  Enrol("ann");
  constexpr int kOps = 300;  // every third a redemption of 40 points
  struct Outcome {
    grpc::Status status;
    int64_t points = 0;
    std::string entry_id;
  };
  std::vector<Outcome> outcomes(kOps);
  RunConcurrently(kOps, 24, [&](int i) {
    size_t replica = static_cast<size_t>(i / 3);
    if (i % 3 == 0) {
      lv1::RedeemPointsResponse r;
      outcomes[i].status = RedeemOn(replica, "ann", absl::StrCat("spend-", i), 40, &r);
      outcomes[i].entry_id = r.entry().entry_id();
    } else {
      lv1::RecordPurchaseResponse r;
      outcomes[i].status = PurchaseOn(replica, PurchaseRequest("ann", absl::StrCat("o-", i), 1000), &r);
      outcomes[i].points = r.points_earned();
    }
  });

  std::vector<lv1::LedgerEntry> ledger = Ledger("ann");
  int redeemed = 0, refused = 0;
  for (int i = 0; i < kOps; ++i) {
    const Outcome& o = outcomes[i];
    if (i % 3 != 0) {
      ASSERT_TRUE(o.status.ok()) << "purchase " << i << ": " << Describe(o.status);
      int earn = 0;
      for (const auto& e : ledger) {
        if (e.kind() == lv1::LEDGER_ENTRY_KIND_EARN && e.purchase().order_id() == absl::StrCat("o-", i)) {
          ++earn;
          EXPECT_EQ(e.points_delta(), o.points) << "o-" << i;
        }
      }
      EXPECT_EQ(earn, 1) << "o-" << i;
      continue;
    }
    int entries = 0, answered = 0;
    for (const auto& e : ledger) {
      entries += e.request_id() == absl::StrCat("spend-", i) ? 1 : 0;
      answered += e.entry_id() == o.entry_id ? 1 : 0;
    }
    if (o.status.ok()) {
      ++redeemed;
      EXPECT_EQ(entries, 1) << "spend-" << i;
      EXPECT_EQ(answered, 1) << "spend-" << i;
    } else {
      ++refused;
      EXPECT_EQ(Reason(o.status), "INSUFFICIENT_POINTS") << "spend-" << i << ": " << Describe(o.status);
      EXPECT_EQ(entries, 0) << "spend-" << i;
    }
  }
  // At most 200 x 15 points plus 20 visit rewards of 25 were earned: 4,000 asked.
  EXPECT_GT(refused, 0);
  EXPECT_GT(redeemed, 0);
  EXPECT_EQ(CountEntries("ann", [](const lv1::LedgerEntry& e) { return e.kind() == lv1::LEDGER_ENTRY_KIND_REDEEM; }),
            redeemed);
  ExpectLedgerConsistent("ann");
  // Every replica reads the same balance.
  int64_t balance = Balance("ann").balance();
  EXPECT_GE(balance, 0);
  for (size_t r = 0; r < stubs_.size(); ++r) {
    lv1::GetBalanceRequest req;
    req.set_member_id("ann");
    lv1::PointsBalance b;
    ASSERT_TRUE(on(r).GetBalance(Ctx(svc()).get(), req, &b).ok());
    EXPECT_EQ(b.balance(), balance) << "replica " << r;
  }
}

// A retry of one request id on another replica, after the first answer and
// at the same moment as the first call, is applied once and answered with
// the first answer.
TEST_F(ReplicasLoyaltyTest, ARequestIdRetriedOnAnotherReplicaIsAppliedOnceWithTheFirstAnswer) {
  Enrol("bob");
  lv1::RecordPurchaseResponse seed;
  ASSERT_TRUE(PurchaseOn(0, PurchaseRequest("bob", "seed", 100000), &seed).ok());

  // One after the other, on each replica in turn.
  std::vector<lv1::RedeemPointsResponse> answers(kReplicaCount);
  for (size_t r = 0; r < answers.size(); ++r) {
    grpc::Status s = RedeemOn(r, "bob", "spend-once", 100, &answers[r]);
    ASSERT_TRUE(s.ok()) << "replica " << r << ": " << Describe(s);
    EXPECT_EQ(answers[r].entry().entry_id(), answers[0].entry().entry_id()) << "replica " << r;
    EXPECT_EQ(answers[r].points_balance(), answers[0].points_balance()) << "replica " << r;
  }

  // At the same moment, on two different replicas.
  constexpr int kPairs = 20;
  std::vector<lv1::RecordPurchaseResponse> got(2 * kPairs);
  std::vector<grpc::Status> status(2 * kPairs);
  RunConcurrently(2 * kPairs, 2 * kPairs, [&](int i) {
    int pair = i / 2;
    status[i] = PurchaseOn(pair + i % 2, PurchaseRequest("bob", absl::StrCat("twin-", pair), 2000 + pair), &got[i]);
  });
  std::vector<lv1::LedgerEntry> ledger = Ledger("bob");
  for (int pair = 0; pair < kPairs; ++pair) {
    ASSERT_TRUE(status[2 * pair].ok()) << Describe(status[2 * pair]);
    ASSERT_TRUE(status[2 * pair + 1].ok()) << Describe(status[2 * pair + 1]);
    EXPECT_EQ(got[2 * pair].points_earned(), got[2 * pair + 1].points_earned()) << "twin-" << pair;
    EXPECT_EQ(got[2 * pair].points_balance(), got[2 * pair + 1].points_balance()) << "twin-" << pair;
    int earn = 0;
    for (const auto& e : ledger) {
      earn += e.kind() == lv1::LEDGER_ENTRY_KIND_EARN && e.purchase().order_id() == absl::StrCat("twin-", pair);
    }
    EXPECT_EQ(earn, 1) << "twin-" << pair;
  }
  int spends = 0;
  for (const auto& e : ledger) spends += e.request_id() == "spend-once" ? 1 : 0;
  EXPECT_EQ(spends, 1);
  ExpectLedgerConsistent("bob");
}

// Birthday bonuses and points expiry run on whichever replica holds the
// job's lease: with every replica's clock moved, each member gets one bonus a
// year and each lot expires once.
TEST_F(ReplicasLoyaltyTest, JobsWithEveryReplicasClockMovedGrantAndExpireOncePerMember) {
  constexpr int kMembers = 30;
  auto id = [](int i) { return absl::StrCat("b-", i); };
  for (int i = 0; i < kMembers; ++i) {
    Enrol(id(i), [](lv1::Member* m) {
      m->mutable_birthday()->set_month(1);
      m->mutable_birthday()->set_day(20);
    });
    lv1::RecordPurchaseResponse r;
    ASSERT_TRUE(PurchaseOn(i, PurchaseRequest(id(i), "jan-" + id(i), 1000), &r).ok());  // 10 points
  }
  auto all_at = [&](int64_t balance) {
    for (int i = 0; i < kMembers; ++i) {
      if (Balance(id(i)).balance() != balance) return false;
    }
    return true;
  };

  SetClocks(*loyalty_, Utc(2031, 1, 20), admin());
  ASSERT_TRUE(Eventually([&] { return all_at(110); }, absl::Seconds(30)));
  SetClocks(*loyalty_, Utc(2031, 1, 21), admin());  // the jobs run again: nothing more
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_TRUE(all_at(110));

  SetClocks(*loyalty_, Utc(2032, 1, 20), admin());
  ASSERT_TRUE(Eventually([&] { return all_at(210); }, absl::Seconds(30)));
  // January 2031's lots (10 earned, 100 bonus) expire on 1 February 2032.
  SetClocks(*loyalty_, Utc(2032, 2, 1), admin());
  ASSERT_TRUE(Eventually([&] { return all_at(100); }, absl::Seconds(30)));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  for (int i = 0; i < kMembers; ++i) {
    lv1::PointsBalance b = Balance(id(i));
    EXPECT_EQ(b.balance(), 100) << id(i);
    EXPECT_EQ(b.lifetime_expired(), 110) << id(i);
    EXPECT_EQ(CountEntries(id(i), [](const lv1::LedgerEntry& e) { return e.has_birthday(); }), 2) << id(i);
    ExpectLedgerConsistent(id(i));
  }
}

// Care cadence (issue 22) with every replica's clock moved at once: each
// quiet member gets one check-in per period, however many replicas run the
// job.
TEST_F(ReplicasLoyaltyTest, CadenceCheckInsGoOutOncePerMemberWhateverTheReplicas) {
  lv1::Program program = DefaultProgram();
  lv1::CadenceRule* rule = program.add_cadence_rules();
  rule->set_rule_id("we-miss-you");
  rule->set_display_name("We miss you");
  *rule->mutable_no_purchase_for() = ToDurationProto(absl::Hours(24 * 60));
  *rule->mutable_period() = ToDurationProto(absl::Hours(24 * 90));
  lv1::Program out;
  grpc::Status s = UpdateProgram(program, 1, &out, {"cadence_rules"});
  ASSERT_TRUE(s.ok()) << Describe(s);
  constexpr int kMembers = 30;
  for (int i = 0; i < kMembers; ++i) Enrol(absl::StrCat("q-", i));
  auto check_ins = [&] {
    std::map<std::string, std::vector<int>> by_member;
    for (const auto& e : notification_.Events(nv1::IngestEventRequest::kCareCheckIn)) {
      by_member[e.care_check_in().member_id()].push_back(e.care_check_in().contact());
    }
    return by_member;
  };

  SetClocks(*loyalty_, Base() + absl::Hours(24 * 60), admin());
  ASSERT_TRUE(Eventually([&] { return check_ins().size() == static_cast<size_t>(kMembers); }, absl::Seconds(30)));
  SetClocks(*loyalty_, Base() + absl::Hours(24 * 61), admin());  // the jobs run again: nothing more
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  for (const auto& [member, contacts] : check_ins()) EXPECT_EQ(contacts, std::vector<int>{1}) << member;

  SetClocks(*loyalty_, Base() + absl::Hours(24 * 150), admin());
  ASSERT_TRUE(Eventually(
      [&] {
        for (const auto& [member, contacts] : check_ins()) {
          if (contacts.size() < 2) return false;
        }
        return true;
      },
      absl::Seconds(30)));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  for (const auto& [member, contacts] : check_ins()) EXPECT_EQ(contacts, (std::vector<int>{1, 2})) << member;
}

}  // namespace
}  // namespace care::testing
