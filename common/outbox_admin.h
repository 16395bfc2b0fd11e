#pragma once

// care.common.v1.OutboxAdmin, implemented once for every service that has an
// outbox: its dead events listed and replayed by an admin (carectl
// `<service> outbox dead|replay`). Register it next to the service's own.

#include "care/common/v1/outbox_admin.grpc.pb.h"
#include "common/jobs.h"
#include "common/rpc.h"
#include "common/sql.h"

namespace care {

class OutboxAdminService final : public care::common::v1::OutboxAdmin::CallbackService {
 public:
  // `jobs` (may be null) is kicked after a replay, so the relay sends at once.
  OutboxAdminService(RpcRuntime& rpc, Database& db, JobRunner* jobs) : rpc_(rpc), db_(db), jobs_(jobs) {}

  grpc::ServerUnaryReactor* ListDeadEvents(grpc::CallbackServerContext* ctx,
                                           const care::common::v1::ListDeadEventsRequest* req,
                                           care::common::v1::ListDeadEventsResponse* resp) override;
  grpc::ServerUnaryReactor* ReplayDeadEvents(grpc::CallbackServerContext* ctx,
                                             const care::common::v1::ReplayDeadEventsRequest* req,
                                             care::common::v1::ReplayDeadEventsResponse* resp) override;

 private:
  RpcRuntime& rpc_;
  Database& db_;
  JobRunner* jobs_;
};

}  // namespace care
