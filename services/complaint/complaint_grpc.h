#pragma once

#include "care/complaint/v1/complaint.grpc.pb.h"

namespace care::complaint {

// gRPC adapter of the complaint service. Methods not overridden here answer
// UNIMPLEMENTED until the complaint issue lands.
class ComplaintGrpc final : public care::complaint::v1::ComplaintService::CallbackService {};

}  // namespace care::complaint
