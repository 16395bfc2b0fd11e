#include "common/jobs.h"

#include <algorithm>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/bounds.h"
#include "common/errors.h"
#include "common/log.h"
#include "services/loyalty/cadence.h"
#include "services/loyalty/events.h"
#include "services/loyalty/loyalty_proto.h"
#include "services/loyalty/loyalty_service.h"
#include "services/loyalty/occasions.h"
#include "services/loyalty/program.h"
#include "services/loyalty/service_internal.h"

namespace care::loyalty {

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
    LogJobFailure(name, s);
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
      // The rollups date the entry in the zone of the version in force now.
      auto current = CurrentProgram(tx);
      if (!current.ok()) return current.status();
      if (absl::Status s = Append(tx, *current, *m, entry); !s.ok()) return s;
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
      if (absl::Status s = tx.Enqueue(EventToOutbox(PointsExpiring{e.member_id, e.points, e.expire_time}, now));
          !s.ok()) {
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
          if (absl::Status s = Post(tx, **program, *m, entry, LotExpiry(**program, now)); !s.ok()) return s;
          if (absl::Status s = tx.Enqueue(EventToOutbox(BirthdayRewarded{m->member_id, entry.points_delta, year}, now));
              !s.ok()) {
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

absl::Status LoyaltyService::GrantOccasion(StoreTxn& tx, Member& m, const Program& program, const Occasion& o,
                                           int occurrence, absl::Time now) {
  auto fresh = tx.InsertOccasionGrant(o.occasion_id, occurrence, m.member_id, now);
  if (!fresh.ok()) return fresh.status();
  if (!*fresh) return absl::OkStatus();
  int64_t points = o.points;
  // A member at the balance bound gets the message without the points
  // rather than a job that fails on them forever.
  if (points > 0 && !CheckedAdd(m.points_balance, points, kMaxPointsBalance).has_value()) {
    LogWarn("occasion points skipped: balance bound", {{"member_id", m.member_id}, {"occasion_id", o.occasion_id}});
    points = 0;
  }
  if (points > 0) {
    LedgerEntry entry;
    entry.kind = EntryKind::kBonus;
    entry.points_delta = points;
    entry.create_time = now;
    entry.effective_time = now;
    entry.program_version = program.version;
    entry.actor = kSystem;
    entry.cause = OccasionCause{o.occasion_id, o.display_name, occurrence};
    if (absl::Status s = Post(tx, program, m, entry, LotExpiry(program, now)); !s.ok()) return s;
  }
  auto gift = GiveOccasionReward(tx, m, program, o, now);
  if (!gift.ok()) return gift.status();
  OccasionRewarded event{m.member_id, o.occasion_id, occurrence, o.display_name, o.localized_display_names, points};
  // The message names a gift the member has now (an item, a donation); a
  // voucher is promotion's to issue and may still be refused, and shows in
  // the member's vouchers once issued.
  if (*gift && (*gift)->state() == v1::RewardRedemption::FULFILLED) {
    event.reward_name = (*gift)->reward_display_name();
    event.localized_reward_names.insert((*gift)->localized_reward_names().begin(),
                                        (*gift)->localized_reward_names().end());
  }
  return tx.Enqueue(EventToOutbox(event, now));
}

absl::StatusOr<bool> LoyaltyService::GrantAnniversaries(StoreTxn& tx, absl::Time now) {
  auto ids = tx.MembersDueForAnniversary(now, kJobBatch);
  if (!ids.ok()) return ids.status();
  for (const std::string& id : *ids) {
    auto m = LoadMember(tx, id);
    if (!m.ok()) return m.status();
    for (int step = 0; step < 20 && m->next_anniversary_time && *m->next_anniversary_time <= now; ++step) {
      auto program = tx.ProgramAt(*m->next_anniversary_time);
      if (!program.ok()) return program.status();
      if (!program->has_value()) return NotConfigured();
      const absl::TimeZone zone = MemberZone(*m, **program);
      // The stored instant may be an estimate (members enrolled before
      // occasions existed): the exact local start decides.
      const Occurrence next = NextAnniversary(m->create_time, *m->next_anniversary_time, zone);
      if (next.start > now) {
        m->next_anniversary_time = next.start;
        break;
      }
      if (now - next.start < kOccasionCatchUp) {
        auto at_start = tx.ProgramAt(next.start);
        if (!at_start.ok()) return at_start.status();
        const Program& rules = at_start->has_value() ? **at_start : **program;
        for (const Occasion& o : rules.occasions) {
          if (!OnAnniversary(o, next.number) || !Targets(o, *m, next.start)) continue;
          if (absl::Status s = GrantOccasion(tx, *m, rules, o, next.number, now); !s.ok()) return s;
        }
      }
      m->next_anniversary_time = AnniversaryStart(m->create_time, next.number + 1, zone);
    }
    if (absl::Status s = tx.SaveMember(*m); !s.ok()) return s;
  }
  return ids->size() == static_cast<size_t>(kJobBatch);
}

// Dated occasions start at a different instant in each time zone, so the
// job walks one zone's members at a time, from the start of that zone's day,
// with a cursor per (occasion, occurrence, zone) in job_state; the grants
// table, not the cursor, is what makes a grant happen once.
absl::StatusOr<bool> LoyaltyService::GrantDatedOccasions(StoreTxn& tx, absl::Time now) {
  auto program = CurrentProgram(tx);
  if (!program.ok()) return program.status();
  bool any_dated = false;
  for (const Occasion& o : program->occasions) any_dated = any_dated || !o.anniversary;
  if (!any_dated) return false;
  auto zones = tx.MemberTimeZones();
  if (!zones.ok()) return zones.status();
  for (const Occasion& o : program->occasions) {
    for (const std::string& zone_name : *zones) {
      const absl::TimeZone zone = LoadZone(zone_name.empty() ? program->time_zone : zone_name);
      std::optional<Occurrence> due = DueDateOccurrence(o, now, zone);
      if (!due) continue;
      const std::string key = absl::StrCat("occasion|", o.occasion_id, "|", due->number, "|", zone_name);
      auto state = tx.GetJobState(key);
      if (!state.ok()) return state.status();
      if (state->has_value() && **state == kOccasionZoneDone) continue;
      auto ids = tx.MemberIdsInZone(zone_name, state->value_or(""), kJobBatch);
      if (!ids.ok()) return ids.status();
      for (const std::string& id : *ids) {
        auto m = LoadMember(tx, id);
        if (!m.ok()) return m.status();
        if (!Targets(o, *m, due->start)) continue;
        if (absl::Status s = GrantOccasion(tx, *m, *program, o, due->number, now); !s.ok()) return s;
        if (absl::Status s = tx.SaveMember(*m); !s.ok()) return s;
      }
      const bool more = ids->size() == static_cast<size_t>(kJobBatch);
      if (absl::Status s = tx.SetJobState(key, more ? ids->back() : std::string(kOccasionZoneDone)); !s.ok()) {
        return s;
      }
      return true;  // one batch per transaction; the runner calls again
    }
  }
  return false;
}

bool LoyaltyService::GrantOccasions() {
  bool more = RunJob("occasions_anniversary",
                     [this](StoreTxn& tx, Effects&) { return GrantAnniversaries(tx, clock_.Now()); });
  return RunJob("occasions_dated", [this](StoreTxn& tx, Effects&) { return GrantDatedOccasions(tx, clock_.Now()); }) ||
         more;
}

absl::Status LoyaltyService::CheckIn(StoreTxn& tx, const Member& m, const Program& program, absl::Time now) {
  auto last_purchase = tx.LastPurchaseTime(m.member_id);
  if (!last_purchase.ok()) return last_purchase.status();
  auto had = tx.CadenceContacts(m.member_id);
  if (!had.ok()) return had.status();
  const CadenceFacts facts{m.create_time, *last_purchase};
  std::optional<absl::Time> next;
  for (const CadenceRule& rule : program.cadence_rules) {
    if (!CadenceTargets(rule, m)) continue;  // until the tier or segment changes (PullCadenceDue)
    CadenceContact contact = (*had)[rule.rule_id];
    std::optional<absl::Time> due = CadenceDue(rule, facts, contact, now);
    if (due && *due <= now) {
      const bool repeats = rule.trigger == CadenceRule::Trigger::kNoPurchaseFor;
      auto fresh = tx.RecordCadenceContact(m.member_id, rule.rule_id, now,
                                           repeats ? std::optional<absl::Time>(now - rule.period) : std::nullopt);
      if (!fresh.ok()) return fresh.status();
      contact = {contact.contacts + 1, now};
      if (*fresh) {
        if (absl::Status s = tx.Enqueue(CheckInToOutbox(rule, m, contact.contacts, now)); !s.ok()) return s;
      }
      due = CadenceDue(rule, facts, contact, now);
    }
    if (due && (!next || *due < *next)) next = due;
  }
  return tx.SetCadenceDue(m.member_id, next);
}

// After the rules changed every member is looked at again: pulled to now,
// a batch per transaction, behind a cursor in job_state.
absl::StatusOr<bool> LoyaltyService::RescanCadence(StoreTxn& tx, absl::Time now) {
  auto state = tx.GetJobState(kCadenceRescanJob);
  if (!state.ok()) return state.status();
  if (!state->has_value()) return false;
  auto ids = tx.MemberIds(**state, kJobBatch);
  if (!ids.ok()) return ids.status();
  for (const std::string& id : *ids) {
    if (absl::Status s = tx.PullCadenceDue(id, now); !s.ok()) return s;
  }
  const bool more = ids->size() == static_cast<size_t>(kJobBatch);
  if (absl::Status s = tx.SetJobState(kCadenceRescanJob, more ? std::optional<std::string>(ids->back()) : std::nullopt);
      !s.ok()) {
    return s;
  }
  return more;
}

absl::StatusOr<bool> LoyaltyService::CheckInDueMembers(StoreTxn& tx, absl::Time now) {
  auto ids = tx.MembersDueForCadence(now, kJobBatch);
  if (!ids.ok()) return ids.status();
  if (ids->empty()) return false;
  auto program = CurrentProgram(tx);
  if (!program.ok()) return program.status();
  for (const std::string& id : *ids) {
    auto m = LoadMember(tx, id);
    if (!m.ok()) return m.status();
    if (absl::Status s = CheckIn(tx, *m, *program, now); !s.ok()) return s;
  }
  return ids->size() == static_cast<size_t>(kJobBatch);
}

bool LoyaltyService::RunCadence() {
  bool more = RunJob("cadence_rescan", [this](StoreTxn& tx, Effects&) { return RescanCadence(tx, clock_.Now()); });
  return RunJob("cadence", [this](StoreTxn& tx, Effects&) { return CheckInDueMembers(tx, clock_.Now()); }) || more;
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
        kReevaluateJob,
        more ? std::optional<std::string>(absl::StrCat(version, "|", parts[1], "|", ids->back())) : std::nullopt);
    if (!s.ok()) return s;
    return more;
  });
}

bool LoyaltyService::RepairTierCache() {
  if (cache_ == nullptr) return false;
  std::vector<std::pair<std::string, int64_t>> dirty;
  std::vector<TierSnapshot> snapshots;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    snapshots.clear();  // a read may run again (a lost connection)
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
  if (!s.ok()) {
    LogJobFailure("tier_cache_repair", s);
    return false;
  }
  if (dirty.empty()) return false;
  size_t done = 0;
  for (; done < snapshots.size(); ++done) {
    if (!PutTier(snapshots[done]).ok()) break;  // Redis down: later
  }
  if (done == 0) return false;
  s = store_.Write([&](StoreTxn& tx) -> absl::Status {
    for (size_t i = 0; i < done; ++i) {
      if (absl::Status c = tx.ClearCacheDirty(dirty[i].first, dirty[i].second); !c.ok()) return c;
    }
    return absl::OkStatus();
  });
  if (!s.ok()) {
    LogJobFailure("tier_cache_repair", s);
    return false;
  }
  return done == snapshots.size() && dirty.size() == static_cast<size_t>(kJobBatch);
}

bool LoyaltyService::AuditTierCache() {
  if (cache_ == nullptr) return false;
  auto next = cache_->Audit(audit_cursor_, [this](const std::vector<std::string>& ids) {
    std::vector<std::optional<TierSnapshot>> out;
    absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
      out.clear();  // a read may run again (a lost connection)
      for (const std::string& id : ids) {
        auto snapshot = LoadSnapshot(tx, id);
        if (snapshot.ok()) {
          out.push_back(*std::move(snapshot));
        } else if (absl::IsNotFound(snapshot.status()) || ErrorReason(snapshot.status()) == "SUBJECT_ERASED") {
          // No member, or an erased one: the cache must not hold the entry.
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
    LogJobFailure("tier_cache_audit", next.status());
    audit_cursor_ = 0;
    return false;
  }
  audit_cursor_ = *next;
  return audit_cursor_ != 0;
}

}  // namespace care::loyalty
