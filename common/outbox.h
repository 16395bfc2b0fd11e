#pragma once

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/sqlite.h"

namespace care {

struct OutboxEvent {
  std::string event_id;     // unique; the receiver deduplicates on it
  std::string destination;  // a peer name known to the relay's sender
  std::string method;       // "/care.notification.v1.NotificationService/IngestEvent"
  std::string payload;      // the serialized request
};

// Adds `event` to the outbox inside the caller's write transaction, so the
// event exists if and only if the state change it announces committed.
absl::Status EnqueueOutbox(Txn& txn, const OutboxEvent& event);

// Delivers one event; the relay retries what fails with a retryable status.
class OutboxSender {
 public:
  virtual ~OutboxSender() = default;
  virtual absl::Status Send(const OutboxEvent& event) = 0;
};

// A peer service: its channel and the bearer token presented to it.
struct Peer {
  std::shared_ptr<grpc::Channel> channel;
  std::string token;
};

// Creates a channel to `target` ("host:port"); TLS when `tls` is set.
std::shared_ptr<grpc::Channel> Dial(const std::string& target, bool tls = false);
// A client context carrying the bearer token and a deadline.
std::unique_ptr<grpc::ClientContext> PeerContext(const Peer& peer, absl::Duration timeout);

// Sends events as raw gRPC calls (the payload is already the request), so
// the relay needs no knowledge of the receivers' contracts.
class GrpcOutboxSender final : public OutboxSender {
 public:
  explicit GrpcOutboxSender(std::map<std::string, Peer> peers, absl::Duration timeout = absl::Seconds(5));
  absl::Status Send(const OutboxEvent& event) override;

 private:
  std::map<std::string, Peer> peers_;
  std::map<std::string, std::unique_ptr<grpc::GenericStub>> stubs_;
  absl::Duration timeout_;
};

struct RelayOptions {
  int batch = 200;
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(30);
};

// Delivers pending events in order per destination. A retryable failure
// (the peer is down, overloaded, timed out) holds that destination back with
// exponential backoff and jitter; the event stays until delivered. A
// permanent refusal (the receiver says the request is invalid) marks the
// event dead and logs it, so one poisoned event cannot block the rest.
// Backoff uses the wall clock: it paces retries, it is not business time.
class OutboxRelay final {
 public:
  OutboxRelay(Database& db, OutboxSender& sender, RelayOptions options = {});
  // One pass; true when more events are due right away. Run it as a job.
  bool RunOnce();
  // Events not yet delivered (dead ones excluded).
  absl::StatusOr<int64_t> Backlog();

 private:
  Database& db_;
  OutboxSender& sender_;
  RelayOptions options_;
  // Refreshes care_outbox_backlog at scrape time (one COUNT then, none per pass).
  std::unique_ptr<metrics::Registry::Collector> backlog_metric_;
};

}  // namespace care
