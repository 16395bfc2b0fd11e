// The loyalty rules on their own (no process, no storage): earn rounding,
// reversals, calendar arithmetic, program validation, tier qualification
// and reviews. The integration tests cover the same through the binary;
// these pin the edge cases cheaply.
#include <limits>
#include <optional>

#include "care/complaint/v1/complaint.pb.h"
#include "clients/complaint/check_in_ticket.h"
#include "common/bounds.h"
#include "gtest/gtest.h"
#include "services/loyalty/cadence.h"
#include "services/loyalty/events.h"
#include "services/loyalty/occasions.h"
#include "services/loyalty/program.h"
#include "services/loyalty/redis_tier_cache.h"
#include "services/loyalty/tiers.h"

namespace care::loyalty {
namespace {

absl::Time Utc(int y, int m, int d, int hh = 0) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, hh, 0, 0), absl::UTCTimeZone());
}

TEST(EarnTest, RoundsOncePerOrderInExactArithmetic) {
  EarnRule rule{1, 100, Rounding::kFloor};
  EXPECT_EQ(EarnPoints(1005, rule, 10000), 10);
  EXPECT_EQ(EarnPoints(1000, rule, 12500), 12);  // 12.5
  rule.rounding = Rounding::kHalfUp;
  EXPECT_EQ(EarnPoints(1000, rule, 12500), 13);
  EXPECT_EQ(EarnPoints(1049, rule, 10000), 10);
  rule.rounding = Rounding::kCeiling;
  EXPECT_EQ(EarnPoints(1001, rule, 10000), 11);
  EXPECT_EQ(EarnPoints(0, rule, 10000), 0);
  // 1 point per 10,000 VND at 10x, huge amounts: exact up to the bound.
  EarnRule vnd{1, 10000, Rounding::kFloor};
  EXPECT_EQ(EarnPoints(kMaxPointsPerEntry * 1000, vnd, 100000), kMaxPointsPerEntry);
}

// Issue 15, defect 5: the rule's maxima earned 10^22 points, wrapped modulo
// 2^64; past kMaxPointsPerEntry there is no answer, never a wrapped one.
TEST(EarnTest, PastThePerEntryBoundThereIsNoValue) {
  EarnRule max{1000000, 1, Rounding::kCeiling};
  EXPECT_EQ(EarnPoints(kMaxMoneyMinor, max, 100000), std::nullopt);
  EXPECT_EQ(EarnPoints(std::numeric_limits<int64_t>::max(), max, 100000), std::nullopt);
  EarnRule one{1, 1, Rounding::kFloor};
  EXPECT_EQ(EarnPoints(kMaxPointsPerEntry, one, 10000), kMaxPointsPerEntry);
  EXPECT_EQ(EarnPoints(kMaxPointsPerEntry + 1, one, 10000), std::nullopt);
}

TEST(EarnTest, ReversalsAreCumulativeAndNeverExceedWhatWasEarned) {
  Purchase p;
  p.amount = 1005;
  p.points_earned = 10;
  p.rounding = Rounding::kCeiling;
  EXPECT_EQ(ReversalTarget(p, 1), 1);
  EXPECT_EQ(ReversalTarget(p, 503), 6);
  EXPECT_EQ(ReversalTarget(p, 1005), 10);
  EXPECT_EQ(ReversalTarget(p, 2000), 10);
  p.amount = 0;
  EXPECT_EQ(ReversalTarget(p, 0), 0);
}

TEST(CalendarTest, MonthsClampToTheEndOfShorterMonths) {
  absl::TimeZone utc = absl::UTCTimeZone();
  EXPECT_EQ(AddMonths(Utc(2031, 1, 31, 9), 1, utc), Utc(2031, 2, 28, 9));
  EXPECT_EQ(AddMonths(Utc(2032, 1, 31, 9), 1, utc), Utc(2032, 2, 29, 9));
  EXPECT_EQ(AddMonths(Utc(2032, 2, 29), -12, utc), Utc(2031, 2, 28));
  EXPECT_EQ(AddMonths(Utc(2031, 5, 15), 12, utc), Utc(2032, 5, 15));
}

TEST(CalendarTest, PointsExpireAtTheStartOfTheMonthAfterInTheProgramZone) {
  absl::TimeZone tokyo = LoadZone("Asia/Tokyo");
  // 2025-03-15 local + 12 months: expire 2026-04-01T00:00 Tokyo.
  absl::Time earned = absl::FromCivil(absl::CivilSecond(2025, 3, 15, 12, 0, 0), tokyo);
  EXPECT_EQ(*ExpiryTime(earned, 12, tokyo), absl::FromCivil(absl::CivilDay(2026, 4, 1), tokyo));
  // 31 March 23:00 UTC is already April in Tokyo.
  EXPECT_EQ(*ExpiryTime(Utc(2025, 3, 31, 23), 1, tokyo), absl::FromCivil(absl::CivilDay(2025, 6, 1), tokyo));
  EXPECT_FALSE(ExpiryTime(earned, 0, tokyo).has_value());
}

TEST(CalendarTest, LocalDaysAndBirthdays) {
  absl::TimeZone hcm = LoadZone("Asia/Ho_Chi_Minh");
  EXPECT_EQ(LocalDay(Utc(2031, 1, 15, 16), hcm), LocalDay(Utc(2031, 1, 15, 1), hcm));
  EXPECT_NE(LocalDay(Utc(2031, 1, 15, 17), hcm), LocalDay(Utc(2031, 1, 15, 16), hcm));

  BirthDate leap{1992, 2, 29};
  BirthdayInstant next = NextBirthday(leap, Utc(2031, 1, 1), absl::UTCTimeZone());
  EXPECT_EQ(next.year, 2031);
  EXPECT_EQ(next.start, Utc(2031, 2, 28));
  next = NextBirthday(leap, Utc(2031, 3, 1), absl::UTCTimeZone());
  EXPECT_EQ(next.year, 2032);
  EXPECT_EQ(next.start, Utc(2032, 2, 29));
  // On the day itself, the birthday is today.
  EXPECT_EQ(NextBirthday(BirthDate{0, 6, 1}, Utc(2031, 6, 1, 20), absl::UTCTimeZone()).start, Utc(2031, 6, 1));
}

TEST(OccasionRulesTest, AnniversariesFollowTheLocalEnrolmentDay) {
  absl::TimeZone tokyo = LoadZone("Asia/Tokyo");
  // 2031-01-15 20:00 UTC is already 16 January in Tokyo.
  const absl::Time enrolled = Utc(2031, 1, 15, 20);
  Occurrence next = NextAnniversary(enrolled, enrolled, tokyo);
  EXPECT_EQ(next.number, 1);
  EXPECT_EQ(next.start, Utc(2032, 1, 15, 15));  // 16 January 00:00 JST
  // On the day itself, it is today's; the day after, next year's.
  EXPECT_EQ(NextAnniversary(enrolled, Utc(2032, 1, 16, 3), tokyo).number, 1);
  EXPECT_EQ(NextAnniversary(enrolled, Utc(2032, 1, 16, 15), tokyo).number, 2);
  // 29 February falls on 28 February in common years.
  const absl::Time leap = Utc(2032, 2, 29, 12);
  EXPECT_EQ(AnniversaryStart(leap, 1, absl::UTCTimeZone()), Utc(2033, 2, 28));
  EXPECT_EQ(AnniversaryStart(leap, 4, absl::UTCTimeZone()), Utc(2036, 2, 29));
}

TEST(OccasionRulesTest, ADateIsDueFromItsLocalMidnightForAWeek) {
  Occasion year_end;
  year_end.month = 12;
  year_end.day = 31;
  absl::TimeZone utc = absl::UTCTimeZone();
  EXPECT_FALSE(DueDateOccurrence(year_end, Utc(2031, 12, 30, 23), utc).has_value());
  std::optional<Occurrence> due = DueDateOccurrence(year_end, Utc(2031, 12, 31), utc);
  ASSERT_TRUE(due.has_value());
  EXPECT_EQ(due->number, 2031);
  // Across New Year, the week still belongs to last year's occurrence.
  due = DueDateOccurrence(year_end, Utc(2032, 1, 6, 23), utc);
  ASSERT_TRUE(due.has_value());
  EXPECT_EQ(due->number, 2031);
  EXPECT_FALSE(DueDateOccurrence(year_end, Utc(2032, 1, 7), utc).has_value());
  // A one-off date is due in its year only.
  year_end.year = 2032;
  EXPECT_FALSE(DueDateOccurrence(year_end, Utc(2031, 12, 31, 5), utc).has_value());
  EXPECT_TRUE(DueDateOccurrence(year_end, Utc(2032, 12, 31, 5), utc).has_value());
}

TEST(OccasionRulesTest, TargetsMembersEnrolledBeforeTheDayInItsTiersAndSegments) {
  Occasion o;
  o.tier_ids = {"gold"};
  o.segments = {"retail", "staff"};
  Member m;
  m.create_time = Utc(2031, 1, 1);
  m.tier.tier_id = "gold";
  m.profile.segment = "staff";
  EXPECT_TRUE(Targets(o, m, Utc(2031, 2, 1)));
  EXPECT_FALSE(Targets(o, m, Utc(2031, 1, 1)));  // enrolled as it began
  m.profile.segment = "vip";
  EXPECT_FALSE(Targets(o, m, Utc(2031, 2, 1)));
  m.profile.segment = "retail";
  m.tier.tier_id = "silver";
  EXPECT_FALSE(Targets(o, m, Utc(2031, 2, 1)));
  o.anniversary = true;
  o.anniversary_years = {1, 5};
  EXPECT_TRUE(OnAnniversary(o, 5));
  EXPECT_FALSE(OnAnniversary(o, 2));
}

Program Ladder() {
  Program p;
  p.display_name = "Rewards";
  p.currency_code = "USD";
  p.time_zone = "UTC";
  auto tier = [](std::string id, int rank, int64_t threshold) {
    Tier t;
    t.tier_id = std::move(id);
    t.display_name = t.tier_id;
    t.rank = rank;
    t.qualifying_spend = threshold;
    t.window = {threshold ? WindowKind::kRolling : WindowKind::kUnspecified, threshold ? 12 : 0};
    t.benefits.support_priority = SupportPriority::kStandard;
    return t;
  };
  p.tiers = {tier("gold", 2, 5000), tier("member", 0, 0), tier("silver", 1, 1000)};
  p.earn_rule = {1, 100, Rounding::kFloor};
  return p;
}

TEST(ProgramRulesTest, ValidationNamesEveryBadFieldAndSortsTheLadder) {
  Program p = Ladder();
  FieldErrors ok;
  ValidateProgram(p, ok);
  EXPECT_TRUE(ok.empty()) << ok.ToStatus();
  EXPECT_EQ(p.tiers[0].tier_id, "member");
  EXPECT_EQ(p.tiers[2].tier_id, "gold");

  Program bad = Ladder();
  bad.tiers[0].window.kind = WindowKind::kUnspecified;  // gold
  bad.tiers[2].tier_id = "member";                      // duplicate
  bad.earn_rule.unit_amount = 0;
  FieldErrors errors;
  ValidateProgram(bad, errors);
  EXPECT_EQ(ErrorMetadataValue(errors.ToStatus(), "field"),
            "program.tiers[0].qualification_window.kind,program.tiers[2].tier_id,program.earn_rule.unit_amount");
}

TEST(CadenceRulesTest, QuietRulesWaitForTheLastPurchaseAndThePeriod) {
  CadenceRule rule;
  rule.trigger = CadenceRule::Trigger::kNoPurchaseFor;
  rule.after = absl::Hours(24 * 60);
  rule.period = absl::Hours(24 * 90);
  const absl::Time joined = Utc(2031, 1, 1);
  const absl::Duration day = absl::Hours(24);
  // No purchase: from enrolment.
  EXPECT_EQ(CadenceDue(rule, {joined, std::nullopt}, {}, joined), joined + 60 * day);
  // A purchase starts the 60 days again.
  EXPECT_EQ(CadenceDue(rule, {joined, joined + 30 * day}, {}, joined), joined + 90 * day);
  // After a check-in, the period too.
  const CadenceContact once{1, joined + 60 * day};
  EXPECT_EQ(CadenceDue(rule, {joined, std::nullopt}, once, joined), joined + 150 * day);
  EXPECT_EQ(CadenceDue(rule, {joined, joined + 140 * day}, once, joined), joined + 200 * day);
}

TEST(CadenceRulesTest, SinceEnrolmentFiresOnceWithinItsCatchUp) {
  CadenceRule rule;
  rule.trigger = CadenceRule::Trigger::kSinceEnrolment;
  rule.after = absl::Hours(24 * 30);
  const absl::Time joined = Utc(2031, 1, 1);
  const absl::Time due = joined + rule.after;
  EXPECT_EQ(CadenceDue(rule, {joined, std::nullopt}, {}, joined), due);
  EXPECT_EQ(CadenceDue(rule, {joined, std::nullopt}, {}, due + kCadenceCatchUp - absl::Seconds(1)), due);
  EXPECT_EQ(CadenceDue(rule, {joined, std::nullopt}, {}, due + kCadenceCatchUp), std::nullopt);
  EXPECT_EQ(CadenceDue(rule, {joined, std::nullopt}, {1, due}, due), std::nullopt);
}

// AGENT_TASK: complaint's CreateComplaint, one request id per (rule,
// member, contact), named in the member's language; MESSAGE: notification.
TEST(CadenceRulesTest, AnAgentTaskIsACheckInTicketForComplaint) {
  CadenceRule rule;
  rule.rule_id = "call";
  rule.display_name = "Call a quiet member";
  rule.localized_display_names = {{"ja", "お電話"}};
  rule.action = CadenceRule::Action::kAgentTask;
  rule.team_id = "care-team";
  Member m;
  m.member_id = "m-1";
  m.profile.locale = "ja-JP";
  const absl::Time now = Utc(2031, 3, 1);
  const OutboxEvent first = CheckInToOutbox(rule, m, 1, now);
  EXPECT_EQ(first.destination, "complaint");
  EXPECT_EQ(first.method, care::clients::complaint::kCreateComplaintMethod);
  care::complaint::v1::CreateComplaintRequest req;
  ASSERT_TRUE(req.ParseFromString(first.payload));
  EXPECT_EQ(req.request_id(), first.event_id);
  EXPECT_EQ(req.kind(), care::complaint::v1::TICKET_KIND_CARE_CHECK_IN);
  EXPECT_EQ(req.member_id(), "m-1");
  EXPECT_EQ(req.subject(), "お電話");
  EXPECT_EQ(req.locale(), "ja-JP");
  EXPECT_EQ(req.team_id(), "care-team");
  FieldErrors ids;
  EXPECT_TRUE(ids.RequireId("request_id", req.request_id()));
  EXPECT_EQ(CheckInToOutbox(rule, m, 1, now + absl::Hours(1)).event_id, first.event_id);  // a re-run
  EXPECT_NE(CheckInToOutbox(rule, m, 2, now).event_id, first.event_id);                   // the next period
  m.profile.locale = "vi";
  ASSERT_TRUE(req.ParseFromString(CheckInToOutbox(rule, m, 1, now).payload));
  EXPECT_EQ(req.subject(), "Call a quiet member");
  rule.action = CadenceRule::Action::kMessage;
  EXPECT_EQ(CheckInToOutbox(rule, m, 1, now).destination, "notification");
}

TEST(TierRulesTest, QualifiesAtTheThresholdAndReviewsAtTheWindowEnd) {
  Program p = Ladder();
  FieldErrors errors;
  ValidateProgram(p, errors);
  ASSERT_TRUE(errors.empty());
  int64_t spend = 999;
  SpendFn fn = [&](absl::Time, absl::Time) -> absl::StatusOr<int64_t> { return spend; };
  EXPECT_EQ((*QualifiedTier(p, Utc(2031, 1, 1), absl::InfiniteFuture(), fn))->tier_id, "member");
  spend = 1000;
  EXPECT_EQ((*QualifiedTier(p, Utc(2031, 1, 1), absl::InfiniteFuture(), fn))->tier_id, "silver");

  Standing s = EnterTier(p, *p.FindTier("gold"), Utc(2031, 1, 31), Standing{});
  EXPECT_EQ(*s.review_time, Utc(2032, 1, 31));
  spend = 5000;
  auto keep = ReviewTier(p, s, *s.review_time, fn);
  EXPECT_EQ(keep->kind, ReviewDecision::Kind::kKeep);
  EXPECT_EQ(*keep->next_review, Utc(2033, 1, 31));
  spend = 1500;
  auto down = ReviewTier(p, s, *s.review_time, fn);
  EXPECT_EQ(down->kind, ReviewDecision::Kind::kDowngrade);
  EXPECT_EQ(down->downgrade_to->tier_id, "silver");  // the highest still met

  p.tiers[2].retention.grace_period = absl::Hours(24 * 10);
  p.tiers[2].retention.downgrade_mode = DowngradeMode::kOneRank;
  spend = 0;
  auto grace = ReviewTier(p, s, *s.review_time, fn);
  EXPECT_EQ(grace->kind, ReviewDecision::Kind::kEnterGrace);
  EXPECT_EQ(grace->grace_end, Utc(2032, 2, 10));
  s.in_grace = true;
  s.grace_end_time = grace->grace_end;
  auto after = ReviewTier(p, s, grace->grace_end, fn);
  EXPECT_EQ(after->kind, ReviewDecision::Kind::kDowngrade);
  EXPECT_EQ(after->downgrade_to->tier_id, "silver");  // one rank, though nothing is met
}

}  // namespace
}  // namespace care::loyalty

namespace care::loyalty {
namespace {

// Records what reaches the next layer (Redis in production).
class RecordingCache final : public TierCache {
 public:
  absl::Status Put(const TierSnapshot& s) override {
    versions.push_back(s.version);
    return absl::OkStatus();
  }
  std::vector<int64_t> versions;
};

TierSnapshot Snapshot(const std::string& member, const std::string& tier, int64_t version) {
  TierSnapshot s;
  s.member_id = member;
  s.tier_id = tier;
  s.version = version;
  return s;
}

TEST(TierSnapshotMemoTest, KeepsTheNewestVersionWhateverTheOrderOfPuts) {
  RecordingCache redis;
  TierSnapshotMemo memo(&redis, 1600);
  ASSERT_TRUE(memo.Put(Snapshot("m1", "gold", 3)).ok());
  ASSERT_TRUE(memo.Put(Snapshot("m1", "silver", 2)).ok());  // a slower writer
  auto found = memo.Find("m1");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->tier_id(), "gold");
  EXPECT_EQ(found->version(), 3);
  // Every Put still reaches Redis, whose own compare-and-set orders them.
  EXPECT_EQ(redis.versions, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(memo.Find("m2"), nullptr);
}

// GetTier's path: the memo's copy, else the next cache's answer, which for a
// cache that keeps no copy is the database's.
TEST(TierSnapshotMemoTest, GetAnswersFromTheMemoBeforeTheNextCacheAndTheDatabase) {
  RecordingCache redis;
  TierSnapshotMemo memo(&redis, 1600);
  ASSERT_TRUE(memo.Put(Snapshot("m1", "gold", 3)).ok());
  std::vector<std::string> reads;
  auto database = [&reads](absl::string_view member_id) -> absl::StatusOr<v1::TierSnapshot> {
    reads.emplace_back(member_id);
    v1::TierSnapshot s;
    s.set_member_id(std::string(member_id));
    s.set_tier_id("base");
    return s;
  };
  auto cached = memo.Get("m1", database);
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_EQ(cached->tier_id(), "gold");
  auto missed = memo.Get("m2", database);
  ASSERT_TRUE(missed.ok()) << missed.status();
  EXPECT_EQ(missed->tier_id(), "base");
  EXPECT_EQ(reads, (std::vector<std::string>{"m2"}));
}

TEST(TierSnapshotMemoTest, StaysBoundedAndCanBeTurnedOff) {
  TierSnapshotMemo memo(nullptr, 160);  // 10 per shard
  for (int i = 0; i < 5000; ++i) ASSERT_TRUE(memo.Put(Snapshot("m" + std::to_string(i), "t", 1)).ok());
  int kept = 0;
  for (int i = 0; i < 5000; ++i) kept += memo.Find("m" + std::to_string(i)) != nullptr;
  EXPECT_LE(kept, 160);
  EXPECT_GT(kept, 0);
  EXPECT_NE(memo.Find("m4999"), nullptr);  // the latest Put is always there

  TierSnapshotMemo off(nullptr, 0);
  ASSERT_TRUE(off.Put(Snapshot("m1", "gold", 1)).ok());
  EXPECT_EQ(off.Find("m1"), nullptr);
}

}  // namespace
}  // namespace care::loyalty
