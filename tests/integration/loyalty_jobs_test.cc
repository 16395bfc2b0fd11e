// Jobs on the injectable clock: points expiry (oldest first), expiring-soon
// warnings, birthday bonuses; and the outbox that carries their events (and
// every other loyalty event) to the notification service, retrying while it
// is down, each event id delivered at least once and recorded once.
#include "tests/integration/loyalty_fixture.h"

namespace care::testing {
namespace {

using JobsTest = LoyaltyTest;

absl::Time Utc(int y, int m, int d, int hh = 0, int mm = 0) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, hh, mm, 0), absl::UTCTimeZone());
}

TEST_F(JobsTest, PointsExpireOldestFirstWithOneWarningPerExpiry) {
  Configure();
  Enrol("ann");
  Purchase("ann", "o-jan", 10000);  // 100 points, January 2031: expire 2032-02-01
  SetTime(Utc(2031, 2, 15, 10));
  Purchase("ann", "o-feb", 5000);  // 50 points, February 2031: expire 2032-03-01
  lv1::RedeemPointsResponse spent;
  ASSERT_TRUE(Redeem("ann", "spend-30", 30, &spent).ok());  // from January's points

  lv1::PointsBalance b = Balance("ann");
  ASSERT_EQ(b.upcoming_expiries_size(), 2);
  EXPECT_EQ(FromTimestamp(b.upcoming_expiries(0).expire_time()), Utc(2032, 2, 1));
  EXPECT_EQ(b.upcoming_expiries(0).points(), 70);
  EXPECT_EQ(FromTimestamp(b.upcoming_expiries(1).expire_time()), Utc(2032, 3, 1));
  EXPECT_EQ(b.upcoming_expiries(1).points(), 50);
  EXPECT_EQ(b.points_expiring_soon(), 0);

  // 30 days ahead of the first expiry: a warning for the 70 points only.
  SetTime(Utc(2032, 1, 5));
  ASSERT_TRUE(Eventually([&] { return notification_.Events(nv1::IngestEventRequest::kPointsExpiring).size() == 1; }));
  auto warning = notification_.Events(nv1::IngestEventRequest::kPointsExpiring)[0];
  EXPECT_EQ(warning.points_expiring().member_id(), "ann");
  EXPECT_EQ(warning.points_expiring().points(), 70);
  EXPECT_EQ(FromTimestamp(warning.points_expiring().expire_time()), Utc(2032, 2, 1));
  EXPECT_EQ(Balance("ann").points_expiring_soon(), 70);
  Advance(absl::Hours(1));  // jobs run again: no second warning
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(notification_.Events(nv1::IngestEventRequest::kPointsExpiring).size(), 1u);

  // At the instant: January's 70 expire; February's 50 get their warning.
  SetTime(Utc(2032, 2, 1));
  ASSERT_TRUE(Eventually([&] { return Balance("ann").balance() == 50; }));
  ASSERT_TRUE(Eventually([&] { return notification_.Events(nv1::IngestEventRequest::kPointsExpiring).size() == 2; }));
  EXPECT_EQ(notification_.Events(nv1::IngestEventRequest::kPointsExpiring)[1].points_expiring().points(), 50);

  SetTime(Utc(2032, 3, 1));
  ASSERT_TRUE(Eventually([&] { return Balance("ann").balance() == 0; }));
  std::vector<lv1::LedgerEntry> ledger = Ledger("ann");
  ASSERT_EQ(ledger.size(), 5u);
  EXPECT_EQ(ledger[3].kind(), lv1::LEDGER_ENTRY_KIND_EXPIRE);
  EXPECT_EQ(ledger[3].points_delta(), -70);
  EXPECT_EQ(ledger[3].actor(), "system");
  EXPECT_EQ(FromTimestamp(ledger[3].expiry().expire_time()), Utc(2032, 2, 1));
  EXPECT_EQ(ledger[4].points_delta(), -50);
  EXPECT_EQ(Balance("ann").lifetime_expired(), 120);
  ExpectLedgerConsistent("ann");
}

TEST_F(JobsTest, BirthdayBonusOncePerYearOnTheLocalDay) {
  Configure();
  Enrol("bea", [](lv1::Member* m) {
    m->mutable_birthday()->set_month(1);
    m->mutable_birthday()->set_day(20);
    m->set_time_zone("Asia/Ho_Chi_Minh");  // UTC+7: 20 January starts at 19 January 17:00 UTC
  });
  Enrol("cal", [](lv1::Member* m) {
    m->mutable_birthday()->set_year(1992);
    m->mutable_birthday()->set_month(2);
    m->mutable_birthday()->set_day(29);  // 28 February in 2031
  });

  SetTime(Utc(2031, 1, 19, 16, 59));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Balance("bea").balance(), 0);

  SetTime(Utc(2031, 1, 19, 17, 0));
  ASSERT_TRUE(Eventually([&] { return Balance("bea").balance() == 100; }));
  SetTime(Utc(2031, 1, 20, 12));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Balance("bea").balance(), 100);  // once per year

  SetTime(Utc(2031, 2, 28));
  ASSERT_TRUE(Eventually([&] { return Balance("cal").balance() == 100; }));

  SetTime(Utc(2032, 1, 19, 17, 0));
  ASSERT_TRUE(Eventually([&] { return Balance("bea").balance() == 200; }));
  std::vector<lv1::LedgerEntry> ledger = Ledger("bea");
  ASSERT_EQ(ledger.size(), 2u);
  EXPECT_EQ(ledger[0].kind(), lv1::LEDGER_ENTRY_KIND_BONUS);
  EXPECT_EQ(ledger[0].birthday().year(), 2031);
  EXPECT_EQ(ledger[1].birthday().year(), 2032);

  ASSERT_TRUE(Eventually([&] { return notification_.Events(nv1::IngestEventRequest::kBirthdayReward).size() == 3; }));
  for (const auto& e : notification_.Events(nv1::IngestEventRequest::kBirthdayReward)) {
    EXPECT_EQ(e.birthday_reward().points(), 100);
  }
}

TEST_F(JobsTest, EventsWaitInTheOutboxWhileNotificationIsDownAndArriveOnce) {
  Configure();
  notification_.set_down(true);
  Enrol("dee", [](lv1::Member* m) {
    auto* c = m->add_marketing_consents();
    c->set_channel(care::common::v1::MESSAGE_CHANNEL_EMAIL);
    c->set_granted(true);
  });
  Purchase("dee", "o-1", 100000);
  ASSERT_TRUE(Eventually([&] { return notification_.calls() >= 2; }));
  EXPECT_TRUE(notification_.Events().empty());

  notification_.set_down(false);
  ASSERT_TRUE(Eventually([&] { return notification_.Events().size() == 3; }, absl::Seconds(20)));
  std::vector<nv1::IngestEventRequest> events = notification_.Events();
  // In commit order: the profile, the enrolment tier, the upgrade.
  EXPECT_EQ(events[0].event_case(), nv1::IngestEventRequest::kMemberProfileChanged);
  EXPECT_EQ(events[0].member_profile_changed().email(), "dee@example.com");
  ASSERT_EQ(events[0].member_profile_changed().consents_size(), 1);
  EXPECT_TRUE(events[0].member_profile_changed().consents(0).granted());
  EXPECT_EQ(events[1].tier_changed().old_tier_id(), "");
  EXPECT_EQ(events[1].tier_changed().new_tier_id(), "member");
  EXPECT_EQ(events[2].tier_changed().new_tier_id(), "silver");
  EXPECT_EQ(events[2].tier_changed().version(), 2);
  for (const auto& e : events) {
    EXPECT_EQ(e.source(), "loyalty");
    EXPECT_EQ(e.event_id().rfind("loyalty:", 0), 0u) << e.event_id();
    EXPECT_TRUE(e.has_occurred_at());
  }
  EXPECT_EQ(notification_.authorization(), "Bearer " + tokens_.peer_loyalty);

  // A profile change that matters to notification is sent; one that does
  // not (occupation) is not.
  lv1::UpdateMemberRequest update;
  update.set_request_id("u-1");
  update.mutable_member()->set_member_id("dee");
  update.mutable_member()->set_occupation("chef");
  update.mutable_update_mask()->add_paths("occupation");
  lv1::Member updated;
  ASSERT_TRUE(stub().UpdateMember(Ctx(svc()).get(), update, &updated).ok());
  update.set_request_id("u-2");
  update.mutable_member()->set_phone("+84901234567");
  update.mutable_update_mask()->add_paths("phone");
  ASSERT_TRUE(stub().UpdateMember(Ctx(svc()).get(), update, &updated).ok());
  EXPECT_EQ(updated.version(), 3);
  ASSERT_TRUE(Eventually([&] { return notification_.Events().size() == 4; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  events = notification_.Events();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[3].member_profile_changed().phone(), "+84901234567");
}

TEST_F(JobsTest, EventsSurviveARestartBeforeDelivery) {
  Configure();
  notification_.set_down(true);
  Enrol("eva");
  ASSERT_TRUE(Eventually([&] { return notification_.calls() >= 1; }));
  service_->Kill();
  notification_.set_down(false);
  ASSERT_TRUE(service_->Restart().ok());
  Connect();
  ASSERT_TRUE(Eventually([&] { return notification_.Events().size() == 2; }, absl::Seconds(20)));
}

}  // namespace
}  // namespace care::testing
