#include "services/loyalty/loyalty_service.h"

#include <algorithm>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "common/bounds.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/random.h"
#include "services/loyalty/program.h"

namespace care::loyalty {
namespace {

constexpr char kSystem[] = "system";
constexpr int kJobBatch = 200;
constexpr char kReevaluateJob[] = "reevaluate";

absl::Status MemberNotFound(const std::string& member_id) {
  return NotFound("MEMBER_NOT_FOUND", absl::StrCat("no member ", member_id));
}

absl::Status NotConfigured() {
  return FailedPrecondition("PROGRAM_NOT_CONFIGURED", "no loyalty program yet: call UpdateProgram first");
}

absl::Status CheckCurrency(const std::string& field, const std::string& currency, const Program& program) {
  if (currency == program.currency_code) return absl::OkStatus();
  return Error(absl::StatusCode::kInvalidArgument, "CURRENCY_MISMATCH",
               absl::StrCat(field, " must be in the program currency ", program.currency_code),
               {{"field", field}, {"expected", program.currency_code}});
}

absl::TimeZone MemberZone(const Member& member, const Program& program) {
  return LoadZone(member.profile.time_zone.empty() ? program.time_zone : member.profile.time_zone);
}

std::optional<absl::Time> LotExpiry(const Program& program, absl::Time credited) {
  if (!program.points_expiry) return std::nullopt;
  return ExpiryTime(credited, program.points_expiry->expire_after_months, LoadZone(program.time_zone));
}

std::string NewMemberId() {
  // A member id is a capability-like handle: it must not be predictable
  // from ids seen before (a seeded generator is).
  return absl::StrCat("m-", RandomToken(16, kLowerHex));
}

bool SameProfileForNotification(const Profile& a, const Profile& b) {
  if (a.name != b.name || a.locale != b.locale || a.time_zone != b.time_zone || a.email != b.email ||
      a.phone != b.phone || a.consents.size() != b.consents.size()) {
    return false;
  }
  for (size_t i = 0; i < a.consents.size(); ++i) {
    if (a.consents[i].channel != b.consents[i].channel || a.consents[i].granted != b.consents[i].granted) {
      return false;
    }
  }
  return true;
}

bool SameBirthday(const std::optional<BirthDate>& a, const std::optional<BirthDate>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->year == b->year && a->month == b->month && a->day == b->day);
}

bool SameProfile(const Profile& a, const Profile& b) {
  return SameProfileForNotification(a, b) && SameBirthday(a.birthday, b.birthday) && a.segment == b.segment &&
         a.gender == b.gender && a.age_band == b.age_band && a.occupation == b.occupation;
}

}  // namespace

const std::set<std::string>& UpdatableProfileFields() {
  static const auto* fields = new std::set<std::string>{
      "name", "email", "phone", "locale", "time_zone", "birthday",
      "segment", "gender", "age_band", "occupation", "marketing_consents"};
  return *fields;
}

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
  if (!member->has_value()) return MemberNotFound(member_id);
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

absl::Status LoyaltyService::Append(StoreTxn& tx, Member& member, LedgerEntry& entry) {
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
  return tx.AppendEntry(entry);
}

absl::Status LoyaltyService::Post(StoreTxn& tx, Member& member, LedgerEntry& entry,
                                  std::optional<absl::Time> lot_expiry, std::optional<int64_t> first) {
  if (entry.points_delta > 0) entry.expire_time = lot_expiry;
  if (absl::Status s = Append(tx, member, entry); !s.ok()) return s;
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
  if (absl::Status s = tx.Publish(TierChanged{member.member_id, old_tier, tier.tier_id, tier.display_name,
                                              member.tier.version},
                                  clock_.Now());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = tx.MarkCacheDirty(member.member_id, member.tier.version); !s.ok()) return s;
  if (fx) fx->snapshots.push_back(SnapshotFrom(member, program));
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

void LoyaltyService::Apply(const Effects& fx) {
  if (cache_ == nullptr) return;
  for (const TierSnapshot& s : fx.snapshots) {
    absl::Status put = cache_->Put(s);
    // Redis being down is logged once by the pool; the repair job retries.
    if (!put.ok() && LogEnabled(LogLevel::kDebug)) {
      Log(LogLevel::kDebug, "tier cache write failed",
          {{"member_id", s.member_id}, {"version", s.version}, {"error", put.message()}});
    }
  }
}

void LoyaltyService::Refill(const TierSnapshot& snapshot) {
  if (cache_ != nullptr) cache_->Put(snapshot).IgnoreError();
}

// --------------------------------------------------------------- program

absl::StatusOr<Program> LoyaltyService::GetProgram(StoreTxn& tx, int64_t version,
                                                   std::optional<absl::Time> as_of) {
  if (version > 0) {
    auto p = tx.ProgramVersion(version);
    if (!p.ok()) return p.status();
    if (!p->has_value()) {
      return NotFound("PROGRAM_VERSION_NOT_FOUND", absl::StrCat("no program version ", version));
    }
    return std::move(**p);
  }
  absl::Time at = as_of.value_or(clock_.Now());
  auto p = tx.ProgramAt(at);
  if (!p.ok()) return p.status();
  if (!p->has_value()) return NotConfigured();
  if ((*p)->effective_time > at) {
    return NotFound("PROGRAM_VERSION_NOT_FOUND", "no program version was in force at that time");
  }
  return std::move(**p);
}

absl::StatusOr<std::vector<Program>> LoyaltyService::ListPrograms(StoreTxn& tx, int64_t before, int limit) {
  return tx.ProgramVersions(before, limit);
}

absl::StatusOr<Program> LoyaltyService::UpdateProgram(StoreTxn& tx, Program next, int64_t expected_version,
                                                      const std::string& change_note, const Actor& actor) {
  FieldErrors errors;
  ValidateProgram(next, errors);
  if (!errors.empty()) return errors.ToStatus();

  auto latest_list = tx.ProgramVersions(0, 1);
  if (!latest_list.ok()) return latest_list.status();
  std::optional<Program> latest;
  if (!latest_list->empty()) latest = std::move(latest_list->front());
  int64_t current_version = latest ? latest->version : 0;
  if (expected_version != current_version) {
    return Error(absl::StatusCode::kAborted, "VERSION_MISMATCH",
                 absl::StrCat("program.version is ", expected_version, " but the version in force is ",
                              current_version, ": re-read and retry"),
                 {{"current_version", absl::StrCat(current_version)}});
  }
  bool reevaluate = false;
  bool loosened = false;
  if (latest) {
    if (next.currency_code != latest->currency_code) {
      auto any = tx.AnyPurchase();
      if (!any.ok()) return any.status();
      if (*any) {
        return FailedPrecondition("PROGRAM_CHANGE_NOT_ALLOWED",
                                  "currency_code cannot change once a purchase is recorded");
      }
    }
    for (const Tier& old : latest->tiers) {
      if (next.FindTier(old.tier_id) != nullptr) {
        reevaluate = reevaluate || TierDisplayChanged(*latest, next, old.tier_id);
        continue;
      }
      auto held = tx.TierHeld(old.tier_id);
      if (!held.ok()) return held.status();
      if (*held) {
        return Error(absl::StatusCode::kFailedPrecondition, "TIER_IN_USE",
                     absl::StrCat("members hold tier ", old.tier_id, ": it cannot be removed"),
                     {{"tier_id", old.tier_id}});
      }
    }
    loosened = ThresholdsLoosened(*latest, next);
  }
  next.version = current_version + 1;
  next.effective_time = clock_.Now();
  next.superseded_time.reset();
  next.change_note = change_note;
  next.actor = actor.name;
  if (absl::Status s = tx.InsertProgram(next); !s.ok()) return s;
  if (reevaluate || loosened) {
    // Members are walked in the background (a million members are not
    // re-written in one call); see ReevaluateAfterProgramChange.
    absl::Status s = tx.SetJobState(kReevaluateJob, absl::StrCat(next.version, "|", loosened ? 1 : 0, "|"));
    if (!s.ok()) return s;
  }
  return next;
}

// --------------------------------------------------------------- members

absl::StatusOr<MemberView> LoyaltyService::Enrol(StoreTxn& tx, Effects& fx, std::string member_id,
                                                 Profile profile) {
  absl::Time now = clock_.Now();
  auto program = CurrentProgram(tx);
  if (!program.ok()) return program.status();
  bool chosen = !member_id.empty();
  Member m;
  m.profile = std::move(profile);
  if (m.profile.segment.empty()) m.profile.segment = "retail";
  for (Consent& c : m.profile.consents) c.update_time = now;
  std::sort(m.profile.consents.begin(), m.profile.consents.end(),
            [](const Consent& a, const Consent& b) { return a.channel < b.channel; });
  m.tier = EnterTier(*program, program->BaseTier(), now, Standing{});
  m.tier.version = 1;
  m.tier.program_version = program->version;
  m.tier.snapshot_time = now;
  m.create_time = now;
  m.update_time = now;
  m.version = 1;
  RecomputeBirthday(m, *program, now);
  for (int attempt = 0;; ++attempt) {
    m.member_id = chosen ? member_id : NewMemberId();
    auto inserted = tx.InsertMember(m);
    if (!inserted.ok()) return inserted.status();
    if (*inserted) break;
    if (chosen || attempt > 5) {
      return AlreadyExists("MEMBER_ALREADY_EXISTS", absl::StrCat("member ", m.member_id, " is already enrolled"));
    }
  }
  const Tier& base = program->BaseTier();
  if (absl::Status s = tx.Publish(ProfileChanged{m.member_id, m.profile, m.version}, now); !s.ok()) return s;
  if (absl::Status s = tx.Publish(TierChanged{m.member_id, "", base.tier_id, base.display_name, 1}, now); !s.ok()) {
    return s;
  }
  if (absl::Status s = tx.MarkCacheDirty(m.member_id, 1); !s.ok()) return s;
  MemberView view{m, SnapshotFrom(m, *program)};
  fx.snapshots.push_back(view.snapshot);
  return view;
}

absl::StatusOr<MemberView> LoyaltyService::GetMember(StoreTxn& tx, const std::string& member_id) {
  auto m = LoadMember(tx, member_id);
  if (!m.ok()) return m.status();
  auto snapshot = SnapshotOf(tx, *m);
  if (!snapshot.ok()) return snapshot.status();
  return MemberView{std::move(*m), std::move(*snapshot)};
}

absl::StatusOr<MemberView> LoyaltyService::UpdateMember(StoreTxn& tx, const std::string& member_id,
                                                        const Profile& patch, const std::set<std::string>& paths,
                                                        int64_t expected_version) {
  absl::Time now = clock_.Now();
  auto m = LoadMember(tx, member_id);
  if (!m.ok()) return m.status();
  if (expected_version != 0 && expected_version != m->version) {
    return Error(absl::StatusCode::kAborted, "VERSION_MISMATCH",
                 absl::StrCat("member.version is ", expected_version, " but the member is at version ", m->version,
                              ": re-read and retry"),
                 {{"current_version", absl::StrCat(m->version)}});
  }
  Profile next = m->profile;
  for (const std::string& path : paths) {
    if (path == "name") next.name = patch.name;
    if (path == "email") next.email = patch.email;
    if (path == "phone") next.phone = patch.phone;
    if (path == "locale") next.locale = patch.locale;
    if (path == "time_zone") next.time_zone = patch.time_zone;
    if (path == "birthday") next.birthday = patch.birthday;
    if (path == "segment") next.segment = patch.segment.empty() ? "retail" : patch.segment;
    if (path == "gender") next.gender = patch.gender;
    if (path == "age_band") next.age_band = patch.age_band;
    if (path == "occupation") next.occupation = patch.occupation;
    if (path == "marketing_consents") {
      for (const Consent& c : patch.consents) {
        auto it = std::find_if(next.consents.begin(), next.consents.end(),
                               [&](const Consent& have) { return have.channel == c.channel; });
        if (it == next.consents.end()) {
          next.consents.push_back(Consent{c.channel, c.granted, now});
        } else if (it->granted != c.granted) {
          it->granted = c.granted;
          it->update_time = now;
        }
      }
      std::sort(next.consents.begin(), next.consents.end(),
                [](const Consent& a, const Consent& b) { return a.channel < b.channel; });
    }
  }
  if (!SameProfile(next, m->profile)) {
    bool notify = !SameProfileForNotification(next, m->profile);
    bool birthday_moved = !SameBirthday(next.birthday, m->profile.birthday) || next.time_zone != m->profile.time_zone;
    m->profile = std::move(next);
    m->version += 1;
    m->update_time = now;
    if (birthday_moved) {
      auto program = CurrentProgram(tx);
      if (!program.ok()) return program.status();
      RecomputeBirthday(*m, *program, now);
    }
    if (absl::Status s = tx.SaveMember(*m); !s.ok()) return s;
    if (notify) {
      if (absl::Status s = tx.Publish(ProfileChanged{m->member_id, m->profile, m->version}, now); !s.ok()) return s;
    }
  }
  auto snapshot = SnapshotOf(tx, *m);
  if (!snapshot.ok()) return snapshot.status();
  return MemberView{std::move(*m), std::move(*snapshot)};
}

absl::StatusOr<std::vector<MemberView>> LoyaltyService::ListMembers(StoreTxn& tx, const MemberFilter& filter,
                                                                    const std::string& after, int limit) {
  auto members = tx.ListMembers(filter, after, limit);
  if (!members.ok()) return members.status();
  std::map<int64_t, Program> programs;  // a page shares a few versions
  std::vector<MemberView> out;
  out.reserve(members->size());
  for (Member& m : *members) {
    auto it = programs.find(m.tier.program_version);
    if (it == programs.end()) {
      auto p = ProgramByVersion(tx, m.tier.program_version);
      if (!p.ok()) return p.status();
      it = programs.emplace(m.tier.program_version, std::move(*p)).first;
    }
    TierSnapshot snapshot = SnapshotFrom(m, it->second);
    out.push_back(MemberView{std::move(m), std::move(snapshot)});
  }
  return out;
}

// ------------------------------------------------------ points and tiers

absl::StatusOr<PurchaseResult> LoyaltyService::RecordPurchase(StoreTxn& tx, Effects& fx,
                                                              const PurchaseCommand& cmd, const Actor& actor) {
  absl::Time now = clock_.Now();
  auto member_or = LoadMember(tx, cmd.member_id);
  if (!member_or.ok()) return member_or.status();
  Member& m = *member_or;
  absl::Time purchase_time = cmd.purchase_time.value_or(now);
  auto scoring_or = tx.ProgramAt(purchase_time);
  if (!scoring_or.ok()) return scoring_or.status();
  if (!scoring_or->has_value()) return NotConfigured();
  const Program& scoring = **scoring_or;
  auto current = CurrentProgram(tx);
  if (!current.ok()) return current.status();
  if (absl::Status s = CheckCurrency("amount", cmd.currency, *current); !s.ok()) return s;

  PurchaseResult r;
  r.order_id = cmd.order_id;
  r.member_id = m.member_id;
  r.program_version = scoring.version;
  r.currency = current->currency_code;

  // Earn: the rule in force at purchase time, the member's tier multiplier.
  int multiplier = 10000;
  if (const Tier* t = scoring.FindTier(m.tier.tier_id)) {
    multiplier = t->benefits.points_multiplier_bps;
  } else if (const Tier* t2 = current->FindTier(m.tier.tier_id)) {
    multiplier = t2->benefits.points_multiplier_bps;
  }
  std::optional<int64_t> earned = cmd.no_points ? 0 : EarnPoints(cmd.amount, scoring.earn_rule, multiplier);
  if (!earned) {
    return InvalidField("amount", absl::StrCat("earns more than ", kMaxPointsPerEntry,
                                               " points under the earn rule; split the order"));
  }
  int64_t points = *earned;
  // Spend windows are sums of these: bounded like every amount.
  std::optional<int64_t> lifetime_spend = CheckedAdd(m.lifetime_spend, cmd.amount);
  if (!lifetime_spend) {
    return InvalidField("amount", absl::StrCat("would take the member's lifetime spend past ", kMaxMoneyMinor));
  }
  LedgerEntry earn;
  earn.kind = EntryKind::kEarn;
  earn.points_delta = points;
  earn.create_time = now;
  earn.effective_time = purchase_time;
  earn.program_version = scoring.version;
  earn.actor = actor.name;
  earn.request_id = actor.request_id;
  earn.order_id = cmd.order_id;
  earn.cause = PurchaseCause{cmd.order_id,
                             cmd.amount,
                             cmd.lines,
                             cmd.campaign_ids,
                             cmd.store_id,
                             EarnCalculation{cmd.amount, scoring.earn_rule.points_per_unit,
                                             scoring.earn_rule.unit_amount, m.tier.tier_id, multiplier,
                                             scoring.earn_rule.rounding, cmd.no_points}};
  if (absl::Status s = Post(tx, m, earn, LotExpiry(scoring, purchase_time)); !s.ok()) return s;
  r.points_earned = points;
  r.entries.push_back(earn);
  Purchase purchase{cmd.order_id, m.member_id, cmd.amount, purchase_time, 0, earn.sequence, points,
                    scoring.earn_rule.rounding, 0};
  if (absl::Status s = tx.InsertPurchase(purchase); !s.ok()) return s;
  m.lifetime_spend = *lifetime_spend;

  // Visit: one per order, at most one per local day of the member.
  const std::optional<VisitReward>& visit = scoring.visit_reward;
  if (visit && visit->min_order_amount && cmd.amount < *visit->min_order_amount) {
    r.visit_outcome = VisitOutcome::kBelowMinimum;
  } else {
    auto added = tx.AddVisitDay(m.member_id, LocalDay(purchase_time, MemberZone(m, scoring)));
    if (!added.ok()) return added.status();
    r.visit_outcome = *added ? VisitOutcome::kCounted : VisitOutcome::kSameDay;
  }
  if (r.visit_outcome == VisitOutcome::kCounted) {
    ++m.visit_count;
    ++m.visits_since_reward;
    if (!m.last_visit_time || *m.last_visit_time < purchase_time) m.last_visit_time = purchase_time;
    if (visit && visit->every_n_visits > 0 && m.visits_since_reward >= visit->every_n_visits) {
      LedgerEntry reward;
      reward.kind = EntryKind::kVisitReward;
      reward.points_delta = visit->bonus_points;
      reward.create_time = now;
      reward.effective_time = now;
      reward.program_version = scoring.version;
      reward.actor = actor.name;
      reward.request_id = actor.request_id;
      reward.order_id = cmd.order_id;
      reward.cause = VisitRewardCause{cmd.order_id, m.visit_count, visit->reward_name};
      if (absl::Status s = Post(tx, m, reward, LotExpiry(scoring, now)); !s.ok()) return s;
      m.visits_since_reward = 0;
      VisitRewarded event{m.member_id, m.visit_count, visit->reward_name, reward.entry_id()};
      if (absl::Status s = tx.Publish(event, now); !s.ok()) return s;
      r.visit_reward = event;
      r.visit_reward_points = visit->bonus_points;
      r.entries.push_back(reward);
    }
  }
  r.visit_count = m.visit_count;
  r.visits_until_reward =
      visit && visit->every_n_visits > 0 ? visit->every_n_visits - m.visits_since_reward : 0;

  // Tier: upgrade at once when a threshold is met (rules in force now).
  SpendFn spend = SpendOf(tx, m);
  auto qualified = QualifiedTier(*current, now, absl::InfiniteFuture(), spend);
  if (!qualified.ok()) return qualified.status();
  const Tier* held = current->FindTier(m.tier.tier_id);
  if (held == nullptr || (*qualified)->rank > held->rank) {
    r.change = TierChange{true, m.tier.tier_id};
    if (absl::Status s = ChangeTier(tx, &fx, m, *current, **qualified, now); !s.ok()) return s;
  } else if (m.tier.in_grace && held->window.kind == WindowKind::kRolling) {
    auto met = TierSpend(*held, now, absl::InfiniteFuture(), LoadZone(current->time_zone), spend);
    if (!met.ok()) return met.status();
    if (*met >= held->qualifying_spend) {
      // Re-qualified during grace: kept, reviewed a full window from now.
      m.tier.in_grace = false;
      m.tier.grace_end_time.reset();
      m.tier.review_time = AddMonths(now, held->window.rolling_months, LoadZone(current->time_zone));
    }
  }
  if (absl::Status s = tx.SaveMember(m); !s.ok()) return s;

  r.points_balance = m.points_balance;
  auto snapshot = SnapshotOf(tx, m);
  if (!snapshot.ok()) return snapshot.status();
  r.tier = *snapshot;
  auto progress = ProgressOf(tx, *current, m);
  if (!progress.ok()) return progress.status();
  r.progress = std::move(*progress);
  return r;
}

absl::StatusOr<ReturnResult> LoyaltyService::RecordReturn(StoreTxn& tx, Effects& fx, const ReturnCommand& cmd,
                                                          const Actor& actor) {
  absl::Time now = clock_.Now();
  auto purchase_or = tx.GetPurchase(cmd.order_id);
  if (!purchase_or.ok()) return purchase_or.status();
  if (!purchase_or->has_value()) {
    return NotFound("ORDER_NOT_FOUND", absl::StrCat("no recorded purchase with order_id ", cmd.order_id));
  }
  Purchase& purchase = **purchase_or;
  if (!cmd.member_id.empty() && cmd.member_id != purchase.member_id) {
    return FailedPrecondition("ORDER_MEMBER_MISMATCH", "the order belongs to another member");
  }
  auto member_or = LoadMember(tx, purchase.member_id);
  if (!member_or.ok()) return member_or.status();
  Member& m = *member_or;
  auto current = CurrentProgram(tx);
  if (!current.ok()) return current.status();
  if (cmd.returned_amount) {
    if (absl::Status s = CheckCurrency("returned_amount", cmd.currency, *current); !s.ok()) return s;
  }

  int64_t remaining = purchase.amount - purchase.returned_amount;
  auto exceeds = [&] {
    return Error(absl::StatusCode::kFailedPrecondition, "RETURN_EXCEEDS_PURCHASE",
                 remaining == 0 ? "the order is already fully returned"
                                : absl::StrCat("only ", remaining, " of the order remains unreturned"),
                 {{"remaining_minor", absl::StrCat(remaining)}});
  };
  int64_t amount = 0;
  if (cmd.kind == ReturnKind::kFull) {
    if (remaining == 0 && purchase.amount > 0) return exceeds();
    if (cmd.returned_amount && *cmd.returned_amount != remaining) {
      return InvalidField("returned_amount",
                          absl::StrCat("a FULL return must leave it unset or equal to what remains (", remaining, ")"));
    }
    amount = remaining;
  } else {
    amount = cmd.returned_amount.value_or(0);
    if (amount > remaining) return exceeds();
  }
  absl::Time return_time = cmd.return_time.value_or(now);
  if (return_time < purchase.purchase_time) {
    return InvalidField("return_time", "must not be before the order's purchase_time");
  }

  // Reverse what the EARN entry earned for the returned part, cumulatively,
  // so rounding never takes back more than was earned.
  int64_t total = purchase.returned_amount + amount;
  int64_t target = ReversalTarget(purchase, total);
  int64_t reverse = std::max<int64_t>(0, target - purchase.points_reversed);
  int64_t recovered = std::min(reverse, m.points_balance);
  purchase.returned_amount = total;
  purchase.points_reversed = target;
  if (absl::Status s = tx.SavePurchase(purchase); !s.ok()) return s;
  m.lifetime_spend -= amount;

  auto at_return = tx.ProgramAt(return_time);
  if (!at_return.ok()) return at_return.status();

  LedgerEntry entry;
  entry.kind = EntryKind::kReverse;
  entry.points_delta = -recovered;
  entry.create_time = now;
  entry.effective_time = return_time;
  entry.program_version = at_return->has_value() ? (*at_return)->version : current->version;
  entry.actor = actor.name;
  entry.request_id = actor.request_id;
  entry.order_id = cmd.order_id;
  entry.cause = ReturnCause{cmd.return_id,
                            cmd.order_id,
                            cmd.kind,
                            amount,
                            total,
                            EntryId(m.member_id, purchase.earn_sequence),
                            reverse - recovered,
                            cmd.reason};
  // The order's own points go first, then the oldest.
  if (absl::Status s = Post(tx, m, entry, std::nullopt, purchase.earn_sequence); !s.ok()) return s;

  ReturnResult r;
  r.return_id = cmd.return_id;
  r.order_id = cmd.order_id;
  r.member_id = m.member_id;
  r.returned_amount = amount;
  r.total_returned = total;
  r.fully_returned = total >= purchase.amount;
  r.points_reversed = recovered;
  r.points_unrecovered = reverse - recovered;
  r.currency = current->currency_code;

  auto lower = DowngradeAfterReturn(*current, m.tier, now, SpendOf(tx, m));
  if (!lower.ok()) return lower.status();
  if (*lower != nullptr) {
    r.change = TierChange{true, m.tier.tier_id};
    if (absl::Status s = ChangeTier(tx, &fx, m, *current, **lower, now); !s.ok()) return s;
  }
  if (absl::Status s = tx.SaveMember(m); !s.ok()) return s;
  r.points_balance = m.points_balance;
  r.entry = entry;
  auto snapshot = SnapshotOf(tx, m);
  if (!snapshot.ok()) return snapshot.status();
  r.tier = *snapshot;
  auto progress = ProgressOf(tx, *current, m);
  if (!progress.ok()) return progress.status();
  r.progress = std::move(*progress);
  return r;
}

absl::StatusOr<PointsResult> LoyaltyService::Redeem(StoreTxn& tx, const RedeemCommand& cmd, const Actor& actor) {
  absl::Time now = clock_.Now();
  auto m = LoadMember(tx, cmd.member_id);
  if (!m.ok()) return m.status();
  if (cmd.points > m->points_balance) {
    return Error(absl::StatusCode::kFailedPrecondition, "INSUFFICIENT_POINTS",
                 absl::StrCat("the balance is ", m->points_balance, " points, ", cmd.points, " were asked"),
                 {{"balance", absl::StrCat(m->points_balance)}, {"requested", absl::StrCat(cmd.points)}});
  }
  auto program = CurrentProgram(tx);
  if (!program.ok()) return program.status();
  LedgerEntry entry;
  entry.kind = EntryKind::kRedeem;
  entry.points_delta = -cmd.points;
  entry.create_time = now;
  entry.effective_time = now;
  entry.program_version = program->version;
  entry.actor = actor.name;
  entry.request_id = actor.request_id;
  entry.order_id = cmd.order_id;
  entry.cause = RedemptionCause{cmd.order_id, cmd.description};
  if (absl::Status s = Post(tx, *m, entry, std::nullopt); !s.ok()) return s;
  if (absl::Status s = tx.SaveMember(*m); !s.ok()) return s;
  return PointsResult{entry, m->points_balance};
}

absl::StatusOr<PointsResult> LoyaltyService::Adjust(StoreTxn& tx, const AdjustCommand& cmd, const Actor& actor) {
  absl::Time now = clock_.Now();
  auto m = LoadMember(tx, cmd.member_id);
  if (!m.ok()) return m.status();
  if (-cmd.points_delta > m->points_balance) {
    return Error(absl::StatusCode::kFailedPrecondition, "INSUFFICIENT_POINTS",
                 absl::StrCat("the balance is ", m->points_balance, " points, ", -cmd.points_delta,
                              " were to be removed"),
                 {{"balance", absl::StrCat(m->points_balance)}, {"requested", absl::StrCat(-cmd.points_delta)}});
  }
  auto program = CurrentProgram(tx);
  if (!program.ok()) return program.status();
  LedgerEntry entry;
  entry.kind = EntryKind::kAdjust;
  entry.points_delta = cmd.points_delta;
  entry.create_time = now;
  entry.effective_time = now;
  entry.program_version = program->version;
  entry.actor = actor.name;
  entry.request_id = actor.request_id;
  entry.cause = AdjustmentCause{cmd.reason_code, cmd.complaint_id, cmd.note};
  if (absl::Status s = Post(tx, *m, entry, LotExpiry(*program, now)); !s.ok()) return s;
  if (absl::Status s = tx.SaveMember(*m); !s.ok()) return s;
  return PointsResult{entry, m->points_balance};
}

absl::StatusOr<std::vector<LedgerEntry>> LoyaltyService::ListEntries(StoreTxn& tx, const EntryFilter& filter,
                                                                     int64_t before, int limit) {
  auto m = tx.GetMember(filter.member_id);
  if (!m.ok()) return m.status();
  if (!m->has_value()) return MemberNotFound(filter.member_id);
  return tx.ListEntries(filter, before, limit);
}

absl::StatusOr<Balance> LoyaltyService::GetBalance(StoreTxn& tx, const std::string& member_id,
                                                   std::optional<absl::Duration> horizon) {
  absl::Time now = clock_.Now();
  auto m = LoadMember(tx, member_id);
  if (!m.ok()) return m.status();
  auto program = CurrentProgram(tx);
  if (!program.ok()) return program.status();
  auto sums = tx.SumByKind(member_id);
  if (!sums.ok()) return sums.status();
  auto sum = [&](EntryKind k) {
    auto it = sums->find(k);
    return it == sums->end() ? int64_t{0} : it->second;
  };
  Balance b;
  b.member_id = member_id;
  b.balance = m->points_balance;
  b.lifetime_earned = sum(EntryKind::kEarn);
  b.lifetime_bonus = sum(EntryKind::kBonus) + sum(EntryKind::kVisitReward);
  b.lifetime_adjusted = sum(EntryKind::kAdjust);
  b.lifetime_redeemed = -sum(EntryKind::kRedeem);
  b.lifetime_reversed = -sum(EntryKind::kReverse);
  b.lifetime_expired = -sum(EntryKind::kExpire);
  if (!horizon) {
    horizon = program->points_expiry && program->points_expiry->warning_lead > absl::ZeroDuration()
                  ? program->points_expiry->warning_lead
                  : absl::Hours(24 * 30);
  }
  b.expiring_soon_until = now + *horizon;
  // The horizon spans at most 13 monthly expiry instants.
  auto upcoming = tx.UpcomingExpiries(member_id, 24);
  if (!upcoming.ok()) return upcoming.status();
  for (const MemberExpiry& e : *upcoming) {
    if (e.expire_time <= b.expiring_soon_until) b.expiring_soon += e.points;
  }
  if (upcoming->size() > 12) upcoming->resize(12);
  b.upcoming = std::move(*upcoming);
  b.as_of = now;
  return b;
}

absl::StatusOr<TierSnapshot> LoyaltyService::LoadSnapshot(StoreTxn& tx, const std::string& member_id) {
  auto m = LoadMember(tx, member_id);
  if (!m.ok()) return m.status();
  return SnapshotOf(tx, *m);
}

absl::StatusOr<TierProjectionResult> LoyaltyService::ProjectTier(StoreTxn& tx, const std::string& member_id,
                                                                 const std::string& target,
                                                                 std::optional<absl::Time> by_time) {
  absl::Time now = clock_.Now();
  auto view = GetMember(tx, member_id);
  if (!view.ok()) return view.status();
  auto program = CurrentProgram(tx);
  if (!program.ok()) return program.status();
  TierProjectionResult r;
  r.as_of = now;
  r.currency = program->currency_code;
  const Member& m = view->member;
  SpendFn spend = SpendOf(tx, m);
  const Tier* held = program->FindTier(m.tier.tier_id);
  int held_rank = held ? held->rank : program->BaseTier().rank;
  absl::Time deadline = by_time.value_or(now);

  const Tier* reach = nullptr;
  bool keep = false;
  if (target.empty()) {
    keep = true;
    reach = program->NextTierUp(m.tier.tier_id);
  } else {
    const Tier* t = program->FindTier(target);
    if (t == nullptr) return NotFound("TIER_NOT_FOUND", absl::StrCat("no tier ", target, " in the program"));
    if (t->rank < held_rank) return InvalidField("target_tier_id", "is below the member's current tier");
    if (t->rank == held_rank) {
      keep = true;
    } else {
      reach = t;
    }
  }
  if (keep) {
    auto k = ProjectKeep(*program, m.tier, spend);
    if (!k.ok()) return k.status();
    if (*k) r.projections.push_back(**k);
  }
  if (reach != nullptr) {
    auto p = ProjectReach(*program, *reach, deadline, spend);
    if (!p.ok()) return p.status();
    r.projections.push_back(*p);
  }
  r.member = std::move(*view);
  return r;
}

// ------------------------------------------------------------------ jobs

template <typename Fn>
bool LoyaltyService::RunJob(const char* name, Fn fn) {
  if (!configured_) {
    if (!RequireProgram().ok()) return false;
  }
  Effects fx;
  bool more = false;
  absl::Status s = store_.Write([&](StoreTxn& tx) -> absl::Status {
    fx = Effects{};
    auto r = fn(tx, fx);
    if (!r.ok()) return r.status();
    more = *r;
    return absl::OkStatus();
  });
  if (!s.ok()) {
    LogWarn("loyalty job failed; retrying later", {{"job", name}, {"error", s.message()}});
    return false;
  }
  Apply(fx);
  return more;
}

bool LoyaltyService::ExpirePoints() {
  return RunJob("expire_points", [this](StoreTxn& tx, Effects&) -> absl::StatusOr<bool> {
    absl::Time now = clock_.Now();
    auto due = tx.DueExpiries(now, kJobBatch);
    if (!due.ok()) return due.status();
    for (const MemberExpiry& e : *due) {
      auto m = LoadMember(tx, e.member_id);
      if (!m.ok()) return m.status();
      auto lots = tx.OpenLots(e.member_id);
      if (!lots.ok()) return lots.status();
      int64_t points = 0;
      for (const Lot& lot : *lots) {
        if (lot.expire_time != e.expire_time) continue;
        points += lot.remaining;
        if (absl::Status s = tx.SetLotRemaining(e.member_id, lot.sequence, 0); !s.ok()) return s;
      }
      auto program = tx.ProgramAt(e.expire_time);
      if (!program.ok()) return program.status();
      LedgerEntry entry;
      entry.kind = EntryKind::kExpire;
      entry.points_delta = -points;
      entry.create_time = now;
      entry.effective_time = e.expire_time;
      entry.program_version = program->has_value() ? (*program)->version : 0;
      entry.actor = kSystem;
      entry.cause = ExpiryCause{e.expire_time};
      if (absl::Status s = Append(tx, *m, entry); !s.ok()) return s;
      if (absl::Status s = tx.SaveMember(*m); !s.ok()) return s;
    }
    return due->size() == static_cast<size_t>(kJobBatch);
  });
}

bool LoyaltyService::WarnExpiringPoints() {
  return RunJob("warn_expiring_points", [this](StoreTxn& tx, Effects&) -> absl::StatusOr<bool> {
    absl::Time now = clock_.Now();
    auto program = CurrentProgram(tx);
    if (!program.ok()) return program.status();
    if (!program->points_expiry || program->points_expiry->warning_lead <= absl::ZeroDuration()) return false;
    auto due = tx.DueWarnings(now, now + program->points_expiry->warning_lead, kJobBatch);
    if (!due.ok()) return due.status();
    for (const MemberExpiry& e : *due) {
      auto fresh = tx.MarkWarned(e.member_id, e.expire_time);
      if (!fresh.ok()) return fresh.status();
      if (!*fresh) continue;
      if (absl::Status s = tx.Publish(PointsExpiring{e.member_id, e.points, e.expire_time}, now); !s.ok()) {
        return s;
      }
    }
    return due->size() == static_cast<size_t>(kJobBatch);
  });
}

bool LoyaltyService::ReviewTiers() {
  return RunJob("review_tiers", [this](StoreTxn& tx, Effects& fx) -> absl::StatusOr<bool> {
    absl::Time now = clock_.Now();
    auto ids = tx.MembersDueForReview(now, kJobBatch);
    if (!ids.ok()) return ids.status();
    for (const std::string& id : *ids) {
      auto m = LoadMember(tx, id);
      if (!m.ok()) return m.status();
      // A clock that jumped several windows runs each review in turn.
      for (int step = 0; step < 240; ++step) {
        std::optional<absl::Time> due = m->tier.DueTime();
        if (!due || *due > now) break;
        auto program = tx.ProgramAt(*due);
        if (!program.ok()) return program.status();
        if (!program->has_value()) return NotConfigured();
        auto decision = ReviewTier(**program, m->tier, *due, SpendOf(tx, *m));
        if (!decision.ok()) return decision.status();
        switch (decision->kind) {
          case ReviewDecision::Kind::kKeep:
            m->tier.in_grace = false;
            m->tier.grace_end_time.reset();
            m->tier.review_time = decision->next_review;
            break;
          case ReviewDecision::Kind::kEnterGrace:
            m->tier.in_grace = true;
            m->tier.grace_end_time = decision->grace_end;
            break;
          case ReviewDecision::Kind::kDowngrade:
            if (absl::Status s = ChangeTier(tx, &fx, *m, **program, *decision->downgrade_to, *due); !s.ok()) {
              return s;
            }
            break;
        }
      }
      if (absl::Status s = tx.SaveMember(*m); !s.ok()) return s;
    }
    return ids->size() == static_cast<size_t>(kJobBatch);
  });
}

bool LoyaltyService::GrantBirthdayBonuses() {
  return RunJob("birthday_bonus", [this](StoreTxn& tx, Effects&) -> absl::StatusOr<bool> {
    absl::Time now = clock_.Now();
    auto ids = tx.MembersDueForBirthday(now, kJobBatch);
    if (!ids.ok()) return ids.status();
    for (const std::string& id : *ids) {
      auto m = LoadMember(tx, id);
      if (!m.ok()) return m.status();
      for (int step = 0; step < 20 && m->next_birthday_time && *m->next_birthday_time <= now; ++step) {
        absl::Time start = *m->next_birthday_time;
        auto program = tx.ProgramAt(start);
        if (!program.ok()) return program.status();
        if (!program->has_value()) return NotConfigured();
        absl::TimeZone zone = MemberZone(*m, **program);
        int year = static_cast<int>(zone.At(start).cs.year());
        // A member at the balance bound gets no bonus rather than a job
        // that fails on them forever.
        bool room = CheckedAdd(m->points_balance, (*program)->birthday_points, kMaxPointsBalance).has_value();
        if (!room) LogWarn("birthday bonus skipped: balance bound", {{"member_id", m->member_id}});
        if (room && year > m->birthday_bonus_year && (*program)->birthday_points > 0) {
          LedgerEntry entry;
          entry.kind = EntryKind::kBonus;
          entry.points_delta = (*program)->birthday_points;
          entry.create_time = now;
          entry.effective_time = now;
          entry.program_version = (*program)->version;
          entry.actor = kSystem;
          entry.cause = BirthdayCause{year};
          if (absl::Status s = Post(tx, *m, entry, LotExpiry(**program, now)); !s.ok()) return s;
          if (absl::Status s = tx.Publish(BirthdayRewarded{m->member_id, entry.points_delta, year}, now); !s.ok()) {
            return s;
          }
        }
        m->birthday_bonus_year = std::max(m->birthday_bonus_year, year);
        m->next_birthday_time = BirthdayStart(*m->profile.birthday, m->birthday_bonus_year + 1, zone);
      }
      if (absl::Status s = tx.SaveMember(*m); !s.ok()) return s;
    }
    return ids->size() == static_cast<size_t>(kJobBatch);
  });
}

bool LoyaltyService::ReevaluateAfterProgramChange() {
  return RunJob("reevaluate_tiers", [this](StoreTxn& tx, Effects& fx) -> absl::StatusOr<bool> {
    auto state = tx.GetJobState(kReevaluateJob);
    if (!state.ok()) return state.status();
    if (!state->has_value()) return false;
    // "<program version>|<thresholds loosened 0/1>|<last member id done>"
    std::vector<std::string> parts = absl::StrSplit(**state, absl::MaxSplits('|', 2));
    int64_t version = 0;
    if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &version)) {
      LogError("bad re-evaluation state; dropped", {{"state", **state}});
      if (absl::Status s = tx.SetJobState(kReevaluateJob, std::nullopt); !s.ok()) return s;
      return false;
    }
    bool loosened = parts[1] == "1";
    auto program = ProgramByVersion(tx, version);
    if (!program.ok()) return program.status();
    auto ids = tx.MemberIds(parts[2], kJobBatch);
    if (!ids.ok()) return ids.status();
    absl::Time now = clock_.Now();
    std::map<int64_t, Program> older;
    for (const std::string& id : *ids) {
      auto m = LoadMember(tx, id);
      if (!m.ok()) return m.status();
      bool dirty = false;
      if (m->tier.program_version < version) {
        auto it = older.find(m->tier.program_version);
        if (it == older.end()) {
          auto p = ProgramByVersion(tx, m->tier.program_version);
          if (!p.ok()) return p.status();
          it = older.emplace(m->tier.program_version, std::move(*p)).first;
        }
        if (TierDisplayChanged(it->second, *program, m->tier.tier_id)) {
          // New names or benefits for the same tier: a new snapshot.
          m->tier.version += 1;
          m->tier.program_version = version;
          m->tier.snapshot_time = now;
          if (absl::Status s = tx.MarkCacheDirty(m->member_id, m->tier.version); !s.ok()) return s;
          fx.snapshots.push_back(SnapshotFrom(*m, *program));
          dirty = true;
        }
      }
      if (loosened) {
        auto qualified = QualifiedTier(*program, now, absl::InfiniteFuture(), SpendOf(tx, *m));
        if (!qualified.ok()) return qualified.status();
        const Tier* held = program->FindTier(m->tier.tier_id);
        if (held == nullptr || (*qualified)->rank > held->rank) {
          if (absl::Status s = ChangeTier(tx, &fx, *m, *program, **qualified, now); !s.ok()) return s;
          dirty = true;
        }
      }
      if (dirty) {
        if (absl::Status s = tx.SaveMember(*m); !s.ok()) return s;
      }
    }
    bool more = ids->size() == static_cast<size_t>(kJobBatch);
    absl::Status s = tx.SetJobState(
        kReevaluateJob, more ? std::optional<std::string>(absl::StrCat(version, "|", parts[1], "|", ids->back()))
                             : std::nullopt);
    if (!s.ok()) return s;
    return more;
  });
}

bool LoyaltyService::RepairTierCache() {
  if (cache_ == nullptr) return false;
  std::vector<std::pair<std::string, int64_t>> dirty;
  std::vector<TierSnapshot> snapshots;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto entries = tx.DirtyCacheEntries(kJobBatch);
    if (!entries.ok()) return entries.status();
    dirty = std::move(*entries);
    for (const auto& [member_id, version] : dirty) {
      auto snapshot = LoadSnapshot(tx, member_id);
      if (!snapshot.ok()) return snapshot.status();
      snapshots.push_back(std::move(*snapshot));
    }
    return absl::OkStatus();
  });
  if (!s.ok() || dirty.empty()) return false;
  size_t done = 0;
  for (; done < snapshots.size(); ++done) {
    if (!cache_->Put(snapshots[done]).ok()) break;  // Redis down: later
  }
  if (done == 0) return false;
  s = store_.Write([&](StoreTxn& tx) -> absl::Status {
    for (size_t i = 0; i < done; ++i) {
      if (absl::Status c = tx.ClearCacheDirty(dirty[i].first, dirty[i].second); !c.ok()) return c;
    }
    return absl::OkStatus();
  });
  return s.ok() && done == snapshots.size() && dirty.size() == static_cast<size_t>(kJobBatch);
}

bool LoyaltyService::AuditTierCache() {
  if (cache_ == nullptr) return false;
  auto next = cache_->Audit(audit_cursor_, [this](const std::vector<std::string>& ids) {
    std::vector<std::optional<TierSnapshot>> out;
    absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
      for (const std::string& id : ids) {
        auto snapshot = LoadSnapshot(tx, id);
        if (snapshot.ok()) {
          out.push_back(*std::move(snapshot));
        } else if (absl::IsNotFound(snapshot.status())) {
          out.push_back(std::nullopt);
        } else {
          return snapshot.status();
        }
      }
      return absl::OkStatus();
    });
    if (!s.ok()) return absl::StatusOr<std::vector<std::optional<TierSnapshot>>>(s);
    return absl::StatusOr<std::vector<std::optional<TierSnapshot>>>(std::move(out));
  });
  if (!next.ok()) {
    // Redis down: start over at the next interval (a restarted Redis has
    // new cursors).
    audit_cursor_ = 0;
    return false;
  }
  audit_cursor_ = *next;
  return audit_cursor_ != 0;
}

}  // namespace care::loyalty
