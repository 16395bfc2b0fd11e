#include "services/complaint/ticket_texts.h"

#include "common/proto_time.h"

namespace care::complaint {
namespace {

// A compensation's free text; its kind, amount, status, times and
// references stay (they are the money record).
void BlankCompensation(v1::Compensation& comp) {
  comp.clear_note();
  comp.clear_decision_reason();
}

}  // namespace

void BlankTicketTexts(v1::Complaint& c, TextCounts& blanked) {
  if (!c.subject().empty() || !c.description().empty() || !c.resolution_summary().empty() ||
      !c.handover().note().empty()) {
    ++blanked["complaint_text"];
  }
  c.clear_subject();
  c.clear_description();
  c.clear_resolution_summary();
  if (c.has_handover()) c.mutable_handover()->clear_note();
  if (!c.survey().comment().empty()) ++blanked["survey_comment"];
  if (c.has_survey()) c.mutable_survey()->clear_comment();
  for (v1::Compensation& comp : *c.mutable_compensations()) BlankCompensation(comp);
}

bool BlankEventTexts(v1::ComplaintEvent& e, TextCounts& blanked) {
  const std::string before = e.SerializeAsString();
  e.clear_reason();
  switch (e.details_case()) {
    case v1::ComplaintEvent::kReply:
      if (!e.reply().text().empty()) ++blanked["reply"];
      e.mutable_reply()->clear_text();
      break;
    case v1::ComplaintEvent::kNote:
      if (!e.note().text().empty()) ++blanked["note"];
      e.mutable_note()->clear_text();
      break;
    case v1::ComplaintEvent::kCustomerMessage:
      if (!e.customer_message().text().empty()) ++blanked["customer_message"];
      e.mutable_customer_message()->clear_text();
      break;
    case v1::ComplaintEvent::kAssignment:
      e.mutable_assignment()->clear_handover_note();
      break;
    case v1::ComplaintEvent::kCompensation:
      BlankCompensation(*e.mutable_compensation());
      break;
    case v1::ComplaintEvent::kSurvey:
      e.mutable_survey()->clear_comment();
      break;
    default:
      break;
  }
  return e.SerializeAsString() != before;
}

std::optional<absl::Time> ClosedAt(const v1::Complaint& c) {
  if (c.status() != v1::COMPLAINT_STATUS_CLOSED) return std::nullopt;
  return FromTimestamp(c.has_close_time() ? c.close_time() : c.update_time());
}

}  // namespace care::complaint
