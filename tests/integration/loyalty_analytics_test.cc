// GetLoyaltyAnalytics against the real care_loyalty (issue 22, item 8): a
// known sequence of enrolments, purchases, a return, a redemption,
// adjustments, an erasure, expiry and a downgrade, on the fake clock, in a
// program whose day is UTC+7; every figure is compared with the value
// computed by hand below. A seeded random sequence compares the rollups
// with the same figures recomputed from the members' ledgers. Also: who may
// call it and the bounds of a period.
#include <random>
#include <set>

#include "tests/integration/loyalty_fixture.h"

namespace care::testing {
namespace {

class AnalyticsTest : public LoyaltyTest {
 protected:
  // Erasure requests go to peers that are not there: the outbox keeps them.
  std::vector<std::string> ExtraArgs() override {
    return {absl::StrCat("--promotion_target=127.0.0.1:", FreePort()),
            absl::StrCat("--complaint_target=127.0.0.1:", FreePort())};
  }

  static lv1::LocalDate Date(int y, int m, int d) {
    lv1::LocalDate date;
    date.set_year(y);
    date.set_month(m);
    date.set_day(d);
    return date;
  }

  grpc::Status Query(const lv1::LocalDate& start, const lv1::LocalDate& end, bool monthly, lv1::LoyaltyAnalytics* out,
                     const std::string& token = "", const std::string& zone = "") {
    lv1::GetLoyaltyAnalyticsRequest req;
    *req.mutable_start_date() = start;
    *req.mutable_end_date() = end;
    req.set_granularity(monthly ? lv1::GetLoyaltyAnalyticsRequest::MONTH : lv1::GetLoyaltyAnalyticsRequest::DAY);
    req.set_time_zone(zone);
    return stub().GetLoyaltyAnalytics(Ctx(token.empty() ? admin() : token).get(), req, out);
  }

  lv1::LoyaltyAnalytics Analytics(const lv1::LocalDate& start, const lv1::LocalDate& end, bool monthly) {
    lv1::LoyaltyAnalytics out;
    grpc::Status s = Query(start, end, monthly, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  void Return(const std::string& return_id, const std::string& order_id) {
    lv1::RecordReturnRequest req;
    req.set_request_id("req-" + return_id);
    req.set_return_id(return_id);
    req.set_order_id(order_id);
    req.set_kind(lv1::RETURN_KIND_FULL);
    lv1::RecordReturnResponse out;
    grpc::Status s = stub().RecordReturn(Ctx(svc()).get(), req, &out);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  void Erase(const std::string& member_id) {
    lv1::ErasePersonRequest req;
    req.set_request_id("erase-" + member_id);
    req.mutable_subject()->set_member_id(member_id);
    req.set_reason("DSR-2031-22");
    lv1::Erasure out;
    grpc::Status s = stub().ErasePerson(Ctx(admin()).get(), req, &out);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  static absl::Time Local(int y, int m, int d, int hh) {
    return absl::FromCivil(absl::CivilSecond(y, m, d, hh, 0, 0), *Zone());
  }
  static const absl::TimeZone* Zone() {
    static const absl::TimeZone* zone = [] {
      auto* z = new absl::TimeZone;
      absl::LoadTimeZone("Asia/Ho_Chi_Minh", z);
      return z;
    }();
    return zone;
  }

  // The default program in UTC+7, a point worth half a cent.
  void ConfigureProgram() {
    lv1::Program p = DefaultProgram();
    p.set_time_zone("Asia/Ho_Chi_Minh");
    *p.mutable_point_value()->mutable_amount() = Usd(1);
    p.mutable_point_value()->set_points(2);
    Configure(p);
  }

  // The story every test below reads (points: 1 per 1.00 USD; member 1x,
  // silver 1.25x from 1,000.00 spent).
  void PlayJanuary() {
    // 15 January 2031, 17:00 local (10:00 UTC).
    SetTime(Local(2031, 1, 15, 17));
    ConfigureProgram();
    Enrol("ann");
    Enrol("bob");
    Enrol("cat");
    Purchase("ann", "o1", 200000);  // 2000 points as member, then silver
    Purchase("ann", "o2", 50000);   // 625 points as silver: ann's second today
    Purchase("bob", "o3", 10000);   // 100 points
    // 01:00 local on 16 January is still 15 January in UTC: a new local day.
    SetTime(Local(2031, 1, 16, 1));
    lv1::RedeemPointsResponse spent;
    ASSERT_TRUE(Redeem("bob", "spend-bob", 30, &spent).ok());
    Adjust("cat", "goodwill-cat", 40);
    Adjust("ann", "fix-ann", -20);
    Purchase("bob", "o4", 5000);  // 50 points: bob's first today, second this month
    Return("r2", "o2");           // 625 points back; ann keeps silver until review
    Erase("cat");                 // 40 points forfeited
  }

  // Purchases, returns, redemptions and goodwill at random among `members`,
  // hours apart.
  void PlayRandomHistory(uint32_t seed, const std::vector<std::string>& members) {
    std::mt19937 rng(seed);
    std::vector<std::string> orders;
    for (int step = 0; step < 80; ++step) {
      const std::string& m = members[rng() % members.size()];
      switch (rng() % 5) {
        case 0:
        case 1:
          orders.push_back(absl::StrCat("ro-", step));
          Purchase(m, orders.back(), 1000 + static_cast<int64_t>(rng() % 150000));
          break;
        case 2: {
          lv1::RedeemPointsResponse spent;
          if (int64_t b = Balance(m).balance(); b > 0) {
            ASSERT_TRUE(Redeem(m, absl::StrCat("rr-", step), 1 + static_cast<int64_t>(rng() % b), &spent).ok());
          }
          break;
        }
        case 3:
          if (int64_t b = Balance(m).balance(); b == 0 || rng() % 2 == 0) {
            Adjust(m, absl::StrCat("ra-", step), 1 + static_cast<int64_t>(rng() % 50));
          } else {
            Adjust(m, absl::StrCat("ra-", step), -std::max<int64_t>(1, b / 3));
          }
          break;
        default:
          if (!orders.empty()) {
            const std::string order = orders[rng() % orders.size()];
            orders.erase(std::find(orders.begin(), orders.end(), order));
            Return(absl::StrCat("rt-", step), order);
          }
      }
      Advance(absl::Hours(1 + static_cast<int>(rng() % 14)));
    }
  }
};

const lv1::TierFigures& Tier(const lv1::AnalyticsPeriod& p, const std::string& id) {
  for (const auto& t : p.tiers()) {
    if (t.tier_id() == id) return t;
  }
  ADD_FAILURE() << "no tier " << id << " in " << p.ShortDebugString();
  static const lv1::TierFigures none;
  return none;
}

void ExpectJanuary15(const lv1::AnalyticsPeriod& d15) {
  EXPECT_EQ(d15.start_date().day(), 15);
  EXPECT_EQ(d15.end_date().day(), 15);
  EXPECT_EQ(d15.members(), 3);
  EXPECT_EQ(d15.enrolled(), 3);
  EXPECT_EQ(d15.erased(), 0);
  EXPECT_EQ(d15.upgrades(), 1);
  EXPECT_EQ(d15.downgrades(), 0);
  EXPECT_EQ(d15.purchases(), 3);
  EXPECT_EQ(d15.purchase_amount().amount_minor(), 260000);
  EXPECT_EQ(d15.purchase_amount().currency_code(), "USD");
  EXPECT_EQ(d15.returned_amount().amount_minor(), 0);
  EXPECT_EQ(d15.active_members(), 2);  // ann, bob
  EXPECT_EQ(d15.repeat_members(), 1);  // ann
  EXPECT_EQ(d15.active_rate_bps(), 6666);
  EXPECT_EQ(d15.repeat_rate_bps(), 5000);
  EXPECT_EQ(d15.points().earned(), 2725);
  EXPECT_EQ(d15.points().issued(), 2725);
  EXPECT_EQ(d15.points().redeemed(), 0);
  EXPECT_EQ(d15.outstanding_points(), 2725);
  EXPECT_EQ(d15.outstanding_liability().amount_minor(), 1362);  // 2725 / 2, rounded down
  ASSERT_EQ(d15.tiers_size(), 3);
  EXPECT_EQ(d15.tiers(0).tier_id(), "member");
  EXPECT_EQ(d15.tiers(1).tier_id(), "silver");
  EXPECT_EQ(d15.tiers(2).tier_id(), "gold");
  EXPECT_EQ(Tier(d15, "member").members(), 2);
  EXPECT_EQ(Tier(d15, "member").enrolled(), 3);
  EXPECT_EQ(Tier(d15, "member").active_members(), 2);
  EXPECT_EQ(Tier(d15, "member").purchases(), 2);
  EXPECT_EQ(Tier(d15, "member").points().earned(), 2100);
  EXPECT_EQ(Tier(d15, "silver").members(), 1);
  EXPECT_EQ(Tier(d15, "silver").upgraded_in(), 1);
  EXPECT_EQ(Tier(d15, "silver").purchases(), 1);
  EXPECT_EQ(Tier(d15, "silver").active_members(), 0);
  EXPECT_EQ(Tier(d15, "silver").points().earned(), 625);
  EXPECT_EQ(Tier(d15, "gold").members(), 0);
}

void ExpectJanuary16(const lv1::AnalyticsPeriod& d16) {
  EXPECT_EQ(d16.members(), 2);
  EXPECT_EQ(d16.enrolled(), 0);
  EXPECT_EQ(d16.erased(), 1);
  EXPECT_EQ(d16.upgrades(), 0);
  EXPECT_EQ(d16.purchases(), 1);
  EXPECT_EQ(d16.purchase_amount().amount_minor(), 5000);
  EXPECT_EQ(d16.returned_amount().amount_minor(), 50000);
  EXPECT_EQ(d16.active_members(), 1);
  EXPECT_EQ(d16.repeat_members(), 0);
  EXPECT_EQ(d16.active_rate_bps(), 5000);
  EXPECT_EQ(d16.points().earned(), 50);
  EXPECT_EQ(d16.points().adjusted_in(), 40);
  EXPECT_EQ(d16.points().adjusted_out(), 20);
  EXPECT_EQ(d16.points().issued(), 90);
  EXPECT_EQ(d16.points().redeemed(), 30);
  EXPECT_EQ(d16.points().reversed(), 625);
  EXPECT_EQ(d16.points().forfeited(), 40);
  EXPECT_EQ(d16.points().expired(), 0);
  EXPECT_EQ(d16.outstanding_points(), 2100);  // ann 1980 + bob 120
  EXPECT_EQ(d16.outstanding_liability().amount_minor(), 1050);
  EXPECT_EQ(Tier(d16, "member").members(), 1);
  EXPECT_EQ(Tier(d16, "member").erased(), 1);
  EXPECT_EQ(Tier(d16, "member").points().forfeited(), 40);
  EXPECT_EQ(Tier(d16, "silver").members(), 1);
  EXPECT_EQ(Tier(d16, "silver").points().reversed(), 625);
}

void ExpectJanuary2031(const lv1::AnalyticsPeriod& jan) {
  EXPECT_EQ(jan.start_date().day(), 1);
  EXPECT_EQ(jan.end_date().month(), 1);
  EXPECT_EQ(jan.end_date().day(), 31);
  EXPECT_EQ(jan.members(), 2);
  EXPECT_EQ(jan.enrolled(), 3);
  EXPECT_EQ(jan.erased(), 1);
  EXPECT_EQ(jan.upgrades(), 1);
  EXPECT_EQ(jan.purchases(), 4);
  EXPECT_EQ(jan.purchase_amount().amount_minor(), 265000);
  EXPECT_EQ(jan.returned_amount().amount_minor(), 50000);
  EXPECT_EQ(jan.active_members(), 2);  // distinct in the month: ann, bob
  EXPECT_EQ(jan.repeat_members(), 2);  // both bought twice in January
  EXPECT_EQ(jan.active_rate_bps(), 10000);
  EXPECT_EQ(jan.repeat_rate_bps(), 10000);
  EXPECT_EQ(jan.points().issued(), 2815);
  EXPECT_EQ(jan.points().redeemed(), 30);
  EXPECT_EQ(jan.points().reversed(), 625);
  EXPECT_EQ(jan.points().forfeited(), 40);
  EXPECT_EQ(jan.outstanding_points(), 2100);
}

void ExpectFebruary2031(const lv1::AnalyticsPeriod& feb) {
  EXPECT_EQ(feb.end_date().day(), 28);
  EXPECT_EQ(feb.members(), 2);
  EXPECT_EQ(feb.purchases(), 1);
  EXPECT_EQ(feb.active_members(), 1);
  EXPECT_EQ(feb.repeat_members(), 0);
  EXPECT_EQ(feb.active_rate_bps(), 5000);
  EXPECT_EQ(feb.points().earned(), 125);
  EXPECT_EQ(Tier(feb, "silver").points().earned(), 125);
  EXPECT_EQ(feb.outstanding_points(), 2225);
  EXPECT_EQ(feb.outstanding_liability().amount_minor(), 1112);
}

TEST_F(AnalyticsTest, DaysInTheProgramZoneEqualTheHandComputedFigures) {
  PlayJanuary();
  const lv1::LoyaltyAnalytics days = Analytics(Date(2031, 1, 14), Date(2031, 1, 17), false);
  EXPECT_EQ(days.time_zone(), "Asia/Ho_Chi_Minh");
  EXPECT_EQ(days.currency_code(), "USD");
  ASSERT_EQ(days.periods_size(), 4);
  const lv1::AnalyticsPeriod& before = days.periods(0);
  EXPECT_EQ(before.start_date().day(), 14);
  EXPECT_EQ(before.members(), 0);
  EXPECT_EQ(before.outstanding_points(), 0);
  ExpectJanuary15(days.periods(1));
  ExpectJanuary16(days.periods(2));
  // A day with nothing: the members and points carry over.
  const lv1::AnalyticsPeriod& d17 = days.periods(3);
  EXPECT_EQ(d17.members(), 2);
  EXPECT_EQ(d17.purchases(), 0);
  EXPECT_EQ(d17.active_rate_bps(), 0);
  EXPECT_EQ(d17.outstanding_points(), 2100);
  EXPECT_EQ(Balance("ann").balance() + Balance("bob").balance(), 2100);
}

TEST_F(AnalyticsTest, MonthsCountEachMemberOnceAndCarryTheBalances) {
  PlayJanuary();
  // February: ann again (silver, 1.25x).
  SetTime(Local(2031, 2, 10, 10));
  Purchase("ann", "o5", 10000);  // 125 points
  const lv1::LoyaltyAnalytics months = Analytics(Date(2031, 1, 20), Date(2031, 2, 3), true);
  ASSERT_EQ(months.periods_size(), 2);  // the months touched, whole
  ExpectJanuary2031(months.periods(0));
  ExpectFebruary2031(months.periods(1));
}

TEST_F(AnalyticsTest, ExpiryAndADowngradeAYearOn) {
  PlayJanuary();
  SetTime(Local(2031, 2, 10, 10));
  Purchase("ann", "o5", 10000);  // 125 points, expiring on 1 March 2032
  // A year on: January's points expire on 1 February 2032 (local); ann's
  // silver ends with her grace on 14 February 2032 (no spend in the window).
  SetTime(Local(2032, 2, 1, 0) + absl::Minutes(1));
  ASSERT_TRUE(Eventually([&] { return Balance("ann").balance() == 125 && Balance("bob").balance() == 0; }));
  SetTime(Local(2032, 2, 15, 12));
  ASSERT_TRUE(Eventually([&] { return GetTier("ann").tier_id() == "member"; }));
  const lv1::LoyaltyAnalytics later = Analytics(Date(2032, 2, 1), Date(2032, 2, 1), true);
  ASSERT_EQ(later.periods_size(), 1);
  const lv1::AnalyticsPeriod& feb32 = later.periods(0);
  EXPECT_EQ(feb32.points().expired(), 2100);
  EXPECT_EQ(Tier(feb32, "silver").points().expired(), 1980);
  EXPECT_EQ(Tier(feb32, "member").points().expired(), 120);
  EXPECT_EQ(feb32.downgrades(), 1);
  EXPECT_EQ(feb32.upgrades(), 0);
  EXPECT_EQ(Tier(feb32, "member").downgraded_in(), 1);
  EXPECT_EQ(Tier(feb32, "member").members(), 2);
  EXPECT_EQ(Tier(feb32, "silver").members(), 0);
  EXPECT_EQ(feb32.members(), 2);
  EXPECT_EQ(feb32.outstanding_points(), 125);
  EXPECT_EQ(feb32.outstanding_liability().amount_minor(), 62);
}

// What the ledgers say about one local day: points by kind, purchases (one
// EARN entry each) and the members who bought.
struct DayFromLedger {
  std::map<int, int64_t> points;  // by LedgerEntryKind, as a positive amount
  int64_t adjusted_in = 0, adjusted_out = 0, purchases = 0;
  std::map<std::string, int> buyers;  // member -> purchases
};

// A random day of purchases, returns, redemptions and goodwill among six
// members; the rollups must equal what the ledgers say, day by day.
TEST_F(AnalyticsTest, RollupsEqualTheLedgersOfASeededRandomHistory) {
  const uint32_t seed = 22;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  SetTime(Local(2031, 1, 15, 18));
  ConfigureProgram();
  const std::vector<std::string> members = {"r0", "r1", "r2", "r3", "r4", "r5"};
  for (const auto& m : members) Enrol(m);
  PlayRandomHistory(seed, members);
  // Recomputed from the ledgers, by local day of each entry.
  std::map<absl::CivilDay, DayFromLedger> days;
  int64_t balances = 0;
  std::map<std::string, int64_t> per_tier;
  for (const auto& m : members) {
    for (const lv1::LedgerEntry& e : Ledger(m)) {
      DayFromLedger& d = days[absl::CivilDay(Zone()->At(FromTimestamp(e.create_time())).cs)];
      if (e.kind() == lv1::LEDGER_ENTRY_KIND_ADJUST) {
        (e.points_delta() > 0 ? d.adjusted_in : d.adjusted_out) += std::abs(e.points_delta());
      } else {
        d.points[e.kind()] += std::abs(e.points_delta());
      }
      if (e.kind() == lv1::LEDGER_ENTRY_KIND_EARN) {
        ++d.purchases;
        ++d.buyers[m];
      }
    }
    balances += Balance(m).balance();
    ++per_tier[GetTier(m).tier_id()];
  }
  ASSERT_FALSE(days.empty());
  const absl::CivilDay first = days.begin()->first, last = days.rbegin()->first;
  const lv1::LoyaltyAnalytics got = Analytics(Date(static_cast<int>(first.year()), first.month(), first.day()),
                                              Date(static_cast<int>(last.year()), last.month(), last.day()), false);
  ASSERT_EQ(got.periods_size(), last - first + 1);
  for (const lv1::AnalyticsPeriod& p : got.periods()) {
    const absl::CivilDay day(p.start_date().year(), p.start_date().month(), p.start_date().day());
    SCOPED_TRACE(::testing::Message() << "day " << day);
    DayFromLedger d = days[day];
    EXPECT_EQ(p.points().earned(), d.points[lv1::LEDGER_ENTRY_KIND_EARN]);
    EXPECT_EQ(p.points().redeemed(), d.points[lv1::LEDGER_ENTRY_KIND_REDEEM]);
    EXPECT_EQ(p.points().reversed(), d.points[lv1::LEDGER_ENTRY_KIND_REVERSE]);
    EXPECT_EQ(p.points().visit_rewards(), d.points[lv1::LEDGER_ENTRY_KIND_VISIT_REWARD]);
    EXPECT_EQ(p.points().adjusted_in(), d.adjusted_in);
    EXPECT_EQ(p.points().adjusted_out(), d.adjusted_out);
    EXPECT_EQ(p.purchases(), d.purchases);
    EXPECT_EQ(p.active_members(), static_cast<int64_t>(d.buyers.size()));
    int64_t repeat = 0;
    for (const auto& [m, n] : d.buyers) repeat += n >= 2;
    EXPECT_EQ(p.repeat_members(), repeat);
  }
  const lv1::AnalyticsPeriod& end = got.periods(got.periods_size() - 1);
  EXPECT_EQ(end.outstanding_points(), balances);
  EXPECT_EQ(end.members(), static_cast<int64_t>(members.size()));
  for (const lv1::TierFigures& t : end.tiers()) EXPECT_EQ(t.members(), per_tier[t.tier_id()]) << t.tier_id();
}

TEST_F(AnalyticsTest, AdminsOnlyAndBoundedPeriods) {
  SetTime(Local(2031, 1, 15, 17));
  ConfigureProgram();
  lv1::LoyaltyAnalytics out;
  grpc::Status denied = Query(Date(2031, 1, 1), Date(2031, 1, 2), false, &out, svc());
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Reason(denied), "MISSING_ROLE");

  auto refused = [&](const lv1::LocalDate& start, const lv1::LocalDate& end, bool monthly,
                     const std::string& zone = "") {
    grpc::Status s = Query(start, end, monthly, &out, "", zone);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
    EXPECT_EQ(Reason(s), "INVALID_FIELD") << Describe(s);
  };
  refused(Date(2031, 1, 2), Date(2031, 1, 1), false);   // end before start
  refused(Date(2031, 1, 1), Date(2032, 1, 2), false);   // 367 days
  refused(Date(2031, 2, 30), Date(2031, 3, 1), false);  // no such day
  refused(Date(1969, 12, 31), Date(1970, 1, 1), false);
  refused(Date(2031, 1, 1), Date(2034, 1, 1), true);                           // 37 months
  refused(Date(2031, 1, 1), Date(2031, 1, 2), false, "UTC");                   // not the program's zone
  EXPECT_TRUE(Query(Date(2031, 1, 1), Date(2031, 12, 31), false, &out).ok());  // 365 days
  EXPECT_EQ(out.periods_size(), 365);
  EXPECT_TRUE(Query(Date(2031, 1, 1), Date(2033, 12, 1), true, &out, "", "Asia/Ho_Chi_Minh").ok());
  EXPECT_EQ(out.periods_size(), 36);
}

}  // namespace
}  // namespace care::testing
