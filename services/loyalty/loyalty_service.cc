#include "services/loyalty/loyalty_service.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/bounds.h"
#include "common/errors.h"
#include "common/log.h"
#include "services/loyalty/events.h"
#include "services/loyalty/loyalty_proto.h"
#include "services/loyalty/occasions.h"
#include "services/loyalty/program.h"
#include "services/loyalty/service_internal.h"

namespace care::loyalty {

LoyaltyService::LoyaltyService(LoyaltyStore& store, const Clock& clock, TierCache* cache)
    : store_(store), clock_(clock), cache_(cache) {}

absl::Status LoyaltyService::RequireProgram() {
  if (configured_.load(std::memory_order_relaxed)) return absl::OkStatus();
  bool found = false;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto latest = tx.ProgramVersions(0, 1);
    if (!latest.ok()) return latest.status();
    found = !latest->empty();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!found) return NotConfigured();
  configured_ = true;
  return absl::OkStatus();
}

// --------------------------------------------------------------- helpers

absl::StatusOr<Member> LoyaltyService::LoadMember(StoreTxn& tx, const std::string& member_id) {
  auto member = tx.GetMember(member_id);
  if (!member.ok()) return member.status();
  if (!member->has_value()) return MissingMember(tx, member_id);
  return std::move(**member);
}

absl::StatusOr<Program> LoyaltyService::ProgramByVersion(StoreTxn& tx, int64_t version) {
  auto p = tx.ProgramVersion(version);
  if (!p.ok()) return p.status();
  if (!p->has_value()) return absl::InternalError(absl::StrCat("program version ", version, " missing"));
  return std::move(**p);
}

absl::StatusOr<Program> LoyaltyService::CurrentProgram(StoreTxn& tx) {
  auto p = tx.ProgramAt(clock_.Now());
  if (!p.ok()) return p.status();
  if (!p->has_value()) return NotConfigured();
  return std::move(**p);
}

TierSnapshot LoyaltyService::SnapshotFrom(const Member& member, const Program& program) {
  TierSnapshot s;
  s.member_id = member.member_id;
  s.tier_id = member.tier.tier_id;
  if (const Tier* tier = program.FindTier(member.tier.tier_id)) {
    s.tier_display_name = tier->display_name;
    s.tier_rank = tier->rank;
    s.benefits = tier->benefits;
  } else {
    s.tier_display_name = member.tier.tier_id;
  }
  s.version = member.tier.version;
  s.program_version = program.version;
  s.update_time = member.tier.snapshot_time;
  return s;
}

absl::StatusOr<TierSnapshot> LoyaltyService::SnapshotOf(StoreTxn& tx, const Member& member) {
  auto program = ProgramByVersion(tx, member.tier.program_version);
  if (!program.ok()) return program.status();
  return SnapshotFrom(member, *program);
}

SpendFn LoyaltyService::SpendOf(StoreTxn& tx, const Member& member) {
  return [&tx, &member](absl::Time start, absl::Time end) -> absl::StatusOr<int64_t> {
    // Lifetime spend is kept on the member: no need to add up every order.
    if (start == absl::InfinitePast() && end == absl::InfiniteFuture()) return member.lifetime_spend;
    return tx.Spend(member.member_id, start, end);
  };
}

absl::StatusOr<Progress> LoyaltyService::ProgressOf(StoreTxn& tx, const Program& program, const Member& member) {
  Progress progress;
  SpendFn spend = SpendOf(tx, member);
  auto keep = ProjectKeep(program, member.tier, spend);
  if (!keep.ok()) return keep.status();
  progress.keep_tier = *keep;
  if (const Tier* next = program.NextTierUp(member.tier.tier_id)) {
    auto reach = ProjectReach(program, *next, clock_.Now(), spend);
    if (!reach.ok()) return reach.status();
    progress.next_tier = *reach;
  }
  return progress;
}

absl::Status LoyaltyService::Append(StoreTxn& tx, const Program& program, Member& member, LedgerEntry& entry) {
  // Every entry is within kMaxPointsPerEntry (checked where it is made), so
  // only the balance bound can be crossed here: by the request that credits.
  std::optional<int64_t> balance = CheckedAdd(member.points_balance, entry.points_delta, kMaxPointsBalance);
  if (!balance) {
    return InvalidField(entry.kind == EntryKind::kAdjust ? "points_delta" : "amount",
                        absl::StrCat("would take the points balance past ", kMaxPointsBalance));
  }
  entry.member_id = member.member_id;
  entry.sequence = ++member.ledger_sequence;
  member.points_balance = *balance;
  entry.balance_after = member.points_balance;
  if (member.points_balance < 0) return absl::InternalError("balance would go negative");
  if (absl::Status s = tx.AppendEntry(entry); !s.ok()) return s;
  // Every entry reaches the rollups here, so they always add up to the
  // ledger (analytics.cc).
  if (entry.points_delta == 0) return absl::OkStatus();
  RollupCounters c;
  c.points_net = entry.points_delta;
  const int64_t out = -entry.points_delta;
  switch (entry.kind) {
    case EntryKind::kEarn:
      c.points_earned = entry.points_delta;
      break;
    case EntryKind::kBonus:
      c.points_bonus = entry.points_delta;
      break;
    case EntryKind::kVisitReward:
      c.points_visit = entry.points_delta;
      break;
    case EntryKind::kAdjust:
      (entry.points_delta > 0 ? c.points_adjusted_in : c.points_adjusted_out) = std::abs(entry.points_delta);
      break;
    case EntryKind::kRedeem:
    case EntryKind::kReward:
    case EntryKind::kRewardRefund:  // redeemed net of refunds, like Balance.lifetime_redeemed
      c.points_redeemed = out;
      break;
    case EntryKind::kReverse:
      c.points_reversed = out;
      break;
    case EntryKind::kExpire:
      c.points_expired = out;
      break;
    case EntryKind::kForfeit:
      c.points_forfeited = out;
      break;
  }
  return Rollup(tx, program, entry.create_time, member.tier.tier_id, c);
}

absl::Status LoyaltyService::Post(StoreTxn& tx, const Program& program, Member& member, LedgerEntry& entry,
                                  std::optional<absl::Time> lot_expiry, std::optional<int64_t> first) {
  if (entry.points_delta > 0) entry.expire_time = lot_expiry;
  if (absl::Status s = Append(tx, program, member, entry); !s.ok()) return s;
  if (entry.points_delta > 0) {
    return tx.AddLot(member.member_id, Lot{entry.sequence, lot_expiry, entry.points_delta});
  }
  if (entry.points_delta == 0) return absl::OkStatus();
  auto lots = tx.OpenLots(member.member_id);
  if (!lots.ok()) return lots.status();
  if (first) {
    std::stable_partition(lots->begin(), lots->end(), [&](const Lot& l) { return l.sequence == *first; });
  }
  int64_t need = -entry.points_delta;
  for (const Lot& lot : *lots) {
    if (need == 0) break;
    int64_t take = std::min(need, lot.remaining);
    need -= take;
    if (absl::Status s = tx.SetLotRemaining(member.member_id, lot.sequence, lot.remaining - take); !s.ok()) {
      return s;
    }
  }
  // The lots always add up to the balance; anything else is a bug, and the
  // write is rolled back rather than committed inconsistent.
  if (need != 0) return absl::InternalError("lots do not cover the balance");
  return absl::OkStatus();
}

absl::Status LoyaltyService::ChangeTier(StoreTxn& tx, Effects* fx, Member& member, const Program& program,
                                        const Tier& tier, absl::Time at) {
  std::string old_tier = member.tier.tier_id;
  member.tier = EnterTier(program, tier, at, member.tier);
  member.tier.version += 1;
  member.tier.program_version = program.version;
  member.tier.snapshot_time = clock_.Now();
  if (absl::Status s = tx.Enqueue(EventToOutbox(TierChanged{member.member_id, old_tier, tier.tier_id, tier.display_name,
                                                            member.tier.version, tier.localized_display_names},
                                                clock_.Now()));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = tx.MarkCacheDirty(member.member_id, member.tier.version); !s.ok()) return s;
  if (old_tier != tier.tier_id) {
    if (absl::Status s = RollupTierMove(tx, program, clock_.Now(), old_tier, tier.tier_id); !s.ok()) return s;
  }
  if (fx) fx->snapshots.push_back(SnapshotFrom(member, program));
  // A new tier may bring the member into a cadence rule.
  if (!program.cadence_rules.empty()) return tx.PullCadenceDue(member.member_id, clock_.Now());
  return absl::OkStatus();
}

void LoyaltyService::RecomputeBirthday(Member& member, const Program& program, absl::Time from) {
  if (!member.profile.birthday) {
    member.next_birthday_time.reset();
    return;
  }
  absl::TimeZone zone = MemberZone(member, program);
  BirthdayInstant next = NextBirthday(*member.profile.birthday, from, zone);
  if (next.year <= member.birthday_bonus_year) {
    next.year = member.birthday_bonus_year + 1;
    next.start = BirthdayStart(*member.profile.birthday, next.year, zone);
  }
  member.next_birthday_time = next.start;
}

void LoyaltyService::RecomputeAnniversary(Member& member, const Program& program, absl::Time from) {
  member.next_anniversary_time = NextAnniversary(member.create_time, from, MemberZone(member, program)).start;
}

void LoyaltyService::Apply(const Effects& fx) {
  if (cache_ == nullptr) return;
  for (const TierSnapshot& s : fx.snapshots) {
    absl::Status put = PutTier(s);
    // Redis being down is logged once by the pool; the repair job retries.
    if (!put.ok() && LogEnabled(LogLevel::kDebug)) {
      Log(LogLevel::kDebug, "tier cache write failed",
          {{"member_id", s.member_id}, {"version", s.version}, {"error", put.message()}});
    }
  }
}

}  // namespace care::loyalty
