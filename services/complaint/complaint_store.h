#pragma once

// Storage of the complaint service behind a small interface; SQLite in
// production (the service is the only writer of its database).

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "care/complaint/v1/complaint.pb.h"
#include "common/outbox.h"
#include "common/sqlite.h"
#include "common/store.h"

namespace care {
// The complaint schema, generated from services/complaint/migrations/.
std::vector<Migration> ComplaintMigrations();
}  // namespace care

namespace care::complaint {

namespace v1 = care::complaint::v1;

// Configuration documents, stored by kind and id.
enum class DocKind { kCalendar, kSlaPolicy, kPhrases, kSettings };

// One finished ticket's figures, for metrics.
struct MetricRow {
  int channel = 0;
  int category = 0;
  std::string team_id;
  std::string tier_id;
  std::optional<int64_t> first_response_seconds;
  std::optional<int64_t> resolution_seconds;
  bool resolved = false;
  bool first_response_breached = false;
  bool resolution_breached = false;
  bool reopened = false;
  std::optional<int> survey_score;
};

class StoreTxn : public IdempotencyTxn {
 public:
  virtual absl::StatusOr<std::optional<v1::Complaint>> GetComplaint(const std::string& id) = 0;
  // Writes the complaint; `sla_check` is when the SLA job must look at it
  // next (none: no clock or escalation pending).
  virtual absl::Status PutComplaint(const v1::Complaint& c, std::optional<absl::Time> sla_check) = 0;
  // An open complaint of the member about the same order and category.
  virtual absl::StatusOr<std::optional<std::string>> OpenDuplicate(const std::string& member_id,
                                                                   const std::string& order_id, int category) = 0;
  // Complaints whose SLA check is due at `now`, oldest first.
  virtual absl::StatusOr<std::vector<std::string>> DueForSla(absl::Time now, int limit) = 0;

  // Appends to the audit trail; sets the event's sequence.
  virtual absl::Status AppendEvent(v1::ComplaintEvent& event) = 0;
  virtual absl::StatusOr<std::vector<v1::ComplaintEvent>> Events(const std::string& complaint_id, int64_t after,
                                                                 int limit) = 0;

  virtual absl::StatusOr<std::optional<std::string>> GetDocument(DocKind kind, const std::string& id) = 0;
  virtual absl::Status PutDocument(DocKind kind, const std::string& id, const std::string& bytes) = 0;
  virtual absl::StatusOr<std::vector<std::string>> Documents(DocKind kind) = 0;

  virtual absl::Status PutSurveyToken(const std::string& token, const std::string& complaint_id) = 0;
  virtual absl::StatusOr<std::optional<std::string>> SurveyComplaint(const std::string& token) = 0;

  // Tickets created in [from, to), narrow columns only.
  virtual absl::StatusOr<std::vector<MetricRow>> MetricRows(absl::Time from, absl::Time to) = 0;

  // The transactional outbox.
  virtual absl::Status Enqueue(const OutboxEvent& event) = 0;
};

using ComplaintStore = TransactionalStore<StoreTxn>;

std::unique_ptr<ComplaintStore> NewSqliteComplaintStore(Database& db);

}  // namespace care::complaint
