// Program versions: reading them and storing a new one.

#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "services/loyalty/cadence.h"
#include "services/loyalty/loyalty_proto.h"
#include "services/loyalty/loyalty_service.h"
#include "services/loyalty/program.h"
#include "services/loyalty/service_internal.h"

namespace care::loyalty {

absl::StatusOr<v1::Program> LoyaltyService::GetProgram(int64_t version, std::optional<absl::Time> as_of) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  return ReadValue<v1::Program>([&](StoreTxn& tx) -> absl::StatusOr<v1::Program> {
    if (version > 0) {
      auto p = tx.ProgramVersion(version);
      if (!p.ok()) return p.status();
      if (!p->has_value()) {
        return NotFound("PROGRAM_VERSION_NOT_FOUND", absl::StrCat("no program version ", version));
      }
      return ProgramToProto(**p);
    }
    absl::Time at = as_of.value_or(clock_.Now());
    auto p = tx.ProgramAt(at);
    if (!p.ok()) return p.status();
    if (!p->has_value()) return NotConfigured();
    if ((*p)->effective_time > at) {
      return NotFound("PROGRAM_VERSION_NOT_FOUND", "no program version was in force at that time");
    }
    return ProgramToProto(**p);
  });
}

absl::StatusOr<std::vector<v1::Program>> LoyaltyService::ListPrograms(int64_t before, int limit) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  return ReadValue<std::vector<v1::Program>>([&](StoreTxn& tx) -> absl::StatusOr<std::vector<v1::Program>> {
    auto programs = tx.ProgramVersions(before, limit);
    if (!programs.ok()) return programs.status();
    std::vector<v1::Program> out;
    out.reserve(programs->size());
    for (const Program& p : *programs) out.push_back(ProgramToProto(p));
    return out;
  });
}

absl::StatusOr<v1::Program> LoyaltyService::UpdateProgram(const Once& once, const ProgramUpdate& update,
                                                          const Actor& actor) {
  auto stored = WriteOnceAndCache<v1::Program>(
      once, [&](StoreTxn& tx, Effects&, v1::Program& response) -> absl::Status {
        auto latest = tx.ProgramVersions(0, 1);
        if (!latest.ok()) return latest.status();
        auto next = MergeProgram(latest->empty() ? nullptr : &latest->front(), update);
        if (!next.ok()) return next.status();
        auto program = StoreProgram(tx, std::move(*next), update.program.version(), update.change_note, actor);
        if (!program.ok()) return program.status();
        response = ProgramToProto(*program);
        return absl::OkStatus();
      });
  if (stored.ok()) configured_ = true;
  return stored;
}

namespace {

// Every reward an occasion newly names is in the catalogue and not
// archived. One named before is not checked again: archiving it stops the
// gift (GiveOccasionReward), and must not block unrelated program updates.
absl::Status CheckOccasionRewards(StoreTxn& tx, const Program& p, const std::optional<Program>& latest) {
  std::set<std::string> named;
  if (latest) {
    for (const Occasion& o : latest->occasions) named.insert(o.reward_id);
  }
  for (size_t i = 0; i < p.occasions.size(); ++i) {
    const std::string& id = p.occasions[i].reward_id;
    if (id.empty() || named.contains(id)) continue;
    auto reward = tx.GetReward(id);
    if (!reward.ok()) return reward.status();
    if (!*reward || (*reward)->state() == v1::REWARD_STATE_ARCHIVED) {
      return InvalidField(absl::StrCat("program.occasions[", i, "].reward_id"),
                          absl::StrCat("no active reward ", id, " in the catalogue"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Program> LoyaltyService::StoreProgram(StoreTxn& tx, Program next, int64_t expected_version,
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
                 absl::StrCat("program.version is ", expected_version, " but the version in force is ", current_version,
                              ": re-read and retry"),
                 {{"current_version", absl::StrCat(current_version)}});
  }
  if (absl::Status s = CheckOccasionRewards(tx, next, latest); !s.ok()) return s;
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
    if (!SameCadenceRules(latest->cadence_rules, next.cadence_rules)) {
      // New or shorter rules may reach members sooner than their
      // cadence_due says: the cadence job looks at every member again.
      if (absl::Status s = tx.SetJobState(kCadenceRescanJob, ""); !s.ok()) return s;
    }
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

}  // namespace care::loyalty
