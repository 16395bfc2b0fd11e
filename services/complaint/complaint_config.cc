// The complaint service's configuration: business calendars, SLA policies
// (every version kept), forbidden phrases, scripts and settings.

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/proto_time.h"
#include "google/protobuf/util/field_mask_util.h"
#include "services/complaint/complaint_service.h"
#include "services/complaint/service_internal.h"

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

// The current policy and its version, kept for the complaints that started
// under it.
absl::Status PutPolicyDocs(StoreTxn& tx, const v1::SlaPolicy& p) {
  if (absl::Status s = tx.PutDocument(DocKind::kSlaPolicy, p.sla_policy_id(), p.SerializeAsString()); !s.ok()) {
    return s;
  }
  return tx.PutDocument(DocKind::kSlaPolicyVersion, PolicyVersionId(p.sla_policy_id(), p.version()),
                        p.SerializeAsString());
}

template <typename T>
absl::StatusOr<std::vector<T>> AllDocs(StoreTxn& tx, DocKind kind) {
  auto docs = tx.Documents(kind);
  if (!docs.ok()) return docs.status();
  std::vector<T> out;
  for (const std::string& bytes : *docs) {
    T item;
    if (item.ParseFromString(bytes)) out.push_back(std::move(item));
  }
  return out;
}

}  // namespace

std::string PolicyVersionId(const std::string& id, int64_t version) { return absl::StrCat(id, "@", version); }

absl::StatusOr<v1::ComplaintSettings> LoadSettings(StoreTxn& tx) {
  auto stored = LoadDoc<v1::ComplaintSettings>(tx, DocKind::kSettings, kSettingsId);
  if (!stored.ok()) return stored.status();
  return *stored ? std::move(**stored) : v1::ComplaintSettings();
}

// ------------------------------------------------------------ configuration

absl::StatusOr<v1::BusinessCalendar> ComplaintService::CreateCalendar(const v1::CreateBusinessCalendarRequest& req) {
  Calendar rules = FromProto(req.calendar());
  if (absl::Status s = ValidateCalendar(rules); !s.ok()) return s;
  const absl::Time now = Now();
  return Mutate<v1::BusinessCalendar>("CreateBusinessCalendar", req.request_id(), req,
                                      [&](StoreTxn& tx, v1::BusinessCalendar& out) -> absl::Status {
    auto existing = tx.GetDocument(DocKind::kCalendar, req.calendar().calendar_id());
    if (!existing.ok()) return existing.status();
    if (*existing) return AlreadyExists("CALENDAR_ALREADY_EXISTS", "a calendar with this id exists");
    out = req.calendar();
    out.set_version(1);
    *out.mutable_create_time() = ToTimestamp(now);
    *out.mutable_update_time() = ToTimestamp(now);
    return tx.PutDocument(DocKind::kCalendar, out.calendar_id(), out.SerializeAsString());
  });
}

absl::StatusOr<v1::BusinessCalendar> ComplaintService::GetCalendar(const std::string& id) {
  std::optional<v1::BusinessCalendar> out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto c = LoadDoc<v1::BusinessCalendar>(tx, DocKind::kCalendar, id);
    if (!c.ok()) return c.status();
    out = std::move(*c);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!out) return NotFound("CALENDAR_NOT_FOUND", "no such calendar");
  return *out;
}

absl::StatusOr<v1::SlaPolicy> ComplaintService::CreatePolicy(const v1::CreateSlaPolicyRequest& req) {
  const absl::Time now = Now();
  return Mutate<v1::SlaPolicy>("CreateSlaPolicy", req.request_id(), req,
                               [&](StoreTxn& tx, v1::SlaPolicy& out) -> absl::Status {
    auto existing = tx.GetDocument(DocKind::kSlaPolicy, req.policy().sla_policy_id());
    if (!existing.ok()) return existing.status();
    if (*existing) return AlreadyExists("SLA_POLICY_ALREADY_EXISTS", "a policy with this id exists");
    if (!req.policy().calendar_id().empty()) {
      auto cal = tx.GetDocument(DocKind::kCalendar, req.policy().calendar_id());
      if (!cal.ok()) return cal.status();
      if (!*cal) return NotFound("CALENDAR_NOT_FOUND", "policy.calendar_id names no calendar");
    }
    out = req.policy();
    out.set_version(1);
    *out.mutable_create_time() = ToTimestamp(now);
    *out.mutable_update_time() = ToTimestamp(now);
    return PutPolicyDocs(tx, out);
  });
}

absl::StatusOr<v1::SlaPolicy> ComplaintService::GetPolicy(const std::string& id, int64_t version) {
  std::optional<v1::SlaPolicy> out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto p = version == 0 ? LoadDoc<v1::SlaPolicy>(tx, DocKind::kSlaPolicy, id)
                          : LoadDoc<v1::SlaPolicy>(tx, DocKind::kSlaPolicyVersion, PolicyVersionId(id, version));
    if (!p.ok()) return p.status();
    out = std::move(*p);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!out) return NotFound("SLA_POLICY_NOT_FOUND", "no such SLA policy");
  return *out;
}

absl::StatusOr<v1::ForbiddenPhraseList> ComplaintService::PutPhrases(const v1::PutForbiddenPhrasesRequest& req,
                                                                     const ActorInfo& actor) {
  const absl::Time now = Now();
  return Mutate<v1::ForbiddenPhraseList>("PutForbiddenPhrases", req.request_id(), req,
                                         [&](StoreTxn& tx, v1::ForbiddenPhraseList& out) -> absl::Status {
    auto current = LoadDoc<v1::ForbiddenPhraseList>(tx, DocKind::kPhrases, req.list().locale());
    if (!current.ok()) return current.status();
    int64_t version = *current ? (*current)->version() : 0;
    if (req.expected_version() != 0 && req.expected_version() != version) {
      return VersionMismatch("the list");
    }
    out = req.list();
    out.set_version(version + 1);
    *out.mutable_updated_by() = ActorProto(actor);
    *out.mutable_update_time() = ToTimestamp(now);
    return tx.PutDocument(DocKind::kPhrases, out.locale(), out.SerializeAsString());
  });
}

absl::StatusOr<v1::ForbiddenPhraseList> ComplaintService::GetPhrases(const std::string& locale) {
  std::optional<v1::ForbiddenPhraseList> out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto l = LoadDoc<v1::ForbiddenPhraseList>(tx, DocKind::kPhrases, locale);
    if (!l.ok()) return l.status();
    out = std::move(*l);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!out) return NotFound("FORBIDDEN_PHRASES_NOT_FOUND", "no forbidden-phrase list for the locale");
  return *out;
}

absl::StatusOr<v1::ComplaintSettings> ComplaintService::GetSettings() {
  v1::ComplaintSettings out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto stored = LoadDoc<v1::ComplaintSettings>(tx, DocKind::kSettings, kSettingsId);
    if (!stored.ok()) return stored.status();
    if (*stored) out = std::move(**stored);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::ComplaintSettings> ComplaintService::UpdateSettings(const v1::UpdateComplaintSettingsRequest& req) {
  const absl::Time now = Now();
  return Mutate<v1::ComplaintSettings>("UpdateComplaintSettings", req.request_id(), req,
                                       [&](StoreTxn& tx, v1::ComplaintSettings& out) -> absl::Status {
    auto stored = LoadSettings(tx);
    if (!stored.ok()) return stored.status();
    int64_t version = stored->version();
    if (req.settings().version() != 0 && req.settings().version() != version) return VersionMismatch("the settings");
    out = *stored;
    if (!req.has_update_mask() || req.update_mask().paths().empty()) {
      out = req.settings();
    } else {
      MergeMasked(req.settings(), req.update_mask(), out);
    }
    out.set_version(version + 1);
    *out.mutable_update_time() = ToTimestamp(now);
    return tx.PutDocument(DocKind::kSettings, kSettingsId, out.SerializeAsString());
  });
}

absl::StatusOr<std::vector<v1::BusinessCalendar>> ComplaintService::ListCalendars() {
  std::vector<v1::BusinessCalendar> out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto all = AllDocs<v1::BusinessCalendar>(tx, DocKind::kCalendar);
    if (!all.ok()) return all.status();
    out = std::move(*all);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::BusinessCalendar> ComplaintService::UpdateCalendar(const v1::UpdateBusinessCalendarRequest& req) {
  const absl::Time now = Now();
  return Mutate<v1::BusinessCalendar>("UpdateBusinessCalendar", req.request_id(), req,
                                      [&](StoreTxn& tx, v1::BusinessCalendar& out) -> absl::Status {
    const std::string& id = req.calendar().calendar_id();
    auto current = LoadDoc<v1::BusinessCalendar>(tx, DocKind::kCalendar, id);
    if (!current.ok()) return current.status();
    if (!*current) return NotFound("CALENDAR_NOT_FOUND", "no such calendar");
    if (req.calendar().version() != 0 && req.calendar().version() != (*current)->version()) {
      return VersionMismatch("the calendar");
    }
    out = **current;
    MergeMasked(req.calendar(), req.update_mask(), out);
    if (absl::Status bad = ValidateCalendar(FromProto(out)); !bad.ok()) return bad;
    out.set_version(out.version() + 1);
    *out.mutable_update_time() = ToTimestamp(now);
    if (absl::Status s = tx.PutDocument(DocKind::kCalendar, id, out.SerializeAsString()); !s.ok()) return s;
    // Open complaints counting in this calendar get their due times re-computed
    // (a holiday added later moves their breach).
    auto running = tx.RunningOnCalendar(id);
    if (!running.ok()) return running.status();
    const Calendar before = FromProto(**current), after = FromProto(out);
    for (const std::string& complaint_id : *running) {
      auto c = Require(tx, complaint_id);
      if (!c.ok()) return c.status();
      if (absl::Status s = Retime(before, after, *c, now); !s.ok()) return s;
      if (absl::Status s = Save(tx, *c, now); !s.ok()) return s;
    }
    return absl::OkStatus();
  });
}

absl::Status ComplaintService::DeleteCalendar(const v1::DeleteBusinessCalendarRequest& req) {
  auto done = Mutate<v1::DeleteBusinessCalendarResponse>(
      "DeleteBusinessCalendar", req.request_id(), req,
      [&](StoreTxn& tx, v1::DeleteBusinessCalendarResponse&) -> absl::Status {
    auto current = LoadDoc<v1::BusinessCalendar>(tx, DocKind::kCalendar, req.calendar_id());
    if (!current.ok()) return current.status();
    if (!*current) return NotFound("CALENDAR_NOT_FOUND", "no such calendar");
    if (req.expected_version() != 0 && req.expected_version() != (*current)->version()) {
      return VersionMismatch("the calendar");
    }
    auto policies = AllDocs<v1::SlaPolicy>(tx, DocKind::kSlaPolicy);
    if (!policies.ok()) return policies.status();
    auto settings = LoadSettings(tx);
    if (!settings.ok()) return settings.status();
    bool used = settings->default_calendar_id() == req.calendar_id();
    for (const v1::SlaPolicy& p : *policies) used = used || p.calendar_id() == req.calendar_id();
    if (used) return FailedPrecondition("CALENDAR_IN_USE", "an SLA policy or the settings use this calendar");
    return tx.DeleteDocument(DocKind::kCalendar, req.calendar_id());
  });
  return done.status();
}

absl::StatusOr<std::vector<v1::SlaPolicy>> ComplaintService::ListPolicies() {
  std::vector<v1::SlaPolicy> out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto all = AllDocs<v1::SlaPolicy>(tx, DocKind::kSlaPolicy);
    if (!all.ok()) return all.status();
    out = std::move(*all);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  // Evaluation order, then id (documents come ordered by id).
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.evaluation_order() < b.evaluation_order(); });
  return out;
}

absl::StatusOr<v1::SlaPolicy> ComplaintService::UpdatePolicy(const v1::UpdateSlaPolicyRequest& req) {
  const absl::Time now = Now();
  return Mutate<v1::SlaPolicy>("UpdateSlaPolicy", req.request_id(), req,
                               [&](StoreTxn& tx, v1::SlaPolicy& out) -> absl::Status {
    auto current = LoadDoc<v1::SlaPolicy>(tx, DocKind::kSlaPolicy, req.policy().sla_policy_id());
    if (!current.ok()) return current.status();
    if (!*current) return NotFound("SLA_POLICY_NOT_FOUND", "no such SLA policy");
    if (req.policy().version() != 0 && req.policy().version() != (*current)->version()) {
      return VersionMismatch("the policy");
    }
    out = **current;
    MergeMasked(req.policy(), req.update_mask(), out);
    if (!out.calendar_id().empty()) {
      auto cal = tx.GetDocument(DocKind::kCalendar, out.calendar_id());
      if (!cal.ok()) return cal.status();
      if (!*cal) return NotFound("CALENDAR_NOT_FOUND", "policy.calendar_id names no calendar");
    }
    // Open complaints keep the version they started with.
    out.set_version((*current)->version() + 1);
    *out.mutable_create_time() = (*current)->create_time();
    *out.mutable_update_time() = ToTimestamp(now);
    return PutPolicyDocs(tx, out);
  });
}

absl::Status ComplaintService::DeletePolicy(const v1::DeleteSlaPolicyRequest& req) {
  auto done = Mutate<v1::DeleteSlaPolicyResponse>("DeleteSlaPolicy", req.request_id(), req,
                                                  [&](StoreTxn& tx, v1::DeleteSlaPolicyResponse&) -> absl::Status {
    auto current = LoadDoc<v1::SlaPolicy>(tx, DocKind::kSlaPolicy, req.sla_policy_id());
    if (!current.ok()) return current.status();
    if (!*current) return NotFound("SLA_POLICY_NOT_FOUND", "no such SLA policy");
    if (req.expected_version() != 0 && req.expected_version() != (*current)->version()) {
      return VersionMismatch("the policy");
    }
    // The versions stay: open complaints keep their clocks and escalations.
    return tx.DeleteDocument(DocKind::kSlaPolicy, req.sla_policy_id());
  });
  return done.status();
}

absl::StatusOr<std::vector<v1::ForbiddenPhraseList>> ComplaintService::ListPhrases() {
  std::vector<v1::ForbiddenPhraseList> out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto all = AllDocs<v1::ForbiddenPhraseList>(tx, DocKind::kPhrases);
    if (!all.ok()) return all.status();
    out = std::move(*all);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

// ------------------------------------------------------------------ scripts

absl::StatusOr<v1::Script> ComplaintService::PutScript(const v1::PutScriptRequest& req, const ActorInfo& actor) {
  const absl::Time now = Now();
  return Mutate<v1::Script>("PutScript", req.request_id(), req, [&](StoreTxn& tx, v1::Script& out) -> absl::Status {
    auto latest = tx.GetScript(req.script().category(), req.script().locale(), 0);
    if (!latest.ok()) return latest.status();
    int64_t version = *latest ? (*latest)->version() : 0;
    if (req.expected_version() != 0 && req.expected_version() != version) return VersionMismatch("the script");
    out = req.script();
    out.set_version(version + 1);
    *out.mutable_updated_by() = ActorProto(actor);
    *out.mutable_create_time() = ToTimestamp(now);
    return tx.PutScript(out);
  });
}

absl::StatusOr<v1::Script> ComplaintService::GetScript(v1::Category category, const std::string& locale,
                                                       int64_t version) {
  std::optional<v1::Script> out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto script = tx.GetScript(category, locale, version);
    if (!script.ok()) return script.status();
    out = std::move(*script);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!out) return NotFound("SCRIPT_NOT_FOUND", "no script for this category, locale and version");
  return *out;
}

absl::StatusOr<v1::Script> ComplaintService::ScriptForComplaint(const std::string& complaint_id) {
  std::optional<v1::Script> out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto c = Require(tx, complaint_id);
    if (!c.ok()) return c.status();
    // The complaint's locale ("vi-VN"), its base language ("vi"), then the default.
    std::vector<std::string> locales = {c->locale()};
    if (size_t dash = c->locale().find('-'); dash != std::string::npos) locales.push_back(c->locale().substr(0, dash));
    locales.push_back("");
    for (const std::string& locale : locales) {
      auto script = tx.GetScript(c->category(), locale, 0);
      if (!script.ok()) return script.status();
      if (*script) {
        out = std::move(*script);
        break;
      }
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!out) return NotFound("SCRIPT_NOT_FOUND", "no script for the complaint's category");
  return *out;
}

absl::StatusOr<std::vector<v1::Script>> ComplaintService::ListScripts(v1::Category category) {
  std::vector<v1::Script> out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto all = tx.LatestScripts(category);
    if (!all.ok()) return all.status();
    out = std::move(*all);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace care::complaint
