#include "common/outbox_admin.h"

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/idempotency.h"
#include "common/outbox.h"
#include "common/pagination.h"
#include "common/proto_time.h"

namespace care {
namespace {

namespace cv1 = care::common::v1;

constexpr size_t kMaxDestinationLength = 64;
constexpr int kMaxReplayIds = 1000;

}  // namespace

grpc::ServerUnaryReactor* OutboxAdminService::ListDeadEvents(grpc::CallbackServerContext* ctx,
                                                             const cv1::ListDeadEventsRequest* req,
                                                             cv1::ListDeadEventsResponse* resp) {
  return rpc_.Unary(ctx, *req, [this, req, resp](const Caller&) -> absl::Status {
    FieldErrors errors;
    errors.RequireMaxLength("destination", req->destination(), kMaxDestinationLength);
    if (!errors.empty()) return errors.ToStatus();
    auto page = ReadPageRequest(*req, req->page_size(), req->page_token());
    if (!page.ok()) return page.status();
    return db_.Read([&](Txn& txn) -> absl::Status {
      resp->Clear();  // a read may run again after a lost connection
      // One more than the page: whether a next page exists.
      auto dead = ListDeadOutbox(txn, req->destination(), page->cursor, page->size + 1);
      if (!dead.ok()) return dead.status();
      int64_t last = 0;
      for (const DeadOutboxEvent& d : *dead) {
        if (resp->events_size() == page->size) {
          *resp->mutable_next_page_token() = NextPageToken(*req, last);
          break;
        }
        cv1::DeadEvent* e = resp->add_events();
        e->set_event_id(d.event.event_id);
        e->set_destination(d.event.destination);
        e->set_method(d.event.method);
        e->set_attempts(d.attempts);
        e->set_last_error(d.last_error);
        *e->mutable_create_time() = ToTimestamp(absl::FromUnixMicros(d.created_micros));
        last = d.seq;
      }
      return absl::OkStatus();
    });
  });
}

grpc::ServerUnaryReactor* OutboxAdminService::ReplayDeadEvents(grpc::CallbackServerContext* ctx,
                                                               const cv1::ReplayDeadEventsRequest* req,
                                                               cv1::ReplayDeadEventsResponse* resp) {
  return rpc_.Unary(ctx, *req, [this, req, resp](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireMaxLength("destination", req->destination(), kMaxDestinationLength);
    if (req->event_ids_size() > kMaxReplayIds) errors.Add("event_ids", "at most 1000 per call");
    if (req->event_ids().empty() && !req->all()) errors.Add("event_ids", "name the events, or set all");
    if (!req->event_ids().empty() && req->all()) errors.Add("all", "either event_ids or all");
    for (int i = 0; i < req->event_ids_size() && i < kMaxReplayIds; ++i) {
      errors.RequireMaxLength(absl::StrCat("event_ids[", i, "]"), req->event_ids(i), 256);
    }
    if (!errors.empty()) return errors.ToStatus();
    const Once once = OnceFor(caller, "ReplayDeadEvents", req->request_id(), *req);
    absl::Status s = db_.Write([&](Txn& txn) -> absl::Status {
      resp->Clear();
      auto replayed = Replay(txn, once, resp);
      if (!replayed.ok()) return replayed.status();
      if (*replayed) return absl::OkStatus();
      auto ids = ReplayDeadOutbox(txn, {req->event_ids().begin(), req->event_ids().end()}, req->destination());
      if (!ids.ok()) return ids.status();
      for (const std::string& id : *ids) resp->add_event_ids(id);
      return Remember(txn, once, *resp);
    });
    if (s.ok() && jobs_ != nullptr && resp->event_ids_size() > 0) jobs_->Kick();
    return s;
  });
}

}  // namespace care
