// ExportPersonalData and ErasePersonalData: checks, the audit line, the
// stream; the work is the domain's (privacy.cc).
#include <memory>

#include "absl/strings/match.h"
#include "common/audit.h"
#include "common/auth.h"
#include "common/privacy.h"
#include "common/server_stream.h"
#include "services/notification/notification_grpc.h"

namespace care::notification {

using care::common::v1::ErasePersonalDataRequest;
using care::common::v1::ErasureReceipt;
using care::common::v1::ExportPersonalDataRequest;

grpc::ServerWriteReactor<v1::NotificationPersonalData>* NotificationGrpc::ExportPersonalData(
    ServerContext* ctx, const ExportPersonalDataRequest* req) {
  using Writer = BatchedWriter<v1::NotificationPersonalData>;
  constexpr int kBatch = 500;
  auto audit = std::make_shared<PersonalDataExportAudit>(digests_);
  auto fetch = [this, req, audit,
                cursor = PersonalDataCursor()](const Caller& caller) mutable -> absl::StatusOr<Writer::Batch> {
    auto write = [this](const AuditRecord& r) { return service_.AuditRead(r); };
    if (absl::Status s = audit->Start(caller, *req, write); !s.ok()) return s;
    auto items = service_.ExportPersonalData(req->subject(), cursor, kBatch);
    if (!items.ok()) return items.status();
    Writer::Batch batch;
    batch.last = items->empty();
    audit->Count(items->size());
    batch.items = std::move(*items);
    return batch;
  };
  return new Writer(rpc_, ctx, *req, std::move(fetch));
}

NotificationGrpc::Reactor* NotificationGrpc::ErasePersonalData(ServerContext* ctx, const ErasePersonalDataRequest* req,
                                                               ErasureReceipt* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    // Erasure comes from loyalty's ErasePerson (one entry point, its
    // progress tracked there); complaint passes on, in its own request, the
    // contacts that erasure deleted there, and nothing else.
    const care::common::v1::DataSubject& subject = req->subject();
    const bool contacts_only = subject.member_id().empty() && subject.email().empty() && subject.phone().empty();
    absl::Status allowed = contacts_only
                               ? AuthorizePeer(*caller.principal, {"svc:loyalty", "svc:complaint"}, "ErasePersonalData")
                               : AuthorizePeer(*caller.principal, {"svc:loyalty"}, "ErasePersonalData");
    if (!allowed.ok()) return allowed;
    // Complaint's requests are derived from loyalty's ("<id>:contacts.<k>"),
    // so they can never take (and block) an id loyalty will use.
    if (caller.principal->name == "svc:complaint" && !absl::StrContains(req->erasure_id(), ":contacts.")) {
      return InvalidField("erasure_id", "a complaint contact erasure's id ends in :contacts.<batch>");
    }
    if (absl::Status s = CheckErasureRequest(*req); !s.ok()) return s;
    return Respond(service_.ErasePersonalData(SharedOnce("ErasePersonalData", req->erasure_id(), *req), *req), resp);
  });
}

}  // namespace care::notification
