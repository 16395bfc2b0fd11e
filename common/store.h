#pragma once

// The storage shape every service shares, with no SQL in it: a service
// declares its own transaction interface (`StoreTxn`, deriving from
// IdempotencyTxn) and its store is a TransactionalStore of it. The SQLite
// implementations are SqliteStoreOf (sqlite.h) and SqliteTxnBase
// (idempotency.h).

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace care {

// Whose keys an idempotency record is filed under (issue 16, defect 4). A
// request id or an event id is chosen by its caller, so it is the caller's
// own: `owner` is the authenticated principal's name and two principals
// never see each other's ids (no pre-claiming, no REQUEST_ID_REUSED telling
// one that the other used an id). Events arrive under the sending service's
// principal, so event ids are scoped by source service. kSharedKeys is for
// natural keys (an order id names the same order whoever reports it): those
// stay shared and are kept for good.
inline constexpr absl::string_view kSharedKeys = "";
struct IdempotencyKey {
  absl::string_view owner;
  absl::string_view scope;  // usually the method name
  absl::string_view key;    // request id, event id or natural key
};

// The authenticated principal of the call this thread serves ("" on a
// thread serving none: jobs). RpcRuntime sets it around a unary handler. Read
// it on that thread, before a store transaction: transactions run on the
// database's writer thread, which serves no call.
class CallerIdentity final {
 public:
  explicit CallerIdentity(const std::string& principal);
  ~CallerIdentity();
  CallerIdentity(const CallerIdentity&) = delete;
  CallerIdentity& operator=(const CallerIdentity&) = delete;
  static const std::string& Current();

 private:
  const std::string* previous_;
};

// AIP-155 inside a write transaction: Replay fills `response` with the first
// answer given for `key` and returns true; Remember stores the answer.
class IdempotencyTxn {
 public:
  virtual ~IdempotencyTxn() = default;
  virtual absl::StatusOr<bool> Replay(const IdempotencyKey& key, const google::protobuf::Message& request,
                                      google::protobuf::Message* response) = 0;
  virtual absl::Status Remember(const IdempotencyKey& key, const google::protobuf::Message& request,
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
// stored for (caller, scope, request_id) or runs `fn(tx, response)` and
// remembers its answer. A retry therefore changes nothing and gets the first
// answer. The caller is CallerIdentity::Current(), read here on the calling
// thread.
template <typename Response, typename StoreTxn, typename Fn>
absl::StatusOr<Response> WriteOnce(TransactionalStore<StoreTxn>& store, absl::string_view scope,
                                   absl::string_view request_id, const google::protobuf::Message& request, Fn fn) {
  const std::string owner = CallerIdentity::Current();
  const IdempotencyKey key{owner, scope, request_id};
  Response response;
  absl::Status s = store.Write([&](StoreTxn& tx) -> absl::Status {
    response.Clear();
    auto replayed = tx.Replay(key, request, &response);
    if (!replayed.ok()) return replayed.status();
    if (*replayed) return absl::OkStatus();
    if (absl::Status done = fn(tx, response); !done.ok()) return done;
    return tx.Remember(key, request, response);
  });
  if (!s.ok()) return s;
  return response;
}

}  // namespace care
