// Issue 15 through the real binaries: goodwill is ISSUED only once the
// receiver acknowledged it, with the receiver's reference; an event the
// outbox cannot deliver yet (peer not configured, wrong token) waits instead
// of dying; a receiver's domain refusal is dead, listed and replayed by an
// admin (care.common.v1.OutboxAdmin); approval limits count per complaint;
// every agent text a customer sees is checked for forbidden phrases with
// white space collapsed; text limits count characters.
#include "care/common/v1/outbox_admin.grpc.pb.h"
#include "care/promotion/v1/promotion.grpc.pb.h"
#include "tests/integration/complaint_fixture.h"

namespace care::testing {
namespace {

namespace cv1 = ::care::common::v1;
namespace pv1 = ::care::promotion::v1;

class ComplaintGoodwillTest : public ComplaintTest {
 protected:
  // Restarts complaint with the fixture's flags plus `extra` (a later flag
  // wins), keeping its database.
  void RestartComplaint(const std::vector<std::string>& extra) {
    std::vector<std::string> args{"--fake_clock",
                                  "--redis_port=" + std::to_string(redis_.port()),
                                  "--loyalty_target=" + service_->address(),
                                  "--notification_target=" + notification_.address(),
                                  "--service_token_file=" + dir_.path() + "/complaint_token",
                                  "--job_interval=50ms",
                                  "--outbox_interval=50ms",
                                  "--log_level=warn"};
    args.insert(args.end(), extra.begin(), extra.end());
    complaint_->Kill();
    complaint_->set_extra_args(args);
    ASSERT_TRUE(complaint_->Restart().ok()) << complaint_->log();
    cstub_ = kv1::ComplaintService::NewStub(complaint_->channel());
    cclock_ = care::common::v1::ClockControl::NewStub(complaint_->channel());
    SetBoth(Base());
  }

  std::unique_ptr<ServiceProcess> StartPromotion(int port) {
    std::ofstream(dir_.path() + "/quote_secret") << "goodwill-1 goodwill-test-secret-0123456789abcdef0123\n";
    auto p = std::make_unique<ServiceProcess>(
        CARE_PROMOTION_BIN, "care.promotion.v1.PromotionService",
        std::vector<std::string>{"--port=" + std::to_string(port), "--fake_clock",
                                 "--redis_port=" + std::to_string(redis_.port()),
                                 "--loyalty_target=" + service_->address(),
                                 "--service_token_file=" + dir_.path() + "/promotion_token",
                                 "--quote_token_secret_file=" + dir_.path() + "/quote_secret", "--log_level=warn"},
        tokens_);
    absl::Status s = p->Start();
    EXPECT_TRUE(s.ok()) << s << p->log();
    return p;
  }

  kv1::ResolveComplaintRequest VoucherResolve(const std::string& id, int64_t amount_minor) {
    kv1::ResolveComplaintRequest req = ResolveRequest(id, 0);
    auto* grant = req.mutable_compensation()->mutable_voucher();
    grant->mutable_amount()->set_amount_minor(amount_minor);
    grant->mutable_amount()->set_currency_code("USD");
    req.mutable_compensation()->set_reason_code("LATE_DELIVERY");
    return req;
  }

  kv1::Compensation Compensation(const std::string& complaint_id, int i = 0) {
    kv1::Complaint c = Get(complaint_id);
    return c.compensations_size() > i ? c.compensations(i) : kv1::Compensation();
  }

  std::vector<pv1::Voucher> Vouchers(pv1::PromotionService::Stub& promo, const std::string& member) {
    pv1::ListVouchersRequest list;
    list.set_member_id(member);
    pv1::ListVouchersResponse out;
    grpc::Status s = promo.ListVouchers(Ctx(admin()).get(), list, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return {out.vouchers().begin(), out.vouchers().end()};
  }

  std::unique_ptr<cv1::OutboxAdmin::Stub> OutboxAdmin() { return cv1::OutboxAdmin::NewStub(complaint_->channel()); }

  std::vector<cv1::DeadEvent> DeadEvents() {
    cv1::ListDeadEventsRequest req;
    cv1::ListDeadEventsResponse out;
    grpc::Status s = OutboxAdmin()->ListDeadEvents(Ctx(admin()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return {out.events().begin(), out.events().end()};
  }

  void PutPhrases(const std::string& locale, const std::vector<std::string>& phrases) {
    kv1::PutForbiddenPhrasesRequest put;
    put.set_request_id("phrases-" + locale);
    put.mutable_list()->set_locale(locale);
    for (const auto& p : phrases) put.mutable_list()->add_phrases(p);
    kv1::ForbiddenPhraseList list;
    grpc::Status s = complaints().PutForbiddenPhrases(Ctx(admin()).get(), put, &list);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  size_t Updates() { return notification_.Events(nv1::IngestEventRequest::kComplaintUpdate).size(); }
};

// Defect 11: PENDING (ISSUING) while loyalty is down; ISSUED with the ledger
// entry id once loyalty has it.
TEST_F(ComplaintGoodwillTest, PointsStayIssuingUntilLoyaltyHasThemThenCarryTheLedgerEntryId) {
  Enrol("m1");
  kv1::Complaint c = File("m1", "o-1");
  service_->Kill();
  kv1::ResolveComplaintResponse r;
  grpc::Status s = complaints().ResolveComplaint(Ctx(agent()).get(), ResolveRequest(c.complaint_id(), 100), &r);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(r.compensation().status(), kv1::COMPENSATION_STATUS_ISSUING);
  EXPECT_TRUE(r.compensation().issued_reference().empty());
  LetJobsRun();
  kv1::Compensation waiting = Compensation(c.complaint_id());
  EXPECT_EQ(waiting.status(), kv1::COMPENSATION_STATUS_ISSUING) << "shown issued while loyalty is down";
  EXPECT_TRUE(waiting.issued_reference().empty());

  ASSERT_TRUE(service_->Start().ok()) << service_->log();
  Connect();
  ASSERT_TRUE(Eventually([&] { return Compensation(c.complaint_id()).status() == kv1::COMPENSATION_STATUS_ISSUED; },
                         absl::Seconds(20)))
      << complaint_->log();
  kv1::Compensation issued = Compensation(c.complaint_id());
  std::string adjust_entry;
  for (const auto& e : Ledger("m1")) {
    if (e.kind() == lv1::LEDGER_ENTRY_KIND_ADJUST) adjust_entry = e.entry_id();
  }
  ASSERT_FALSE(adjust_entry.empty());
  EXPECT_EQ(issued.issued_reference(), adjust_entry);
  EXPECT_TRUE(issued.has_issue_time());
  EXPECT_EQ(Balance("m1").balance(), 100);
}

// Defects 4 and 11: promotion not configured yet (UNKNOWN_DESTINATION), then
// configured with a token that lacks the role (PERMISSION_DENIED): the
// voucher waits, nothing is dead; with the right token it is issued once and
// the complaint shows promotion's voucher code.
TEST_F(ComplaintGoodwillTest, AVoucherForAPeerNotConfiguredOrRefusingTheTokenWaitsAndArrivesOnceFixed) {
  Enrol("m1");
  kv1::Complaint c = File("m1", "o-1");
  kv1::ResolveComplaintResponse r;
  grpc::Status s = complaints().ResolveComplaint(Ctx(supervisor()).get(), VoucherResolve(c.complaint_id(), 500), &r);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(r.compensation().status(), kv1::COMPENSATION_STATUS_ISSUING);
  LetJobsRun();  // the fixture's complaint has no promotion_target
  EXPECT_TRUE(DeadEvents().empty()) << "an event for a peer not configured yet was killed";

  const int promo_port = FreePort();
  std::unique_ptr<ServiceProcess> promotion = StartPromotion(promo_port);
  ASSERT_TRUE(promotion->running());
  auto promo = pv1::PromotionService::NewStub(promotion->channel());
  // Configured, but with a token promotion refuses for IssueVoucher.
  std::ofstream(dir_.path() + "/agent_token") << tokens_.agent << "\n";
  RestartComplaint({"--promotion_target=127.0.0.1:" + std::to_string(promo_port),
                    "--service_token_file=" + dir_.path() + "/agent_token"});
  LetJobsRun();
  LetJobsRun();
  EXPECT_TRUE(DeadEvents().empty()) << "an event answered PERMISSION_DENIED was killed";
  EXPECT_TRUE(Vouchers(*promo, "m1").empty());
  EXPECT_EQ(Compensation(c.complaint_id()).status(), kv1::COMPENSATION_STATUS_ISSUING);

  RestartComplaint({"--promotion_target=127.0.0.1:" + std::to_string(promo_port)});
  ASSERT_TRUE(Eventually([&] { return Compensation(c.complaint_id()).status() == kv1::COMPENSATION_STATUS_ISSUED; },
                         absl::Seconds(30)))
      << complaint_->log();
  std::vector<pv1::Voucher> vouchers = Vouchers(*promo, "m1");
  ASSERT_EQ(vouchers.size(), 1u);
  kv1::Compensation issued = Compensation(c.complaint_id());
  EXPECT_EQ(issued.voucher_code(), vouchers[0].code());
  EXPECT_EQ(issued.issued_reference(), vouchers[0].code());
  EXPECT_EQ(vouchers[0].complaint_id(), c.complaint_id());
}

// Defect 4: a receiver's domain refusal (loyalty without a program:
// FAILED_PRECONDITION / PROGRAM_NOT_CONFIGURED) is dead, the compensation
// FAILED with the reason; an admin lists it and, once loyalty is set up,
// replays it: ISSUED with the ledger entry id.
TEST_F(ComplaintGoodwillTest, ADomainRefusalIsDeadListedAndReplayedByAnAdmin) {
  Enrol("m1");
  kv1::Complaint c = File("m1", "o-1");
  // A second, fresh loyalty: no program yet.
  auto fresh = std::make_unique<ServiceProcess>(
      CARE_LOYALTY_BIN, kLoyaltyHealth,
      std::vector<std::string>{"--fake_clock", "--redis_port=" + std::to_string(redis_.port()),
                               "--notification_target=" + notification_.address(),
                               "--service_token_file=" + dir_.path() + "/loyalty_token", "--log_level=warn"},
      tokens_);
  ASSERT_TRUE(fresh->Start().ok()) << fresh->log();
  RestartComplaint({"--loyalty_target=" + fresh->address()});
  kv1::ResolveComplaintResponse r;
  ASSERT_TRUE(complaints().ResolveComplaint(Ctx(agent()).get(), ResolveRequest(c.complaint_id(), 100), &r).ok());
  ASSERT_TRUE(Eventually([&] { return Compensation(c.complaint_id()).status() == kv1::COMPENSATION_STATUS_FAILED; }))
      << complaint_->log();
  EXPECT_EQ(Compensation(c.complaint_id()).failure_reason(), "PROGRAM_NOT_CONFIGURED");

  // Listed for an admin only.
  cv1::ListDeadEventsResponse listed;
  grpc::Status denied = OutboxAdmin()->ListDeadEvents(Ctx(agent()).get(), {}, &listed);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  std::vector<cv1::DeadEvent> dead = DeadEvents();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].event_id(), "complaint:" + r.compensation().compensation_id());
  EXPECT_EQ(dead[0].destination(), "loyalty");
  EXPECT_NE(dead[0].last_error().find("PROGRAM_NOT_CONFIGURED"), std::string::npos) << dead[0].last_error();

  // Loyalty is set up; the admin replays (twice with one request id: once).
  std::swap(service_, fresh);
  Connect();
  SetTime(Base());
  Configure();
  Enrol("m1");
  cv1::ReplayDeadEventsRequest replay;
  replay.set_request_id("replay-1");
  replay.add_event_ids(dead[0].event_id());
  cv1::ReplayDeadEventsResponse replayed;
  grpc::Status s = OutboxAdmin()->ReplayDeadEvents(Ctx(admin()).get(), replay, &replayed);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_EQ(replayed.event_ids_size(), 1);
  ASSERT_TRUE(Eventually([&] { return Compensation(c.complaint_id()).status() == kv1::COMPENSATION_STATUS_ISSUED; }))
      << complaint_->log();
  cv1::ReplayDeadEventsResponse again;
  ASSERT_TRUE(OutboxAdmin()->ReplayDeadEvents(Ctx(admin()).get(), replay, &again).ok());
  EXPECT_EQ(again.event_ids_size(), 1) << "a retry returns the first answer";
  LetJobsRun();
  EXPECT_TRUE(DeadEvents().empty());
  EXPECT_EQ(Balance("m1").balance(), 100);
  std::vector<std::string> adjustments;
  for (const auto& e : Ledger("m1")) {
    if (e.kind() == lv1::LEDGER_ENTRY_KIND_ADJUST) adjustments.push_back(e.entry_id());
  }
  ASSERT_EQ(adjustments.size(), 1u);
  EXPECT_EQ(Compensation(c.complaint_id()).issued_reference(), adjustments[0]);

  // Replaying nothing by accident is refused.
  cv1::ReplayDeadEventsRequest empty;
  empty.set_request_id("replay-2");
  EXPECT_EQ(BadFields(OutboxAdmin()->ReplayDeadEvents(Ctx(admin()).get(), empty, &again)),
            std::vector<std::string>{"event_ids"});
}

// Defect 14: an agent's limit (500 points) counts per complaint, across
// resolve -> reopen -> resolve.
TEST_F(ComplaintGoodwillTest, ApprovalLimitsAreCumulativePerComplaint) {
  Enrol("m1");
  kv1::Complaint c = File("m1", "o-1");
  kv1::ResolveComplaintResponse first;
  ASSERT_TRUE(complaints().ResolveComplaint(Ctx(agent()).get(), ResolveRequest(c.complaint_id(), 400), &first).ok());
  EXPECT_FALSE(first.pending_approval());
  kv1::ReopenComplaintRequest reopen;
  reopen.set_request_id("reopen-1");
  reopen.set_complaint_id(c.complaint_id());
  reopen.set_reason("Still broken");
  kv1::Complaint reopened;
  ASSERT_TRUE(complaints().ReopenComplaint(Ctx(agent()).get(), reopen, &reopened).ok());
  kv1::ResolveComplaintRequest again = ResolveRequest(c.complaint_id(), 400);
  again.set_request_id("resolve-again");
  kv1::ResolveComplaintResponse second;
  ASSERT_TRUE(complaints().ResolveComplaint(Ctx(agent()).get(), again, &second).ok());
  EXPECT_TRUE(second.pending_approval()) << "400 + 400 points is above the agent's 500 per complaint";
  EXPECT_EQ(second.compensation().status(), kv1::COMPENSATION_STATUS_PENDING_APPROVAL);
  ASSERT_TRUE(Eventually([&] { return Balance("m1").balance() == 400; }));
  LetJobsRun();
  EXPECT_EQ(Balance("m1").balance(), 400);
  // Within what is left (100) goes through.
  kv1::ApproveCompensationRequest approve;
  approve.set_request_id("approve-1");
  approve.set_complaint_id(c.complaint_id());
  approve.set_compensation_id(second.compensation().compensation_id());
  kv1::Complaint out;
  ASSERT_TRUE(complaints().ApproveCompensation(Ctx(supervisor()).get(), approve, &out).ok());
  ASSERT_TRUE(Eventually([&] { return Balance("m1").balance() == 800; }));
}

// Defect 10: replies, acknowledgement reasons and resolution summaries are
// checked, and white space inside a phrase does not hide it.
TEST_F(ComplaintGoodwillTest, ForbiddenPhrasesAreCheckedInEveryTextTheCustomerSees) {
  Enrol("m1");
  PutPhrases("en", {"calm down"});
  kv1::Complaint c = File("m1", "o-1");
  ASSERT_TRUE(Eventually([&] { return Updates() == 1; }));  // "received"

  kv1::ReplyToComplaintResponse reply;
  for (const std::string& text : {"Please calm  down.", "Please CALM\ndown.", "Please calm\t \r\n down.",
                                  "Please calm\xC2\xA0"
                                  "down."}) {
    grpc::Status s = Reply(c.complaint_id(), text, &reply);
    EXPECT_EQ(Reason(s), "FORBIDDEN_PHRASE") << text;
    EXPECT_EQ(ReasonMetadata(s, "phrases"), "calm down") << text;
  }

  kv1::TransitionComplaintRequest ack;
  ack.set_request_id("ack-1");
  ack.set_complaint_id(c.complaint_id());
  ack.set_to_status(kv1::COMPLAINT_STATUS_ACKNOWLEDGED);
  ack.set_reason("Got it, calm\n\ndown please");
  kv1::Complaint out;
  grpc::Status s = complaints().TransitionComplaint(Ctx(agent()).get(), ack, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_EQ(Reason(s), "FORBIDDEN_PHRASE");
  EXPECT_EQ(ReasonMetadata(s, "field"), "reason");

  kv1::ResolveComplaintRequest resolve = ResolveRequest(c.complaint_id(), 0);
  resolve.set_resolution_summary("Replaced the item. Calm  down.");
  kv1::ResolveComplaintResponse resolved;
  s = complaints().ResolveComplaint(Ctx(agent()).get(), resolve, &resolved);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_EQ(Reason(s), "FORBIDDEN_PHRASE");
  EXPECT_EQ(ReasonMetadata(s, "field"), "resolution_summary");

  // Nothing stored, nothing sent.
  LetJobsRun();
  EXPECT_EQ(Updates(), 1u);
  kv1::Complaint now = Get(c.complaint_id());
  EXPECT_EQ(now.status(), kv1::COMPLAINT_STATUS_NEW);
  EXPECT_FALSE(now.has_first_response_time());

  // Clean texts go through.
  ack.set_request_id("ack-2");
  ack.set_reason("We are looking into it.");
  ASSERT_TRUE(complaints().TransitionComplaint(Ctx(agent()).get(), ack, &out).ok());
  resolve.set_request_id("resolve-2");
  resolve.set_resolution_summary("Replaced the item.");
  ASSERT_TRUE(complaints().ResolveComplaint(Ctx(agent()).get(), resolve, &resolved).ok());
  ASSERT_TRUE(Eventually([&] { return Updates() == 3; }));
}

// Defect 8: limits count characters. 5,000 Vietnamese characters (2-3 bytes
// each) are a valid summary; 5,001 are not.
TEST_F(ComplaintGoodwillTest, TextLimitsCountCharactersNotBytes) {
  Enrol("m1");
  kv1::Complaint c = File("m1", "o-1", kv1::CATEGORY_DELIVERY, "vi");
  std::string summary;
  for (int i = 0; i < 5000; ++i) summary += "\xE1\xBB\x87";  // "ệ", 3 bytes
  kv1::ResolveComplaintRequest too_long = ResolveRequest(c.complaint_id(), 0);
  too_long.set_resolution_summary(summary + "a");
  kv1::ResolveComplaintResponse r;
  EXPECT_EQ(BadFields(complaints().ResolveComplaint(Ctx(agent()).get(), too_long, &r)),
            std::vector<std::string>{"resolution_summary"});
  kv1::TransitionComplaintRequest ack;
  ack.set_request_id("ack-long");
  ack.set_complaint_id(c.complaint_id());
  ack.set_to_status(kv1::COMPLAINT_STATUS_ACKNOWLEDGED);
  ack.set_reason(summary.substr(0, 3 * 2001));
  kv1::Complaint out;
  EXPECT_EQ(BadFields(complaints().TransitionComplaint(Ctx(agent()).get(), ack, &out)),
            std::vector<std::string>{"reason"});
  ack.set_reason(summary.substr(0, 3 * 2000));
  grpc::Status s = complaints().TransitionComplaint(Ctx(agent()).get(), ack, &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  // A points note loyalty's ledger would refuse for good is refused here.
  kv1::ResolveComplaintRequest long_note = ResolveRequest(c.complaint_id(), 100);
  long_note.mutable_compensation()->set_note(summary.substr(0, 3 * 501));
  EXPECT_EQ(BadFields(complaints().ResolveComplaint(Ctx(agent()).get(), long_note, &r)),
            std::vector<std::string>{"compensation.note"});
  long_note.mutable_compensation()->set_reason_code("late delivery");
  long_note.mutable_compensation()->set_note("");
  EXPECT_EQ(BadFields(complaints().ResolveComplaint(Ctx(agent()).get(), long_note, &r)),
            std::vector<std::string>{"compensation.reason_code"});
  kv1::ResolveComplaintRequest fits = ResolveRequest(c.complaint_id(), 0);
  fits.set_resolution_summary(summary);
  s = complaints().ResolveComplaint(Ctx(agent()).get(), fits, &r);
  EXPECT_TRUE(s.ok()) << Describe(s);
}

}  // namespace
}  // namespace care::testing
