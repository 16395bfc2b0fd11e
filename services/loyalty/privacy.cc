// Personal data (docs/privacy.md): a person's export, and the suite's one
// entry point for erasing them, ErasePerson, which erases loyalty's part at
// once and asks the other services through the outbox.

#include "common/privacy.h"

#include <algorithm>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/proto_time.h"
#include "services/loyalty/loyalty_proto.h"
#include "services/loyalty/loyalty_service.h"
#include "services/loyalty/rewards.h"
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
constexpr int kExportRedemptionPage = 500;

// One ErasePersonalData request of an erasure, the same to every peer: one
// member (under that member's own pseudonym) and the contact keys that go
// with it, or contact keys alone.
struct PeerRequest {
  DataSubject subject;
  std::string pseudonym;
};

// Request k of an erasure: its outbox event id, and the erasure id the peer
// answers it under (a peer is idempotent by erasure id). Request 0 keeps the
// ids an erasure had when it sent one request only.
std::string ErasureEventId(const std::string& erasure_id, absl::string_view service, int k) {
  if (k == 0) return absl::StrCat(erasure_id, "/", service);
  return absl::StrCat(erasure_id, "/", service, "/", k);
}
std::string PeerErasureId(const std::string& erasure_id, int k) {
  return k == 0 ? erasure_id : absl::StrCat(erasure_id, ".", k);
}
// An erasure recorded before requests were counted sent one.
int RequestCount(const v1::ServiceErasure& part) { return std::max(1, part.requests()); }

// Adds a confirmed request's counts to the service's receipt.
void MergeReceipt(ErasureReceipt& into, const ErasureReceipt& r, const std::string& erasure_id) {
  into.set_service(r.service());
  into.set_erasure_id(erasure_id);
  if (!into.has_erased_at() || FromTimestamp(r.erased_at()) > FromTimestamp(into.erased_at())) {
    *into.mutable_erased_at() = r.erased_at();
  }
  for (const auto& [kind, n] : r.erased()) (*into.mutable_erased())[kind] += n;
  for (const auto& [kind, n] : r.deidentified()) (*into.mutable_deidentified())[kind] += n;
}

// Whether a member not being erased holds the address: then records kept
// under it without a member id may be theirs, and the address is not sent.
absl::StatusOr<bool> AddressHeld(StoreTxn& tx, const std::string& email, const std::string& phone) {
  MemberFilter filter;
  filter.email = email;
  filter.phone = phone;
  auto page = tx.ListMembers(filter, "", 1);
  if (!page.ok()) return page.status();
  return !page->empty();
}

// Keeps the member's own e-mail and phone on `r` only where nobody else
// holds them (called once every erased member is deleted).
absl::Status KeepUnsharedAddresses(StoreTxn& tx, PeerRequest& r) {
  if (!r.subject.email().empty()) {
    auto held = AddressHeld(tx, r.subject.email(), "");
    if (!held.ok()) return held.status();
    if (*held) r.subject.clear_email();
  }
  if (!r.subject.phone().empty()) {
    auto held = AddressHeld(tx, "", r.subject.phone());
    if (!held.ok()) return held.status();
    if (*held) r.subject.clear_phone();
  }
  return absl::OkStatus();
}

bool Carries(const std::vector<PeerRequest>& requests, const std::string& key) {
  return std::any_of(requests.begin(), requests.end(), [&](const PeerRequest& r) {
    const std::vector<std::string> keys = SubjectKeys(r.subject);
    return std::find(keys.begin(), keys.end(), key) != keys.end();
  });
}

// The requests the peers get for `subject`, whose members loyalty erased
// into `requests` (one each): a member id loyalty does not know still goes
// (a peer may hold data under it), and the subject's e-mail or phone, if no
// member's request carries it, goes alone.
void AddSubjectRequests(const DataSubject& subject, std::vector<PeerRequest>& requests) {
  const std::string& named = subject.member_id();
  if (!named.empty() && !Carries(requests, MemberSubject(named))) {
    PeerRequest r;
    r.subject.set_member_id(named);
    r.pseudonym = NewPseudonym();
    requests.push_back(std::move(r));
  }
  PeerRequest contact;
  if (!subject.email().empty() && !Carries(requests, EmailSubject(subject.email()))) {
    contact.subject.set_email(subject.email());
  }
  if (!subject.phone().empty() && !Carries(requests, PhoneSubject(subject.phone()))) {
    contact.subject.set_phone(subject.phone());
  }
  if (!contact.subject.email().empty() || !contact.subject.phone().empty()) {
    contact.pseudonym = NewPseudonym();
    requests.push_back(std::move(contact));
  }
}

// The member's remaining balance, forfeited: nobody can spend it under the
// pseudonym, and left outstanding it would count as a liability forever.
LedgerEntry Forfeiture(const Member& m, int64_t program_version, absl::Time now, const Actor& actor) {
  LedgerEntry entry;
  entry.kind = EntryKind::kForfeit;
  entry.points_delta = -m.points_balance;  // a balance is >= 0: negating it cannot overflow
  entry.create_time = now;
  entry.effective_time = now;
  entry.program_version = program_version;
  entry.actor = actor.name;
  entry.request_id = actor.request_id;
  entry.cause = ForfeitureCause{"remaining balance forfeited at erasure"};
  return entry;
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

void LoyaltyService::SetErasureScrub(ErasureScrub* scrub) { scrub_ = scrub; }

bool LoyaltyService::ScrubAfterErasures() {
  if (scrub_ == nullptr) return false;
  int64_t due = scrub_due_micros_.load();
  if (due != 0 && absl::ToUnixMicros(absl::Now()) >= due && scrub_due_micros_.compare_exchange_strong(due, 0)) {
    scrub_->Request("delivered erasure requests");
  } else {
    scrub_->Tick();
  }
  return false;
}

absl::Status LoyaltyService::PutTier(const TierSnapshot& snapshot) {
  absl::Status put = cache_->Put(snapshot);
  // Read after the Put: if an erasure's Forget came first, its commit (and
  // tombstone) came before that, so this sees it; if the Forget comes later,
  // it removes what was put. Either way nothing is left, on any replica.
  auto erased = ReadValue<bool>([&](StoreTxn& tx) { return tx.SubjectErased({MemberSubject(snapshot.member_id)}); });
  if (erased.ok() && *erased) {
    if (absl::Status s = cache_->Forget(snapshot.member_id); !s.ok()) {
      LogWarn("erasure: a tier snapshot stays in the cache until its audit", {{"error", s.ToString()}});
    }
  }
  return put;
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
    // Its reward redemptions, all with the profile: as many as its points
    // ever bought and its occasions gave, read in pages.
    for (int64_t before = 0;;) {
      auto page = tx.ListRedemptions(member_id, before, kExportRedemptionPage);
      if (!page.ok()) return page.status();
      for (const v1::RewardRedemption& r : *page) *items.emplace_back().mutable_reward_redemption() = r;
      if (static_cast<int>(page->size()) < kExportRedemptionPage) break;
      before = RedemptionSequence(page->back());
    }
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
    if (scrub_ != nullptr) scrub_->Request(erasure->erasure_id());
  }
  return erasure;
}

absl::Status LoyaltyService::EraseIn(StoreTxn& tx, const DataSubject& subject, const std::vector<std::string>& ids,
                                     const std::string& reason, const Actor& actor, v1::Erasure& out) {
  const absl::Time now = clock_.Now();
  const std::string erasure_id = NewId("er-");
  ErasureReceipt receipt;
  receipt.set_service(kLoyalty);
  receipt.set_erasure_id(erasure_id);
  *receipt.mutable_erased_at() = ToTimestamp(now);
  // One request per member, never one for all: a peer erases what a member
  // owns by member id only, so the 2nd..nth member need requests of their
  // own, and an address another member shares must not sweep that member's
  // records away.
  std::vector<PeerRequest> requests;
  for (const std::string& id : ids) {
    auto m = tx.GetMember(id);
    if (!m.ok()) return m.status();
    if (!m->has_value()) continue;
    Member& member = **m;
    PeerRequest& r = requests.emplace_back();
    r.subject.set_member_id(id);
    r.subject.set_email(member.profile.email);
    r.subject.set_phone(member.profile.phone);
    // One pseudonym per member: ledger sequences of two members would clash
    // under one, and each peer re-keys the member's records to it.
    r.pseudonym = NewPseudonym();
    // A member exists only under a program: its version dates the
    // forfeiture and the departure in the analytics rollups.
    auto program = CurrentProgram(tx);
    if (!program.ok()) return program.status();
    if (member.points_balance > 0) {
      LedgerEntry forfeit = Forfeiture(member, program->version, now, actor);
      if (absl::Status s = Post(tx, *program, member, forfeit, std::nullopt); !s.ok()) return s;
    }
    RollupCounters gone;
    gone.members_delta = -1;
    gone.erased = 1;
    if (absl::Status s = Rollup(tx, *program, now, member.tier.tier_id, gone); !s.ok()) return s;
    const std::string& alias = r.pseudonym;
    absl::Status erased = tx.EraseMember(
        id, alias, [&](LedgerEntry& e) { Deidentify(e, id, alias); }, receipt);
    if (!erased.ok()) return erased;
  }
  for (PeerRequest& r : requests) {
    if (absl::Status s = KeepUnsharedAddresses(tx, r); !s.ok()) return s;
  }
  AddSubjectRequests(subject, requests);
  std::vector<std::string> keys;
  for (const PeerRequest& r : requests) {
    for (std::string& k : SubjectKeys(r.subject)) keys.push_back(std::move(k));
  }
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
  for (const ErasurePeer& peer : kErasurePeers) {
    v1::ServiceErasure* part = out.add_services();
    part->set_service(peer.service);
    part->set_state(v1::ServiceErasure::PENDING);
    part->set_requests(static_cast<int32_t>(requests.size()));
    for (size_t k = 0; k < requests.size(); ++k) {
      ErasePersonalDataRequest request;
      request.set_erasure_id(PeerErasureId(erasure_id, static_cast<int>(k)));
      *request.mutable_subject() = requests[k].subject;
      request.set_pseudonym(requests[k].pseudonym);
      request.set_reason(reason);
      OutboxEvent event{ErasureEventId(erasure_id, peer.service, static_cast<int>(k)), peer.service, peer.method,
                        request.SerializeAsString()};
      // The request names the person: it travels, it does not stay.
      event.scrub_when_delivered = true;
      if (absl::Status s = tx.Enqueue(event); !s.ok()) return s;
    }
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
      // The worst of the requests still waiting: the one tried most often.
      std::optional<OutboxEventState> worst;
      for (int k = 0; k < RequestCount(part); ++k) {
        auto state = tx.OutboxState(ErasureEventId(erasure_id, part.service(), k));
        if (!state.ok()) return state.status();
        if (!state->has_value() || (*state)->delivered) continue;
        if ((*state)->dead) part.set_state(v1::ServiceErasure::REFUSED);
        if (!worst || (*state)->attempts > worst->attempts) worst = **state;
      }
      if (!worst) continue;
      part.set_attempts(static_cast<int32_t>(worst->attempts));
      part.set_last_error(worst->last_error);
    }
    SetComplete(erasure);
    return erasure;
  });
}

absl::Status LoyaltyService::ErasureOutcome(StoreTxn& tx, const OutboxEvent& event, const absl::Status& result,
                                            const std::string& response) {
  // "<erasure id>/<service>" or "<erasure id>/<service>/<request>".
  const std::vector<std::string> id_parts = absl::StrSplit(event.event_id, '/');
  if (id_parts.size() < 2 || id_parts.size() > 3) return absl::OkStatus();
  const std::string& erasure_id = id_parts[0];
  auto stored = tx.GetErasure(erasure_id);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return absl::OkStatus();  // not one of ours: nothing to record
  v1::Erasure erasure = **stored;
  v1::ServiceErasure* part = PartOf(erasure, id_parts[1]);
  if (part == nullptr) return absl::OkStatus();
  auto state = tx.OutboxState(event.event_id);
  if (!state.ok()) return state.status();
  if (state->has_value()) {
    part->set_attempts(std::max(part->attempts(), static_cast<int32_t>((*state)->attempts) + 1));
  }
  if (result.ok()) {
    // The relay blanks the request's payload with this commit; its old copy
    // leaves the files with the next scrub.
    scrub_due_micros_ = absl::ToUnixMicros(absl::Now() + absl::Seconds(1));
    ErasureReceipt receipt;
    if (receipt.ParseFromString(response)) {
      MergeReceipt(*part->mutable_receipt(), receipt, erasure_id);
    } else {
      LogWarn("erasure: a service's receipt is unreadable", {{"service", part->service()}});
    }
    part->set_requests_done(part->requests_done() + 1);
    // A refusal of another request stays: the service's part is not whole.
    if (part->state() == v1::ServiceErasure::PENDING && part->requests_done() >= RequestCount(*part)) {
      part->set_state(v1::ServiceErasure::DONE);
      part->clear_last_error();
    }
  } else {
    part->set_state(v1::ServiceErasure::REFUSED);
    part->set_last_error(result.ToString());
  }
  SetComplete(erasure);
  return tx.SaveErasure(erasure);
}

}  // namespace care::loyalty
