#pragma once

// The loyalty domain as plain values: the program (tier ladder, earn rule,
// expiry, visit rewards, birthday bonus), members with their tier standing,
// the points ledger and the events other services hear of. No gRPC, no SQL:
// the adapter and the store map these to and from their own formats.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/time/time.h"

namespace care::loyalty {

// ----------------------------------------------------------------- program

enum class WindowKind { kUnspecified = 0, kLifetime = 1, kRolling = 2 };

struct QualificationWindow {
  WindowKind kind = WindowKind::kLifetime;
  int rolling_months = 0;  // kRolling only
};

enum class DowngradeMode { kToQualified = 1, kOneRank = 2 };
enum class ReturnDowngrade { kAtReview = 1, kImmediate = 2 };

struct RetentionRule {
  absl::Duration grace_period = absl::ZeroDuration();
  DowngradeMode downgrade_mode = DowngradeMode::kToQualified;
  ReturnDowngrade return_downgrade = ReturnDowngrade::kAtReview;
};

// Values match care.loyalty.v1.SupportPriority.
enum class SupportPriority { kUnspecified = 0, kStandard = 1, kHigh = 2, kUrgent = 3 };

struct TierBenefits {
  int discount_bps = 0;
  int points_multiplier_bps = 10000;
  bool free_shipping = false;
  bool free_returns = false;
  SupportPriority support_priority = SupportPriority::kStandard;
  std::vector<std::string> perks;

  bool operator==(const TierBenefits&) const = default;
};

struct Tier {
  std::string tier_id;
  std::string display_name;
  std::map<std::string, std::string> localized_display_names;
  int rank = 0;
  int64_t qualifying_spend = 0;  // minor units of Program::currency_code
  QualificationWindow window;
  RetentionRule retention;
  TierBenefits benefits;
  std::string description;
};

enum class Rounding { kFloor = 1, kHalfUp = 2, kCeiling = 3 };

struct EarnRule {
  int64_t points_per_unit = 0;
  int64_t unit_amount = 1;  // minor units, > 0
  Rounding rounding = Rounding::kFloor;
};

struct PointsExpiry {
  int expire_after_months = 0;  // 0 = never
  absl::Duration warning_lead = absl::ZeroDuration();
};

struct VisitReward {
  int every_n_visits = 0;  // 0 = visits are counted, nothing is granted
  std::optional<int64_t> min_order_amount;
  std::string reward_name;
  int64_t bonus_points = 0;
  std::map<std::string, std::string> localized_reward_names;  // locale -> name
};

// A gift on a special occasion (care.loyalty.v1.Occasion): a membership
// anniversary, or a calendar date every year (year 0) or once.
struct Occasion {
  std::string occasion_id;
  std::string display_name;
  std::map<std::string, std::string> localized_display_names;  // locale -> name
  bool anniversary = false;
  std::vector<int> anniversary_years;  // empty = every anniversary
  int year = 0, month = 0, day = 0;    // when !anniversary
  int64_t points = 0;
  std::vector<std::string> tier_ids;  // empty = every tier
  std::vector<std::string> segments;  // empty = every segment
  std::string reward_id;              // a catalogue reward given with it, "" = none
};

// A proactive check-in rule (care.loyalty.v1.CadenceRule): after a time
// without a purchase (repeating every `period` while it holds), or once a
// time after enrolment; a message to the member or a task for an agent.
struct CadenceRule {
  enum class Trigger { kNone, kNoPurchaseFor, kSinceEnrolment };
  enum class Action { kMessage, kAgentTask, kUnknown };  // kUnknown: refused by validation
  std::string rule_id;
  std::string display_name;
  std::map<std::string, std::string> localized_display_names;  // locale -> name
  Trigger trigger = Trigger::kNone;
  absl::Duration after = absl::ZeroDuration();   // the trigger's duration
  absl::Duration period = absl::ZeroDuration();  // kNoPurchaseFor only
  std::vector<std::string> tier_ids;             // empty = every tier
  std::vector<std::string> segments;             // empty = every segment
  Action action = Action::kMessage;
  std::string team_id;  // kAgentTask: the complaint team's queue; empty = none
};

// What a member has had from one cadence rule.
struct CadenceContact {
  int contacts = 0;
  absl::Time last = absl::InfinitePast();
};

struct Program {
  int64_t version = 0;
  std::string display_name;
  std::string currency_code;
  std::string time_zone;
  std::vector<Tier> tiers;  // by rank ascending once validated
  EarnRule earn_rule;
  std::optional<PointsExpiry> points_expiry;
  std::optional<VisitReward> visit_reward;
  int64_t birthday_points = 0;
  std::vector<Occasion> occasions;
  std::vector<CadenceRule> cadence_rules;
  // What `point_value_points` points are worth in minor units of the
  // currency (the liability in analytics); 0 points = not set.
  int64_t point_value_amount = 0;
  int64_t point_value_points = 0;
  std::string change_note;
  std::string actor;
  absl::Time effective_time = absl::InfinitePast();
  std::optional<absl::Time> superseded_time;

  const Tier* FindTier(const std::string& tier_id) const;
  const Tier& BaseTier() const { return tiers.front(); }
  // The tier one rank above / below `tier_id`; null at the ends.
  const Tier* NextTierUp(const std::string& tier_id) const;
  const Tier* NextTierDown(const std::string& tier_id) const;
};

// ----------------------------------------------------------------- members

struct BirthDate {
  int year = 0;  // 0 = not given
  int month = 0;
  int day = 0;
};

// One channel's marketing consent; `channel` is care.common.v1.MessageChannel.
struct Consent {
  int channel = 0;
  bool granted = false;
  absl::Time update_time = absl::InfinitePast();
};

struct Profile {
  std::string name;
  std::string email;
  std::string phone;
  std::string locale;
  std::string time_zone;
  std::optional<BirthDate> birthday;
  std::string segment;
  int gender = 0;    // care.loyalty.v1.Gender
  int age_band = 0;  // care.loyalty.v1.AgeBand
  std::string occupation;
  std::vector<Consent> consents;  // by channel
};

// Where a member stands on the ladder and which snapshot the cache holds.
struct Standing {
  std::string tier_id;
  bool in_grace = false;
  absl::Time achieved_time = absl::InfinitePast();
  std::optional<absl::Time> review_time;
  std::optional<absl::Time> grace_end_time;
  // TierSnapshot.version: +1 on every change of the snapshot.
  int64_t version = 0;
  // Program version the snapshot's names and benefits come from.
  int64_t program_version = 0;
  absl::Time snapshot_time = absl::InfinitePast();

  // When the tier job must look at this member next.
  std::optional<absl::Time> DueTime() const { return in_grace ? grace_end_time : review_time; }
};

struct Member {
  std::string member_id;
  Profile profile;
  Standing tier;
  int64_t points_balance = 0;
  int64_t ledger_sequence = 0;  // of the last entry
  int visit_count = 0;
  int visits_since_reward = 0;
  std::optional<absl::Time> last_visit_time;
  int64_t lifetime_spend = 0;
  absl::Time create_time = absl::InfinitePast();
  absl::Time update_time = absl::InfinitePast();
  int64_t version = 0;
  // Birthday bonus bookkeeping: the next local start of the birthday, and
  // the last calendar year a bonus was granted for.
  std::optional<absl::Time> next_birthday_time;
  int birthday_bonus_year = 0;
  // The local start of the member's next membership anniversary, for the
  // occasions job (docs: Occasion).
  std::optional<absl::Time> next_anniversary_time;
  // Purchases in the current local day and month of the program's zone
  // (analytics: the first and second of a period count the member active
  // and repeat). -1 = none yet.
  int64_t activity_day = -1;
  int activity_day_purchases = 0;
  int64_t activity_month = -1;
  int activity_month_purchases = 0;
};

// A member's tier as every service sees it (the Redis cache's value).
struct TierSnapshot {
  std::string member_id;
  std::string tier_id;
  std::string tier_display_name;
  int tier_rank = 0;
  TierBenefits benefits;
  int64_t version = 0;
  int64_t program_version = 0;
  absl::Time update_time = absl::InfinitePast();
};

// ------------------------------------------------------------------ ledger

// Values match care.loyalty.v1.LedgerEntryKind.
enum class EntryKind {
  kEarn = 1,
  kRedeem = 2,
  kReverse = 3,
  kExpire = 4,
  kAdjust = 5,
  kBonus = 6,
  kVisitReward = 7,
  kForfeit = 8,        // the balance left at erasure (docs/privacy.md)
  kReward = 9,         // points spent on a catalogue reward
  kRewardRefund = 10,  // a reward's points given back (its voucher refused)
};

struct PurchaseLine {
  std::string line_id;
  std::string sku;
  std::string category;
  int quantity = 0;
  int64_t amount = 0;
};

struct EarnCalculation {
  int64_t amount = 0;
  int64_t points_per_unit = 0;
  int64_t unit_amount = 1;
  std::string tier_id;
  int points_multiplier_bps = 10000;
  Rounding rounding = Rounding::kFloor;
  bool no_points = false;
  // Campaign bonus points added to the entry, from this promotion redemption.
  int64_t campaign_bonus_points = 0;
  std::string promotion_redemption_id;
};

struct PurchaseCause {
  std::string order_id;
  int64_t amount = 0;
  std::vector<PurchaseLine> lines;
  std::vector<std::string> campaign_ids;
  std::string store_id;
  EarnCalculation calculation;
};

enum class ReturnKind { kFull = 1, kPartial = 2 };

struct ReturnCause {
  std::string return_id;
  std::string order_id;
  ReturnKind kind = ReturnKind::kFull;
  int64_t returned_amount = 0;
  int64_t total_returned = 0;
  std::string reversed_entry_id;
  int64_t points_unrecovered = 0;
  std::string reason;
};

struct RedemptionCause {
  std::string order_id;
  std::string description;
};

struct AdjustmentCause {
  std::string reason_code;
  std::string complaint_id;
  std::string note;
};

struct ExpiryCause {
  absl::Time expire_time;
};

struct BirthdayCause {
  int year = 0;
};

struct VisitRewardCause {
  std::string order_id;
  int visit_count = 0;
  std::string reward_name;
};

struct OccasionCause {
  std::string occasion_id;
  std::string occasion_name;
  int occurrence = 0;  // a year, or an anniversary number
};

// Names no one: an erased member's ledger keeps it.
struct ForfeitureCause {
  std::string description;
};

// A catalogue reward bought (REWARD) or given back (REWARD_REFUND).
struct RewardCause {
  std::string reward_id;
  std::string reward_name;
  std::string redemption_id;
  std::string refund_reason;  // REWARD_REFUND only
  std::string occasion_id;    // an occasion's gift
};

using Cause = std::variant<PurchaseCause, ReturnCause, RedemptionCause, AdjustmentCause, ExpiryCause, BirthdayCause,
                           VisitRewardCause, ForfeitureCause, OccasionCause, RewardCause>;

struct LedgerEntry {
  std::string member_id;
  int64_t sequence = 0;
  EntryKind kind = EntryKind::kEarn;
  int64_t points_delta = 0;
  int64_t balance_after = 0;
  absl::Time create_time;
  absl::Time effective_time;
  std::optional<absl::Time> expire_time;
  int64_t program_version = 0;
  std::string actor;
  std::string request_id;
  std::string order_id;  // the order it concerns, if any (for filtering)
  Cause cause;

  std::string entry_id() const;
};

// "<member_id>/<sequence>": unique, since member ids cannot hold '/'.
std::string EntryId(const std::string& member_id, int64_t sequence);

// Points of one positive entry not yet spent, expired or reversed. The
// balance is always the sum of a member's lots.
struct Lot {
  int64_t sequence = 0;  // of the entry that credited them
  std::optional<absl::Time> expire_time;
  int64_t remaining = 0;
};

// A recorded order, as returns need it.
struct Purchase {
  std::string order_id;
  std::string member_id;
  int64_t amount = 0;
  absl::Time purchase_time;
  int64_t returned_amount = 0;
  // The EARN entry: its points and rounding decide every reversal.
  int64_t earn_sequence = 0;
  int64_t points_earned = 0;
  Rounding rounding = Rounding::kFloor;
  int64_t points_reversed = 0;  // cumulative target of its returns
};

// --------------------------------------------------------------- analytics

// What happened on one local day to the members of one tier: the rollup row
// analytics read instead of members and the ledger. Every field is a sum, so
// rows add up (a month is the sum of its days).
struct RollupCounters {
  int64_t members_delta = 0;  // enrolled + moved in - moved out - erased
  int64_t enrolled = 0, erased = 0, upgraded = 0, downgraded = 0;
  int64_t points_net = 0;  // signed sum of every entry
  int64_t points_earned = 0, points_bonus = 0, points_visit = 0;
  int64_t points_adjusted_in = 0, points_adjusted_out = 0;
  int64_t points_redeemed = 0, points_reversed = 0, points_expired = 0, points_forfeited = 0;
  int64_t purchases = 0, purchase_amount = 0, returned_amount = 0;
  int64_t active_day = 0, active_month = 0, repeat_day = 0, repeat_month = 0;

  RollupCounters& operator+=(const RollupCounters& o);
};

struct RollupRow {
  int64_t day = 0;  // days since 1970-01-01, local
  std::string tier_id;
  RollupCounters counters;
};

// ------------------------------------------------------------------ events

// Sent to the notification service through the outbox.
struct ProfileChanged {
  std::string member_id;
  Profile profile;
  int64_t version = 0;
};
struct TierChanged {
  std::string member_id;
  std::string old_tier_id;  // empty on enrolment
  std::string new_tier_id;
  std::string tier_display_name;
  int64_t version = 0;
  std::map<std::string, std::string> localized_tier_display_names;  // the tier's, by locale
};
struct PointsExpiring {
  std::string member_id;
  int64_t points = 0;
  absl::Time expire_time;
};
struct BirthdayRewarded {
  std::string member_id;
  int64_t points = 0;
  int year = 0;
};
struct VisitRewarded {
  std::string member_id;
  int visit_count = 0;
  std::string reward_name;
  std::string entry_id;
  std::map<std::string, std::string> localized_reward_names;  // the program's, by locale
};
struct OccasionRewarded {
  std::string member_id;
  std::string occasion_id;
  int occurrence = 0;
  std::string occasion_name;
  std::map<std::string, std::string> localized_occasion_names;
  int64_t points = 0;
  std::string reward_name;  // the reward given with it, "" if none
  std::map<std::string, std::string> localized_reward_names;
};
// A cadence rule reached the member for the `contact`-th time.
struct CheckInDue {
  std::string member_id;
  std::string rule_id;
  int contact = 0;
  std::string rule_name;
  std::map<std::string, std::string> localized_rule_names;
};
using Event = std::variant<ProfileChanged, TierChanged, PointsExpiring, BirthdayRewarded, VisitRewarded,
                           OccasionRewarded, CheckInDue>;

}  // namespace care::loyalty
