// Members: enrolment, profiles and lists.

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "clients/complaint/contact_link.h"
#include "common/errors.h"
#include "common/ids.h"
#include "common/privacy.h"
#include "services/loyalty/events.h"
#include "services/loyalty/loyalty_proto.h"
#include "services/loyalty/loyalty_service.h"
#include "services/loyalty/service_internal.h"

namespace care::loyalty {
namespace {

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
  static const auto* fields =
      new std::set<std::string>{"name",    "email",  "phone",    "locale",     "time_zone",         "birthday",
                                "segment", "gender", "age_band", "occupation", "marketing_consents"};
  return *fields;
}

// Members answer with amounts in the program currency, which is the same for
// every version once a purchase exists.
absl::Status LoyaltyService::MemberAnswer(StoreTxn& tx, const absl::StatusOr<MemberView>& view, v1::Member& response) {
  if (!view.ok()) return view.status();
  auto program = CurrentProgram(tx);
  if (!program.ok()) return program.status();
  response = MemberViewToProto(*view, program->currency_code);
  return absl::OkStatus();
}

absl::StatusOr<v1::Member> LoyaltyService::Enrol(const Once& once, const std::string& member_id,
                                                 const Profile& profile) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  // The id may be drawn here: the stored answer and its audit entry are
  // tagged once it is known, before WriteOnce remembers them.
  Once tagged = once;
  return WriteOnceAndCache<v1::Member>(tagged, [&](StoreTxn& tx, Effects& fx, v1::Member& response) -> absl::Status {
    if (absl::Status s = MemberAnswer(tx, EnrolIn(tx, fx, member_id, profile), response); !s.ok()) return s;
    tagged.subject = MemberSubject(response.member_id());
    if (tagged.audit) tagged.audit->target = tagged.subject;
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Member> LoyaltyService::GetMember(const std::string& member_id) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  return ReadValue<v1::Member>([&](StoreTxn& tx) -> absl::StatusOr<v1::Member> {
    v1::Member response;
    if (absl::Status s = MemberAnswer(tx, LoadMemberView(tx, member_id), response); !s.ok()) return s;
    return response;
  });
}

absl::StatusOr<v1::Member> LoyaltyService::UpdateMember(const Once& once, const std::string& member_id,
                                                        const Profile& patch, const std::set<std::string>& paths,
                                                        int64_t expected_version) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  return WriteOnceAndCache<v1::Member>(
      AboutMember(once, member_id), [&](StoreTxn& tx, Effects&, v1::Member& response) -> absl::Status {
        return MemberAnswer(tx, UpdateMemberIn(tx, member_id, patch, paths, expected_version), response);
      });
}

absl::StatusOr<std::vector<v1::Member>> LoyaltyService::ListMembers(const MemberFilter& filter,
                                                                    const std::string& after, int limit) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  return ReadValue<std::vector<v1::Member>>([&](StoreTxn& tx) -> absl::StatusOr<std::vector<v1::Member>> {
    auto views = MemberViews(tx, filter, after, limit);
    if (!views.ok()) return views.status();
    auto program = CurrentProgram(tx);
    if (!program.ok()) return program.status();
    std::vector<v1::Member> out;
    out.reserve(views->size());
    for (const MemberView& v : *views) out.push_back(MemberViewToProto(v, program->currency_code));
    return out;
  });
}

absl::StatusOr<MemberView> LoyaltyService::EnrolIn(StoreTxn& tx, Effects& fx, const std::string& member_id,
                                                   const Profile& profile) {
  absl::Time now = clock_.Now();
  auto program = CurrentProgram(tx);
  if (!program.ok()) return program.status();
  bool chosen = !member_id.empty();
  if (chosen) {
    // An erased member's id is not given out again.
    auto erased = tx.SubjectErased({MemberSubject(member_id)});
    if (!erased.ok()) return erased.status();
    if (*erased) return FailedPrecondition("SUBJECT_ERASED", "this member's data was erased; it is not re-created");
  }
  Member m;
  m.profile = profile;
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
  RecomputeAnniversary(m, *program, now);
  for (int attempt = 0;; ++attempt) {
    // A member id is a capability-like handle: it must not be predictable
    // from ids seen before.
    m.member_id = chosen ? member_id : NewId("m-");
    auto inserted = tx.InsertMember(m);
    if (!inserted.ok()) return inserted.status();
    if (*inserted) break;
    if (chosen || attempt > 5) {
      return AlreadyExists("MEMBER_ALREADY_EXISTS", absl::StrCat("member ", m.member_id, " is already enrolled"));
    }
  }
  const Tier& base = program->BaseTier();
  if (absl::Status s = tx.Enqueue(EventToOutbox(ProfileChanged{m.member_id, m.profile, m.version}, now)); !s.ok())
    return s;
  if (!program->cadence_rules.empty()) {
    // The cadence job works out when a rule first reaches the new member.
    if (absl::Status s = tx.PullCadenceDue(m.member_id, now); !s.ok()) return s;
  }
  if (absl::Status s = tx.Enqueue(EventToOutbox(
          TierChanged{m.member_id, "", base.tier_id, base.display_name, 1, base.localized_display_names}, now));
      !s.ok()) {
    return s;
  }
  if (link_contacts_ && (!m.profile.email.empty() || !m.profile.phone.empty())) {
    if (absl::Status s = tx.Enqueue(care::clients::complaint::LinkContactsEvent(
            StableId("loyalty:link:", m.member_id), m.member_id, m.profile.email, m.profile.phone));
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = tx.MarkCacheDirty(m.member_id, 1); !s.ok()) return s;
  RollupCounters joined;
  joined.members_delta = 1;
  joined.enrolled = 1;
  if (absl::Status s = Rollup(tx, *program, now, base.tier_id, joined); !s.ok()) return s;
  MemberView view{m, SnapshotFrom(m, *program)};
  fx.snapshots.push_back(view.snapshot);
  return view;
}

absl::StatusOr<MemberView> LoyaltyService::LoadMemberView(StoreTxn& tx, const std::string& member_id) {
  auto m = LoadMember(tx, member_id);
  if (!m.ok()) return m.status();
  auto snapshot = SnapshotOf(tx, *m);
  if (!snapshot.ok()) return snapshot.status();
  return MemberView{std::move(*m), std::move(*snapshot)};
}

absl::StatusOr<MemberView> LoyaltyService::UpdateMemberIn(StoreTxn& tx, const std::string& member_id,
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
    // A new segment may bring the member into a cadence rule.
    if (next.segment != m->profile.segment) {
      if (absl::Status s = tx.PullCadenceDue(m->member_id, now); !s.ok()) return s;
    }
    m->profile = std::move(next);
    m->version += 1;
    m->update_time = now;
    if (birthday_moved) {
      auto program = CurrentProgram(tx);
      if (!program.ok()) return program.status();
      RecomputeBirthday(*m, *program, now);
      RecomputeAnniversary(*m, *program, now);
    }
    if (absl::Status s = tx.SaveMember(*m); !s.ok()) return s;
    if (notify) {
      if (absl::Status s = tx.Enqueue(EventToOutbox(ProfileChanged{m->member_id, m->profile, m->version}, now));
          !s.ok())
        return s;
    }
  }
  auto snapshot = SnapshotOf(tx, *m);
  if (!snapshot.ok()) return snapshot.status();
  return MemberView{std::move(*m), std::move(*snapshot)};
}

absl::StatusOr<std::vector<MemberView>> LoyaltyService::MemberViews(StoreTxn& tx, const MemberFilter& filter,
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

}  // namespace care::loyalty
