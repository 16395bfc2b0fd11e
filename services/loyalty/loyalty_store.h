#pragma once

// Loyalty's storage as an interface in the domain's terms: methods take and
// return the values of model.h (rows, std::optional for "may be absent",
// filter structs), never wire requests, and return storage errors only (no
// API reasons: those are the domain's). A StoreTxn is one transaction: every
// point and tier change of a member is read, decided and written in one, and
// writes are serialized (one writer), so concurrent requests never see or
// leave a half-applied change. The SQLite implementation is
// sql_loyalty_store.h; another engine is another class behind this one.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "care/common/v1/privacy.pb.h"
#include "care/loyalty/v1/loyalty.pb.h"
#include "common/outbox_state.h"
#include "common/store.h"
#include "services/loyalty/model.h"

namespace care::loyalty {

struct MemberFilter {
  std::vector<std::string> tier_ids;  // empty = any
  std::vector<std::string> segments;  // empty = any
  std::string email;                  // exact, case-insensitive; empty = any
  std::string phone;                  // exact; empty = any
  int consent_channel = 0;            // granted marketing consent; 0 = any
};

struct EntryFilter {
  std::string member_id;
  std::vector<EntryKind> kinds;                    // empty = all
  std::string order_id;                            // empty = all
  std::optional<absl::Time> start_time, end_time;  // create_time in [start, end)
};

// Points of one member that fall due together.
struct MemberExpiry {
  std::string member_id;
  absl::Time expire_time;
  int64_t points = 0;
};

class StoreTxn : public ServiceTxn {
 public:
  // Program versions. The version in force at `at` is the newest whose
  // effective time is not after `at`; before the first, the first.
  virtual absl::StatusOr<std::optional<Program>> ProgramAt(absl::Time at) = 0;
  virtual absl::StatusOr<std::optional<Program>> ProgramVersion(int64_t version) = 0;
  // Newest first, versions below `before` (0 = from the newest).
  virtual absl::StatusOr<std::vector<Program>> ProgramVersions(int64_t before, int limit) = 0;
  // Stores a new version and marks the previous one superseded then.
  virtual absl::Status InsertProgram(const Program& program) = 0;
  virtual absl::StatusOr<bool> AnyPurchase() = 0;
  virtual absl::StatusOr<bool> TierHeld(const std::string& tier_id) = 0;

  // Members.
  virtual absl::StatusOr<std::optional<Member>> GetMember(const std::string& member_id) = 0;
  // False when the member_id is taken.
  virtual absl::StatusOr<bool> InsertMember(const Member& member) = 0;
  virtual absl::Status SaveMember(const Member& member) = 0;
  // Ordered by member_id, after `after_member_id`.
  virtual absl::StatusOr<std::vector<Member>> ListMembers(const MemberFilter& filter,
                                                          const std::string& after_member_id, int limit) = 0;
  // Members whose tier review or grace end is due by `now`, soonest first.
  virtual absl::StatusOr<std::vector<std::string>> MembersDueForReview(absl::Time now, int limit) = 0;
  // Members whose next birthday started by `now`.
  virtual absl::StatusOr<std::vector<std::string>> MembersDueForBirthday(absl::Time now, int limit) = 0;
  // Members whose next membership anniversary started by `now`.
  virtual absl::StatusOr<std::vector<std::string>> MembersDueForAnniversary(absl::Time now, int limit) = 0;
  // The distinct Profile.time_zone values members hold ("" included).
  virtual absl::StatusOr<std::vector<std::string>> MemberTimeZones() = 0;
  // Members with that time zone, by member id after `after`.
  virtual absl::StatusOr<std::vector<std::string>> MemberIdsInZone(const std::string& time_zone,
                                                                   const std::string& after, int limit) = 0;
  // Records that the member got the occasion's occurrence; false if they
  // already had: the once-per-member guarantee.
  virtual absl::StatusOr<bool> InsertOccasionGrant(const std::string& occasion_id, int occurrence,
                                                   const std::string& member_id, absl::Time at) = 0;
  // Care cadence. Members whose cadence_due is at or before `now`, soonest
  // first.
  virtual absl::StatusOr<std::vector<std::string>> MembersDueForCadence(absl::Time now, int limit) = 0;
  // Sets when the cadence job looks at the member next; nullopt: not until
  // pulled.
  virtual absl::Status SetCadenceDue(const std::string& member_id, std::optional<absl::Time> due) = 0;
  // Moves the member's cadence_due to `at` unless it is earlier already.
  virtual absl::Status PullCadenceDue(const std::string& member_id, absl::Time at) = 0;
  // The latest purchase_time of the member's recorded purchases; nullopt if none.
  virtual absl::StatusOr<std::optional<absl::Time>> LastPurchaseTime(const std::string& member_id) = 0;
  // What the member had from each cadence rule, by rule id.
  virtual absl::StatusOr<std::map<std::string, CadenceContact>> CadenceContacts(const std::string& member_id) = 0;
  // Records a check-in at `at`: the first of the rule for the member, or a
  // next one when the last was at or before `repeat_if_last_by` (nullopt:
  // once only). False if refused: the once-per-period guarantee.
  virtual absl::StatusOr<bool> RecordCadenceContact(const std::string& member_id, const std::string& rule_id,
                                                    absl::Time at, std::optional<absl::Time> repeat_if_last_by) = 0;
  // Every member id after `after`, in order (background re-evaluation).
  virtual absl::StatusOr<std::vector<std::string>> MemberIds(const std::string& after, int limit) = 0;

  // Purchases and visits.
  virtual absl::StatusOr<std::optional<Purchase>> GetPurchase(const std::string& order_id) = 0;
  virtual absl::Status InsertPurchase(const Purchase& purchase) = 0;
  virtual absl::Status SavePurchase(const Purchase& purchase) = 0;
  // Net spend of the member's purchases with purchase_time in (start, end].
  virtual absl::StatusOr<int64_t> Spend(const std::string& member_id, absl::Time start, absl::Time end) = 0;
  // Records a visit on local day `day`; false if one was already counted.
  virtual absl::StatusOr<bool> AddVisitDay(const std::string& member_id, int64_t day) = 0;

  // Ledger.
  virtual absl::Status AppendEntry(const LedgerEntry& entry) = 0;
  // Newest first, sequence below `before` (0 = from the newest).
  virtual absl::StatusOr<std::vector<LedgerEntry>> ListEntries(const EntryFilter& filter, int64_t before,
                                                               int limit) = 0;
  virtual absl::StatusOr<std::map<EntryKind, int64_t>> SumByKind(const std::string& member_id) = 0;

  // Lots: unspent points of positive entries.
  virtual absl::Status AddLot(const std::string& member_id, const Lot& lot) = 0;
  // Lots with points left, in spending order: soonest expiry first (never-
  // expiring last), then oldest.
  virtual absl::StatusOr<std::vector<Lot>> OpenLots(const std::string& member_id) = 0;
  virtual absl::Status SetLotRemaining(const std::string& member_id, int64_t sequence, int64_t remaining) = 0;
  // Points due to expire by `now`, per member and instant, earliest first.
  virtual absl::StatusOr<std::vector<MemberExpiry>> DueExpiries(absl::Time now, int limit) = 0;
  // Points expiring in (now, until] not yet warned of, per member and instant.
  virtual absl::StatusOr<std::vector<MemberExpiry>> DueWarnings(absl::Time now, absl::Time until, int limit) = 0;
  // Records the warning; false if this member and instant were warned before.
  virtual absl::StatusOr<bool> MarkWarned(const std::string& member_id, absl::Time expire_time) = 0;
  // One member's upcoming expiries, earliest first.
  virtual absl::StatusOr<std::vector<MemberExpiry>> UpcomingExpiries(const std::string& member_id, int limit) = 0;

  // The tier cache: MarkCacheDirty records that the member's tier snapshot
  // at `version` must reach the Redis cache. (Events to other services leave
  // through ServiceTxn::Enqueue.)
  virtual absl::Status MarkCacheDirty(const std::string& member_id, int64_t version) = 0;
  virtual absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> DirtyCacheEntries(int limit) = 0;
  // Forgets the entry unless a newer version was marked meanwhile.
  virtual absl::Status ClearCacheDirty(const std::string& member_id, int64_t version) = 0;

  // Personal data (docs/privacy.md). Whether any subject key (common/
  // privacy.h) was erased here: a tombstone.
  virtual absl::StatusOr<bool> SubjectErased(const std::vector<std::string>& keys) = 0;
  // Erases the member: deletes the profile and what only describes the
  // person (lots, visits, expiry warnings, tier cache marks) and re-keys the
  // money records (ledger entries, purchases) to `pseudonym`, each ledger
  // entry rewritten by `deidentify` first. Adds the counts to `receipt`
  // (erased / deidentified by data kind); a member that is not there adds
  // nothing.
  virtual absl::Status EraseMember(const std::string& member_id, const std::string& pseudonym,
                                   const std::function<void(LedgerEntry&)>& deidentify,
                                   care::common::v1::ErasureReceipt& receipt) = 0;
  // The records every service keeps the same way (idempotency answers and
  // outbox events tagged with `keys`), deleted, and tombstones written.
  virtual absl::Status EraseCommonRecords(const std::vector<std::string>& keys, absl::Time now,
                                          care::common::v1::ErasureReceipt& receipt) = 0;
  // Erasures started here: they name no one (the subject is not stored).
  virtual absl::Status SaveErasure(const v1::Erasure& erasure) = 0;
  virtual absl::StatusOr<std::optional<v1::Erasure>> GetErasure(const std::string& erasure_id) = 0;
  // Where the outbox event `event_id` stands (std::nullopt: no such event,
  // or purged once delivered).
  virtual absl::StatusOr<std::optional<OutboxEventState>> OutboxState(const std::string& event_id) = 0;

  // Analytics rollups (analytics.cc): adds `c` to a row of (day, tier),
  // creating it.
  virtual absl::Status AddRollup(int64_t day, const std::string& tier_id, const RollupCounters& c) = 0;
  // The rows of days in [first_day, last_day], by day.
  virtual absl::StatusOr<std::vector<RollupRow>> Rollups(int64_t first_day, int64_t last_day) = 0;
  // Per tier, members_delta and points_net summed over every day before
  // `day` (the opening row included): members and points held then.
  virtual absl::StatusOr<std::vector<RollupRow>> RollupTotalsBefore(int64_t day) = 0;
  // The rewards catalogue (stored in contract form, like erasures).
  virtual absl::StatusOr<std::optional<v1::Reward>> GetReward(const std::string& reward_id) = 0;
  // False when the reward_id is taken.
  virtual absl::StatusOr<bool> InsertReward(const v1::Reward& reward) = 0;
  virtual absl::Status SaveReward(const v1::Reward& reward) = 0;
  // Ordered by reward_id, after `after`; archived ones only with `archived`.
  virtual absl::StatusOr<std::vector<v1::Reward>> ListRewards(bool archived, const std::string& after, int limit) = 0;
  // Reward redemptions; `seq` is the member's REWARD entry (the order they
  // are listed in). Save inserts or replaces.
  virtual absl::Status SaveRedemption(const v1::RewardRedemption& redemption, int64_t seq) = 0;
  virtual absl::StatusOr<std::optional<v1::RewardRedemption>> GetRedemption(const std::string& redemption_id) = 0;
  // Newest first, seq below `before` (0 = from the newest).
  virtual absl::StatusOr<std::vector<v1::RewardRedemption>> ListRedemptions(const std::string& member_id,
                                                                            int64_t before, int limit) = 0;

  // Small named values for background jobs (cursors).
  virtual absl::StatusOr<std::optional<std::string>> GetJobState(const std::string& name) = 0;
  virtual absl::Status SetJobState(const std::string& name, const std::optional<std::string>& value) = 0;
};

using LoyaltyStore = TransactionalStore<StoreTxn>;

}  // namespace care::loyalty
