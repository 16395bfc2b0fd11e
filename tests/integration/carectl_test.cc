// carectl through the real binaries: care_loyalty and care_notification
// started by the harness, carectl run as a child process; every command is
// checked on its table output, --json, errors (code and reason on stderr,
// exit 1) and bad arguments (a useful message, exit 2).

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "care/complaint/v1/complaint.grpc.pb.h"
#include "care/promotion/v1/promotion.grpc.pb.h"
#include "common/tls.h"
#include "google/protobuf/util/json_util.h"
#include "tests/harness/receivers.h"
#include "tests/integration/loyalty_fixture.h"
#include "yaml-cpp/yaml.h"

extern char** environ;

namespace care::testing {
namespace {

using care::common::v1::MESSAGE_CHANNEL_IN_APP;
using care::common::v1::MESSAGE_CHANNEL_WEBHOOK;

struct Result {
  int code = -1;
  std::string out, err;
};

std::ostream& operator<<(std::ostream& os, const Result& r) {
  return os << "exit " << r.code << "\n--- stdout\n" << r.out << "--- stderr\n" << r.err;
}

class CarectlTest : public LoyaltyTest {
 protected:
  void SetUp() override {
    LoyaltyTest::SetUp();
    if (HasFatalFailure()) return;
    Configure();
    std::vector<std::string> args = NotificationArgs();
    notification_service_ = std::make_unique<ServiceProcess>(CARE_NOTIFICATION_BIN,
                                                             "care.notification.v1.NotificationService", args, tokens_);
    absl::Status started = notification_service_->Start();
    ASSERT_TRUE(started.ok()) << started;
    nstub_ = nv1::NotificationService::NewStub(notification_service_->channel());
    nclock_ = care::common::v1::ClockControl::NewStub(notification_service_->channel());
    MoveNotificationClock(Base(), absl::ZeroDuration());
  }

  // carectl <args...>, with stdout and stderr kept apart.
  Result Run(std::vector<std::string> args) {
    std::string out = dir_.path() + "/carectl.out", err = dir_.path() + "/carectl.err";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    args.insert(args.begin(), CARECTL_BIN);
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid;
    Result r;
    if (posix_spawn(&pid, CARECTL_BIN, &actions, nullptr, argv.data(), environ) != 0) return r;
    posix_spawn_file_actions_destroy(&actions);
    int status = 0;
    waitpid(pid, &status, 0);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = ReadFile(out);
    r.err = ReadFile(err);
    return r;
  }
  Result Loyalty(std::vector<std::string> args, const std::string& token = "") {
    args.insert(args.begin(),
                {"--target=" + service_->address(), "--token=" + (token.empty() ? svc() : token), "loyalty"});
    return Run(args);
  }
  Result Notification(std::vector<std::string> args) {
    args.insert(args.begin(), {"--target=" + notification_service_->address(), "--token=" + admin(), "notification"});
    return Run(args);
  }

  void MoveNotificationClock(absl::Time to, absl::Duration advance) {
    care::common::v1::SetTimeRequest req;
    if (advance > absl::ZeroDuration()) {
      *req.mutable_advance() = ToDurationProto(advance);
    } else {
      *req.mutable_time() = ToTimestamp(to);
    }
    care::common::v1::GetTimeResponse r;
    grpc::Status s = nclock_->SetTime(Ctx(admin()).get(), req, &r);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  // Campaign "spring"'s alert to the vip segment in the app, due in 48 h: still SCHEDULED, as the
  // fan-out starts 26 h (plus the quiet-hours margin) before due.
  nv1::IngestEventRequest SpringAlertDueIn48Hours() {
    nv1::IngestEventRequest alert;
    alert.set_event_id("promotion-carectl-1");
    alert.set_source("promotion");
    *alert.mutable_occurred_at() = ToTimestamp(Base());
    auto* a = alert.mutable_promotion_alert();
    a->set_campaign_id("spring");
    a->set_campaign_version(1);
    a->set_title("Spring sale");
    a->set_description("15% off");
    a->add_target_segments("vip");
    a->add_channels(MESSAGE_CHANNEL_IN_APP);
    absl::Time starts = Base() + absl::Hours(72 + 48);
    *a->mutable_starts_at() = ToTimestamp(starts);
    *a->mutable_ends_at() = ToTimestamp(starts + absl::Hours(24));
    *a->mutable_notice() = ToDurationProto(absl::Hours(72));
    return alert;
  }

  std::unique_ptr<ServiceProcess> notification_service_;
  std::unique_ptr<nv1::NotificationService::Stub> nstub_;
  std::unique_ptr<care::common::v1::ClockControl::Stub> nclock_;
};

#define EXPECT_OUT(r, text) EXPECT_TRUE(absl::StrContains((r).out, text)) << "want \"" << (text) << "\"\n" << (r)
#define EXPECT_ERR(r, text) EXPECT_TRUE(absl::StrContains((r).err, text)) << "want \"" << (text) << "\"\n" << (r)

TEST_F(CarectlTest, HelpForEveryCommandAndUsageErrors) {
  Result all = Run({"--help"});
  ASSERT_EQ(all.code, 0) << all;
  std::vector<std::pair<std::string, std::string>> commands = {{"", "ping"},
                                                               {"loyalty", "enrol"},
                                                               {"loyalty", "get-member"},
                                                               {"loyalty", "purchase"},
                                                               {"loyalty", "return"},
                                                               {"loyalty", "redeem"},
                                                               {"loyalty", "adjust"},
                                                               {"loyalty", "tier"},
                                                               {"loyalty", "balance"},
                                                               {"loyalty", "ledger"},
                                                               {"notification", "inbox"},
                                                               {"notification", "schedules"},
                                                               {"notification", "schedule"},
                                                               {"notification", "deliveries"},
                                                               {"notification", "consent"},
                                                               {"notification", "settings"},
                                                               {"notification", "set-webhook"},
                                                               {"notification", "set-email"},
                                                               {"notification", "replay"},
                                                               {"complaint", "list"},
                                                               {"complaint", "assign"},
                                                               {"complaint", "transfer"},
                                                               {"complaint", "reopen"},
                                                               {"complaint outbox", "dead"},
                                                               {"complaint outbox", "replay"},
                                                               {"loyalty outbox", "dead"},
                                                               {"promotion outbox", "replay"},
                                                               {"loyalty member", "list"},
                                                               {"loyalty program", "get"},
                                                               {"loyalty program", "set"},
                                                               {"loyalty program", "versions"},
                                                               {"complaint sla-policy", "create"},
                                                               {"complaint sla-policy", "delete"},
                                                               {"complaint calendar", "update"},
                                                               {"complaint phrases", "set"},
                                                               {"complaint settings", "get"},
                                                               {"complaint settings", "update"},
                                                               {"complaint staff", "set"},
                                                               {"complaint staff", "remove"},
                                                               {"complaint team", "set"},
                                                               {"complaint contact", "create"},
                                                               {"complaint contact", "show"},
                                                               {"complaint contact", "update"},
                                                               {"complaint contact", "list"},
                                                               {"notification template", "put"},
                                                               {"notification dead-letter", "list"},
                                                               {"notification dead-letter", "replay"},
                                                               {"promotion campaign", "list"},
                                                               {"promotion voucher", "generate"},
                                                               {"promotion voucher", "issue"},
                                                               {"promotion", "create"},
                                                               {"promotion", "show"},
                                                               {"promotion", "announce"},
                                                               {"promotion", "reschedule"},
                                                               {"promotion", "cancel"},
                                                               {"promotion", "report"},
                                                               {"promotion", "quote"},
                                                               {"promotion", "redeem"},
                                                               {"promotion", "cancel-redemption"},
                                                               {"promotion", "redemption"}};
  for (const auto& [group, name] : commands) {
    std::string full = group.empty() ? name : absl::StrCat(group, " ", name);
    EXPECT_OUT(all, absl::StrCat("carectl ", full, " "));
    std::vector<std::string> args = absl::StrSplit(full, ' ');
    args.push_back("--help");
    Result one = Run(args);
    EXPECT_EQ(one.code, 0) << full << "\n" << one;
    EXPECT_OUT(one, "usage: carectl " + full);
  }
  EXPECT_OUT(all, "exit codes: 0 ok, 1");
  Result group = Run({"loyalty", "--help"});
  EXPECT_EQ(group.code, 0) << group;
  EXPECT_OUT(group, "carectl loyalty ledger");
  EXPECT_FALSE(absl::StrContains(group.out, "carectl notification inbox")) << group;

  Result none = Run({});
  EXPECT_EQ(none.code, 2) << none;
  EXPECT_ERR(none, "no command given");
  Result unknown = Run({"loyalty", "frobnicate"});
  EXPECT_EQ(unknown.code, 2) << unknown;
  EXPECT_ERR(unknown, "unknown command \"loyalty frobnicate\"");
  Result timeout = Run({"--timeout=soon", "ping"});
  EXPECT_EQ(timeout.code, 2) << timeout;
  EXPECT_ERR(timeout, "--timeout \"soon\" is not a duration");
}

TEST_F(CarectlTest, PingChecksTargetAndToken) {
  Result ok = Run({"--target=" + service_->address(), "--token=" + svc(), "ping", "hello"});
  ASSERT_EQ(ok.code, 0) << ok;
  EXPECT_OUT(ok, "PAYLOAD  hello");
  Result json = Run({"--target=" + service_->address(), "--token=" + svc(), "--json", "ping", "hi"});
  ASSERT_EQ(json.code, 0) << json;
  EXPECT_OUT(json, "\"payload\": \"hi\"");
  Result no_token = Run({"--target=" + service_->address(), "ping"});
  EXPECT_EQ(no_token.code, 1) << no_token;
  EXPECT_ERR(no_token, "error: UNAUTHENTICATED");
  // Nothing listens there: the call fails, it is not a usage error.
  Result down = Run({"--target=127.0.0.1:" + std::to_string(FreePort()), "--token=" + svc(), "--timeout=2s", "ping"});
  EXPECT_EQ(down.code, 1) << down;
  EXPECT_ERR(down, "error: ");
}

TEST_F(CarectlTest, LoyaltyCommandsShowTablesJsonAndErrors) {
  Result enrol = Loyalty({"enrol", "ann", "--name=Ann Lee", "--email=ann@example.com", "--request_id=enrol-ann"});
  ASSERT_EQ(enrol.code, 0) << enrol;
  EXPECT_OUT(enrol, "MEMBER          ann");
  EXPECT_OUT(enrol, "Member (member), QUALIFIED");
  // A retry with the same request id returns the first answer.
  Result again = Loyalty({"enrol", "ann", "--name=Ann Lee", "--email=ann@example.com", "--request_id=enrol-ann"});
  EXPECT_EQ(again.code, 0) << again;

  Result member = Loyalty({"get-member", "ann"});
  ASSERT_EQ(member.code, 0) << member;
  EXPECT_OUT(member, "ann@example.com");
  Result json = Run({"--json", "--target=" + service_->address(), "--token=" + svc(), "loyalty", "get-member", "ann"});
  ASSERT_EQ(json.code, 0) << json;
  EXPECT_OUT(json, "\"member_id\": \"ann\"");
  EXPECT_OUT(json, "\"name\": \"Ann Lee\"");

  Result purchase = Loyalty({"purchase", "ann", "o-1", "1000.00"});
  ASSERT_EQ(purchase.code, 0) << purchase;
  EXPECT_OUT(purchase, "EARNED   1000");
  EXPECT_OUT(purchase, "Silver (silver), was member");

  Result tier = Loyalty({"tier", "ann"});
  ASSERT_EQ(tier.code, 0) << tier;
  EXPECT_OUT(tier, "Silver (silver)");
  EXPECT_OUT(tier, "x1.25");

  Result redeem = Loyalty({"redeem", "ann", "100", "--description=coffee"});
  ASSERT_EQ(redeem.code, 0) << redeem;
  EXPECT_OUT(redeem, "POINTS   -100");
  EXPECT_OUT(redeem, "BALANCE  900");

  // Points by hand are a supervisor's (a backend's `service` token cannot mint them).
  Result adjust = Loyalty({"adjust", "ann", "25", "--reason_code=GOODWILL", "--note=late parcel"}, tokens_.supervisor);
  ASSERT_EQ(adjust.code, 0) << adjust;
  EXPECT_OUT(adjust, "BALANCE  925");

  Result partial = Loyalty({"return", "ann", "o-1", "r-1", "200.00", "--reason=damaged"});
  ASSERT_EQ(partial.code, 0) << partial;
  EXPECT_OUT(partial, "RETURNED         200.00 USD");
  EXPECT_OUT(partial, "POINTS REVERSED  200");

  Result balance = Loyalty({"balance", "ann"});
  ASSERT_EQ(balance.code, 0) << balance;
  EXPECT_OUT(balance, "BALANCE        725");
  EXPECT_OUT(balance, "REDEEMED       100");

  Result ledger = Loyalty({"ledger", "ann"});
  ASSERT_EQ(ledger.code, 0) << ledger;
  EXPECT_OUT(ledger, "SEQ  KIND");
  for (const char* kind : {"EARN", "REDEEM", "ADJUST", "REVERSE"}) EXPECT_OUT(ledger, kind);
  Result page = Loyalty({"ledger", "ann", "--page_size=1"});
  ASSERT_EQ(page.code, 0) << page;
  EXPECT_OUT(page, "more: --page-token=");
  // Without an amount a return is the full remainder of the order.
  Result full = Loyalty({"return", "ann", "o-1", "r-2"});
  ASSERT_EQ(full.code, 0) << full;
  EXPECT_OUT(full, "RETURNED         800.00 USD");

  // Errors from the service: exit 1, the code and the reason on stderr.
  Result missing = Loyalty({"get-member", "nobody"});
  EXPECT_EQ(missing.code, 1) << missing;
  EXPECT_ERR(missing, "error: NOT_FOUND");
  EXPECT_ERR(missing, "reason: MEMBER_NOT_FOUND");
  EXPECT_TRUE(missing.out.empty()) << missing;
  Result too_much = Loyalty({"redeem", "ann", "100000"});
  EXPECT_EQ(too_much.code, 1) << too_much;
  EXPECT_ERR(too_much, "error: FAILED_PRECONDITION");
  EXPECT_ERR(too_much, "reason: INSUFFICIENT_POINTS");
  Result bad_field = Loyalty({"enrol", "bad id!", "--name=X"});
  EXPECT_EQ(bad_field.code, 1) << bad_field;
  EXPECT_ERR(bad_field, "error: INVALID_ARGUMENT");
  EXPECT_ERR(bad_field, "field member.member_id");
  Result no_tier = Loyalty({"tier", "nobody"});
  EXPECT_EQ(no_tier.code, 1) << no_tier;
  EXPECT_ERR(no_tier, "error: NOT_FOUND");
}

TEST_F(CarectlTest, LoyaltyAnalyticsShowsTheFiguresOfEachDayOrMonth) {
  ASSERT_EQ(Loyalty({"enrol", "ann", "--name=Ann Lee"}).code, 0);
  ASSERT_EQ(Loyalty({"purchase", "ann", "o-1", "1000.00"}).code, 0);  // 1000 points, silver
  Result days = Loyalty({"analytics", "2031-01-14", "2031-01-15"}, admin());
  ASSERT_EQ(days.code, 0) << days;
  EXPECT_OUT(days, "PERIOD");
  EXPECT_OUT(days, "2031-01-14");
  EXPECT_OUT(days, "2031-01-15");
  EXPECT_OUT(days, "100.00%");  // ann, the one member, bought
  EXPECT_OUT(days, "1000");
  Result months = Loyalty({"analytics", "2031-01-14", "2031-01-15", "--by=month"}, admin());
  ASSERT_EQ(months.code, 0) << months;
  EXPECT_OUT(months, "2031-01 ");
  EXPECT_FALSE(absl::StrContains(months.out, "2031-01-15")) << months;
  Result json = Run({"--json", "--target=" + service_->address(), "--token=" + admin(), "loyalty", "analytics",
                     "2031-01-15", "2031-01-15"});
  ASSERT_EQ(json.code, 0) << json;
  EXPECT_OUT(json, "\"outstanding_points\": \"1000\"");
  // Admins only; a bad date is a usage error.
  Result denied = Loyalty({"analytics", "2031-01-15", "2031-01-15"});
  EXPECT_EQ(denied.code, 1) << denied;
  EXPECT_ERR(denied, "reason: MISSING_ROLE");
  EXPECT_EQ(Loyalty({"analytics", "15/01/2031", "2031-01-15"}, admin()).code, 2);
}

TEST_F(CarectlTest, PrivacyEraseStatusAndExport) {
  Enrol("pia", [](lv1::Member* m) { m->set_name("Pia Privacy"); });
  auto privacy = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--target=" + service_->address(), "--token=" + admin(), "privacy"});
    return Run(args);
  };
  Result missing = privacy({"erase", "--member-id=pia"});
  EXPECT_EQ(missing.code, 2) << missing;
  EXPECT_ERR(missing, "--reason is required");
  Result erase = privacy({"erase", "--member-id=pia", "--reason=DSR-9", "--request-id=erase-pia"});
  ASSERT_EQ(erase.code, 0) << erase;
  EXPECT_OUT(erase, "REQUESTED BY  admin:test");
  EXPECT_OUT(erase, "loyalty       DONE");
  EXPECT_OUT(erase, "promotion     PENDING  0/1") << "no request confirmed of one sent";
  Result json = Run({"-o", "json", "--target=" + service_->address(), "--token=" + admin(), "privacy", "erase",
                     "--member-id=pia", "--reason=DSR-9", "--request-id=erase-pia"});
  ASSERT_EQ(json.code, 0) << json;
  std::smatch id;
  ASSERT_TRUE(std::regex_search(json.out, id, std::regex("\"erasure_id\": \"([^\"]+)\""))) << json;
  EXPECT_OUT(erase, id[1].str()) << "a retry is the same erasure";
  Result status = privacy({"status", id[1].str()});
  ASSERT_EQ(status.code, 0) << status;
  EXPECT_OUT(status, "COMPLETE      no");
  Result unknown = privacy({"status", "er-none"});
  EXPECT_EQ(unknown.code, 1) << unknown;
  EXPECT_ERR(unknown, "ERASURE_NOT_FOUND");

  // The archive gathers every service: one that does not answer fails the export.
  Enrol("quinn", [](lv1::Member* m) { m->set_name("Quinn Export"); });
  setenv("CARE_PROMOTION_TARGET", absl::StrCat("127.0.0.1:", FreePort()).c_str(), 1);
  Result partial = privacy({"export", "--member-id=quinn", "--reason=DSR-10", "--archive=" + dir_.path() + "/a.json",
                            "--timeout=2s"});
  unsetenv("CARE_PROMOTION_TARGET");
  EXPECT_EQ(partial.code, 1) << partial;
  EXPECT_ERR(partial, "the promotion export failed");
}

TEST_F(CarectlTest, BadArgumentsPrintAUsefulMessageAndExit2) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  std::vector<Case> cases = {
      {{"get-member"}, "missing <member_id>"},
      {{"get-member", "ann", "extra"}, "not expected: extra"},
      {{"get-member", "ann", "--bogus=1"}, "not expected: --bogus=1"},
      {{"enrol", "ann"}, "--name is required"},
      {{"purchase", "ann", "o-1", "12.345"}, "amount \"12.345\" is not a USD amount like 125.50"},
      {{"purchase", "ann", "o-1", "10", "--time=yesterday"}, "--time \"yesterday\" is not an RFC 3339 time"},
      {{"redeem", "ann", "lots"}, "<points> must be an integer, not \"lots\""},
      {{"adjust", "ann", "5"}, "--reason-code is required"},
      {{"ledger", "ann", "--page_size=many"}, "--page-size must be an integer"},
      {{"ledger", "ann", "--page-size"}, "--page-size"},
  };
  for (const auto& c : cases) {
    Result r = Loyalty(c.args);
    EXPECT_EQ(r.code, 2) << r;
    EXPECT_ERR(r, c.message);
    EXPECT_ERR(r, "usage: carectl loyalty " + c.args[0]);
  }
  Result channel = Notification({"consent", "ann", "fax", "grant"});
  EXPECT_EQ(channel.code, 2) << channel;
  EXPECT_ERR(channel, "<channel> \"fax\" is not one of: in_app, webhook, email");
  Result decision = Notification({"consent", "ann", "email", "maybe"});
  EXPECT_EQ(decision.code, 2) << decision;
  EXPECT_ERR(decision, "\"maybe\" is neither grant nor withdraw");
  Result which = Notification({"schedule"});
  EXPECT_EQ(which.code, 2) << which;
  EXPECT_ERR(which, "give a <schedule_id> or --campaign=ID");
  Result state = Notification({"schedules", "--state=sleeping"});
  EXPECT_EQ(state.code, 2) << state;
  EXPECT_ERR(state, "scheduled, running, completed, cancelled");
}

TEST_F(CarectlTest, NotificationCommandsFollowAnAlertToTheInbox) {
  Enrol("vip-1", [](lv1::Member* m) {
    m->set_segment("vip");
    auto* c = m->add_marketing_consents();
    c->set_channel(MESSAGE_CHANNEL_IN_APP);
    c->set_granted(true);
  });
  Result empty = Notification({"inbox", "vip-1"});
  ASSERT_EQ(empty.code, 0) << empty;
  EXPECT_OUT(empty, "(inbox empty)");
  Result no_schedules = Notification({"schedules"});
  ASSERT_EQ(no_schedules.code, 0) << no_schedules;
  EXPECT_OUT(no_schedules, "(no schedules)");

  // A promotion alert due in 48 h (as the promotion service's outbox sends it).
  nv1::IngestEventRequest alert = SpringAlertDueIn48Hours();
  nv1::IngestEventResponse ingested;
  grpc::Status s = nstub_->IngestEvent(Ctx(PeerFor(alert)).get(), alert, &ingested);
  ASSERT_TRUE(s.ok()) << Describe(s);

  Result schedules = Notification({"schedules", "--state=scheduled"});
  ASSERT_EQ(schedules.code, 0) << schedules;
  EXPECT_OUT(schedules, ingested.schedule_id());
  EXPECT_OUT(schedules, "PROMOTION_ALERT");
  EXPECT_OUT(schedules, "SCHEDULED");
  Result by_campaign = Notification({"schedule", "--campaign=spring"});
  ASSERT_EQ(by_campaign.code, 0) << by_campaign;
  EXPECT_OUT(by_campaign, "MESSAGE KEY  promotion-alert/spring");
  EXPECT_OUT(by_campaign, "CHANNELS     IN_APP");
  Result by_id = Notification({"schedule", ingested.schedule_id()});
  ASSERT_EQ(by_id.code, 0) << by_id;
  EXPECT_OUT(by_id, "spring v1");
  Result unknown = Notification({"schedule", "no-such-schedule"});
  EXPECT_EQ(unknown.code, 1) << unknown;
  EXPECT_ERR(unknown, "error: NOT_FOUND");

  // A day on, the fan-out has planned each member's delivery (for no later
  // than due); a day more, it is sent.
  MoveNotificationClock({}, absl::Hours(24));
  ASSERT_TRUE(Eventually([&] {
    Result r = Notification({"deliveries", "--campaign=spring"});
    return r.code == 0 && absl::StrContains(r.out, "vip-1");
  })) << notification_service_->log();
  MoveNotificationClock({}, absl::Hours(25));
  ASSERT_TRUE(Eventually([&] {
    Result r = Notification({"deliveries", "--campaign=spring", "--status=sent"});
    return r.code == 0 && absl::StrContains(r.out, "vip-1");
  })) << notification_service_->log();
  Result deliveries = Notification({"deliveries", "--member=vip-1", "--channel=in_app"});
  ASSERT_EQ(deliveries.code, 0) << deliveries;
  EXPECT_OUT(deliveries, "promotion-alert/spring");
  EXPECT_OUT(deliveries, "SENT");
  Result json = Run({"--json", "--target=" + notification_service_->address(), "--token=" + admin(), "notification",
                     "deliveries", "--member=vip-1"});
  ASSERT_EQ(json.code, 0) << json;
  EXPECT_OUT(json, "\"status\": \"DELIVERY_STATUS_SENT\"");

  Result inbox = Notification({"inbox", "vip-1"});
  ASSERT_EQ(inbox.code, 0) << inbox;
  EXPECT_OUT(inbox, "Spring sale");
  EXPECT_OUT(inbox, "unread: 1");

  // The member then redeems the campaign (as promotion's outbox tells it):
  // one of one member alerted in the app converted.
  nv1::IngestEventRequest redeemed;
  redeemed.set_event_id("promotion:redeemed:carectl-1");
  redeemed.set_source("promotion");
  *redeemed.mutable_occurred_at() = ToTimestamp(Base());
  redeemed.mutable_campaign_redeemed()->set_member_id("vip-1");
  redeemed.mutable_campaign_redeemed()->set_campaign_id("spring");
  redeemed.mutable_campaign_redeemed()->set_order_id("order-1");
  *redeemed.mutable_campaign_redeemed()->mutable_redeem_time() = ToTimestamp(Base() + absl::Hours(49));
  s = nstub_->IngestEvent(Ctx(PeerFor(redeemed)).get(), redeemed, &ingested);
  ASSERT_TRUE(s.ok()) << Describe(s);
  Result stats = Notification({"campaign-stats", "spring"});
  ASSERT_EQ(stats.code, 0) << stats;
  EXPECT_OUT(stats, "SENT");
  EXPECT_OUT(stats, "CHANNEL  ALERTED  CONVERTED  RATE");
  EXPECT_OUT(stats, "IN_APP   1        1          100.0%");

  Result withdraw = Notification({"consent", "vip-1", "in_app", "withdraw", "--evidence=phone call"});
  ASSERT_EQ(withdraw.code, 0) << withdraw;
  EXPECT_OUT(withdraw, "GRANTED    no");
  EXPECT_OUT(withdraw, "CHANNEL    IN_APP");
  Result grant = Notification({"consent", "vip-1", "EMAIL", "grant"});
  ASSERT_EQ(grant.code, 0) << grant;
  EXPECT_OUT(grant, "GRANTED    yes");
  Result bad_member = Notification({"consent", "bad id!", "email", "grant"});
  EXPECT_EQ(bad_member.code, 1) << bad_member;
  EXPECT_ERR(bad_member, "error: INVALID_ARGUMENT");
}

TEST_F(CarectlTest, NotificationChannelsAreConfiguredWithoutShowingSecretsAndDeadLettersReplayed) {
  Result before = Notification({"settings"});
  ASSERT_EQ(before.code, 0) << before;
  EXPECT_OUT(before, "WEBHOOK         not configured");
  EXPECT_OUT(before, "SEND WINDOW     08:00-21:00");

  const std::string secret = "s3cret-" + std::string(40, 'k');
  const std::string secret_file = dir_.path() + "/webhook_secret";
  {
    std::ofstream out(secret_file);
    out << secret << "\n";
  }
  Result hook = Notification({"set-webhook", "http://127.0.0.1:9/sms", "--secret_file=" + secret_file,
                              "--max_in_flight=16"});
  ASSERT_EQ(hook.code, 0) << hook;
  EXPECT_OUT(hook, "WEBHOOK         http://127.0.0.1:9/sms");
  EXPECT_OUT(hook, "WEBHOOK SECRET  set");
  Result json = Notification({"settings", "--json"});
  ASSERT_EQ(json.code, 0) << json;
  EXPECT_EQ(json.out.find("s3cret"), std::string::npos) << "the secret is never returned";
  nv1::Settings stored;
  ASSERT_TRUE(nstub_->GetSettings(Ctx(admin()).get(), nv1::GetSettingsRequest(), &stored).ok());
  EXPECT_EQ(stored.webhook().max_in_flight(), 16);
  EXPECT_TRUE(stored.webhook().signing_secret_set());

  Result mail = Notification({"set-email", "smtp://127.0.0.1:2525", "--from=care@example.com", "--from_name=Care",
                              "--unsubscribe-url", "https://shop.example/unsubscribe"});
  ASSERT_EQ(mail.code, 0) << mail;
  EXPECT_OUT(mail, "EMAIL           smtp://127.0.0.1:2525 from care@example.com");
  EXPECT_OUT(mail, "UNSUBSCRIBE     https://shop.example/unsubscribe");
  EXPECT_OUT(mail, "WEBHOOK SECRET  set");  // untouched by an email change

  Result missing = Notification({"set-webhook", "http://x", "--secret_file=" + dir_.path() + "/nope"});
  EXPECT_EQ(missing.code, 2) << missing;
  EXPECT_ERR(missing, "--secret-file: cannot read");

  Result none = Notification({"replay", "--campaign=spring"});
  ASSERT_EQ(none.code, 0) << none;
  EXPECT_OUT(none, "REPLAYED   0");
  Result unfiltered = Notification({"replay"});
  EXPECT_EQ(unfiltered.code, 1) << unfiltered;
  EXPECT_ERR(unfiltered, "error: INVALID_ARGUMENT");
}

// A receiver that answers 503 until it is fixed: the alert's webhook
// delivery ends DEAD_LETTER, `dead-letter list` shows it with its last error,
// and once the receiver is back `dead-letter replay` delivers it, once.
TEST_F(CarectlTest, DeadLettersAreListedWithTheirErrorAndReplayedOnceTheCauseIsFixed) {
  std::atomic<bool> fixed{false};
  WebhookReceiver receiver([&](int) { return fixed ? 200 : 503; });
  const std::string secret_file = dir_.path() + "/dead_letter_secret";
  std::ofstream(secret_file) << std::string(40, 's') << "\n";
  Result hook = Notification({"set-webhook", absl::StrCat("http://127.0.0.1:", receiver.port(), "/hook"),
                              "--secret-file", secret_file});
  ASSERT_EQ(hook.code, 0) << hook;
  nv1::UpdateSettingsRequest retry;
  retry.set_request_id("dead-letter-retry");
  retry.mutable_settings()->mutable_retry_policy()->set_max_attempts(2);
  *retry.mutable_settings()->mutable_retry_policy()->mutable_initial_backoff() = ToDurationProto(absl::Seconds(10));
  *retry.mutable_settings()->mutable_retry_policy()->mutable_max_backoff() = ToDurationProto(absl::Minutes(1));
  retry.mutable_settings()->mutable_retry_policy()->set_multiplier(2.0);
  retry.mutable_update_mask()->add_paths("retry_policy");
  nv1::Settings settings;
  ASSERT_TRUE(nstub_->UpdateSettings(Ctx(admin()).get(), retry, &settings).ok());
  Enrol("hook-1", [](lv1::Member* m) {
    m->set_segment("vip");
    m->set_phone("+84901234567");
    auto* c = m->add_marketing_consents();
    c->set_channel(MESSAGE_CHANNEL_WEBHOOK);
    c->set_granted(true);
  });
  nv1::IngestEventRequest alert = SpringAlertDueIn48Hours();
  alert.mutable_promotion_alert()->clear_channels();
  alert.mutable_promotion_alert()->add_channels(MESSAGE_CHANNEL_WEBHOOK);
  nv1::IngestEventResponse ingested;
  grpc::Status s = nstub_->IngestEvent(Ctx(PeerFor(alert)).get(), alert, &ingested);
  ASSERT_TRUE(s.ok()) << Describe(s);
  MoveNotificationClock({}, absl::Hours(24));
  ASSERT_TRUE(Eventually([&] {
    Result r = Notification({"deliveries", "--campaign=spring"});
    return r.code == 0 && absl::StrContains(r.out, "hook-1");
  })) << notification_service_->log();
  MoveNotificationClock({}, absl::Hours(25));
  // Past each backoff until the attempts are spent.
  Result dead;
  for (int i = 0; i < 20; ++i) {
    dead = Notification({"dead-letter", "list"});
    if (absl::StrContains(dead.out, "hook-1")) break;
    MoveNotificationClock({}, absl::Minutes(1));
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_EQ(dead.code, 0) << dead;
  EXPECT_OUT(dead, "hook-1");
  EXPECT_OUT(dead, "503");
  EXPECT_EQ(receiver.requests().size(), 2u);

  fixed = true;
  Result replay = Notification({"dead-letter", "replay", "--campaign", "spring"});
  ASSERT_EQ(replay.code, 0) << replay;
  EXPECT_OUT(replay, "REPLAYED   1");
  ASSERT_TRUE(Eventually([&] {
    Result r = Notification({"deliveries", "--campaign=spring", "--status=sent"});
    return r.code == 0 && absl::StrContains(r.out, "hook-1");
  })) << notification_service_->log();
  EXPECT_EQ(receiver.requests().size(), 3u);
  Result after = Notification({"dead-letter", "list"});
  ASSERT_EQ(after.code, 0) << after;
  EXPECT_OUT(after, "(no deliveries)");
}

// kubectl/gh conventions: `--flag value` and `--flag=value`, global flags
// before or after the command, -o json|yaml|table with zero values shown,
// `carectl version`, and a short usage (not the whole manual) on a usage error.
TEST_F(CarectlTest, FlagsGoAnywhereOutputIsJsonYamlOrTableAndUsageErrorsAreShort) {
  Result spaced = Run({"ping", "hi", "--target", service_->address(), "--token", svc()});
  ASSERT_EQ(spaced.code, 0) << spaced;
  EXPECT_OUT(spaced, "PAYLOAD  hi");

  Enrol("zed");  // no points, no spend, no visits: zero values
  Result yaml = Loyalty({"get-member", "zed", "-o", "yaml"});
  ASSERT_EQ(yaml.code, 0) << yaml;
  YAML::Node doc = YAML::Load(yaml.out);
  EXPECT_EQ(doc["member_id"].as<std::string>(), "zed") << yaml;
  EXPECT_EQ(doc["points_balance"].as<std::string>(), "0") << yaml;
  EXPECT_EQ(doc["visit_count"].as<int>(), 0) << yaml;
  EXPECT_EQ(doc["lifetime_spend"]["currency_code"].as<std::string>(), "USD") << yaml;
  Result json = Loyalty({"get-member", "zed", "--output=json"});
  ASSERT_EQ(json.code, 0) << json;
  EXPECT_OUT(json, "\"points_balance\": \"0\"");
  EXPECT_OUT(json, "\"visit_count\": 0");
  lv1::Member parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &parsed).ok()) << json;
  EXPECT_EQ(parsed.member_id(), "zed");
  Result xml = Loyalty({"get-member", "zed", "-o", "xml"});
  EXPECT_EQ(xml.code, 2) << xml;
  EXPECT_ERR(xml, "xml");

  Result version = Run({"version"});
  ASSERT_EQ(version.code, 0) << version;
  EXPECT_TRUE(std::regex_search(version.out, std::regex("^carectl \\S+ \\(commit [0-9a-f]{7,}"))) << version;
  Result version_json = Run({"version", "-o", "json"});
  ASSERT_EQ(version_json.code, 0) << version_json;
  EXPECT_OUT(version_json, "\"commit\": \"");

  // A usage error: what was wrong and the command's usage line, not every command.
  Result missing = Loyalty({"get-member"});
  EXPECT_EQ(missing.code, 2) << missing;
  EXPECT_ERR(missing, "missing <member_id>");
  EXPECT_ERR(missing, "usage: carectl loyalty get-member <member_id>");
  EXPECT_FALSE(absl::StrContains(missing.err, "carectl loyalty enrol")) << missing;
  Result unknown = Run({"loyalty", "frobnicate"});
  EXPECT_EQ(unknown.code, 2) << unknown;
  EXPECT_ERR(unknown, "unknown command \"loyalty frobnicate\"");
  EXPECT_ERR(unknown, "enrol, get-member");
  EXPECT_FALSE(absl::StrContains(unknown.err, "--tls-server-name")) << unknown;
}

// An explicit flag beats the environment: --token over CARE_TOKEN_FILE (it
// used to be the other way round), --token-file over CARE_TOKEN, --target over
// CARE_TARGET; the environment still serves when no flag is given.
TEST_F(CarectlTest, AnExplicitFlagBeatsTheEnvironment) {
  const std::string bad = dir_.path() + "/bad_token", good = dir_.path() + "/good_token";
  std::ofstream(bad) << "not-a-token\n";
  std::ofstream(good) << svc() << "\n";
  const std::string target = "--target=" + service_->address();

  ::setenv("CARE_TOKEN_FILE", bad.c_str(), 1);
  Result env_only = Run({target, "ping"});
  EXPECT_EQ(env_only.code, 1) << env_only;
  EXPECT_ERR(env_only, "UNAUTHENTICATED");
  Result token_flag = Run({target, "--token", svc(), "ping"});
  EXPECT_EQ(token_flag.code, 0) << token_flag;
  Result file_flag = Run({target, "--token-file", good, "ping"});
  EXPECT_EQ(file_flag.code, 0) << file_flag;
  ::setenv("CARE_TOKEN_FILE", good.c_str(), 1);
  Result env_good = Run({target, "ping"});
  EXPECT_EQ(env_good.code, 0) << env_good;
  ::unsetenv("CARE_TOKEN_FILE");

  ::setenv("CARE_TOKEN", "not-a-token", 1);
  Result over_token = Run({target, "--token_file=" + good, "ping"});
  EXPECT_EQ(over_token.code, 0) << over_token;
  ::unsetenv("CARE_TOKEN");

  ::setenv("CARE_TARGET", "127.0.0.1:1", 1);
  Result over_target = Run({target, "--token=" + svc(), "ping"});
  EXPECT_EQ(over_target.code, 0) << over_target;
  ::unsetenv("CARE_TARGET");

  Result both = Run({target, "--token=" + svc(), "--token-file=" + good, "ping"});
  EXPECT_EQ(both.code, 2) << both;
  EXPECT_ERR(both, "not both");
}

// carectl loyalty program get|set|versions and member list.
TEST_F(CarectlTest, LoyaltyProgramIsReadEditedAndSetAndMembersListed) {
  Result got = Loyalty({"program", "get"});
  ASSERT_EQ(got.code, 0) << got;
  EXPECT_TRUE(std::regex_search(got.out, std::regex("CURRENCY +USD"))) << got;
  Result json = Loyalty({"program", "get", "-o", "json"});
  ASSERT_EQ(json.code, 0) << json;
  lv1::Program program;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &program).ok()) << json;
  const int64_t before = program.version();
  ASSERT_GT(before, 0);

  // The operator's round trip: get -o json, edit, set --file.
  program.set_display_name("Care Rewards Plus");
  std::string text;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(program, &text).ok());
  const std::string file = dir_.path() + "/program.json";
  std::ofstream(file) << text;
  Result set = Loyalty({"program", "set", "--file", file, "--note", "rename"}, admin());
  ASSERT_EQ(set.code, 0) << set;
  EXPECT_OUT(set, "Care Rewards Plus");
  lv1::Program stored;
  ASSERT_TRUE(stub().GetProgram(Ctx(svc()).get(), lv1::GetProgramRequest(), &stored).ok());
  EXPECT_EQ(stored.display_name(), "Care Rewards Plus");
  EXPECT_EQ(stored.version(), before + 1);
  EXPECT_EQ(stored.change_note(), "rename");
  // The same file again names a version no longer in force.
  Result stale = Loyalty({"program", "set", "--file=" + file}, admin());
  EXPECT_EQ(stale.code, 1) << stale;
  EXPECT_ERR(stale, "error: ABORTED");

  // --only takes just those fields of the file.
  program.set_version(before + 1);
  program.set_display_name("Care Rewards");
  program.set_time_zone("Asia/Tokyo");
  text.clear();  // MessageToJsonString appends
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(program, &text).ok());
  std::ofstream(file) << text;
  Result only = Loyalty({"program", "set", "--file", file, "--only", "display_name"}, admin());
  ASSERT_EQ(only.code, 0) << only;
  ASSERT_TRUE(stub().GetProgram(Ctx(svc()).get(), lv1::GetProgramRequest(), &stored).ok());
  EXPECT_EQ(stored.display_name(), "Care Rewards");
  EXPECT_NE(stored.time_zone(), "Asia/Tokyo");

  // Care cadence rules (issue 22) are set like any field and shown as a table.
  program.set_version(before + 2);
  lv1::CadenceRule* rule = program.add_cadence_rules();
  rule->set_rule_id("we-miss-you");
  rule->set_display_name("We miss you");
  rule->mutable_no_purchase_for()->set_seconds(60 * 86400);
  rule->mutable_period()->set_seconds(90 * 86400);
  text.clear();
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(program, &text).ok());
  std::ofstream(file) << text;
  Result rules = Loyalty({"program", "set", "--file", file, "--only", "cadence_rules"}, admin());
  ASSERT_EQ(rules.code, 0) << rules;
  Result shown = Loyalty({"program", "get"});
  ASSERT_EQ(shown.code, 0) << shown;
  EXPECT_TRUE(std::regex_search(shown.out, std::regex("we-miss-you +We miss you +no purchase for 60d, at most every "
                                                      "90d +everyone")))
      << shown;

  Result versions = Loyalty({"program", "versions"}, admin());
  ASSERT_EQ(versions.code, 0) << versions;
  EXPECT_OUT(versions, "rename");
  Result no_file = Loyalty({"program", "set"}, admin());
  EXPECT_EQ(no_file.code, 2) << no_file;
  EXPECT_ERR(no_file, "--file is required");
  std::ofstream(dir_.path() + "/bogus.json") << "{\"bogus\": 1}";
  Result bogus = Loyalty({"program", "set", "--file", dir_.path() + "/bogus.json"}, admin());
  EXPECT_EQ(bogus.code, 2) << bogus;
  EXPECT_ERR(bogus, "is not a Program");

  Enrol("vip-1", [](lv1::Member* m) { m->set_segment("vip"); });
  Enrol("reg-1");
  Result vips = Loyalty({"member", "list", "--segment", "vip"}, admin());
  ASSERT_EQ(vips.code, 0) << vips;
  EXPECT_OUT(vips, "vip-1");
  EXPECT_FALSE(absl::StrContains(vips.out, "reg-1")) << vips;
  Result all = Loyalty({"member", "list", "-o", "json"}, admin());
  ASSERT_EQ(all.code, 0) << all;
  lv1::ListMembersResponse listed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(all.out, &listed).ok()) << all;
  EXPECT_EQ(listed.members_size(), 2);
}

// carectl notification template put|list|get|delete and dead-letter list.
TEST_F(CarectlTest, NotificationTemplatesArePutShownAndDeletedAndDeadLettersListed) {
  const std::string file = dir_.path() + "/template.json";
  std::ofstream(file) << R"({"kind": "MESSAGE_KIND_TRANSACTIONAL", "template_key": "order.shipped",
    "channel": "MESSAGE_CHANNEL_EMAIL", "locale": "en", "subject": "Order {{order_id}} shipped",
    "body": "Your order {{order_id}} is on its way.",
    "variables": [{"name": "order_id", "type": "VARIABLE_TYPE_STRING", "required": true}]})";
  Result put = Notification({"template", "put", "--file", file});
  ASSERT_EQ(put.code, 0) << put;
  EXPECT_OUT(put, "order.shipped");
  nv1::GetTemplateRequest get;
  get.mutable_key()->set_kind(nv1::MESSAGE_KIND_TRANSACTIONAL);
  get.mutable_key()->set_template_key("order.shipped");
  get.mutable_key()->set_channel(care::common::v1::MESSAGE_CHANNEL_EMAIL);
  get.mutable_key()->set_locale("en");
  nv1::Template stored;
  ASSERT_TRUE(nstub_->GetTemplate(Ctx(admin()).get(), get, &stored).ok());
  EXPECT_EQ(stored.subject(), "Order {{order_id}} shipped");

  Result listed = Notification({"template", "list", "--kind", "transactional"});
  ASSERT_EQ(listed.code, 0) << listed;
  EXPECT_OUT(listed, "order.shipped");
  Result shown = Notification({"template", "get", "transactional", "email", "en", "--key", "order.shipped"});
  ASSERT_EQ(shown.code, 0) << shown;
  EXPECT_OUT(shown, "Your order {{order_id}} is on its way.");
  Result deleted = Notification({"template", "delete", "transactional", "email", "en", "--key=order.shipped"});
  ASSERT_EQ(deleted.code, 0) << deleted;
  EXPECT_OUT(deleted, "deleted template TRANSACTIONAL EMAIL en");
  grpc::Status gone = nstub_->GetTemplate(Ctx(admin()).get(), get, &stored);
  EXPECT_EQ(gone.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(gone);
  Result bad_kind = Notification({"template", "get", "memo", "email", "en"});
  EXPECT_EQ(bad_kind.code, 2) << bad_kind;

  Result dead = Notification({"dead-letter", "list"});
  ASSERT_EQ(dead.code, 0) << dead;
  EXPECT_OUT(dead, "(no deliveries)");
  Result replay = Notification({"dead-letter", "replay", "--campaign", "spring"});
  ASSERT_EQ(replay.code, 0) << replay;
  EXPECT_OUT(replay, "REPLAYED   0");
}

}  // namespace
}  // namespace care::testing

namespace care::testing {
namespace {

// carectl complaint ... against a real care_complaint (tier from care_loyalty).
namespace cv1 = ::care::complaint::v1;

class CarectlComplaintTest : public CarectlTest {
 protected:
  void SetUp() override {
    CarectlTest::SetUp();
    if (HasFatalFailure()) return;
    std::vector<std::string> args{"--fake_clock",
                                  "--redis_port=" + std::to_string(redis_.port()),
                                  "--loyalty_target=" + service_->address(),
                                  "--service_token_file=" + dir_.path() + "/complaint_token",
                                  "--job_interval=50ms",
                                  "--outbox_interval=50ms",
                                  "--log_level=warn"};
    complaint_ = std::make_unique<ServiceProcess>(CARE_COMPLAINT_BIN, "care.complaint.v1.ComplaintService", args,
                                                  tokens_);
    absl::Status started = complaint_->Start();
    ASSERT_TRUE(started.ok()) << started;
  }
  Result Complaint(std::vector<std::string> args, const std::string& token = "") {
    args.insert(args.begin(),
                {"--target=" + complaint_->address(), "--token=" + (token.empty() ? admin() : token), "complaint"});
    return Run(args);
  }
  std::unique_ptr<ServiceProcess> complaint_;
};

TEST_F(CarectlComplaintTest, FileShowReplyResolveApproveAndMetrics) {
  Enrol("m1");
  Result filed = Complaint({"--json", "file", "m1", "--description=Broken parcel", "--channel=chat",
                            "--category=delivery", "--order=o-1", "--request_id=file-1"});
  ASSERT_EQ(filed.code, 0) << filed;
  EXPECT_OUT(filed, "\"complaint_id\"");
  std::string id = filed.out.substr(filed.out.find("c-"), 18);

  Result shown = Complaint({"show", id});
  ASSERT_EQ(shown.code, 0) << shown;
  EXPECT_OUT(shown, "STATUS");
  EXPECT_OUT(shown, "NEW");
  EXPECT_OUT(shown, "DELIVERY");

  Result dup = Complaint({"file", "m1", "--description=Again", "--category=delivery", "--order=o-1"});
  ASSERT_EQ(dup.code, 0) << dup;
  EXPECT_OUT(dup, "likely duplicate of " + id);

  Result replied = Complaint({"reply", id, "We are sending a new one", "--wait"});
  ASSERT_EQ(replied.code, 0) << replied;
  EXPECT_OUT(replied, "WAITING_ON_CUSTOMER");

  Result moved = Complaint({"move", id, "resolved"});
  EXPECT_EQ(moved.code, 1) << moved;
  EXPECT_ERR(moved, "INVALID_ARGUMENT");
  Result moved_back = Complaint({"move", id, "in_progress", "--reason=customer answered"});
  ASSERT_EQ(moved_back.code, 0) << moved_back;

  Result resolved = Complaint({"resolve", id, "Replaced", "--points=900"}, tokens_.agent);
  ASSERT_EQ(resolved.code, 0) << resolved;
  EXPECT_OUT(resolved, "waits for a supervisor");
  Result approved = Complaint({"approve", id, id + "-comp-1", "--reason=ok"}, tokens_.supervisor);
  ASSERT_EQ(approved.code, 0) << approved;
  EXPECT_OUT(approved, "900 points ISSUING");  // ISSUED once loyalty acknowledged
  ASSERT_TRUE(Eventually([&] { return Balance("m1").balance() == 900; }));

  Result assigned = Complaint({"assign", id, "--agent=agent-7", "--team=delivery"});
  ASSERT_EQ(assigned.code, 0) << assigned;
  Result queue = Complaint({"list", "--agent=agent-7"});
  ASSERT_EQ(queue.code, 0) << queue;
  EXPECT_OUT(queue, id);
  Result transferred = Complaint({"transfer", id, "Refund promised by Friday", "--agent=agent-9"});
  ASSERT_EQ(transferred.code, 0) << transferred;
  EXPECT_OUT(transferred, "hand-over note: Refund promised by Friday");
  EXPECT_OUT(Complaint({"list", "--agent=agent-9"}), id);
  Result reopened = Complaint({"reopen", id, "The new one is broken too"});
  ASSERT_EQ(reopened.code, 0) << reopened;
  EXPECT_OUT(reopened, "REOPENED");
  Result no_note = Complaint({"transfer", id});
  EXPECT_EQ(no_note.code, 2) << no_note;

  Result history = Complaint({"history", id});
  ASSERT_EQ(history.code, 0) << history;
  EXPECT_OUT(history, "REPLY");
  EXPECT_OUT(history, "COMPENSATION");

  Result metrics = Complaint({"metrics", "--from=2031-01-01T00:00:00Z", "--to=2031-02-01T00:00:00Z"});
  ASSERT_EQ(metrics.code, 0) << metrics;
  EXPECT_OUT(metrics, "COMPLAINTS");

  Result missing = Complaint({"show", "nope"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_ERR(missing, "COMPLAINT_NOT_FOUND");
  Result usage = Complaint({"file", "m1"});
  EXPECT_EQ(usage.code, 2) << usage;
  EXPECT_ERR(usage, "--description");
  Result help = Complaint({"resolve", "--help"});
  EXPECT_EQ(help.code, 0) << help;
  EXPECT_OUT(help, "--points");
}

TEST_F(CarectlComplaintTest, ContactsAndProspectsAndAContactsInquiry) {
  Result made = Complaint({"--json", "contact", "create", "Lan Nguyen", "--email=lan@example.com", "--locale=vi",
                           "--consent=email", "--source=fair-2031", "--interests=coffee,tea", "--request-id=ct-1"},
                          tokens_.agent);
  ASSERT_EQ(made.code, 0) << made;
  const std::string id = made.out.substr(made.out.find("ct-"),
                                         made.out.find('"', made.out.find("ct-")) - made.out.find("ct-"));
  Result other = Complaint({"contact", "create", "Binh", "--phone=+84901234567", "--source=fair-2031"}, tokens_.agent);
  ASSERT_EQ(other.code, 0) << other;
  EXPECT_OUT(other, "WEBHOOK");  // a phone alone: the gateway
  Result shown = Complaint({"contact", "show", id}, tokens_.agent);
  ASSERT_EQ(shown.code, 0) << shown;
  EXPECT_OUT(shown, "lan@example.com");
  EXPECT_OUT(shown, "fair-2031 (coffee, tea) NEW");
  Result prospects = Complaint({"contact", "list", "--prospects"}, tokens_.supervisor);
  ASSERT_EQ(prospects.code, 0) << prospects;
  EXPECT_OUT(prospects, "Binh");
  Result exported = Complaint({"contact", "list", "--prospects", "--consented=email"}, tokens_.supervisor);
  ASSERT_EQ(exported.code, 0) << exported;
  EXPECT_OUT(exported, id);
  EXPECT_FALSE(absl::StrContains(exported.out, "Binh")) << exported;
  Result denied = Complaint({"contact", "list"}, tokens_.agent);
  EXPECT_EQ(denied.code, 1) << denied;
  EXPECT_ERR(denied, "PERMISSION_DENIED");
  Result filed = Complaint({"file", "--contact=" + id, "--kind=inquiry", "--description=Is the jug glass?"},
                           tokens_.agent);
  ASSERT_EQ(filed.code, 0) << filed;
  EXPECT_OUT(filed, "INQUIRY");
  EXPECT_OUT(filed, id);
  Result bad = Complaint({"contact", "create", "Nobody"}, tokens_.agent);
  EXPECT_EQ(bad.code, 1) << bad;
  EXPECT_ERR(bad, "INVALID_FIELD");
  // A new address, the e-mail consent withdrawn and the follow-up recorded.
  Result updated = Complaint({"contact", "update", id, "--email=lan.nguyen@example.com", "--withdraw=email",
                              "--follow-up=contacted", "--request-id=ct-up-1"},
                             tokens_.agent);
  ASSERT_EQ(updated.code, 0) << updated;
  EXPECT_OUT(updated, "lan.nguyen@example.com");
  EXPECT_OUT(updated, "fair-2031 (coffee, tea) CONTACTED");
  Result no_longer = Complaint({"contact", "list", "--prospects", "--consented=email"}, tokens_.supervisor);
  ASSERT_EQ(no_longer.code, 0) << no_longer;
  EXPECT_FALSE(absl::StrContains(no_longer.out, id)) << no_longer;
  // Its retry (same request id) answers the same, though the contact moved on.
  Result retried = Complaint({"contact", "update", id, "--email=lan.nguyen@example.com", "--withdraw=email",
                              "--follow-up=contacted", "--request-id=ct-up-1"},
                             tokens_.agent);
  ASSERT_EQ(retried.code, 0) << retried;
  EXPECT_OUT(retried, "CONTACTED");
  Result stale = Complaint({"contact", "update", id, "--name=Lan", "--version=1"}, tokens_.agent);
  EXPECT_EQ(stale.code, 1) << stale;
  EXPECT_ERR(stale, "VERSION_MISMATCH");
  Result cleared = Complaint({"contact", "update", id, "--clear=locale", "--name=Lan N."}, tokens_.agent);
  ASSERT_EQ(cleared.code, 0) << cleared;
  EXPECT_OUT(cleared, "Lan N.");
  EXPECT_FALSE(absl::StrContains(cleared.out, " vi")) << cleared;
}

// carectl complaint outbox dead|replay (care.common.v1.OutboxAdmin): admins
// only; a replay names its events or says --all.
TEST_F(CarectlComplaintTest, OutboxDeadEventsAreListedAndReplayedByAnAdmin) {
  Result none = Complaint({"outbox", "dead"});
  ASSERT_EQ(none.code, 0) << none;
  EXPECT_OUT(none, "(no dead events)");
  Result json = Complaint({"--json", "outbox", "dead", "--destination=loyalty"});
  ASSERT_EQ(json.code, 0) << json;
  Result agent = Complaint({"outbox", "dead"}, tokens_.agent);
  EXPECT_EQ(agent.code, 1) << agent;
  EXPECT_ERR(agent, "PERMISSION_DENIED");
  Result nothing = Complaint({"outbox", "replay"});
  EXPECT_EQ(nothing.code, 2) << nothing;
  EXPECT_ERR(nothing, "--all");
  Result all = Complaint({"outbox", "replay", "--all", "--request_id=r-1"});
  ASSERT_EQ(all.code, 0) << all;
  EXPECT_OUT(all, "replayed 0 event(s)");
  Result named = Complaint({"outbox", "replay", "complaint:nope"});
  ASSERT_EQ(named.code, 0) << named;
  EXPECT_OUT(named, "replayed 0 event(s)");
  Result bad = Complaint({"outbox", "frobnicate"});
  EXPECT_EQ(bad.code, 2) << bad;
}

// carectl complaint calendar|sla-policy|phrases: what an operator sets up
// before the first complaint, from JSON files, checked through the stubs and
// by the effect (a reply with a forbidden phrase is refused).
TEST_F(CarectlComplaintTest, CalendarsSlaPoliciesAndForbiddenPhrasesAreSetUp) {
  auto cstub = cv1::ComplaintService::NewStub(complaint_->channel());
  const std::string calendar = dir_.path() + "/calendar.json";
  std::ofstream(calendar) << R"({"calendar_id": "uk-office", "display_name": "UK office",
    "time_zone": "Europe/London", "weekly_hours": [
      {"day": "WEEKDAY_MONDAY", "start": {"hours": 9}, "end": {"hours": 17}},
      {"day": "WEEKDAY_TUESDAY", "start": {"hours": 9}, "end": {"hours": 17, "minutes": 30}}]})";
  Result created = Complaint({"calendar", "create", "--file", calendar});
  ASSERT_EQ(created.code, 0) << created;
  EXPECT_OUT(created, "MONDAY 09:00-17:00, TUESDAY 09:00-17:30");
  EXPECT_OUT(Complaint({"calendar", "list"}), "uk-office");
  // An update takes the fields the file sets: the holidays, not the hours.
  std::ofstream(calendar) << R"({"calendar_id": "uk-office",
    "holidays": [{"date": {"year": 2031, "month": 12, "day": 25}, "display_name": "Christmas"}]})";
  Result updated = Complaint({"calendar", "update", "--file=" + calendar});
  ASSERT_EQ(updated.code, 0) << updated;
  EXPECT_OUT(updated, "2031-12-25 Christmas");
  cv1::GetBusinessCalendarRequest get_calendar;
  get_calendar.set_calendar_id("uk-office");
  cv1::BusinessCalendar stored_calendar;
  ASSERT_TRUE(cstub->GetBusinessCalendar(Ctx(admin()).get(), get_calendar, &stored_calendar).ok());
  EXPECT_EQ(stored_calendar.weekly_hours_size(), 2);
  EXPECT_EQ(stored_calendar.holidays_size(), 1);

  const std::string policy = dir_.path() + "/policy.json";
  std::ofstream(policy) << R"({"sla_policy_id": "gold-fast", "display_name": "Gold, fast", "evaluation_order": 1,
    "enabled": true, "tier_ids": ["gold"], "first_response_target": "3600s", "resolution_target": "86400s",
    "calendar_id": "uk-office"})";
  Result made = Complaint({"sla-policy", "create", "--file", policy});
  ASSERT_EQ(made.code, 0) << made;
  EXPECT_TRUE(std::regex_search(made.out, std::regex("FIRST RESPONSE +1h\n"))) << made;
  EXPECT_TRUE(std::regex_search(made.out, std::regex("TIERS +gold\n"))) << made;
  EXPECT_OUT(Complaint({"sla-policy", "list"}), "gold-fast");
  // false is a zero value the file cannot show as set: --only names the field.
  std::ofstream(policy) << R"({"sla_policy_id": "gold-fast", "enabled": false})";
  Result off = Complaint({"sla-policy", "update", "--file", policy, "--only", "enabled"});
  ASSERT_EQ(off.code, 0) << off;
  Result shown = Complaint({"sla-policy", "get", "gold-fast", "-o", "json"});
  ASSERT_EQ(shown.code, 0) << shown;
  EXPECT_OUT(shown, "\"enabled\": false");
  cv1::GetSlaPolicyRequest get_policy;
  get_policy.set_sla_policy_id("gold-fast");
  cv1::SlaPolicy stored_policy;
  ASSERT_TRUE(cstub->GetSlaPolicy(Ctx(admin()).get(), get_policy, &stored_policy).ok());
  EXPECT_FALSE(stored_policy.enabled());
  EXPECT_EQ(stored_policy.display_name(), "Gold, fast");
  // A calendar a policy uses stays; once the policy is gone it can go.
  EXPECT_EQ(Complaint({"calendar", "delete", "uk-office"}).code, 1);
  Result dropped = Complaint({"sla-policy", "delete", "gold-fast"});
  ASSERT_EQ(dropped.code, 0) << dropped;
  EXPECT_OUT(dropped, "deleted SLA policy gold-fast");
  EXPECT_EQ(cstub->GetSlaPolicy(Ctx(admin()).get(), get_policy, &stored_policy).error_code(),
            grpc::StatusCode::NOT_FOUND);
  Result calendar_gone = Complaint({"calendar", "delete", "uk-office"});
  EXPECT_EQ(calendar_gone.code, 0) << calendar_gone;

  Enrol("m1");
  Result filed = Complaint({"-o", "json", "file", "m1", "--description", "Rude agent", "--locale", "en"});
  ASSERT_EQ(filed.code, 0) << filed;
  cv1::CreateComplaintResponse complaint;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(filed.out, &complaint).ok()) << filed;
  const std::string id = complaint.complaint().complaint_id();
  Result phrases = Complaint({"phrases", "set", "en", "calm down", "you people"});
  ASSERT_EQ(phrases.code, 0) << phrases;
  EXPECT_OUT(phrases, "  calm down\n");
  EXPECT_OUT(Complaint({"phrases", "get", "en"}), "  you people\n");
  EXPECT_OUT(Complaint({"phrases", "list"}), "en ");
  Result refused = Complaint({"reply", id, "Please calm down", "--check"});
  EXPECT_EQ(refused.code, 1) << refused;
  EXPECT_ERR(refused, "reason: FORBIDDEN_PHRASE");
  ASSERT_EQ(Complaint({"phrases", "set", "en"}).code, 0);  // none: cleared
  Result passes = Complaint({"reply", id, "Please calm down", "--check"});
  EXPECT_EQ(passes.code, 0) << passes;
}

// carectl complaint settings|staff|team (issue 22 item 2): who staff alerts
// reach, one entry at a time, shown as tables and checked through the stub;
// a policy's breach warning shown; the kinds filter of the ticket list.
TEST_F(CarectlComplaintTest, StaffDirectoryTeamLeadsAndBreachWarningsAreSetAndShown) {
  Result empty = Complaint({"settings", "get"});
  ASSERT_EQ(empty.code, 0) << empty;
  EXPECT_OUT(empty, "(no teams)");
  EXPECT_OUT(empty, "(no staff directory");
  Result lead = Complaint({"staff", "set", "lead-hoa", "--name=Pham Thu Hoa", "--channel=webhook",
                           "--webhook-address=chat:hoa", "--team=delivery", "--locale=vi",
                           "--time-zone=Asia/Ho_Chi_Minh"});
  ASSERT_EQ(lead.code, 0) << lead;
  EXPECT_TRUE(std::regex_search(lead.out, std::regex("lead-hoa +Pham Thu Hoa +delivery +vi +Asia/Ho_Chi_Minh +WEBHOOK "
                                                     "+chat:hoa")))
      << lead;
  ASSERT_EQ(Complaint({"staff", "set", "agent-7", "--name=Alex", "--email=alex@example.com"}).code, 0);
  Result team = Complaint({"team", "set", "delivery", "--lead=lead-hoa", "--name=Delivery desk"});
  ASSERT_EQ(team.code, 0) << team;
  EXPECT_TRUE(std::regex_search(team.out, std::regex("delivery +Delivery desk +lead-hoa"))) << team;
  // One entry replaced; the others stay.
  Result moved = Complaint({"staff", "set", "agent-7", "--name=Alex", "--channel=webhook",
                            "--webhook-address=chat:alex"});
  ASSERT_EQ(moved.code, 0) << moved;
  auto cstub = cv1::ComplaintService::NewStub(complaint_->channel());
  cv1::ComplaintSettings stored;
  ASSERT_TRUE(cstub->GetComplaintSettings(Ctx(admin()).get(), {}, &stored).ok());
  ASSERT_EQ(stored.staff_size(), 2);
  EXPECT_EQ(stored.staff(0).webhook_address(), "chat:hoa");
  EXPECT_EQ(stored.staff(1).alert_channel(), care::common::v1::MESSAGE_CHANNEL_WEBHOOK);
  EXPECT_EQ(stored.staff(1).webhook_address(), "chat:alex");
  ASSERT_EQ(stored.teams_size(), 1);
  EXPECT_EQ(stored.teams(0).lead_agent_id(), "lead-hoa");
  EXPECT_OUT(Complaint({"-o", "json", "settings", "get"}), "\"lead_agent_id\": \"lead-hoa\"");

  // Refused by complaint, naming the field: nothing changes.
  Result bad = Complaint({"staff", "set", "agent-8", "--name=Bo", "--channel=email"});
  EXPECT_EQ(bad.code, 1) << bad;
  EXPECT_ERR(bad, "settings.staff[2].email");
  Result agent = Complaint({"team", "set", "returns", "--lead=agent-7"}, tokens_.agent);
  EXPECT_EQ(agent.code, 1) << agent;
  EXPECT_ERR(agent, "PERMISSION_DENIED");
  EXPECT_EQ(Complaint({"team", "set", "returns"}).code, 2);
  Result removed = Complaint({"staff", "remove", "agent-7"});
  ASSERT_EQ(removed.code, 0) << removed;
  EXPECT_FALSE(absl::StrContains(removed.out, "chat:alex")) << removed;
  EXPECT_EQ(Complaint({"staff", "remove", "agent-7"}).code, 2);
  // The rest of the settings from a file; the lists stay as they are.
  const std::string file = dir_.path() + "/settings.json";
  std::ofstream(file) << R"({"default_locale": "vi", "reopen_window": "1209600s"})";
  Result updated = Complaint({"settings", "update", "--file=" + file});
  ASSERT_EQ(updated.code, 0) << updated;
  EXPECT_TRUE(std::regex_search(updated.out, std::regex("DEFAULT LOCALE +vi\n"))) << updated;
  ASSERT_TRUE(cstub->GetComplaintSettings(Ctx(admin()).get(), {}, &stored).ok());
  EXPECT_EQ(stored.default_locale(), "vi");
  EXPECT_EQ(stored.staff_size(), 1);
  EXPECT_EQ(stored.teams_size(), 1);

  const std::string policy = dir_.path() + "/warned.json";
  std::ofstream(policy) << R"({"sla_policy_id": "warned", "evaluation_order": 1, "enabled": true,
    "first_response_target": "7200s", "resolution_target": "86400s", "breach_warning_before": "1800s"})";
  Result made = Complaint({"sla-policy", "create", "--file", policy});
  ASSERT_EQ(made.code, 0) << made;
  EXPECT_TRUE(std::regex_search(made.out, std::regex("BREACH WARNING +30m before\n"))) << made;

  Enrol("m1");
  ASSERT_EQ(Complaint({"file", "m1", "--description=Late"}).code, 0);
  Result complaints = Complaint({"list", "--kind=complaint"});
  ASSERT_EQ(complaints.code, 0) << complaints;
  EXPECT_TRUE(std::regex_search(complaints.out, std::regex("c-\\S+ +m1 +COMPLAINT +NEW"))) << complaints;
  EXPECT_OUT(Complaint({"list", "--kind=care_check_in"}), "(no complaints)");
}

}  // namespace
}  // namespace care::testing

namespace care::testing {
namespace {

namespace pv1 = ::care::promotion::v1;

// carectl promotion ... against a real care_promotion (tiers from
// care_loyalty, alerts to the real care_notification).
class CarectlPromotionTest : public CarectlTest {
 protected:
  void SetUp() override {
    CarectlTest::SetUp();
    if (HasFatalFailure()) return;
    std::ofstream(dir_.path() + "/quote_secret") << "carectl-1 carectl-test-secret-0123456789abcdef0123\n";
    std::vector<std::string> args{"--fake_clock",
                                  "--redis_port=" + std::to_string(redis_.port()),
                                  "--loyalty_target=" + service_->address(),
                                  "--notification_target=" + notification_service_->address(),
                                  "--service_token_file=" + dir_.path() + "/promotion_token",
                                  "--quote_token_secret_file=" + dir_.path() + "/quote_secret",
                                  "--outbox_interval=50ms",
                                  "--log_level=warn"};
    promotion_ = std::make_unique<ServiceProcess>(CARE_PROMOTION_BIN, "care.promotion.v1.PromotionService", args,
                                                  tokens_);
    absl::Status started = promotion_->Start();
    ASSERT_TRUE(started.ok()) << started;
    auto clock = care::common::v1::ClockControl::NewStub(promotion_->channel());
    care::common::v1::SetTimeRequest req;
    *req.mutable_time() = ToTimestamp(Base());
    care::common::v1::GetTimeResponse r;
    ASSERT_TRUE(clock->SetTime(Ctx(admin()).get(), req, &r).ok());
  }

  Result Promotion(std::vector<std::string> args) {
    args.insert(args.begin(), {"--target=" + promotion_->address(), "--token=" + admin(), "promotion"});
    return Run(args);
  }

  // A 10%-off-the-cart campaign in USD over [starts, starts + 30 days), as a JSON file.
  std::string CampaignFile(const std::string& name, absl::Time starts, bool voucher_required = false) {
    pv1::Campaign c;
    c.set_voucher_required(voucher_required);
    c.set_display_name(name);
    (*c.mutable_localized_display_names())["ja"] = "セール";
    (*c.mutable_localized_display_names())["vi"] = "Khuyến mãi";
    c.set_time_zone("UTC");
    c.set_currency_code("USD");
    *c.mutable_starts_at() = ToTimestamp(starts);
    *c.mutable_ends_at() = ToTimestamp(starts + absl::Hours(24 * 30));
    c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value()->set_percent_off_bps(1000);
    std::string json;
    EXPECT_TRUE(google::protobuf::util::MessageToJsonString(c, &json).ok());
    std::string path = dir_.path() + "/" + name + ".json";
    std::ofstream(path) << json;
    return path;
  }

  std::unique_ptr<ServiceProcess> promotion_;
};

TEST_F(CarectlPromotionTest, CampaignLifecycleQuoteRedeemAndCancel) {
  // A campaign three and a half days out: announced, moved, cancelled.
  Result created = Promotion({"create", CampaignFile("Autumn", Base() + absl::Hours(84)), "--id=autumn"});
  ASSERT_EQ(created.code, 0) << created;
  EXPECT_OUT(created, "CAMPAIGN   autumn");
  EXPECT_OUT(created, "DRAFT");
  EXPECT_OUT(created, "LANGUAGES  ja, vi");  // the localized titles of the JSON
  Result announced = Promotion({"announce", "autumn"});
  ASSERT_EQ(announced.code, 0) << announced;
  EXPECT_OUT(announced, "ANNOUNCED");
  EXPECT_OUT(announced,
             "ALERT DUE  " + absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", Base() + absl::Hours(12), absl::UTCTimeZone()));
  Result moved = Promotion({"reschedule", "autumn",
                            "--starts=" +
                                absl::FormatTime(absl::RFC3339_full, Base() + absl::Hours(96), absl::UTCTimeZone())});
  ASSERT_EQ(moved.code, 0) << moved;
  EXPECT_OUT(moved, "VERSION    3");
  Result shown = Promotion({"show", "autumn", "--version=1"});
  ASSERT_EQ(shown.code, 0) << shown;
  EXPECT_OUT(shown, "DRAFT");
  Result cancelled = Promotion({"cancel", "autumn", "--reason=budget moved"});
  ASSERT_EQ(cancelled.code, 0) << cancelled;
  EXPECT_OUT(cancelled, "CANCELLED");

  // A running campaign: quote, redeem, show, cancel the redemption, report.
  Enrol("ann");
  ASSERT_EQ(Promotion({"create", CampaignFile("Now", Base() - absl::Hours(1)), "--id=now"}).code, 0);
  ASSERT_EQ(Promotion({"announce", "now", "--short_notice"}).code, 0);
  Result quote = Promotion({"quote", "--member=ann", "--shipping=5", "SHOE-1:shoes:2:50.00", "SOCK-1::1:10"});
  ASSERT_EQ(quote.code, 0) << quote;
  EXPECT_OUT(quote, "now");
  EXPECT_OUT(quote, "TOTAL         104.00 USD");                  // 110 - 10% + 5 shipping
  EXPECT_FALSE(absl::StrContains(quote.out, "SOURCE")) << quote;  // adjustments only with --explain
  Result explained = Promotion({"quote", "--member=ann", "--explain", "SHOE-1:shoes:2:50.00", "SOCK-1::1:10"});
  ASSERT_EQ(explained.code, 0) << explained;
  // One row per adjustment: line, source, campaign, rule, units, amount.
  EXPECT_TRUE(std::regex_search(explained.out, std::regex("\\bl1 +CAMPAIGN +now +\\S+ +2 +10\\.00 USD"))) << explained;
  EXPECT_TRUE(std::regex_search(explained.out, std::regex("\\bl2 +CAMPAIGN +now +\\S+ +1 +1\\.00 USD"))) << explained;
  Result json = Run({"--json", "--target=" + promotion_->address(), "--token=" + admin(), "promotion", "quote",
                     "--member=ann", "SHOE-1:shoes:2:50.00"});
  ASSERT_EQ(json.code, 0) << json;
  pv1::QuoteResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &parsed).ok()) << json;
  ASSERT_FALSE(parsed.quote_token().empty());
  Result redeemed = Promotion({"redeem", "order-1", parsed.quote_token()});
  ASSERT_EQ(redeemed.code, 0) << redeemed;
  EXPECT_OUT(redeemed, "REDEEMED");
  Result shown_redemption = Promotion({"redemption", "order-1"});
  ASSERT_EQ(shown_redemption.code, 0) << shown_redemption;
  EXPECT_OUT(shown_redemption, "order-1");
  EXPECT_OUT(shown_redemption, "DISCOUNT   10.00 USD");
  Result report = Promotion({"report", "now"});
  ASSERT_EQ(report.code, 0) << report;
  EXPECT_OUT(report, "REDEMPTIONS       1");
  Result undone = Promotion({"cancel-redemption", "order-1", "--reason=order cancelled"});
  ASSERT_EQ(undone.code, 0) << undone;
  EXPECT_OUT(undone, "CANCELLED");

  // Errors: the status and reason, exit 1; bad arguments, exit 2.
  Result missing = Promotion({"show", "nope"});
  EXPECT_EQ(missing.code, 1) << missing;
  EXPECT_ERR(missing, "NOT_FOUND");
  Result twice = Promotion({"redeem", "order-1", "not-a-token"});
  EXPECT_EQ(twice.code, 1) << twice;
  Result bad_line = Promotion({"quote", "--member=ann", "SHOE-1:2:50"});
  EXPECT_EQ(bad_line.code, 2) << bad_line;
  EXPECT_ERR(bad_line, "must be SKU:CATEGORY:QTY:PRICE");
  Result no_file = Promotion({"create", dir_.path() + "/absent.json"});
  EXPECT_EQ(no_file.code, 2) << no_file;
  EXPECT_ERR(no_file, "cannot read");
  Result both = Promotion({"quote", "--member=ann", "--guest=g1", "SHOE-1:shoes:1:5"});
  EXPECT_EQ(both.code, 2) << both;
}

// carectl promotion campaign list and voucher generate|list|get|revoke|issue;
// money in the currency's own minor units (ICU): 3 digits for KWD, none for JPY.
TEST_F(CarectlPromotionTest, CampaignsAreListedAndVouchersGeneratedIssuedAndRevoked) {
  ASSERT_EQ(Promotion({"create", CampaignFile("Codes", Base() - absl::Hours(1), true), "--id=codes"}).code, 0);
  ASSERT_EQ(Promotion({"announce", "codes", "--short-notice"}).code, 0);
  Result listed = Promotion({"campaign", "list"});
  ASSERT_EQ(listed.code, 0) << listed;
  EXPECT_TRUE(std::regex_search(listed.out, std::regex("codes +Codes +\\S+ .* required"))) << listed;
  Result cancelled = Promotion({"campaign", "list", "--state", "cancelled"});
  ASSERT_EQ(cancelled.code, 0) << cancelled;
  EXPECT_OUT(cancelled, "(no campaigns)");

  Result generated = Promotion({"voucher", "generate", "codes", "--count", "3", "--prefix", "SPRING"});
  ASSERT_EQ(generated.code, 0) << generated;
  EXPECT_OUT(generated, "3 voucher(s)");
  Result json = Promotion({"voucher", "list", "--campaign=codes", "-o", "json"});
  ASSERT_EQ(json.code, 0) << json;
  pv1::ListVouchersResponse vouchers;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &vouchers).ok()) << json;
  ASSERT_EQ(vouchers.vouchers_size(), 3);
  const std::string code = vouchers.vouchers(0).code();
  EXPECT_TRUE(absl::StartsWith(code, "SPRING")) << code;
  Result shown = Promotion({"voucher", "get", code});
  ASSERT_EQ(shown.code, 0) << shown;
  EXPECT_TRUE(std::regex_search(shown.out, std::regex("STATE +ACTIVE"))) << shown;
  Result revoked = Promotion({"voucher", "revoke", code, "--reason", "leaked"});
  ASSERT_EQ(revoked.code, 0) << revoked;
  auto pstub = pv1::PromotionService::NewStub(promotion_->channel());
  pv1::GetVoucherRequest get;
  get.set_code(code);
  pv1::Voucher stored;
  ASSERT_TRUE(pstub->GetVoucher(Ctx(admin()).get(), get, &stored).ok());
  EXPECT_EQ(stored.state(), pv1::VOUCHER_STATE_REVOKED);
  EXPECT_EQ(stored.revoke_reason(), "leaked");

  Enrol("ann");
  Result kwd = Promotion({"voucher", "issue", "ann", "--amount", "1.250", "--currency", "KWD", "--reason-code",
                          "LATE_DELIVERY"});
  ASSERT_EQ(kwd.code, 0) << kwd;
  EXPECT_OUT(kwd, "1.250 KWD off");
  Result kwd_json = Promotion({"voucher", "list", "--member", "ann", "-o", "json"});
  ASSERT_EQ(kwd_json.code, 0) << kwd_json;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(kwd_json.out, &vouchers).ok()) << kwd_json;
  ASSERT_EQ(vouchers.vouchers_size(), 1);
  EXPECT_EQ(vouchers.vouchers(0).goodwill_value().amount_off().amount_minor(), 1250);
  Result too_fine = Promotion({"voucher", "issue", "ann", "--amount", "1.2345", "--currency", "KWD"});
  EXPECT_EQ(too_fine.code, 2) << too_fine;
  EXPECT_ERR(too_fine, "is not a KWD amount like 125.500");
  Result yen = Promotion({"voucher", "issue", "ann", "--amount", "10.5", "--currency", "JPY"});
  EXPECT_EQ(yen.code, 2) << yen;
  EXPECT_ERR(yen, "is not a JPY amount like 1500");
  Result neither = Promotion({"voucher", "issue", "ann"});
  EXPECT_EQ(neither.code, 2) << neither;
}

}  // namespace
}  // namespace care::testing

namespace care::testing {
namespace {

// carectl against a care_loyalty that takes only mutual TLS: the kebab-case
// TLS flags, their CARE_* variables, and a flag beating a wrong variable.
class CarectlTlsTest : public CarectlTest {
 protected:
  void SetUp() override {
    CarectlTest::SetUp();
    if (HasFatalFailure()) return;
    Openssl(absl::StrCat("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=ca",
                         " -keyout ", Path("ca.key"), " -out ", Path("ca.crt")));
    Openssl(absl::StrCat("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=other",
                         " -keyout ", Path("other.key"), " -out ", Path("other.crt")));
    for (const char* name : {"loyalty", "client"}) {
      Openssl(absl::StrCat("req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=", name,
                           " -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout ", Path(name, ".key"), " -out ",
                           Path(name, ".csr")));
      Openssl(absl::StrCat("x509 -req -days 2 -copy_extensions copy -in ", Path(name, ".csr"), " -CA ", Path("ca.crt"),
                           " -CAkey ", Path("ca.key"), " -CAcreateserial -out ", Path(name, ".crt")));
    }
    if (HasFatalFailure()) return;
    tls_loyalty_ = std::make_unique<ServiceProcess>(
        CARE_LOYALTY_BIN, "care.loyalty.v1.LoyaltyService",
        std::vector<std::string>{"--tls_cert_file=" + Path("loyalty.crt"), "--tls_key_file=" + Path("loyalty.key"),
                                 "--tls_client_ca_file=" + Path("ca.crt"),
                                 "--redis_port=" + std::to_string(redis_.port()), "--log_level=warn"},
        tokens_);
    care::PeerTls tls{.enabled = true,
                      .ca_file = Path("ca.crt"),
                      .cert_file = Path("client.crt"),
                      .key_file = Path("client.key"),
                      .server_name = "localhost"};
    tls_loyalty_->set_channel_credentials(care::MakeChannelCredentials(tls));
    absl::Status started = tls_loyalty_->Start();
    ASSERT_TRUE(started.ok()) << started;
  }
  std::string Path(const std::string& name, const std::string& ext = "") const {
    return absl::StrCat(dir_.path(), "/", name, ext);
  }
  void Openssl(const std::string& args) {
    std::string command = absl::StrCat("openssl ", args, " >>", Path("openssl.log"), " 2>&1");
    ASSERT_EQ(std::system(command.c_str()), 0) << command << "\n" << ReadFile(Path("openssl.log"));
  }
  Result Ping(std::vector<std::string> flags) {
    flags.insert(flags.end(), {"--target", "ipv4:" + tls_loyalty_->address(), "--token", svc(), "--timeout", "3s",
                               "ping", "over-mtls"});
    return Run(flags);
  }
  std::unique_ptr<ServiceProcess> tls_loyalty_;
};

TEST_F(CarectlTlsTest, TlsFlagsAndTheirVariablesWithTheFlagWinning) {
  const std::vector<std::string> client = {"--cert-file", Path("client.crt"), "--key-file", Path("client.key")};
  std::vector<std::string> flags = client;
  flags.insert(flags.end(), {"--ca-file", Path("ca.crt"), "--tls-server-name", "localhost"});
  Result ok = Ping(flags);
  ASSERT_EQ(ok.code, 0) << ok;
  EXPECT_OUT(ok, "over-mtls");
  // The certificate names localhost, not the one asked for: refused at the handshake.
  std::vector<std::string> wrong_name = client;
  wrong_name.insert(wrong_name.end(), {"--ca-file", Path("ca.crt"), "--tls-server-name", "loyalty.elsewhere.test"});
  EXPECT_EQ(Ping(wrong_name).code, 1);

  ::setenv("CARE_CA_FILE", Path("ca.crt").c_str(), 1);
  ::setenv("CARE_CERT_FILE", Path("client.crt").c_str(), 1);
  ::setenv("CARE_KEY_FILE", Path("client.key").c_str(), 1);
  ::setenv("CARE_SERVER_NAME", "localhost", 1);
  Result from_env = Ping({});
  EXPECT_EQ(from_env.code, 0) << from_env;
  // A CA the service's certificate does not chain to in the environment; the flag names the right one.
  ::setenv("CARE_CA_FILE", Path("other.crt").c_str(), 1);
  EXPECT_EQ(Ping({}).code, 1);
  Result flag_wins = Ping({"--ca-file", Path("ca.crt")});
  EXPECT_EQ(flag_wins.code, 0) << flag_wins;
  for (const char* v : {"CARE_CA_FILE", "CARE_CERT_FILE", "CARE_KEY_FILE", "CARE_SERVER_NAME"}) ::unsetenv(v);

  Result half = Ping({"--cert-file", Path("client.crt"), "--ca-file", Path("ca.crt")});
  EXPECT_EQ(half.code, 2) << half;
  EXPECT_ERR(half, "--cert-file and --key-file go together");
}

}  // namespace
}  // namespace care::testing
