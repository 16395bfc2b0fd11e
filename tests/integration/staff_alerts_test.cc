// Staff alerts through the real binaries (issue 22, item 2): complaint's
// staff directory names who is alerted and how; an escalation that notifies
// the team lead, a breach about to happen, a compensation waiting for
// approval and a reopened complaint reach the staff member's webhook through
// the real notification service, once, in their language.
#include "absl/strings/match.h"
#include "common/hmac.h"
#include "tests/harness/receivers.h"
#include "tests/integration/complaint_fixture.h"

namespace care::testing {
namespace {

using care::common::v1::MESSAGE_CHANNEL_EMAIL;
using care::common::v1::MESSAGE_CHANNEL_WEBHOOK;

constexpr char kSecret[] = "staff-webhook-secret-0123456789abcdef";
constexpr char kMember[] = "m-staff";

class StaffAlertsTest : public ComplaintNotificationTest {
 protected:
  void SetUp() override {
    ComplaintNotificationTest::SetUp();
    if (HasFatalFailure()) return;
    ConfigureWebhook();
    Enrol(kMember);
    Directory();
    RoundTheClock();
  }

  void ConfigureWebhook() {
    nv1::UpdateSettingsRequest req;
    req.set_request_id("settings-staff-webhook");
    req.mutable_settings()->mutable_webhook()->set_url("http://127.0.0.1:" + std::to_string(receiver_.port()) +
                                                       "/hook");
    req.mutable_settings()->mutable_webhook()->set_signing_secret(kSecret);
    req.mutable_update_mask()->add_paths("webhook.url");
    req.mutable_update_mask()->add_paths("webhook.signing_secret");
    nv1::Settings out;
    grpc::Status s = nstub_->UpdateSettings(Ctx(admin()).get(), req, &out);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  static kv1::StaffMember Staff(const std::string& id, const std::string& name, const std::string& locale,
                                const std::string& zone) {
    kv1::StaffMember m;
    m.set_agent_id(id);
    m.set_display_name(name);
    m.set_team_id("care");
    m.set_locale(locale);
    m.set_time_zone(zone);
    m.set_alert_channel(MESSAGE_CHANNEL_WEBHOOK);
    m.set_webhook_address("chat:" + id);
    return m;
  }

  grpc::Status PutDirectory(const std::vector<kv1::StaffMember>& staff, const std::string& request_id) {
    kv1::UpdateComplaintSettingsRequest req;
    req.set_request_id(request_id);
    kv1::TeamSettings* team = req.mutable_settings()->add_teams();
    team->set_team_id("care");
    team->set_lead_agent_id("lead-ja");
    for (const auto& m : staff) *req.mutable_settings()->add_staff() = m;
    req.mutable_update_mask()->add_paths("teams");
    req.mutable_update_mask()->add_paths("staff");
    kv1::ComplaintSettings out;
    return complaints().UpdateComplaintSettings(Ctx(admin()).get(), req, &out);
  }

  // The team "care" led by a Japanese lead; an English-speaking agent.
  void Directory() {
    grpc::Status s = PutDirectory({Staff("lead-ja", "山田 花子", "ja-JP", "Asia/Tokyo"),
                                   Staff("agent-en", "Alex Agent", "en", "Europe/London")},
                                  "directory");
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  // Open every day (00:00-23:59 UTC), so targets are wall time; a 2 h first
  // response, a level that notifies the team lead at the breach, and a
  // warning 30 minutes before it.
  void RoundTheClock() {
    UtcCalendar();
    if (HasFatalFailure()) return;
    kv1::CreateSlaPolicyRequest req;
    req.set_request_id("policy-staff");
    kv1::SlaPolicy* p = req.mutable_policy();
    p->set_sla_policy_id("staff");
    p->set_enabled(true);
    *p->mutable_first_response_target() = ToDurationProto(absl::Hours(2));
    *p->mutable_resolution_target() = ToDurationProto(absl::Hours(8));
    *p->mutable_breach_warning_before() = ToDurationProto(absl::Minutes(30));
    p->set_calendar_id("utc");
    kv1::EscalationLevel* l = p->add_escalation_levels();
    l->set_level(1);
    l->set_target(kv1::SLA_TARGET_FIRST_RESPONSE);
    l->add_actions(kv1::ESCALATION_ACTION_NOTIFY_TEAM_LEAD);
    l->add_actions(kv1::ESCALATION_ACTION_RAISE_PRIORITY);
    kv1::SlaPolicy out;
    grpc::Status s = complaints().CreateSlaPolicy(Ctx(admin()).get(), req, &out);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  kv1::Complaint FileForTeam(const std::string& assignee = "") {
    kv1::CreateComplaintRequest req;
    req.set_request_id(absl::StrCat("staff-file-", ++counter_));
    req.set_member_id(kMember);
    req.set_channel(kv1::CHANNEL_PHONE);
    req.set_category(kv1::CATEGORY_DELIVERY);
    req.set_description("The parcel arrived broken");
    req.set_locale("en");
    req.set_team_id("care");
    req.set_assignee_agent_id(assignee);
    kv1::CreateComplaintResponse out;
    grpc::Status s = complaints().CreateComplaint(Ctx(agent()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out.complaint();
  }

  // The webhook posts of one message kind.
  std::vector<HttpRequest> Posts(nv1::MessageKind kind) {
    std::vector<HttpRequest> out;
    const std::string needle = absl::StrCat("\"kind\":\"", nv1::MessageKind_Name(kind), "\"");
    for (HttpRequest& r : receiver_.requests()) {
      if (absl::StrContains(r.body, needle)) out.push_back(std::move(r));
    }
    return out;
  }
  bool PostsArrive(nv1::MessageKind kind, size_t n) {
    return Eventually([&] { return Posts(kind).size() >= n; }, absl::Seconds(20));
  }

  // Each post is signed and names the staff member it is for.
  void ExpectSignedFor(const HttpRequest& r, const std::string& staff_id) {
    EXPECT_EQ(HeaderValue(r.head, "X-Care-Signature"),
              "v1=" + HmacSha256Hex(kSecret, HeaderValue(r.head, "X-Care-Timestamp") + "." + r.body));
    EXPECT_TRUE(absl::StrContains(r.body, absl::StrCat("\"staff_id\":\"", staff_id, "\""))) << r.body;
    EXPECT_TRUE(absl::StrContains(r.body, absl::StrCat("\"staff_address\":\"chat:", staff_id, "\""))) << r.body;
  }

  WebhookReceiver receiver_{[](int) { return 200; }};
};

TEST_F(StaffAlertsTest, TheTeamLeadsWebhookGetsTheEscalationOnceInJapaneseAcrossRunsAndARestart) {
  kv1::Complaint c = FileForTeam();
  SetAll(Base() + absl::Hours(2) + absl::Minutes(1));
  ASSERT_TRUE(PostsArrive(nv1::MESSAGE_KIND_STAFF_ESCALATION, 1)) << notif_->log() << complaint_->log();
  // The job runs every 50 ms; more runs, a later clock and a restart send
  // nothing more.
  SetAll(Base() + absl::Hours(3));
  LetJobsRun();
  complaint_->Kill();
  ASSERT_TRUE(complaint_->Restart().ok()) << complaint_->log();
  cstub_ = kv1::ComplaintService::NewStub(complaint_->channel());
  cclock_ = care::common::v1::ClockControl::NewStub(complaint_->channel());
  SetAll(Base() + absl::Hours(4));
  LetJobsRun();
  LetJobsRun();
  std::vector<HttpRequest> got = Posts(nv1::MESSAGE_KIND_STAFF_ESCALATION);
  ASSERT_EQ(got.size(), 1u);
  ExpectSignedFor(got[0], "lead-ja");
  EXPECT_TRUE(absl::StrContains(got[0].body, "エスカレーション")) << got[0].body;
  EXPECT_TRUE(absl::StrContains(got[0].body, "山田 花子さん")) << got[0].body;
  EXPECT_TRUE(absl::StrContains(got[0].body, c.complaint_id())) << got[0].body;
  EXPECT_TRUE(absl::StrContains(got[0].body, "\"locale\":\"ja\"")) << got[0].body;
  kv1::Complaint after = Get(c.complaint_id());
  ASSERT_EQ(after.escalations_size(), 1);
  EXPECT_EQ(after.escalations(0).notified_agent_id(), "lead-ja");
}

TEST_F(StaffAlertsTest, ABreachWarningGoesOnceBeforeTheBreachToTheAssignee) {
  kv1::Complaint c = FileForTeam("agent-en");
  SetAll(Base() + absl::Minutes(80));  // 40 minutes before the breach
  LetJobsRun();
  EXPECT_TRUE(Posts(nv1::MESSAGE_KIND_STAFF_BREACH_WARNING).empty());
  SetAll(Base() + absl::Minutes(95));  // 25 minutes before
  ASSERT_TRUE(PostsArrive(nv1::MESSAGE_KIND_STAFF_BREACH_WARNING, 1)) << complaint_->log();
  kv1::Complaint warned = Get(c.complaint_id());
  EXPECT_TRUE(warned.first_response_sla().breach_warning_sent());
  EXPECT_FALSE(warned.first_response_sla().breached());
  SetAll(Base() + absl::Minutes(110));
  LetJobsRun();
  SetAll(Base() + absl::Hours(2) + absl::Minutes(5));  // breached now
  ASSERT_TRUE(Eventually([&] { return Get(c.complaint_id()).first_response_sla().breached(); }));
  LetJobsRun();
  std::vector<HttpRequest> got = Posts(nv1::MESSAGE_KIND_STAFF_BREACH_WARNING);
  ASSERT_EQ(got.size(), 1u);
  ExpectSignedFor(got[0], "agent-en");
  // In the assignee's language and zone (London is UTC in January).
  EXPECT_TRUE(absl::StrContains(got[0].body, "is breached at 2031-01-15 12:00")) << got[0].body;
  EXPECT_TRUE(absl::StrContains(got[0].body, "FIRST_RESPONSE")) << got[0].body;
}

TEST_F(StaffAlertsTest, ACompensationAboveTheAgentsLimitAlertsTheTeamLead) {
  kv1::Complaint c = FileForTeam("agent-en");
  kv1::ResolveComplaintResponse resolved;
  grpc::Status s = complaints().ResolveComplaint(Ctx(agent()).get(), ResolveRequest(c.complaint_id(), 5000), &resolved);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_TRUE(resolved.pending_approval());
  ASSERT_TRUE(PostsArrive(nv1::MESSAGE_KIND_STAFF_COMPENSATION_APPROVAL, 1)) << complaint_->log();
  LetJobsRun();
  std::vector<HttpRequest> got = Posts(nv1::MESSAGE_KIND_STAFF_COMPENSATION_APPROVAL);
  ASSERT_EQ(got.size(), 1u);
  ExpectSignedFor(got[0], "lead-ja");
  EXPECT_TRUE(absl::StrContains(got[0].body, "承認待ち")) << got[0].body;
  EXPECT_TRUE(absl::StrContains(got[0].body, resolved.compensation().compensation_id())) << got[0].body;
  EXPECT_TRUE(absl::StrContains(got[0].body, "5000 points")) << got[0].body;
}

TEST_F(StaffAlertsTest, AReopenedComplaintAlertsItsAssignee) {
  kv1::Complaint c = FileForTeam("agent-en");
  kv1::ResolveComplaintResponse resolved;
  grpc::Status s = complaints().ResolveComplaint(Ctx(agent()).get(), ResolveRequest(c.complaint_id(), 0), &resolved);
  ASSERT_TRUE(s.ok()) << Describe(s);
  kv1::ReopenComplaintRequest reopen;
  reopen.set_request_id("reopen-1");
  reopen.set_complaint_id(c.complaint_id());
  reopen.set_reason("Still broken");
  kv1::Complaint out;
  s = complaints().ReopenComplaint(Ctx(agent()).get(), reopen, &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  s = complaints().ReopenComplaint(Ctx(agent()).get(), reopen, &out);  // a retry
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_TRUE(PostsArrive(nv1::MESSAGE_KIND_STAFF_REOPENED, 1)) << complaint_->log();
  LetJobsRun();
  std::vector<HttpRequest> got = Posts(nv1::MESSAGE_KIND_STAFF_REOPENED);
  ASSERT_EQ(got.size(), 1u);
  ExpectSignedFor(got[0], "agent-en");
  EXPECT_TRUE(absl::StrContains(got[0].body, "Alex Agent, the customer reopened complaint " + c.complaint_id()))
      << got[0].body;
}

TEST_F(StaffAlertsTest, ALeadWhoWantsEmailGetsTheApprovalAlertByEmail) {
  SmtpReceiver smtp;
  nv1::UpdateSettingsRequest mail;
  mail.set_request_id("settings-staff-email");
  mail.mutable_settings()->mutable_email()->set_smtp_url("smtp://127.0.0.1:" + std::to_string(smtp.port()));
  mail.mutable_settings()->mutable_email()->set_from_address("care@example.com");
  mail.mutable_update_mask()->add_paths("email.smtp_url");
  mail.mutable_update_mask()->add_paths("email.from_address");
  nv1::Settings settings;
  grpc::Status s = nstub_->UpdateSettings(Ctx(admin()).get(), mail, &settings);
  ASSERT_TRUE(s.ok()) << Describe(s);
  kv1::StaffMember lead = Staff("lead-ja", "Hanako Yamada", "en", "UTC");
  lead.set_alert_channel(MESSAGE_CHANNEL_EMAIL);
  lead.set_email("hanako@example.com");
  s = PutDirectory({lead}, "directory-email");
  ASSERT_TRUE(s.ok()) << Describe(s);
  kv1::Complaint c = FileForTeam();
  kv1::ResolveComplaintResponse resolved;
  s = complaints().ResolveComplaint(Ctx(agent()).get(), ResolveRequest(c.complaint_id(), 5000), &resolved);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_TRUE(Eventually([&] { return !smtp.mails().empty(); }, absl::Seconds(20))) << notif_->log();
  LetJobsRun();
  ASSERT_EQ(smtp.mails().size(), 1u);
  SmtpReceiver::Mail got = smtp.mails()[0];
  EXPECT_EQ(got.rcpt, "<hanako@example.com>");
  EXPECT_TRUE(absl::StrContains(got.data, "Approval needed: complaint " + c.complaint_id())) << got.data;
  EXPECT_TRUE(receiver_.requests().empty()) << "nothing on the webhook";
}

TEST_F(StaffAlertsTest, ADirectoryEntryWithoutAnAddressIsRefusedAndNothingIsStored) {
  kv1::StaffMember bad = Staff("agent-mail", "Mail Only", "en", "UTC");
  bad.set_alert_channel(MESSAGE_CHANNEL_EMAIL);
  grpc::Status s = PutDirectory({bad}, "directory-bad");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(s), "INVALID_FIELD");
  s = PutDirectory({Staff("twice", "A", "en", ""), Staff("twice", "B", "en", "")}, "directory-twice");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  kv1::ComplaintSettings settings;
  ASSERT_TRUE(complaints().GetComplaintSettings(Ctx(admin()).get(), {}, &settings).ok());
  ASSERT_EQ(settings.staff_size(), 2);
  EXPECT_EQ(settings.staff(0).agent_id(), "lead-ja");
}

}  // namespace
}  // namespace care::testing
