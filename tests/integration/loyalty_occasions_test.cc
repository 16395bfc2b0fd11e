// Issue 22 item 6 through the binary: occasions besides the birthday
// (membership anniversaries and named dates) grant points, a catalogue
// reward and a message on the member's local day, once per member and
// occurrence, across a restart.
#include <thread>

#include "tests/integration/loyalty_fixture.h"

namespace care::testing {
namespace {

using OccasionsTest = LoyaltyTest;

absl::Time Utc(int y, int m, int d, int h = 0, int min = 0) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, h, min, 0), absl::UTCTimeZone());
}

lv1::Occasion Anniversary(const std::string& id, int64_t points, const std::vector<int>& years = {}) {
  lv1::Occasion o;
  o.set_occasion_id(id);
  o.set_display_name("Membership anniversary");
  (*o.mutable_localized_display_names())["ja"] = "入会記念日";
  o.mutable_membership_anniversary();
  for (int y : years) o.mutable_membership_anniversary()->add_years(y);
  o.set_points(points);
  return o;
}

lv1::Occasion Dated(const std::string& id, int year, int month, int day, int64_t points) {
  lv1::Occasion o;
  o.set_occasion_id(id);
  o.set_display_name("Tet holiday");
  (*o.mutable_localized_display_names())["vi"] = "Tết";
  o.mutable_date()->set_year(year);
  o.mutable_date()->set_month(month);
  o.mutable_date()->set_day(day);
  o.set_points(points);
  return o;
}

// The occasion entries of the member's ledger, oldest first.
std::vector<lv1::LedgerEntry> OccasionEntries(const std::vector<lv1::LedgerEntry>& ledger) {
  std::vector<lv1::LedgerEntry> out;
  for (const auto& e : ledger) {
    if (e.has_occasion()) out.push_back(e);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.sequence() < b.sequence(); });
  return out;
}

void Settle() { std::this_thread::sleep_for(std::chrono::milliseconds(400)); }

TEST_F(OccasionsTest, AnAnniversaryIsGrantedOnceOnTheLocalDayAcrossARestart) {
  lv1::Program program = DefaultProgram();
  program.mutable_points_expiry()->Clear();  // balances below add up without expiry
  *program.add_occasions() = Anniversary("anniversary", 300);
  *program.add_occasions() = Anniversary("fifth", 5000, {5});
  Configure(program);
  // Enrolled 2031-01-15 19:00 in Tokyo: the anniversary starts at local
  // midnight, 2032-01-14 15:00 UTC.
  Enrol("ann", [](lv1::Member* m) {
    m->set_time_zone("Asia/Tokyo");
    m->set_locale("ja-JP");
  });

  SetTime(Utc(2032, 1, 14, 14, 59));
  Settle();
  EXPECT_EQ(Balance("ann").balance(), 0);
  SetTime(Utc(2032, 1, 14, 15, 0));
  ASSERT_TRUE(Eventually([&] { return Balance("ann").balance() == 300; }));

  service_->Kill();
  ASSERT_TRUE(service_->Restart().ok());
  Connect();
  SetTime(Utc(2032, 1, 15, 12));
  Settle();
  EXPECT_EQ(Balance("ann").balance(), 300);  // once, whatever the restart

  SetTime(Utc(2033, 1, 14, 15, 0));
  ASSERT_TRUE(Eventually([&] { return Balance("ann").balance() == 600; }));
  std::vector<lv1::LedgerEntry> entries = OccasionEntries(Ledger("ann"));
  ASSERT_EQ(entries.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(entries[i].kind(), lv1::LEDGER_ENTRY_KIND_BONUS);
    EXPECT_EQ(entries[i].points_delta(), 300);
    EXPECT_EQ(entries[i].occasion().occasion_id(), "anniversary");
    EXPECT_EQ(entries[i].occasion().occurrence(), i + 1);
  }

  // The fifth anniversary alone brings the other occasion too.
  SetTime(Utc(2036, 1, 14, 15, 0));
  ASSERT_TRUE(Eventually([&] { return Balance("ann").balance() == 600 + 300 + 5000; }));
  entries = OccasionEntries(Ledger("ann"));
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[2].occasion().occurrence(), 5);
  EXPECT_EQ(entries[3].occasion().occurrence(), 5);

  // One message per grant, naming the occasion in every language it has.
  ASSERT_TRUE(Eventually([&] { return notification_.Events(nv1::IngestEventRequest::kOccasionReward).size() == 4u; }));
  Settle();
  std::vector<nv1::IngestEventRequest> sent = notification_.Events(nv1::IngestEventRequest::kOccasionReward);
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(sent[0].occasion_reward().member_id(), "ann");
  EXPECT_EQ(sent[0].occasion_reward().occurrence(), 1);
  EXPECT_EQ(sent[0].occasion_reward().points(), 300);
  EXPECT_EQ(sent[0].occasion_reward().localized_occasion_names().at("ja"), "入会記念日");
  ExpectLedgerConsistent("ann");
}

TEST_F(OccasionsTest, ADatedOccasionReachesEachTimeZoneAtItsMidnightOncePerMember) {
  lv1::Program program = DefaultProgram();
  program.mutable_points_expiry()->Clear();
  lv1::Occasion tet = Dated("tet", 0, 2, 10, 50);
  tet.add_segments("retail");
  *program.add_occasions() = tet;
  Configure(program);
  Enrol("tokyo", [](lv1::Member* m) { m->set_time_zone("Asia/Tokyo"); });
  Enrol("hcm", [](lv1::Member* m) { m->set_time_zone("Asia/Ho_Chi_Minh"); });
  Enrol("utc");  // no zone: the program's (UTC)
  Enrol("vip", [](lv1::Member* m) {
    m->set_time_zone("Asia/Tokyo");
    m->set_segment("vip");
  });
  // More members in one zone than the job takes per transaction.
  constexpr int kCrowd = 450;
  RunConcurrently(kCrowd, 4, [&](int i) {
    Enrol(absl::StrCat("ny-", i), [](lv1::Member* m) { m->set_time_zone("America/New_York"); });
  });

  // 10 February starts in Tokyo at 9 February 15:00 UTC, then in Ho Chi
  // Minh City (17:00), UTC, and New York (10 February 05:00).
  SetTime(Utc(2031, 2, 9, 15, 0));
  ASSERT_TRUE(Eventually([&] { return Balance("tokyo").balance() == 50; }));
  Settle();
  EXPECT_EQ(Balance("hcm").balance(), 0);
  EXPECT_EQ(Balance("vip").balance(), 0);  // not in the occasion's segment
  SetTime(Utc(2031, 2, 9, 17, 0));
  ASSERT_TRUE(Eventually([&] { return Balance("hcm").balance() == 50; }));
  Settle();
  EXPECT_EQ(Balance("utc").balance(), 0);
  EXPECT_EQ(Balance("ny-0").balance(), 0);
  SetTime(Utc(2031, 2, 10, 5, 0));
  // One message per grant: the sign that every zone's walk is done.
  auto sent = [&] { return notification_.Events(nv1::IngestEventRequest::kOccasionReward).size(); };
  ASSERT_TRUE(Eventually([&] { return sent() == 3u + kCrowd; }, absl::Seconds(30))) << sent();
  EXPECT_EQ(Balance("utc").balance(), 50);
  // Enrolled after the day began: not this year's.
  Enrol("late", [](lv1::Member* m) { m->set_time_zone("America/New_York"); });
  SetTime(Utc(2031, 2, 12));
  Settle();
  EXPECT_EQ(Balance("late").balance(), 0);
  EXPECT_EQ(Balance("vip").balance(), 0);
  for (int i = 0; i < kCrowd; ++i) ASSERT_EQ(Balance(absl::StrCat("ny-", i)).balance(), 50) << i;

  // Next year everyone eligible gets it again, once; the catch-up week
  // passes without a second grant.
  SetTime(Utc(2032, 2, 10, 12));
  const size_t both_years = 2 * (3u + kCrowd) + 1;
  ASSERT_TRUE(Eventually([&] { return sent() == both_years; }, absl::Seconds(30))) << sent();
  SetTime(Utc(2032, 2, 16));
  Settle();
  EXPECT_EQ(sent(), both_years);
  for (const char* id : {"tokyo", "hcm", "utc"}) EXPECT_EQ(Balance(id).balance(), 100) << id;
  EXPECT_EQ(Balance("late").balance(), 50);
  EXPECT_EQ(Balance("vip").balance(), 0);
  std::vector<lv1::LedgerEntry> entries = OccasionEntries(Ledger("tokyo"));
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].occasion().occurrence(), 2031);
  EXPECT_EQ(entries[1].occasion().occurrence(), 2032);
  EXPECT_EQ(entries[1].occasion().occasion_name(), "Tet holiday");
  ExpectLedgerConsistent("tokyo");
}

TEST_F(OccasionsTest, AnOccasionLongPastIsNotGrantedLate) {
  lv1::Program program = DefaultProgram();
  *program.add_occasions() = Dated("founding-day", 2031, 3, 1, 70);
  Configure(program);
  Enrol("ann");
  // The service comes back two weeks after the day: the catch-up week is
  // over, and nothing is granted.
  SetTime(Utc(2031, 3, 15));
  Settle();
  EXPECT_EQ(Balance("ann").balance(), 0);
  // Within the week it still is.
  lv1::Program next = program;
  next.clear_occasions();
  *next.add_occasions() = Dated("spring", 2031, 3, 10, 30);
  lv1::Program out;
  grpc::Status s = UpdateProgram(next, 1, &out, {"occasions"});
  ASSERT_TRUE(s.ok()) << Describe(s);
  SetTime(Utc(2031, 3, 15, 1));  // the jobs run when the clock moves
  ASSERT_TRUE(Eventually([&] { return Balance("ann").balance() == 30; }));
}

TEST_F(OccasionsTest, AnOccasionGivesItsCatalogueRewardOnceToEachMemberWhileInStock) {
  auto redemptions = [&](const std::string& member_id) {
    lv1::ListRewardRedemptionsRequest req;
    req.set_member_id(member_id);
    req.set_page_size(50);
    lv1::ListRewardRedemptionsResponse resp;
    grpc::Status s = stub().ListRewardRedemptions(Ctx(svc()).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return std::vector<lv1::RewardRedemption>(resp.redemptions().begin(), resp.redemptions().end());
  };
  lv1::Program program = DefaultProgram();
  Configure(program);
  lv1::CreateRewardRequest create;
  create.set_request_id("mug");
  lv1::Reward* mug = create.mutable_reward();
  mug->set_reward_id("mug");
  mug->set_display_name("Anniversary mug");
  (*mug->mutable_localized_display_names())["ja"] = "記念マグカップ";
  mug->set_points_price(500);
  mug->set_stock(2);
  mug->mutable_free_item()->set_sku("MUG-1");
  lv1::Reward created;
  grpc::Status s = stub().CreateReward(Ctx(admin()).get(), create, &created);
  ASSERT_TRUE(s.ok()) << Describe(s);

  // An occasion naming a reward the catalogue does not have is refused.
  lv1::Occasion tet = Dated("tet", 2031, 3, 10, 50);
  tet.set_reward_id("no-such-reward");
  *program.add_occasions() = tet;
  lv1::Program out;
  s = UpdateProgram(program, 1, &out);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"program.occasions[0].reward_id"});
  program.mutable_occasions(0)->set_reward_id("mug");
  s = UpdateProgram(program, 1, &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(out.occasions(0).reward_id(), "mug");

  const std::vector<std::string> members = {"ann", "bob", "cat"};
  for (const std::string& id : members) {
    Enrol(id, [](lv1::Member* m) { m->set_locale("ja-JP"); });
  }
  SetTime(Utc(2031, 3, 10, 1));
  for (const std::string& id : members) {
    ASSERT_TRUE(Eventually([&] { return Balance(id).balance() == 50; })) << id;
  }
  // A restart within the catch-up week gives nothing twice.
  service_->Kill();
  ASSERT_TRUE(service_->Restart().ok());
  Connect();
  SetTime(Utc(2031, 3, 12));
  Settle();

  // Two mugs for three members: two gifts, each free, fulfilled, on the
  // ledger as a 0-point REWARD entry naming the occasion.
  int gifted = 0;
  for (const std::string& id : members) {
    EXPECT_EQ(Balance(id).balance(), 50) << id;
    std::vector<lv1::RewardRedemption> got = redemptions(id);
    ASSERT_LE(got.size(), 1u) << id;
    std::vector<lv1::LedgerEntry> rewards;
    for (const lv1::LedgerEntry& e : Ledger(id)) {
      if (e.kind() == lv1::LEDGER_ENTRY_KIND_REWARD) rewards.push_back(e);
    }
    ASSERT_EQ(rewards.size(), got.size()) << id;
    if (got.empty()) continue;
    ++gifted;
    EXPECT_EQ(got[0].reward_id(), "mug");
    EXPECT_EQ(got[0].occasion_id(), "tet");
    EXPECT_EQ(got[0].points(), 0);
    EXPECT_EQ(got[0].state(), lv1::RewardRedemption::FULFILLED);
    EXPECT_EQ(got[0].sku(), "MUG-1");
    EXPECT_EQ(rewards[0].points_delta(), 0);
    EXPECT_EQ(rewards[0].reward().occasion_id(), "tet");
    EXPECT_EQ(rewards[0].reward().redemption_id(), got[0].redemption_id());
    ExpectLedgerConsistent(id);
  }
  EXPECT_EQ(gifted, 2);
  lv1::GetRewardRequest get;
  get.set_reward_id("mug");
  lv1::Reward after;
  ASSERT_TRUE(stub().GetReward(Ctx(admin()).get(), get, &after).ok());
  EXPECT_EQ(after.stock(), 0);
  EXPECT_EQ(after.redeemed_count(), 2);

  // Each member hears of the occasion once; the two with a mug read its name
  // in their language.
  ASSERT_TRUE(Eventually([&] { return notification_.Events(nv1::IngestEventRequest::kOccasionReward).size() == 3u; }));
  Settle();
  std::vector<nv1::IngestEventRequest> sent = notification_.Events(nv1::IngestEventRequest::kOccasionReward);
  ASSERT_EQ(sent.size(), 3u);
  int named = 0;
  for (const auto& e : sent) {
    if (e.occasion_reward().reward_name().empty()) continue;
    ++named;
    EXPECT_EQ(e.occasion_reward().reward_name(), "Anniversary mug");
    EXPECT_EQ(e.occasion_reward().localized_reward_names().at("ja"), "記念マグカップ");
  }
  EXPECT_EQ(named, 2);

  // Archiving the reward stops the gift; it does not block program updates
  // that keep the occasion.
  lv1::ArchiveRewardRequest archive;
  archive.set_request_id("archive-mug");
  archive.set_reward_id("mug");
  lv1::Reward archived;
  s = stub().ArchiveReward(Ctx(admin()).get(), archive, &archived);
  ASSERT_TRUE(s.ok()) << Describe(s);
  program.mutable_occasions(0)->set_points(60);
  s = UpdateProgram(program, out.version(), &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(out.occasions(0).reward_id(), "mug");
}

TEST_F(OccasionsTest, BadOccasionsAreRefusedNamingTheField) {
  Configure();
  lv1::Program program = DefaultProgram();
  lv1::Occasion bad_id = Anniversary("Not Valid!", 10);
  lv1::Occasion no_rule = Anniversary("no-rule", 10);
  no_rule.clear_membership_anniversary();
  lv1::Occasion feb30 = Dated("feb30", 0, 2, 30, 10);
  lv1::Occasion once_feb29 = Dated("once", 2031, 2, 29, 10);  // 2031 is a common year
  lv1::Occasion tier = Anniversary("tier", 2000000);
  tier.add_tier_ids("platinum");
  lv1::Occasion years = Anniversary("years", 10, {0, 3, 3});
  for (const auto& o : {bad_id, no_rule, feb30, once_feb29, tier, years}) *program.add_occasions() = o;
  *program.add_occasions() = Anniversary("years", 10);  // duplicate id
  lv1::Program out;
  grpc::Status s = UpdateProgram(program, 1, &out);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  std::vector<std::string> fields = BadFields(s);
  for (const char* f : {"program.occasions[0].occasion_id", "program.occasions[1].when",
                        "program.occasions[2].date.day", "program.occasions[3].date.day", "program.occasions[4].points",
                        "program.occasions[4].tier_ids[0]", "program.occasions[5].membership_anniversary.years[0]",
                        "program.occasions[5].membership_anniversary.years[2]", "program.occasions[6].occasion_id"}) {
    EXPECT_NE(std::find(fields.begin(), fields.end(), f), fields.end()) << f << " in " << Describe(s);
  }
  // A yearly 29 February is fine (28 February in common years).
  program.clear_occasions();
  *program.add_occasions() = Dated("leap", 0, 2, 29, 10);
  s = UpdateProgram(program, 1, &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_EQ(out.occasions_size(), 1);
  EXPECT_EQ(out.occasions(0).date().day(), 29);
  EXPECT_EQ(out.occasions(0).localized_display_names().at("vi"), "Tết");
}

}  // namespace
}  // namespace care::testing
