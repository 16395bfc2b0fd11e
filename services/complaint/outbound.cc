// The receivers' side of Outbound: complaint's messages as the payloads
// clients/<receiver>/ builds (loyalty AdjustPoints, promotion IssueVoucher,
// notification IngestEvent).

#include "services/complaint/outbound.h"

#include "absl/strings/str_cat.h"
#include "clients/loyalty/points_adjustment.h"
#include "clients/notification/ingest_events.h"
#include "clients/promotion/goodwill_voucher.h"
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

class ClientsOutbound final : public Outbound {
 public:
  OutboxEvent RequestGoodwill(const v1::Complaint& c, const v1::Compensation& comp) const override {
    return About(c, comp.kind() == v1::COMPENSATION_KIND_POINTS ? AdjustPoints(c, comp) : IssueVoucher(c, comp));
  }

  OutboxEvent NotifyMember(const v1::Complaint& c, absl::string_view what, MemberUpdate kind,
                           const std::string& message, absl::Time now) const override {
    return About(c, notify::IngestEvent(Header(c, what, now),
                                        notify::ComplaintUpdate{c.member_id(), c.complaint_id(), UpdateKind(kind),
                                                                message, c.locale()}));
  }

  OutboxEvent InviteToSurvey(const v1::Complaint& c, const std::string& token, absl::Time expire_time,
                             absl::Time now) const override {
    return About(c,
                 notify::IngestEvent(Header(c, absl::StrCat("survey:", token.substr(0, 8)), now),
                                     notify::SatisfactionSurvey{c.member_id(), c.complaint_id(), token, expire_time}));
  }

  OutboxEvent CheckIn(const v1::Complaint& c, absl::Time now) const override {
    return About(c, notify::IngestEvent(Header(c, absl::StrCat("check-in:", c.reopen_count()), now),
                                        notify::ProactiveCheckIn{c.member_id(), c.complaint_id(),
                                                                 FromTimestamp(c.check_in().due_time())}));
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
