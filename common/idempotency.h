#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/sql.h"
#include "common/store.h"
#include "google/protobuf/message.h"

namespace care {

// Idempotent mutations (AIP-155) in SQL: inside a write transaction,
// Replay fills `response` with the first answer given for `once` and returns
// true; Remember stores the answer after the mutation. A key reused by its
// owner with a different request is ALREADY_EXISTS, reason REQUEST_ID_REUSED.
absl::StatusOr<bool> Replay(Txn& txn, const Once& once, google::protobuf::Message* response);
absl::Status Remember(Txn& txn, const Once& once, const google::protobuf::Message& response);

// Adds `event` to the outbox inside the caller's write transaction, so the
// event exists if and only if the state change it announces committed
// (outbox.cc; the relay is in outbox.h).
absl::Status EnqueueOutbox(Txn& txn, const OutboxEvent& event);

// Appends `record` to the audit log inside the caller's write transaction,
// dated by RecordClock (audit.cc).
absl::Status WriteAudit(Txn& txn, const AuditRecord& record);

// Deletes at most `limit` principal-owned records created before `cutoff`
// (natural keys are kept); returns how many went.
absl::StatusOr<int64_t> PurgeIdempotencyBefore(Txn& txn, absl::Time cutoff, int limit);

// SHA-256 (32 raw bytes) of the deterministic serialization of `message`:
// what a stored answer is checked against, so a different request under the
// same key is told apart (a 64-bit FNV hash could be collided on purpose).
std::string RequestSha256(const google::protobuf::Message& message);

// FNV-1a over the deterministic serialization of `message`: stable across
// restarts and builds (std::hash is not). Binds page tokens to their filters
// (not a security boundary) and reads pre-upgrade idempotency rows.
int64_t StableMessageHash(const google::protobuf::Message& message);

// The SQL side of ServiceTxn (common/store.h), on either engine: a service's
// store transaction derives from SqlTxnBase<StoreTxn> and uses `txn_` for its
// own queries.
template <typename StoreTxn>
class SqlTxnBase : public StoreTxn {
 public:
  explicit SqlTxnBase(Txn& txn) : txn_(txn) {}
  absl::StatusOr<bool> Replay(const Once& once, google::protobuf::Message* response) override {
    return care::Replay(txn_, once, response);
  }
  absl::Status Remember(const Once& once, const google::protobuf::Message& response) override {
    return care::Remember(txn_, once, response);
  }
  absl::Status Enqueue(const OutboxEvent& event) override { return EnqueueOutbox(txn_, event); }
  absl::Status Audit(const AuditRecord& record) override { return WriteAudit(txn_, record); }

 protected:
  Txn& txn_;
};

}  // namespace care
