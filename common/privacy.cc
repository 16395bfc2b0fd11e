#include "common/privacy.h"

#include <openssl/evp.h>

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/hmac.h"
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
  if (subject.member_id().empty() && subject.email().empty() && subject.phone().empty() &&
      subject.contact_ids().empty()) {
    errors.Add(f, "must name the person: member_id, email, phone or contact_ids");
    return;
  }
  if (!subject.member_id().empty()) errors.RequireId(f + ".member_id", subject.member_id());
  if (!subject.email().empty() && !IsEmail(subject.email())) errors.Add(f + ".email", "must be an e-mail address");
  if (!subject.phone().empty() && !IsE164(subject.phone())) errors.Add(f + ".phone", "must be an E.164 number");
  if (subject.contact_ids_size() > kMaxSubjectContactIds) {
    errors.Add(f + ".contact_ids", absl::StrCat("at most ", kMaxSubjectContactIds, " contact ids"));
    return;
  }
  for (const std::string& id : subject.contact_ids()) errors.RequireId(f + ".contact_ids", id);
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

absl::StatusOr<TaggedDeleted> DeleteTagged(Txn& txn, const std::string& key, TaggedEvents events) {
  TaggedDeleted out;
  auto answers = txn.Exec("DELETE FROM idempotency_records WHERE subject = ?1", key);
  if (!answers.ok()) return answers.status();
  out.idempotency_records = *answers;
  if (events == TaggedEvents::kDelivered) {
    auto owed = txn.Exec("UPDATE outbox SET scrub_when_delivered = 1 WHERE subject = ?1 AND delivered_at IS NULL", key);
    if (!owed.ok()) return owed.status();
  }
  auto deleted = txn.Exec(events == TaggedEvents::kAll
                              ? "DELETE FROM outbox WHERE subject = ?1"
                              : "DELETE FROM outbox WHERE subject = ?1 AND delivered_at IS NOT NULL",
                          key);
  if (!deleted.ok()) return deleted.status();
  out.outbox_events = *deleted;
  return out;
}

SubjectDigests::SubjectDigests(const std::vector<NamedKey>& keys) {
  for (const NamedKey& k : keys) keys_.push_back(Keyed{k.id, std::make_unique<HmacSha256Key>(k.secret)});
  if (keys_.empty()) std::abort();  // a programming error: services refuse to start without a key
}

std::string SubjectDigests::DigestUnder(const Keyed& k, absl::string_view plain) {
  return absl::StrCat(k.id, ":", absl::BytesToHexString(k.key->Mac(plain)));
}

std::string SubjectDigests::Rewrap(absl::string_view legacy_digest) const {
  return DigestUnder(keys_.front(), legacy_digest);
}

std::string SubjectDigests::Digest(absl::string_view key) const { return Rewrap(SubjectDigest(key)); }

std::vector<std::string> SubjectDigests::Candidates(absl::string_view key) const {
  std::string plain = SubjectDigest(key);
  std::vector<std::string> out;
  out.reserve(keys_.size() + 1);
  for (const Keyed& k : keys_) out.push_back(DigestUnder(k, plain));
  out.push_back(std::move(plain));
  return out;
}

absl::Status EraseCommonRecords(Txn& txn, const SubjectDigests& digests, const std::vector<std::string>& keys,
                                absl::Time now, care::common::v1::ErasureReceipt& receipt) {
  auto& erased = *receipt.mutable_erased();
  for (const std::string& key : keys) {
    auto deleted = DeleteTagged(txn, key, TaggedEvents::kAll);
    if (!deleted.ok()) return deleted.status();
    erased["idempotency_record"] += deleted->idempotency_records;
    erased["outbox_event"] += deleted->outbox_events;
    const std::string digest = digests.Digest(key);
    auto tomb = txn.Exec("INSERT INTO erased_subjects (digest, erased_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                         digest, absl::ToUnixMicros(now));
    if (!tomb.ok()) return tomb.status();
    // Audit entries stay (who did what, when, why) but name the person as
    // the tombstone does: a change's target "member:<id>" is the key itself,
    // an export's was the unkeyed digest in older releases.
    auto audited = txn.Exec("UPDATE audit_log SET target = ?1 WHERE target = ?2 OR target = ?3",
                            absl::StrCat("subject:", digest), key, absl::StrCat("subject:", SubjectDigest(key)));
    if (!audited.ok()) return audited.status();
    if (*audited > 0) (*receipt.mutable_deidentified())["audit_entry"] += *audited;
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> IsErased(Txn& txn, const SubjectDigests& digests, const std::vector<std::string>& keys) {
  std::vector<std::string> candidates;
  for (const std::string& key : keys) {
    for (std::string& c : digests.Candidates(key)) candidates.push_back(std::move(c));
  }
  if (candidates.empty()) return false;
  return Exists(txn.Query("SELECT 1 FROM erased_subjects WHERE digest IN (SELECT value FROM json_each(?1))",
                          JsonArray(candidates)));
}

absl::Status RefuseIfErased(Txn& txn, const SubjectDigests& digests, const std::vector<std::string>& keys) {
  auto erased = IsErased(txn, digests, keys);
  if (!erased.ok()) return erased.status();
  if (*erased) return FailedPrecondition("SUBJECT_ERASED", "this person's data was erased; it is not re-created");
  return absl::OkStatus();
}

absl::StatusOr<int64_t> RewrapLegacyTombstones(Database& db, const SubjectDigests& digests) {
  int64_t rewrapped = 0;
  absl::Status s = db.Write([&](Txn& txn) -> absl::Status {
    rewrapped = 0;
    auto legacy = Collect<std::pair<std::string, int64_t>>(
        txn.Query("SELECT digest, erased_at FROM erased_subjects WHERE digest NOT LIKE '%:%'"),
        [](const Statement& st) { return std::make_pair(st.Text(0), st.Int(1)); });
    if (!legacy.ok()) return legacy.status();
    for (const auto& [digest, erased_at] : *legacy) {
      auto put = txn.Exec("INSERT INTO erased_subjects (digest, erased_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                          digests.Rewrap(digest), erased_at);
      if (!put.ok()) return put.status();
      auto drop = txn.Exec("DELETE FROM erased_subjects WHERE digest = ?1", digest);
      if (!drop.ok()) return drop.status();
      ++rewrapped;
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return rewrapped;
}

std::string Pseudonymised(absl::string_view text, absl::string_view member_id, absl::string_view pseudonym) {
  if (member_id.empty()) return std::string(text);
  return absl::StrReplaceAll(text, {{member_id, pseudonym}});
}

}  // namespace care
