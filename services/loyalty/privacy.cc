// Personal data (docs/privacy.md): a person's export, and the suite's one
// entry point for erasing them, ErasePerson, which erases loyalty's part at
// once and asks the other services through the outbox.

#include "common/privacy.h"

#include <algorithm>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/proto_time.h"
#include "services/loyalty/loyalty_proto.h"
#include "services/loyalty/loyalty_service.h"
#include "services/loyalty/service_internal.h"

namespace care::loyalty {
namespace {

using care::common::v1::DataSubject;
using care::common::v1::ErasePersonalDataRequest;
using care::common::v1::ErasureReceipt;

// The services ErasePerson reaches through the outbox, and the method each
// one answers.
struct ErasurePeer {
  const char* service;
  const char* method;
};
constexpr ErasurePeer kErasurePeers[] = {
    {"promotion", "/care.promotion.v1.PromotionService/ErasePersonalData"},
    {"complaint", "/care.complaint.v1.ComplaintService/ErasePersonalData"},
    {"notification", "/care.notification.v1.NotificationService/ErasePersonalData"},
};
constexpr char kLoyalty[] = "loyalty";

std::string ErasureEventId(const std::string& erasure_id, absl::string_view service) {
  return absl::StrCat(erasure_id, "/", service);
}

absl::Status ErasureNotFound(const std::string& erasure_id) {
  return NotFound("ERASURE_NOT_FOUND", absl::StrCat("no erasure ", erasure_id));
}

// A ledger entry as kept for accounting: amounts, dates and kinds stay;
// the member becomes the pseudonym and free text (which may name the
// person) is blanked.
void Deidentify(LedgerEntry& e, const std::string& member_id, const std::string& pseudonym) {
  e.member_id = pseudonym;
  std::visit(
      [&](auto& cause) {
        using T = std::decay_t<decltype(cause)>;
        if constexpr (std::is_same_v<T, ReturnCause>) {
          cause.reason.clear();
          const std::string prefix = member_id + "/";
          if (cause.reversed_entry_id.rfind(prefix, 0) == 0) {
            cause.reversed_entry_id = pseudonym + cause.reversed_entry_id.substr(member_id.size());
          }
        } else if constexpr (std::is_same_v<T, RedemptionCause>) {
          cause.description.clear();
        } else if constexpr (std::is_same_v<T, AdjustmentCause>) {
          cause.note.clear();
        }
      },
      e.cause);
}

// The state of every service's part, and whether all are done.
void SetComplete(v1::Erasure& erasure) {
  erasure.set_complete(std::all_of(erasure.services().begin(), erasure.services().end(),
                                   [](const v1::ServiceErasure& s) { return s.state() == v1::ServiceErasure::DONE; }));
}

v1::ServiceErasure* PartOf(v1::Erasure& erasure, absl::string_view service) {
  for (auto& s : *erasure.mutable_services()) {
    if (s.service() == service) return &s;
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> ErasureMethods() {
  std::vector<std::string> out;
  for (const ErasurePeer& peer : kErasurePeers) out.emplace_back(peer.method);
  return out;
}

absl::Status LoyaltyService::MissingMember(StoreTxn& tx, const std::string& member_id) {
  auto erased = tx.SubjectErased({MemberSubject(member_id)});
  if (!erased.ok()) return erased.status();
  if (*erased) return FailedPrecondition("SUBJECT_ERASED", "this member's data was erased; it is not re-created");
  return MemberNotFound(member_id);
}

void LoyaltyService::SetAfterErasure(std::function<void()> scrub) { after_erasure_ = std::move(scrub); }

bool LoyaltyService::ScrubAfterDeliveries() {
  int64_t due = scrub_due_micros_.load();
  if (due == 0 || absl::ToUnixMicros(absl::Now()) < due) return false;
  if (scrub_due_micros_.compare_exchange_strong(due, 0) && after_erasure_) after_erasure_();
  return false;
}

absl::StatusOr<std::vector<std::string>> LoyaltyService::SubjectMembers(StoreTxn& tx, const DataSubject& subject) {
  std::vector<std::string> ids;
  if (!subject.member_id().empty()) {
    auto m = tx.GetMember(subject.member_id());
    if (!m.ok()) return m.status();
    if (m->has_value()) ids.push_back(subject.member_id());
  }
  // A contact address may be on several members (nothing makes it unique).
  MemberFilter by_email, by_phone;
  by_email.email = subject.email();
  by_phone.phone = subject.phone();
  for (const MemberFilter& filter : {by_email, by_phone}) {
    if (filter.email.empty() && filter.phone.empty()) continue;
    std::string after;
    for (;;) {
      auto page = tx.ListMembers(filter, after, kJobBatch);
      if (!page.ok()) return page.status();
      for (const Member& m : *page) ids.push_back(m.member_id);
      if (static_cast<int>(page->size()) < kJobBatch) break;
      after = page->back().member_id;
    }
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  // The member named by id first: its pseudonym is the one the others get.
  auto named = std::find(ids.begin(), ids.end(), subject.member_id());
  if (named != ids.end()) std::rotate(ids.begin(), named, named + 1);
  return ids;
}

absl::StatusOr<std::vector<v1::LoyaltyPersonalData>> LoyaltyService::ExportPersonalData(const DataSubject& subject,
                                                                                        ExportCursor& cursor,
                                                                                        int limit) {
  using Items = std::vector<v1::LoyaltyPersonalData>;
  return ReadValue<Items>([&](StoreTxn& tx) -> absl::StatusOr<Items> {
    Items items;
    if (!cursor.started) {
      auto ids = SubjectMembers(tx, subject);
      if (!ids.ok()) return ids.status();
      cursor.member_ids = std::move(*ids);
      cursor.started = true;
    }
    if (cursor.member_ids.empty()) return items;
    auto program = CurrentProgram(tx);
    if (!program.ok()) return program.status();
    while (cursor.next < cursor.member_ids.size() && static_cast<int>(items.size()) < limit) {
      if (absl::Status s = ExportMemberStep(tx, *program, cursor, limit, items); !s.ok()) return s;
    }
    return items;
  });
}

absl::Status LoyaltyService::ExportMemberStep(StoreTxn& tx, const Program& program, ExportCursor& cursor, int limit,
                                              std::vector<v1::LoyaltyPersonalData>& items) {
  const std::string& member_id = cursor.member_ids[cursor.next];
  if (!cursor.profile_sent) {
    auto view = LoadMemberView(tx, member_id);
    if (!view.ok() && !absl::IsNotFound(view.status()) && !absl::IsFailedPrecondition(view.status())) {
      return view.status();
    }
    if (!view.ok()) {  // erased meanwhile: nothing left to send
      ++cursor.next;
      return absl::OkStatus();
    }
    *items.emplace_back().mutable_member() = MemberViewToProto(*view, program.currency_code);
    *items.emplace_back().mutable_tier_snapshot() = SnapshotToProto(view->snapshot);
    cursor.profile_sent = true;
  }
  const int want = std::max(1, limit - static_cast<int>(items.size()));
  EntryFilter filter;
  filter.member_id = member_id;
  auto entries = tx.ListEntries(filter, cursor.ledger_before, want);
  if (!entries.ok()) return entries.status();
  for (const LedgerEntry& e : *entries) {
    *items.emplace_back().mutable_ledger_entry() = EntryToProto(e, program.currency_code);
  }
  if (static_cast<int>(entries->size()) < want) {
    ++cursor.next;
    cursor.profile_sent = false;
    cursor.ledger_before = 0;
  } else {
    cursor.ledger_before = entries->back().sequence;
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Erasure> LoyaltyService::ErasePerson(const Once& once, const DataSubject& subject,
                                                        const std::string& reason, const Actor& actor) {
  std::vector<std::string> erased_members;
  auto erasure = WriteOnce<v1::Erasure>(store_, once, [&](StoreTxn& tx, v1::Erasure& out) -> absl::Status {
    auto ids = SubjectMembers(tx, subject);
    if (!ids.ok()) return ids.status();
    erased_members = *ids;
    return EraseIn(tx, subject, *ids, reason, actor, out);
  });
  if (erasure.ok()) {
    // After the commit: the cache and the files hold copies of what the
    // transaction deleted. A retry (replayed) finds nothing left to do.
    for (const std::string& id : erased_members) {
      if (cache_ == nullptr) break;
      if (absl::Status s = cache_->Forget(id); !s.ok()) {
        LogWarn("erasure: the tier snapshot stays in the cache until its audit", {{"error", s.ToString()}});
      }
    }
    if (after_erasure_) after_erasure_();
  }
  return erasure;
}

absl::Status LoyaltyService::EraseIn(StoreTxn& tx, const DataSubject& subject, const std::vector<std::string>& ids,
                                     const std::string& reason, const Actor& actor, v1::Erasure& out) {
  const absl::Time now = clock_.Now();
  const std::string erasure_id = NewId("er-");
  const std::string pseudonym = NewPseudonym();
  // The others erase by every key loyalty knows for the person: a complaint
  // filed with the member's e-mail but no member id is theirs too.
  DataSubject full = subject;
  ErasureReceipt receipt;
  receipt.set_service(kLoyalty);
  receipt.set_erasure_id(erasure_id);
  *receipt.mutable_erased_at() = ToTimestamp(now);
  std::vector<std::string> keys;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto m = tx.GetMember(ids[i]);
    if (!m.ok()) return m.status();
    if (!m->has_value()) continue;
    const Profile& p = (*m)->profile;
    if (full.member_id().empty()) full.set_member_id(ids[i]);
    if (full.email().empty()) full.set_email(p.email);
    if (full.phone().empty()) full.set_phone(p.phone);
    keys.push_back(MemberSubject(ids[i]));
    if (!p.email.empty()) keys.push_back(EmailSubject(p.email));
    if (!p.phone.empty()) keys.push_back(PhoneSubject(p.phone));
    // One pseudonym per member: ledger sequences of two members would clash
    // under one. The others get the first.
    const std::string alias = i == 0 ? pseudonym : NewPseudonym();
    absl::Status erased = tx.EraseMember(
        ids[i], alias, [&](LedgerEntry& e) { Deidentify(e, ids[i], alias); }, receipt);
    if (!erased.ok()) return erased;
  }
  for (const std::string& k : SubjectKeys(full)) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  if (absl::Status s = tx.EraseCommonRecords(keys, now, receipt); !s.ok()) return s;

  out.set_erasure_id(erasure_id);
  out.set_reason(reason);
  out.set_requested_by(actor.name);
  *out.mutable_create_time() = ToTimestamp(now);
  v1::ServiceErasure* own = out.add_services();
  own->set_service(kLoyalty);
  own->set_state(v1::ServiceErasure::DONE);
  *own->mutable_receipt() = receipt;
  ErasePersonalDataRequest request;
  request.set_erasure_id(erasure_id);
  *request.mutable_subject() = full;
  request.set_pseudonym(pseudonym);
  request.set_reason(reason);
  for (const ErasurePeer& peer : kErasurePeers) {
    v1::ServiceErasure* part = out.add_services();
    part->set_service(peer.service);
    part->set_state(v1::ServiceErasure::PENDING);
    OutboxEvent event{ErasureEventId(erasure_id, peer.service), peer.service, peer.method, request.SerializeAsString()};
    // The request names the person: it travels, it does not stay.
    event.scrub_when_delivered = true;
    if (absl::Status s = tx.Enqueue(event); !s.ok()) return s;
  }
  SetComplete(out);
  return tx.SaveErasure(out);
}

absl::StatusOr<v1::Erasure> LoyaltyService::GetErasure(const std::string& erasure_id) {
  return ReadValue<v1::Erasure>([&](StoreTxn& tx) -> absl::StatusOr<v1::Erasure> {
    auto stored = tx.GetErasure(erasure_id);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) return ErasureNotFound(erasure_id);
    v1::Erasure erasure = **stored;
    for (auto& part : *erasure.mutable_services()) {
      if (part.state() != v1::ServiceErasure::PENDING) continue;
      auto state = tx.OutboxState(ErasureEventId(erasure_id, part.service()));
      if (!state.ok()) return state.status();
      if (!state->has_value()) continue;
      part.set_attempts(static_cast<int32_t>((*state)->attempts));
      part.set_last_error((*state)->last_error);
      if ((*state)->dead) part.set_state(v1::ServiceErasure::REFUSED);
    }
    SetComplete(erasure);
    return erasure;
  });
}

absl::Status LoyaltyService::ErasureOutcome(StoreTxn& tx, const OutboxEvent& event, const absl::Status& result,
                                            const std::string& response) {
  const size_t slash = event.event_id.rfind('/');
  if (slash == std::string::npos) return absl::OkStatus();
  const std::string erasure_id = event.event_id.substr(0, slash);
  auto stored = tx.GetErasure(erasure_id);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return absl::OkStatus();  // not one of ours: nothing to record
  v1::Erasure erasure = **stored;
  v1::ServiceErasure* part = PartOf(erasure, event.event_id.substr(slash + 1));
  if (part == nullptr) return absl::OkStatus();
  auto state = tx.OutboxState(event.event_id);
  if (!state.ok()) return state.status();
  if (state->has_value()) part->set_attempts(static_cast<int32_t>((*state)->attempts) + 1);
  if (result.ok()) {
    // The relay blanks the request's payload with this commit; its old copy
    // leaves the files with the next scrub.
    scrub_due_micros_ = absl::ToUnixMicros(absl::Now() + absl::Seconds(1));
    if (!part->mutable_receipt()->ParseFromString(response)) {
      LogWarn("erasure: a service's receipt is unreadable", {{"service", part->service()}});
    }
    part->set_state(v1::ServiceErasure::DONE);
    part->clear_last_error();
  } else {
    part->set_state(v1::ServiceErasure::REFUSED);
    part->set_last_error(result.ToString());
  }
  SetComplete(erasure);
  return tx.SaveErasure(erasure);
}

}  // namespace care::loyalty
