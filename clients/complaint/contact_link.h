#pragma once

// Linking a care-desk contact to a new member: the LinkContacts request
// loyalty sends complaint through its outbox when a member enrols.

#include <string>

#include "common/store.h"  // OutboxEvent

namespace care::clients::complaint {

inline constexpr char kLinkContactsMethod[] = "/care.complaint.v1.ComplaintService/LinkContacts";

// The outbox event (destination "complaint") asking complaint to link the
// contacts with the member's e-mail address or phone; `event_id` is its
// request id too, so a redelivery links once. Tagged with the member and
// blanked once delivered: it carries their addresses.
OutboxEvent LinkContactsEvent(const std::string& event_id, const std::string& member_id, const std::string& email,
                              const std::string& phone);

}  // namespace care::clients::complaint
