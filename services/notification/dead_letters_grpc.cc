// ReplayDeadLetters adapter (admin only, by the access option in the proto).
#include "common/errors.h"
#include "common/filter_limits.h"
#include "services/notification/notification_grpc.h"

namespace care::notification {
namespace {

constexpr int kMaxReplayIds = 1000;

}  // namespace

NotificationGrpc::Reactor* NotificationGrpc::ReplayDeadLetters(ServerContext* ctx,
                                                               const v1::ReplayDeadLettersRequest* req,
                                                               v1::ReplayDeadLettersResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
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
    if (req->delivery_ids_size() == 0 && f.campaign_id().empty() && f.message_key().empty() &&
        f.member_id().empty() && f.channels_size() == 0 && f.kinds_size() == 0 && !f.has_created_after()) {
      errors.Add("filter", "name delivery_ids or one of campaign_id, message_key, member_id, channels, kinds, "
                           "created_after");
    }
    if (!errors.empty()) return errors.ToStatus();
    auto r = service_.ReplayDeadLetters(*req);
    if (!r.ok()) return r.status();
    *resp = std::move(*r);
    return absl::OkStatus();
  });
}

}  // namespace care::notification
