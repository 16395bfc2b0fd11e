// carectl complaint settings|staff|team ...: the desk's settings
// (care.complaint.v1 ComplaintSettings, admin), and in them who staff
// alerts reach: the staff directory (an agent's channel and address,
// language and time zone) and each team's lead (NOTIFY_TEAM_LEAD). `staff
// set` and `team set` change one entry: they read the settings and write
// the list back under the version read, so a concurrent change is refused
// (VERSION_MISMATCH) rather than lost.

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "care/complaint/v1/complaint.grpc.pb.h"
#include "common/proto_time.h"
#include "tools/carectl/commands.h"

namespace carectl {
namespace {

namespace v1 = care::complaint::v1;
namespace cv1 = care::common::v1;

std::unique_ptr<v1::ComplaintService::Stub> Stub(const Context& c) {
  return v1::ComplaintService::NewStub(c.channel());
}

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

std::string Address(const v1::StaffMember& m) {
  return m.alert_channel() == cv1::MESSAGE_CHANNEL_EMAIL ? m.email() : m.webhook_address();
}

void PrintSettings(const v1::ComplaintSettings& s) {
  PrintFields({{"REOPEN WINDOW", absl::FormatDuration(care::FromDurationProto(s.reopen_window()))},
               {"DEFAULT LOCALE", OrDash(s.default_locale())},
               {"DEFAULT CALENDAR", OrDash(s.default_calendar_id())},
               {"CHECK-IN AFTER RESOLUTION",
                s.check_in().enabled()
                    ? absl::FormatDuration(care::FromDurationProto(s.check_in().delay_after_resolution()))
                    : "off"},
               {"SURVEY", s.survey().enabled() ? "on" : "off"},
               {"VERSION", absl::StrCat(s.version())},
               {"UPDATED", Time(s.update_time())}});
  Table teams({"TEAM", "NAME", "LEAD"});
  for (const auto& t : s.teams()) teams.Row({t.team_id(), OrDash(t.display_name()), OrDash(t.lead_agent_id())});
  teams.Print("(no teams)");
  Table staff({"AGENT", "NAME", "TEAM", "LOCALE", "TIME ZONE", "ALERTS BY", "ADDRESS"});
  for (const auto& m : s.staff()) {
    staff.Row({m.agent_id(), m.display_name(), OrDash(m.team_id()), OrDash(m.locale()), OrDash(m.time_zone()),
               EnumName(cv1::MessageChannel_descriptor(), m.alert_channel()), OrDash(Address(m))});
  }
  staff.Print("(no staff directory: nobody gets staff alerts)");
}

grpc::Status ReadSettings(const Context& c, v1::ComplaintSettings* out) {
  return Stub(c)->GetComplaintSettings(c.NewCall().get(), v1::GetComplaintSettingsRequest(), out);
}

// Writes `settings` (as read, then changed) back for `path`, under the
// version read.
int WriteSettings(Context& c, const std::string& request_id, const v1::ComplaintSettings& settings,
                  const std::string& path) {
  v1::UpdateComplaintSettingsRequest req;
  *req.mutable_settings() = settings;
  req.mutable_update_mask()->add_paths(path);
  req.set_request_id(request_id);
  v1::ComplaintSettings resp;
  return c.Finish(Stub(c)->UpdateComplaintSettings(c.NewCall().get(), req, &resp), resp, [&] { PrintSettings(resp); });
}

int SettingsGet(Context& c, Args& a) {
  a.Done();
  v1::ComplaintSettings resp;
  return c.Finish(ReadSettings(c, &resp), resp, [&] { PrintSettings(resp); });
}

int SettingsUpdate(Context& c, Args& a) {
  v1::UpdateComplaintSettingsRequest req;
  const std::string file = a.Flag("file");
  if (file.empty()) throw UsageError("--file is required (JSON; \"-\" reads stdin)");
  ReadMessageFile(file, req.mutable_settings());
  for (absl::string_view p : absl::StrSplit(a.Flag("only"), ',', absl::SkipEmpty())) {
    req.mutable_update_mask()->add_paths(std::string(p));
  }
  if (req.update_mask().paths().empty()) {
    for (const auto& p : SetFieldPaths(req.settings(), {"version", "update_time"}))
      req.mutable_update_mask()->add_paths(p);
  }
  if (req.update_mask().paths().empty()) throw UsageError("the file changes nothing");
  req.set_request_id(RequestId(a));
  a.Done();
  v1::ComplaintSettings resp;
  return c.Finish(Stub(c)->UpdateComplaintSettings(c.NewCall().get(), req, &resp), resp, [&] { PrintSettings(resp); });
}

// The entry for `agent_id` from the flags; the address flag must suit the channel.
v1::StaffMember StaffFromFlags(Args& a, const std::string& agent_id) {
  v1::StaffMember m;
  m.set_agent_id(agent_id);
  m.set_display_name(a.Flag("name"));
  if (m.display_name().empty()) throw UsageError("--name is required");
  m.set_team_id(a.Flag("team"));
  m.set_locale(a.Flag("locale"));
  m.set_time_zone(a.Flag("time_zone"));
  m.set_alert_channel(static_cast<cv1::MessageChannel>(ParseEnum(cv1::MessageChannel_descriptor(), "--channel",
                                                                 a.Flag("channel", "email"))));
  m.set_email(a.Flag("email"));
  m.set_webhook_address(a.Flag("webhook_address"));
  return m;
}

// Reads the settings, applies `edit` and writes them back under the version
// read (its `path` as the update mask).
int EditSettings(Context& c, const std::string& request_id, const std::string& path,
                 const std::function<void(v1::ComplaintSettings&)>& edit) {
  v1::ComplaintSettings settings;
  grpc::Status read = ReadSettings(c, &settings);
  if (!read.ok()) return c.Finish(read, settings, [] {});
  edit(settings);
  return WriteSettings(c, request_id, settings, path);
}

int StaffSet(Context& c, Args& a) {
  const v1::StaffMember member = StaffFromFlags(a, a.Positional("agent_id"));
  const std::string request_id = RequestId(a);
  a.Done();
  return EditSettings(c, request_id, "staff", [&](v1::ComplaintSettings& settings) {
    auto* staff = settings.mutable_staff();
    auto it = std::find_if(staff->begin(), staff->end(),
                           [&](const v1::StaffMember& m) { return m.agent_id() == member.agent_id(); });
    if (it == staff->end()) {
      *staff->Add() = member;
    } else {
      *it = member;
    }
  });
}

int StaffRemove(Context& c, Args& a) {
  const std::string agent_id = a.Positional("agent_id");
  const std::string request_id = RequestId(a);
  a.Done();
  return EditSettings(c, request_id, "staff", [&](v1::ComplaintSettings& settings) {
    auto* staff = settings.mutable_staff();
    auto it = std::find_if(staff->begin(), staff->end(),
                           [&](const v1::StaffMember& m) { return m.agent_id() == agent_id; });
    if (it == staff->end()) throw UsageError(absl::StrCat(agent_id, " is not in the staff directory"));
    staff->erase(it);
  });
}

int TeamSet(Context& c, Args& a) {
  v1::TeamSettings team;
  team.set_team_id(a.Positional("team_id"));
  team.set_lead_agent_id(a.Flag("lead"));
  team.set_display_name(a.Flag("name"));
  if (team.lead_agent_id().empty()) throw UsageError("--lead is required");
  const std::string request_id = RequestId(a);
  a.Done();
  return EditSettings(c, request_id, "teams", [&](v1::ComplaintSettings& settings) {
    auto* teams = settings.mutable_teams();
    auto it = std::find_if(teams->begin(), teams->end(),
                           [&](const v1::TeamSettings& t) { return t.team_id() == team.team_id(); });
    if (it == teams->end()) {
      *teams->Add() = team;
    } else {
      if (team.display_name().empty()) team.set_display_name(it->display_name());
      *it = team;
    }
  });
}

}  // namespace

std::vector<Command> ComplaintStaffCommands() {
  const std::string id = " [--request-id=ID]";
  return {
      {"complaint settings", "get", "",
       "shows the desk's settings, the teams with their leads and the staff directory (GetComplaintSettings)",
       SettingsGet},
      {"complaint settings", "update", "--file=F.json [--only=PATH,...]" + id,
       "changes the settings the file sets (or --only those paths); lists are replaced whole "
       "(UpdateComplaintSettings)",
       SettingsUpdate},
      {"complaint staff", "set",
       "<agent_id> --name=NAME [--channel=email|webhook] [--email=] [--webhook-address=] [--team=] [--locale=] "
       "[--time-zone=]" +
           id,
       "adds or replaces one entry of the staff directory: where that agent's alerts go (UpdateComplaintSettings)",
       StaffSet},
      {"complaint staff", "remove", "<agent_id>" + id,
       "removes an agent from the staff directory: they get no more alerts (UpdateComplaintSettings)", StaffRemove},
      {"complaint team", "set", "<team_id> --lead=AGENT [--name=]" + id,
       "adds or changes a team and its lead, whom NOTIFY_TEAM_LEAD escalations reach (UpdateComplaintSettings)",
       TeamSet},
  };
}

}  // namespace carectl
