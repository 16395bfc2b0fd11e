#pragma once

// The shared mechanics of data-protection requests (docs/privacy.md): who a
// request is about (subject keys), the records every service keeps the same
// way (idempotency answers, outbox events, tombstones of erased people), and
// the checks on the care.common.v1 privacy messages. Each service erases its
// own tables in its store; this erases what common/ owns.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "care/common/v1/privacy.pb.h"
#include "common/errors.h"
#include "common/key_file.h"
#include "common/sql.h"

namespace care {

// Contact addresses as the suite accepts them.
bool IsEmail(absl::string_view s);  // at most 254 bytes, one "@" inside, no blanks
bool IsE164(absl::string_view s);   // "+" and 2 to 15 digits, not starting with 0

// Subject keys: how idempotency records, outbox events and tombstones name a
// person. An e-mail address is lower-cased so that one person is one key.
std::string MemberSubject(absl::string_view member_id);  // "member:<id>"
std::string EmailSubject(absl::string_view email);       // "email:<lower-cased address>"
std::string PhoneSubject(absl::string_view phone);       // "phone:<E.164>"

// Every key of `subject`, in the order member, email, phone.
std::vector<std::string> SubjectKeys(const care::common::v1::DataSubject& subject);

// Contact ids one DataSubject may name (complaint sends more in several
// requests).
inline constexpr int kMaxSubjectContactIds = 100;

// Adds to `errors` what is wrong with `subject` (under `field`, e.g.
// "subject"): nothing set, a member id or contact id that is not an id, an
// address that is not one, more than kMaxSubjectContactIds contact ids.
void CheckSubject(FieldErrors& errors, absl::string_view field, const care::common::v1::DataSubject& subject);
// The checks of ExportPersonalDataRequest and ErasePersonalDataRequest
// (reason required, at most 500 characters; a well-formed pseudonym and
// erasure id); INVALID_ARGUMENT naming each bad field.
absl::Status CheckExportRequest(const care::common::v1::ExportPersonalDataRequest& request);
absl::Status CheckErasureRequest(const care::common::v1::ErasePersonalDataRequest& request);
// "erased-" and 32 lowercase hex digits from the CSPRNG.
std::string NewPseudonym();
// Whether `s` has that shape.
bool IsPseudonym(absl::string_view s);

// The unkeyed SHA-256 of a subject key, in lowercase hex: what tombstones
// kept before they were keyed (and the input of the keyed digest below).
std::string SubjectDigest(absl::string_view key);

// What DeleteTagged removes of the outbox events tagged with a key.
enum class TaggedEvents {
  kAll,        // pending and dead ones too (an erasure: nothing more is said about the person)
  kDelivered,  // delivered ones; pending and dead ones (work still owed, such as goodwill) stay and
               // have their payload blanked once delivered (scrub_when_delivered)
};
struct TaggedDeleted {
  int64_t idempotency_records = 0;
  int64_t outbox_events = 0;
};
// Inside a write transaction: deletes the idempotency records tagged with
// `key` (Once::subject) and its outbox events (OutboxEvent::subject) as
// `events` says; returns how many went.
absl::StatusOr<TaggedDeleted> DeleteTagged(Txn& txn, const std::string& key, TaggedEvents events);

// How tombstones name an erased person: "<key_id>:" and the lowercase hex
// HMAC-SHA256, under a key of --privacy_key_file, of SubjectDigest(key). A
// plain hash of "phone:+4420..." could be tested against a list of numbers
// by anyone holding a database dump; a keyed one only by who holds the key.
// The first key writes, every listed key is tried on lookup (rotation adds
// a key first and keeps the old ones listed: a tombstone cannot be re-keyed
// without knowing who it is about). MACing the unkeyed digest, not the key
// itself, lets RewrapLegacyTombstones re-key the tombstones written before
// keys existed.
class SubjectDigests final {
 public:
  // `keys` as ReadKeyFile returns them (at least one).
  explicit SubjectDigests(const std::vector<NamedKey>& keys);

  // What a new tombstone of `key` keeps.
  std::string Digest(absl::string_view key) const;
  // Every form a tombstone of `key` may have: under each listed key, and
  // the unkeyed SHA-256 of older releases.
  std::vector<std::string> Candidates(absl::string_view key) const;
  // The keyed form of an unkeyed tombstone (its stored SHA-256 hex).
  std::string Rewrap(absl::string_view legacy_digest) const;

 private:
  struct Keyed {
    std::string id;
    std::unique_ptr<HmacSha256Key> key;
  };
  // "<id>:" and the hex MAC of `plain` under `k`.
  static std::string DigestUnder(const Keyed& k, absl::string_view plain);
  std::vector<Keyed> keys_;  // keys_[0] writes
};

// Inside an erasure's write transaction: deletes the idempotency records and
// outbox events tagged with any of `keys` (pending ones too: the person is
// gone, so is what was about to be said about them) and records a tombstone
// for each key, dated `now`; audit entries naming a key keep naming the
// person only as its tombstone does ("subject:<digest>"). Adds the counts to
// `receipt` under "idempotency_record" and "outbox_event" (erased) and
// "audit_entry" (de-identified, when any).
absl::Status EraseCommonRecords(Txn& txn, const SubjectDigests& digests, const std::vector<std::string>& keys,
                                absl::Time now, care::common::v1::ErasureReceipt& receipt);

// Whether any of `keys` was erased here: a later event for an erased person
// is refused (FAILED_PRECONDITION, reason SUBJECT_ERASED) or dropped instead
// of re-creating them.
absl::StatusOr<bool> IsErased(Txn& txn, const SubjectDigests& digests, const std::vector<std::string>& keys);
// FAILED_PRECONDITION, reason SUBJECT_ERASED, when IsErased.
absl::Status RefuseIfErased(Txn& txn, const SubjectDigests& digests, const std::vector<std::string>& keys);

// Re-keys the tombstones an older release wrote as plain SHA-256 digests
// (their digest has no ':'), in one write transaction; returns how many.
// Run at start-up (ServerRunner::OpenDatabase), so a dump taken after the
// upgrade holds no testable digest; lookups still try the unkeyed form for
// a replica of the older release writing during a rolling upgrade.
absl::StatusOr<int64_t> RewrapLegacyTombstones(Database& db, const SubjectDigests& digests);

// `text` with every occurrence of `member_id` replaced by `pseudonym`: for
// ids built from a member id (a delivery id, a ledger entry reference) that
// are kept after an erasure. Unchanged when `member_id` is empty.
std::string Pseudonymised(absl::string_view text, absl::string_view member_id, absl::string_view pseudonym);

// After an erasure committed, the database scrub is asked of ErasureScrub
// (common/erasure_scrub.h), which retries it until it succeeds.

}  // namespace care
