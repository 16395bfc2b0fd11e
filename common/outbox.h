#pragma once

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/sql.h"
#include "common/store.h"  // OutboxEvent

namespace care {

class ReloadingSecret;  // common/tokens_watch.h

// Adds `event` to the outbox inside the caller's write transaction, so the
// event exists if and only if the state change it announces committed.
absl::Status EnqueueOutbox(Txn& txn, const OutboxEvent& event);

// Delivers one event; the relay retries what fails with a retryable status.
// On success `response` (when not null) receives the receiver's serialized
// response, which an outcome handler may read (OutboxRelay::OnOutcome).
class OutboxSender {
 public:
  virtual ~OutboxSender() = default;
  virtual absl::Status Send(const OutboxEvent& event, std::string* response) = 0;
};

// What the relay does with a delivery attempt's status.
enum class DeliveryVerdict { kDelivered, kRetry, kDead };

// Only a receiver's domain refusal is final: INVALID_ARGUMENT,
// FAILED_PRECONDITION or NOT_FOUND carrying the receiver's own ErrorInfo
// reason (a dead event is listed and replayable; retrying it forever would
// hold back the destination's later events). Anything else (the peer down,
// not configured yet, a wrong or rotated token, a method it does not serve
// yet, an error without a reason) can be fixed by
// configuration or time, so the event waits and is retried with backoff.
DeliveryVerdict ClassifyDelivery(const absl::Status& status);

// Reasons the sender makes up itself (not the receiver's): never final.
inline constexpr char kUnknownDestination[] = "UNKNOWN_DESTINATION";

// A peer service: its channel and the bearer token presented to it (from
// `token_source` when set: the token file re-read, so rotation needs no restart).
struct Peer {
  std::shared_ptr<grpc::Channel> channel;
  std::string token;
  std::shared_ptr<ReloadingSecret> token_source = nullptr;
};

// Creates a channel to `target` ("host:port" or a target URI listing
// replicas, balanced as DialPeer does); TLS with the system roots when `tls` is set.
std::shared_ptr<grpc::Channel> Dial(const std::string& target, bool tls = false);
// A client context carrying the bearer token and a deadline.
std::unique_ptr<grpc::ClientContext> PeerContext(const Peer& peer, absl::Duration timeout);

// Sends events as raw gRPC calls (the payload is already the request), so
// the relay needs no knowledge of the receivers' contracts.
class GrpcOutboxSender final : public OutboxSender {
 public:
  explicit GrpcOutboxSender(std::map<std::string, Peer> peers, absl::Duration timeout = absl::Seconds(5));
  absl::Status Send(const OutboxEvent& event, std::string* response) override;

 private:
  std::map<std::string, Peer> peers_;
  std::map<std::string, std::unique_ptr<grpc::GenericStub>> stubs_;
  absl::Duration timeout_;
};

// Runs in the relay's write transaction when an event of a registered method
// reaches its end: `result` OK with the receiver's `response`, or the
// receiver's final refusal (the event is marked dead). A non-OK return rolls
// the outcome back and the event is sent again (receivers deduplicate).
using OutboxOutcomeHandler = std::function<absl::Status(Txn& txn, const OutboxEvent& event, const absl::Status& result,
                                                        const std::string& response)>;

struct RelayOptions {
  int batch = 200;
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(30);
};

// Delivers pending events in order per destination. A retryable failure
// (see ClassifyDelivery) holds that destination back with exponential backoff
// (capped at max_backoff) and jitter; the event stays until delivered. A
// receiver's domain refusal marks the event dead and logs it, so one poisoned
// event cannot block the rest; dead events are listed and replayed by an
// admin (ListDeadOutbox, ReplayDeadOutbox; care.common.v1.OutboxAdmin).
// Backoff uses the wall clock: it paces retries, it is not business time.
class OutboxRelay final {
 public:
  OutboxRelay(Database& db, OutboxSender& sender, RelayOptions options = {});
  // One pass; true when more events are due right away. Run it as a job.
  bool RunOnce();
  // Events not yet delivered (dead ones excluded).
  absl::StatusOr<int64_t> Backlog();
  // Hands the outcome of every event of `method` back to the source service
  // (e.g. the receiver's reference for what it created). Register before the
  // relay runs.
  void OnOutcome(const std::string& method, OutboxOutcomeHandler handler);

 private:
  struct Pending {
    int64_t seq;
    OutboxEvent event;
    int64_t attempts;
    int64_t next_attempt_at;  // unix micros
  };
  // Each destination's oldest undelivered events (at most `batch` each).
  absl::StatusOr<std::vector<Pending>> ReadPending();
  // How many events wait, and when the oldest was written (unix micros).
  struct PendingOutbox {
    int64_t count = 0;
    int64_t oldest_micros = 0;
  };
  absl::StatusOr<PendingOutbox> PendingStats();
  // Sends `r` and records the verdict; an error is the record's failure.
  absl::StatusOr<DeliveryVerdict> Deliver(const Pending& r);
  absl::Status MarkDelivered(const Pending& r, const absl::Status& sent, const std::string& response);
  absl::Status ScheduleRetry(const Pending& r, const absl::Status& sent);
  absl::Status MarkDead(const Pending& r, const absl::Status& sent, const std::string& response);
  // The wait before retrying an event tried `attempts` times: exponential,
  // capped at max_backoff, with jitter.
  absl::Duration Backoff(int64_t attempts) const;
  absl::Status RunHandler(Txn& txn, const OutboxEvent& event, const absl::Status& result, const std::string& response);

  Database& db_;
  OutboxSender& sender_;
  RelayOptions options_;
  std::map<std::string, OutboxOutcomeHandler> handlers_;
  // Refreshes care_outbox_backlog at scrape time (one COUNT then, none per pass).
  std::unique_ptr<metrics::Registry::Collector> backlog_metric_;
};

// Deletes at most `limit` events delivered before `cutoff` (their
// delivered_at, stamped by RecordClock); pending and dead events are never
// purged. Returns how many went.
absl::StatusOr<int64_t> PurgeDeliveredOutboxBefore(Txn& txn, absl::Time cutoff, int limit);

// A dead event as an admin sees it.
struct DeadOutboxEvent {
  int64_t seq = 0;
  OutboxEvent event;
  int64_t attempts = 0;
  std::string last_error;
  int64_t created_micros = 0;
};

// Dead events with seq > `after_seq`, oldest first, at most `limit`;
// `destination` empty = every destination.
absl::StatusOr<std::vector<DeadOutboxEvent>> ListDeadOutbox(Txn& txn, const std::string& destination, int64_t after_seq,
                                                            int limit);
// Puts dead events back in line, due now with a fresh backoff: the listed
// `event_ids`, or every dead event of `destination` when none is listed
// (both empty: every dead event). Returns the ids replayed; ids that are not
// dead are skipped.
absl::StatusOr<std::vector<std::string>> ReplayDeadOutbox(Txn& txn, const std::vector<std::string>& event_ids,
                                                          const std::string& destination);

}  // namespace care
