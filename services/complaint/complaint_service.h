#pragma once

// The complaint service's domain: intake with tier and duplicate detection,
// the lifecycle, SLA clocks in business time with escalation levels, replies
// checked for forbidden phrases, goodwill compensation within approval
// limits, surveys and metrics. No gRPC and no SQL here: storage is the
// ComplaintStore interface, other services are told through Outbound and the
// outbox. Tickets are kept in their contract form (v1::Complaint) to stay one
// representation. Every mutation is one WriteOnce with the Once the adapter
// built. The concerns live in their own files: tickets.cc, goodwill.cc,
// config.cc, sla_job.cc, sla_clock.cc, outbound.cc.

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "care/common/v1/privacy.pb.h"
#include "care/complaint/v1/complaint.pb.h"
#include "common/clock.h"
#include "common/erasure_scrub.h"
#include "common/work_pool.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/field_mask.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "services/complaint/business_time.h"
#include "services/complaint/complaint_store.h"
#include "services/complaint/outbound.h"

namespace care::complaint {

struct MetricsPlan;  // desk_metrics.h

struct ComplaintOptions {
  absl::Duration reopen_window = absl::Hours(24 * 7);
  absl::Duration survey_validity = absl::Hours(24 * 14);
  absl::Duration check_in_delay = absl::Hours(24 * 3);
  bool survey_enabled = true;
  bool check_in_enabled = true;
  // Approval limit of an agent when the settings name none (supervisors and
  // admins are unlimited unless the settings say otherwise).
  int64_t agent_points_limit = 500;
  // Metric computations (each a scan of up to 400 days of the index) that
  // may run at once; more are refused with RESOURCE_EXHAUSTED.
  int metrics_concurrency = 2;
  // Free texts of a ticket closed longer ago are blanked by the text
  // retention job (--closed_complaint_text_retention, 30 to 3660 days).
  absl::Duration closed_text_retention = absl::Hours(24 * 730);
  // Asked after an erasure commits, so that what it deleted or blanked is gone
  // from the database files too (Database::Scrub, retried by its job until it
  // succeeds); null: nothing to run.
  ErasureScrub* scrub = nullptr;
};

// Who acts: recorded in the audit trail and checked against approval limits.
struct ActorInfo {
  std::string principal;
  care::common::v1::Role role = care::common::v1::ROLE_UNSPECIFIED;  // the highest role held
  bool system = false;
};

// The member's tier as the tier cache reported it at intake.
struct TierAtIntake {
  v1::TierInfo info;
  v1::Priority support_priority = v1::PRIORITY_NORMAL;
};

// ----------------------------------------------------------------- commands
// What the adapter hands over once a request's shape was checked. A change to
// one complaint names it and the version it expects (0: any).

struct NewComplaint {
  std::string member_id;
  std::string contact_id;                             // instead of member_id: a contact without membership
  v1::TicketKind kind = v1::TICKET_KIND_UNSPECIFIED;  // unspecified: COMPLAINT
  v1::Channel channel = v1::CHANNEL_UNSPECIFIED;
  v1::Category category = v1::CATEGORY_UNSPECIFIED;
  std::string order_id, subject, description, locale;
  v1::Priority priority = v1::PRIORITY_UNSPECIFIED;  // unspecified: the tier's support priority
  std::string team_id, assignee_agent_id;
  std::optional<absl::Time> received_time;  // none: now
};

// The fields of `values` named in `paths` (category, order_id, subject,
// locale, priority).
struct ComplaintEdit {
  std::string complaint_id;
  int64_t expected_version = 0;
  v1::Complaint values;
  std::vector<std::string> paths;
  std::string reason;
};

struct StatusChange {
  std::string complaint_id;
  int64_t expected_version = 0;
  v1::ComplaintStatus to_status = v1::COMPLAINT_STATUS_UNSPECIFIED;
  std::string reason;
};

struct AgentReply {
  std::string complaint_id;
  int64_t expected_version = 0;
  std::string text;
  std::optional<google::protobuf::Duration> consultation_time;
  bool wait_for_customer = false;
};

// Goodwill asked for with a resolution: points or a voucher.
struct GoodwillGrant {
  v1::CompensationKind kind = v1::COMPENSATION_KIND_POINTS;
  int64_t points = 0;
  v1::VoucherGrant voucher;
  std::string reason_code, note;
};

struct Resolution {
  std::string complaint_id;
  int64_t expected_version = 0;
  std::string summary;
  google::protobuf::Duration consultation_time;
  std::optional<GoodwillGrant> compensation;
};

struct Reopening {
  std::string complaint_id;
  int64_t expected_version = 0;
  std::string reason;
};

struct Assignment {
  std::string complaint_id;
  int64_t expected_version = 0;
  std::string agent_id, team_id;  // an empty team keeps the current one
  std::string reason;
};

struct Handover {
  std::string complaint_id;
  int64_t expected_version = 0;
  std::string to_agent_id, to_team_id;  // an empty team keeps the current one
  std::string handover_note, reason;
};

struct CustomerContact {
  std::string complaint_id;
  std::string text;
  v1::Channel channel = v1::CHANNEL_UNSPECIFIED;
  std::optional<google::protobuf::Timestamp> received_time;  // none: now; kept as sent
  google::protobuf::Duration consultation_time;
};

struct Note {
  std::string complaint_id;
  std::string text;
  google::protobuf::Duration consultation_time;
};

// A supervisor's decision on a compensation awaiting approval.
struct Decision {
  std::string complaint_id, compensation_id, reason;
};

struct SurveyAnswer {
  std::string token;
  int32_t score = 0;
  std::string comment;
};

// Where an export of one member's data resumes: after the complaint sent
// last and, within it, after the event sent last.
struct ExportCursor {
  std::string complaint_id;  // "": before the first
  int64_t after_event = 0;
  bool events_sent = true;  // every event of `complaint_id` went out
  bool done = false;
};

// An erasure of one person (ErasePersonalData): the member id (tickets are
// filed by member), every subject key of the request (tombstoned) and the
// pseudonym that replaces the member id on the tickets kept for metrics.
struct Erasure {
  std::string erasure_id;
  std::string member_id;
  std::string email, phone;  // the subject's: contacts with them are erased
  std::vector<std::string> keys;
  std::string pseudonym;
  std::string reason;  // passed on to notification with the erased contacts
};

// Contacts an export or erasure reads at a time (and names in one request
// to notification): a person with many contacts never sits in memory at once.
inline constexpr int kContactBatch = 50;

// Where an export of a person's contacts resumes: after the contact sent
// last.
struct ContactExportCursor {
  std::string after;
  bool done = false;
};

class ComplaintService final {
 public:
  ComplaintService(ComplaintStore& store, const Clock& clock, ComplaintOptions options,
                   std::unique_ptr<Outbound> outbound = NewOutbound());
  ~ComplaintService();

  absl::Time Now() const { return clock_.Now(); }
  // Records a bulk read of personal data (an export) in the audit log as it starts.
  absl::Status AuditRead(const AuditRecord& record) { return care::AuditRead(store_, record); }

  // Configuration (config.cc). Versions checked are 0 for "any".
  absl::StatusOr<v1::BusinessCalendar> CreateCalendar(const Once& once, const v1::BusinessCalendar& calendar);
  absl::StatusOr<v1::BusinessCalendar> GetCalendar(const std::string& id);
  absl::StatusOr<std::vector<v1::BusinessCalendar>> ListCalendars();
  // Re-times the running clocks of the open complaints counting in it.
  absl::StatusOr<v1::BusinessCalendar> UpdateCalendar(const Once& once, const v1::BusinessCalendar& calendar,
                                                      const google::protobuf::FieldMask& mask);
  absl::Status DeleteCalendar(const Once& once, const std::string& id, int64_t expected_version);
  absl::StatusOr<v1::SlaPolicy> CreatePolicy(const Once& once, const v1::SlaPolicy& policy);
  // version 0: the current one.
  absl::StatusOr<v1::SlaPolicy> GetPolicy(const std::string& id, int64_t version = 0);
  absl::StatusOr<std::vector<v1::SlaPolicy>> ListPolicies();
  absl::StatusOr<v1::SlaPolicy> UpdatePolicy(const Once& once, const v1::SlaPolicy& policy,
                                             const google::protobuf::FieldMask& mask);
  absl::Status DeletePolicy(const Once& once, const std::string& id, int64_t expected_version);
  absl::StatusOr<v1::ForbiddenPhraseList> PutPhrases(const Once& once, const v1::ForbiddenPhraseList& list,
                                                     int64_t expected_version, const ActorInfo& actor);
  absl::StatusOr<v1::ForbiddenPhraseList> GetPhrases(const std::string& locale);
  absl::StatusOr<std::vector<v1::ForbiddenPhraseList>> ListPhrases();
  absl::StatusOr<v1::Script> PutScript(const Once& once, const v1::Script& script, int64_t expected_version,
                                       const ActorInfo& actor);
  absl::StatusOr<v1::Script> GetScript(v1::Category category, const std::string& locale, int64_t version);
  // The latest script for the complaint's category: its locale, base
  // language, then the default ("").
  absl::StatusOr<v1::Script> ScriptForComplaint(const std::string& complaint_id);
  absl::StatusOr<std::vector<v1::Script>> ListScripts(v1::Category category);
  absl::StatusOr<v1::ComplaintSettings> GetSettings();
  // An empty mask replaces the settings whole.
  absl::StatusOr<v1::ComplaintSettings> UpdateSettings(const Once& once, const v1::ComplaintSettings& settings,
                                                       const google::protobuf::FieldMask& mask);

  // Tickets (tickets.cc).
  absl::StatusOr<v1::CreateComplaintResponse> Create(const Once& once, const NewComplaint& cmd,
                                                     const TierAtIntake& tier, const ActorInfo& actor);
  absl::StatusOr<v1::Complaint> Get(const std::string& id);
  // One page of the complaints matching `query` and the filters the store
  // does not index; `next` is the cursor of the following page, if any.
  struct Page {
    std::vector<v1::Complaint> complaints;
    std::optional<std::pair<int64_t, std::string>> next;
  };
  struct ListFilter {
    ComplaintQuery query;
    std::vector<int> compensation_statuses;
    std::string escalation_notified_agent_id;
    std::vector<int> kinds;
  };
  absl::StatusOr<Page> List(const ListFilter& filter, int page_size);
  // Up to `limit` events of the complaint after sequence `after`, in order.
  absl::StatusOr<std::vector<v1::ComplaintEvent>> Events(const std::string& id, int64_t after, int limit);
  absl::StatusOr<v1::Complaint> Update(const Once& once, const ComplaintEdit& cmd, const ActorInfo& actor);
  absl::StatusOr<v1::Complaint> Transition(const Once& once, const StatusChange& cmd, const ActorInfo& actor);
  // Checks a reply's text without storing or sending anything.
  absl::StatusOr<v1::ReplyToComplaintResponse> CheckReply(const std::string& complaint_id, const std::string& text);
  absl::StatusOr<v1::ReplyToComplaintResponse> Reply(const Once& once, const AgentReply& cmd, const ActorInfo& actor);
  absl::StatusOr<v1::Complaint> Reopen(const Once& once, const Reopening& cmd, const ActorInfo& actor);
  absl::StatusOr<v1::Complaint> Assign(const Once& once, const Assignment& cmd, const ActorInfo& actor);
  absl::StatusOr<v1::Complaint> Transfer(const Once& once, const Handover& cmd, const ActorInfo& actor);
  absl::StatusOr<v1::RecordCustomerMessageResponse> CustomerMessage(const Once& once, const CustomerContact& cmd,
                                                                    const ActorInfo& actor);
  absl::StatusOr<v1::AddNoteResponse> AddNote(const Once& once, const Note& cmd, const ActorInfo& actor);
  absl::StatusOr<v1::SurveyResponse> AnswerSurvey(const Once& once, const SurveyAnswer& cmd);

  // Contacts (contacts.cc): people without membership who file tickets or
  // are followed up as prospects.
  absl::StatusOr<v1::Contact> CreateContact(const Once& once, const v1::Contact& contact, const ActorInfo& actor);
  // NOT_FOUND / CONTACT_NOT_FOUND when there is none.
  absl::StatusOr<v1::Contact> GetContact(const std::string& id);
  // A page of the contacts matching the query and the filters the store does
  // not index (an interest, a granted consent on a channel); `next` is the
  // cursor of the following page ("" at the end). A page may be short when
  // few of the rows read match.
  struct ContactFilter {
    ContactQuery query;
    std::string interest;
    int consented_channel = 0;
  };
  struct ContactPage {
    std::vector<v1::Contact> contacts;
    std::string next;
  };
  absl::StatusOr<ContactPage> ListContacts(const ContactFilter& filter, int page_size);
  // UpdateContact: the `paths` of `changes` replace the stored contact's;
  // the result is validated as CreateContact validates.
  struct ContactEdit {
    std::string contact_id;
    int64_t expected_version = 0;
    v1::Contact changes;
    std::vector<std::string> paths;
  };
  absl::StatusOr<v1::Contact> UpdateContact(const Once& once, const ContactEdit& cmd, const ActorInfo& actor);
  // Links the unlinked contacts with the member's e-mail address or phone,
  // and moves their tickets under the member; idempotent by `once`.
  absl::StatusOr<v1::LinkContactsResponse> LinkContacts(const Once& once, const std::string& member_id,
                                                        const std::string& email, const std::string& phone);

  // Resolution and goodwill (goodwill.cc).
  absl::StatusOr<v1::ResolveComplaintResponse> Resolve(const Once& once, const Resolution& cmd, const ActorInfo& actor);
  absl::StatusOr<v1::Complaint> Approve(const Once& once, const Decision& cmd, const ActorInfo& actor);
  absl::StatusOr<v1::Complaint> Reject(const Once& once, const Decision& cmd, const ActorInfo& actor);
  // The outbox relay's report on a goodwill event, in its transaction:
  // delivered (`response` is the receiver's answer) makes the compensation
  // ISSUED with the receiver's reference; a final refusal makes it FAILED
  // with the receiver's reason. A FAILED one whose event an admin replays
  // becomes ISSUED when it is delivered.
  absl::Status GoodwillOutcome(StoreTxn& tx, const OutboxEvent& event, const absl::Status& result,
                               const std::string& response);

  // Personal data (personal_data.cc). Up to about `limit` items of the
  // member's data after `cursor` (advanced): each complaint (with its
  // compensations), then its events, then its survey answer; cursor.done
  // once everything went.
  absl::StatusOr<std::vector<v1::ComplaintPersonalData>> ExportPersonalData(const std::string& member_id,
                                                                            ExportCursor& cursor, int limit);
  // The next batch of the person's contacts (kContactBatch: those with the
  // e-mail address or phone, and those linked to the member; any may be
  // empty) after `cursor` (advanced; done after the last): each contact
  // record, then each of its tickets not filed under a member (those come
  // with the member's) with its survey answer and audit trail, in one read.
  absl::StatusOr<std::vector<v1::ComplaintPersonalData>> ExportContacts(const SubjectContactQuery& subject,
                                                                        ContactExportCursor& cursor);
  // In one write transaction, idempotent by `once`: every text of the
  // member's tickets blanked, the tickets re-keyed to the pseudonym with
  // their facts (times, status, category, SLA outcome, score, compensation
  // amounts) intact, survey tokens deleted, a scheduled check-in cancelled,
  // then the common records and tombstones. Scrubs the files after.
  absl::StatusOr<care::common::v1::ErasureReceipt> ErasePersonalData(const Once& once, const Erasure& cmd);
  // FAILED_PRECONDITION / SUBJECT_ERASED when the member was erased here.
  absl::Status RefuseErased(const std::string& member_id);

  absl::StatusOr<v1::ComplaintMetrics> Metrics(absl::Time from, absl::Time to,
                                               const std::vector<v1::MetricsDimension>& group_by,
                                               const std::vector<v1::OrderCount>& order_counts);

  // The SLA job (sla_job.cc): marks breaches, fires escalation levels that
  // are due, hands due check-ins to the notification service and closes
  // resolved complaints whose reopen window ended. A failure is logged
  // (LogJobFailure). Returns true when more work may be waiting.
  bool RunSlaChecks();

  // The text retention job (text_retention.cc): in one write transaction, up
  // to a batch of tickets closed longer than options.closed_text_retention
  // ago have their free texts blanked as erasure blanks them (BlankTicket),
  // with the stored answers and delivered outbox events tagged with them, and
  // are marked (texts_removed_time) so they are not taken again; the facts
  // metrics need stay. Scrubs the files after. A failure is logged
  // (LogJobFailure). Returns true when the batch was full.
  bool RunTextRetention();

  // The metrics rollup job (metrics_rollup.cc): up to a batch of dirty days,
  // oldest first, each rolled up in one write transaction (its rows by full
  // group key, its markers read deleted), then the months that ended and
  // have no dirty day. A failure is logged (LogJobFailure). Returns true
  // when more days are dirty.
  bool RunMetricsRollup();

 private:
  // The rollup job's steps: one day, one month (metrics_rollup.cc).
  absl::Status RollUpDay(int64_t day);
  absl::Status RollUpMonth(int64_t month);
  // The metrics read (metrics_rollup.cc): the rolled-up groups that are
  // exact for [from, to), in one read; `plan` says what remains raw.
  absl::StatusOr<std::vector<MetricGroup>> RolledUpGroups(absl::Time from, absl::Time to, MetricsPlan& plan);
  // The raw rows of the intervals, read in parallel slices on the pool.
  absl::StatusOr<std::vector<std::vector<MetricRow>>> RawMetricRows(
      const std::vector<std::pair<absl::Time, absl::Time>>& raw);

  // Resolution itself: clocks stop, the customer is told, the survey goes out
  // and the check-in is scheduled.
  absl::Status ResolveNow(StoreTxn& tx, v1::Complaint& c, const v1::ComplaintSettings& settings, const ActorInfo& actor,
                          absl::Time now);
  absl::Status SendSurvey(StoreTxn& tx, v1::Complaint& c, const v1::ComplaintSettings& settings, absl::Time now);
  absl::Status ScheduleCheckIn(StoreTxn& tx, v1::Complaint& c, const v1::ComplaintSettings& settings,
                               const ActorInfo& actor, absl::Time now);
  // Goodwill within the requester's limit is issued, above it parked.
  absl::Status Compensate(StoreTxn& tx, v1::Complaint& c, const GoodwillGrant& grant,
                          const v1::ComplaintSettings& settings, const ActorInfo& actor, absl::Time now,
                          v1::ResolveComplaintResponse& out);
  // The "we have received it" message to the customer of a new ticket.
  absl::Status AcknowledgeIntake(StoreTxn& tx, const v1::Complaint& c, absl::Time now);
  // Enqueues the message `build` makes for the ticket's customer: the member
  // (`build` gets nullptr), or the contact of a ticket filed by a contact and
  // not linked to a member since.
  absl::Status TellCustomer(StoreTxn& tx, const v1::Complaint& c,
                            const std::function<OutboxEvent(const v1::Contact*)>& build);
  // Hands the compensation to its receiver through the outbox: ISSUING.
  absl::Status Issue(StoreTxn& tx, const v1::Complaint& c, v1::Compensation& comp);

  // Staff alerts (staff_alerts.cc), in the transaction of the change they
  // report. An agent not in the staff directory gets none.
  absl::Status AlertStaff(StoreTxn& tx, const v1::Complaint& c, const v1::ComplaintSettings& settings,
                          const std::string& agent_id, StaffAlert alert, absl::Time now);
  // The team lead of each NOTIFY_TEAM_LEAD escalation recorded on `c` from
  // index `first` on.
  absl::Status AlertEscalations(StoreTxn& tx, const v1::Complaint& c, int first, absl::Time now);
  // The assignee (else the team lead) of a running clock whose due time is
  // within the policy's breach_warning_before, once per clock and cycle.
  absl::Status WarnBeforeBreach(StoreTxn& tx, v1::Complaint& c, const Calendar& cal, const v1::SlaPolicy& policy,
                                absl::Time now);
  // The team lead of a compensation waiting for approval.
  absl::Status AlertApproval(StoreTxn& tx, const v1::Complaint& c, const v1::Compensation& comp,
                             const v1::ComplaintSettings& settings, absl::Time now);
  // The assignee (else the team lead) of a reopened complaint.
  absl::Status AlertReopened(StoreTxn& tx, const v1::Complaint& c, absl::Time now);

  // A change to one open complaint: its version checked, refused once
  // closed, saved with one more version and returned; idempotent by `once`.
  template <typename Fn>
  absl::StatusOr<v1::Complaint> ChangeOpen(const Once& once, const std::string& complaint_id, int64_t expected_version,
                                           absl::Time now, Fn fn);

  // One round of the SLA job in `tx`; the breaches it marked, for metrics.
  struct SlaRound;
  absl::Status CheckSla(StoreTxn& tx, absl::Time now, SlaRound& round);
  absl::Status CheckDue(StoreTxn& tx, v1::Complaint& c, absl::Time now, SlaRound& round);

  ComplaintStore& store_;
  const Clock& clock_;
  ComplaintOptions options_;
  std::unique_ptr<Outbound> outbound_;
  std::atomic<int> metrics_running_{0};
  // The slices of a metrics scan run here: a fixed set of threads made
  // once, not four new threads per call. Last member: it joins first.
  std::unique_ptr<WorkPool> metrics_pool_;
};

// Which status changes TransitionComplaint allows.
bool TransitionAllowed(v1::ComplaintStatus from, v1::ComplaintStatus to);

}  // namespace care::complaint
