#include "common/privacy.h"

#include <openssl/evp.h>

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/random.h"

namespace care {
namespace {

using care::common::v1::DataSubject;

constexpr size_t kMaxReason = 500;
constexpr absl::string_view kPseudonymPrefix = "erased-";

void CheckReason(FieldErrors& errors, const std::string& reason) {
  // Characters, as loyalty's ErasePerson counts them: a peer refusing what
  // the entry point accepted would leave the erasure dead half-way.
  if (errors.RequireNonEmpty("reason", reason)) errors.RequireMaxLength("reason", reason, kMaxReason);
}

}  // namespace

bool IsEmail(absl::string_view s) {
  auto at = s.find('@');
  return s.size() <= 254 && at != absl::string_view::npos && at > 0 && at + 1 < s.size() &&
         s.find_first_of(" \t\r\n") == absl::string_view::npos;
}

bool IsE164(absl::string_view s) {
  if (s.size() < 3 || s.size() > 16 || s[0] != '+' || s[1] == '0') return false;
  return s.substr(1).find_first_not_of("0123456789") == absl::string_view::npos;
}

std::string MemberSubject(absl::string_view member_id) { return absl::StrCat("member:", member_id); }
std::string EmailSubject(absl::string_view email) { return absl::StrCat("email:", absl::AsciiStrToLower(email)); }
std::string PhoneSubject(absl::string_view phone) { return absl::StrCat("phone:", phone); }

std::vector<std::string> SubjectKeys(const DataSubject& subject) {
  std::vector<std::string> keys;
  if (!subject.member_id().empty()) keys.push_back(MemberSubject(subject.member_id()));
  if (!subject.email().empty()) keys.push_back(EmailSubject(subject.email()));
  if (!subject.phone().empty()) keys.push_back(PhoneSubject(subject.phone()));
  return keys;
}

void CheckSubject(FieldErrors& errors, absl::string_view field, const DataSubject& subject) {
  const std::string f(field);
  if (subject.member_id().empty() && subject.email().empty() && subject.phone().empty()) {
    errors.Add(f, "must name the person: member_id, email or phone");
    return;
  }
  if (!subject.member_id().empty()) errors.RequireId(f + ".member_id", subject.member_id());
  if (!subject.email().empty() && !IsEmail(subject.email())) errors.Add(f + ".email", "must be an e-mail address");
  if (!subject.phone().empty() && !IsE164(subject.phone())) errors.Add(f + ".phone", "must be an E.164 number");
}

absl::Status CheckExportRequest(const care::common::v1::ExportPersonalDataRequest& request) {
  FieldErrors errors;
  CheckSubject(errors, "subject", request.subject());
  CheckReason(errors, request.reason());
  return errors.ToStatus();
}

absl::Status CheckErasureRequest(const care::common::v1::ErasePersonalDataRequest& request) {
  FieldErrors errors;
  errors.RequireId("erasure_id", request.erasure_id());
  CheckSubject(errors, "subject", request.subject());
  if (!IsPseudonym(request.pseudonym())) errors.Add("pseudonym", "must be \"erased-\" and 32 lowercase hex digits");
  CheckReason(errors, request.reason());
  return errors.ToStatus();
}

bool IsPseudonym(absl::string_view s) {
  if (!absl::StartsWith(s, kPseudonymPrefix)) return false;
  absl::string_view hex = s.substr(kPseudonymPrefix.size());
  return hex.size() == 32 && hex.find_first_not_of(kLowerHex) == absl::string_view::npos;
}

std::string NewPseudonym() { return absl::StrCat(kPseudonymPrefix, RandomToken(32, kLowerHex)); }

std::string SubjectDigest(absl::string_view key) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(key.data(), key.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    std::abort();  // only if OpenSSL has no SHA-256: a tombstone could not be matched
  }
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), len));
}

absl::Status EraseCommonRecords(Txn& txn, const std::vector<std::string>& keys, absl::Time now,
                                care::common::v1::ErasureReceipt& receipt) {
  auto& erased = *receipt.mutable_erased();
  for (const std::string& key : keys) {
    auto answers = txn.Exec("DELETE FROM idempotency_records WHERE subject = ?1", key);
    if (!answers.ok()) return answers.status();
    auto events = txn.Exec("DELETE FROM outbox WHERE subject = ?1", key);
    if (!events.ok()) return events.status();
    erased["idempotency_record"] += *answers;
    erased["outbox_event"] += *events;
    auto tomb = txn.Exec("INSERT INTO erased_subjects (digest, erased_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                         SubjectDigest(key), absl::ToUnixMicros(now));
    if (!tomb.ok()) return tomb.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> IsErased(Txn& txn, const std::vector<std::string>& keys) {
  for (const std::string& key : keys) {
    auto found = Exists(txn.Query("SELECT 1 FROM erased_subjects WHERE digest = ?1", SubjectDigest(key)));
    if (!found.ok()) return found.status();
    if (*found) return true;
  }
  return false;
}

absl::Status RefuseIfErased(Txn& txn, const std::vector<std::string>& keys) {
  auto erased = IsErased(txn, keys);
  if (!erased.ok()) return erased.status();
  if (*erased) return FailedPrecondition("SUBJECT_ERASED", "this person's data was erased; it is not re-created");
  return absl::OkStatus();
}

}  // namespace care
