#include "clients/complaint/contact_link.h"

#include "care/complaint/v1/complaint.pb.h"
#include "common/privacy.h"

namespace care::clients::complaint {

OutboxEvent LinkContactsEvent(const std::string& event_id, const std::string& member_id, const std::string& email,
                              const std::string& phone) {
  care::complaint::v1::LinkContactsRequest request;
  request.set_request_id(event_id);
  request.set_member_id(member_id);
  request.set_email(email);
  request.set_phone(phone);
  OutboxEvent event{event_id, "complaint", kLinkContactsMethod, request.SerializeAsString()};
  event.subject = MemberSubject(member_id);
  event.scrub_when_delivered = true;
  return event;
}

}  // namespace care::clients::complaint
