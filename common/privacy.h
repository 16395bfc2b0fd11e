#pragma once

// The shared mechanics of data-protection requests (docs/privacy.md): who a
// request is about (subject keys), the records every service keeps the same
// way (idempotency answers, outbox events, tombstones of erased people), and
// the checks on the care.common.v1 privacy messages. Each service erases its
// own tables in its store; this erases what common/ owns.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "care/common/v1/privacy.pb.h"
#include "common/errors.h"
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

// Adds to `errors` what is wrong with `subject` (under `field`, e.g.
// "subject"): nothing set, a member id that is not an id, an address that is
// not one.
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

// What a tombstone keeps: the SHA-256 of a subject key, in lowercase hex.
std::string SubjectDigest(absl::string_view key);

// Inside an erasure's write transaction: deletes the idempotency records and
// outbox events tagged with any of `keys` (pending ones too: the person is
// gone, so is what was about to be said about them) and records a tombstone
// for each key, dated `now`. Adds the counts to `receipt` under
// "idempotency_record" and "outbox_event".
absl::Status EraseCommonRecords(Txn& txn, const std::vector<std::string>& keys, absl::Time now,
                                care::common::v1::ErasureReceipt& receipt);

// Whether any of `keys` was erased here: a later event for an erased person
// is refused (FAILED_PRECONDITION, reason SUBJECT_ERASED) or dropped instead
// of re-creating them.
absl::StatusOr<bool> IsErased(Txn& txn, const std::vector<std::string>& keys);
// FAILED_PRECONDITION, reason SUBJECT_ERASED, when IsErased.
absl::Status RefuseIfErased(Txn& txn, const std::vector<std::string>& keys);

// After an erasure committed, the database scrub is asked of ErasureScrub
// (common/erasure_scrub.h), which retries it until it succeeds.

}  // namespace care
