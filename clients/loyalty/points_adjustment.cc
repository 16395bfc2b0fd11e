#include "clients/loyalty/points_adjustment.h"

#include "care/loyalty/v1/loyalty.pb.h"

namespace care::clients::loyalty {

namespace v1 = ::care::loyalty::v1;

OutboxEvent AdjustPointsEvent(std::string event_id, const PointsAdjustment& a) {
  v1::AdjustPointsRequest request;
  request.set_request_id(a.request_id);
  request.set_member_id(a.member_id);
  request.set_points_delta(a.points_delta);
  request.set_reason_code(a.reason_code);
  request.set_complaint_id(a.complaint_id);
  request.set_note(a.note);
  return OutboxEvent{std::move(event_id), "loyalty", kAdjustPointsMethod, request.SerializeAsString()};
}

std::optional<PointsAdjustment> ParsePointsAdjustment(absl::string_view payload) {
  v1::AdjustPointsRequest request;
  if (!request.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) return std::nullopt;
  return PointsAdjustment{request.request_id(),  request.member_id(),    request.points_delta(),
                          request.reason_code(), request.complaint_id(), request.note()};
}

std::optional<std::string> AdjustedEntryId(absl::string_view response) {
  v1::AdjustPointsResponse parsed;
  if (!parsed.ParseFromArray(response.data(), static_cast<int>(response.size()))) return std::nullopt;
  return parsed.entry().entry_id();
}

}  // namespace care::clients::loyalty
