// The personal data RPCs of the promotion service (docs/privacy.md).
#include <memory>

#include "common/audit.h"
#include "common/auth.h"
#include "common/privacy.h"
#include "common/server_stream.h"
#include "services/promotion/promotion_grpc.h"

namespace care::promotion {
namespace {

namespace pv1 = ::care::promotion::v1;

// Items per batch of an export stream: one batch is in memory at a time.
constexpr int kExportBatch = 200;

}  // namespace

grpc::ServerWriteReactor<pv1::PromotionPersonalData>* PromotionGrpc::ExportPersonalData(
    ServerContext* ctx, const care::common::v1::ExportPersonalDataRequest* req) {
  using Writer = BatchedWriter<pv1::PromotionPersonalData>;
  auto audit = std::make_shared<PersonalDataExportAudit>(digests_);
  auto fetch = [this, req, audit,
                cursor = ExportCursor()](const Caller& caller) mutable -> absl::StatusOr<Writer::Batch> {
    auto write = [this](const AuditRecord& r) { return promotion_.AuditRead(r); };
    if (absl::Status s = audit->Start(caller, *req, write); !s.ok()) return s;
    auto items = promotion_.ExportBatch(req->subject().member_id(), cursor, kExportBatch);
    if (!items.ok()) return items.status();
    audit->Count(items->size());
    Writer::Batch batch;
    batch.items = std::move(*items);
    batch.last = cursor.done;
    return batch;
  };
  return new Writer(rpc_, ctx, *req, std::move(fetch));
}

grpc::ServerUnaryReactor* PromotionGrpc::ErasePersonalData(ServerContext* ctx,
                                                           const care::common::v1::ErasePersonalDataRequest* req,
                                                           care::common::v1::ErasureReceipt* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    // Erasure reaches promotion only through loyalty's ErasePerson.
    if (absl::Status s = AuthorizePeer(*caller.principal, {"svc:loyalty"}, "ErasePersonalData"); !s.ok()) return s;
    if (absl::Status bad = CheckErasureRequest(*req); !bad.ok()) return bad;
    Erasure erasure;
    erasure.erasure_id = req->erasure_id();
    erasure.member_id = req->subject().member_id();
    erasure.keys = SubjectKeys(req->subject());
    erasure.pseudonym = req->pseudonym();
    return Respond(promotion_.ErasePersonalData(SharedOnce("ErasePersonalData", req->erasure_id(), *req), erasure),
                   resp);
  });
}

}  // namespace care::promotion
