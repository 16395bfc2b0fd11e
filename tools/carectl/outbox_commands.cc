// carectl <loyalty|promotion|complaint> outbox ...: the events a receiver
// refused for good (care.common.v1.OutboxAdmin, admin token), and their
// replay once the cause is fixed.

#include "absl/strings/str_cat.h"
#include "care/common/v1/outbox_admin.grpc.pb.h"
#include "tools/carectl/commands.h"

namespace carectl {
namespace {

namespace cv1 = care::common::v1;

int Dead(Context& c, Args& a) {
  cv1::ListDeadEventsRequest req;
  req.set_destination(a.Flag("destination"));
  req.set_page_size(static_cast<int32_t>(a.IntFlag("page_size", 50)));
  req.set_page_token(a.Flag("page_token"));
  a.Done();
  cv1::ListDeadEventsResponse resp;
  auto stub = cv1::OutboxAdmin::NewStub(c.channel());
  return c.Finish(stub->ListDeadEvents(c.NewCall().get(), req, &resp), resp, [&] {
    Table t({"EVENT", "DESTINATION", "METHOD", "ATTEMPTS", "CREATED", "ERROR"});
    for (const auto& e : resp.events()) {
      t.Row({e.event_id(), e.destination(), e.method(), absl::StrCat(e.attempts()), Time(e.create_time()),
             e.last_error()});
    }
    t.Print("(no dead events)");
    PrintNextPage(resp.next_page_token());
  });
}

int Replay(Context& c, Args& a) {
  cv1::ReplayDeadEventsRequest req;
  req.set_all(a.BoolFlag("all"));
  req.set_destination(a.Flag("destination"));
  req.set_request_id(RequestId(a));
  for (const auto& id : a.RestPositionals()) req.add_event_ids(id);
  a.Done();
  if (req.event_ids().empty() && !req.all()) throw UsageError("name the events to replay, or pass --all");
  cv1::ReplayDeadEventsResponse resp;
  auto stub = cv1::OutboxAdmin::NewStub(c.channel());
  return c.Finish(stub->ReplayDeadEvents(c.NewCall().get(), req, &resp), resp, [&] {
    std::printf("replayed %d event(s)\n", resp.event_ids_size());
    for (const auto& id : resp.event_ids()) std::printf("  %s\n", id.c_str());
  });
}

}  // namespace

std::vector<Command> OutboxCommands() {
  std::vector<Command> out;
  for (const char* service : {"loyalty", "promotion", "complaint"}) {
    std::string group = absl::StrCat(service, " outbox");
    out.push_back({group, "dead", "[--destination=] [--page-size=50] [--page-token=]",
                   "lists the events a receiver refused for good (OutboxAdmin.ListDeadEvents; admin)", Dead});
    out.push_back({group, "replay", "[<event_id>...] [--all] [--destination=] [--request-id=ID]",
                   "sends dead events again once the cause is fixed: the named ones, or --all (of --destination)",
                   Replay});
  }
  return out;
}

}  // namespace carectl
