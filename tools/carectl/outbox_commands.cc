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
  for (;;) {
    std::string id = a.OptionalPositional("event_id");
    if (id.empty()) break;
    req.add_event_ids(id);
  }
  a.Done();
  if (req.event_ids().empty() && !req.all()) throw UsageError("name the events to replay, or pass --all");
  cv1::ReplayDeadEventsResponse resp;
  auto stub = cv1::OutboxAdmin::NewStub(c.channel());
  return c.Finish(stub->ReplayDeadEvents(c.NewCall().get(), req, &resp), resp, [&] {
    std::printf("replayed %d event(s)\n", resp.event_ids_size());
    for (const auto& id : resp.event_ids()) std::printf("  %s\n", id.c_str());
  });
}

int Outbox(Context& c, Args& a) {
  std::string what = a.Positional("dead|replay");
  if (what == "dead") return Dead(c, a);
  if (what == "replay") return Replay(c, a);
  throw UsageError(absl::StrCat("unknown outbox command \"", what, "\": dead or replay"));
}

}  // namespace

std::vector<Command> OutboxCommands() {
  std::vector<Command> out;
  for (const char* group : {"loyalty", "promotion", "complaint"}) {
    out.push_back({group, "outbox",
                   "dead [--destination=] [--page_size=50] [--page_token=] | "
                   "replay <event_id>... | replay --all [--destination=] [--request_id=ID]",
                   "lists the events a receiver refused for good, or sends them again (OutboxAdmin; admin)", Outbox});
  }
  return out;
}

}  // namespace carectl
