// carectl complaint sla-policy|calendar|phrases ...: what an operator sets
// up before the first complaint (care.complaint.v1, admin): business
// calendars, the SLA policies that count in them, and the forbidden phrases
// a reply is checked against. Resources are read from their JSON form
// (`... get -o json` prints one to start from).

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "care/complaint/v1/complaint.grpc.pb.h"
#include "common/proto_time.h"
#include "tools/carectl/commands.h"

namespace carectl {
namespace {

namespace v1 = care::complaint::v1;

std::unique_ptr<v1::ComplaintService::Stub> Stub(const Context& c) {
  return v1::ComplaintService::NewStub(c.channel());
}

std::string Duration(const google::protobuf::Duration& d) { return absl::FormatDuration(care::FromDurationProto(d)); }

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

// --only=a,b, else every field the file sets but `skip`.
void UpdateMask(Args& a, const google::protobuf::Message& resource, const std::set<std::string>& skip,
                google::protobuf::FieldMask* mask) {
  for (absl::string_view p : absl::StrSplit(a.Flag("only"), ',', absl::SkipEmpty())) mask->add_paths(std::string(p));
  if (mask->paths().empty()) {
    for (const auto& p : SetFieldPaths(resource, skip)) mask->add_paths(p);
  }
  if (mask->paths().empty()) throw UsageError("the file changes nothing");
}

std::string FileFlag(Args& a) {
  std::string file = a.Flag("file");
  if (file.empty()) throw UsageError("--file is required (JSON; \"-\" reads stdin)");
  return file;
}

// --- SLA policies ---

const std::set<std::string> kPolicyFixed = {"sla_policy_id", "version", "create_time", "update_time"};

void PrintPolicy(const v1::SlaPolicy& p) {
  std::vector<std::string> priorities, channels, categories;
  for (int v : p.priorities()) priorities.push_back(EnumName(v1::Priority_descriptor(), v));
  for (int v : p.channels()) channels.push_back(EnumName(v1::Channel_descriptor(), v));
  for (int v : p.categories()) categories.push_back(EnumName(v1::Category_descriptor(), v));
  auto any = [](const std::vector<std::string>& v) { return v.empty() ? std::string("any") : absl::StrJoin(v, ","); };
  PrintFields({{"SLA POLICY", p.sla_policy_id()},
               {"NAME", p.display_name()},
               {"ORDER", absl::StrCat(p.evaluation_order())},
               {"ENABLED", p.enabled() ? "yes" : "no"},
               {"PRIORITIES", any(priorities)},
               {"TIERS", any(std::vector<std::string>(p.tier_ids().begin(), p.tier_ids().end()))},
               {"CHANNELS", any(channels)},
               {"CATEGORIES", any(categories)},
               {"FIRST RESPONSE", Duration(p.first_response_target())},
               {"RESOLUTION", Duration(p.resolution_target())},
               {"CALENDAR", p.calendar_id()},
               {"ESCALATIONS", absl::StrCat(p.escalation_levels_size())},
               // Reaches the assignee, or the team lead of an unassigned ticket.
               {"BREACH WARNING", p.has_breach_warning_before() && p.breach_warning_before().seconds() > 0
                                      ? absl::StrCat(Duration(p.breach_warning_before()), " before")
                                      : "off"},
               {"VERSION", absl::StrCat(p.version())}});
}

int PolicyList(Context& c, Args& a) {
  v1::ListSlaPoliciesRequest req;
  req.set_page_size(static_cast<int32_t>(a.IntFlag("page_size", 50)));
  req.set_page_token(a.Flag("page_token"));
  a.Done();
  v1::ListSlaPoliciesResponse resp;
  return c.Finish(Stub(c)->ListSlaPolicies(c.NewCall().get(), req, &resp), resp, [&] {
    Table t({"ORDER", "SLA POLICY", "NAME", "ENABLED", "FIRST RESPONSE", "RESOLUTION", "CALENDAR", "VERSION"});
    for (const auto& p : resp.policies()) {
      t.Row({absl::StrCat(p.evaluation_order()), p.sla_policy_id(), p.display_name(), p.enabled() ? "yes" : "no",
             Duration(p.first_response_target()), Duration(p.resolution_target()), p.calendar_id(),
             absl::StrCat(p.version())});
    }
    t.Print("(no SLA policies)");
    PrintNextPage(resp.next_page_token());
  });
}

int PolicyGet(Context& c, Args& a) {
  v1::GetSlaPolicyRequest req;
  req.set_sla_policy_id(a.Positional("sla_policy_id"));
  req.set_version(a.IntFlag("version", 0));
  a.Done();
  v1::SlaPolicy resp;
  return c.Finish(Stub(c)->GetSlaPolicy(c.NewCall().get(), req, &resp), resp, [&] { PrintPolicy(resp); });
}

int PolicyCreate(Context& c, Args& a) {
  v1::CreateSlaPolicyRequest req;
  ReadMessageFile(FileFlag(a), req.mutable_policy());
  req.set_request_id(RequestId(a));
  a.Done();
  v1::SlaPolicy resp;
  return c.Finish(Stub(c)->CreateSlaPolicy(c.NewCall().get(), req, &resp), resp, [&] { PrintPolicy(resp); });
}

int PolicyUpdate(Context& c, Args& a) {
  v1::UpdateSlaPolicyRequest req;
  ReadMessageFile(FileFlag(a), req.mutable_policy());
  if (req.policy().sla_policy_id().empty()) throw UsageError("the file names no sla_policy_id");
  UpdateMask(a, req.policy(), kPolicyFixed, req.mutable_update_mask());
  req.set_request_id(RequestId(a));
  a.Done();
  v1::SlaPolicy resp;
  return c.Finish(Stub(c)->UpdateSlaPolicy(c.NewCall().get(), req, &resp), resp, [&] { PrintPolicy(resp); });
}

int PolicyDelete(Context& c, Args& a) {
  v1::DeleteSlaPolicyRequest req;
  req.set_sla_policy_id(a.Positional("sla_policy_id"));
  req.set_expected_version(a.IntFlag("expected_version", 0));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::DeleteSlaPolicyResponse resp;
  return c.Finish(Stub(c)->DeleteSlaPolicy(c.NewCall().get(), req, &resp), resp,
                  [&] { std::printf("deleted SLA policy %s\n", req.sla_policy_id().c_str()); });
}

// --- business calendars ---

const std::set<std::string> kCalendarFixed = {"calendar_id", "version", "create_time", "update_time"};

std::string Clock(const v1::TimeOfDay& t) { return absl::StrFormat("%02d:%02d", t.hours(), t.minutes()); }

void PrintCalendar(const v1::BusinessCalendar& cal) {
  std::vector<std::string> hours, holidays;
  for (const auto& h : cal.weekly_hours()) {
    hours.push_back(absl::StrCat(EnumName(v1::Weekday_descriptor(), h.day()), " ", Clock(h.start()), "-",
                                 Clock(h.end())));
  }
  for (const auto& h : cal.holidays()) {
    holidays.push_back(absl::StrFormat("%04d-%02d-%02d %s", h.date().year(), h.date().month(), h.date().day(),
                                       h.display_name()));
  }
  PrintFields({{"CALENDAR", cal.calendar_id()},
               {"NAME", cal.display_name()},
               {"TIME ZONE", cal.time_zone()},
               {"HOURS", hours.empty() ? "-" : absl::StrJoin(hours, ", ")},
               {"HOLIDAYS", holidays.empty() ? "-" : absl::StrJoin(holidays, ", ")},
               {"VERSION", absl::StrCat(cal.version())}});
}

int CalendarList(Context& c, Args& a) {
  v1::ListBusinessCalendarsRequest req;
  req.set_page_size(static_cast<int32_t>(a.IntFlag("page_size", 50)));
  req.set_page_token(a.Flag("page_token"));
  a.Done();
  v1::ListBusinessCalendarsResponse resp;
  return c.Finish(Stub(c)->ListBusinessCalendars(c.NewCall().get(), req, &resp), resp, [&] {
    Table t({"CALENDAR", "NAME", "TIME ZONE", "DAYS", "HOLIDAYS", "VERSION"});
    for (const auto& cal : resp.calendars()) {
      t.Row({cal.calendar_id(), cal.display_name(), cal.time_zone(), absl::StrCat(cal.weekly_hours_size()),
             absl::StrCat(cal.holidays_size()), absl::StrCat(cal.version())});
    }
    t.Print("(no calendars)");
    PrintNextPage(resp.next_page_token());
  });
}

int CalendarGet(Context& c, Args& a) {
  v1::GetBusinessCalendarRequest req;
  req.set_calendar_id(a.Positional("calendar_id"));
  a.Done();
  v1::BusinessCalendar resp;
  return c.Finish(Stub(c)->GetBusinessCalendar(c.NewCall().get(), req, &resp), resp, [&] { PrintCalendar(resp); });
}

int CalendarCreate(Context& c, Args& a) {
  v1::CreateBusinessCalendarRequest req;
  ReadMessageFile(FileFlag(a), req.mutable_calendar());
  req.set_request_id(RequestId(a));
  a.Done();
  v1::BusinessCalendar resp;
  return c.Finish(Stub(c)->CreateBusinessCalendar(c.NewCall().get(), req, &resp), resp, [&] { PrintCalendar(resp); });
}

int CalendarUpdate(Context& c, Args& a) {
  v1::UpdateBusinessCalendarRequest req;
  ReadMessageFile(FileFlag(a), req.mutable_calendar());
  if (req.calendar().calendar_id().empty()) throw UsageError("the file names no calendar_id");
  UpdateMask(a, req.calendar(), kCalendarFixed, req.mutable_update_mask());
  req.set_request_id(RequestId(a));
  a.Done();
  v1::BusinessCalendar resp;
  return c.Finish(Stub(c)->UpdateBusinessCalendar(c.NewCall().get(), req, &resp), resp, [&] { PrintCalendar(resp); });
}

int CalendarDelete(Context& c, Args& a) {
  v1::DeleteBusinessCalendarRequest req;
  req.set_calendar_id(a.Positional("calendar_id"));
  req.set_expected_version(a.IntFlag("expected_version", 0));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::DeleteBusinessCalendarResponse resp;
  return c.Finish(Stub(c)->DeleteBusinessCalendar(c.NewCall().get(), req, &resp), resp,
                  [&] { std::printf("deleted calendar %s\n", req.calendar_id().c_str()); });
}

// --- forbidden phrases ---

void PrintPhrases(const v1::ForbiddenPhraseList& l) {
  PrintFields({{"LOCALE", l.locale()},
               {"VERSION", absl::StrCat(l.version())},
               {"UPDATED", Time(l.update_time())},
               {"BY", OrDash(l.updated_by().principal_id())}});
  for (const auto& p : l.phrases()) std::printf("  %s\n", p.c_str());
}

int PhrasesList(Context& c, Args& a) {
  v1::ListForbiddenPhrasesRequest req;
  req.set_page_size(static_cast<int32_t>(a.IntFlag("page_size", 50)));
  req.set_page_token(a.Flag("page_token"));
  a.Done();
  v1::ListForbiddenPhrasesResponse resp;
  return c.Finish(Stub(c)->ListForbiddenPhrases(c.NewCall().get(), req, &resp), resp, [&] {
    Table t({"LOCALE", "PHRASES", "VERSION", "UPDATED"});
    for (const auto& l : resp.lists()) {
      t.Row({l.locale(), absl::StrCat(l.phrases_size()), absl::StrCat(l.version()), Time(l.update_time())});
    }
    t.Print("(no forbidden phrases)");
    PrintNextPage(resp.next_page_token());
  });
}

int PhrasesGet(Context& c, Args& a) {
  v1::GetForbiddenPhrasesRequest req;
  req.set_locale(a.Positional("locale"));
  a.Done();
  v1::ForbiddenPhraseList resp;
  return c.Finish(Stub(c)->GetForbiddenPhrases(c.NewCall().get(), req, &resp), resp, [&] { PrintPhrases(resp); });
}

int PhrasesSet(Context& c, Args& a) {
  v1::PutForbiddenPhrasesRequest req;
  req.mutable_list()->set_locale(a.Positional("locale"));
  for (const auto& p : a.RestPositionals()) req.mutable_list()->add_phrases(p);
  req.set_expected_version(a.IntFlag("expected_version", 0));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::ForbiddenPhraseList resp;
  return c.Finish(Stub(c)->PutForbiddenPhrases(c.NewCall().get(), req, &resp), resp, [&] { PrintPhrases(resp); });
}

}  // namespace

std::vector<Command> ComplaintSetupCommands() {
  const std::string id = " [--request-id=ID]";
  const std::string page = "[--page-size=50] [--page-token=]";
  const std::string file = "--file=F.json";
  const std::string update = " [--only=PATH,...]";
  return {
      {"complaint sla-policy", "list", page, "lists SLA policies in evaluation order (ListSlaPolicies)", PolicyList},
      {"complaint sla-policy", "get", "<sla_policy_id> [--version=N]", "shows an SLA policy (GetSlaPolicy)", PolicyGet},
      {"complaint sla-policy", "create", file + id, "creates an SLA policy from its JSON form (CreateSlaPolicy)",
       PolicyCreate},
      {"complaint sla-policy", "update", file + update + id,
       "changes the fields the file sets (or --only those), of the policy it names (UpdateSlaPolicy)", PolicyUpdate},
      {"complaint sla-policy", "delete", "<sla_policy_id> [--expected-version=N]" + id,
       "deletes an SLA policy; open complaints keep their targets (DeleteSlaPolicy)", PolicyDelete},
      {"complaint calendar", "list", page, "lists business calendars (ListBusinessCalendars)", CalendarList},
      {"complaint calendar", "get", "<calendar_id>", "shows a calendar's hours and holidays (GetBusinessCalendar)",
       CalendarGet},
      {"complaint calendar", "create", file + id,
       "creates a business calendar from its JSON form (CreateBusinessCalendar)", CalendarCreate},
      {"complaint calendar", "update", file + update + id,
       "changes the fields the file sets (or --only those), of the calendar it names (UpdateBusinessCalendar)",
       CalendarUpdate},
      {"complaint calendar", "delete", "<calendar_id> [--expected-version=N]" + id,
       "deletes a calendar no SLA policy uses (DeleteBusinessCalendar)", CalendarDelete},
      {"complaint phrases", "list", page, "lists the locales with forbidden phrases (ListForbiddenPhrases)",
       PhrasesList},
      {"complaint phrases", "get", "<locale>", "shows a locale's forbidden phrases (GetForbiddenPhrases)", PhrasesGet},
      {"complaint phrases", "set", "<locale> [<phrase>...] [--expected-version=N]" + id,
       "replaces a locale's forbidden phrases; none clears them (PutForbiddenPhrases)", PhrasesSet},
  };
}

}  // namespace carectl
