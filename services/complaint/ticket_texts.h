#pragma once

// The free texts of a ticket and of its audit trail: what an erasure
// (personal_data.cc) and the closed-ticket text retention (text_retention.cc)
// blank, the same way. Pure: no store.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "care/complaint/v1/complaint.pb.h"

namespace care::complaint {

// The key stored answers and outbox events about one ticket are tagged with
// (Once::subject, OutboxEvent::subject), as they hold its texts: erasure
// deletes those of each of the person's tickets, the text retention those of
// each ticket it blanks.
inline std::string TicketKey(absl::string_view complaint_id) { return absl::StrCat("complaint:", complaint_id); }

// What was blanked, by kind, under the erasure receipt's names
// (complaint_text, customer_message, reply, note, survey_comment).
using TextCounts = std::map<std::string, int64_t>;

// Blanks the ticket's free text: subject, description, resolution summary,
// hand-over note, survey comment, and each compensation's note and decision
// reason. Every fact metrics and the money record need stays (member, times,
// status, category, channel, priority, team, tier, SLA clocks, escalations,
// survey score, compensation kind, amounts, status and references).
void BlankTicketTexts(v1::Complaint& c, TextCounts& blanked);

// Blanks an audit-trail event's free text: its reason and the text of a
// customer message, reply, note, hand-over, compensation or survey answer.
// Returns whether the event changed.
bool BlankEventTexts(v1::ComplaintEvent& e, TextCounts& blanked);

// When a CLOSED ticket was closed: its close_time (every closing sets it),
// else its last change; none while it is not CLOSED (CLOSED is terminal).
std::optional<absl::Time> ClosedAt(const v1::Complaint& c);

}  // namespace care::complaint
