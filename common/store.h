#pragma once

// The storage shape every service shares, with no SQL in it: a service
// declares its own transaction interface (`StoreTxn`, deriving from
// ServiceTxn) and its store is a TransactionalStore of it. The SQL
// implementations, for SQLite and PostgreSQL alike, are SqlStoreOf (sql.h)
// and SqlTxnBase (idempotency.h).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace care {

// Whose keys an idempotency record is filed under. A request id or an event
// id is chosen by its caller, so it is the caller's own: `owner` is the
// authenticated principal's name and two principals never see each other's
// ids (no pre-claiming, no REQUEST_ID_REUSED telling one that the other used
// an id). Events arrive under the sending service's principal, so event ids
// are scoped by source service. kSharedKeys is for natural keys (an order id
// names the same order whoever reports it): those stay shared and are kept
// for good.
inline constexpr absl::string_view kSharedKeys = "";

// What a retry must repeat: the request, fingerprinted by the adapter so
// that the domain never needs the wire request.
struct RequestFingerprint {
  std::string sha256;  // SHA-256 (32 raw bytes) of the deterministic serialization
  int64_t legacy = 0;  // its 64-bit FNV-1a hash: only to read pre-upgrade records
};
RequestFingerprint FingerprintOf(const google::protobuf::Message& request);  // idempotency.cc

// One entry of the audit log (common/audit.h): who did what to which
// target and why. No personal data beyond the target's id.
struct AuditRecord {
  std::string principal;    // the authenticated caller
  std::string action;       // full gRPC method, "/care.loyalty.v1.LoyaltyService/UpdateMember"
  std::string target;       // "member:<id>", "template:<key>", "settings"...
  std::string reason;       // the request's reason or its care-reason header; "" = not given
  std::string detail = {};  // short and non-personal
};

// One idempotent mutation: who asks (owner), what (scope, usually the
// method name), under which id (request id, event id or natural key), and
// the request's fingerprint. The adapter builds it (OnceFor / SharedOnce in
// rpc.h); the domain passes it to WriteOnce.
struct Once {
  std::string owner;
  std::string scope;
  std::string key;
  RequestFingerprint request;
  // The person the stored answer is about (common/privacy.h: MemberSubject,
  // EmailSubject, PhoneSubject), or a record of theirs that erasure walks
  // (complaint files answers under their ticket), so erasure finds and
  // deletes it (DeleteTagged); empty when it names nobody.
  std::string subject = {};
  // Set for a change the audit log records: Remember writes it in the
  // change's transaction, so the change exists if and only if its entry
  // does (a replayed retry is no change and writes none).
  std::optional<AuditRecord> audit = std::nullopt;
};

// AIP-155 inside a write transaction: Replay fills `response` with the first
// answer given for `once` and returns true (ALREADY_EXISTS, reason
// REQUEST_ID_REUSED, when the key was used for a different request);
// Remember stores the answer.
class IdempotencyTxn {
 public:
  virtual ~IdempotencyTxn() = default;
  virtual absl::StatusOr<bool> Replay(const Once& once, google::protobuf::Message* response) = 0;
  virtual absl::Status Remember(const Once& once, const google::protobuf::Message& response) = 0;
};

// An event for another service, written in the sender's transaction and
// delivered by the OutboxRelay (outbox.h) as a gRPC call whose request is
// `payload`. Payloads are built by clients/<receiver>/.
struct OutboxEvent {
  std::string event_id;     // unique; the receiver deduplicates on it
  std::string destination;  // a peer name known to the relay's sender
  std::string method;       // "/care.notification.v1.NotificationService/IngestEvent"
  std::string payload;      // the serialized request
  // The W3C traceparent the event continues; empty = the context current
  // when it is enqueued (common/trace.h). Sent with the delivery.
  std::string traceparent = {};
  // The person the payload is about (common/privacy.h), or a record of
  // theirs as for Once::subject, so erasure deletes the row; empty when it
  // names nobody.
  std::string subject = {};
  // Blank the payload once delivered: for a payload that must travel but not
  // stay (an erasure request names the person it erases).
  bool scrub_when_delivered = false;
};

// The one way an event leaves a service: Enqueue, in the transaction that
// made the change it reports, so both commit or neither does.
class OutboxTxn {
 public:
  virtual ~OutboxTxn() = default;
  virtual absl::Status Enqueue(const OutboxEvent& event) = 0;
};

// Writes an audit entry in the transaction (a bulk read's, written as the
// read starts; a change's travels in Once::audit).
class AuditTxn {
 public:
  virtual ~AuditTxn() = default;
  virtual absl::Status Audit(const AuditRecord& record) = 0;
};

// What every service's transaction interface (`StoreTxn`) derives from.
class ServiceTxn : public IdempotencyTxn, public OutboxTxn, public AuditTxn {};

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
// stored for `once` or runs `fn(tx, response)` and remembers its answer. A
// retry therefore changes nothing and gets the first answer; a failing `fn`
// leaves nothing behind.
template <typename Response, typename StoreTxn, typename Fn>
absl::StatusOr<Response> WriteOnce(TransactionalStore<StoreTxn>& store, const Once& once, Fn fn) {
  Response response;
  absl::Status s = store.Write([&](StoreTxn& tx) -> absl::Status {
    response.Clear();
    auto replayed = tx.Replay(once, &response);
    if (!replayed.ok()) return replayed.status();
    if (*replayed) return absl::OkStatus();
    if (absl::Status done = fn(tx, response); !done.ok()) return done;
    return tx.Remember(once, response);
  });
  if (!s.ok()) return s;
  return response;
}

// Records a bulk read of personal data as it starts, in a write transaction
// of its own: the read goes on only once its entry is durable.
template <typename StoreTxn>
absl::Status AuditRead(TransactionalStore<StoreTxn>& store, const AuditRecord& record) {
  return store.Write([&](StoreTxn& tx) { return tx.Audit(record); });
}

}  // namespace care
