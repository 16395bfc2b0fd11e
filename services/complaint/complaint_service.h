#pragma once

// The complaint service's domain: intake with tier and duplicate detection,
// the lifecycle, SLA clocks in business time with escalation levels, replies
// checked for forbidden phrases, goodwill compensation within approval
// limits, surveys and metrics. No gRPC and no SQL here: storage is the
// ComplaintStore interface, other services are reached through outbox events.
// Tickets are kept in their contract form (v1::Complaint) to stay one
// representation; the rules are in the functions below.

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "care/complaint/v1/complaint.pb.h"
#include "common/clock.h"
#include "common/work_pool.h"
#include "services/complaint/business_time.h"
#include "services/complaint/complaint_store.h"

namespace care::complaint {

// The goodwill calls complaint hands to the outbox; their outcomes come back
// through GoodwillOutcome.
inline constexpr char kAdjustPointsMethod[] = "/care.loyalty.v1.LoyaltyService/AdjustPoints";
inline constexpr char kIssueVoucherMethod[] = "/care.promotion.v1.PromotionService/IssueVoucher";

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

class ComplaintService final {
 public:
  ComplaintService(ComplaintStore& store, const Clock& clock, ComplaintOptions options);

  absl::Time Now() const { return clock_.Now(); }

  // Configuration.
  absl::StatusOr<v1::BusinessCalendar> CreateCalendar(const v1::CreateBusinessCalendarRequest& req);
  absl::StatusOr<v1::BusinessCalendar> GetCalendar(const std::string& id);
  absl::StatusOr<v1::SlaPolicy> CreatePolicy(const v1::CreateSlaPolicyRequest& req);
  absl::StatusOr<std::vector<v1::BusinessCalendar>> ListCalendars();
  absl::StatusOr<v1::BusinessCalendar> UpdateCalendar(const v1::UpdateBusinessCalendarRequest& req);
  absl::Status DeleteCalendar(const v1::DeleteBusinessCalendarRequest& req);
  // version 0: the current one.
  absl::StatusOr<v1::SlaPolicy> GetPolicy(const std::string& id, int64_t version = 0);
  absl::StatusOr<std::vector<v1::SlaPolicy>> ListPolicies();
  absl::StatusOr<v1::SlaPolicy> UpdatePolicy(const v1::UpdateSlaPolicyRequest& req);
  absl::Status DeletePolicy(const v1::DeleteSlaPolicyRequest& req);
  absl::StatusOr<v1::ForbiddenPhraseList> PutPhrases(const v1::PutForbiddenPhrasesRequest& req,
                                                     const ActorInfo& actor);
  absl::StatusOr<v1::ForbiddenPhraseList> GetPhrases(const std::string& locale);
  absl::StatusOr<std::vector<v1::ForbiddenPhraseList>> ListPhrases();
  absl::StatusOr<v1::Script> PutScript(const v1::PutScriptRequest& req, const ActorInfo& actor);
  absl::StatusOr<v1::Script> GetScript(v1::Category category, const std::string& locale, int64_t version);
  // The latest script for the complaint's category: its locale, base
  // language, then the default ("").
  absl::StatusOr<v1::Script> ScriptForComplaint(const std::string& complaint_id);
  absl::StatusOr<std::vector<v1::Script>> ListScripts(v1::Category category);
  absl::StatusOr<v1::ComplaintSettings> GetSettings();
  absl::StatusOr<v1::ComplaintSettings> UpdateSettings(const v1::UpdateComplaintSettingsRequest& req);

  // Tickets.
  absl::StatusOr<v1::CreateComplaintResponse> Create(const v1::CreateComplaintRequest& req, const TierAtIntake& tier,
                                                     const ActorInfo& actor);
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
  };
  absl::StatusOr<Page> List(const ListFilter& filter, int page_size);
  absl::StatusOr<v1::Complaint> Update(const v1::UpdateComplaintRequest& req, const ActorInfo& actor);
  absl::StatusOr<v1::ListComplaintEventsResponse> Events(const std::string& id, int64_t after, int limit);
  absl::StatusOr<v1::Complaint> Transition(const v1::TransitionComplaintRequest& req, const ActorInfo& actor);
  absl::StatusOr<v1::ReplyToComplaintResponse> Reply(const v1::ReplyToComplaintRequest& req, const ActorInfo& actor);
  absl::StatusOr<v1::ResolveComplaintResponse> Resolve(const v1::ResolveComplaintRequest& req,
                                                       const ActorInfo& actor);
  absl::StatusOr<v1::Complaint> Reopen(const v1::ReopenComplaintRequest& req, const ActorInfo& actor);
  absl::StatusOr<v1::Complaint> Assign(const v1::AssignComplaintRequest& req, const ActorInfo& actor);
  absl::StatusOr<v1::Complaint> Transfer(const v1::TransferComplaintRequest& req, const ActorInfo& actor);
  absl::StatusOr<v1::RecordCustomerMessageResponse> CustomerMessage(const v1::RecordCustomerMessageRequest& req,
                                                                    const ActorInfo& actor);
  absl::StatusOr<v1::AddNoteResponse> AddNote(const v1::AddNoteRequest& req, const ActorInfo& actor);
  absl::StatusOr<v1::Complaint> Approve(const v1::ApproveCompensationRequest& req, const ActorInfo& actor);
  absl::StatusOr<v1::Complaint> Reject(const v1::RejectCompensationRequest& req, const ActorInfo& actor);
  absl::StatusOr<v1::SurveyResponse> AnswerSurvey(const v1::SubmitSurveyResponseRequest& req);
  absl::StatusOr<v1::ComplaintMetrics> Metrics(absl::Time from, absl::Time to,
                                               const std::vector<v1::MetricsDimension>& group_by,
                                               const std::vector<v1::OrderCount>& order_counts);

  // The outbox relay's report on a goodwill event, in its transaction:
  // delivered (`response` is the receiver's AdjustPointsResponse or Voucher)
  // makes the compensation ISSUED with the receiver's reference; a final
  // refusal makes it FAILED with the receiver's reason. A FAILED one whose
  // event an admin replays becomes ISSUED when it is delivered.
  absl::Status GoodwillOutcome(StoreTxn& tx, const OutboxEvent& event, const absl::Status& result,
                               const std::string& response);

  // The SLA job: marks breaches, fires escalation levels that are due, hands
  // due check-ins to the notification service and closes resolved complaints
  // whose reopen window ended.
  // Returns true when more work may be waiting.
  bool RunSlaChecks();

 private:
  absl::Status ResolveNow(StoreTxn& tx, v1::Complaint& c, const v1::ComplaintSettings& settings,
                          const ActorInfo& actor, absl::Time now);

  template <typename Fn>
  absl::StatusOr<v1::Complaint> Change(absl::string_view scope, const google::protobuf::Message& req,
                                       const std::string& complaint_id, int64_t expected_version, absl::Time now,
                                       Fn fn);

  template <typename Response, typename Fn>
  absl::StatusOr<Response> Mutate(absl::string_view scope, const std::string& request_id,
                                  const google::protobuf::Message& request, Fn fn);

  ComplaintStore& store_;
  const Clock& clock_;
  ComplaintOptions options_;
  std::atomic<int> metrics_running_{0};
  // The slices of a metrics scan run here: a fixed set of threads made
  // once, not four new threads per call. Last member: it joins first.
  std::unique_ptr<WorkPool> metrics_pool_;
};

// Exposed for the rules test: which status changes TransitionComplaint allows.
bool TransitionAllowed(v1::ComplaintStatus from, v1::ComplaintStatus to);

}  // namespace care::complaint
