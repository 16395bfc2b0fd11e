#pragma once

// The complaint fixture: the real care_complaint and care_loyalty binaries
// under fake clocks with a private redis-server; customer messages go to a
// recording notification service. Only generated stubs are used.
#include <fstream>

#include "absl/strings/str_cat.h"
#include "care/complaint/v1/complaint.grpc.pb.h"
#include "tests/integration/loyalty_fixture.h"

namespace care::testing {

namespace kv1 = ::care::complaint::v1;

constexpr char kComplaintHealth[] = "care.complaint.v1.ComplaintService";

inline absl::TimeZone Hanoi() {
  absl::TimeZone z;
  absl::LoadTimeZone("Asia/Ho_Chi_Minh", &z);
  return z;
}
inline absl::Time HanoiTime(int y, int m, int d, int hh, int mm) {
  return absl::FromCivil(absl::CivilMinute(y, m, d, hh, mm), Hanoi());
}

class ComplaintTest : public LoyaltyTest {
 protected:
  // Loyalty on a fixed port, so a restarted loyalty is found where it was.
  std::vector<std::string> ExtraArgs() override { return {"--port=" + std::to_string(loyalty_port_)}; }

  void SetUp() override {
    LoyaltyTest::SetUp();
    if (HasFatalFailure()) return;
    Configure();
    complaint_ = std::make_unique<ServiceProcess>(CARE_COMPLAINT_BIN, kComplaintHealth, ComplaintArgs(), tokens_);
    absl::Status started = complaint_->Start();
    ASSERT_TRUE(started.ok()) << started;
    cstub_ = kv1::ComplaintService::NewStub(complaint_->channel());
    cclock_ = care::common::v1::ClockControl::NewStub(complaint_->channel());
    SetBoth(Base());
  }

  // The flags of care_complaint (every replica of a test gets the same).
  std::vector<std::string> ComplaintArgs() {
    std::vector<std::string> args{"--fake_clock",
                                  "--redis_port=" + std::to_string(redis_.port()),
                                  "--loyalty_target=" + service_->address(),
                                  "--notification_target=" + notification_.address(),
                                  "--service_token_file=" + dir_.path() + "/complaint_token",
                                  "--job_interval=50ms",
                                  "--outbox_interval=50ms",
                                  "--log_level=warn"};
    for (auto& a : ExtraComplaintArgs()) args.push_back(std::move(a));
    return args;
  }
  // Sets another service's fake clock to the tests' base time.
  void SetBaseTime(ServiceProcess& p) {
    care::common::v1::SetTimeRequest req;
    *req.mutable_time() = ToTimestamp(Base());
    care::common::v1::GetTimeResponse r;
    grpc::Status s = care::common::v1::ClockControl::NewStub(p.channel())->SetTime(Ctx(admin()).get(), req, &r);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  // The flags of a real care_promotion reading this loyalty (its quote
  // secret written beside the tokens), for fixtures that start one.
  std::vector<std::string> PromotionArgs() {
    std::ofstream(dir_.path() + "/quote_secret") << "test-1 fixture-quote-secret-0123456789abcdef0123\n";
    return {"--fake_clock", "--redis_port=" + std::to_string(redis_.port()), "--loyalty_target=" + service_->address(),
            "--service_token_file=" + dir_.path() + "/promotion_token",
            "--quote_token_secret_file=" + dir_.path() + "/quote_secret"};
  }
  // More flags for care_complaint, for fixtures that need them.
  virtual std::vector<std::string> ExtraComplaintArgs() { return {}; }

  // Moves both services' clocks (the SLA job runs on complaint's).
  void SetBoth(absl::Time t) {
    SetTime(t);
    care::common::v1::SetTimeRequest req;
    *req.mutable_time() = ToTimestamp(t);
    care::common::v1::GetTimeResponse r;
    grpc::Status s = cclock_->SetTime(Ctx(admin()).get(), req, &r);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  kv1::ComplaintService::Stub& complaints() { return *cstub_; }
  const std::string& agent() const { return tokens_.agent; }
  const std::string& supervisor() const { return tokens_.supervisor; }

  // Mon-Fri 09:00-18:00 in Asia/Ho_Chi_Minh, with optional holidays.
  void Calendar(const std::string& id, const std::vector<kv1::Date>& holidays = {}) {
    kv1::CreateBusinessCalendarRequest req;
    req.set_request_id("cal-" + id);
    kv1::BusinessCalendar* c = req.mutable_calendar();
    c->set_calendar_id(id);
    c->set_time_zone("Asia/Ho_Chi_Minh");
    for (int d = kv1::WEEKDAY_MONDAY; d <= kv1::WEEKDAY_FRIDAY; ++d) {
      kv1::BusinessHours* h = c->add_weekly_hours();
      h->set_day(static_cast<kv1::Weekday>(d));
      h->mutable_start()->set_hours(9);
      h->mutable_end()->set_hours(18);
    }
    for (auto& d : holidays) *c->add_holidays()->mutable_date() = d;
    kv1::BusinessCalendar out;
    grpc::Status s = complaints().CreateBusinessCalendar(Ctx(admin()).get(), req, &out);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  // "utc": open every day 00:00-23:59 UTC, so targets are wall time.
  void UtcCalendar() {
    kv1::CreateBusinessCalendarRequest req;
    req.set_request_id("cal-utc");
    kv1::BusinessCalendar* c = req.mutable_calendar();
    c->set_calendar_id("utc");
    c->set_time_zone("UTC");
    for (int d = kv1::WEEKDAY_MONDAY; d <= kv1::WEEKDAY_SUNDAY; ++d) {
      kv1::BusinessHours* h = c->add_weekly_hours();
      h->set_day(static_cast<kv1::Weekday>(d));
      h->mutable_end()->set_hours(23);
      h->mutable_end()->set_minutes(59);
    }
    kv1::BusinessCalendar out;
    grpc::Status s = complaints().CreateBusinessCalendar(Ctx(admin()).get(), req, &out);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  // A policy with a first-response target and two escalation levels on it.
  void Policy(const std::string& id, int order, absl::Duration first_response, const std::string& calendar,
              const std::vector<std::string>& tiers = {}) {
    kv1::CreateSlaPolicyRequest req;
    req.set_request_id("policy-" + id);
    kv1::SlaPolicy* p = req.mutable_policy();
    p->set_sla_policy_id(id);
    p->set_evaluation_order(order);
    p->set_enabled(true);
    for (auto& t : tiers) p->add_tier_ids(t);
    *p->mutable_first_response_target() = ToDurationProto(first_response);
    *p->mutable_resolution_target() = ToDurationProto(absl::Hours(40));
    p->set_calendar_id(calendar);
    kv1::EscalationLevel* l1 = p->add_escalation_levels();
    l1->set_level(1);
    l1->set_target(kv1::SLA_TARGET_FIRST_RESPONSE);
    l1->add_actions(kv1::ESCALATION_ACTION_NOTIFY_TEAM_LEAD);
    kv1::EscalationLevel* l2 = p->add_escalation_levels();
    l2->set_level(2);
    l2->set_target(kv1::SLA_TARGET_FIRST_RESPONSE);
    *l2->mutable_offset() = ToDurationProto(absl::Hours(1));
    l2->add_actions(kv1::ESCALATION_ACTION_RAISE_PRIORITY);
    l2->add_actions(kv1::ESCALATION_ACTION_REASSIGN_TO_SUPERVISOR_QUEUE);
    l2->set_supervisor_queue_team_id("supervisors");
    kv1::SlaPolicy out;
    grpc::Status s = complaints().CreateSlaPolicy(Ctx(admin()).get(), req, &out);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  kv1::Complaint File(const std::string& member, const std::string& order = "",
                      kv1::Category category = kv1::CATEGORY_DELIVERY, const std::string& locale = "en",
                      std::string* duplicate_of = nullptr) {
    kv1::CreateComplaintRequest req;
    req.set_request_id(absl::StrCat("file-", ++counter_));
    req.set_member_id(member);
    req.set_channel(kv1::CHANNEL_PHONE);
    req.set_category(category);
    req.set_order_id(order);
    req.set_description("The parcel arrived broken");
    req.set_locale(locale);
    kv1::CreateComplaintResponse out;
    grpc::Status s = complaints().CreateComplaint(Ctx(agent()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    if (duplicate_of != nullptr) *duplicate_of = out.likely_duplicate_of();
    return out.complaint();
  }

  kv1::Complaint Get(const std::string& id) {
    kv1::GetComplaintRequest req;
    req.set_complaint_id(id);
    kv1::Complaint out;
    grpc::Status s = complaints().GetComplaint(Ctx(agent()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  std::vector<kv1::ComplaintEvent> Events(const std::string& id) {
    kv1::ListComplaintEventsRequest req;
    req.set_complaint_id(id);
    req.set_page_size(1000);
    kv1::ListComplaintEventsResponse out;
    grpc::Status s = complaints().ListComplaintEvents(Ctx(agent()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return {out.events().begin(), out.events().end()};
  }
  int CountEvents(const std::string& id, kv1::ComplaintEventKind kind) {
    int n = 0;
    for (const auto& e : Events(id)) n += e.kind() == kind;
    return n;
  }

  // The desk's metrics by category from an hour before Base() to `end`, its
  // compute time cleared so two reads compare equal.
  kv1::ComplaintMetrics MetricsByCategory(absl::Time end) {
    kv1::GetComplaintMetricsRequest req;
    *req.mutable_start_time() = ToTimestamp(Base() - absl::Hours(1));
    *req.mutable_end_time() = ToTimestamp(end);
    req.add_group_by(kv1::METRICS_DIMENSION_CATEGORY);
    kv1::ComplaintMetrics m;
    grpc::Status s = complaints().GetComplaintMetrics(Ctx(supervisor()).get(), req, &m);
    EXPECT_TRUE(s.ok()) << Describe(s);
    m.clear_compute_time();
    return m;
  }

  // Once the survey invitations number `invited`, answers the last one as
  // the member would (through the inbox's service), then waits until the
  // ticket's one compensation is ISSUED.
  void AnswerSurvey(const std::string& id, size_t invited, const std::string& request_id, int score,
                    const std::string& comment) {
    std::vector<nv1::IngestEventRequest> invites;
    ASSERT_TRUE(Eventually([&] {
      invites = notification_.Events(nv1::IngestEventRequest::kSatisfactionSurvey);
      return invites.size() == invited;
    }));
    kv1::SubmitSurveyResponseRequest answer;
    answer.set_request_id(request_id);
    answer.set_survey_token(invites.back().satisfaction_survey().survey_token());
    answer.set_score(score);
    answer.set_comment(comment);
    kv1::SurveyResponse sr;
    ASSERT_TRUE(complaints().SubmitSurveyResponse(Ctx(svc()).get(), answer, &sr).ok());
    ASSERT_TRUE(Eventually([&] {
      kv1::Complaint c = Get(id);
      return c.compensations_size() == 1 && c.compensations(0).status() == kv1::COMPENSATION_STATUS_ISSUED;
    }));
  }

  grpc::Status Reply(const std::string& id, const std::string& text, kv1::ReplyToComplaintResponse* out,
                     bool wait = false) {
    kv1::ReplyToComplaintRequest req;
    req.set_request_id(absl::StrCat("reply-", ++counter_));
    req.set_complaint_id(id);
    req.set_text(text);
    req.set_wait_for_customer(wait);
    *req.mutable_consultation_time() = ToDurationProto(absl::Minutes(5));
    return complaints().ReplyToComplaint(Ctx(agent()).get(), req, out);
  }

  kv1::ResolveComplaintRequest ResolveRequest(const std::string& id, int64_t points) {
    kv1::ResolveComplaintRequest req;
    req.set_request_id("resolve-" + id);
    req.set_complaint_id(id);
    req.set_resolution_summary("Replaced the item");
    if (points > 0) {
      req.mutable_compensation()->set_points(points);
      req.mutable_compensation()->set_reason_code("LATE_DELIVERY");
    }
    return req;
  }

  // Lets the 50 ms SLA job run a few times before a "nothing happened" check.
  static void LetJobsRun() { std::this_thread::sleep_for(std::chrono::milliseconds(400)); }

  int loyalty_port_ = FreePort();
  std::unique_ptr<ServiceProcess> complaint_;
  std::unique_ptr<kv1::ComplaintService::Stub> cstub_;
  std::unique_ptr<care::common::v1::ClockControl::Stub> cclock_;
  int counter_ = 0;
};

// Complaint with the real notification service behind it (its messages and
// alerts go there): notification starts first, complaint on a fixed port.
class ComplaintNotificationTest : public ComplaintTest {
 protected:
  std::vector<std::string> ExtraComplaintArgs() override {
    return {"--port=" + std::to_string(complaint_port_),
            "--notification_target=127.0.0.1:" + std::to_string(notification_port_)};
  }

  void SetUp() override {
    LoyaltyTest::SetUp();  // NOLINT(bugprone-parent-virtual-call): notification starts before complaint
    if (HasFatalFailure()) return;
    Configure();
    notif_ = std::make_unique<ServiceProcess>(CARE_NOTIFICATION_BIN, "care.notification.v1.NotificationService",
                                              NotificationArgs({"--port=" + std::to_string(notification_port_),
                                                                // The tests' SMTP receiver speaks no TLS.
                                                                "--smtp_allow_plaintext=true"}),
                                              tokens_);
    ASSERT_TRUE(notif_->Start().ok()) << notif_->log();
    nstub_ = nv1::NotificationService::NewStub(notif_->channel());
    complaint_ = std::make_unique<ServiceProcess>(CARE_COMPLAINT_BIN, kComplaintHealth, ComplaintArgs(), tokens_);
    ASSERT_TRUE(complaint_->Start().ok()) << complaint_->log();
    cstub_ = kv1::ComplaintService::NewStub(complaint_->channel());
    cclock_ = care::common::v1::ClockControl::NewStub(complaint_->channel());
    SetAll(Base());
  }

  // Every service's clock, notification's first: it refuses events from more
  // than five minutes ahead of it, which complaint's jobs could send between.
  void SetAll(absl::Time t) {
    care::common::v1::SetTimeRequest req;
    *req.mutable_time() = ToTimestamp(t);
    care::common::v1::GetTimeResponse r;
    grpc::Status s = care::common::v1::ClockControl::NewStub(notif_->channel())->SetTime(Ctx(admin()).get(), req, &r);
    ASSERT_TRUE(s.ok()) << Describe(s);
    SetBoth(t);
  }

  int notification_port_ = FreePort();
  int complaint_port_ = FreePort();
  std::unique_ptr<ServiceProcess> notif_;
  std::unique_ptr<nv1::NotificationService::Stub> nstub_;
};

}  // namespace care::testing
