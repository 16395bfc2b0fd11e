// A person's data here (docs/privacy.md): export everything held about
// them, erase it (delete what is only about them, re-key what the campaign
// reports count to a pseudonym, keep the fact and date of each consent
// withdrawal), and refuse to re-create an erased member.
#include "common/privacy.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/proto_time.h"
#include "common/store.h"
#include "services/notification/notification_internal.h"
#include "services/notification/notification_service.h"

namespace care::notification {
namespace {

using care::common::v1::DataSubject;
using care::common::v1::ErasePersonalDataRequest;
using care::common::v1::ErasureReceipt;

// Rows one statement of an erasure reads at a time.
constexpr int kErasePage = 500;

// The parts of one member's data, in export order.
enum ExportPart { kProfile = 0, kConsents, kInbox, kDeliveries, kSchedules, kDone };

// The members `subject` names: its member id, and those whose stored
// address is its e-mail or phone.
absl::StatusOr<std::vector<std::string>> SubjectMembers(StoreTxn& tx, const DataSubject& subject) {
  auto found = tx.MembersWithContact(subject.email(), subject.phone());
  if (!found.ok()) return found.status();
  std::vector<std::string> ids = std::move(*found);
  if (!subject.member_id().empty()) ids.push_back(subject.member_id());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

v1::NotificationPersonalData ContactItem(const MemberRow& m) {
  v1::NotificationPersonalData item;
  v1::MemberContact* c = item.mutable_contact();
  c->set_member_id(m.member_id);
  c->set_name(m.name);
  c->set_email(m.email);
  c->set_phone(m.phone);
  c->set_locale(m.profile_locale);
  c->set_time_zone(m.profile_zone);
  if (m.profile_at != absl::InfinitePast()) *c->mutable_profile_time() = ToTimestamp(m.profile_at);
  return item;
}

// Moves a paged part on: the next page starts before `last`, or (a short
// page) the next part starts.
void NextPage(PersonalDataCursor& cursor, size_t got, int limit, int64_t last) {
  if (static_cast<int>(got) < limit) {
    ++cursor.part;
    cursor.before_seq = 0;
  } else {
    cursor.before_seq = last;
  }
}

// One read of `member`'s current part into `out`.
absl::Status ExportPart(StoreTxn& tx, const std::string& member, PersonalDataCursor& cursor, int limit,
                        std::vector<v1::NotificationPersonalData>& out) {
  auto add = [&out]() -> v1::NotificationPersonalData& { return out.emplace_back(); };
  switch (cursor.part) {
    case kProfile: {
      auto m = tx.GetMember(member);
      if (!m.ok()) return m.status();
      if (*m) out.push_back(ContactItem(**m));
      if (*m && (*m)->preferences) *add().mutable_preferences() = *(*m)->preferences;
      ++cursor.part;
      return absl::OkStatus();
    }
    case kConsents: {
      auto rows = tx.ConsentHistory(member, 0, cursor.before_seq, limit);
      if (!rows.ok()) return rows.status();
      for (auto& [seq, r] : *rows) *add().mutable_consent_record() = std::move(r);
      NextPage(cursor, rows->size(), limit, rows->empty() ? 0 : rows->back().first);
      return absl::OkStatus();
    }
    case kInbox: {
      // Expired messages too: they are still held until retention deletes them.
      InboxFilter filter{member, false, {}, absl::InfinitePast()};
      auto rows = tx.ListInbox(filter, cursor.before_seq, limit);
      if (!rows.ok()) return rows.status();
      for (auto& [seq, m] : *rows) *add().mutable_inbox_message() = std::move(m);
      NextPage(cursor, rows->size(), limit, rows->empty() ? 0 : rows->back().first);
      return absl::OkStatus();
    }
    case kDeliveries: {
      DeliveryFilter filter;
      filter.member_id = member;
      auto rows = tx.ListDeliveries(filter, cursor.before_seq, limit);
      if (!rows.ok()) return rows.status();
      for (auto& [seq, d] : *rows) *add().mutable_delivery() = std::move(d);
      NextPage(cursor, rows->size(), limit, rows->empty() ? 0 : rows->back().first);
      return absl::OkStatus();
    }
    case kSchedules: {
      ScheduleFilter filter;
      filter.member_id = member;
      auto rows = tx.ListSchedules(filter, cursor.after_schedule, limit);
      if (!rows.ok()) return rows.status();
      if (static_cast<int>(rows->size()) < limit) {
        ++cursor.part;
      } else {
        cursor.after_schedule = ScheduleCursor{absl::ToUnixMicros(FromTimestamp(rows->back().due_time())),
                                               rows->back().schedule_id()};
      }
      for (auto& s : *rows) *add().mutable_schedule() = std::move(s);
      return absl::OkStatus();
    }
    default:
      ++cursor.member;
      cursor.part = kProfile;
      cursor.before_seq = 0;
      cursor.after_schedule.reset();
      return absl::OkStatus();
  }
}

// One page of the deliveries to a complaint contact into `out`; the next
// contact after a short page.
absl::Status ExportContactDeliveries(StoreTxn& tx, const std::string& contact_id, PersonalDataCursor& cursor, int limit,
                                     std::vector<v1::NotificationPersonalData>& out) {
  DeliveryFilter filter;
  filter.contact_id = contact_id;
  auto rows = tx.ListDeliveries(filter, cursor.before_seq, limit);
  if (!rows.ok()) return rows.status();
  for (auto& [seq, d] : *rows) *out.emplace_back().mutable_delivery() = std::move(d);
  if (static_cast<int>(rows->size()) < limit) {
    ++cursor.contact;
    cursor.before_seq = 0;
  } else {
    cursor.before_seq = rows->back().first;
  }
  return absl::OkStatus();
}

// A consent record kept after erasure: the fact and date of a withdrawal,
// under the pseudonym, without its evidence.
v1::ConsentRecord KeptWithdrawal(v1::ConsentRecord r, const std::string& member_id, const std::string& pseudonym) {
  const std::string prefix = absl::StrCat("con-", member_id, "-");
  if (absl::StartsWith(r.consent_id(), prefix)) {
    r.set_consent_id(absl::StrCat("con-", pseudonym, "-", r.consent_id().substr(prefix.size())));
  }
  r.set_member_id(pseudonym);
  r.clear_evidence();
  // An event id or an unsubscribe origin ("unsubscribe/<delivery id>") may
  // be built from the member id, as may the actor (the member's own token).
  r.set_origin_id(Pseudonymised(r.origin_id(), member_id, pseudonym));
  r.set_actor(Pseudonymised(r.actor(), member_id, pseudonym));
  return r;
}

// Grants are deleted; withdrawals stay, de-identified, in their order.
absl::Status EraseConsentHistory(StoreTxn& tx, const std::string& member_id, const std::string& pseudonym,
                                 ErasureReceipt& receipt) {
  std::vector<v1::ConsentRecord> records;
  for (int64_t before = 0;;) {
    auto page = tx.ConsentHistory(member_id, 0, before, kErasePage);
    if (!page.ok()) return page.status();
    for (auto& [seq, r] : *page) records.push_back(std::move(r));
    if (static_cast<int>(page->size()) < kErasePage) break;
    before = page->back().first;
  }
  auto deleted = tx.DeleteConsentHistory(member_id);
  if (!deleted.ok()) return deleted.status();
  for (auto r = records.rbegin(); r != records.rend(); ++r) {  // oldest first
    if (r->granted()) {
      ++(*receipt.mutable_erased())["consent_grant"];
      continue;
    }
    if (absl::Status st = tx.AppendConsentRecord(KeptWithdrawal(*r, member_id, pseudonym)); !st.ok()) return st;
    ++(*receipt.mutable_deidentified())["consent_withdrawal"];
  }
  return absl::OkStatus();
}

// Deliveries stay (campaign reports count them) under the pseudonym, without
// the failure text (it may quote an address); one not sent yet is not sent.
// `filter` finds a member's or a contact's; `member_id` is the id (member or
// contact) their ids are built from.
absl::Status RekeyDeliveries(StoreTxn& tx, const DeliveryFilter& filter, const std::string& member_id,
                             const std::string& pseudonym, absl::Time now, ErasureReceipt& receipt) {
  for (;;) {
    // Each re-keyed delivery leaves the filter: the first page again.
    auto page = tx.ListDeliveries(filter, 0, kErasePage);
    if (!page.ok()) return page.status();
    if (page->empty()) return absl::OkStatus();
    for (auto& [seq, d] : *page) {
      // Ids built from the member id (the delivery id and its inbox
      // message's end with it; an event id or a message key may hold it)
      // take the pseudonym instead:
      // still unique (one pseudonym per member), still the same campaign.
      const std::string stored_id = d.delivery_id();
      d.set_delivery_id(Pseudonymised(stored_id, member_id, pseudonym));
      d.set_event_id(Pseudonymised(d.event_id(), member_id, pseudonym));
      d.set_message_key(Pseudonymised(d.message_key(), member_id, pseudonym));
      d.set_inbox_message_id(Pseudonymised(d.inbox_message_id(), member_id, pseudonym));
      if (d.member_id() == member_id) d.set_member_id(pseudonym);
      if (d.contact_id() == member_id) d.set_contact_id(pseudonym);
      d.clear_last_error();
      d.clear_provider_message_id();
      // The redemption's instant would point at the order (the rollup keeps
      // the count).
      d.clear_convert_time();
      if (d.status() == v1::DELIVERY_STATUS_PENDING) {
        d.set_status(v1::DELIVERY_STATUS_SUPPRESSED);
        d.set_suppression_reason(v1::SUPPRESSION_REASON_SUBJECT_ERASED);
        d.clear_next_attempt_time();
        *d.mutable_update_time() = ToTimestamp(now);
        ++(*receipt.mutable_erased())["pending_delivery"];
      }
      if (absl::Status st = tx.RekeyDelivery(stored_id, d); !st.ok()) return st;
      ++(*receipt.mutable_deidentified())["delivery"];
    }
  }
}

// The member's own schedules (proactive check-ins): cancelled if still to
// run, re-keyed to the pseudonym.
absl::Status RekeySchedules(StoreTxn& tx, const std::string& member_id, const std::string& pseudonym, absl::Time now,
                            ErasureReceipt& receipt) {
  ScheduleFilter filter;
  filter.member_id = member_id;
  for (;;) {
    auto page = tx.ListSchedules(filter, std::nullopt, kErasePage);
    if (!page.ok()) return page.status();
    if (page->empty()) return absl::OkStatus();
    for (const v1::Schedule& listed : *page) {
      auto row = tx.GetSchedule(listed.schedule_id());
      if (!row.ok()) return row.status();
      if (!*row) continue;
      v1::Schedule& s = (*row)->schedule;
      s.set_member_id(pseudonym);
      if (s.state() == v1::SCHEDULE_STATE_SCHEDULED || s.state() == v1::SCHEDULE_STATE_RUNNING) {
        s.set_state(v1::SCHEDULE_STATE_CANCELLED);
        *s.mutable_cancel_time() = ToTimestamp(now);
      }
      *s.mutable_update_time() = ToTimestamp(now);
      s.set_version(s.version() + 1);
      if (absl::Status st = tx.PutSchedule(**row); !st.ok()) return st;
      ++(*receipt.mutable_deidentified())["schedule"];
    }
  }
}

}  // namespace

absl::Status RefuseErasedMember(StoreTxn& tx, const std::string& member_id) {
  auto erased = tx.IsErased({MemberSubject(member_id)});
  if (!erased.ok()) return erased.status();
  if (*erased) return FailedPrecondition("SUBJECT_ERASED", "this member's data was erased; it is not re-created");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::NotificationPersonalData>> NotificationService::ExportPersonalData(
    const DataSubject& subject, PersonalDataCursor& cursor, int limit) {
  std::vector<v1::NotificationPersonalData> out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    out.clear();
    if (!cursor.members) {
      auto members = SubjectMembers(tx, subject);
      if (!members.ok()) return members.status();
      cursor.members = std::move(*members);
    }
    // Parts with nothing in them are skipped within this read.
    while (out.empty() && cursor.member < cursor.members->size()) {
      if (absl::Status st = ExportPart(tx, (*cursor.members)[cursor.member], cursor, limit, out); !st.ok()) return st;
    }
    // Then the deliveries to each contact the subject names.
    while (out.empty() && cursor.member >= cursor.members->size() &&
           cursor.contact < static_cast<size_t>(subject.contact_ids_size())) {
      const std::string& contact_id = subject.contact_ids(static_cast<int>(cursor.contact));
      if (absl::Status st = ExportContactDeliveries(tx, contact_id, cursor, limit, out); !st.ok()) return st;
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status NotificationService::EraseMember(StoreTxn& tx, const std::string& member_id, const std::string& pseudonym,
                                              absl::Time now, ErasureReceipt& receipt) {
  auto deleted = tx.DeleteMemberData(member_id);
  if (!deleted.ok()) return deleted.status();
  for (const auto& [kind, n] : *deleted) (*receipt.mutable_erased())[kind] += n;
  if (absl::Status st = EraseConsentHistory(tx, member_id, pseudonym, receipt); !st.ok()) return st;
  DeliveryFilter filter;
  filter.member_id = member_id;
  if (absl::Status st = RekeyDeliveries(tx, filter, member_id, pseudonym, now, receipt); !st.ok()) return st;
  return RekeySchedules(tx, member_id, pseudonym, now, receipt);
}

absl::Status NotificationService::EraseContact(StoreTxn& tx, const std::string& contact_id,
                                               const std::string& pseudonym, absl::Time now, ErasureReceipt& receipt) {
  // The events behind the deliveries hold the contact's name, addresses and
  // message; the deliveries stay like a member's, under the pseudonym.
  auto payloads = tx.DeleteContactPayloads(contact_id);
  if (!payloads.ok()) return payloads.status();
  (*receipt.mutable_erased())["delivery_payload"] += *payloads;
  DeliveryFilter filter;
  filter.contact_id = contact_id;
  return RekeyDeliveries(tx, filter, contact_id, pseudonym, now, receipt);
}

absl::StatusOr<ErasureReceipt> NotificationService::ErasePersonalData(const Once& once,
                                                                      const ErasePersonalDataRequest& request) {
  const absl::Time now = clock_.Now();
  auto receipt = WriteOnce<ErasureReceipt>(store_, once, [&](StoreTxn& tx, ErasureReceipt& out) -> absl::Status {
    out.set_service("notification");
    out.set_erasure_id(request.erasure_id());
    *out.mutable_erased_at() = ToTimestamp(now);
    // What a member owns goes by member id only: a stored address is no key
    // to a member (two members may share one), so the e-mail or phone of the
    // request reaches only what is kept without a member id — here, the
    // idempotency answers and outbox events tagged with it. Loyalty sends
    // one request per member it erased.
    std::vector<std::string> keys = SubjectKeys(request.subject());
    const std::string& member_id = request.subject().member_id();
    if (!member_id.empty()) {
      if (absl::Status st = EraseMember(tx, member_id, request.pseudonym(), now, out); !st.ok()) return st;
    }
    // Complaint's contacts, which complaint erased (they have no profile here).
    for (const std::string& contact_id : request.subject().contact_ids()) {
      if (absl::Status st = EraseContact(tx, contact_id, request.pseudonym(), now, out); !st.ok()) return st;
      keys.push_back(ContactKey(contact_id));
    }
    // Tombstoned too: a message addressed to the pseudonym (a kept ticket's
    // update) is dropped, not delivered to a profile-less inbox.
    keys.push_back(MemberSubject(request.pseudonym()));
    return tx.EraseCommonRecords(keys, now, out);
  });
  if (receipt.ok() && options_.scrub != nullptr) options_.scrub->Request(request.erasure_id());
  return receipt;
}

}  // namespace care::notification
