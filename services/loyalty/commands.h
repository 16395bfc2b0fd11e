#pragma once

// The plain values the loyalty domain's operations take (commands, filters)
// and give back (results). No gRPC, no SQL: the adapter builds the commands
// from requests, loyalty_proto.h turns the results into contract messages.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "care/loyalty/v1/loyalty.pb.h"
#include "google/protobuf/field_mask.pb.h"
#include "services/loyalty/loyalty_store.h"
#include "services/loyalty/model.h"
#include "services/loyalty/tiers.h"

namespace care::loyalty {

// Who asked: recorded on ledger entries and program versions.
struct Actor {
  std::string name;  // principal, or "system" for jobs
  std::string request_id;
};

// A member with the snapshot of its tier (names, rank, benefits).
struct MemberView {
  Member member;
  TierSnapshot snapshot;
};

struct PurchaseCommand {
  std::string member_id;
  std::string order_id;
  int64_t amount = 0;
  std::string currency;                     // of amount (and lines): must be the program's
  std::optional<absl::Time> purchase_time;  // unset = now
  std::vector<PurchaseLine> lines;
  bool no_points = false;
  std::vector<std::string> campaign_ids;
  std::string store_id;
  // The caller names the order's promotion redemption; the bonus points are
  // what promotion says it holds (LoyaltyService fills them), never the
  // caller's number.
  std::string promotion_redemption_id;
  int64_t campaign_bonus_points = 0;
};

// An order's promotion redemption as loyalty needs it (RedemptionLookup).
struct OrderRedemption {
  std::string redemption_id;
  std::string member_id;
  bool live = false;  // neither cancelled nor fully returned
  int64_t bonus_points = 0;
};

enum class VisitOutcome { kCounted = 1, kSameDay = 2, kBelowMinimum = 3 };

struct TierChange {
  bool changed = false;
  std::string previous_tier_id;
};

// Progress toward the next tier up and for keeping the current one.
struct Progress {
  std::optional<Projection> next_tier;
  std::optional<Projection> keep_tier;
};

struct PurchaseResult {
  std::string order_id;
  std::string member_id;
  int64_t program_version = 0;
  int64_t points_earned = 0;  // campaign bonus points included
  int64_t campaign_bonus_points = 0;
  int64_t points_balance = 0;
  TierSnapshot tier;
  TierChange change;
  Progress progress;
  VisitOutcome visit_outcome = VisitOutcome::kCounted;
  int visit_count = 0;
  int visits_until_reward = 0;
  std::optional<VisitRewarded> visit_reward;
  int64_t visit_reward_points = 0;
  std::vector<LedgerEntry> entries;
  std::string currency;
};

struct ReturnCommand {
  std::string return_id;
  std::string order_id;
  std::string member_id;  // optional check
  ReturnKind kind = ReturnKind::kFull;
  std::optional<int64_t> returned_amount;  // required for PARTIAL
  std::string currency;                    // of returned_amount, when set
  std::optional<absl::Time> return_time;
  std::string reason;
};

struct ReturnResult {
  std::string return_id;
  std::string order_id;
  std::string member_id;
  int64_t returned_amount = 0;
  int64_t total_returned = 0;
  bool fully_returned = false;
  int64_t points_reversed = 0;
  int64_t points_unrecovered = 0;
  int64_t points_balance = 0;
  TierSnapshot tier;
  TierChange change;
  Progress progress;
  LedgerEntry entry;
  std::string currency;
};

struct RedeemCommand {
  std::string member_id;
  int64_t points = 0;
  std::string order_id;
  std::string description;
};

struct AdjustCommand {
  std::string member_id;
  int64_t points_delta = 0;
  std::string reason_code;
  std::string complaint_id;
  std::string note;
};

struct PointsResult {
  LedgerEntry entry;
  int64_t points_balance = 0;
};

struct Balance {
  std::string member_id;
  int64_t balance = 0;
  int64_t lifetime_earned = 0, lifetime_bonus = 0, lifetime_adjusted = 0;
  int64_t lifetime_redeemed = 0, lifetime_reversed = 0, lifetime_expired = 0;
  int64_t expiring_soon = 0;
  absl::Time expiring_soon_until;
  std::vector<MemberExpiry> upcoming;
  absl::Time as_of;
};

struct TierProjectionResult {
  MemberView member;
  std::vector<Projection> projections;  // KEEP first, then REACH
  std::string currency;
  absl::Time as_of;
};

// A new program version: `program` whole (`replace_all`), or the fields
// `mask` names taken from it onto the version in force.
struct ProgramUpdate {
  v1::Program program;
  google::protobuf::FieldMask mask;
  bool replace_all = false;
  std::string change_note;
};

// GetLoyaltyAnalytics: local days of the program's zone, both included.
struct AnalyticsQuery {
  absl::CivilDay start_day, end_day;
  bool monthly = false;   // one period per month touched, else per day
  std::string time_zone;  // empty or the program's
};

struct TierFigures {
  std::string tier_id;
  int64_t members = 0;  // at the end of the period
  int64_t active = 0;
  RollupCounters sums;
};

struct AnalyticsPeriod {
  absl::CivilDay start_day, end_day;
  int64_t members = 0;  // at the end
  int64_t active = 0, repeat = 0;
  RollupCounters sums;
  int64_t outstanding_points = 0;  // at the end
  std::optional<int64_t> liability;
  std::vector<TierFigures> tiers;
};

struct AnalyticsResult {
  std::string time_zone;
  std::string currency;
  std::vector<AnalyticsPeriod> periods;
  absl::Time as_of;
};

}  // namespace care::loyalty
