#pragma once

// The audit log: who changed or read personal data and settings, when and
// why (table audit_log, common migration 0007 / postgres 0006).
//
// - A change: the adapter builds its Once with AuditedOnce(caller, ...,
//   AuditOf(caller, "member:<id>")); Remember writes the entry in the
//   change's own transaction, so a change exists if and only if its entry
//   does, and a replayed retry writes none.
// - A bulk read of personal data (an export): AuditBulkRead (or a store's
//   AuditRead, common/store.h) as the read starts; the read goes on only
//   once its entry is written.
// - Reason: the request's own reason field where it has one, otherwise the
//   call's metadata header `care-reason` (Caller::reason; at most 500
//   characters; "" when not sent).
// - Entries are read through care.common.v1.AuditLog (AuditLogService,
//   registered by ServerRunner on every binary) and deleted after
//   --audit_retention (common/retention.h).

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "care/common/v1/audit.grpc.pb.h"
#include "care/common/v1/privacy.pb.h"
#include "common/privacy.h"
#include "common/rpc.h"
#include "common/sql.h"
#include "common/store.h"

namespace care {

// Records a bulk read of personal data as it starts, in a write transaction
// of its own: e.g. from ExportPersonalData,
//   AuditBulkRead(db, caller.principal->name, caller.method,
//                 MemberSubject(id), req->reason(), 0)
// `count` is what the caller already knows it will send (0 = not known
// yet); it goes into the entry's detail. Returns the write's error: the
// caller must not send personal data it could not audit.
absl::Status AuditBulkRead(Database& db, const std::string& principal, const std::string& action,
                           const std::string& target, const std::string& reason, int64_t count = 0);

// The audit of one ExportPersonalData stream, the same in every service.
// The first Start checks the request and writes the entry (action: the
// method; target: "subject:" and the keyed digest of the first subject key
// (common/privacy.h, as a tombstone names it), never the key; reason: the
// request's) through `write` (the service's AuditRead),
// before any item is sent; Count adds each batch. When the stream ends,
// however it ends, a warn log line records the items sent.
class PersonalDataExportAudit final {
 public:
  using Write = std::function<absl::Status(const AuditRecord&)>;
  explicit PersonalDataExportAudit(const SubjectDigests& digests) : digests_(digests) {}
  PersonalDataExportAudit(const PersonalDataExportAudit&) = delete;
  PersonalDataExportAudit& operator=(const PersonalDataExportAudit&) = delete;
  ~PersonalDataExportAudit();

  // OK once the entry is written (later calls do nothing); INVALID_ARGUMENT
  // for a bad request; the write's error otherwise.
  absl::Status Start(const Caller& caller, const care::common::v1::ExportPersonalDataRequest& request,
                     const Write& write);
  void Count(size_t items) { items_ += static_cast<int64_t>(items); }

 private:
  const SubjectDigests& digests_;
  AuditRecord record_;
  bool started_ = false;
  int64_t items_ = 0;
};

struct AuditFilter {
  std::string action;  // "" = any
  std::string target;  // "" = any
  absl::Time start = absl::InfinitePast(), end = absl::InfiniteFuture();
};

struct AuditEntryRow {
  int64_t id = 0;
  absl::Time at;
  AuditRecord record;
};

// Newest first, ids below `before_id` (0 = from the newest).
absl::StatusOr<std::vector<AuditEntryRow>> ListAudit(Txn& txn, const AuditFilter& filter, int64_t before_id, int limit);

// Deletes at most `limit` entries written before `cutoff`; returns how many.
absl::StatusOr<int64_t> PurgeAuditBefore(Txn& txn, absl::Time cutoff, int limit);

// care.common.v1.AuditLog, served by every binary with a database.
class AuditLogService final : public care::common::v1::AuditLog::CallbackService {
 public:
  AuditLogService(RpcRuntime& rpc, Database& db) : rpc_(rpc), db_(db) {}

  grpc::ServerUnaryReactor* ListAuditEntries(grpc::CallbackServerContext* ctx,
                                             const care::common::v1::ListAuditEntriesRequest* req,
                                             care::common::v1::ListAuditEntriesResponse* resp) override;

 private:
  RpcRuntime& rpc_;
  Database& db_;
};

}  // namespace care
