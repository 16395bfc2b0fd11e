#include "common/idempotency.h"

#include <openssl/evp.h>

#include <cstdlib>

#include "common/clock.h"
#include "common/errors.h"
#include "common/hash.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace care {
namespace {

std::string DeterministicBytes(const google::protobuf::Message& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream out(&bytes);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return bytes;
}

absl::Status Reused(const Once& once) {
  return Error(absl::StatusCode::kAlreadyExists, "REQUEST_ID_REUSED",
               "this request id was already used for a different request", {{"key", once.key}});
}

absl::StatusOr<bool> ParseStored(const std::string& bytes, google::protobuf::Message* response) {
  if (!response->ParseFromString(bytes)) return absl::InternalError("stored response unreadable");
  return true;
}

}  // namespace

std::string RequestSha256(const google::protobuf::Message& message) {
  const std::string bytes = DeterministicBytes(message);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    std::abort();  // only if OpenSSL has no SHA-256: nothing could be compared
  }
  return std::string(reinterpret_cast<char*>(digest), len);
}

int64_t StableMessageHash(const google::protobuf::Message& message) {
  return static_cast<int64_t>(StableHash64(DeterministicBytes(message)));
}

RequestFingerprint FingerprintOf(const google::protobuf::Message& request) {
  return RequestFingerprint{RequestSha256(request), StableMessageHash(request)};
}

absl::StatusOr<bool> Replay(Txn& txn, const Once& once, google::protobuf::Message* response) {
  auto stmt = txn.Query(
      "SELECT request_sha256, legacy_hash, response FROM idempotency_records "
      "WHERE owner = ?1 AND scope = ?2 AND key = ?3",
      once.owner, once.scope, once.key);
  if (!stmt.ok()) return stmt.status();
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  if (*row) {
    const bool same = stmt->IsNull(0) ? stmt->Int(1) == once.request.legacy : stmt->Bytes(0) == once.request.sha256;
    if (!same) return Reused(once);
    return ParseStored(stmt->Bytes(2), response);
  }
  if (once.owner == kSharedKeys) return false;
  // A pre-upgrade row does not say whose it was: the same request under its
  // key is a retry made across the upgrade and gets its answer; any other
  // request is someone else's business, neither refused nor told.
  auto legacy = txn.Query(
      "SELECT legacy_hash, response FROM idempotency_records "
      "WHERE owner = '' AND scope = ?1 AND key = ?2 AND legacy_hash IS NOT NULL",
      once.scope, once.key);
  if (!legacy.ok()) return legacy.status();
  auto old = legacy->Step();
  if (!old.ok()) return old.status();
  if (!*old || legacy->Int(0) != once.request.legacy) return false;
  return ParseStored(legacy->Bytes(1), response);
}

absl::Status Remember(Txn& txn, const Once& once, const google::protobuf::Message& response) {
  if (once.audit) {
    if (absl::Status s = WriteAudit(txn, *once.audit); !s.ok()) return s;
  }
  return txn
      .Exec(
          "INSERT INTO idempotency_records (owner, scope, key, request_sha256, response, created_at, subject) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
          once.owner, once.scope, once.key, Blob{once.request.sha256}, Blob{response.SerializeAsString()},
          absl::ToUnixMicros(RecordClock().Now()), once.subject)
      .status();
}

absl::StatusOr<int64_t> PurgeIdempotencyBefore(Txn& txn, absl::Time cutoff, int limit) {
  // `owner <> ''` as in the partial index idempotency_records_age, which
  // keeps each batch a range scan.
  return txn.Exec(
      "DELETE FROM idempotency_records WHERE (owner, scope, key) IN (SELECT owner, scope, key "
      "FROM idempotency_records WHERE owner <> '' AND created_at < ?1 LIMIT ?2)",
      absl::ToUnixMicros(cutoff), static_cast<int64_t>(limit));
}

}  // namespace care
