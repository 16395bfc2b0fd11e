#include "common/audit.h"

#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/idempotency.h"
#include "common/log.h"
#include "common/pagination.h"
#include "common/privacy.h"
#include "common/proto_time.h"

namespace care {
namespace {

namespace cv1 = care::common::v1;

constexpr size_t kMaxFilterLength = 256;

}  // namespace

absl::Status WriteAudit(Txn& txn, const AuditRecord& r) {
  return txn
      .Exec("INSERT INTO audit_log (at, principal, action, target, reason, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            absl::ToUnixMicros(RecordClock().Now()), r.principal, r.action, r.target, r.reason, r.detail)
      .status();
}

absl::Status AuditBulkRead(Database& db, const std::string& principal, const std::string& action,
                           const std::string& target, const std::string& reason, int64_t count) {
  AuditRecord record{principal, action, target, reason, count > 0 ? absl::StrCat("items: ", count) : "bulk read"};
  return db.Write([&](Txn& txn) { return WriteAudit(txn, record); });
}

absl::StatusOr<std::vector<AuditEntryRow>> ListAudit(Txn& txn, const AuditFilter& f, int64_t before_id, int limit) {
  auto micros = [](absl::Time t) {
    if (t == absl::InfinitePast()) return std::numeric_limits<int64_t>::min();
    if (t == absl::InfiniteFuture()) return std::numeric_limits<int64_t>::max();
    return absl::ToUnixMicros(t);
  };
  auto stmt = txn.Query(
      "SELECT id, at, principal, action, target, reason, detail FROM audit_log "
      "WHERE (?1 = 0 OR id < ?1) AND (?2 = '' OR action = ?2) AND (?3 = '' OR target = ?3) "
      "AND at >= ?4 AND at < ?5 ORDER BY id DESC LIMIT ?6",
      before_id, f.action, f.target, micros(f.start), micros(f.end), static_cast<int64_t>(limit));
  if (!stmt.ok()) return stmt.status();
  std::vector<AuditEntryRow> out;
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    AuditEntryRow e;
    e.id = stmt->Int(0);
    e.at = absl::FromUnixMicros(stmt->Int(1));
    e.record = {stmt->Text(2), stmt->Text(3), stmt->Text(4), stmt->Text(5), stmt->Text(6)};
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<int64_t> PurgeAuditBefore(Txn& txn, absl::Time cutoff, int limit) {
  return txn.Exec("DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < ?1 LIMIT ?2)",
                  absl::ToUnixMicros(cutoff), static_cast<int64_t>(limit));
}

grpc::ServerUnaryReactor* AuditLogService::ListAuditEntries(grpc::CallbackServerContext* ctx,
                                                            const cv1::ListAuditEntriesRequest* req,
                                                            cv1::ListAuditEntriesResponse* resp) {
  return rpc_.Unary(ctx, *req, [this, req, resp](const Caller&) -> absl::Status {
    FieldErrors errors;
    errors.RequireMaxLength("action", req->action(), kMaxFilterLength);
    errors.RequireMaxLength("target", req->target(), kMaxFilterLength);
    AuditFilter filter{req->action(), req->target()};
    if (req->has_start_time() && !ValidTimestamp(req->start_time())) errors.Add("start_time", "not a valid time");
    if (req->has_end_time() && !ValidTimestamp(req->end_time())) errors.Add("end_time", "not a valid time");
    if (!errors.empty()) return errors.ToStatus();
    if (req->has_start_time()) filter.start = FromTimestamp(req->start_time());
    if (req->has_end_time()) filter.end = FromTimestamp(req->end_time());
    if (filter.end < filter.start) errors.Add("end_time", "must not be before start_time");
    if (!errors.empty()) return errors.ToStatus();
    auto page = ReadPageRequest(*req, req->page_size(), req->page_token());
    if (!page.ok()) return page.status();
    return db_.Read([&](Txn& txn) -> absl::Status {
      resp->Clear();  // a read may run again after a lost connection
      // One more than the page: whether a next page exists.
      auto rows = ListAudit(txn, filter, page->cursor, page->size + 1);
      if (!rows.ok()) return rows.status();
      int64_t last = 0;
      for (const AuditEntryRow& row : *rows) {
        if (resp->entries_size() == page->size) {
          *resp->mutable_next_page_token() = NextPageToken(*req, last);
          break;
        }
        cv1::AuditEntry* e = resp->add_entries();
        e->set_id(row.id);
        *e->mutable_time() = ToTimestamp(row.at);
        e->set_principal(row.record.principal);
        e->set_action(row.record.action);
        e->set_target(row.record.target);
        e->set_reason(row.record.reason);
        e->set_detail(row.record.detail);
        last = row.id;
      }
      return absl::OkStatus();
    });
  });
}

PersonalDataExportAudit::~PersonalDataExportAudit() {
  if (!started_) return;  // refused before the first batch
  // Warn level: an audit line must survive --log_level=warn.
  LogWarn(
      "personal data export",
      {{"principal", record_.principal}, {"subject", record_.target}, {"reason", record_.reason}, {"items", items_}});
}

absl::Status PersonalDataExportAudit::Start(const Caller& caller,
                                            const care::common::v1::ExportPersonalDataRequest& request,
                                            const Write& write) {
  if (started_) return absl::OkStatus();
  if (absl::Status bad = CheckExportRequest(request); !bad.ok()) return bad;
  // A subject of contact ids alone (notification's export) is named by the
  // first one, digested the same way.
  const std::vector<std::string> keys = SubjectKeys(request.subject());
  const std::string first = keys.empty() ? "contact:" + request.subject().contact_ids(0) : keys.front();
  AuditRecord record = AuditOf(caller, "subject:" + digests_.Digest(first), request.reason());
  if (absl::Status s = write(record); !s.ok()) return s;
  record_ = std::move(record);
  started_ = true;
  return absl::OkStatus();
}

}  // namespace care
