// The receivers' side of Outbound: complaint's messages as loyalty,
// promotion and notification requests.

#include "services/complaint/outbound.h"

#include "absl/strings/str_cat.h"
#include "care/loyalty/v1/loyalty.pb.h"
#include "care/notification/v1/notification.pb.h"
#include "care/promotion/v1/promotion.pb.h"
#include "common/proto_time.h"

namespace care::complaint {
namespace {

namespace lv1 = care::loyalty::v1;
namespace nv1 = care::notification::v1;
namespace pv1 = care::promotion::v1;

constexpr char kIngestEventMethod[] = "/care.notification.v1.NotificationService/IngestEvent";

std::string ReasonCode(const v1::Compensation& comp) {
  return comp.reason_code().empty() ? "GOODWILL" : comp.reason_code();
}

OutboxEvent GoodwillEvent(const v1::Compensation& comp, const char* destination, const char* method,
                          const google::protobuf::Message& request) {
  return {absl::StrCat("complaint:", comp.compensation_id()), destination, method, request.SerializeAsString()};
}

OutboxEvent AdjustPoints(const v1::Complaint& c, const v1::Compensation& comp) {
  lv1::AdjustPointsRequest req;
  req.set_request_id(comp.compensation_id());
  req.set_member_id(c.member_id());
  req.set_points_delta(comp.points());
  req.set_reason_code(ReasonCode(comp));
  req.set_complaint_id(c.complaint_id());
  req.set_note(comp.note());
  return GoodwillEvent(comp, "loyalty", kAdjustPointsMethod, req);
}

OutboxEvent IssueVoucher(const v1::Complaint& c, const v1::Compensation& comp) {
  pv1::IssueVoucherRequest req;
  req.set_request_id(comp.compensation_id());
  req.set_member_id(c.member_id());
  if (comp.voucher().has_amount()) {
    *req.mutable_value() = comp.voucher().amount();
  } else {
    req.set_percent_off_bps(comp.voucher().percent_off_bps());
  }
  if (comp.voucher().has_validity()) *req.mutable_validity() = comp.voucher().validity();
  req.set_reason_code(ReasonCode(comp));
  req.set_complaint_id(c.complaint_id());
  req.set_note(comp.note());
  req.set_issued_by(comp.requested_by().principal_id());
  return GoodwillEvent(comp, "promotion", kIssueVoucherMethod, req);
}

// Event ids are "complaint:<complaint id>:<what>".
OutboxEvent Ingest(const std::string& id, absl::Time now, nv1::IngestEventRequest req) {
  req.set_event_id(absl::StrCat("complaint:", id));
  req.set_source("complaint");
  *req.mutable_occurred_at() = ToTimestamp(now);
  return OutboxEvent{req.event_id(), "notification", kIngestEventMethod, req.SerializeAsString()};
}

nv1::ComplaintUpdateKind UpdateKind(MemberUpdate kind) {
  switch (kind) {
    case MemberUpdate::kAcknowledged: return nv1::COMPLAINT_UPDATE_KIND_ACKNOWLEDGED;
    case MemberUpdate::kUpdated: return nv1::COMPLAINT_UPDATE_KIND_UPDATED;
    case MemberUpdate::kResolved: return nv1::COMPLAINT_UPDATE_KIND_RESOLVED;
  }
  return nv1::COMPLAINT_UPDATE_KIND_UNSPECIFIED;
}

class ProtoOutbound final : public Outbound {
 public:
  OutboxEvent RequestGoodwill(const v1::Complaint& c, const v1::Compensation& comp) const override {
    return comp.kind() == v1::COMPENSATION_KIND_POINTS ? AdjustPoints(c, comp) : IssueVoucher(c, comp);
  }

  OutboxEvent NotifyMember(const v1::Complaint& c, absl::string_view what, MemberUpdate kind,
                           const std::string& message, absl::Time now) const override {
    nv1::IngestEventRequest req;
    nv1::ComplaintUpdate* u = req.mutable_complaint_update();
    u->set_member_id(c.member_id());
    u->set_complaint_id(c.complaint_id());
    u->set_kind(UpdateKind(kind));
    u->set_message(message);
    u->set_locale_hint(c.locale());
    return Ingest(absl::StrCat(c.complaint_id(), ":", what), now, std::move(req));
  }

  OutboxEvent InviteToSurvey(const v1::Complaint& c, const std::string& token, absl::Time expire_time,
                             absl::Time now) const override {
    nv1::IngestEventRequest req;
    nv1::SatisfactionSurvey* s = req.mutable_satisfaction_survey();
    s->set_member_id(c.member_id());
    s->set_complaint_id(c.complaint_id());
    s->set_survey_token(token);
    *s->mutable_expire_time() = ToTimestamp(expire_time);
    return Ingest(absl::StrCat(c.complaint_id(), ":survey:", token.substr(0, 8)), now, std::move(req));
  }

  OutboxEvent CheckIn(const v1::Complaint& c, absl::Time now) const override {
    nv1::IngestEventRequest req;
    nv1::ProactiveCheckIn* ci = req.mutable_proactive_check_in();
    ci->set_member_id(c.member_id());
    ci->set_complaint_id(c.complaint_id());
    *ci->mutable_due_time() = c.check_in().due_time();
    return Ingest(absl::StrCat(c.complaint_id(), ":check-in:", c.reopen_count()), now, std::move(req));
  }

  std::optional<GoodwillReceipt> ReadGoodwill(const OutboxEvent& event, const std::string& response) const override {
    GoodwillReceipt out;
    if (event.method == kAdjustPointsMethod) {
      lv1::AdjustPointsRequest req;
      if (!req.ParseFromString(event.payload)) return std::nullopt;
      out.complaint_id = req.complaint_id();
      out.compensation_id = req.request_id();
      lv1::AdjustPointsResponse answer;
      if (answer.ParseFromString(response)) out.reference = answer.entry().entry_id();
      return out;
    }
    if (event.method == kIssueVoucherMethod) {
      pv1::IssueVoucherRequest req;
      if (!req.ParseFromString(event.payload)) return std::nullopt;
      out.complaint_id = req.complaint_id();
      out.compensation_id = req.request_id();
      pv1::Voucher answer;
      if (answer.ParseFromString(response)) out.reference = out.voucher_code = answer.code();
      return out;
    }
    return std::nullopt;
  }
};

}  // namespace

std::unique_ptr<Outbound> NewOutbound() { return std::make_unique<ProtoOutbound>(); }

}  // namespace care::complaint
