#pragma once

// The loyalty domain service: members, purchases and returns, redemptions
// and adjustments, tiers, and the jobs on the injectable clock. It owns its
// transactions and idempotency records; each operation is a transaction
// script over a StoreTxn. No gRPC, no SQL: the adapter maps requests to the
// commands of commands.h, the store keeps the data. The operations live in
// files by concern: members.cc, purchases.cc, points.cc,
// program_versions.cc, jobs.cc; loyalty_service.cc has what they share.

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "care/common/v1/privacy.pb.h"
#include "care/loyalty/v1/loyalty.pb.h"
#include "common/clock.h"
#include "common/erasure_scrub.h"
#include "common/store.h"
#include "services/loyalty/commands.h"
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
  // Removes the member's snapshot (an erased member: the key and the value
  // name them); UNAVAILABLE when the cache is down.
  virtual absl::Status Forget(const std::string& member_id) { return absl::OkStatus(); }

  // The database's snapshots of `member_ids`, in order (std::nullopt: no
  // such member).
  using SnapshotsOf = std::function<absl::StatusOr<std::vector<std::optional<TierSnapshot>>>(
      const std::vector<std::string>& member_ids)>;
  // One step of the audit that walks the whole cache from `cursor` and
  // repairs every entry that disagrees with `truth` (unsigned, forged, or
  // ahead of the database after a restore); returns the next cursor, 0 when
  // the walk is complete. A cache with nothing to audit returns 0.
  virtual absl::StatusOr<uint64_t> Audit(uint64_t cursor, const SnapshotsOf& truth) { return uint64_t{0}; }

  // The database's snapshot of a member, in contract form.
  using Read = std::function<absl::StatusOr<v1::TierSnapshot>(absl::string_view member_id)>;
  // The member's snapshot for a reader: the cache's copy when it holds a
  // valid one, otherwise `read`'s (also when the cache is down). A cache
  // that keeps no copy answers with `read`.
  virtual absl::StatusOr<v1::TierSnapshot> Get(absl::string_view member_id, const Read& read) {
    return read(member_id);
  }
};

// What a committed mutation still has to do: tier snapshots to write
// through to the cache before the caller is answered.
struct Effects {
  std::vector<TierSnapshot> snapshots;
};

// The methods ErasePerson's outbox events call (one per other service), for
// OutboxRelay::OnOutcome.
std::vector<std::string> ErasureMethods();

// Profile fields UpdateMember may change (paths of care.loyalty.v1.Member).
const std::set<std::string>& UpdatableProfileFields();

class LoyaltyService final {
 public:
  LoyaltyService(LoyaltyStore& store, const Clock& clock, TierCache* cache);

  // The business clock (request checks such as "not in the past").
  absl::Time Now() const { return clock_.Now(); }

  // FAILED_PRECONDITION / PROGRAM_NOT_CONFIGURED until the first version
  // exists (cheap: checked on every call).
  absl::Status RequireProgram();

  // Every operation below opens its own transaction. A mutation is one
  // WriteOnce under `once` (a retry gets the first answer, stored in its
  // wire form) and writes the tier snapshots it changed through to the cache
  // after its commit. Answers are contract messages built by loyalty_proto.h.

  // ------------------------------------------------------------- program
  // A given version (0: in force at `as_of`, else now).
  absl::StatusOr<v1::Program> GetProgram(int64_t version, std::optional<absl::Time> as_of);
  // Newest first, versions below `before` (0 = from the newest).
  absl::StatusOr<std::vector<v1::Program>> ListPrograms(int64_t before, int limit);
  // Validates and stores the new version, in force from now;
  // `update.program.version` must be the version in force (0 when none).
  absl::StatusOr<v1::Program> UpdateProgram(const Once& once, const ProgramUpdate& update, const Actor& actor);

  // ------------------------------------------------------------- members
  absl::StatusOr<v1::Member> Enrol(const Once& once, const std::string& member_id, const Profile& profile);
  absl::StatusOr<v1::Member> GetMember(const std::string& member_id);
  // Sets the profile fields named in `paths` from `patch`; consents merge
  // by channel. `expected_version` 0 = unchecked.
  absl::StatusOr<v1::Member> UpdateMember(const Once& once, const std::string& member_id, const Profile& patch,
                                          const std::set<std::string>& paths, int64_t expected_version);
  // Ordered by member_id, after `after`.
  absl::StatusOr<std::vector<v1::Member>> ListMembers(const MemberFilter& filter, const std::string& after, int limit);
  // Records a bulk read of members (an export) in the audit log as it starts.
  absl::Status AuditRead(const AuditRecord& record) { return care::AuditRead(store_, record); }

  // ------------------------------------------------------ points and tiers
  absl::StatusOr<v1::RecordPurchaseResponse> RecordPurchase(const Once& once, const PurchaseCommand& cmd,
                                                            const Actor& actor);
  absl::StatusOr<v1::RecordReturnResponse> RecordReturn(const Once& once, const ReturnCommand& cmd, const Actor& actor);
  absl::StatusOr<v1::RedeemPointsResponse> Redeem(const Once& once, const RedeemCommand& cmd, const Actor& actor);
  absl::StatusOr<v1::AdjustPointsResponse> Adjust(const Once& once, const AdjustCommand& cmd, const Actor& actor);
  // Newest first, sequence below `before` (0 = from the newest).
  absl::StatusOr<std::vector<v1::LedgerEntry>> ListEntries(const EntryFilter& filter, int64_t before, int limit);
  absl::StatusOr<v1::PointsBalance> GetBalance(const std::string& member_id, std::optional<absl::Duration> horizon);
  // The member's snapshot: from the cache, or on a miss from the database,
  // which puts it back into the cache.
  absl::StatusOr<v1::TierSnapshot> GetTier(const std::string& member_id);
  // `target` empty: KEEP of the current tier and REACH of the next one.
  absl::StatusOr<v1::ProjectTierResponse> ProjectTier(const std::string& member_id, const std::string& target,
                                                      std::optional<absl::Time> by_time);

  // ------------------------------------------------------- personal data
  // (privacy.cc, docs/privacy.md.) Where one person's export stands between
  // batches.
  struct ExportCursor {
    bool started = false;
    std::vector<std::string> member_ids;  // the members the subject names
    size_t next = 0;                      // the member being sent
    bool profile_sent = false;            // its profile and tier snapshot
    int64_t ledger_before = 0;            // its ledger, newest first
    bool done() const { return started && next >= member_ids.size(); }
  };
  // The next items (about `limit`) of everything loyalty holds about
  // `subject`: each member it names (by id, e-mail or phone), its tier
  // snapshot and its ledger entries.
  absl::StatusOr<std::vector<v1::LoyaltyPersonalData>> ExportPersonalData(const care::common::v1::DataSubject& subject,
                                                                          ExportCursor& cursor, int limit);
  // Erases loyalty's data about `subject` in one transaction (profile
  // deleted, ledger entries and purchases re-keyed to a pseudonym, tagged
  // idempotency answers and outbox events deleted, tombstones written) and
  // enqueues ErasePersonalData for promotion, complaint and notification.
  // The answer names no one. Then the member's tier snapshot leaves the
  // cache and the database scrub is asked for.
  absl::StatusOr<v1::Erasure> ErasePerson(const Once& once, const care::common::v1::DataSubject& subject,
                                          const std::string& reason, const Actor& actor);
  // Each service's part: PENDING with the outbox's attempts and last error,
  // DONE with its receipt, REFUSED when it refused for good.
  absl::StatusOr<v1::Erasure> GetErasure(const std::string& erasure_id);
  // The outbox relay's outcome of an ErasePersonalData event, recorded on
  // its erasure (in the relay's transaction).
  absl::Status ErasureOutcome(StoreTxn& tx, const OutboxEvent& event, const absl::Status& result,
                              const std::string& response);
  // Asked after each erasure's commit, and again once delivered erasure
  // requests were blanked in the outbox; null: nothing to scrub.
  void SetErasureScrub(ErasureScrub* scrub);
  // Enrolments ask complaint to link the care desk's contacts with the new
  // member's e-mail address or phone (LinkContacts through the outbox):
  // --link_contacts.
  void SetLinkContacts(bool link) { link_contacts_ = link; }
  // Reads an order's promotion redemption (promotion's GetRedemption by
  // order id) for RecordPurchase's campaign bonus; its errors are returned
  // as they are (NOT_FOUND / REDEMPTION_NOT_FOUND, UNAVAILABLE...). Unset:
  // a purchase naming a redemption is PROMOTION_NOT_CONFIGURED.
  using RedemptionLookup = std::function<absl::StatusOr<OrderRedemption>(const std::string& order_id)>;
  void SetRedemptionLookup(RedemptionLookup lookup) { redemptions_ = std::move(lookup); }
  // The job: asks for the scrub a second after a delivery
  // was recorded (then the relay's transaction has committed) and retries a
  // scrub that failed; never more due.
  bool ScrubAfterErasures();

  // ----------------------------------------------------------- analytics
  // The figures of each day or month of the period, from the rollups
  // (analytics.cc); INVALID_FIELD when query.time_zone is not the
  // program's.
  absl::StatusOr<v1::LoyaltyAnalytics> GetLoyaltyAnalytics(const AnalyticsQuery& query);
  // ------------------------------------------------------------- rewards
  // (rewards.cc.) The catalogue, in contract form; the adapter checked each
  // field's shape, the domain checks what needs the store (tiers in the
  // program, a taken id, versions).
  absl::StatusOr<v1::Reward> CreateReward(const Once& once, v1::Reward reward);
  absl::StatusOr<v1::Reward> GetReward(const std::string& reward_id);
  // Ordered by reward_id, after `after`.
  absl::StatusOr<std::vector<v1::Reward>> ListRewards(bool archived, const std::string& after, int limit);
  // The fields in `paths` taken from `patch`; `patch.version` 0 = unchecked.
  absl::StatusOr<v1::Reward> UpdateReward(const Once& once, const v1::Reward& patch,
                                          const std::set<std::string>& paths);
  absl::StatusOr<v1::Reward> ArchiveReward(const Once& once, const std::string& reward_id);
  // Spends the reward's price (CheckRedeemable, rewards.h) and records the
  // redemption; a voucher reward's IssueVoucher leaves through the outbox.
  absl::StatusOr<v1::RewardRedemption> RedeemReward(const Once& once, const std::string& member_id,
                                                    const std::string& reward_id, const Actor& actor);
  absl::StatusOr<v1::RewardRedemption> GetRedemption(const std::string& redemption_id);
  // Newest first, ledger sequence below `before` (0 = from the newest).
  absl::StatusOr<std::vector<v1::RewardRedemption>> ListRedemptions(const std::string& member_id, int64_t before,
                                                                    int limit);
  // The outbox relay's outcome of an IssueVoucher event (in the relay's
  // transaction): ISSUED with the code, or, refused for good, REFUNDED.
  absl::Status RewardVoucherOutcome(StoreTxn& tx, const OutboxEvent& event, const absl::Status& result,
                                    const std::string& response);

  // ---------------------------------------------------------------- jobs
  // Each does one bounded batch in its own transaction and returns true
  // when more is due right away (JobRunner's contract).
  bool ExpirePoints();
  bool WarnExpiringPoints();
  bool ReviewTiers();
  bool GrantBirthdayBonuses();
  // Occasions (care.loyalty.v1.Occasion): anniversaries that came due, then
  // one batch of one time zone of a dated occasion.
  bool GrantOccasions();
  // Care cadence (care.loyalty.v1.CadenceRule): a batch of the walk after
  // the rules changed, then a batch of members whose cadence_due came.
  bool RunCadence();
  bool ReevaluateAfterProgramChange();
  bool RepairTierCache();
  // One step of the tier cache audit (TierCache::Audit): true while the
  // walk over the cache is not complete.
  bool AuditTierCache();

 private:
  // WriteOnce under `once`; `fn(tx, fx, response)` runs unless `once` was
  // answered before. The snapshots in `fx` go to the cache after the commit.
  template <typename Response, typename Fn>
  absl::StatusOr<Response> WriteOnceAndCache(const Once& once, Fn fn);
  // Runs `fn(tx)` on a read snapshot and returns what it made.
  template <typename T, typename Fn>
  absl::StatusOr<T> ReadValue(Fn fn);

  // The transaction scripts of the operations above.
  absl::StatusOr<Program> StoreProgram(StoreTxn& tx, Program next, int64_t expected_version,
                                       const std::string& change_note, const Actor& actor);
  absl::StatusOr<MemberView> EnrolIn(StoreTxn& tx, Effects& fx, const std::string& member_id, const Profile& profile);
  absl::StatusOr<MemberView> UpdateMemberIn(StoreTxn& tx, const std::string& member_id, const Profile& patch,
                                            const std::set<std::string>& paths, int64_t expected_version);
  absl::StatusOr<MemberView> LoadMemberView(StoreTxn& tx, const std::string& member_id);
  // `view` as the answer, or its error.
  absl::Status MemberAnswer(StoreTxn& tx, const absl::StatusOr<MemberView>& view, v1::Member& response);
  absl::StatusOr<std::vector<MemberView>> MemberViews(StoreTxn& tx, const MemberFilter& filter,
                                                      const std::string& after, int limit);
  absl::StatusOr<PurchaseResult> RecordPurchaseIn(StoreTxn& tx, Effects& fx, const PurchaseCommand& cmd,
                                                  const Actor& actor);
  absl::StatusOr<ReturnResult> RecordReturnIn(StoreTxn& tx, Effects& fx, const ReturnCommand& cmd, const Actor& actor);
  absl::StatusOr<PointsResult> RedeemIn(StoreTxn& tx, const RedeemCommand& cmd, const Actor& actor);
  absl::StatusOr<PointsResult> AdjustIn(StoreTxn& tx, const AdjustCommand& cmd, const Actor& actor);
  absl::StatusOr<Balance> BalanceIn(StoreTxn& tx, const std::string& member_id, std::optional<absl::Duration> horizon);
  absl::StatusOr<TierProjectionResult> ProjectTierIn(StoreTxn& tx, const std::string& member_id,
                                                     const std::string& target, std::optional<absl::Time> by_time);

  // The member's snapshot from the database, put back into the cache (a
  // cache miss of GetTier).
  absl::StatusOr<v1::TierSnapshot> ReadTier(const std::string& member_id);
  // The version in force now; PROGRAM_NOT_CONFIGURED when none.
  absl::StatusOr<Program> CurrentProgram(StoreTxn& tx);
  // The member's snapshot from the database.
  absl::StatusOr<TierSnapshot> LoadSnapshot(StoreTxn& tx, const std::string& member_id);
  // Writes the snapshots of a committed mutation through to the cache. A
  // cache failure is logged, not returned: the repair job retries.
  void Apply(const Effects& fx);
  // Every write of the tier cache: puts `snapshot`, then takes it out again
  // if its member was erased meanwhile. A snapshot read before an erasure
  // committed could otherwise land after the erasure's Forget and name the
  // member in Redis for good (docs/privacy.md, "Redis").
  absl::Status PutTier(const TierSnapshot& snapshot);

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
  // `program` (the version in force now) dates the entry in the analytics
  // rollups.
  absl::Status Post(StoreTxn& tx, const Program& program, Member& member, LedgerEntry& entry,
                    std::optional<absl::Time> lot_expiry, std::optional<int64_t> first = std::nullopt);
  // Appends `entry` without touching lots (expiry empties its lots itself).
  absl::Status Append(StoreTxn& tx, const Program& program, Member& member, LedgerEntry& entry);

  // Analytics rollups (analytics.cc), in the caller's transaction: adds
  // `c` to the row of `tier_id` on the local day of `at` in the zone of
  // `program` (the version in force now).
  absl::Status Rollup(StoreTxn& tx, const Program& program, absl::Time at, const std::string& tier_id,
                      const RollupCounters& c);
  // A purchase of `amount` recorded at `at`: counted, and the member made
  // active (first of the day / month) or repeat (second) for the period.
  absl::Status RollupPurchase(StoreTxn& tx, const Program& program, Member& member, int64_t amount, absl::Time at);
  // A tier change from `from` to `to` (ranks of `program`).
  absl::Status RollupTierMove(StoreTxn& tx, const Program& program, absl::Time at, const std::string& from,
                              const std::string& to);
  absl::StatusOr<AnalyticsResult> AnalyticsIn(StoreTxn& tx, const AnalyticsQuery& query);
  // Moves the member into `tier` at `at`, bumping the snapshot version,
  // and publishes TierChanged; the snapshot goes to `fx`.
  absl::Status ChangeTier(StoreTxn& tx, Effects* fx, Member& member, const Program& program, const Tier& tier,
                          absl::Time at);
  void RecomputeBirthday(Member& member, const Program& program, absl::Time from);
  // The member's next anniversary from the local day of `from` on.
  static void RecomputeAnniversary(Member& member, const Program& program, absl::Time from);
  // Gives `member` the occurrence of `occasion` unless they had it: points
  // (within the balance bound), its catalogue reward while available, and a
  // message. The caller saves the member.
  absl::Status GrantOccasion(StoreTxn& tx, Member& member, const Program& program, const Occasion& occasion,
                             int occurrence, absl::Time now);
  // The catalogue reward of `occasion`, given to `member` if it is available
  // to them now (stock, dates, tiers); nullopt when none is given.
  absl::StatusOr<std::optional<v1::RewardRedemption>> GiveOccasionReward(StoreTxn& tx, Member& member,
                                                                         const Program& program,
                                                                         const Occasion& occasion, absl::Time now);
  // Issues one unit of `reward` to `member`: a REWARD ledger entry of
  // -`points` (the price, or 0 for an occasion's gift), the stock, and the
  // redemption (a voucher asked of promotion through the outbox, else
  // fulfilled). Terms are the caller's to check; the caller saves the member.
  absl::StatusOr<v1::RewardRedemption> IssueReward(StoreTxn& tx, Member& member, const Program& program,
                                                   v1::Reward reward, int64_t points, const std::string& occasion_id,
                                                   const Actor& actor, absl::Time now);
  // Sends `member` the check-ins of the rules due now (once per period: the
  // contact is recorded with the outbox event) and sets when the job looks
  // at them next.
  absl::Status CheckIn(StoreTxn& tx, const Member& member, const Program& program, absl::Time now);
  // The two halves of RunCadence; each returns whether more is due.
  absl::StatusOr<bool> RescanCadence(StoreTxn& tx, absl::Time now);
  absl::StatusOr<bool> CheckInDueMembers(StoreTxn& tx, absl::Time now);
  // The two halves of GrantOccasions; each returns whether more is due.
  absl::StatusOr<bool> GrantAnniversaries(StoreTxn& tx, absl::Time now);
  absl::StatusOr<bool> GrantDatedOccasions(StoreTxn& tx, absl::Time now);
  // Saves the member and fills in what purchase and return answers carry:
  // the balance, the tier snapshot and the progress toward tiers.
  absl::Status SaveAndDescribe(StoreTxn& tx, const Program& current, const Member& m, int64_t& balance,
                               TierSnapshot& tier, Progress& progress);

  // The steps of RecordPurchase (purchases.cc).
  struct PurchaseContext;
  absl::StatusOr<PurchaseContext> LoadPurchaseContext(StoreTxn& tx, const PurchaseCommand& cmd);
  absl::Status EarnPurchasePoints(StoreTxn& tx, PurchaseContext& c, const PurchaseCommand& cmd, const Actor& actor,
                                  PurchaseResult& r);
  absl::Status CountVisit(StoreTxn& tx, PurchaseContext& c, const PurchaseCommand& cmd, const Actor& actor,
                          PurchaseResult& r);
  absl::Status GrantVisitReward(StoreTxn& tx, PurchaseContext& c, const VisitReward& visit, const std::string& order_id,
                                const Actor& actor, PurchaseResult& r);
  absl::StatusOr<TierChange> UpgradeAfterPurchase(StoreTxn& tx, Effects& fx, Member& m, const Program& current,
                                                  absl::Time now);
  // The steps of RecordReturn (purchases.cc).
  struct ReturnContext;
  absl::StatusOr<ReturnContext> LoadReturnContext(StoreTxn& tx, const ReturnCommand& cmd);
  absl::Status ReversePoints(StoreTxn& tx, ReturnContext& c, const ReturnCommand& cmd, const Actor& actor,
                             ReturnResult& r);

  template <typename Fn>
  bool RunJob(const char* name, Fn fn);

  // Personal data (privacy.cc): the members `subject` names, by id, e-mail
  // or phone: the one named by id first, then in id order.
  static absl::StatusOr<std::vector<std::string>> SubjectMembers(StoreTxn& tx,
                                                                 const care::common::v1::DataSubject& subject);
  absl::Status ExportMemberStep(StoreTxn& tx, const Program& program, ExportCursor& cursor, int limit,
                                std::vector<v1::LoyaltyPersonalData>& items);
  absl::Status EraseIn(StoreTxn& tx, const care::common::v1::DataSubject& subject, const std::vector<std::string>& ids,
                       const std::string& reason, const Actor& actor, v1::Erasure& out);
  // A member that is not there: SUBJECT_ERASED when it was erased, else
  // MEMBER_NOT_FOUND.
  static absl::Status MissingMember(StoreTxn& tx, const std::string& member_id);

  LoyaltyStore& store_;
  const Clock& clock_;
  TierCache* cache_;           // may be null (no Redis configured)
  uint64_t audit_cursor_ = 0;  // the job thread's only
  std::atomic<bool> configured_{false};
  ErasureScrub* scrub_ = nullptr;
  RedemptionLookup redemptions_;
  bool link_contacts_ = false;
  // The campaign bonus of `cmd`'s promotion redemption, checked against the
  // order and the member (RecordPurchaseRequest.promotion_redemption_id).
  absl::StatusOr<int64_t> CampaignBonus(const PurchaseCommand& cmd);
  std::atomic<int64_t> scrub_due_micros_{0};  // wall clock; 0 = nothing due
};

}  // namespace care::loyalty
