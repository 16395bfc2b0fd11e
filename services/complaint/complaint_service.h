#pragma once

// The complaint service's domain: intake with tier and duplicate detection,
// the lifecycle, SLA clocks in business time with escalation levels, replies
// checked for forbidden phrases, goodwill compensation within approval
// limits, surveys and metrics. No gRPC and no SQL here: storage is the
// ComplaintStore interface, other services are reached through outbox events.
// Tickets are kept in their contract form (v1::Complaint) to stay one
// representation; the rules are in the functions below.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "care/complaint/v1/complaint.pb.h"
#include "common/clock.h"
#include "services/complaint/business_time.h"
#include "services/complaint/complaint_store.h"

namespace care::complaint {

struct ComplaintOptions {
  absl::Duration reopen_window = absl::Hours(24 * 7);
  absl::Duration survey_validity = absl::Hours(24 * 14);
  absl::Duration check_in_delay = absl::Hours(24 * 3);
  bool survey_enabled = true;
  bool check_in_enabled = true;
  // Approval limit of an agent when the settings name none (supervisors and
  // admins are unlimited unless the settings say otherwise).
  int64_t agent_points_limit = 500;
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
  absl::StatusOr<v1::SlaPolicy> GetPolicy(const std::string& id);
  absl::StatusOr<v1::ForbiddenPhraseList> PutPhrases(const v1::PutForbiddenPhrasesRequest& req,
                                                     const ActorInfo& actor);
  absl::StatusOr<v1::ForbiddenPhraseList> GetPhrases(const std::string& locale);
  absl::StatusOr<v1::ComplaintSettings> GetSettings();
  absl::StatusOr<v1::ComplaintSettings> UpdateSettings(const v1::UpdateComplaintSettingsRequest& req);

  // Tickets.
  absl::StatusOr<v1::CreateComplaintResponse> Create(const v1::CreateComplaintRequest& req, const TierAtIntake& tier,
                                                     const ActorInfo& actor);
  absl::StatusOr<v1::Complaint> Get(const std::string& id);
  absl::StatusOr<v1::ListComplaintEventsResponse> Events(const std::string& id, int64_t after, int limit);
  absl::StatusOr<v1::Complaint> Transition(const v1::TransitionComplaintRequest& req, const ActorInfo& actor);
  absl::StatusOr<v1::ReplyToComplaintResponse> Reply(const v1::ReplyToComplaintRequest& req, const ActorInfo& actor);
  absl::StatusOr<v1::ResolveComplaintResponse> Resolve(const v1::ResolveComplaintRequest& req,
                                                       const ActorInfo& actor);
  absl::StatusOr<v1::Complaint> Approve(const v1::ApproveCompensationRequest& req, const ActorInfo& actor);
  absl::StatusOr<v1::SurveyResponse> AnswerSurvey(const v1::SubmitSurveyResponseRequest& req);
  absl::StatusOr<v1::ComplaintMetrics> Metrics(absl::Time from, absl::Time to);

  // The SLA job: marks breaches and fires escalation levels that are due.
  // Returns true when more work may be waiting.
  bool RunSlaChecks();

 private:
  template <typename Response, typename Fn>
  absl::StatusOr<Response> Mutate(absl::string_view scope, const std::string& request_id,
                                  const google::protobuf::Message& request, Fn fn);

  ComplaintStore& store_;
  const Clock& clock_;
  ComplaintOptions options_;
};

// Exposed for the rules test: which status changes TransitionComplaint allows.
bool TransitionAllowed(v1::ComplaintStatus from, v1::ComplaintStatus to);

}  // namespace care::complaint
