#pragma once

// A care cadence task (loyalty CadenceRule action AGENT_TASK): the
// CreateComplaint request of kind TICKET_KIND_CARE_CHECK_IN that loyalty sends
// complaint through its outbox when a rule reaches a member.

#include <string>

#include "common/store.h"  // OutboxEvent

namespace care::clients::complaint {

inline constexpr char kCreateComplaintMethod[] = "/care.complaint.v1.ComplaintService/CreateComplaint";

struct CheckInTicket {
  std::string member_id;
  std::string rule_id;
  int contact = 0;      // the rule's n-th check-in of the member
  std::string subject;  // the rule's name in the member's language
  std::string locale;   // the member's; empty = complaint's default
  std::string team_id;  // empty = no team queue
};

// The outbox event (destination "complaint"). Its id, also the request id,
// is derived from (rule, member, contact), so retries, restarts and replicas
// file one ticket. Tagged with the member: an erasure deletes it pending.
OutboxEvent CheckInTicketEvent(const CheckInTicket& ticket);

}  // namespace care::clients::complaint
