// A person's data in the complaint service: the export of everything held
// about a member, and its erasure. Tickets are kept for the desk's metrics
// (times, status, category, SLA outcome, survey score, compensation amounts)
// under the pseudonym; every text the person wrote or that may name them is
// blanked.

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/errors.h"
#include "common/proto_time.h"
#include "services/complaint/complaint_service.h"
#include "services/complaint/service_internal.h"

namespace care::complaint {
namespace {

// Tickets re-keyed per read of an erasure, and events read per page.
constexpr int kEraseBatch = 100;
constexpr int kEventPage = 500;

using Counts = std::map<std::string, int64_t>;

v1::ComplaintPersonalData Item(const v1::Complaint& c) {
  v1::ComplaintPersonalData item;
  *item.mutable_complaint() = c;
  return item;
}

// The answer the member gave to the complaint's survey, if any.
std::optional<v1::ComplaintPersonalData> SurveyItem(const v1::Complaint& c) {
  if (c.survey().status() != v1::SURVEY_STATUS_ANSWERED) return std::nullopt;
  v1::ComplaintPersonalData item;
  v1::SurveyResponse* r = item.mutable_survey_response();
  r->set_complaint_id(c.complaint_id());
  r->set_member_id(c.member_id());
  r->set_score(c.survey().score());
  r->set_comment(c.survey().comment());
  *r->mutable_submit_time() = c.survey().answer_time();
  return item;
}

// Blanks a compensation's free text; its kind, amount, status, times and
// references stay (they are the money record).
void BlankCompensation(v1::Compensation& comp) {
  comp.clear_note();
  comp.clear_decision_reason();
}

// The ticket without the person: free text blanked, the member id replaced.
void DeidentifyTicket(v1::Complaint& c, const std::string& pseudonym, Counts& erased, Counts& deidentified) {
  if (!c.subject().empty() || !c.description().empty() || !c.resolution_summary().empty() ||
      !c.handover().note().empty()) {
    ++erased["complaint_text"];
  }
  c.clear_subject();
  c.clear_description();
  c.clear_resolution_summary();
  c.mutable_handover()->clear_note();
  if (!c.survey().comment().empty()) ++erased["survey_comment"];
  c.mutable_survey()->clear_comment();
  for (v1::Compensation& comp : *c.mutable_compensations()) {
    BlankCompensation(comp);
    ++deidentified["compensation"];
  }
  // Nothing more goes out to the person.
  if (c.check_in().status() == v1::CHECK_IN_STATUS_SCHEDULED) {
    c.mutable_check_in()->set_status(v1::CHECK_IN_STATUS_CANCELLED);
  }
  c.set_member_id(pseudonym);
  ++deidentified["complaint"];
}

// The event without the person's words; returns whether it changed.
bool BlankEvent(v1::ComplaintEvent& e, const std::string& member_id, const std::string& pseudonym, Counts& erased) {
  const std::string before = e.SerializeAsString();
  e.clear_reason();
  // A survey answer is recorded as the member's own act.
  if (e.actor().principal_id() == member_id) e.mutable_actor()->set_principal_id(pseudonym);
  switch (e.details_case()) {
    case v1::ComplaintEvent::kReply:
      if (!e.reply().text().empty()) ++erased["reply"];
      e.mutable_reply()->clear_text();
      break;
    case v1::ComplaintEvent::kNote:
      if (!e.note().text().empty()) ++erased["note"];
      e.mutable_note()->clear_text();
      break;
    case v1::ComplaintEvent::kCustomerMessage:
      if (!e.customer_message().text().empty()) ++erased["customer_message"];
      e.mutable_customer_message()->clear_text();
      break;
    case v1::ComplaintEvent::kAssignment:
      e.mutable_assignment()->clear_handover_note();
      break;
    case v1::ComplaintEvent::kCompensation:
      BlankCompensation(*e.mutable_compensation());
      break;
    case v1::ComplaintEvent::kSurvey:
      e.mutable_survey()->clear_comment();
      break;
    default:
      break;
  }
  return e.SerializeAsString() != before;
}

absl::Status EraseEvents(StoreTxn& tx, const std::string& complaint_id, const std::string& member_id,
                         const std::string& pseudonym, Counts& erased) {
  for (int64_t after = 0;;) {
    auto events = tx.Events(complaint_id, after, kEventPage);
    if (!events.ok()) return events.status();
    for (v1::ComplaintEvent& e : *events) {
      after = e.sequence();
      if (!BlankEvent(e, member_id, pseudonym, erased)) continue;
      if (absl::Status s = tx.ReplaceEvent(e); !s.ok()) return s;
    }
    if (static_cast<int>(events->size()) < kEventPage) return absl::OkStatus();
  }
}

// Every ticket of the member, in `tx`.
absl::Status EraseTickets(StoreTxn& tx, const Erasure& cmd, absl::Time now, Counts& erased, Counts& deidentified) {
  for (std::string after;;) {
    auto tickets = tx.MemberComplaints(cmd.member_id, after, kEraseBatch);
    if (!tickets.ok()) return tickets.status();
    for (v1::Complaint& c : *tickets) {
      after = c.complaint_id();
      DeidentifyTicket(c, cmd.pseudonym, erased, deidentified);
      if (absl::Status s = EraseEvents(tx, c.complaint_id(), cmd.member_id, cmd.pseudonym, erased); !s.ok()) return s;
      auto tokens = tx.DeleteSurveyTokens(c.complaint_id());
      if (!tokens.ok()) return tokens.status();
      erased["survey_token"] += *tokens;
      if (absl::Status s = Save(tx, c, now); !s.ok()) return s;
    }
    if (static_cast<int>(tickets->size()) < kEraseBatch) return absl::OkStatus();
  }
}

}  // namespace

absl::StatusOr<std::vector<v1::ComplaintPersonalData>> ComplaintService::ExportPersonalData(
    const std::string& member_id, ExportCursor& cursor, int limit) {
  std::vector<v1::ComplaintPersonalData> items;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    while (!cursor.done && static_cast<int>(items.size()) < limit) {
      if (cursor.events_sent) {
        auto next = tx.MemberComplaints(member_id, cursor.complaint_id, 1);
        if (!next.ok()) return next.status();
        if (next->empty()) {
          cursor.done = true;
          break;
        }
        const v1::Complaint& c = next->front();
        cursor = ExportCursor{c.complaint_id(), 0, false, false};
        items.push_back(Item(c));
        if (auto survey = SurveyItem(c)) items.push_back(*std::move(survey));
      }
      const int want = std::max(1, limit - static_cast<int>(items.size()));
      auto events = tx.Events(cursor.complaint_id, cursor.after_event, want);
      if (!events.ok()) return events.status();
      for (v1::ComplaintEvent& e : *events) {
        cursor.after_event = e.sequence();
        *items.emplace_back().mutable_event() = std::move(e);
      }
      cursor.events_sent = static_cast<int>(events->size()) < want;
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return items;
}

absl::StatusOr<care::common::v1::ErasureReceipt> ComplaintService::ErasePersonalData(const Once& once,
                                                                                     const Erasure& cmd) {
  const absl::Time now = Now();
  auto receipt = WriteOnce<care::common::v1::ErasureReceipt>(
      store_, once, [&](StoreTxn& tx, care::common::v1::ErasureReceipt& out) -> absl::Status {
        out.set_service("complaint");
        out.set_erasure_id(cmd.erasure_id);
        *out.mutable_erased_at() = ToTimestamp(now);
        Counts erased, deidentified;
        // Tickets are filed by member id; an e-mail or phone subject has none.
        if (!cmd.member_id.empty()) {
          if (absl::Status s = EraseTickets(tx, cmd, now, erased, deidentified); !s.ok()) return s;
        }
        for (const auto& [kind, n] : erased) (*out.mutable_erased())[kind] = n;
        for (const auto& [kind, n] : deidentified) (*out.mutable_deidentified())[kind] = n;
        // The pseudonym is tombstoned too: the kept tickets take no new text.
        std::vector<std::string> keys = cmd.keys;
        keys.push_back(MemberSubject(cmd.pseudonym));
        return tx.EraseCommonRecords(keys, now, out);
      });
  if (receipt.ok() && options_.scrub != nullptr) options_.scrub->Request(cmd.erasure_id);
  return receipt;
}

absl::Status ComplaintService::RefuseErased(const std::string& member_id) {
  return store_.Read([&](StoreTxn& tx) { return tx.RefuseIfErased({MemberSubject(member_id)}); });
}

}  // namespace care::complaint
