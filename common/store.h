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

// One idempotent mutation: in a single write transaction, replays the answer
// stored for (scope, request_id) or runs `fn(tx, response)` and remembers
// its answer. A retry therefore changes nothing and gets the first answer.
template <typename Response, typename StoreTxn, typename Fn>
absl::StatusOr<Response> WriteOnce(TransactionalStore<StoreTxn>& store, absl::string_view scope,
                                   absl::string_view request_id, const google::protobuf::Message& request, Fn fn) {
  Response response;
  absl::Status s = store.Write([&](StoreTxn& tx) -> absl::Status {
    response.Clear();
    auto replayed = tx.Replay(scope, request_id, request, &response);
    if (!replayed.ok()) return replayed.status();
    if (*replayed) return absl::OkStatus();
    if (absl::Status done = fn(tx, response); !done.ok()) return done;
    return tx.Remember(scope, request_id, request, response);
  });
  if (!s.ok()) return s;
  return response;
}

}  // namespace care
