// The complaint service's configuration: business calendars, SLA policies
// (every version kept), forbidden phrases, scripts and settings.

#include <algorithm>

#include "common/errors.h"
#include "common/localized.h"
#include "common/proto_time.h"
#include "google/protobuf/util/field_mask_util.h"
#include "services/complaint/complaint_service.h"
#include "services/complaint/service_internal.h"
#include "services/complaint/sla_clock.h"

namespace care::complaint {
namespace {

using google::protobuf::util::FieldMaskUtil;

// Repeated fields in the mask are replaced whole, as the contract says.
template <typename T>
void MergeMasked(const T& from, const google::protobuf::FieldMask& mask, T& to) {
  FieldMaskUtil::MergeOptions options;
  options.set_replace_repeated_fields(true);
  options.set_replace_message_fields(true);
  FieldMaskUtil::MergeMessageTo(from, mask, options, &to);
}

// NOT_FOUND / CALENDAR_NOT_FOUND unless a policy's calendar exists.
absl::Status RequirePolicyCalendar(StoreTxn& tx, const std::string& calendar_id) {
  if (calendar_id.empty()) return absl::OkStatus();
  auto cal = tx.GetCalendar(calendar_id);
  if (!cal.ok()) return cal.status();
  if (!*cal) return NotFound("CALENDAR_NOT_FOUND", "policy.calendar_id names no calendar");
  return absl::OkStatus();
}

// Runs `read(tx)` (StatusOr<T>) in a read transaction.
template <typename T, typename Fn>
absl::StatusOr<T> ReadValue(ComplaintStore& store, Fn read) {
  std::optional<T> out;
  absl::Status s = store.Read([&](StoreTxn& tx) -> absl::Status {
    auto value = read(tx);
    if (!value.ok()) return value.status();
    out = *std::move(value);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return *std::move(out);
}

// The value of a read that may find nothing: NOT_FOUND with `reason` then.
template <typename T>
absl::StatusOr<T> Found(absl::StatusOr<std::optional<T>> value, absl::string_view reason, absl::string_view what) {
  if (!value.ok()) return value.status();
  if (!*value) return NotFound(reason, what);
  return **std::move(value);
}

}  // namespace

// ------------------------------------------------------------- calendars

absl::StatusOr<v1::BusinessCalendar> ComplaintService::CreateCalendar(const Once& once,
                                                                      const v1::BusinessCalendar& calendar) {
  if (absl::Status s = ValidateCalendar(FromProto(calendar)); !s.ok()) return s;
  const absl::Time now = Now();
  return WriteOnce<v1::BusinessCalendar>(store_, once, [&](StoreTxn& tx, v1::BusinessCalendar& out) -> absl::Status {
    auto existing = tx.GetCalendar(calendar.calendar_id());
    if (!existing.ok()) return existing.status();
    if (*existing) return AlreadyExists("CALENDAR_ALREADY_EXISTS", "a calendar with this id exists");
    out = calendar;
    out.set_version(1);
    *out.mutable_create_time() = ToTimestamp(now);
    *out.mutable_update_time() = ToTimestamp(now);
    return tx.PutCalendar(out);
  });
}

absl::StatusOr<v1::BusinessCalendar> ComplaintService::GetCalendar(const std::string& id) {
  return ReadValue<v1::BusinessCalendar>(store_, [&](StoreTxn& tx) {
    return Found(tx.GetCalendar(id), "CALENDAR_NOT_FOUND", "no such calendar");
  });
}

absl::StatusOr<std::vector<v1::BusinessCalendar>> ComplaintService::ListCalendars() {
  return ReadValue<std::vector<v1::BusinessCalendar>>(store_, [](StoreTxn& tx) { return tx.Calendars(); });
}

absl::StatusOr<v1::BusinessCalendar> ComplaintService::UpdateCalendar(const Once& once,
                                                                      const v1::BusinessCalendar& calendar,
                                                                      const google::protobuf::FieldMask& mask) {
  const absl::Time now = Now();
  return WriteOnce<v1::BusinessCalendar>(store_, once, [&](StoreTxn& tx, v1::BusinessCalendar& out) -> absl::Status {
    const std::string& id = calendar.calendar_id();
    auto current = Found(tx.GetCalendar(id), "CALENDAR_NOT_FOUND", "no such calendar");
    if (!current.ok()) return current.status();
    if (absl::Status bad = CheckVersion(current->version(), calendar.version(), "the calendar"); !bad.ok()) return bad;
    out = *current;
    MergeMasked(calendar, mask, out);
    if (absl::Status bad = ValidateCalendar(FromProto(out)); !bad.ok()) return bad;
    out.set_version(out.version() + 1);
    *out.mutable_update_time() = ToTimestamp(now);
    if (absl::Status s = tx.PutCalendar(out); !s.ok()) return s;
    // Open complaints counting in this calendar get their due times re-computed
    // (a holiday added later moves their breach).
    auto running = tx.RunningOnCalendar(id);
    if (!running.ok()) return running.status();
    const Calendar before = FromProto(*current), after = FromProto(out);
    for (const std::string& complaint_id : *running) {
      auto c = Require(tx, complaint_id);
      if (!c.ok()) return c.status();
      if (absl::Status s = Retime(before, after, *c, now); !s.ok()) return s;
      if (absl::Status s = Save(tx, *c, now); !s.ok()) return s;
    }
    return absl::OkStatus();
  });
}

absl::Status ComplaintService::DeleteCalendar(const Once& once, const std::string& id, int64_t expected_version) {
  auto done = WriteOnce<v1::DeleteBusinessCalendarResponse>(
      store_, once, [&](StoreTxn& tx, v1::DeleteBusinessCalendarResponse&) -> absl::Status {
        auto current = Found(tx.GetCalendar(id), "CALENDAR_NOT_FOUND", "no such calendar");
        if (!current.ok()) return current.status();
        if (absl::Status bad = CheckVersion(current->version(), expected_version, "the calendar"); !bad.ok()) {
          return bad;
        }
        auto policies = tx.Policies();
        if (!policies.ok()) return policies.status();
        auto settings = LoadSettings(tx);
        if (!settings.ok()) return settings.status();
        bool used = settings->default_calendar_id() == id;
        for (const v1::SlaPolicy& p : *policies) used = used || p.calendar_id() == id;
        if (used) return FailedPrecondition("CALENDAR_IN_USE", "an SLA policy or the settings use this calendar");
        return tx.DeleteCalendar(id);
      });
  return done.status();
}

// ---------------------------------------------------------------- policies

absl::StatusOr<v1::SlaPolicy> ComplaintService::CreatePolicy(const Once& once, const v1::SlaPolicy& policy) {
  const absl::Time now = Now();
  return WriteOnce<v1::SlaPolicy>(store_, once, [&](StoreTxn& tx, v1::SlaPolicy& out) -> absl::Status {
    auto existing = tx.GetPolicy(policy.sla_policy_id());
    if (!existing.ok()) return existing.status();
    if (*existing) return AlreadyExists("SLA_POLICY_ALREADY_EXISTS", "a policy with this id exists");
    if (absl::Status bad = RequirePolicyCalendar(tx, policy.calendar_id()); !bad.ok()) return bad;
    out = policy;
    out.set_version(1);
    *out.mutable_create_time() = ToTimestamp(now);
    *out.mutable_update_time() = ToTimestamp(now);
    return tx.PutPolicy(out);
  });
}

absl::StatusOr<v1::SlaPolicy> ComplaintService::GetPolicy(const std::string& id, int64_t version) {
  return ReadValue<v1::SlaPolicy>(store_, [&](StoreTxn& tx) {
    return Found(version == 0 ? tx.GetPolicy(id) : tx.GetPolicyVersion(id, version), "SLA_POLICY_NOT_FOUND",
                 "no such SLA policy");
  });
}

absl::StatusOr<std::vector<v1::SlaPolicy>> ComplaintService::ListPolicies() {
  auto out = ReadValue<std::vector<v1::SlaPolicy>>(store_, [](StoreTxn& tx) { return tx.Policies(); });
  if (!out.ok()) return out.status();
  // Evaluation order, then id (policies come ordered by id).
  std::stable_sort(out->begin(), out->end(),
                   [](const auto& a, const auto& b) { return a.evaluation_order() < b.evaluation_order(); });
  return out;
}

absl::StatusOr<v1::SlaPolicy> ComplaintService::UpdatePolicy(const Once& once, const v1::SlaPolicy& policy,
                                                             const google::protobuf::FieldMask& mask) {
  const absl::Time now = Now();
  return WriteOnce<v1::SlaPolicy>(store_, once, [&](StoreTxn& tx, v1::SlaPolicy& out) -> absl::Status {
    auto current = Found(tx.GetPolicy(policy.sla_policy_id()), "SLA_POLICY_NOT_FOUND", "no such SLA policy");
    if (!current.ok()) return current.status();
    if (absl::Status bad = CheckVersion(current->version(), policy.version(), "the policy"); !bad.ok()) return bad;
    out = *current;
    MergeMasked(policy, mask, out);
    if (absl::Status bad = RequirePolicyCalendar(tx, out.calendar_id()); !bad.ok()) return bad;
    // Open complaints keep the version they started with.
    out.set_version(current->version() + 1);
    *out.mutable_create_time() = current->create_time();
    *out.mutable_update_time() = ToTimestamp(now);
    return tx.PutPolicy(out);
  });
}

absl::Status ComplaintService::DeletePolicy(const Once& once, const std::string& id, int64_t expected_version) {
  auto done = WriteOnce<v1::DeleteSlaPolicyResponse>(
      store_, once, [&](StoreTxn& tx, v1::DeleteSlaPolicyResponse&) -> absl::Status {
        auto current = Found(tx.GetPolicy(id), "SLA_POLICY_NOT_FOUND", "no such SLA policy");
        if (!current.ok()) return current.status();
        if (absl::Status bad = CheckVersion(current->version(), expected_version, "the policy"); !bad.ok()) {
          return bad;
        }
        // The versions stay: open complaints keep their clocks and escalations.
        return tx.DeletePolicy(id);
      });
  return done.status();
}

// ------------------------------------------------------- forbidden phrases

absl::StatusOr<v1::ForbiddenPhraseList> ComplaintService::PutPhrases(const Once& once,
                                                                     const v1::ForbiddenPhraseList& list,
                                                                     int64_t expected_version, const ActorInfo& actor) {
  const absl::Time now = Now();
  return WriteOnce<v1::ForbiddenPhraseList>(
      store_, once, [&](StoreTxn& tx, v1::ForbiddenPhraseList& out) -> absl::Status {
        auto current = tx.GetPhrases(list.locale());
        if (!current.ok()) return current.status();
        int64_t version = *current ? (*current)->version() : 0;
        if (absl::Status bad = CheckVersion(version, expected_version, "the list"); !bad.ok()) return bad;
        out = list;
        out.set_version(version + 1);
        *out.mutable_updated_by() = ActorProto(actor);
        *out.mutable_update_time() = ToTimestamp(now);
        return tx.PutPhrases(out);
      });
}

absl::StatusOr<v1::ForbiddenPhraseList> ComplaintService::GetPhrases(const std::string& locale) {
  return ReadValue<v1::ForbiddenPhraseList>(store_, [&](StoreTxn& tx) {
    return Found(tx.GetPhrases(locale), "FORBIDDEN_PHRASES_NOT_FOUND", "no forbidden-phrase list for the locale");
  });
}

absl::StatusOr<std::vector<v1::ForbiddenPhraseList>> ComplaintService::ListPhrases() {
  return ReadValue<std::vector<v1::ForbiddenPhraseList>>(store_, [](StoreTxn& tx) { return tx.PhraseLists(); });
}

// ---------------------------------------------------------------- settings

absl::StatusOr<v1::ComplaintSettings> ComplaintService::GetSettings() {
  return ReadValue<v1::ComplaintSettings>(store_, [](StoreTxn& tx) { return LoadSettings(tx); });
}

absl::StatusOr<v1::ComplaintSettings> ComplaintService::UpdateSettings(const Once& once,
                                                                       const v1::ComplaintSettings& settings,
                                                                       const google::protobuf::FieldMask& mask) {
  const absl::Time now = Now();
  return WriteOnce<v1::ComplaintSettings>(store_, once, [&](StoreTxn& tx, v1::ComplaintSettings& out) -> absl::Status {
    auto stored = LoadSettings(tx);
    if (!stored.ok()) return stored.status();
    int64_t version = stored->version();
    if (absl::Status bad = CheckVersion(version, settings.version(), "the settings"); !bad.ok()) return bad;
    out = *stored;
    if (mask.paths().empty()) {
      out = settings;
    } else {
      MergeMasked(settings, mask, out);
    }
    out.set_version(version + 1);
    *out.mutable_update_time() = ToTimestamp(now);
    return tx.PutSettings(out);
  });
}

// ----------------------------------------------------------------- scripts

absl::StatusOr<v1::Script> ComplaintService::PutScript(const Once& once, const v1::Script& script,
                                                       int64_t expected_version, const ActorInfo& actor) {
  const absl::Time now = Now();
  return WriteOnce<v1::Script>(store_, once, [&](StoreTxn& tx, v1::Script& out) -> absl::Status {
    auto latest = tx.GetScript(script.category(), script.locale(), 0);
    if (!latest.ok()) return latest.status();
    int64_t version = *latest ? (*latest)->version() : 0;
    if (absl::Status bad = CheckVersion(version, expected_version, "the script"); !bad.ok()) return bad;
    out = script;
    out.set_version(version + 1);
    *out.mutable_updated_by() = ActorProto(actor);
    *out.mutable_create_time() = ToTimestamp(now);
    return tx.PutScript(out);
  });
}

absl::StatusOr<v1::Script> ComplaintService::GetScript(v1::Category category, const std::string& locale,
                                                       int64_t version) {
  return ReadValue<v1::Script>(store_, [&](StoreTxn& tx) {
    return Found(tx.GetScript(category, locale, version), "SCRIPT_NOT_FOUND",
                 "no script for this category, locale and version");
  });
}

absl::StatusOr<v1::Script> ComplaintService::ScriptForComplaint(const std::string& complaint_id) {
  return ReadValue<v1::Script>(store_, [&](StoreTxn& tx) -> absl::StatusOr<v1::Script> {
    auto c = Require(tx, complaint_id);
    if (!c.ok()) return c.status();
    // The complaint's locale ("vi-VN"), its shorter prefixes ("vi"), then the
    // default script ("").
    std::vector<std::string> locales = LocaleFallbackChain(c->locale(), "");
    locales.emplace_back();
    for (const std::string& locale : locales) {
      auto script = tx.GetScript(c->category(), locale, 0);
      if (!script.ok()) return script.status();
      if (*script) return **std::move(script);
    }
    return NotFound("SCRIPT_NOT_FOUND", "no script for the complaint's category");
  });
}

absl::StatusOr<std::vector<v1::Script>> ComplaintService::ListScripts(v1::Category category) {
  return ReadValue<std::vector<v1::Script>>(store_, [&](StoreTxn& tx) { return tx.LatestScripts(category); });
}

}  // namespace care::complaint
