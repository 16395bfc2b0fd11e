#pragma once


#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"
#include "common/sqlite.h"
#include "google/protobuf/message.h"

namespace care {

// Idempotent mutations (AIP-155): inside a write transaction, Replay fills
// `response` with the first answer given for (scope, key) and returns true;
// Remember stores the answer after the mutation. A key reused with a
// different request is ALREADY_EXISTS, reason REQUEST_ID_REUSED.
absl::StatusOr<bool> Replay(Txn& txn, absl::string_view scope, absl::string_view key,
                            const google::protobuf::Message& request,
                            google::protobuf::Message* response);
absl::Status Remember(Txn& txn, absl::string_view scope, absl::string_view key,
                      const google::protobuf::Message& request,
                      const google::protobuf::Message& response);

// FNV-1a over the deterministic serialization of `message`: stable across
// restarts and builds (std::hash is not). Fingerprints requests for the
// above and for page tokens.
int64_t StableMessageHash(const google::protobuf::Message& message);

// The SQLite side of IdempotencyTxn (common/store.h): a service's SqliteTxn
// derives from SqliteTxnBase<StoreTxn> and uses `txn_` for its own queries.
template <typename StoreTxn>
class SqliteTxnBase : public StoreTxn {
 public:
  explicit SqliteTxnBase(Txn& txn) : txn_(txn) {}
  absl::StatusOr<bool> Replay(absl::string_view scope, absl::string_view key, const google::protobuf::Message& request,
                              google::protobuf::Message* response) override {
    return care::Replay(txn_, scope, key, request, response);
  }
  absl::Status Remember(absl::string_view scope, absl::string_view key, const google::protobuf::Message& request,
                        const google::protobuf::Message& response) override {
    return care::Remember(txn_, scope, key, request, response);
  }

 protected:
  Txn& txn_;
};


}  // namespace care
