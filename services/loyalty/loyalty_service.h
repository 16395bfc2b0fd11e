#pragma once

// The loyalty domain service: members, purchases and returns, redemptions
// and adjustments, tiers, and the jobs on the injectable clock. Each
// operation is a transaction script over a StoreTxn (the caller opens the
// transaction, so it can put idempotency records in the same one); jobs open
// their own. No gRPC, no SQL: the adapter maps requests to the commands
// below, the store keeps the data.

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "services/loyalty/loyalty_store.h"
#include "services/loyalty/model.h"
#include "services/loyalty/tiers.h"

namespace care::loyalty {

// Where tier snapshots are published for every service to read (Redis).
class TierCache {
 public:
  virtual ~TierCache() = default;
  // Stores `snapshot` unless a newer version is there; UNAVAILABLE when the
  // cache is down (the database stays the truth).
  virtual absl::Status Put(const TierSnapshot& snapshot) = 0;

  // The database's snapshots of `member_ids`, in order (std::nullopt: no
  // such member).
  using SnapshotsOf = std::function<absl::StatusOr<std::vector<std::optional<TierSnapshot>>>(
      const std::vector<std::string>& member_ids)>;
  // One step of the audit that walks the whole cache from `cursor` and
  // repairs every entry that disagrees with `truth` (unsigned, forged, or
  // ahead of the database after a restore); returns the next cursor, 0 when
  // the walk is complete. A cache with nothing to audit returns 0.
  virtual absl::StatusOr<uint64_t> Audit(uint64_t cursor, const SnapshotsOf& truth) { return uint64_t{0}; }
};

// Who asked: recorded on ledger entries and program versions.
struct Actor {
  std::string name;  // principal, or "system" for jobs
  std::string request_id;
};

// What a committed mutation still has to do: tier snapshots to write
// through to the cache before the caller is answered.
struct Effects {
  std::vector<TierSnapshot> snapshots;
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
  std::string currency;  // of amount (and lines): must be the program's
  std::optional<absl::Time> purchase_time;  // unset = now
  std::vector<PurchaseLine> lines;
  bool no_points = false;
  std::vector<std::string> campaign_ids;
  std::string store_id;
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
  int64_t points_earned = 0;
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

// Profile fields UpdateMember may change (paths of care.loyalty.v1.Member).
const std::set<std::string>& UpdatableProfileFields();

class LoyaltyService final {
 public:
  LoyaltyService(LoyaltyStore& store, const Clock& clock, TierCache* cache);

  LoyaltyStore& store() { return store_; }
  absl::Time Now() const { return clock_.Now(); }

  // FAILED_PRECONDITION / PROGRAM_NOT_CONFIGURED until the first version
  // exists (cheap: checked on every call).
  absl::Status RequireProgram();

  // ------------------------------------------------------------- program
  // The version in force now; PROGRAM_NOT_CONFIGURED when none.
  absl::StatusOr<Program> CurrentProgram(StoreTxn& tx);
  // A given version (0: in force at `as_of`, else now).
  absl::StatusOr<Program> GetProgram(StoreTxn& tx, int64_t version, std::optional<absl::Time> as_of);
  absl::StatusOr<std::vector<Program>> ListPrograms(StoreTxn& tx, int64_t before, int limit);
  // Validates and stores `next` as the new version in force from now.
  // `expected_version` must be the version in force (0 when none).
  absl::StatusOr<Program> UpdateProgram(StoreTxn& tx, Program next, int64_t expected_version,
                                        const std::string& change_note, const Actor& actor);
  // Call after the transaction of UpdateProgram committed.
  void ProgramCommitted() { configured_ = true; }

  // ------------------------------------------------------------- members
  absl::StatusOr<MemberView> Enrol(StoreTxn& tx, Effects& fx, std::string member_id, Profile profile);
  absl::StatusOr<MemberView> GetMember(StoreTxn& tx, const std::string& member_id);
  // Sets the profile fields named in `paths` from `patch`; consents merge
  // by channel. `expected_version` 0 = unchecked.
  absl::StatusOr<MemberView> UpdateMember(StoreTxn& tx, const std::string& member_id, const Profile& patch,
                                          const std::set<std::string>& paths, int64_t expected_version);
  absl::StatusOr<std::vector<MemberView>> ListMembers(StoreTxn& tx, const MemberFilter& filter,
                                                      const std::string& after, int limit);

  // ------------------------------------------------------ points and tiers
  absl::StatusOr<PurchaseResult> RecordPurchase(StoreTxn& tx, Effects& fx, const PurchaseCommand& cmd,
                                                const Actor& actor);
  absl::StatusOr<ReturnResult> RecordReturn(StoreTxn& tx, Effects& fx, const ReturnCommand& cmd,
                                            const Actor& actor);
  absl::StatusOr<PointsResult> Redeem(StoreTxn& tx, const RedeemCommand& cmd, const Actor& actor);
  absl::StatusOr<PointsResult> Adjust(StoreTxn& tx, const AdjustCommand& cmd, const Actor& actor);
  absl::StatusOr<std::vector<LedgerEntry>> ListEntries(StoreTxn& tx, const EntryFilter& filter, int64_t before,
                                                       int limit);
  absl::StatusOr<Balance> GetBalance(StoreTxn& tx, const std::string& member_id,
                                     std::optional<absl::Duration> horizon);
  // The member's snapshot from the database (the cache's fallback).
  absl::StatusOr<TierSnapshot> LoadSnapshot(StoreTxn& tx, const std::string& member_id);
  // `target` empty: KEEP of the current tier and REACH of the next one.
  absl::StatusOr<TierProjectionResult> ProjectTier(StoreTxn& tx, const std::string& member_id,
                                                   const std::string& target, std::optional<absl::Time> by_time);

  // Writes the snapshots of a committed mutation through to the cache. A
  // cache failure is logged, not returned: the repair job retries.
  void Apply(const Effects& fx);
  // Puts `snapshot` into the cache (a GetTier miss refilling it).
  void Refill(const TierSnapshot& snapshot);

  // ---------------------------------------------------------------- jobs
  // Each does one bounded batch in its own transaction and returns true
  // when more is due right away (JobRunner's contract).
  bool ExpirePoints();
  bool WarnExpiringPoints();
  bool ReviewTiers();
  bool GrantBirthdayBonuses();
  bool ReevaluateAfterProgramChange();
  bool RepairTierCache();
  // One step of the tier cache audit (TierCache::Audit): true while the
  // walk over the cache is not complete.
  bool AuditTierCache();

 private:
  absl::StatusOr<Member> LoadMember(StoreTxn& tx, const std::string& member_id);
  absl::StatusOr<Program> ProgramByVersion(StoreTxn& tx, int64_t version);
  absl::StatusOr<TierSnapshot> SnapshotOf(StoreTxn& tx, const Member& member);
  static TierSnapshot SnapshotFrom(const Member& member, const Program& program);
  SpendFn SpendOf(StoreTxn& tx, const Member& member);
  absl::StatusOr<Progress> ProgressOf(StoreTxn& tx, const Program& program, const Member& member);

  // Appends `entry` to the member's ledger (sequence, balance filled in)
  // and moves the lots: a positive delta credits a lot expiring at
  // `lot_expiry`, a negative one spends lots soonest-expiring first
  // (`first`: a lot to take from before the others).
  absl::Status Post(StoreTxn& tx, Member& member, LedgerEntry& entry, std::optional<absl::Time> lot_expiry,
                    std::optional<int64_t> first = std::nullopt);
  // Appends `entry` without touching lots (expiry empties its lots itself).
  absl::Status Append(StoreTxn& tx, Member& member, LedgerEntry& entry);
  // Moves the member into `tier` at `at`, bumping the snapshot version,
  // and publishes TierChanged; the snapshot goes to `fx`.
  absl::Status ChangeTier(StoreTxn& tx, Effects* fx, Member& member, const Program& program, const Tier& tier,
                          absl::Time at);
  void RecomputeBirthday(Member& member, const Program& program, absl::Time from);

  template <typename Fn>
  bool RunJob(const char* name, Fn fn);

  LoyaltyStore& store_;
  const Clock& clock_;
  TierCache* cache_;  // may be null (no Redis configured)
  uint64_t audit_cursor_ = 0;  // the job thread's only
  std::atomic<bool> configured_{false};
};

}  // namespace care::loyalty
