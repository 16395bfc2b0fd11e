#pragma once

// What complaint tells other services, in the domain's terms: goodwill for
// loyalty (points) and promotion (vouchers), messages for the member through
// notification. The domain asks Outbound for the event and enqueues it in its
// own transaction (the outbox); Outbound alone knows the receivers' messages.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "care/complaint/v1/complaint.pb.h"
#include "common/store.h"  // OutboxEvent

namespace care::complaint {

// The methods of the goodwill events complaint hands to the outbox (named by
// clients/); their outcomes come back through ComplaintService::GoodwillOutcome.
extern const char* const kAdjustPointsMethod;
extern const char* const kIssueVoucherMethod;

// What the member is told about their complaint.
enum class MemberUpdate { kAcknowledged, kUpdated, kResolved };

// A receiver's answer to a goodwill event: which compensation it was for and
// the receiver's reference (loyalty's ledger entry id, the voucher code),
// when its answer could be read.
struct GoodwillReceipt {
  std::string complaint_id;
  std::string compensation_id;
  std::optional<std::string> reference;
  std::optional<std::string> voucher_code;
};

// An alert for one employee of the staff directory about a complaint.
enum class StaffAlertKind { kEscalation, kBreachWarning, kCompensationApproval, kReopened };
struct StaffAlert {
  StaffAlertKind kind = StaffAlertKind::kEscalation;
  v1::StaffMember recipient;
  // Unique among the complaint's alerts of any kind ("esc:FIRST_RESPONSE:1:0",
  // "approval:<compensation>"), so a retried or replayed write sends it once.
  std::string occurrence;
  int32_t level = 0;
  v1::SlaTarget target = v1::SLA_TARGET_UNSPECIFIED;
  v1::Priority priority = v1::PRIORITY_UNSPECIFIED;
  absl::Time due_time = absl::InfinitePast();  // InfinitePast: none
  std::string compensation_id, compensation;
  int32_t reopen_count = 0;
};

class Outbound {
 public:
  virtual ~Outbound() = default;

  // The compensation (points or voucher) for loyalty or promotion; its id is
  // their request id, so it is applied once however often it is delivered.
  virtual OutboxEvent RequestGoodwill(const v1::Complaint& c, const v1::Compensation& comp) const = 0;
  // The customer's messages below go to the member, or with `contact` set
  // (a ticket filed by a contact without membership) to the contact at
  // their address.

  // A ComplaintUpdate for the customer; `what` makes the event id unique per
  // message of the complaint.
  virtual OutboxEvent NotifyMember(const v1::Complaint& c, absl::string_view what, MemberUpdate kind,
                                   const std::string& message, absl::Time now, const v1::Contact* contact) const = 0;
  // The satisfaction survey invitation with its single-use token.
  virtual OutboxEvent InviteToSurvey(const v1::Complaint& c, const std::string& token, absl::Time expire_time,
                                     absl::Time now, const v1::Contact* contact) const = 0;
  // The proactive check-in, when it is due.
  virtual OutboxEvent CheckIn(const v1::Complaint& c, absl::Time now, const v1::Contact* contact) const = 0;

  // A staff alert through notification (webhook or e-mail, in the staff
  // member's locale); its event id names the complaint, the occurrence and
  // the recipient.
  virtual OutboxEvent AlertStaff(const v1::Complaint& c, const StaffAlert& alert, absl::Time now) const = 0;

  // Notification's erasure of its deliveries to contacts complaint erased
  // (batch `k` of erasure `erasure_id`, at most kMaxSubjectContactIds), under
  // an erasure id of its own derived from both, so a retry is the same
  // erasure there.
  virtual OutboxEvent EraseContactDeliveries(const std::string& erasure_id, int k,
                                             const std::vector<std::string>& contact_ids, const std::string& pseudonym,
                                             const std::string& reason) const = 0;

  // The goodwill event `event` was and, once delivered, the receiver's
  // `response` read; nullopt when it is not a goodwill event complaint sent.
  virtual std::optional<GoodwillReceipt> ReadGoodwill(const OutboxEvent& event, const std::string& response) const = 0;
};

// Events built by clients/<receiver>/ (loyalty AdjustPoints, promotion
// IssueVoucher, notification IngestEvent).
std::unique_ptr<Outbound> NewOutbound();

}  // namespace care::complaint
