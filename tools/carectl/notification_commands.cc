// carectl notification ...: inboxes, schedules, deliveries and consent
// (care.notification.v1).

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "care/notification/v1/notification.grpc.pb.h"
#include "common/proto_time.h"
#include "tools/carectl/commands.h"

namespace carectl {
namespace {

namespace v1 = care::notification::v1;
using care::common::v1::MessageChannel_descriptor;

std::unique_ptr<v1::NotificationService::Stub> Stub(const Context& c) {
  return v1::NotificationService::NewStub(c.channel());
}

std::string Channels(const google::protobuf::RepeatedField<int>& channels) {
  std::vector<std::string> names;
  for (int ch : channels) names.push_back(EnumName(MessageChannel_descriptor(), ch));
  return names.empty() ? "-" : absl::StrJoin(names, ",");
}

int Inbox(Context& c, Args& a) {
  v1::ListInboxRequest req;
  req.set_member_id(a.Positional("member_id"));
  req.set_unread_only(a.BoolFlag("unread"));
  req.set_page_size(static_cast<int32_t>(a.IntFlag("page_size", 50)));
  req.set_page_token(a.Flag("page_token"));
  a.Done();
  v1::ListInboxResponse resp;
  return c.Finish(Stub(c)->ListInbox(c.NewCall().get(), req, &resp), resp, [&] {
    Table t({"TIME", "KIND", "READ", "SUBJECT", "MESSAGE"});
    for (const auto& m : resp.messages()) {
      t.Row({Time(m.create_time()), EnumName(v1::MessageKind_descriptor(), m.kind()), m.has_read_time() ? "yes" : "no",
             m.subject(), m.message_id()});
    }
    t.Print("(inbox empty)");
    std::printf("unread: %lld\n", static_cast<long long>(resp.unread_count()));
    PrintNextPage(resp.next_page_token());
  });
}

void PrintSchedule(const v1::Schedule& s) {
  PrintFields({{"SCHEDULE", s.schedule_id()},
               {"KIND", EnumName(v1::MessageKind_descriptor(), s.kind())},
               {"STATE", EnumName(v1::ScheduleState_descriptor(), s.state())},
               {"MESSAGE KEY", s.message_key()},
               {"CAMPAIGN", s.campaign_id().empty() ? "-" : absl::StrCat(s.campaign_id(), " v", s.campaign_version())},
               {"DUE", Time(s.due_time())},
               {"CHANNELS", Channels(s.channels())},
               {"RESOLVED", absl::StrCat(s.members_resolved())},
               {"DELIVERIES", absl::StrCat(s.deliveries_created())},
               {"LAST ERROR", s.last_error().empty() ? "-" : s.last_error()}});
}

int Schedules(Context& c, Args& a) {
  v1::ListSchedulesRequest req;
  if (std::string state = a.Flag("state"); !state.empty()) {
    req.add_states(static_cast<v1::ScheduleState>(ParseEnum(v1::ScheduleState_descriptor(), "--state", state)));
  }
  req.set_campaign_id(a.Flag("campaign"));
  req.set_member_id(a.Flag("member"));
  req.set_page_size(static_cast<int32_t>(a.IntFlag("page_size", 50)));
  req.set_page_token(a.Flag("page_token"));
  a.Done();
  v1::ListSchedulesResponse resp;
  return c.Finish(Stub(c)->ListSchedules(c.NewCall().get(), req, &resp), resp, [&] {
    Table t({"SCHEDULE", "KIND", "STATE", "DUE", "CAMPAIGN", "CHANNELS", "DELIVERIES"});
    for (const auto& s : resp.schedules()) {
      t.Row({s.schedule_id(), EnumName(v1::MessageKind_descriptor(), s.kind()),
             EnumName(v1::ScheduleState_descriptor(), s.state()), Time(s.due_time()),
             s.campaign_id().empty() ? "-" : s.campaign_id(), Channels(s.channels()),
             absl::StrCat(s.deliveries_created())});
    }
    t.Print("(no schedules)");
    PrintNextPage(resp.next_page_token());
  });
}

int Schedule(Context& c, Args& a) {
  v1::GetScheduleRequest req;
  std::string campaign = a.Flag("campaign");
  std::string id = a.OptionalPositional("schedule_id");
  if (id.empty() == campaign.empty()) throw UsageError("give a <schedule_id> or --campaign=ID (one of them)");
  if (!id.empty()) {
    req.set_schedule_id(id);
  } else {
    req.set_campaign_id(campaign);
  }
  a.Done();
  v1::Schedule resp;
  return c.Finish(Stub(c)->GetSchedule(c.NewCall().get(), req, &resp), resp, [&] { PrintSchedule(resp); });
}

// A campaign's alert: deliveries by channel and outcome, and per channel the
// members alerted and converted (redeemed after the alert).
int CampaignStats(Context& c, Args& a) {
  v1::GetCampaignDeliveryStatsRequest req;
  req.set_campaign_id(a.Positional("campaign_id"));
  a.Done();
  v1::CampaignDeliveryStats resp;
  return c.Finish(Stub(c)->GetCampaignDeliveryStats(c.NewCall().get(), req, &resp), resp, [&] {
    PrintFields({{"CAMPAIGN", resp.campaign_id()},
                 {"SCHEDULE", resp.schedule_id()},
                 {"STATE", EnumName(v1::ScheduleState_descriptor(), resp.schedule_state())},
                 {"MEMBERS RESOLVED", absl::StrCat(resp.members_resolved())},
                 {"DELIVERIES", absl::StrCat(resp.total_deliveries())}});
    Table counts({"CHANNEL", "STATUS", "REASON", "COUNT"});
    for (const auto& n : resp.counts()) {
      counts.Row(
          {EnumName(MessageChannel_descriptor(), n.channel()), EnumName(v1::DeliveryStatus_descriptor(), n.status()),
           n.suppression_reason() == 0 ? "-" : EnumName(v1::SuppressionReason_descriptor(), n.suppression_reason()),
           absl::StrCat(n.count())});
    }
    counts.Print("(no deliveries)");
    Table conv({"CHANNEL", "ALERTED", "CONVERTED", "RATE"});
    for (const auto& n : resp.conversions()) {
      conv.Row({EnumName(MessageChannel_descriptor(), n.channel()), absl::StrCat(n.members_alerted()),
                absl::StrCat(n.members_converted()), absl::StrFormat("%.1f%%", 100.0 * n.conversion_rate())});
    }
    conv.Print("(no member alerted yet)");
  });
}

// ListDeliveries with `status` ("" = any) and the filter flags.
int ListDeliveries(Context& c, Args& a, const std::string& status) {
  v1::ListDeliveriesRequest req;
  auto* f = req.mutable_filter();
  f->set_member_id(a.Flag("member"));
  f->set_campaign_id(a.Flag("campaign"));
  f->set_schedule_id(a.Flag("schedule"));
  if (const std::string& s = status; !s.empty()) {
    f->add_statuses(static_cast<v1::DeliveryStatus>(ParseEnum(v1::DeliveryStatus_descriptor(), "--status", s)));
  }
  if (std::string ch = a.Flag("channel"); !ch.empty()) {
    f->add_channels(static_cast<care::common::v1::MessageChannel>(ParseEnum(MessageChannel_descriptor(), "--channel",
                                                                            ch)));
  }
  req.set_page_size(static_cast<int32_t>(a.IntFlag("page_size", 50)));
  req.set_page_token(a.Flag("page_token"));
  a.Done();
  v1::ListDeliveriesResponse resp;
  return c.Finish(Stub(c)->ListDeliveries(c.NewCall().get(), req, &resp), resp, [&] {
    Table t({"MEMBER", "MESSAGE KEY", "CHANNEL", "STATUS", "DETAIL", "ATTEMPTS", "CREATED"});
    for (const auto& d : resp.deliveries()) {
      std::string detail = d.suppression_reason() != v1::SUPPRESSION_REASON_UNSPECIFIED
                               ? EnumName(v1::SuppressionReason_descriptor(), d.suppression_reason())
                           : d.last_error_code().empty() ? "-"
                                                         : d.last_error_code();
      t.Row({d.member_id(), d.message_key(), EnumName(MessageChannel_descriptor(), d.channel()),
             EnumName(v1::DeliveryStatus_descriptor(), d.status()), detail, absl::StrCat(d.attempts()),
             Time(d.create_time())});
    }
    t.Print("(no deliveries)");
    PrintNextPage(resp.next_page_token());
  });
}

int Deliveries(Context& c, Args& a) { return ListDeliveries(c, a, a.Flag("status")); }

int DeadLetters(Context& c, Args& a) { return ListDeliveries(c, a, "dead_letter"); }

int Consent(Context& c, Args& a) {
  v1::SetConsentRequest req;
  req.set_member_id(a.Positional("member_id"));
  req.set_channel(static_cast<care::common::v1::MessageChannel>(ParseEnum(MessageChannel_descriptor(), "<channel>",
                                                                          a.Positional("channel"))));
  std::string decision = a.Positional("grant|withdraw");
  if (decision != "grant" && decision != "withdraw") {
    throw UsageError(absl::StrCat("\"", decision, "\" is neither grant nor withdraw"));
  }
  req.set_granted(decision == "grant");
  req.set_source(static_cast<v1::ConsentSource>(ParseEnum(v1::ConsentSource_descriptor(), "--source",
                                                          a.Flag("source", "agent"))));
  req.set_legal_basis(static_cast<v1::LegalBasis>(ParseEnum(v1::LegalBasis_descriptor(), "--legal-basis",
                                                            a.Flag("legal_basis", "consent"))));
  req.set_evidence(a.Flag("evidence"));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::ConsentRecord resp;
  return c.Finish(Stub(c)->SetConsent(c.NewCall().get(), req, &resp), resp, [&] {
    PrintFields({{"CONSENT", resp.consent_id()},
                 {"MEMBER", resp.member_id()},
                 {"CHANNEL", EnumName(MessageChannel_descriptor(), resp.channel())},
                 {"GRANTED", resp.granted() ? "yes" : "no"},
                 {"SOURCE", EnumName(v1::ConsentSource_descriptor(), resp.source())},
                 {"APPLIED", resp.applied() ? "yes" : "no (a later decision stands)"},
                 {"EFFECTIVE", Time(resp.effective_time())},
                 {"BY", resp.actor()}});
  });
}

// A secret from a file (never from the command line, where `ps` and shell
// history would keep it); surrounding whitespace dropped.
std::string ReadSecret(const std::string& flag, const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError(absl::StrCat(flag, ": cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(text.str()));
}

std::string Seconds(const google::protobuf::Duration& d) { return absl::FormatDuration(care::FromDurationProto(d)); }

void PrintSettings(const v1::Settings& s) {
  auto window = [](const v1::SendWindow& w) {
    return absl::StrFormat("%02d:%02d-%02d:%02d", w.start().hours(), w.start().minutes(), w.end().hours(),
                           w.end().minutes());
  };
  PrintFields({{"FREQUENCY CAP", s.frequency_cap().max_messages() == 0
                                     ? "none"
                                     : absl::StrCat(s.frequency_cap().max_messages(), " marketing per ",
                                                    Seconds(s.frequency_cap().window()))},
               {"RETRY", absl::StrCat(s.retry_policy().max_attempts(), " attempts, backoff ",
                                      Seconds(s.retry_policy().initial_backoff()), " x", s.retry_policy().multiplier(),
                                      " up to ", Seconds(s.retry_policy().max_backoff()))},
               {"SEND WINDOW", window(s.default_send_window())},
               {"TIME ZONE", s.default_time_zone()},
               {"WEBHOOK", s.webhook().url().empty() ? "not configured" : s.webhook().url()},
               {"WEBHOOK SECRET", s.webhook().signing_secret_set() ? "set" : "not set"},
               {"EMAIL", s.email().smtp_url().empty()
                             ? "not configured"
                             : absl::StrCat(s.email().smtp_url(), " from ", s.email().from_address())},
               {"EMAIL PASSWORD", s.email().password_set() ? "set" : "not set"},
               {"UNSUBSCRIBE",
                s.email().unsubscribe_url().empty() ? "not set (no marketing e-mail)" : s.email().unsubscribe_url()}});
}

int Settings(Context& c, Args& a) {
  a.Done();
  v1::Settings resp;
  return c.Finish(Stub(c)->GetSettings(c.NewCall().get(), v1::GetSettingsRequest(), &resp), resp,
                  [&] { PrintSettings(resp); });
}

int SetWebhook(Context& c, Args& a) {
  v1::UpdateSettingsRequest req;
  auto* w = req.mutable_settings()->mutable_webhook();
  w->set_url(a.Positional("url"));
  req.mutable_update_mask()->add_paths("webhook.url");
  if (std::string path = a.Flag("secret_file"); !path.empty()) {
    w->set_signing_secret(ReadSecret("--secret-file", path));
    req.mutable_update_mask()->add_paths("webhook.signing_secret");
  }
  if (int64_t n = a.IntFlag("max_in_flight", 0); n != 0) {
    w->set_max_in_flight(static_cast<int32_t>(n));
    req.mutable_update_mask()->add_paths("webhook.max_in_flight");
  }
  req.set_request_id(RequestId(a));
  a.Done();
  v1::Settings resp;
  return c.Finish(Stub(c)->UpdateSettings(c.NewCall().get(), req, &resp), resp, [&] { PrintSettings(resp); });
}

int SetEmail(Context& c, Args& a) {
  v1::UpdateSettingsRequest req;
  auto* e = req.mutable_settings()->mutable_email();
  e->set_smtp_url(a.Positional("smtp_url"));
  e->set_from_address(a.Flag("from"));
  e->set_from_name(a.Flag("from_name"));
  e->set_username(a.Flag("username"));
  e->set_unsubscribe_url(a.Flag("unsubscribe_url"));
  for (const char* p :
       {"email.smtp_url", "email.from_address", "email.from_name", "email.username", "email.unsubscribe_url"}) {
    req.mutable_update_mask()->add_paths(p);
  }
  if (std::string path = a.Flag("password_file"); !path.empty()) {
    e->set_password(ReadSecret("--password-file", path));
    req.mutable_update_mask()->add_paths("email.password");
  }
  req.set_request_id(RequestId(a));
  a.Done();
  v1::Settings resp;
  return c.Finish(Stub(c)->UpdateSettings(c.NewCall().get(), req, &resp), resp, [&] { PrintSettings(resp); });
}

int Replay(Context& c, Args& a) {
  v1::ReplayDeadLettersRequest req;
  if (std::string ids = a.Flag("ids"); !ids.empty()) {
    for (absl::string_view id : absl::StrSplit(ids, ',', absl::SkipEmpty())) req.add_delivery_ids(std::string(id));
  }
  auto* f = req.mutable_filter();
  f->set_member_id(a.Flag("member"));
  f->set_campaign_id(a.Flag("campaign"));
  f->set_schedule_id(a.Flag("schedule"));
  if (std::string ch = a.Flag("channel"); !ch.empty()) {
    f->add_channels(static_cast<care::common::v1::MessageChannel>(ParseEnum(MessageChannel_descriptor(), "--channel",
                                                                            ch)));
  }
  req.set_include_failed(a.BoolFlag("include_failed"));
  req.set_max_deliveries(static_cast<int32_t>(a.IntFlag("max", 0)));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::ReplayDeadLettersResponse resp;
  return c.Finish(Stub(c)->ReplayDeadLetters(c.NewCall().get(), req, &resp), resp, [&] {
    PrintFields({{"REPLAYED", absl::StrCat(resp.replayed_count())},
                 {"SKIPPED", absl::StrCat(resp.skipped_count())},
                 {"MORE LEFT", resp.more_remaining() ? "yes (run again)" : "no"}});
  });
}

}  // namespace

std::vector<Command> NotificationCommands() {
  return {
      {"notification", "inbox", "<member_id> [--unread] [--page-size=50] [--page-token=]",
       "lists a member's in-app inbox, newest first (ListInbox)", Inbox},
      {"notification", "schedules",
       "[--state=scheduled|running|completed|cancelled] [--campaign=] [--member=] "
       "[--page-size=50] [--page-token=]",
       "lists scheduled messages such as promotion alerts (ListSchedules)", Schedules},
      {"notification", "schedule", "<schedule_id> | --campaign=ID", "shows one schedule (GetSchedule)", Schedule},
      {"notification", "campaign-stats", "<campaign_id>",
       "a campaign alert's deliveries by outcome, and members alerted and converted (redeemed after it) per "
       "channel (GetCampaignDeliveryStats)",
       CampaignStats},
      {"notification", "deliveries",
       "[--member=] [--campaign=] [--schedule=] [--status=] [--channel=] "
       "[--page-size=50] [--page-token=]",
       "lists deliveries and their outcome (ListDeliveries)", Deliveries},
      {"notification", "consent",
       "<member_id> <in_app|webhook|email> <grant|withdraw> [--source=agent] "
       "[--legal-basis=consent] [--evidence=] [--request-id=ID]",
       "records a marketing consent decision (SetConsent)", Consent},
      {"notification", "settings", "", "shows the service settings, secrets only as set / not set (GetSettings)",
       Settings},
      {"notification", "set-webhook", "<url> [--secret-file=PATH] [--max-in-flight=N] [--request-id=ID]",
       "points the WEBHOOK channel at a gateway; the HMAC secret is read from a file (UpdateSettings)", SetWebhook},
      {"notification", "set-email",
       "<smtp_url> --from=ADDRESS [--from-name=] [--username=] [--password-file=PATH] "
       "[--unsubscribe-url=https://...] [--request-id=ID]",
       "points the EMAIL channel at an SMTP server (UpdateSettings)", SetEmail},
      {"notification", "replay",
       "--ids=D1,D2 | [--campaign=] [--member=] [--schedule=] [--channel=] "
       "[--include-failed] [--max=N] [--request-id=ID]",
       "puts dead-lettered deliveries back to PENDING (ReplayDeadLetters)", Replay},
      {"notification dead-letter", "list",
       "[--member=] [--campaign=] [--schedule=] [--channel=] [--page-size=50] [--page-token=]",
       "lists the deliveries that ended DEAD_LETTER, with their last error (ListDeliveries)", DeadLetters},
      {"notification dead-letter", "replay",
       "--ids=D1,D2 | [--campaign=] [--member=] [--schedule=] [--channel=] "
       "[--include-failed] [--max=N] [--request-id=ID]",
       "puts dead-lettered deliveries back to PENDING once the cause is fixed (ReplayDeadLetters)", Replay},
  };
}

}  // namespace carectl
