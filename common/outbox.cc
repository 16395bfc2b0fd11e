#include "common/outbox.h"

#include <grpcpp/security/credentials.h>

#include <future>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/tokens_watch.h"
#include "common/trace.h"

namespace care {
namespace {

int64_t NowMicros() { return absl::ToUnixMicros(absl::Now()); }

// "UNAVAILABLE: message [REASON]", without the binary payloads ToString() prints.
std::string Describe(const absl::Status& s) {
  return absl::StrCat(absl::StatusCodeToString(s.code()), ": ", s.message(), " [", ErrorReason(s), "]");
}

void ExportDeliverySpan(const TraceContext& trace, const OutboxEvent& event, const absl::Status& sent,
                        int64_t attempts) {
  if (!trace.span.sampled() || !TraceExporting()) return;
  SpanData span = SpanFrom(trace, "", SpanData::kClient);
  const int code = static_cast<int>(sent.code());
  SetRpcAttributes(span, event.method, code);
  span.string_attributes.emplace_back("care.outbox.event_id", event.event_id);
  span.string_attributes.emplace_back("care.outbox.destination", event.destination);
  span.int_attributes.emplace_back("care.outbox.attempt", attempts + 1);
  if (!sent.ok()) {
    span.status = SpanData::kError;
    span.status_message = Describe(sent);
  }
  ExportSpan(std::move(span));
}

}  // namespace

DeliveryVerdict ClassifyDelivery(const absl::Status& status) {
  if (status.ok()) return DeliveryVerdict::kDelivered;
  // NOT_FOUND with the receiver's reason (MEMBER_NOT_FOUND) is a domain
  // refusal too: retrying it forever would hold back every later event for
  // that destination, while a dead event is listed and can be replayed.
  if (status.code() != absl::StatusCode::kInvalidArgument && status.code() != absl::StatusCode::kFailedPrecondition &&
      status.code() != absl::StatusCode::kNotFound) {
    return DeliveryVerdict::kRetry;
  }
  // FromGrpcStatus names a reason-less peer error PEER_ERROR/PEER_UNAVAILABLE;
  // those, and what the sender says itself, are not the receiver's verdict.
  std::string reason = ErrorReason(status);
  if (reason.empty() || reason == "PEER_ERROR" || reason == "PEER_UNAVAILABLE" || reason == kUnknownDestination) {
    return DeliveryVerdict::kRetry;
  }
  return DeliveryVerdict::kDead;
}

absl::Status EnqueueOutbox(Txn& txn, const OutboxEvent& event) {
  int64_t now = NowMicros();
  // The span that made the change: the receiver's span continues its trace.
  std::string traceparent = event.traceparent.empty() ? CurrentTraceparent() : event.traceparent;
  return txn
      .Exec(
          "INSERT INTO outbox (event_id, destination, method, payload, created_at, next_attempt_at, traceparent, "
          "subject, scrub_when_delivered) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8)",
          event.event_id, event.destination, event.method, Blob{event.payload}, now, traceparent, event.subject,
          event.scrub_when_delivered)
      .status();
}

std::shared_ptr<grpc::Channel> Dial(const std::string& target, bool tls) {
  PeerTls peer;
  peer.enabled = tls;  // the system roots
  return DialPeer(target, peer);
}

std::unique_ptr<grpc::ClientContext> PeerContext(const Peer& peer, absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("authorization", absl::StrCat("Bearer ", peer.token_source ? peer.token_source->Get() : peer.token));
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
  // The peer's span continues the trace this thread works for.
  if (const TraceContext* trace = CurrentTrace()) {
    ctx->AddMetadata("traceparent", CurrentTraceparent());
    if (!trace->tracestate.empty()) ctx->AddMetadata("tracestate", trace->tracestate);
  }
  return ctx;
}

GrpcOutboxSender::GrpcOutboxSender(std::map<std::string, Peer> peers, absl::Duration timeout)
    : peers_(std::move(peers)), timeout_(timeout) {
  for (auto& [name, peer] : peers_) stubs_[name] = std::make_unique<grpc::GenericStub>(peer.channel);
}

absl::Status GrpcOutboxSender::Send(const OutboxEvent& event, std::string* response_bytes) {
  auto it = peers_.find(event.destination);
  if (it == peers_.end()) {
    // Not configured yet: the event waits until the service is restarted with it.
    return Unavailable(kUnknownDestination, absl::StrCat("no peer configured for ", event.destination));
  }
  auto ctx = PeerContext(it->second, timeout_);
  grpc::Slice slice(event.payload);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stubs_[event.destination]->UnaryCall(ctx.get(), event.method, grpc::StubOptions(), &request, &response,
                                       [&done](const grpc::Status& s) { done.set_value(s); });
  grpc::Status status = done.get_future().get();
  if (status.ok() && response_bytes != nullptr) {
    std::vector<grpc::Slice> slices;
    if (response.Dump(&slices).ok()) {
      response_bytes->clear();
      for (const grpc::Slice& sl : slices) response_bytes->append(reinterpret_cast<const char*>(sl.begin()), sl.size());
    }
  }
  return FromGrpcStatus(status);
}

OutboxRelay::OutboxRelay(Database& db, OutboxSender& sender, RelayOptions options)
    : db_(db), sender_(sender), options_(options) {
  backlog_metric_ = metrics::Registry::Global().OnCollect([this] {
    static auto& backlog = metrics::OutboxBacklog().With({});
    static auto& oldest_age = metrics::OutboxOldestPendingAge().With({});
    static auto& dead = metrics::OutboxDead().With({});
    if (auto pending = PendingStats(); pending.ok()) {
      backlog.Set(static_cast<double>(pending->count));
      // Both times are the wall clock (EnqueueOutbox stamps NowMicros()).
      oldest_age.Set(pending->count == 0
                         ? 0.0
                         : std::max(0.0, static_cast<double>(NowMicros() - pending->oldest_micros) / 1e6));
    }
    int64_t d = -1;
    absl::Status s = db_.Read([&](Txn& txn) -> absl::Status {
      auto stmt = txn.Query("SELECT COUNT(*) FROM outbox WHERE dead = 1");
      if (!stmt.ok()) return stmt.status();
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      d = stmt->Int(0);
      return absl::OkStatus();
    });
    if (s.ok()) dead.Set(static_cast<double>(d));
  });
}

void OutboxRelay::OnOutcome(const std::string& method, OutboxOutcomeHandler handler) {
  handlers_[method] = std::move(handler);
}

absl::Status OutboxRelay::RunHandler(Txn& txn, const OutboxEvent& event, const absl::Status& result,
                                     const std::string& response) {
  auto it = handlers_.find(event.method);
  if (it == handlers_.end()) return absl::OkStatus();
  return it->second(txn, event, result, response);
}

absl::StatusOr<OutboxRelay::PendingOutbox> OutboxRelay::PendingStats() {
  PendingOutbox stats;
  absl::Status s = db_.Read([&](Txn& txn) -> absl::Status {
    auto stmt = txn.Query(
        "SELECT COUNT(*), COALESCE(MIN(created_at), 0) FROM outbox WHERE delivered_at IS NULL AND dead = 0");
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    stats.count = stmt->Int(0);
    stats.oldest_micros = stmt->Int(1);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return stats;
}

absl::StatusOr<int64_t> OutboxRelay::Backlog() {
  auto stats = PendingStats();
  if (!stats.ok()) return stats.status();
  return stats->count;
}

absl::StatusOr<std::vector<OutboxRelay::Pending>> OutboxRelay::ReadPending() {
  // Each destination's oldest events, read separately, so a peer that is
  // down with a long backlog cannot starve the others.
  std::vector<Pending> rows;
  absl::Status s = db_.Read([&](Txn& txn) -> absl::Status {
    rows.clear();  // a read may run again after a lost connection
    std::vector<std::string> destinations;
    {
      auto stmt = txn.Query("SELECT DISTINCT destination FROM outbox WHERE delivered_at IS NULL AND dead = 0");
      if (!stmt.ok()) return stmt.status();
      for (;;) {
        auto row = stmt->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        destinations.push_back(stmt->Text(0));
      }
    }
    for (const auto& destination : destinations) {
      auto stmt = txn.Query(
          "SELECT seq, event_id, destination, method, payload, attempts, next_attempt_at, traceparent FROM outbox "
          "WHERE destination = ?1 AND delivered_at IS NULL AND dead = 0 ORDER BY seq LIMIT ?2",
          destination, options_.batch);
      if (!stmt.ok()) return stmt.status();
      for (;;) {
        auto row = stmt->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        rows.push_back(Pending{stmt->Int(0),
                               {stmt->Text(1), stmt->Text(2), stmt->Text(3), stmt->Bytes(4), stmt->Text(7)},
                               stmt->Int(5),
                               stmt->Int(6)});
      }
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return rows;
}

absl::Duration OutboxRelay::Backoff(int64_t attempts) const {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  absl::Duration backoff = options_.initial_backoff * (int64_t{1} << std::min<int64_t>(attempts, 20));
  backoff = std::min(backoff, options_.max_backoff);
  // Full jitter: peers recovering from an outage are not hit in lockstep.
  return absl::Microseconds(std::uniform_int_distribution<int64_t>(absl::ToInt64Microseconds(backoff) / 2,
                                                                   absl::ToInt64Microseconds(backoff))(rng));
}

absl::Status OutboxRelay::MarkDelivered(const Pending& r, const absl::Status& sent, const std::string& response) {
  return db_.Write([&](Txn& txn) -> absl::Status {
    // Dated by RecordClock: the retention purge ages it by that clock.
    auto done = txn.Exec(
        "UPDATE outbox SET delivered_at = ?2, attempts = attempts + 1, "
        "payload = CASE WHEN scrub_when_delivered = 1 THEN ?3 ELSE payload END WHERE seq = ?1",
        r.seq, absl::ToUnixMicros(RecordClock().Now()), Blob{""});
    if (!done.ok()) return done.status();
    return RunHandler(txn, r.event, sent, response);
  });
}

absl::Status OutboxRelay::ScheduleRetry(const Pending& r, const absl::Status& sent) {
  const absl::Duration backoff = Backoff(r.attempts);
  if (r.attempts == 0 || r.attempts % 10 == 0) {
    LogWarn("outbox delivery failed; will retry", {{"event_id", r.event.event_id},
                                                   {"destination", r.event.destination},
                                                   {"attempts", r.attempts + 1},
                                                   {"error", sent.message()}});
  }
  return db_.Write([&](Txn& txn) {
    return txn
        .Exec("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 WHERE seq = ?1", r.seq,
              NowMicros() + absl::ToInt64Microseconds(backoff), Describe(sent))
        .status();
  });
}

absl::Status OutboxRelay::MarkDead(const Pending& r, const absl::Status& sent, const std::string& response) {
  LogError("outbox event refused by its receiver; marked dead", {{"event_id", r.event.event_id},
                                                                 {"destination", r.event.destination},
                                                                 {"method", r.event.method},
                                                                 {"error", Describe(sent)}});
  return db_.Write([&](Txn& txn) -> absl::Status {
    auto done = txn.Exec("UPDATE outbox SET dead = 1, attempts = attempts + 1, last_error = ?2 WHERE seq = ?1", r.seq,
                         Describe(sent));
    if (!done.ok()) return done.status();
    return RunHandler(txn, r.event, sent, response);
  });
}

absl::StatusOr<DeliveryVerdict> OutboxRelay::Deliver(const Pending& r) {
  // Each attempt is a client span, a child of the span that enqueued the
  // event (a new trace for rows stored without one); the receiver's call is
  // its child, and what is logged about the attempt carries its ids.
  TraceContext trace = StartChildSpan(r.event.traceparent);
  TraceScope scope(trace);
  std::string response;
  absl::Status sent = sender_.Send(r.event, &response);
  ExportDeliverySpan(trace, r.event, sent, r.attempts);
  const DeliveryVerdict verdict = ClassifyDelivery(sent);
  absl::string_view result = verdict == DeliveryVerdict::kDelivered ? "delivered"
                             : verdict == DeliveryVerdict::kRetry   ? "retry"
                                                                    : "dead";
  metrics::OutboxDeliveries().Inc({r.event.destination, result});
  absl::Status recorded;
  switch (verdict) {
    case DeliveryVerdict::kDelivered:
      recorded = MarkDelivered(r, sent, response);
      break;
    case DeliveryVerdict::kRetry:
      recorded = ScheduleRetry(r, sent);
      break;
    case DeliveryVerdict::kDead:
      recorded = MarkDead(r, sent, response);
      break;
  }
  if (!recorded.ok()) return recorded;
  return verdict;
}

bool OutboxRelay::RunOnce() {
  auto rows = ReadPending();
  if (!rows.ok()) {
    LogWarn("outbox read failed", {{"error", rows.status().message()}});
    return false;
  }
  std::set<std::string> held;  // destinations waiting on a failed head event
  int delivered = 0;
  for (const Pending& r : *rows) {
    if (held.count(r.event.destination)) continue;
    if (r.next_attempt_at > NowMicros()) {
      held.insert(r.event.destination);
      continue;
    }
    auto verdict = Deliver(r);
    if (!verdict.ok()) {
      // Delivered but not marked: it will be sent again, and the receiver
      // deduplicates by event id. Nothing is lost.
      LogWarn("outbox update failed", {{"error", verdict.status().message()}});
      return false;
    }
    if (*verdict == DeliveryVerdict::kDelivered) ++delivered;
    if (*verdict == DeliveryVerdict::kRetry) held.insert(r.event.destination);
  }
  // A full batch delivered means more may be waiting: run again at once.
  return delivered >= options_.batch;
}

absl::StatusOr<std::vector<DeadOutboxEvent>> ListDeadOutbox(Txn& txn, const std::string& destination, int64_t after_seq,
                                                            int limit) {
  auto stmt = txn.Query(
      "SELECT seq, event_id, destination, method, payload, attempts, COALESCE(last_error, ''), created_at "
      "FROM outbox WHERE dead = 1 AND seq > ?1 AND (?2 = '' OR destination = ?2) ORDER BY seq LIMIT ?3",
      after_seq, destination, limit);
  if (!stmt.ok()) return stmt.status();
  std::vector<DeadOutboxEvent> out;
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    DeadOutboxEvent e;
    e.seq = stmt->Int(0);
    e.event = {stmt->Text(1), stmt->Text(2), stmt->Text(3), stmt->Bytes(4)};
    e.attempts = stmt->Int(5);
    e.last_error = stmt->Text(6);
    e.created_micros = stmt->Int(7);
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<int64_t> PurgeDeliveredOutboxBefore(Txn& txn, absl::Time cutoff, int limit) {
  // The conditions of the partial index outbox_delivered_age.
  return txn.Exec(
      "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox "
      "WHERE delivered_at IS NOT NULL AND dead = 0 AND delivered_at < ?1 LIMIT ?2)",
      absl::ToUnixMicros(cutoff), static_cast<int64_t>(limit));
}

absl::StatusOr<std::vector<std::string>> ReplayDeadOutbox(Txn& txn, const std::vector<std::string>& event_ids,
                                                          const std::string& destination) {
  std::vector<std::string> replayed;
  auto revive = [&](const std::string& id) -> absl::Status {
    // attempts restart at 0 so the first retry comes at once, not after a
    // backoff grown while the event was refused.
    auto n = txn.Exec("UPDATE outbox SET dead = 0, attempts = 0, next_attempt_at = ?2 WHERE event_id = ?1 AND dead = 1",
                      id, NowMicros());
    if (!n.ok()) return n.status();
    if (*n > 0) replayed.push_back(id);
    return absl::OkStatus();
  };
  if (!event_ids.empty()) {
    for (const std::string& id : event_ids) {
      if (absl::Status s = revive(id); !s.ok()) return s;
    }
    return replayed;
  }
  std::vector<std::string> ids;
  {
    auto stmt = txn.Query("SELECT event_id FROM outbox WHERE dead = 1 AND (?1 = '' OR destination = ?1) ORDER BY seq",
                          destination);
    if (!stmt.ok()) return stmt.status();
    for (;;) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      ids.push_back(stmt->Text(0));
    }
  }
  for (const std::string& id : ids) {
    if (absl::Status s = revive(id); !s.ok()) return s;
  }
  return replayed;
}

}  // namespace care
