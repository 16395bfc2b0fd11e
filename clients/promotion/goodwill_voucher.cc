#include "clients/promotion/goodwill_voucher.h"

#include "care/promotion/v1/promotion.pb.h"
#include "common/proto_time.h"

namespace care::clients::promotion {

namespace v1 = ::care::promotion::v1;

OutboxEvent IssueVoucherEvent(std::string event_id, const GoodwillVoucher& v) {
  v1::IssueVoucherRequest request;
  request.set_request_id(v.request_id);
  request.set_member_id(v.member_id);
  if (!v.campaign_id.empty()) {
    request.set_campaign_id(v.campaign_id);
  } else if (v.value.has_value()) {
    request.mutable_value()->set_amount_minor(v.value->amount_minor);
    request.mutable_value()->set_currency_code(v.value->currency_code);
  } else {
    request.set_percent_off_bps(v.percent_off_bps);
  }
  if (v.validity.has_value()) *request.mutable_validity() = ToDurationProto(*v.validity);
  request.set_reason_code(v.reason_code);
  request.set_complaint_id(v.complaint_id);
  request.set_note(v.note);
  request.set_issued_by(v.issued_by);
  return OutboxEvent{std::move(event_id), "promotion", kIssueVoucherMethod, request.SerializeAsString()};
}

std::optional<GoodwillVoucher> ParseGoodwillVoucher(absl::string_view payload) {
  v1::IssueVoucherRequest request;
  if (!request.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) return std::nullopt;
  GoodwillVoucher v;
  v.request_id = request.request_id();
  v.member_id = request.member_id();
  if (request.has_value()) {
    v.value = GoodwillVoucher::Amount{request.value().amount_minor(), request.value().currency_code()};
  }
  v.campaign_id = request.campaign_id();
  v.percent_off_bps = request.percent_off_bps();
  if (request.has_validity()) v.validity = FromDurationProto(request.validity());
  v.reason_code = request.reason_code();
  v.complaint_id = request.complaint_id();
  v.note = request.note();
  v.issued_by = request.issued_by();
  return v;
}

std::optional<std::string> IssuedVoucherCode(absl::string_view response) {
  v1::Voucher parsed;
  if (!parsed.ParseFromArray(response.data(), static_cast<int>(response.size()))) return std::nullopt;
  return parsed.code();
}

}  // namespace care::clients::promotion
