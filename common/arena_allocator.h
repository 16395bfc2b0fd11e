#pragma once

// A gRPC callback-API message allocator that puts each call's request and
// response on one protobuf arena. A response made of many small messages (a
// priced cart: lines, adjustments, amounts) is then built with bump
// allocation and freed in one go, instead of hundreds of malloc/free pairs.
// Register with the generated SetMessageAllocatorFor_<Method>(&allocator);
// the allocator must outlive the server.

#include <grpcpp/support/message_allocator.h>

#include "google/protobuf/arena.h"

namespace care {

template <typename Request, typename Response>
class ArenaMessageAllocator final : public grpc::MessageAllocator<Request, Response> {
 public:
  grpc::MessageHolder<Request, Response>* AllocateMessages() override { return new Holder(); }

 private:
  class Holder final : public grpc::MessageHolder<Request, Response> {
   public:
    Holder() : arena_(Options()) {
      this->set_request(google::protobuf::Arena::CreateMessage<Request>(&arena_));
      this->set_response(google::protobuf::Arena::CreateMessage<Response>(&arena_));
    }
    void Release() override { delete this; }

   private:
    static google::protobuf::ArenaOptions Options() {
      google::protobuf::ArenaOptions o;
      o.start_block_size = 16 * 1024;
      o.max_block_size = 256 * 1024;
      return o;
    }
    google::protobuf::Arena arena_;
  };
};

}  // namespace care
