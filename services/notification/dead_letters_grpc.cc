// ReplayDeadLetters adapter (admin only, by the access option in the proto).
#include "common/errors.h"
#include "common/filter_limits.h"
#include "services/notification/notification_grpc.h"

namespace care::notification {
namespace {

constexpr int kMaxReplayIds = 1000;
constexpr char kReplayScope[] = "notification.ReplayDeadLetters";

DeadLetterReplay ReplayOf(const v1::ReplayDeadLettersRequest& r) {
  DeadLetterReplay replay;
  replay.delivery_ids.assign(r.delivery_ids().begin(), r.delivery_ids().end());
  replay.filter = r.filter();
  replay.include_failed = r.include_failed();
  replay.max_deliveries = r.max_deliveries();
  return replay;
}

}  // namespace

NotificationGrpc::Reactor* NotificationGrpc::ReplayDeadLetters(ServerContext* ctx,
                                                               const v1::ReplayDeadLettersRequest* req,
                                                               v1::ReplayDeadLettersResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    const v1::DeliveryFilter& f = req->filter();
    // Ids are looked up one by one: bounded like the outbox's event_ids.
    if (absl::Status s = CheckFilterValues("delivery_ids", req->delivery_ids_size(), kMaxReplayIds); !s.ok()) {
      return s;
    }
    if (absl::Status s = CheckFilterValues({{"filter.statuses", f.statuses_size()},
                                            {"filter.channels", f.channels_size()},
                                            {"filter.kinds", f.kinds_size()}});
        !s.ok()) {
      return s;
    }
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    if (req->max_deliveries() < 0) errors.Add("max_deliveries", "must be >= 0");
    // A whole-table replay must be deliberate.
    if (req->delivery_ids_size() == 0 && f.campaign_id().empty() && f.message_key().empty() && f.member_id().empty() &&
        f.channels_size() == 0 && f.kinds_size() == 0 && !f.has_created_after()) {
      errors.Add("filter",
                 "name delivery_ids or one of campaign_id, message_key, member_id, channels, kinds, "
                 "created_after");
    }
    if (!errors.empty()) return errors.ToStatus();
    return Respond(service_.ReplayDeadLetters(OnceFor(caller, kReplayScope, req->request_id(), *req), ReplayOf(*req)),
                   resp);
  });
}

}  // namespace care::notification
