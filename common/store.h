#pragma once

// The storage shape every service shares, with no SQL in it: a service
// declares its own transaction interface (`StoreTxn`, deriving from
// IdempotencyTxn) and its store is a TransactionalStore of it. The SQLite
// implementations are SqliteStoreOf (sqlite.h) and SqliteTxnBase
// (idempotency.h).

#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace care {

// AIP-155 inside a write transaction: Replay fills `response` with the first
// answer given for (scope, key) and returns true; Remember stores the answer.
class IdempotencyTxn {
 public:
  virtual ~IdempotencyTxn() = default;
  virtual absl::StatusOr<bool> Replay(absl::string_view scope, absl::string_view key,
                                      const google::protobuf::Message& request,
                                      google::protobuf::Message* response) = 0;
  virtual absl::Status Remember(absl::string_view scope, absl::string_view key,
                                const google::protobuf::Message& request,
                                const google::protobuf::Message& response) = 0;
};

template <typename StoreTxn>
class TransactionalStore {
 public:
  virtual ~TransactionalStore() = default;
  // Runs `fn` in a write transaction, answered once durable; a non-OK
  // status from `fn` leaves nothing behind.
  virtual absl::Status Write(const std::function<absl::Status(StoreTxn&)>& fn) = 0;
  // Runs `fn` on a consistent read-only snapshot.
  virtual absl::Status Read(const std::function<absl::Status(StoreTxn&)>& fn) = 0;
};

}  // namespace care
