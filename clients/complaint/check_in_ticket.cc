#include "clients/complaint/check_in_ticket.h"

#include "absl/strings/str_cat.h"
#include "care/complaint/v1/complaint.pb.h"
#include "common/ids.h"
#include "common/privacy.h"

namespace care::clients::complaint {

namespace v1 = ::care::complaint::v1;

OutboxEvent CheckInTicketEvent(const CheckInTicket& ticket) {
  // Hashed: a rule id and a member id could together exceed the 128
  // characters of a request id. '\n' is in neither, so keys cannot collide.
  const std::string id = StableId("loyalty:task:",
                                  absl::StrCat(ticket.rule_id, "\n", ticket.member_id, "\n", ticket.contact));
  v1::CreateComplaintRequest request;
  request.set_request_id(id);
  request.set_member_id(ticket.member_id);
  request.set_kind(v1::TICKET_KIND_CARE_CHECK_IN);
  request.set_category(v1::CATEGORY_OTHER);
  request.set_subject(ticket.subject);
  request.set_description(absl::StrCat("Proactive check-in (care cadence rule \"", ticket.rule_id, "\", contact ",
                                       ticket.contact, "): reach out to the member as you see fit."));
  request.set_locale(ticket.locale);
  request.set_team_id(ticket.team_id);
  OutboxEvent event{id, "complaint", kCreateComplaintMethod, request.SerializeAsString()};
  event.subject = MemberSubject(ticket.member_id);
  return event;
}

}  // namespace care::clients::complaint
