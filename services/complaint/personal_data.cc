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
#include "common/privacy.h"
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

// A compensation's reference built from the member id (a ledger entry
// "<member>/<n>") under the pseudonym, as loyalty re-keys the entry itself;
// returns whether it changed.
bool RekeyCompensation(v1::Compensation& comp, const std::string& member_id, const std::string& pseudonym) {
  std::string rekeyed = Pseudonymised(comp.issued_reference(), member_id, pseudonym);
  if (rekeyed == comp.issued_reference()) return false;
  comp.set_issued_reference(std::move(rekeyed));
  return true;
}

// One not issued yet never will be: its outbox event is deleted with the
// person's and loyalty or promotion would refuse it (SUBJECT_ERASED), so
// ISSUING — or PENDING_APPROVAL on a ticket that takes no more decisions —
// would stay forever. It ends FAILED, saying why.
void EndUnissued(v1::Compensation& comp, Counts& deidentified) {
  if (comp.status() != v1::COMPENSATION_STATUS_ISSUING && comp.status() != v1::COMPENSATION_STATUS_PENDING_APPROVAL) {
    return;
  }
  comp.set_status(v1::COMPENSATION_STATUS_FAILED);
  comp.set_failure_reason("SUBJECT_ERASED");
  ++deidentified["unissued_compensation"];
}

// The ticket, its texts blanked (BlankTicket), without the person: the
// member id replaced, nothing more scheduled for them.
void DeidentifyTicket(v1::Complaint& c, const std::string& pseudonym, Counts& deidentified) {
  for (v1::Compensation& comp : *c.mutable_compensations()) {
    RekeyCompensation(comp, c.member_id(), pseudonym);
    EndUnissued(comp, deidentified);
    ++deidentified["compensation"];
  }
  // Nothing more goes out to the person.
  if (c.check_in().status() == v1::CHECK_IN_STATUS_SCHEDULED) {
    c.mutable_check_in()->set_status(v1::CHECK_IN_STATUS_CANCELLED);
  }
  c.set_member_id(pseudonym);
  // The contact who filed it (a linked one's ticket is the member's) is
  // erased with the person: the ticket names them no more.
  c.clear_contact_id();
  ++deidentified["complaint"];
}

// Every ticket of the member, in `tx`.
absl::Status EraseTickets(StoreTxn& tx, const Erasure& cmd, absl::Time now, Counts& erased, Counts& deidentified) {
  // A survey answer is recorded as the member's own act.
  auto rekey = [&](v1::ComplaintEvent& e) {
    bool changed = false;
    if (e.actor().principal_id() == cmd.member_id) {
      e.mutable_actor()->set_principal_id(cmd.pseudonym);
      changed = true;
    }
    if (e.has_compensation()) changed |= RekeyCompensation(*e.mutable_compensation(), cmd.member_id, cmd.pseudonym);
    return changed;
  };
  for (std::string after;;) {
    auto tickets = tx.MemberComplaints(cmd.member_id, after, kEraseBatch);
    if (!tickets.ok()) return tickets.status();
    for (v1::Complaint& c : *tickets) {
      after = c.complaint_id();
      // Pending events too: nothing more is said to or about the person.
      if (absl::Status s = BlankTicket(tx, c, TaggedEvents::kAll, rekey, erased); !s.ok()) return s;
      DeidentifyTicket(c, cmd.pseudonym, deidentified);
      if (absl::Status s = Save(tx, c, now); !s.ok()) return s;
    }
    if (static_cast<int>(tickets->size()) < kEraseBatch) return absl::OkStatus();
  }
}

// A contact's tickets not filed under a member (a member's go with the
// member's erasure) blanked and kept under the pseudonym, frozen like a
// member's.
absl::Status EraseContactTickets(StoreTxn& tx, const Erasure& cmd, const v1::Contact& contact, absl::Time now,
                                 Counts& erased, Counts& deidentified) {
  // A survey answer is recorded as the contact's own act.
  auto rekey = [&](v1::ComplaintEvent& e) {
    if (e.actor().principal_id() != contact.contact_id()) return false;
    e.mutable_actor()->set_principal_id(cmd.pseudonym);
    return true;
  };
  for (std::string after;;) {
    auto tickets = tx.ContactComplaints(contact.contact_id(), after, kEraseBatch);
    if (!tickets.ok()) return tickets.status();
    for (v1::Complaint& c : *tickets) {
      after = c.complaint_id();
      if (!c.member_id().empty()) continue;
      if (absl::Status s = BlankTicket(tx, c, TaggedEvents::kAll, rekey, erased); !s.ok()) return s;
      DeidentifyTicket(c, cmd.pseudonym, deidentified);
      if (absl::Status s = Save(tx, c, now); !s.ok()) return s;
    }
    if (static_cast<int>(tickets->size()) < kEraseBatch) return absl::OkStatus();
  }
}

// The person's contacts (SubjectContacts: by the subject's e-mail address or
// phone, and those linked to the member, whatever their address), a batch
// of kContactBatch at a time: their tickets erased, the record deleted, and
// notification asked (through the outbox, one request per batch) to erase
// its deliveries to them, which it knows by contact id only.
// Each contact's id and addresses join `keys`: what CreateContact and
// UpdateContact remembered is filed under its id (under one of its
// addresses by older releases, not always the one the erasure names).
absl::Status EraseContacts(StoreTxn& tx, const Erasure& cmd, const Outbound& outbound, absl::Time now, Counts& erased,
                           Counts& deidentified, std::vector<std::string>& keys) {
  SubjectContactQuery query{cmd.email, cmd.phone, cmd.member_id, ""};
  for (int batch = 0;; ++batch) {
    auto contacts = tx.SubjectContacts(query, kContactBatch);
    if (!contacts.ok()) return contacts.status();
    std::vector<std::string> ids;
    for (const v1::Contact& contact : *contacts) {
      query.after = contact.contact_id();
      if (!contact.email().empty()) keys.push_back(EmailSubject(contact.email()));
      if (!contact.phone().empty()) keys.push_back(PhoneSubject(contact.phone()));
      keys.push_back(ContactIdSubject(contact.contact_id()));
      if (absl::Status s = EraseContactTickets(tx, cmd, contact, now, erased, deidentified); !s.ok()) return s;
      if (absl::Status s = tx.DeleteContact(contact.contact_id()); !s.ok()) return s;
      ++erased["contact"];
      ids.push_back(contact.contact_id());
    }
    if (!ids.empty()) {
      OutboxEvent event = outbound.EraseContactDeliveries(cmd.erasure_id, batch, ids, cmd.pseudonym, cmd.reason);
      if (absl::Status s = tx.Enqueue(event); !s.ok()) return s;
    }
    if (static_cast<int>(contacts->size()) < kContactBatch) return absl::OkStatus();
  }
}

// A ticket with its survey answer and audit trail.
absl::Status AddTicketItems(StoreTxn& tx, const v1::Complaint& c, std::vector<v1::ComplaintPersonalData>& items) {
  items.push_back(Item(c));
  if (auto survey = SurveyItem(c)) items.push_back(*std::move(survey));
  for (int64_t after = 0;;) {
    auto events = tx.Events(c.complaint_id(), after, kEventPage);
    if (!events.ok()) return events.status();
    for (v1::ComplaintEvent& e : *events) {
      after = e.sequence();
      *items.emplace_back().mutable_event() = std::move(e);
    }
    if (static_cast<int>(events->size()) < kEventPage) return absl::OkStatus();
  }
}

}  // namespace

absl::StatusOr<std::vector<v1::ComplaintPersonalData>> ComplaintService::ExportContacts(
    const SubjectContactQuery& subject, ContactExportCursor& cursor) {
  std::vector<v1::ComplaintPersonalData> items;
  ContactExportCursor next;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    items.clear();
    SubjectContactQuery query = subject;
    query.after = cursor.after;
    auto contacts = tx.SubjectContacts(query, kContactBatch);
    if (!contacts.ok()) return contacts.status();
    for (const v1::Contact& contact : *contacts) {
      *items.emplace_back().mutable_contact() = contact;
      for (std::string after;;) {
        auto tickets = tx.ContactComplaints(contact.contact_id(), after, kEraseBatch);
        if (!tickets.ok()) return tickets.status();
        for (const v1::Complaint& c : *tickets) {
          after = c.complaint_id();
          // A member's tickets come with the member's export.
          if (!c.member_id().empty()) continue;
          if (absl::Status st = AddTicketItems(tx, c, items); !st.ok()) return st;
        }
        if (static_cast<int>(tickets->size()) < kEraseBatch) break;
      }
    }
    next.after = contacts->empty() ? cursor.after : contacts->back().contact_id();
    next.done = static_cast<int>(contacts->size()) < kContactBatch;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  cursor = next;  // only once the read succeeded
  return items;
}

absl::Status BlankTicket(StoreTxn& tx, v1::Complaint& c, TaggedEvents events,
                         const std::function<bool(v1::ComplaintEvent&)>& rewrite, TextCounts& counts) {
  BlankTicketTexts(c, counts);
  for (int64_t after = 0;;) {
    auto page = tx.Events(c.complaint_id(), after, kEventPage);
    if (!page.ok()) return page.status();
    for (v1::ComplaintEvent& e : *page) {
      after = e.sequence();
      const bool blanked = BlankEventTexts(e, counts);
      const bool rewritten = rewrite && rewrite(e);
      if (!blanked && !rewritten) continue;
      if (absl::Status s = tx.ReplaceEvent(e); !s.ok()) return s;
    }
    if (static_cast<int>(page->size()) < kEventPage) break;
  }
  auto tokens = tx.DeleteSurveyTokens(c.complaint_id());
  if (!tokens.ok()) return tokens.status();
  counts["survey_token"] += *tokens;
  auto tagged = tx.DeleteTagged(TicketKey(c.complaint_id()), events);
  if (!tagged.ok()) return tagged.status();
  counts["idempotency_record"] += tagged->idempotency_records;
  counts["outbox_event"] += tagged->outbox_events;
  return absl::OkStatus();
}

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
        // Tickets are filed by member id, or a contact's by their address.
        if (!cmd.member_id.empty()) {
          if (absl::Status s = EraseTickets(tx, cmd, now, erased, deidentified); !s.ok()) return s;
        }
        std::vector<std::string> keys = cmd.keys;
        if (absl::Status s = EraseContacts(tx, cmd, *outbound_, now, erased, deidentified, keys); !s.ok()) return s;
        for (const auto& [kind, n] : erased) (*out.mutable_erased())[kind] = n;
        for (const auto& [kind, n] : deidentified) (*out.mutable_deidentified())[kind] = n;
        // The pseudonym is tombstoned too: the kept tickets take no new text.
        keys.push_back(MemberSubject(cmd.pseudonym));
        std::sort(keys.begin(), keys.end());
        keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
        return tx.EraseCommonRecords(keys, now, out);
      });
  if (receipt.ok() && options_.scrub != nullptr) options_.scrub->Request(cmd.erasure_id);
  return receipt;
}

absl::Status ComplaintService::RefuseErased(const std::string& member_id) {
  return store_.Read([&](StoreTxn& tx) { return tx.RefuseIfErased({MemberSubject(member_id)}); });
}

}  // namespace care::complaint
