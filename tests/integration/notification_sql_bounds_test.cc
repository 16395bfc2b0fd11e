// Issue 16, defect 5, against the real care_notification: list calls whose
// filters, dates and cursors all differ must not grow the number of prepared
// SQLite statements (care_sql_statements_cached, scraped from /metrics):
// every value is bound, so the statement texts are fixed. Before the fix each
// call inlined its dates and lists into a new text that stayed prepared
// forever (20,000 calls grew the process by 63 MB). Repeated filter fields
// over the documented bound (100 values) are refused as INVALID_ARGUMENT,
// reason TOO_MANY_VALUES, naming the field.

#include <fstream>
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "tests/integration/filter_bounds.h"
#include "tests/integration/notification_fixture.h"

namespace care::testing {
namespace {

constexpr char kStatements[] = "care_sql_statements_cached";

// Resident set of `pid` in KiB (VmRSS of /proc/<pid>/status), 0 if unknown.
int64_t RssKib(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, "VmRSS:")) continue;
    rest = absl::StripAsciiWhitespace(rest);
    absl::ConsumeSuffix(&rest, " kB");
    int64_t kib = 0;
    return absl::SimpleAtoi(rest, &kib) ? kib : 0;
  }
  return 0;
}

class NotificationSqlBoundsTest : public NotificationTest {
 protected:
  double Statements() {
    auto body = HttpGet(std::stoi(ReadFile(MetricsPortFile())), "/metrics");
    EXPECT_TRUE(body.ok()) << body.status();
    auto samples = ParseExposition(body.ok() ? *body : "");
    EXPECT_TRUE(samples.count(kStatements)) << "no " << kStatements << " in /metrics";
    return Sample(samples, kStatements);
  }

  // One list call of the mix, its values all derived from `i`.
  void ListCall(int i) {
    const absl::Time at = Base() + absl::Seconds(i);
    switch (i % 3) {
      case 0: {
        nv1::ListDeliveriesRequest req;
        *req.mutable_filter()->mutable_created_after() = ToTimestamp(at);
        *req.mutable_filter()->mutable_created_before() = ToTimestamp(at + absl::Hours(1));
        for (int k = 0; k <= i % 7; ++k) req.mutable_filter()->add_statuses(nv1::DELIVERY_STATUS_SENT);
        nv1::ListDeliveriesResponse resp;
        grpc::Status s = nstub_->ListDeliveries(Ctx(admin()).get(), req, &resp);
        ASSERT_TRUE(s.ok()) << Describe(s);
        break;
      }
      case 1: {
        nv1::ListSchedulesRequest req;
        *req.mutable_due_after() = ToTimestamp(at);
        *req.mutable_due_before() = ToTimestamp(at + absl::Hours(2));
        for (int k = 0; k <= i % 5; ++k) req.add_states(nv1::SCHEDULE_STATE_SCHEDULED);
        req.set_kind(nv1::MESSAGE_KIND_PROMOTION_ALERT);
        nv1::ListSchedulesResponse resp;
        grpc::Status s = nstub_->ListSchedules(Ctx(admin()).get(), req, &resp);
        ASSERT_TRUE(s.ok()) << Describe(s);
        break;
      }
      default: {
        nv1::ListInboxRequest req;
        req.set_member_id(absl::StrCat("m", i));
        for (int k = 0; k <= i % 11; ++k) req.add_kinds(nv1::MESSAGE_KIND_PROMOTION_ALERT);
        nv1::ListInboxResponse resp;
        grpc::Status s = nstub_->ListInbox(Ctx(admin()).get(), req, &resp);
        ASSERT_TRUE(s.ok()) << Describe(s);
        break;
      }
    }
  }
};

TEST_F(NotificationSqlBoundsTest, DistinctListCallsDoNotGrowThePreparedStatements) {
  // Every shape, until the fixed texts are prepared on each connection that
  // may serve them (SQLite: 4 readers; PostgreSQL: a pool of 8 shared with
  // the jobs): rounds of 100 calls until a round prepares nothing new.
  double before = -1;
  int next = 0;
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 100; ++i) {
      ListCall(next++);
      if (HasFatalFailure()) return;
    }
    const double now = Statements();
    if (now == before) break;
    before = now;
  }
  const int64_t rss_before = RssKib(notif_->pid());
  constexpr int kCalls = 2000;
  for (int i = next; i < next + kCalls; ++i) {
    ListCall(i);
    if (HasFatalFailure()) return;
  }
  const double after = Statements();
  const int64_t rss_after = RssKib(notif_->pid());
  std::cout << "[figures] " << kCalls << " list calls with distinct values: " << kStatements << " " << before << " -> "
            << after << ", VmRSS " << rss_before << " KiB -> " << rss_after << " KiB" << std::endl;
  EXPECT_GT(before, 0);
  // Background jobs may still prepare their own fixed texts on pool
  // connections the warm-up did not reach (on PostgreSQL each job's lease
  // texts, on any of 8 connections); a text per call would add thousands.
  EXPECT_LE(after - before, 40) << "prepared statements grew with distinct list calls";
}

TEST_F(NotificationSqlBoundsTest, FiltersOverTheBoundAreRefusedNamingTheField) {
  {
    nv1::ListDeliveriesRequest req;
    for (int k = 0; k < kFilterBound; ++k) req.mutable_filter()->add_channels(care::common::v1::MESSAGE_CHANNEL_IN_APP);
    nv1::ListDeliveriesResponse resp;
    grpc::Status s = nstub_->ListDeliveries(Ctx(admin()).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << "100 values are within the bound: " << Describe(s);
    req.mutable_filter()->add_channels(care::common::v1::MESSAGE_CHANNEL_IN_APP);
    ExpectTooManyValues(nstub_->ListDeliveries(Ctx(admin()).get(), req, &resp), "filter.channels");
  }
  {
    // The defect's 200,000-entry filter: refused before anything reads it.
    nv1::ListDeliveriesRequest req;
    for (int k = 0; k < 200000; ++k) req.mutable_filter()->add_statuses(nv1::DELIVERY_STATUS_SENT);
    nv1::ListDeliveriesResponse resp;
    ExpectTooManyValues(nstub_->ListDeliveries(Ctx(admin()).get(), req, &resp), "filter.statuses");
  }
  {
    nv1::ListDeliveriesRequest req;
    for (int k = 0; k <= kFilterBound; ++k) req.mutable_filter()->add_kinds(nv1::MESSAGE_KIND_PROMOTION_ALERT);
    nv1::ListDeliveriesResponse resp;
    ExpectTooManyValues(nstub_->ListDeliveries(Ctx(admin()).get(), req, &resp), "filter.kinds");
  }
  {
    nv1::ListSchedulesRequest req;
    for (int k = 0; k <= kFilterBound; ++k) req.add_states(nv1::SCHEDULE_STATE_SCHEDULED);
    nv1::ListSchedulesResponse resp;
    ExpectTooManyValues(nstub_->ListSchedules(Ctx(admin()).get(), req, &resp), "states");
  }
  {
    nv1::ListInboxRequest req;
    req.set_member_id("ann");
    for (int k = 0; k <= kFilterBound; ++k) req.add_kinds(nv1::MESSAGE_KIND_PROMOTION_ALERT);
    nv1::ListInboxResponse resp;
    ExpectTooManyValues(nstub_->ListInbox(Ctx(admin()).get(), req, &resp), "kinds");
  }
  {
    nv1::SubscribeInboxRequest req;
    req.add_member_ids("ann");
    for (int k = 0; k <= kFilterBound; ++k) req.add_kinds(nv1::MESSAGE_KIND_PROMOTION_ALERT);
    auto ctx = Ctx(svc());
    auto reader = nstub_->SubscribeInbox(ctx.get(), req);
    nv1::SubscribeInboxResponse event;
    while (reader->Read(&event)) {
    }
    ExpectTooManyValues(reader->Finish(), "kinds");
  }
  {
    nv1::ReplayDeadLettersRequest req;
    req.set_request_id("replay-too-many");
    for (int k = 0; k < 1001; ++k) req.add_delivery_ids(absl::StrCat("dlv-", k));
    nv1::ReplayDeadLettersResponse resp;
    ExpectTooManyValues(nstub_->ReplayDeadLetters(Ctx(admin()).get(), req, &resp), "delivery_ids");
  }
}

}  // namespace
}  // namespace care::testing
