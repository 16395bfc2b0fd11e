// The receivers' side of Outbound: complaint's messages as the payloads
// clients/<receiver>/ builds (loyalty AdjustPoints, promotion IssueVoucher,
// notification IngestEvent).

#include "services/complaint/outbound.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "care/common/v1/privacy.pb.h"
#include "clients/loyalty/points_adjustment.h"
#include "clients/notification/ingest_events.h"
#include "clients/promotion/goodwill_voucher.h"
#include "common/ids.h"
#include "common/proto_time.h"
#include "services/complaint/ticket_texts.h"

namespace care::complaint {
namespace {

namespace notify = care::clients::notification;

// Every event complaint sends names the member and is about one ticket:
// tagged with the ticket, so that erasing the member deletes it from the
// outbox, delivered or not, and the ticket's text retention once delivered.
OutboxEvent About(const v1::Complaint& c, OutboxEvent event) {
  event.subject = TicketKey(c.complaint_id());
  return event;
}

std::string ReasonCode(const v1::Compensation& comp) {
  return comp.reason_code().empty() ? "GOODWILL" : comp.reason_code();
}

std::string GoodwillEventId(const v1::Compensation& comp) { return absl::StrCat("complaint:", comp.compensation_id()); }

OutboxEvent AdjustPoints(const v1::Complaint& c, const v1::Compensation& comp) {
  care::clients::loyalty::PointsAdjustment a;
  a.request_id = comp.compensation_id();
  a.member_id = c.member_id();
  a.points_delta = comp.points();
  a.reason_code = ReasonCode(comp);
  a.complaint_id = c.complaint_id();
  a.note = comp.note();
  return care::clients::loyalty::AdjustPointsEvent(GoodwillEventId(comp), a);
}

OutboxEvent IssueVoucher(const v1::Complaint& c, const v1::Compensation& comp) {
  care::clients::promotion::GoodwillVoucher v;
  v.request_id = comp.compensation_id();
  v.member_id = c.member_id();
  if (comp.voucher().has_amount()) {
    v.value = {comp.voucher().amount().amount_minor(), comp.voucher().amount().currency_code()};
  } else {
    v.percent_off_bps = comp.voucher().percent_off_bps();
  }
  if (comp.voucher().has_validity()) v.validity = FromDurationProto(comp.voucher().validity());
  v.reason_code = ReasonCode(comp);
  v.complaint_id = c.complaint_id();
  v.note = comp.note();
  v.issued_by = comp.requested_by().principal_id();
  return care::clients::promotion::IssueVoucherEvent(GoodwillEventId(comp), v);
}

// Event ids are "complaint:<complaint id>:<what>".
notify::EventHeader Header(const v1::Complaint& c, absl::string_view what, absl::Time now) {
  return {absl::StrCat("complaint:", c.complaint_id(), ":", what), "complaint", now};
}

notify::ComplaintUpdateKind UpdateKind(MemberUpdate kind) {
  switch (kind) {
    case MemberUpdate::kAcknowledged:
      return notify::ComplaintUpdateKind::kAcknowledged;
    case MemberUpdate::kUpdated:
      return notify::ComplaintUpdateKind::kUpdated;
    case MemberUpdate::kResolved:
      return notify::ComplaintUpdateKind::kResolved;
  }
  return notify::ComplaintUpdateKind::kUnspecified;
}

notify::StaffAlertKind StaffKind(StaffAlertKind kind) {
  switch (kind) {
    case StaffAlertKind::kEscalation:
      return notify::StaffAlertKind::kEscalation;
    case StaffAlertKind::kBreachWarning:
      return notify::StaffAlertKind::kBreachWarning;
    case StaffAlertKind::kCompensationApproval:
      return notify::StaffAlertKind::kCompensationApproval;
    case StaffAlertKind::kReopened:
      return notify::StaffAlertKind::kReopened;
  }
  return notify::StaffAlertKind::kEscalation;
}

std::string EnumSuffix(const std::string& name, absl::string_view prefix) {
  return std::string(absl::StripPrefix(name, prefix));
}

notify::StaffAlert StaffAlertOf(const v1::Complaint& c, const StaffAlert& a) {
  notify::StaffAlert out;
  const v1::StaffMember& m = a.recipient;
  out.staff_id = m.agent_id();
  out.name = m.display_name();
  out.locale = m.locale();
  out.time_zone = m.time_zone();
  out.channel = m.alert_channel();
  out.email = m.email();
  out.webhook_address = m.webhook_address();
  out.kind = StaffKind(a.kind);
  out.complaint_id = c.complaint_id();
  out.alert_key = absl::StrCat(c.complaint_id(), ":", a.occurrence);
  out.level = a.level;
  if (a.target != v1::SLA_TARGET_UNSPECIFIED) out.sla_target = EnumSuffix(v1::SlaTarget_Name(a.target), "SLA_TARGET_");
  if (a.priority != v1::PRIORITY_UNSPECIFIED) out.priority = EnumSuffix(v1::Priority_Name(a.priority), "PRIORITY_");
  out.due_time = a.due_time;
  out.compensation_id = a.compensation_id;
  out.compensation = a.compensation;
  out.reopen_count = a.reopen_count;
  return out;
}

constexpr char kNotificationEraseMethod[] = "/care.notification.v1.NotificationService/ErasePersonalData";

// "<erasure id>:contacts.<k>" (an id: at most 128 characters, so a long
// erasure id is hashed first).
std::string ContactErasureId(const std::string& erasure_id, int k) {
  std::string suffix = absl::StrCat(":contacts.", k);
  if (erasure_id.size() + suffix.size() <= 128) return absl::StrCat(erasure_id, suffix);
  return absl::StrCat(StableId("erasure-", erasure_id), suffix);
}

// A contact's message names the contact and their address instead of a
// member.
std::string MemberOf(const v1::Complaint& c, const v1::Contact* contact) {
  return contact != nullptr ? std::string() : c.member_id();
}

std::optional<notify::ContactRecipient> RecipientOf(const v1::Contact* contact) {
  if (contact == nullptr) return std::nullopt;
  notify::ContactRecipient r;
  r.contact_id = contact->contact_id();
  r.name = contact->display_name();
  r.locale = contact->locale();
  r.time_zone = contact->time_zone();
  r.channel = contact->channel();
  r.email = contact->email();
  r.phone = contact->phone();
  return r;
}

class ClientsOutbound final : public Outbound {
 public:
  OutboxEvent RequestGoodwill(const v1::Complaint& c, const v1::Compensation& comp) const override {
    return About(c, comp.kind() == v1::COMPENSATION_KIND_POINTS ? AdjustPoints(c, comp) : IssueVoucher(c, comp));
  }

  OutboxEvent NotifyMember(const v1::Complaint& c, absl::string_view what, MemberUpdate kind,
                           const std::string& message, absl::Time now, const v1::Contact* contact) const override {
    return About(c,
                 notify::IngestEvent(Header(c, what, now),
                                     notify::ComplaintUpdate{MemberOf(c, contact), c.complaint_id(), UpdateKind(kind),
                                                             message, c.locale(), RecipientOf(contact)}));
  }

  OutboxEvent InviteToSurvey(const v1::Complaint& c, const std::string& token, absl::Time expire_time, absl::Time now,
                             const v1::Contact* contact) const override {
    return About(c, notify::IngestEvent(Header(c, absl::StrCat("survey:", token.substr(0, 8)), now),
                                        notify::SatisfactionSurvey{MemberOf(c, contact), c.complaint_id(), token,
                                                                   expire_time, RecipientOf(contact)}));
  }

  OutboxEvent CheckIn(const v1::Complaint& c, absl::Time now, const v1::Contact* contact) const override {
    return About(c, notify::IngestEvent(Header(c, absl::StrCat("check-in:", c.reopen_count()), now),
                                        notify::ProactiveCheckIn{MemberOf(c, contact), c.complaint_id(),
                                                                 FromTimestamp(c.check_in().due_time()),
                                                                 RecipientOf(contact)}));
  }

  OutboxEvent AlertStaff(const v1::Complaint& c, const StaffAlert& alert, absl::Time now) const override {
    // The recipient's id hashed: the event id stays within its 128 characters.
    return About(
        c, notify::IngestEvent(
               Header(c, absl::StrCat("staff:", alert.occurrence, ":", StableId("s", alert.recipient.agent_id())), now),
               StaffAlertOf(c, alert)));
  }

  OutboxEvent EraseContactDeliveries(const std::string& erasure_id, int k, const std::vector<std::string>& contact_ids,
                                     const std::string& pseudonym, const std::string& reason) const override {
    care::common::v1::ErasePersonalDataRequest request;
    request.set_erasure_id(ContactErasureId(erasure_id, k));
    for (const std::string& id : contact_ids) request.mutable_subject()->add_contact_ids(id);
    request.set_pseudonym(pseudonym);
    request.set_reason(reason);
    OutboxEvent event{absl::StrCat("complaint:", request.erasure_id()), "notification", kNotificationEraseMethod,
                      request.SerializeAsString()};
    // Untagged: the erasure that enqueues it deletes the events tagged with
    // the person's keys. It names contact ids only, yet travels, not stays.
    event.scrub_when_delivered = true;
    return event;
  }

  std::optional<GoodwillReceipt> ReadGoodwill(const OutboxEvent& event, const std::string& response) const override {
    if (event.method == care::clients::loyalty::kAdjustPointsMethod) {
      auto sent = care::clients::loyalty::ParsePointsAdjustment(event.payload);
      if (!sent) return std::nullopt;
      return GoodwillReceipt{sent->complaint_id, sent->request_id, care::clients::loyalty::AdjustedEntryId(response),
                             std::nullopt};
    }
    if (event.method == care::clients::promotion::kIssueVoucherMethod) {
      auto sent = care::clients::promotion::ParseGoodwillVoucher(event.payload);
      if (!sent) return std::nullopt;
      std::optional<std::string> code = care::clients::promotion::IssuedVoucherCode(response);
      return GoodwillReceipt{sent->complaint_id, sent->request_id, code, code};
    }
    return std::nullopt;
  }
};

}  // namespace

const char* const kAdjustPointsMethod = care::clients::loyalty::kAdjustPointsMethod;
const char* const kIssueVoucherMethod = care::clients::promotion::kIssueVoucherMethod;

std::unique_ptr<Outbound> NewOutbound() { return std::make_unique<ClientsOutbound>(); }

}  // namespace care::complaint
