// The agent desk through the real binaries: queues and pagination,
// assignment and hand-over, the conversation, reopening and auto-close,
// compensation rejection, scripts, configuration edits and grouped metrics.
#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include "care/promotion/v1/promotion.grpc.pb.h"
#include "tests/integration/complaint_fixture.h"
#include "tests/integration/filter_bounds.h"

namespace care::testing {
namespace {

class ComplaintDeskTest : public ComplaintTest {
 protected:
  kv1::Complaint Assign(const std::string& id, const std::string& agent_id, const std::string& team) {
    kv1::AssignComplaintRequest req;
    req.set_request_id(absl::StrCat("assign-", ++counter_));
    req.set_complaint_id(id);
    req.set_agent_id(agent_id);
    req.set_team_id(team);
    kv1::Complaint out;
    grpc::Status s = complaints().AssignComplaint(Ctx(agent()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  grpc::Status List(const kv1::ListComplaintsRequest& req, std::vector<std::string>* ids, std::string* next = nullptr) {
    kv1::ListComplaintsResponse out;
    grpc::Status s = complaints().ListComplaints(Ctx(agent()).get(), req, &out);
    for (const auto& c : out.complaints()) ids->push_back(c.complaint_id());
    if (next != nullptr) *next = out.next_page_token();
    return s;
  }

  // Every page of `req`, following next_page_token.
  std::vector<std::string> ListAll(kv1::ListComplaintsRequest req) {
    std::vector<std::string> ids;
    for (int pages = 0; pages < 50; ++pages) {
      std::string next;
      grpc::Status s = List(req, &ids, &next);
      EXPECT_TRUE(s.ok()) << Describe(s);
      if (!s.ok() || next.empty()) break;
      req.set_page_token(next);
    }
    return ids;
  }

  kv1::ResolveComplaintResponse Resolve(const std::string& id, int64_t points = 0) {
    kv1::ResolveComplaintResponse r;
    grpc::Status s = complaints().ResolveComplaint(Ctx(agent()).get(), ResolveRequest(id, points), &r);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return r;
  }
};

TEST_F(ComplaintDeskTest, QueuesFilterAndPageThroughEveryComplaintOnce) {
  Enrol("m1");
  Enrol("m2");
  std::vector<std::string> filed;
  for (int i = 0; i < 7; ++i) {
    SetBoth(Base() + absl::Minutes(i));
    filed.push_back(File(i % 2 ? "m2" : "m1", absl::StrCat("o-", i)).complaint_id());
  }
  Assign(filed[1], "agent-7", "delivery");
  Assign(filed[4], "agent-7", "delivery");
  Assign(filed[5], "", "delivery");

  // Newest first, three per page: every complaint exactly once.
  kv1::ListComplaintsRequest all;
  all.set_page_size(3);
  std::vector<std::string> expected(filed.rbegin(), filed.rend());
  EXPECT_EQ(ListAll(all), expected);
  all.set_order_by("receive_time");
  EXPECT_EQ(ListAll(all), filed);

  kv1::ListComplaintsRequest mine;
  mine.set_assignee_agent_id("agent-7");
  EXPECT_EQ(ListAll(mine), (std::vector<std::string>{filed[4], filed[1]}));
  kv1::ListComplaintsRequest unclaimed;
  unclaimed.set_team_id("delivery");
  unclaimed.set_unassigned_only(true);
  EXPECT_EQ(ListAll(unclaimed), std::vector<std::string>{filed[5]});
  kv1::ListComplaintsRequest member;
  member.set_member_id("m2");
  member.set_page_size(2);
  EXPECT_EQ(ListAll(member), (std::vector<std::string>{filed[5], filed[3], filed[1]}));

  // A token is bound to the filters it was issued for.
  std::vector<std::string> ids;
  std::string next;
  ASSERT_TRUE(List(member, &ids, &next).ok());
  ASSERT_FALSE(next.empty());
  kv1::ListComplaintsRequest other;
  other.set_member_id("m1");
  other.set_page_size(2);
  other.set_page_token(next);
  grpc::Status s = List(other, &ids);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(s), "INVALID_PAGE_TOKEN");
  kv1::ListComplaintsRequest bad_order;
  bad_order.set_order_by("priority");
  s = List(bad_order, &ids);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"order_by"});
}

TEST_F(ComplaintDeskTest, WorkQueueOrdersByEarliestDueTimeAndFindsBreachedTickets) {
  Calendar("office");
  Policy("standard", 10, absl::Hours(4), "office");
  Enrol("m1");
  SetBoth(HanoiTime(2031, 1, 20, 9, 0));  // Monday
  std::string late = File("m1", "o-1").complaint_id();
  SetBoth(HanoiTime(2031, 1, 20, 10, 0));
  std::string later = File("m1", "o-2").complaint_id();
  // Answered: no running first-response clock, so the resolution clock (40 h) sorts it.
  kv1::ReplyToComplaintResponse reply;
  ASSERT_TRUE(Reply(late, "On it", &reply).ok());
  kv1::ListComplaintsRequest queue;
  queue.set_order_by("due_time");
  EXPECT_EQ(ListAll(queue), (std::vector<std::string>{later, late}));

  SetBoth(HanoiTime(2031, 1, 20, 14, 1));
  ASSERT_TRUE(Eventually([&] { return Get(later).first_response_sla().breached(); }));
  kv1::ListComplaintsRequest breached;
  breached.set_breached_only(true);
  EXPECT_EQ(ListAll(breached), std::vector<std::string>{later});
  // The first escalation level notified nobody (no team lead) but is recorded.
  kv1::ListComplaintsRequest escalated;
  escalated.set_escalation_notified_agent_id("lead-1");
  EXPECT_TRUE(ListAll(escalated).empty());
}

TEST_F(ComplaintDeskTest, TransferCarriesTheHandoverNoteAndEveryStepIsInTheAuditTrail) {
  Enrol("m1");
  kv1::Complaint c = File("m1", "o-1");
  Assign(c.complaint_id(), "agent-1", "delivery");

  kv1::TransferComplaintRequest t;
  t.set_request_id("transfer-1");
  t.set_complaint_id(c.complaint_id());
  t.set_to_agent_id("agent-2");
  t.set_to_team_id("returns");
  t.set_handover_note("Promised a call back before Friday; refund is approved");
  kv1::Complaint out;
  ASSERT_TRUE(complaints().TransferComplaint(Ctx(agent()).get(), t, &out).ok());
  kv1::Complaint now = Get(c.complaint_id());
  EXPECT_EQ(now.assignee_agent_id(), "agent-2");
  EXPECT_EQ(now.team_id(), "returns");
  EXPECT_EQ(now.handover().note(), "Promised a call back before Friday; refund is approved");
  EXPECT_EQ(now.handover().from_agent_id(), "agent-1");
  EXPECT_EQ(now.handover().from_team_id(), "delivery");
  EXPECT_FALSE(now.handover().actor().principal_id().empty());

  // A retry changes nothing; a transfer without a note is refused.
  ASSERT_TRUE(complaints().TransferComplaint(Ctx(agent()).get(), t, &out).ok());
  EXPECT_EQ(CountEvents(c.complaint_id(), kv1::COMPLAINT_EVENT_KIND_TRANSFERRED), 1);
  t.set_request_id("transfer-2");
  t.clear_handover_note();
  grpc::Status s = complaints().TransferComplaint(Ctx(agent()).get(), t, &out);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"handover_note"});

  kv1::Complaint before = Get(c.complaint_id());
  for (const auto& e : Events(c.complaint_id())) {
    if (e.kind() == kv1::COMPLAINT_EVENT_KIND_TRANSFERRED) {
      EXPECT_EQ(e.assignment().handover_note(), "Promised a call back before Friday; refund is approved");
      EXPECT_EQ(e.assignment().to_agent_id(), "agent-2");
    }
  }
  EXPECT_EQ(CountEvents(c.complaint_id(), kv1::COMPLAINT_EVENT_KIND_ASSIGNED), 1);
  EXPECT_EQ(before.version(), now.version());
}

TEST_F(ComplaintDeskTest, ACustomerMessageResumesTheClocksAndNotesAreAllowedWhenClosed) {
  Calendar("office");
  Policy("standard", 10, absl::Hours(4), "office");
  Enrol("m1");
  SetBoth(HanoiTime(2031, 1, 20, 9, 0));  // Monday
  kv1::Complaint c = File("m1", "o-1");
  kv1::ReplyToComplaintResponse reply;
  SetBoth(HanoiTime(2031, 1, 20, 10, 0));
  ASSERT_TRUE(Reply(c.complaint_id(), "Could you send a photo of the parcel?", &reply, /*wait=*/true).ok());
  EXPECT_EQ(reply.complaint().status(), kv1::COMPLAINT_STATUS_WAITING_ON_CUSTOMER);
  EXPECT_TRUE(Get(c.complaint_id()).resolution_sla().paused());

  // Two business hours pass while we wait: they do not count.
  SetBoth(HanoiTime(2031, 1, 20, 12, 0));
  kv1::RecordCustomerMessageRequest msg;
  msg.set_request_id("crm-msg-1");
  msg.set_complaint_id(c.complaint_id());
  msg.set_text("Here is the photo");
  msg.set_channel(kv1::CHANNEL_EMAIL);
  *msg.mutable_consultation_time() = ToDurationProto(absl::Minutes(3));
  kv1::RecordCustomerMessageResponse got;
  ASSERT_TRUE(complaints().RecordCustomerMessage(Ctx(svc()).get(), msg, &got).ok());
  EXPECT_EQ(got.complaint().status(), kv1::COMPLAINT_STATUS_IN_PROGRESS);
  kv1::Complaint resumed = Get(c.complaint_id());
  EXPECT_FALSE(resumed.resolution_sla().paused());
  // 40 h target, 1 h used before the pause: due 39 business hours from Monday 12:00.
  EXPECT_EQ(FromDurationProto(resumed.resolution_sla().time_to_breach()), absl::Hours(39));
  EXPECT_EQ(FromDurationProto(resumed.total_consultation_time()), absl::Minutes(8));
  EXPECT_EQ(got.event().customer_message().text(), "Here is the photo");

  kv1::TransitionComplaintRequest close;
  close.set_request_id("close-1");
  close.set_complaint_id(c.complaint_id());
  close.set_to_status(kv1::COMPLAINT_STATUS_CLOSED);
  close.set_reason("customer withdrew the complaint");
  kv1::Complaint closed;
  ASSERT_TRUE(complaints().TransitionComplaint(Ctx(agent()).get(), close, &closed).ok());
  kv1::AddNoteRequest note;
  note.set_request_id("note-1");
  note.set_complaint_id(c.complaint_id());
  note.set_text("Customer called to say thanks");
  kv1::AddNoteResponse noted;
  ASSERT_TRUE(complaints().AddNote(Ctx(agent()).get(), note, &noted).ok());
  EXPECT_EQ(noted.event().note().text(), "Customer called to say thanks");
  msg.set_request_id("crm-msg-2");
  grpc::Status s = complaints().RecordCustomerMessage(Ctx(svc()).get(), msg, &got);
  EXPECT_EQ(Reason(s), "COMPLAINT_CLOSED");
  // Nothing sent to the customer for the note.
  for (const auto& e : notification_.Events(nv1::IngestEventRequest::kComplaintUpdate)) {
    EXPECT_NE(e.complaint_update().message(), "Customer called to say thanks");
  }
}

TEST_F(ComplaintDeskTest, ReopenWithinTheWindowCancelsTheCheckInAndTheJobClosesAfterIt) {
  Enrol("m1");
  kv1::Complaint a = File("m1", "o-1");
  kv1::Complaint b = File("m1", "o-2");
  Resolve(a.complaint_id());
  Resolve(b.complaint_id());
  kv1::Complaint resolved = Get(a.complaint_id());
  EXPECT_EQ(resolved.check_in().status(), kv1::CHECK_IN_STATUS_SCHEDULED);
  EXPECT_EQ(FromTimestamp(resolved.reopen_deadline()), Base() + absl::Hours(24 * 7));

  SetBoth(Base() + absl::Hours(24));
  kv1::ReopenComplaintRequest reopen;
  reopen.set_request_id("reopen-1");
  reopen.set_complaint_id(a.complaint_id());
  reopen.set_reason("The replacement is broken too");
  kv1::Complaint reopened;
  ASSERT_TRUE(complaints().ReopenComplaint(Ctx(svc()).get(), reopen, &reopened).ok());
  EXPECT_EQ(reopened.status(), kv1::COMPLAINT_STATUS_REOPENED);
  EXPECT_EQ(reopened.reopen_count(), 1);
  EXPECT_EQ(reopened.check_in().status(), kv1::CHECK_IN_STATUS_CANCELLED);
  EXPECT_FALSE(reopened.resolution_sla().has_met_time());

  // Day 3: only the complaint still resolved gets its check-in.
  SetBoth(Base() + absl::Hours(24 * 3) + absl::Minutes(1));
  ASSERT_TRUE(Eventually([&] { return Get(b.complaint_id()).check_in().status() == kv1::CHECK_IN_STATUS_SENT; }));
  std::vector<nv1::IngestEventRequest> check_ins;
  ASSERT_TRUE(Eventually([&] {
    check_ins = notification_.Events(nv1::IngestEventRequest::kProactiveCheckIn);
    return !check_ins.empty();
  }));
  LetJobsRun();
  check_ins = notification_.Events(nv1::IngestEventRequest::kProactiveCheckIn);
  ASSERT_EQ(check_ins.size(), 1u);
  EXPECT_EQ(check_ins[0].proactive_check_in().complaint_id(), b.complaint_id());

  // After the window: b closes by itself and cannot be reopened.
  SetBoth(Base() + absl::Hours(24 * 7) + absl::Minutes(1));
  ASSERT_TRUE(Eventually([&] { return Get(b.complaint_id()).status() == kv1::COMPLAINT_STATUS_CLOSED; }));
  reopen.set_request_id("reopen-2");
  reopen.set_complaint_id(b.complaint_id());
  grpc::Status s = complaints().ReopenComplaint(Ctx(svc()).get(), reopen, &reopened);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(s), "COMPLAINT_CLOSED");
  EXPECT_EQ(Get(a.complaint_id()).status(), kv1::COMPLAINT_STATUS_REOPENED);
}

TEST_F(ComplaintDeskTest, ReopeningAfterTheDeadlineIsRefused) {
  Enrol("m1");
  kv1::UpdateComplaintSettingsRequest settings;
  settings.set_request_id("settings-1");
  *settings.mutable_settings()->mutable_reopen_window() = ToDurationProto(absl::Hours(24));
  settings.mutable_update_mask()->add_paths("reopen_window");
  kv1::ComplaintSettings saved;
  ASSERT_TRUE(complaints().UpdateComplaintSettings(Ctx(admin()).get(), settings, &saved).ok());
  kv1::Complaint c = File("m1", "o-1");
  Resolve(c.complaint_id());
  // Pause the job's effect by checking right at the deadline.
  SetBoth(Base() + absl::Hours(24));
  kv1::ReopenComplaintRequest reopen;
  reopen.set_request_id("reopen-late");
  reopen.set_complaint_id(c.complaint_id());
  reopen.set_reason("Still broken");
  kv1::Complaint out;
  grpc::Status s = complaints().ReopenComplaint(Ctx(svc()).get(), reopen, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(Reason(s) == "REOPEN_WINDOW_EXPIRED" || Reason(s) == "COMPLAINT_CLOSED") << Reason(s);
}

TEST_F(ComplaintDeskTest, ARejectedCompensationIssuesNothingAndTheAgentResolvesAgain) {
  Enrol("m1");
  kv1::Complaint c = File("m1", "o-1");
  kv1::ResolveComplaintResponse r = Resolve(c.complaint_id(), 2000);
  ASSERT_TRUE(r.pending_approval());
  // The resolution is parked: the complaint keeps its status and clocks.
  EXPECT_EQ(r.complaint().status(), kv1::COMPLAINT_STATUS_NEW);
  EXPECT_TRUE(notification_.Events(nv1::IngestEventRequest::kSatisfactionSurvey).empty());

  kv1::RejectCompensationRequest reject;
  reject.set_request_id("reject-1");
  reject.set_complaint_id(c.complaint_id());
  reject.set_compensation_id(r.compensation().compensation_id());
  reject.set_reason("2000 points is too much for a late parcel");
  kv1::Complaint out;
  grpc::Status self = complaints().RejectCompensation(Ctx(agent()).get(), reject, &out);
  EXPECT_EQ(self.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(complaints().RejectCompensation(Ctx(supervisor()).get(), reject, &out).ok());
  EXPECT_EQ(out.compensations(0).status(), kv1::COMPENSATION_STATUS_REJECTED);
  EXPECT_EQ(out.status(), kv1::COMPLAINT_STATUS_NEW);
  reject.set_request_id("reject-2");
  EXPECT_EQ(Reason(complaints().RejectCompensation(Ctx(supervisor()).get(), reject, &out)), "COMPENSATION_NOT_PENDING");

  kv1::ResolveComplaintRequest again = ResolveRequest(c.complaint_id(), 200);
  again.set_request_id("resolve-again");
  kv1::ResolveComplaintResponse r2;
  ASSERT_TRUE(complaints().ResolveComplaint(Ctx(agent()).get(), again, &r2).ok());
  EXPECT_FALSE(r2.pending_approval());
  EXPECT_EQ(r2.complaint().status(), kv1::COMPLAINT_STATUS_RESOLVED);
  ASSERT_TRUE(Eventually([&] { return Balance("m1").balance() == 200; }));
  LetJobsRun();
  EXPECT_EQ(Balance("m1").balance(), 200);
}

TEST_F(ComplaintDeskTest, ScriptsAreVersionedAndAComplaintGetsItsLocalesScriptWithFallback) {
  Enrol("m1");
  auto put = [&](const std::string& locale, const std::string& title, int64_t expected) {
    kv1::PutScriptRequest req;
    req.set_request_id(absl::StrCat("script-", ++counter_));
    req.mutable_script()->set_category(kv1::CATEGORY_DELIVERY);
    req.mutable_script()->set_locale(locale);
    req.mutable_script()->set_title(title);
    kv1::ScriptStep* step = req.mutable_script()->add_steps();
    step->set_title("Verify the order");
    step->set_instructions("Ask for the order number and check the carrier's tracking");
    kv1::ScriptFaq* faq = req.mutable_script()->add_faqs();
    faq->set_question("When will my parcel arrive?");
    faq->set_answer("Within two working days of the new dispatch");
    req.set_expected_version(expected);
    kv1::Script out;
    grpc::Status s = complaints().PutScript(Ctx(admin()).get(), req, &out);
    return std::make_pair(s, out);
  };
  auto [s1, v1] = put("", "Late delivery", 0);
  ASSERT_TRUE(s1.ok()) << Describe(s1);
  EXPECT_EQ(v1.version(), 1);
  auto [s2, v2] = put("", "Late delivery (2024)", 1);
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(v2.version(), 2);
  auto [s3, stale] = put("", "Stale edit", 1);
  EXPECT_EQ(s3.error_code(), grpc::StatusCode::ABORTED);
  auto [s4, vi] = put("vi", "Giao hàng trễ", 0);
  ASSERT_TRUE(s4.ok());

  kv1::GetScriptRequest get;
  get.set_category(kv1::CATEGORY_DELIVERY);
  get.set_version(1);
  kv1::Script got;
  ASSERT_TRUE(complaints().GetScript(Ctx(agent()).get(), get, &got).ok());
  EXPECT_EQ(got.title(), "Late delivery");
  get.set_version(0);
  ASSERT_TRUE(complaints().GetScript(Ctx(agent()).get(), get, &got).ok());
  EXPECT_EQ(got.title(), "Late delivery (2024)");

  auto for_complaint = [&](const kv1::Complaint& c, kv1::Script* out) {
    kv1::GetScriptForComplaintRequest req;
    req.set_complaint_id(c.complaint_id());
    return complaints().GetScriptForComplaint(Ctx(agent()).get(), req, out);
  };
  ASSERT_TRUE(for_complaint(File("m1", "o-1", kv1::CATEGORY_DELIVERY, "vi-VN"), &got).ok());
  EXPECT_EQ(got.title(), "Giao hàng trễ");
  ASSERT_TRUE(for_complaint(File("m1", "o-2", kv1::CATEGORY_DELIVERY, "ja"), &got).ok());
  EXPECT_EQ(got.title(), "Late delivery (2024)");
  EXPECT_EQ(got.faqs(0).answer(), "Within two working days of the new dispatch");
  grpc::Status none = for_complaint(File("m1", "o-3", kv1::CATEGORY_BILLING, "en"), &got);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Reason(none), "SCRIPT_NOT_FOUND");

  kv1::ListScriptsRequest list;
  kv1::ListScriptsResponse listed;
  ASSERT_TRUE(complaints().ListScripts(Ctx(agent()).get(), list, &listed).ok());
  ASSERT_EQ(listed.scripts_size(), 2);  // the latest of "" and of "vi"
  EXPECT_EQ(listed.scripts(0).version(), 2);
  EXPECT_EQ(listed.scripts(1).locale(), "vi");

  kv1::PutScriptRequest empty;
  empty.set_request_id("script-empty");
  empty.mutable_script()->set_category(kv1::CATEGORY_DELIVERY);
  kv1::Script out;
  EXPECT_EQ(BadFields(complaints().PutScript(Ctx(admin()).get(), empty, &out)),
            std::vector<std::string>{"script.steps"});
}

TEST_F(ComplaintDeskTest, UpdateEditsOnlyMaskedFieldsAndRecordsAPriorityChange) {
  Enrol("m1");
  kv1::Complaint c = File("m1", "o-1");
  kv1::UpdateComplaintRequest req;
  req.set_request_id("update-1");
  req.mutable_complaint()->set_complaint_id(c.complaint_id());
  req.mutable_complaint()->set_priority(kv1::PRIORITY_URGENT);
  req.mutable_complaint()->set_subject("Broken vase");
  req.mutable_complaint()->set_category(kv1::CATEGORY_PRODUCT);  // not in the mask
  req.mutable_update_mask()->add_paths("priority");
  req.mutable_update_mask()->add_paths("subject");
  req.set_reason("customer is a hospital");
  kv1::Complaint out;
  ASSERT_TRUE(complaints().UpdateComplaint(Ctx(agent()).get(), req, &out).ok());
  EXPECT_EQ(out.priority(), kv1::PRIORITY_URGENT);
  EXPECT_EQ(out.subject(), "Broken vase");
  EXPECT_EQ(out.category(), kv1::CATEGORY_DELIVERY);
  EXPECT_EQ(CountEvents(c.complaint_id(), kv1::COMPLAINT_EVENT_KIND_PRIORITY_CHANGED), 1);
  EXPECT_EQ(CountEvents(c.complaint_id(), kv1::COMPLAINT_EVENT_KIND_UPDATED), 1);

  req.set_request_id("update-2");
  req.mutable_update_mask()->add_paths("status");
  EXPECT_EQ(BadFields(complaints().UpdateComplaint(Ctx(agent()).get(), req, &out)),
            std::vector<std::string>{"update_mask"});
  req.set_request_id("update-3");
  req.mutable_update_mask()->clear_paths();
  req.mutable_update_mask()->add_paths("subject");
  req.set_expected_version(1);
  grpc::Status stale = complaints().UpdateComplaint(Ctx(agent()).get(), req, &out);
  EXPECT_EQ(stale.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(Reason(stale), "VERSION_MISMATCH");
}

TEST_F(ComplaintDeskTest, AHolidayAddedLaterMovesAnOpenBreachAndPolicyEditsApplyToNewComplaints) {
  Calendar("office");
  Policy("standard", 10, absl::Hours(4), "office");
  Enrol("m1");
  SetBoth(HanoiTime(2031, 1, 17, 17, 30));  // Friday
  kv1::Complaint c = File("m1", "o-1");
  EXPECT_EQ(FromTimestamp(c.first_response_sla().due_time()), HanoiTime(2031, 1, 20, 12, 30));

  // Monday becomes a holiday: the breach moves to Tuesday 12:30.
  kv1::UpdateBusinessCalendarRequest upd;
  upd.set_request_id("cal-upd-1");
  upd.mutable_calendar()->set_calendar_id("office");
  kv1::Holiday* h = upd.mutable_calendar()->add_holidays();
  h->mutable_date()->set_year(2031);
  h->mutable_date()->set_month(1);
  h->mutable_date()->set_day(20);
  h->set_display_name("Office closed");
  upd.mutable_update_mask()->add_paths("holidays");
  kv1::BusinessCalendar cal;
  ASSERT_TRUE(complaints().UpdateBusinessCalendar(Ctx(admin()).get(), upd, &cal).ok());
  EXPECT_EQ(cal.version(), 2);
  EXPECT_EQ(cal.weekly_hours_size(), 5);  // not in the mask: kept
  EXPECT_EQ(FromTimestamp(Get(c.complaint_id()).first_response_sla().due_time()), HanoiTime(2031, 1, 21, 12, 30));

  // The policy's target is shortened: the open complaint keeps 4 h, a new one gets 2 h.
  kv1::UpdateSlaPolicyRequest pol;
  pol.set_request_id("pol-upd-1");
  pol.mutable_policy()->set_sla_policy_id("standard");
  *pol.mutable_policy()->mutable_first_response_target() = ToDurationProto(absl::Hours(2));
  pol.mutable_update_mask()->add_paths("first_response_target");
  kv1::SlaPolicy updated;
  ASSERT_TRUE(complaints().UpdateSlaPolicy(Ctx(admin()).get(), pol, &updated).ok());
  EXPECT_EQ(updated.version(), 2);
  EXPECT_EQ(updated.escalation_levels_size(), 2);
  kv1::Complaint fresh = File("m1", "o-2");
  EXPECT_EQ(FromDurationProto(fresh.first_response_sla().target()), absl::Hours(2));
  EXPECT_EQ(fresh.sla_policy_version(), 2);
  EXPECT_EQ(FromDurationProto(Get(c.complaint_id()).first_response_sla().target()), absl::Hours(4));
  kv1::GetSlaPolicyRequest old_version;
  old_version.set_sla_policy_id("standard");
  old_version.set_version(1);
  kv1::SlaPolicy v1;
  ASSERT_TRUE(complaints().GetSlaPolicy(Ctx(agent()).get(), old_version, &v1).ok());
  EXPECT_EQ(FromDurationProto(v1.first_response_target()), absl::Hours(4));

  kv1::DeleteBusinessCalendarRequest del;
  del.set_request_id("cal-del-1");
  del.set_calendar_id("office");
  kv1::DeleteBusinessCalendarResponse deleted;
  grpc::Status in_use = complaints().DeleteBusinessCalendar(Ctx(admin()).get(), del, &deleted);
  EXPECT_EQ(in_use.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(in_use), "CALENDAR_IN_USE");
  kv1::ListSlaPoliciesRequest lp;
  kv1::ListSlaPoliciesResponse policies;
  ASSERT_TRUE(complaints().ListSlaPolicies(Ctx(agent()).get(), lp, &policies).ok());
  ASSERT_EQ(policies.policies_size(), 1);
  kv1::ListBusinessCalendarsRequest lc;
  kv1::ListBusinessCalendarsResponse cals;
  ASSERT_TRUE(complaints().ListBusinessCalendars(Ctx(agent()).get(), lc, &cals).ok());
  ASSERT_EQ(cals.calendars_size(), 1);
  EXPECT_EQ(cals.calendars(0).holidays_size(), 1);
}

TEST_F(ComplaintDeskTest, GroupedMetricsAndComplaintsPerThousandOrdersMatchHandComputedValues) {
  Enrol("m1");
  Enrol("m2");
  auto file = [&](const std::string& member, kv1::Channel channel, const std::string& order) {
    kv1::CreateComplaintRequest req;
    req.set_request_id("metrics-" + order);
    req.set_member_id(member);
    req.set_channel(channel);
    req.set_category(kv1::CATEGORY_DELIVERY);
    req.set_order_id(order);
    req.set_description("Late");
    kv1::CreateComplaintResponse out;
    EXPECT_TRUE(complaints().CreateComplaint(Ctx(agent()).get(), req, &out).ok());
    return out.complaint().complaint_id();
  };
  // PHONE: 3 complaints, first responses after 10, 30 and 50 minutes.
  // EMAIL: 1 complaint, answered after 120 minutes.
  std::vector<std::string> phone = {file("m1", kv1::CHANNEL_PHONE, "o-1"), file("m1", kv1::CHANNEL_PHONE, "o-2"),
                                    file("m2", kv1::CHANNEL_PHONE, "o-3")};
  std::string email = file("m2", kv1::CHANNEL_EMAIL, "o-4");
  kv1::ReplyToComplaintResponse out;
  for (auto [id, at] : {std::pair<std::string, int>{phone[0], 10}, {phone[1], 30}, {phone[2], 50}, {email, 120}}) {
    SetBoth(Base() + absl::Minutes(at));
    ASSERT_TRUE(Reply(id, "We are on it", &out).ok());
  }
  kv1::GetComplaintMetricsRequest req;
  *req.mutable_start_time() = ToTimestamp(Base() - absl::Hours(1));
  *req.mutable_end_time() = ToTimestamp(Base() + absl::Hours(1));
  req.add_group_by(kv1::METRICS_DIMENSION_CHANNEL);
  kv1::OrderCount* total = req.add_order_counts();
  total->set_orders(800);
  kv1::OrderCount* by_phone = req.add_order_counts();
  by_phone->set_channel(kv1::CHANNEL_PHONE);
  by_phone->set_orders(1500);
  kv1::ComplaintMetrics m;
  ASSERT_TRUE(complaints().GetComplaintMetrics(Ctx(supervisor()).get(), req, &m).ok());
  EXPECT_EQ(m.overall().complaint_count(), 4);
  EXPECT_DOUBLE_EQ(m.overall().complaints_per_thousand_orders(), 5.0);  // 4 * 1000 / 800
  ASSERT_EQ(m.groups_size(), 2);
  const kv1::MetricsGroup& p = m.groups(0);  // ordered by key: PHONE (1) before EMAIL (2)
  EXPECT_EQ(p.key().channel(), kv1::CHANNEL_PHONE);
  EXPECT_EQ(p.complaint_count(), 3);
  EXPECT_EQ(FromDurationProto(p.first_response_time().median()), absl::Minutes(30));
  EXPECT_EQ(FromDurationProto(p.first_response_time().p90()), absl::Minutes(50));
  EXPECT_DOUBLE_EQ(p.complaints_per_thousand_orders(), 2.0);  // 3 * 1000 / 1500
  const kv1::MetricsGroup& e = m.groups(1);
  EXPECT_EQ(e.key().channel(), kv1::CHANNEL_EMAIL);
  EXPECT_EQ(e.complaint_count(), 1);
  EXPECT_EQ(FromDurationProto(e.first_response_time().median()), absl::Minutes(120));
  EXPECT_FALSE(e.has_complaints_per_thousand_orders());  // no EMAIL order count given

  req.add_group_by(kv1::METRICS_DIMENSION_CHANNEL);
  EXPECT_EQ(BadFields(complaints().GetComplaintMetrics(Ctx(supervisor()).get(), req, &m)),
            std::vector<std::string>{"group_by"});
}

// Issue 22, item 8: the figures per assigned agent, with consultation time
// (each Reply of the fixture reports 5 minutes) and mean times.
TEST_F(ComplaintDeskTest, PerAgentMetricsAndConsultationTimeMatchHandComputedValues) {
  Enrol("m1");
  Enrol("m2");
  auto file = [&](const std::string& member, const std::string& order) {
    kv1::CreateComplaintRequest req;
    req.set_request_id("agents-" + order);
    req.set_member_id(member);
    req.set_channel(kv1::CHANNEL_PHONE);
    req.set_category(kv1::CATEGORY_DELIVERY);
    req.set_order_id(order);
    req.set_description("Late");
    kv1::CreateComplaintResponse out;
    EXPECT_TRUE(complaints().CreateComplaint(Ctx(agent()).get(), req, &out).ok());
    return out.complaint().complaint_id();
  };
  auto assign = [&](const std::string& id, const std::string& agent_id) {
    kv1::AssignComplaintRequest req;
    req.set_request_id("assign-" + id);
    req.set_complaint_id(id);
    req.set_agent_id(agent_id);
    kv1::Complaint out;
    grpc::Status s = complaints().AssignComplaint(Ctx(supervisor()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
  };
  const std::string a1 = file("m1", "a-1"), a2 = file("m1", "a-2"), b1 = file("m2", "b-1");
  file("m2", "u-1");  // nobody's
  assign(a1, "agent-a");
  assign(a2, "agent-a");
  assign(b1, "agent-b");
  kv1::ReplyToComplaintResponse out;
  // First responses: a1 after 10 minutes, a2 after 40 (and a second reply
  // at 45: 10 minutes of consultation), b1 after 50.
  for (auto [id, at] : {std::pair<std::string, int>{a1, 10}, {a2, 40}, {a2, 45}, {b1, 50}}) {
    SetBoth(Base() + absl::Minutes(at));
    ASSERT_TRUE(Reply(id, "We are on it", &out).ok());
  }
  SetBoth(Base() + absl::Minutes(70));
  Resolve(a1);

  kv1::GetComplaintMetricsRequest req;
  *req.mutable_start_time() = ToTimestamp(Base() - absl::Hours(1));
  *req.mutable_end_time() = ToTimestamp(Base() + absl::Hours(2));
  req.add_group_by(kv1::METRICS_DIMENSION_AGENT);
  kv1::ComplaintMetrics m;
  ASSERT_TRUE(complaints().GetComplaintMetrics(Ctx(supervisor()).get(), req, &m).ok());
  EXPECT_EQ(m.overall().complaint_count(), 4);
  EXPECT_EQ(m.overall().consultation_time().count(), 3);
  EXPECT_EQ(FromDurationProto(m.overall().total_consultation_time()), absl::Minutes(20));
  EXPECT_EQ(FromDurationProto(m.overall().first_response_time().mean()), absl::Seconds(2000));  // (10+40+50)/3 min
  ASSERT_EQ(m.groups_size(), 3);  // by agent id: "", agent-a, agent-b
  const kv1::MetricsGroup& none = m.groups(0);
  EXPECT_EQ(none.key().agent_id(), "");
  EXPECT_EQ(none.complaint_count(), 1);
  EXPECT_EQ(none.consultation_time().count(), 0);
  EXPECT_FALSE(none.consultation_time().has_mean());
  const kv1::MetricsGroup& a = m.groups(1);
  EXPECT_EQ(a.key().agent_id(), "agent-a");
  EXPECT_EQ(a.complaint_count(), 2);
  EXPECT_EQ(a.resolved_count(), 1);
  EXPECT_EQ(a.first_response_time().count(), 2);
  EXPECT_EQ(FromDurationProto(a.first_response_time().median()), absl::Minutes(10));
  EXPECT_EQ(FromDurationProto(a.first_response_time().mean()), absl::Minutes(25));
  EXPECT_EQ(a.resolution_time().count(), 1);
  EXPECT_EQ(FromDurationProto(a.resolution_time().mean()), absl::Minutes(70));
  EXPECT_EQ(a.consultation_time().count(), 2);
  EXPECT_EQ(FromDurationProto(a.total_consultation_time()), absl::Minutes(15));
  EXPECT_EQ(FromDurationProto(a.consultation_time().mean()), absl::Seconds(450));
  EXPECT_EQ(FromDurationProto(a.consultation_time().median()), absl::Minutes(5));
  const kv1::MetricsGroup& b = m.groups(2);
  EXPECT_EQ(b.key().agent_id(), "agent-b");
  EXPECT_EQ(b.complaint_count(), 1);
  EXPECT_EQ(b.resolved_count(), 0);
  EXPECT_EQ(FromDurationProto(b.first_response_time().mean()), absl::Minutes(50));
  EXPECT_EQ(FromDurationProto(b.total_consultation_time()), absl::Minutes(5));
}

// The ids of the process' threads now (/proc/<pid>/task).
std::set<std::string> ThreadIds(pid_t pid) {
  std::set<std::string> ids;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    ids.insert(e.path().filename().string());
  }
  return ids;
}

// Issue 16, defect 9: each GetComplaintMetrics started four threads for its
// scan (std::async), so many concurrent calls meant hundreds of threads.
// Slices now run on a fixed pool and at most --metrics_concurrency scans run
// at once; the rest are refused with METRICS_BUSY. Counted as distinct
// thread ids seen while 16 callers ask 6 times each: no thread is made.
TEST_F(ComplaintDeskTest, ConcurrentMetricsCallsMakeNoThreadsAndAreAnsweredOrRefusedWithAReason) {
  kv1::GetComplaintMetricsRequest req;
  *req.mutable_start_time() = ToTimestamp(Base() - absl::Hours(24 * 390));
  *req.mutable_end_time() = ToTimestamp(Base() + absl::Hours(1));
  req.add_group_by(kv1::METRICS_DIMENSION_CHANNEL);
  kv1::ComplaintMetrics warm;
  ASSERT_TRUE(complaints().GetComplaintMetrics(Ctx(supervisor()).get(), req, &warm).ok());

  const pid_t pid = complaint_->pid();
  std::set<std::string> before = ThreadIds(pid);
  std::set<std::string> seen = before;
  std::atomic<bool> stop{false};
  std::thread sampler([&] {
    while (!stop) {
      for (const std::string& id : ThreadIds(pid)) seen.insert(id);
    }
  });
  std::atomic<int> answered{0}, busy{0}, other{0};
  std::vector<std::thread> callers;
  callers.reserve(16);
  for (int t = 0; t < 16; ++t) {
    callers.emplace_back([&] {
      for (int i = 0; i < 6; ++i) {
        kv1::ComplaintMetrics m;
        grpc::Status s = complaints().GetComplaintMetrics(Ctx(supervisor()).get(), req, &m);
        if (s.ok()) {
          ++answered;
        } else if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED && Reason(s) == "METRICS_BUSY") {
          ++busy;
        } else {
          ++other;
          ADD_FAILURE() << Describe(s);
        }
      }
    });
  }
  for (auto& c : callers) c.join();
  stop = true;
  sampler.join();
  EXPECT_EQ(answered + busy, 16 * 6);
  EXPECT_EQ(other, 0);
  EXPECT_GE(answered, 1);
  // gRPC may add a thread or two of its own under load; four per call (384
  // here) is what must not happen.
  EXPECT_LE(seen.size(), before.size() + 8) << before.size() << " threads before the calls";
}

TEST_F(ComplaintDeskTest, AGoodwillVoucherReachesThePromotionServiceOnceWhenItComesUp) {
  // Complaint points at a promotion service that is not running yet.
  const int promo_port = FreePort();
  complaint_->Kill();
  complaint_->set_extra_args(
      {"--fake_clock", "--redis_port=" + std::to_string(redis_.port()), "--loyalty_target=" + service_->address(),
       "--promotion_target=127.0.0.1:" + std::to_string(promo_port), "--notification_target=" + notification_.address(),
       "--service_token_file=" + dir_.path() + "/complaint_token", "--job_interval=50ms", "--outbox_interval=50ms",
       "--log_level=warn"});
  ASSERT_TRUE(complaint_->Restart().ok()) << complaint_->log();
  cstub_ = kv1::ComplaintService::NewStub(complaint_->channel());
  cclock_ = care::common::v1::ClockControl::NewStub(complaint_->channel());
  SetBoth(Base());
  Enrol("m1");
  kv1::Complaint c = File("m1", "o-1");
  kv1::ResolveComplaintRequest req = ResolveRequest(c.complaint_id(), 0);
  auto* grant = req.mutable_compensation()->mutable_voucher();
  grant->mutable_amount()->set_amount_minor(500);
  grant->mutable_amount()->set_currency_code("USD");
  req.mutable_compensation()->set_reason_code("LATE_DELIVERY");
  kv1::ResolveComplaintResponse r;
  ASSERT_TRUE(complaints().ResolveComplaint(Ctx(supervisor()).get(), req, &r).ok());
  EXPECT_FALSE(r.pending_approval());
  LetJobsRun();  // the outbox retries against nothing

  std::ofstream(dir_.path() + "/quote_secret") << "desk-1 desk-test-secret-0123456789abcdef0123456\n";
  ServiceProcess promotion(CARE_PROMOTION_BIN, "care.promotion.v1.PromotionService",
                           {"--port=" + std::to_string(promo_port), "--fake_clock",
                            "--redis_port=" + std::to_string(redis_.port()), "--loyalty_target=" + service_->address(),
                            "--service_token_file=" + dir_.path() + "/promotion_token",
                            "--quote_token_secret_file=" + dir_.path() + "/quote_secret", "--log_level=warn"},
                           tokens_);
  ASSERT_TRUE(promotion.Start().ok()) << promotion.log();
  auto promo = care::promotion::v1::PromotionService::NewStub(promotion.channel());
  care::promotion::v1::ListVouchersRequest list;
  list.set_member_id("m1");
  care::promotion::v1::ListVouchersResponse vouchers;
  ASSERT_TRUE(Eventually(
      [&] { return promo->ListVouchers(Ctx(admin()).get(), list, &vouchers).ok() && vouchers.vouchers_size() > 0; },
      absl::Seconds(20)))
      << complaint_->log();
  LetJobsRun();
  ASSERT_TRUE(promo->ListVouchers(Ctx(admin()).get(), list, &vouchers).ok());
  ASSERT_EQ(vouchers.vouchers_size(), 1);  // once, whatever the retries
  const auto& v = vouchers.vouchers(0);
  EXPECT_EQ(v.kind(), care::promotion::v1::VOUCHER_KIND_GOODWILL);
  EXPECT_EQ(v.complaint_id(), c.complaint_id());
  EXPECT_EQ(v.goodwill_value().amount_off().amount_minor(), 500);
  EXPECT_EQ(v.reason_code(), "LATE_DELIVERY");
}

// Issue 16, defect 5: a filter list is bound as one value whatever its
// length (so any length is one statement), and over the bound it is refused.
TEST_F(ComplaintDeskTest, FiltersOverTheBoundAreRefusedNamingTheField) {
  {
    kv1::ListComplaintsRequest req;
    for (int k = 0; k < kFilterBound; ++k) req.add_statuses(static_cast<kv1::ComplaintStatus>(1 + k % 3));
    std::vector<std::string> ids;
    grpc::Status s = List(req, &ids);
    EXPECT_TRUE(s.ok()) << "100 values are within the bound: " << Describe(s);
    req.add_statuses(static_cast<kv1::ComplaintStatus>(1));
    ExpectTooManyValues(List(req, &ids), "statuses");
    req.clear_statuses();
    for (int k = 0; k < 200000; ++k) req.add_priorities(kv1::PRIORITY_LOW);
    ExpectTooManyValues(List(req, &ids), "priorities");
    req.clear_priorities();
    for (int k = 0; k <= kFilterBound; ++k) req.add_compensation_statuses(static_cast<kv1::CompensationStatus>(1));
    ExpectTooManyValues(List(req, &ids), "compensation_statuses");
  }
  {
    kv1::ListComplaintEventsRequest req;
    req.set_complaint_id("c-1");
    for (int k = 0; k <= kFilterBound; ++k) req.add_kinds(static_cast<kv1::ComplaintEventKind>(1));
    kv1::ListComplaintEventsResponse out;
    ExpectTooManyValues(complaints().ListComplaintEvents(Ctx(agent()).get(), req, &out), "kinds");
  }
  {
    kv1::GetComplaintMetricsRequest req;
    *req.mutable_start_time() = ToTimestamp(Base() - absl::Hours(24));
    *req.mutable_end_time() = ToTimestamp(Base());
    for (int k = 0; k <= kFilterBound; ++k) req.add_group_by(kv1::METRICS_DIMENSION_CHANNEL);
    kv1::ComplaintMetrics out;
    ExpectTooManyValues(complaints().GetComplaintMetrics(Ctx(supervisor()).get(), req, &out), "group_by");
  }
}

}  // namespace
}  // namespace care::testing
