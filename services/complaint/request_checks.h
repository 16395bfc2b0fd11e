#pragma once

// Request checks of the gRPC adapter that need no server, so fuzz/ can call
// them directly. Bad fields are INVALID_ARGUMENT naming each of them.

#include <string>

#include "absl/status/status.h"
#include "care/complaint/v1/complaint.pb.h"
#include "common/errors.h"
#include "google/protobuf/duration.pb.h"

namespace care::complaint {

absl::Status CheckCreateComplaint(const care::complaint::v1::CreateComplaintRequest* req);
// The contract form of a calendar and an SLA policy (Create/Update); adds
// each bad field to `errors`.
void ValidateCalendar(FieldErrors& errors, const care::complaint::v1::BusinessCalendar& c);
void ValidatePolicy(FieldErrors& errors, const care::complaint::v1::SlaPolicy& p);
// The staff directory of the settings (ComplaintSettings.staff): bounded,
// agent ids unique, a channel with its address.
void ValidateStaff(FieldErrors& errors, const care::complaint::v1::ComplaintSettings& s);
// Goodwill asked for with a resolution: points or a voucher within the
// receivers' limits, a reason code they accept.
void CheckCompensation(FieldErrors& errors, const care::complaint::v1::CompensationRequest& c);
// A contact as CreateContact takes it: a name, an e-mail address or phone
// (at least one), a channel with its address, consents once per channel,
// a prospect's source and interests within their bounds.
void ValidateContact(FieldErrors& errors, const care::complaint::v1::Contact& c);
// A positive duration of at most a year; an unset one passes unless `required`.
void RequireDuration(FieldErrors& errors, const std::string& field, const google::protobuf::Duration& d, bool required);

}  // namespace care::complaint
