#include "common/idempotency.h"

#include "absl/time/clock.h"
#include "common/errors.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace care {

int64_t StableMessageHash(const google::protobuf::Message& request) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream out(&bytes);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    request.SerializeToCodedStream(&coded);
  }
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return static_cast<int64_t>(h);
}

absl::StatusOr<bool> Replay(Txn& txn, absl::string_view scope, absl::string_view key,
                            const google::protobuf::Message& request,
                            google::protobuf::Message* response) {
  auto stmt = txn.Query("SELECT request_hash, response FROM idempotency WHERE scope = ?1 AND key = ?2",
                        scope, key);
  if (!stmt.ok()) return stmt.status();
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return false;
  if (stmt->Int(0) != StableMessageHash(request)) {
    return Error(absl::StatusCode::kAlreadyExists, "REQUEST_ID_REUSED",
                 "this request id was already used for a different request",
                 {{"key", std::string(key)}});
  }
  if (!response->ParseFromString(stmt->Bytes(1))) return absl::InternalError("stored response unreadable");
  return true;
}

absl::Status Remember(Txn& txn, absl::string_view scope, absl::string_view key,
                      const google::protobuf::Message& request,
                      const google::protobuf::Message& response) {
  return txn
      .Exec("INSERT INTO idempotency (scope, key, request_hash, response, created_at) "
            "VALUES (?1, ?2, ?3, ?4, ?5)",
            scope, key, StableMessageHash(request), Blob{response.SerializeAsString()},
            absl::ToUnixMicros(absl::Now()))
      .status();
}

}  // namespace care
