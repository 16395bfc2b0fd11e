#pragma once

// Storage of the complaint service in the domain's terms: tickets with their
// audit trail, configuration (calendars, SLA policies with every version,
// forbidden phrases, scripts, settings), survey tokens and metric rows. A
// method returns rows and optionals and storage errors only (a stored blob
// that does not parse is DATA_LOSS); the domain chooses every API reason.
// Events leave through Enqueue (ServiceTxn), in the transaction of the change
// they report. sql_complaint_store.* implements it on SQLite and PostgreSQL.

#include <array>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "care/common/v1/privacy.pb.h"
#include "care/complaint/v1/complaint.pb.h"
#include "common/privacy.h"
#include "common/store.h"

namespace care::complaint {

// A ListComplaints query on the stored columns. Rows come in `order` after
// the keyset cursor (sort key, complaint id).
struct ComplaintQuery {
  enum class Order { kNewestFirst, kOldestFirst, kDueFirst };
  std::vector<int> statuses, channels, categories, priorities;
  std::string member_id, team_id, assignee_agent_id, order_id, contact_id;
  bool unassigned_only = false;
  bool breached_only = false;
  std::optional<absl::Time> received_after, received_before;
  Order order = Order::kNewestFirst;
  std::optional<std::pair<int64_t, std::string>> after;
};

// A listed complaint with its sort key (for the next page's cursor).
struct ListedComplaint {
  int64_t sort_key = 0;
  v1::Complaint complaint;
};

// One finished ticket's figures, for metrics.
struct MetricRow {
  int channel = 0;
  int category = 0;
  std::string team_id;
  std::string tier_id;
  std::string agent_id;  // the assignee
  int kind = 0;          // v1::TicketKind; COMPLAINT for tickets stored before kinds
  int64_t consultation_seconds = 0;
  std::optional<int64_t> first_response_seconds;
  std::optional<int64_t> resolution_seconds;
  bool resolved = false;
  bool first_response_breached = false;
  bool resolution_breached = false;
  bool reopened = false;
  bool survey_sent = false;
  std::optional<int> survey_score;
};

// The figures of one group of tickets (every dimension set: the full key),
// as the metrics rollups keep them per day and month: counters, and every
// time value (in no particular order), so percentiles stay exact.
struct MetricGroup {
  int channel = 0;
  int category = 0;
  std::string team_id;
  std::string tier_id;
  std::string agent_id;
  int kind = 0;
  int64_t complaints = 0, resolved = 0, reopened = 0;
  int64_t first_response_met = 0, first_response_breached = 0, resolution_met = 0, resolution_breached = 0;
  int64_t surveys_sent = 0;
  std::array<int64_t, 5> score_counts{};  // answers scored 1 to 5
  std::vector<int64_t> first_response_seconds, resolution_seconds, consultation_seconds;
};

// A ListContacts query on the stored columns, by contact id after `after`.
struct ContactQuery {
  bool prospects_only = false;
  std::string source, email;
  std::string after;
};

// The contacts of one person (export and erasure): with this e-mail address
// (without case) or phone, or linked to this member; an empty field matches
// nothing. By contact id after `after`.
struct SubjectContactQuery {
  std::string email, phone, member_id;
  std::string after;
};

class StoreTxn : public ServiceTxn {
 public:
  virtual absl::StatusOr<std::optional<v1::Complaint>> GetComplaint(const std::string& id) = 0;
  // Writes the complaint; `sla_check` is when the SLA job must look at it
  // next (none: no clock or escalation pending). Its closing time
  // (ClosedAt) and texts_removed_time are indexed for the text retention.
  virtual absl::Status PutComplaint(const v1::Complaint& c, std::optional<absl::Time> sla_check) = 0;
  // An open complaint of the member about the same order and category.
  virtual absl::StatusOr<std::optional<std::string>> OpenDuplicate(const std::string& member_id,
                                                                   const std::string& order_id, int category) = 0;
  // Complaints whose SLA check is due at `now`, oldest first.
  virtual absl::StatusOr<std::vector<std::string>> DueForSla(absl::Time now, int limit) = 0;
  virtual absl::StatusOr<std::vector<ListedComplaint>> FindComplaints(const ComplaintQuery& query, int limit) = 0;
  // Complaints with a running SLA clock counted in `calendar_id`.
  virtual absl::StatusOr<std::vector<std::string>> RunningOnCalendar(const std::string& calendar_id) = 0;

  // Appends to the audit trail; sets the event's sequence.
  virtual absl::Status AppendEvent(v1::ComplaintEvent& event) = 0;
  virtual absl::StatusOr<std::vector<v1::ComplaintEvent>> Events(const std::string& complaint_id, int64_t after,
                                                                 int limit) = 0;

  // Business calendars, by id.
  virtual absl::StatusOr<std::optional<v1::BusinessCalendar>> GetCalendar(const std::string& id) = 0;
  virtual absl::Status PutCalendar(const v1::BusinessCalendar& calendar) = 0;
  // Every calendar, ordered by id.
  virtual absl::StatusOr<std::vector<v1::BusinessCalendar>> Calendars() = 0;
  virtual absl::Status DeleteCalendar(const std::string& id) = 0;

  // SLA policies: the current version by id, and every version ever put
  // (open complaints keep the targets of the version they started with).
  virtual absl::StatusOr<std::optional<v1::SlaPolicy>> GetPolicy(const std::string& id) = 0;
  virtual absl::StatusOr<std::optional<v1::SlaPolicy>> GetPolicyVersion(const std::string& id, int64_t version) = 0;
  // Makes `policy` the current version and keeps it as its version.
  virtual absl::Status PutPolicy(const v1::SlaPolicy& policy) = 0;
  // Every current policy, ordered by id.
  virtual absl::StatusOr<std::vector<v1::SlaPolicy>> Policies() = 0;
  // Removes the current version; the versions stay.
  virtual absl::Status DeletePolicy(const std::string& id) = 0;

  // Forbidden phrases, one list per locale ("*" and "" for every locale).
  virtual absl::StatusOr<std::optional<v1::ForbiddenPhraseList>> GetPhrases(const std::string& locale) = 0;
  virtual absl::Status PutPhrases(const v1::ForbiddenPhraseList& list) = 0;
  // Every list, ordered by locale.
  virtual absl::StatusOr<std::vector<v1::ForbiddenPhraseList>> PhraseLists() = 0;

  // The settings; none before the first update.
  virtual absl::StatusOr<std::optional<v1::ComplaintSettings>> GetSettings() = 0;
  virtual absl::Status PutSettings(const v1::ComplaintSettings& settings) = 0;

  // Scripts: every version kept; version 0 reads the latest.
  virtual absl::Status PutScript(const v1::Script& script) = 0;
  virtual absl::StatusOr<std::optional<v1::Script>> GetScript(int category, const std::string& locale,
                                                              int64_t version) = 0;
  // The latest version of each (category, locale), ordered by both; category
  // 0 = all.
  virtual absl::StatusOr<std::vector<v1::Script>> LatestScripts(int category) = 0;

  virtual absl::Status PutSurveyToken(const std::string& token, const std::string& complaint_id) = 0;
  virtual absl::StatusOr<std::optional<std::string>> SurveyComplaint(const std::string& token) = 0;

  // Tickets received in [from, to), narrow columns only.
  virtual absl::StatusOr<std::vector<MetricRow>> MetricRows(absl::Time from, absl::Time to) = 0;

  // Metrics rollups (metrics_rollup.cc). A day is a UTC day number (unix
  // seconds / 86400, rounded down), a month the day number of its first
  // day. PutComplaint marks the ticket's receive day dirty (a marker keyed
  // by day and complaint id).
  // The days in [from_day, to_day) with a marker, ascending; at most `limit`.
  virtual absl::StatusOr<std::vector<int64_t>> DirtyDays(int64_t from_day, int64_t to_day, int limit) = 0;
  // The day's markers: complaint ids ("" marks the whole day).
  virtual absl::StatusOr<std::vector<std::string>> DayMarkers(int64_t day) = 0;
  // Deletes these markers of the day (only these: one added since stays).
  virtual absl::Status DeleteMarkers(int64_t day, const std::vector<std::string>& complaint_ids) = 0;
  // Replaces the day's rollup rows; its month's rows stop being current.
  virtual absl::Status PutDayRollups(int64_t day, int64_t month, const std::vector<MetricGroup>& groups) = 0;
  // The rollup rows of the days in [from_day, to_day), each with its day.
  virtual absl::StatusOr<std::vector<std::pair<int64_t, MetricGroup>>> DayRollups(int64_t from_day, int64_t to_day) = 0;
  // Replaces the month's rollup rows and records them as current.
  virtual absl::Status PutMonthRollups(int64_t month, const std::vector<MetricGroup>& groups) = 0;
  // The months in [from_day, to_day) whose rows are current, ascending.
  virtual absl::StatusOr<std::vector<int64_t>> CurrentMonths(int64_t from_day, int64_t to_day) = 0;
  virtual absl::StatusOr<std::vector<MetricGroup>> MonthRollups(int64_t month) = 0;

  // Contacts (people without membership), by id.
  virtual absl::StatusOr<std::optional<v1::Contact>> GetContact(const std::string& id) = 0;
  virtual absl::Status PutContact(const v1::Contact& contact) = 0;
  // Contacts matching the query's indexed columns, ordered by id.
  virtual absl::StatusOr<std::vector<v1::Contact>> FindContacts(const ContactQuery& query, int limit) = 0;
  // Contacts with this e-mail address (without case) or phone (either may
  // be empty), only those not yet linked to a member if `unlinked_only`,
  // ordered by id.
  virtual absl::StatusOr<std::vector<v1::Contact>> ContactsByAddress(const std::string& email, const std::string& phone,
                                                                     bool unlinked_only) = 0;
  virtual absl::StatusOr<std::vector<v1::Contact>> SubjectContacts(const SubjectContactQuery& query, int limit) = 0;
  virtual absl::Status DeleteContact(const std::string& id) = 0;
  // The contact's tickets after complaint id `after`, by id.
  virtual absl::StatusOr<std::vector<v1::Complaint>> ContactComplaints(const std::string& contact_id,
                                                                       const std::string& after, int limit) = 0;

  // Personal data. The member's complaints after complaint id `after`, by id.
  virtual absl::StatusOr<std::vector<v1::Complaint>> MemberComplaints(const std::string& member_id,
                                                                      const std::string& after, int limit) = 0;
  // Overwrites a stored event (same complaint and sequence): erasure blanks
  // its text; the audit trail keeps its place.
  virtual absl::Status ReplaceEvent(const v1::ComplaintEvent& event) = 0;
  // Deletes the complaint's survey tokens; returns how many went.
  virtual absl::StatusOr<int64_t> DeleteSurveyTokens(const std::string& complaint_id) = 0;
  // Deletes the idempotency answers and outbox events tagged with `key`
  // (common/privacy.h DeleteTagged).
  virtual absl::StatusOr<TaggedDeleted> DeleteTagged(const std::string& key, TaggedEvents events) = 0;

  // Text retention. CLOSED complaints whose texts are kept and whose indexed
  // closing time is at or before `cutoff`, earliest closed first.
  virtual absl::StatusOr<std::vector<std::string>> ClosedTextsDue(absl::Time cutoff, int limit) = 0;
  // Sets the indexed closing time alone (no new version): the exact one read
  // from the ticket (ClosedAt), for a ticket the migration dated by its
  // creation.
  virtual absl::Status RedateClose(const std::string& complaint_id, std::optional<absl::Time> closed) = 0;
  // FAILED_PRECONDITION / SUBJECT_ERASED when any of the subject keys
  // (common/privacy.h) was erased here.
  virtual absl::Status RefuseIfErased(const std::vector<std::string>& keys) = 0;
  // What every service erases the same way: idempotency answers and outbox
  // events tagged with `keys`, and a tombstone per key (common/privacy.h).
  virtual absl::Status EraseCommonRecords(const std::vector<std::string>& keys, absl::Time now,
                                          care::common::v1::ErasureReceipt& receipt) = 0;
};

using ComplaintStore = TransactionalStore<StoreTxn>;

}  // namespace care::complaint
