#include "services/notification/event_wire.h"

#include <type_traits>
#include <utility>

#include "common/proto_time.h"

namespace care::notification {
namespace {

const google::protobuf::OneofDescriptor& EventOneof() {
  return *v1::IngestEventRequest::descriptor()->FindOneofByName("event");
}

// The payload alternative whose message type is `m`'s (alternative 0 is
// "none").
template <size_t I = 1>
void SetPayload(const google::protobuf::Message& m, Event::Payload& out) {
  if constexpr (I < std::variant_size_v<Event::Payload>) {
    using T = std::variant_alternative_t<I, Event::Payload>;
    if (m.GetDescriptor() == T::descriptor()) {
      out.emplace<I>().CopyFrom(m);
      return;
    }
    SetPayload<I + 1>(m, out);
  }
}

}  // namespace

Event EventFromWire(const v1::IngestEventRequest& request) {
  Event event;
  event.event_id = request.event_id();
  event.source = request.source();
  event.occurred_at = FromTimestamp(request.occurred_at());
  const google::protobuf::FieldDescriptor* set = request.GetReflection()->GetOneofFieldDescriptor(request,
                                                                                                  &EventOneof());
  if (set != nullptr) SetPayload(request.GetReflection()->GetMessage(request, set), event.payload);
  return event;
}

v1::IngestEventRequest EventToWire(const Event& event) {
  v1::IngestEventRequest request;
  request.set_event_id(event.event_id);
  request.set_source(event.source);
  *request.mutable_occurred_at() = ToTimestamp(event.occurred_at);
  std::visit(
      [&](const auto& payload) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(payload)>, std::monostate>) {
          const google::protobuf::OneofDescriptor& oneof = EventOneof();
          for (int i = 0; i < oneof.field_count(); ++i) {
            if (oneof.field(i)->message_type() == payload.GetDescriptor()) {
              request.GetReflection()->MutableMessage(&request, oneof.field(i))->CopyFrom(payload);
            }
          }
        }
      },
      event.payload);
  return request;
}

}  // namespace care::notification
