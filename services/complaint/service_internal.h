#pragma once

// Helpers shared by the complaint domain's files (tickets.cc, goodwill.cc,
// config.cc, sla_job.cc, complaint_service.cc). Not part of the service's
// interface.

#include <algorithm>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/errors.h"
#include "common/ids.h"
#include "common/privacy.h"
#include "services/complaint/business_time.h"
#include "services/complaint/complaint_service.h"
#include "services/complaint/ticket_texts.h"

namespace care::complaint {

v1::Actor ActorProto(const ActorInfo& a);

template <typename T>
bool MatchesAny(const google::protobuf::RepeatedField<int>& list, T value) {
  return list.empty() || std::find(list.begin(), list.end(), static_cast<int>(value)) != list.end();
}

// NOT_FOUND / COMPLAINT_NOT_FOUND when there is none.
absl::StatusOr<v1::Complaint> Require(StoreTxn& tx, const std::string& id);
// The stored settings, or the defaults (an empty message) before any update.
absl::StatusOr<v1::ComplaintSettings> LoadSettings(StoreTxn& tx);
// The calendar a complaint's clocks count in; round the clock without one
// (also when it was deleted since: keep counting rather than stop).
absl::StatusOr<Calendar> CalendarOf(StoreTxn& tx, const std::string& calendar_id);
// The policy version whose targets and escalation levels the complaint
// started with (the current one for complaints filed before versions were kept).
absl::StatusOr<std::optional<v1::SlaPolicy>> PolicyOf(StoreTxn& tx, const v1::Complaint& c);
// Writes the complaint with its next SLA check, one more version.
absl::Status Save(StoreTxn& tx, v1::Complaint& c, absl::Time now);

v1::ComplaintEvent NewEvent(const v1::Complaint& c, v1::ComplaintEventKind kind, const ActorInfo& actor, absl::Time now,
                            const std::string& reason = "");
// Moves `c` to `to` with its audit event; the clocks pause while we wait on
// the customer and resume after.
absl::Status ChangeStatus(StoreTxn& tx, v1::Complaint& c, v1::ComplaintStatus to, const ActorInfo& actor,
                          const std::string& reason, absl::Time now);
// The first reply or acknowledgement stops the first-response clock.
absl::Status FirstResponse(StoreTxn& tx, v1::Complaint& c, absl::Time now);
void AddConsultation(v1::Complaint& c, const google::protobuf::Duration& spent);

// Agent-written text the customer will see (a reply, an acknowledgement, a
// resolution summary) must hold none of the forbidden phrases of the
// complaint's locale, its base language ("vi" for "vi-VN") and every locale
// ("" and the older "*"). INVALID_ARGUMENT / FORBIDDEN_PHRASE naming `field`.
absl::Status CheckCustomerText(StoreTxn& tx, const v1::Complaint& c, absl::string_view field, absl::string_view text);

// The ticket a ticket command's answer is about.
inline const std::string& TicketOf(const v1::Complaint& c) { return c.complaint_id(); }
inline const std::string& TicketOf(const v1::SurveyResponse& r) { return r.complaint_id(); }
template <typename Response>
const std::string& TicketOf(const Response& r) {
  return r.complaint().complaint_id();
}

// WriteOnce for a command on a ticket: the stored answer holds the ticket
// (its text, the member id), so it is filed under the ticket (TicketKey) for
// erasure and the text retention to find. The ticket is known once `fn`
// ran; WriteOnce remembers the answer with `tagged` after that.
template <typename Response, typename Fn>
absl::StatusOr<Response> WriteTicket(ComplaintStore& store, const Once& once, Fn fn) {
  Once tagged = once;
  return WriteOnce<Response>(store, tagged, [&](StoreTxn& tx, Response& out) -> absl::Status {
    absl::Status s = fn(tx, out);
    if (s.ok() && !TicketOf(out).empty()) tagged.subject = TicketKey(TicketOf(out));
    return s;
  });
}

// Blanks every free text of the ticket `c` (not saved) and of its audit
// trail (each event also passed to `rewrite`, if set, which returns whether
// it changed it), deletes its survey tokens and the stored answers and
// outbox events tagged with it (`events` says which of those). What went is
// added to `counts` under the erasure receipt's names. Shared by erasure and
// the text retention, so both remove the same.
absl::Status BlankTicket(StoreTxn& tx, v1::Complaint& c, TaggedEvents events,
                         const std::function<bool(v1::ComplaintEvent&)>& rewrite, TextCounts& counts);

// How a contact's stored answers (CreateContact, UpdateContact) are tagged:
// by id, which no update changes, so the contact's erasure deletes them
// whatever addresses they named.
inline std::string ContactIdSubject(absl::string_view contact_id) { return absl::StrCat("contact:", contact_id); }

// FAILED_PRECONDITION / SUBJECT_ERASED when the ticket's member was erased
// (its member id is then the pseudonym, itself a tombstone): nothing the
// person says or is told is recorded again.
inline absl::Status RefuseErasedTicket(StoreTxn& tx, const v1::Complaint& c) {
  return tx.RefuseIfErased({MemberSubject(c.member_id())});
}

// Survey tokens are bearer secrets: 128 bits from the CSPRNG.
// A year of tickets is a million index entries: a raw metrics read is split
// in slices on parallel reader connections (the scan is the cost).
inline constexpr int kMetricSlices = 4;

inline std::string NewSurveyToken() { return NewId("", 32); }

inline bool Open(v1::ComplaintStatus s) {
  return s != v1::COMPLAINT_STATUS_RESOLVED && s != v1::COMPLAINT_STATUS_CLOSED;
}

inline absl::Status VersionMismatch(absl::string_view what) {
  return Error(absl::StatusCode::kAborted, "VERSION_MISMATCH", absl::StrCat(what, " changed; re-read and retry"));
}
// ABORTED / VERSION_MISMATCH unless `expected` is 0 or `actual`.
inline absl::Status CheckVersion(int64_t actual, int64_t expected, absl::string_view what) {
  if (expected != 0 && expected != actual) return VersionMismatch(what);
  return absl::OkStatus();
}
// Every change but a note is refused on a closed complaint; a note too once
// its texts were removed under retention.
absl::Status RequireNotClosed(const v1::Complaint& c);
absl::Status RequireTextsKept(const v1::Complaint& c);
absl::Status InvalidTransition(v1::ComplaintStatus from, v1::ComplaintStatus to);

}  // namespace care::complaint
