// carectl privacy ...: a person's data across the suite (docs/privacy.md):
// one archive of every service's export, the erasure entry point (loyalty's
// ErasePerson) and its progress.

#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "care/complaint/v1/complaint.grpc.pb.h"
#include "care/loyalty/v1/loyalty.grpc.pb.h"
#include "care/notification/v1/notification.grpc.pb.h"
#include "care/promotion/v1/promotion.grpc.pb.h"
#include "tools/carectl/commands.h"

namespace carectl {
namespace {

namespace lv1 = care::loyalty::v1;
using care::common::v1::DataSubject;
using care::common::v1::ExportPersonalDataRequest;
using nlohmann::json;

const std::string kSubjectFlags = "[--member-id=ID] [--email=ADDRESS] [--phone=E164] --reason=R";

DataSubject SubjectOf(Args& a) {
  DataSubject s;
  s.set_member_id(a.Flag("member_id"));
  s.set_email(a.Flag("email"));
  s.set_phone(a.Flag("phone"));
  if (s.member_id().empty() && s.email().empty() && s.phone().empty()) {
    throw UsageError("name the person: --member-id, --email or --phone");
  }
  return s;
}

std::string Reason(Args& a) {
  std::string reason = a.Flag("reason");
  if (reason.empty()) throw UsageError("--reason is required (e.g. the request's number)");
  return reason;
}

json ToJson(const google::protobuf::Message& m) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &text, options);
  return json::parse(text);
}

// Reads one service's ExportPersonalData stream into `items`.
template <typename Stub, typename Item>
grpc::Status ReadExport(const Context& c, Stub& stub, const ExportPersonalDataRequest& req, json& items) {
  auto call = c.NewCall();
  auto reader = stub.ExportPersonalData(call.get(), req);
  Item item;
  while (reader->Read(&item)) items.push_back(ToJson(item));
  return reader->Finish();
}

// Every service's export of one person, as one JSON document:
// {"subject":..,"exported_at":..,"services":{"loyalty":[..],...}}.
int Export(Context& c, Args& a) {
  ExportPersonalDataRequest req;
  *req.mutable_subject() = SubjectOf(a);
  req.set_reason(Reason(a));
  const std::string path = a.Flag("archive");
  if (path.empty()) throw UsageError("--archive is required (a file, or - for standard output)");
  a.Done();
  json services = json::object();
  grpc::Status status;
  auto run = [&](const char* name, auto fetch) {
    if (!status.ok()) return;
    json items = json::array();
    status = fetch(items);
    if (!status.ok()) std::fprintf(stderr, "carectl: the %s export failed\n", name);
    services[name] = std::move(items);
  };
  run("loyalty", [&](json& items) {
    auto stub = lv1::LoyaltyService::NewStub(c.channel());
    return ReadExport<lv1::LoyaltyService::Stub, lv1::LoyaltyPersonalData>(c, *stub, req, items);
  });
  run("promotion", [&](json& items) {
    namespace pv1 = care::promotion::v1;
    auto stub = pv1::PromotionService::NewStub(c.ChannelTo("promotion"));
    return ReadExport<pv1::PromotionService::Stub, pv1::PromotionPersonalData>(c, *stub, req, items);
  });
  run("complaint", [&](json& items) {
    namespace cv1 = care::complaint::v1;
    auto stub = cv1::ComplaintService::NewStub(c.ChannelTo("complaint"));
    return ReadExport<cv1::ComplaintService::Stub, cv1::ComplaintPersonalData>(c, *stub, req, items);
  });
  run("notification", [&](json& items) {
    namespace nv1 = care::notification::v1;
    auto stub = nv1::NotificationService::NewStub(c.ChannelTo("notification"));
    return ReadExport<nv1::NotificationService::Stub, nv1::NotificationPersonalData>(c, *stub, req, items);
  });
  care::common::v1::ExportPersonalDataRequest none;
  if (!status.ok()) return c.Finish(status, none, [] {});
  json archive = {{"subject", ToJson(req.subject())},
                  {"exported_at", absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone())},
                  {"services", services}};
  const std::string text = archive.dump(2) + "\n";
  if (path == "-") {
    std::fputs(text.c_str(), stdout);
  } else {
    std::ofstream out(path, std::ios::trunc);
    out << text;
    out.close();
    if (!out) throw UsageError(absl::StrCat("cannot write ", path));
    std::size_t count = 0;
    for (const auto& [name, items] : services.items()) count += items.size();
    std::printf("wrote %zu items to %s\n", count, path.c_str());
  }
  return kOk;
}

void PrintErasure(const lv1::Erasure& e) {
  PrintFields({{"ERASURE", e.erasure_id()},
               {"REASON", e.reason()},
               {"REQUESTED BY", e.requested_by()},
               {"CREATED", Time(e.create_time())},
               {"COMPLETE", e.complete() ? "yes" : "no"}});
  // REQUESTS: confirmed of sent (one per erased member); "-" for loyalty's
  // own part, and for erasures recorded before requests were counted.
  Table t({"SERVICE", "STATE", "REQUESTS", "ATTEMPTS", "LAST ERROR"});
  for (const auto& s : e.services()) {
    t.Row({s.service(), EnumName(lv1::ServiceErasure::State_descriptor(), s.state()),
           s.requests() == 0 ? "-" : absl::StrCat(s.requests_done(), "/", s.requests()), absl::StrCat(s.attempts()),
           s.last_error().empty() ? "-" : s.last_error()});
  }
  t.Print();
}

int Erase(Context& c, Args& a) {
  lv1::ErasePersonRequest req;
  *req.mutable_subject() = SubjectOf(a);
  req.set_reason(Reason(a));
  req.set_request_id(RequestId(a));
  a.Done();
  lv1::Erasure resp;
  auto stub = lv1::LoyaltyService::NewStub(c.channel());
  return c.Finish(stub->ErasePerson(c.NewCall().get(), req, &resp), resp, [&] { PrintErasure(resp); });
}

int Status(Context& c, Args& a) {
  lv1::GetErasureRequest req;
  req.set_erasure_id(a.Positional("erasure_id"));
  a.Done();
  lv1::Erasure resp;
  auto stub = lv1::LoyaltyService::NewStub(c.channel());
  return c.Finish(stub->GetErasure(c.NewCall().get(), req, &resp), resp, [&] { PrintErasure(resp); });
}

}  // namespace

std::vector<Command> PrivacyCommands() {
  return {
      {"privacy", "export", kSubjectFlags + " --archive=FILE",
       "writes everything the four services hold about one person into one JSON archive (- = standard "
       "output): each service's ExportPersonalData (admin; audited with the reason)",
       Export},
      {"privacy", "erase", kSubjectFlags + " [--request-id=ID]",
       "erases one person across the suite through loyalty's ErasePerson (admin); retry with the same "
       "--request-id to get the same erasure",
       Erase},
      {"privacy", "status", "<erasure_id>", "shows an erasure's progress per service (GetErasure; admin)", Status},
  };
}

}  // namespace carectl
