// Contacts (issue 22 item 1): people without membership who file tickets
// (inquiries, a guest's complaint) or are followed up as prospects; their
// messages reach them at their address; a contact who enrols is linked and
// their tickets move under the member.

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "common/proto_time.h"
#include "services/complaint/complaint_service.h"
#include "services/complaint/request_checks.h"
#include "services/complaint/service_internal.h"

namespace care::complaint {
namespace {

// Rows read per chunk when filters the store does not index apply, and
// chunks per call: a page may come back short with a cursor to go on from.
constexpr int kContactChunk = 500;
constexpr int kContactChunks = 20;
// A contact's tickets moved to the member per read.
constexpr int kLinkBatch = 100;
// Contacts one enrolment may take over; more share the address with others.
constexpr size_t kMaxLinkedContacts = 5;

// Whether a contact found by the member's e-mail or phone is the member: no
// address both have differs, and a contact with an e-mail address matches
// on it (a phone alone is shared, recycled or mistyped too often).
bool SamePerson(const v1::Contact& c, const std::string& email, const std::string& phone) {
  const bool email_same = !c.email().empty() && absl::EqualsIgnoreCase(c.email(), email);
  const bool phone_same = !c.phone().empty() && c.phone() == phone;
  if (!c.email().empty() && !email.empty() && !email_same) return false;
  if (!c.phone().empty() && !phone.empty() && !phone_same) return false;
  return email_same || (c.email().empty() && phone_same);
}

bool Consented(const v1::Contact& c, int channel) {
  return std::any_of(c.consents().begin(), c.consents().end(),
                     [&](const v1::ContactConsent& k) { return k.channel() == channel && k.granted(); });
}

bool Keep(const ComplaintService::ContactFilter& f, const v1::Contact& c) {
  if (f.consented_channel != 0 && !Consented(c, f.consented_channel)) return false;
  if (!f.interest.empty()) {
    const auto& in = c.prospect().interests();
    if (!c.has_prospect() || std::find(in.begin(), in.end(), f.interest) == in.end()) return false;
  }
  return true;
}

void DefaultChannel(v1::Contact& c) {
  if (c.channel() == care::common::v1::MESSAGE_CHANNEL_UNSPECIFIED) {
    c.set_channel(c.email().empty() ? care::common::v1::MESSAGE_CHANNEL_WEBHOOK
                                    : care::common::v1::MESSAGE_CHANNEL_EMAIL);
  }
}

// The stored contact: what the caller gave, with the defaults filled in.
v1::Contact NewContact(const v1::Contact& in, const std::string& id, const ActorInfo& actor, absl::Time now) {
  v1::Contact c = in;
  c.set_contact_id(id);
  c.clear_member_id();
  DefaultChannel(c);
  for (v1::ContactConsent& k : *c.mutable_consents()) {
    if (!k.has_update_time()) *k.mutable_update_time() = ToTimestamp(now);
  }
  if (c.has_prospect() && c.prospect().follow_up() == v1::FOLLOW_UP_STATE_UNSPECIFIED) {
    c.mutable_prospect()->set_follow_up(v1::FOLLOW_UP_STATE_NEW);
  }
  *c.mutable_create_time() = ToTimestamp(now);
  *c.mutable_update_time() = ToTimestamp(now);
  *c.mutable_created_by() = ActorProto(actor);
  c.set_version(1);
  return c;
}

// The new consent list. An unchanged grant keeps its stored date, whatever
// the caller sent (a read-modify-write sends the old one back). A changed or
// new one is dated when the caller says, if that lies between the stored
// date and now (a consent given on paper, recorded later), else now.
void ReplaceConsents(v1::Contact& c, const v1::Contact& in, absl::Time now) {
  google::protobuf::RepeatedPtrField<v1::ContactConsent> next = in.consents();
  for (v1::ContactConsent& k : next) {
    const auto was = std::find_if(c.consents().begin(), c.consents().end(),
                                  [&](const v1::ContactConsent& o) { return o.channel() == k.channel(); });
    if (was != c.consents().end() && was->granted() == k.granted()) {
      *k.mutable_update_time() = was->update_time();
      continue;
    }
    const absl::Time earliest = was == c.consents().end() ? absl::InfinitePast() : FromTimestamp(was->update_time());
    const absl::Time said = k.has_update_time() ? FromTimestamp(k.update_time()) : now;
    *k.mutable_update_time() = ToTimestamp(said > earliest && said <= now ? said : now);
  }
  *c.mutable_consents() = std::move(next);
}

// A prospect edit keeps the follow-up state when the caller left it unset.
void ReplaceProspect(v1::Contact& c, const v1::Contact& in) {
  if (!in.has_prospect()) {
    c.clear_prospect();
    return;
  }
  const v1::FollowUpState was = c.has_prospect() ? c.prospect().follow_up() : v1::FOLLOW_UP_STATE_NEW;
  *c.mutable_prospect() = in.prospect();
  if (c.prospect().follow_up() == v1::FOLLOW_UP_STATE_UNSPECIFIED) c.mutable_prospect()->set_follow_up(was);
}

void ApplyContactEdit(v1::Contact& c, const ComplaintService::ContactEdit& e, absl::Time now) {
  const v1::Contact& in = e.changes;
  for (const std::string& path : e.paths) {
    if (path == "display_name") c.set_display_name(in.display_name());
    if (path == "email") c.set_email(in.email());
    if (path == "phone") c.set_phone(in.phone());
    if (path == "locale") c.set_locale(in.locale());
    if (path == "time_zone") c.set_time_zone(in.time_zone());
    if (path == "channel") c.set_channel(in.channel());
    if (path == "consents") ReplaceConsents(c, in, now);
    if (path == "prospect") ReplaceProspect(c, in);
  }
  DefaultChannel(c);
}

}  // namespace

absl::Status ComplaintService::TellCustomer(StoreTxn& tx, const v1::Complaint& c,
                                            const std::function<OutboxEvent(const v1::Contact*)>& build) {
  if (c.contact_id().empty() || !c.member_id().empty()) return tx.Enqueue(build(nullptr));
  auto contact = tx.GetContact(c.contact_id());
  if (!contact.ok()) return contact.status();
  if (!*contact) return NotFound("CONTACT_NOT_FOUND", "the ticket's contact is gone");
  return tx.Enqueue(build(&**contact));
}

absl::StatusOr<v1::Contact> ComplaintService::CreateContact(const Once& once, const v1::Contact& contact,
                                                            const ActorInfo& actor) {
  const absl::Time now = Now();
  // Drawn before the write, so the stored answer can be tagged with it: a
  // later UpdateContact may change every address, never the id.
  const std::string id = NewId("ct-");
  Once tagged = once;
  tagged.subject = ContactIdSubject(id);
  return WriteOnce<v1::Contact>(store_, tagged, [&](StoreTxn& tx, v1::Contact& out) -> absl::Status {
    out = NewContact(contact, id, actor, now);
    return tx.PutContact(out);
  });
}

absl::StatusOr<v1::Contact> ComplaintService::UpdateContact(const Once& once, const ContactEdit& cmd,
                                                            const ActorInfo& actor) {
  const absl::Time now = Now();
  Once tagged = once;
  tagged.subject = ContactIdSubject(cmd.contact_id);
  return WriteOnce<v1::Contact>(store_, tagged, [&](StoreTxn& tx, v1::Contact& out) -> absl::Status {
    auto c = tx.GetContact(cmd.contact_id);
    if (!c.ok()) return c.status();
    if (!*c) return NotFound("CONTACT_NOT_FOUND", "no contact with this contact_id");
    out = std::move(**c);
    if (absl::Status bad = CheckVersion(out.version(), cmd.expected_version, "the contact"); !bad.ok()) return bad;
    // The member's own records (loyalty's profile, notification's consent
    // ledger) say how to reach them now; this row only links their history.
    if (!out.member_id().empty()) {
      return FailedPrecondition("CONTACT_LINKED", "the contact is linked to a member; change the member instead");
    }
    ApplyContactEdit(out, cmd, now);
    FieldErrors errors;
    ValidateContact(errors, out);
    if (!errors.empty()) return errors.ToStatus();
    out.set_version(out.version() + 1);
    *out.mutable_update_time() = ToTimestamp(now);
    *out.mutable_updated_by() = ActorProto(actor);
    return tx.PutContact(out);
  });
}

absl::StatusOr<v1::Contact> ComplaintService::GetContact(const std::string& id) {
  v1::Contact out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto c = tx.GetContact(id);
    if (!c.ok()) return c.status();
    if (!*c) return NotFound("CONTACT_NOT_FOUND", "no contact with this contact_id");
    out = std::move(**c);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<ComplaintService::ContactPage> ComplaintService::ListContacts(const ContactFilter& filter,
                                                                             int page_size) {
  ContactPage page;
  const bool post_filtered = filter.consented_channel != 0 || !filter.interest.empty();
  const int chunk = post_filtered ? std::max(page_size + 1, kContactChunk) : page_size + 1;
  ContactQuery query = filter.query;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    for (int round = 0; round < kContactChunks; ++round) {
      auto rows = tx.FindContacts(query, chunk);
      if (!rows.ok()) return rows.status();
      for (v1::Contact& c : *rows) {
        if (static_cast<int>(page.contacts.size()) == page_size) {
          page.next = query.after;  // one more row follows this page
          return absl::OkStatus();
        }
        query.after = c.contact_id();
        if (Keep(filter, c)) page.contacts.push_back(std::move(c));
      }
      if (static_cast<int>(rows->size()) < chunk) return absl::OkStatus();
    }
    page.next = query.after;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return page;
}

absl::StatusOr<v1::LinkContactsResponse> ComplaintService::LinkContacts(const Once& once, const std::string& member_id,
                                                                        const std::string& email,
                                                                        const std::string& phone) {
  const absl::Time now = Now();
  Once tagged = once;
  tagged.subject = MemberSubject(member_id);
  return WriteOnce<v1::LinkContactsResponse>(
      store_, tagged, [&](StoreTxn& tx, v1::LinkContactsResponse& out) -> absl::Status {
        if (absl::Status gone = tx.RefuseIfErased({MemberSubject(member_id)}); !gone.ok()) return gone;
        auto found = tx.ContactsByAddress(email, phone, /*unlinked_only=*/true);
        if (!found.ok()) return found.status();
        std::vector<v1::Contact> contacts;
        for (v1::Contact& contact : *found) {
          if (SamePerson(contact, email, phone)) contacts.push_back(std::move(contact));
        }
        // An address many contacts share (a shop's phone, a family's
        // e-mail) does not tell whose they are: none is linked.
        if (contacts.size() > kMaxLinkedContacts) contacts.clear();
        for (v1::Contact& contact : contacts) {
          contact.set_member_id(member_id);
          contact.set_version(contact.version() + 1);
          *contact.mutable_update_time() = ToTimestamp(now);
          if (contact.has_prospect()) contact.mutable_prospect()->set_follow_up(v1::FOLLOW_UP_STATE_CONVERTED);
          if (absl::Status s = tx.PutContact(contact); !s.ok()) return s;
          out.add_contact_ids(contact.contact_id());
          // Their history follows them: each ticket under the member.
          for (std::string after;;) {
            auto tickets = tx.ContactComplaints(contact.contact_id(), after, kLinkBatch);
            if (!tickets.ok()) return tickets.status();
            for (v1::Complaint& c : *tickets) {
              after = c.complaint_id();
              if (!c.member_id().empty()) continue;
              c.set_member_id(member_id);
              if (absl::Status s = Save(tx, c, now); !s.ok()) return s;
              out.set_complaint_count(out.complaint_count() + 1);
            }
            if (static_cast<int>(tickets->size()) < kLinkBatch) break;
          }
        }
        return absl::OkStatus();
      });
}

}  // namespace care::complaint
