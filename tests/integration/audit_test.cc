// The audit log (care.common.v1.AuditLog) of a running care_loyalty, on both
// engines: changes to members and the program, and member exports, are kept
// with who, what, which target and why (the care-reason header); a retried or
// refused change writes nothing; only admins read it; entries are deleted
// after --audit_retention on the injectable clock.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "care/common/v1/audit.grpc.pb.h"
#include "tests/harness/scrape.h"
#include "tests/integration/loyalty_fixture.h"

namespace care::testing {
namespace {

namespace cv1 = care::common::v1;

constexpr char kService[] = "/care.loyalty.v1.LoyaltyService/";

class AuditTest : public LoyaltyTest {
 protected:
  void SetUp() override {
    LoyaltyTest::SetUp();
    if (HasFatalFailure()) return;
    audit_ = cv1::AuditLog::NewStub(service_->channel());
  }
  std::vector<std::string> ExtraArgs() override {
    return {"--audit_retention=720h", "--metrics_port=0", "--metrics_port_file=" + dir_.path() + "/metrics_port"};
  }

  static std::unique_ptr<grpc::ClientContext> WithReason(const std::string& token, const std::string& reason) {
    auto ctx = Ctx(token);
    ctx->AddMetadata("care-reason", reason);
    return ctx;
  }

  std::vector<cv1::AuditEntry> Entries(const std::function<void(cv1::ListAuditEntriesRequest*)>& edit = nullptr) {
    cv1::ListAuditEntriesRequest req;
    if (edit) edit(&req);
    std::vector<cv1::AuditEntry> out;
    for (;;) {
      cv1::ListAuditEntriesResponse resp;
      grpc::Status s = audit_->ListAuditEntries(Ctx(admin()).get(), req, &resp);
      EXPECT_TRUE(s.ok()) << Describe(s);
      if (!s.ok()) return out;
      out.insert(out.end(), resp.entries().begin(), resp.entries().end());
      if (resp.next_page_token().empty()) return out;
      req.set_page_token(resp.next_page_token());
    }
  }

  grpc::Status UpdateName(const std::string& token, const std::string& request_id, const std::string& member_id,
                          const std::string& name, int64_t version = 0) {
    lv1::UpdateMemberRequest req;
    req.set_request_id(request_id);
    req.mutable_member()->set_member_id(member_id);
    req.mutable_member()->set_name(name);
    req.mutable_member()->set_version(version);
    req.mutable_update_mask()->add_paths("name");
    lv1::Member out;
    return stub().UpdateMember(WithReason(token, "ticket 42: name misspelt").get(), req, &out);
  }

  double PurgedAuditEntries() {
    auto body = HttpGet(std::stoi(ReadFile(dir_.path() + "/metrics_port")), "/metrics");
    EXPECT_TRUE(body.ok()) << body.status();
    return Sample(ParseExposition(body.ok() ? *body : ""), "care_retention_purged_total{table=\"audit_log\"}");
  }

  std::unique_ptr<cv1::AuditLog::Stub> audit_;
};

TEST_F(AuditTest, ChangesAndExportsAreKeptWithWhoWhatAndWhy) {
  Configure();  // UpdateProgram, by the admin, without a reason
  lv1::EnrolMemberRequest enrol;
  enrol.set_request_id("enrol-ann");
  enrol.mutable_member()->set_name("Ann Example");
  enrol.mutable_member()->set_email("ann@example.com");
  lv1::Member ann;
  ASSERT_TRUE(stub().EnrolMember(WithReason(svc(), "signed up in store").get(), enrol, &ann).ok());
  ASSERT_FALSE(ann.member_id().empty());  // chosen by the service
  ASSERT_TRUE(UpdateName(tokens_.agent, "rename-1", ann.member_id(), "Ann Exemple").ok());
  // A retry is no change: no second entry.
  ASSERT_TRUE(UpdateName(tokens_.agent, "rename-1", ann.member_id(), "Ann Exemple").ok());
  // A refused change (stale version) leaves no entry either.
  EXPECT_EQ(UpdateName(tokens_.agent, "rename-2", ann.member_id(), "Ann X", 1).error_code(), grpc::StatusCode::ABORTED);
  // An export is recorded as it starts.
  {
    lv1::ExportMembersRequest req;
    auto ctx = WithReason(admin(), "quarterly audit");  // outlives the stream
    auto reader = stub().ExportMembers(ctx.get(), req);
    lv1::Member m;
    int n = 0;
    while (reader->Read(&m)) ++n;
    ASSERT_TRUE(reader->Finish().ok());
    EXPECT_EQ(n, 1);
  }

  std::vector<cv1::AuditEntry> entries = Entries();  // newest first
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].action(), absl::StrCat(kService, "ExportMembers"));
  EXPECT_EQ(entries[0].principal(), "admin:test");
  EXPECT_EQ(entries[0].target(), "members");
  EXPECT_EQ(entries[0].reason(), "quarterly audit");
  EXPECT_EQ(entries[1].action(), absl::StrCat(kService, "UpdateMember"));
  EXPECT_EQ(entries[1].principal(), "agent:test");
  EXPECT_EQ(entries[1].target(), "member:" + ann.member_id());
  EXPECT_EQ(entries[1].reason(), "ticket 42: name misspelt");
  EXPECT_EQ(entries[2].action(), absl::StrCat(kService, "EnrolMember"));
  EXPECT_EQ(entries[2].principal(), "backend:test");
  EXPECT_EQ(entries[2].target(), "member:" + ann.member_id());
  EXPECT_EQ(entries[2].reason(), "signed up in store");
  EXPECT_EQ(entries[3].action(), absl::StrCat(kService, "UpdateProgram"));
  EXPECT_EQ(entries[3].target(), "program");
  EXPECT_EQ(entries[3].reason(), "");
  EXPECT_LT(entries[1].id(), entries[0].id());
  // The entries name the member by id only.
  for (const auto& e : entries) {
    EXPECT_EQ(e.ShortDebugString().find("Ann"), std::string::npos) << e.ShortDebugString();
    EXPECT_EQ(e.ShortDebugString().find("ann@example.com"), std::string::npos) << e.ShortDebugString();
  }

  // Filters, and paging through them.
  auto by_target = Entries([&](cv1::ListAuditEntriesRequest* r) {
    r->set_target("member:" + ann.member_id());
    r->set_page_size(1);
  });
  ASSERT_EQ(by_target.size(), 2u);
  EXPECT_EQ(by_target[0].action(), absl::StrCat(kService, "UpdateMember"));
  auto by_action = Entries([&](cv1::ListAuditEntriesRequest* r) {
    r->set_action(absl::StrCat(kService, "EnrolMember"));
  });
  ASSERT_EQ(by_action.size(), 1u);
  auto later = Entries([&](cv1::ListAuditEntriesRequest* r) {
    *r->mutable_start_time() = ToTimestamp(Now() + absl::Seconds(1));
  });
  EXPECT_TRUE(later.empty());
}

TEST_F(AuditTest, OnlyAdminsReadTheLogAndReasonsAreBounded) {
  Configure();
  cv1::ListAuditEntriesResponse resp;
  EXPECT_EQ(audit_->ListAuditEntries(Ctx(tokens_.agent).get(), {}, &resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  cv1::ListAuditEntriesRequest bad;
  *bad.mutable_start_time() = ToTimestamp(Now());
  *bad.mutable_end_time() = ToTimestamp(Now() - absl::Hours(1));
  grpc::Status s = audit_->ListAuditEntries(Ctx(admin()).get(), bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(Describe(s).find("end_time"), std::string::npos) << Describe(s);

  Enrol("bob");
  grpc::Status long_reason = [&] {
    lv1::UpdateMemberRequest req;
    req.set_request_id("long");
    req.mutable_member()->set_member_id("bob");
    req.mutable_member()->set_name("Bob");
    req.mutable_update_mask()->add_paths("name");
    lv1::Member out;
    return stub().UpdateMember(WithReason(admin(), std::string(501, 'x')).get(), req, &out);
  }();
  EXPECT_EQ(long_reason.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(Describe(long_reason).find("care-reason"), std::string::npos) << Describe(long_reason);
  EXPECT_EQ(GetMember("bob").name(), "Member bob");  // nothing changed
}

TEST_F(AuditTest, EntriesAreDeletedAfterTheAuditRetention) {
  Configure();
  Enrol("cid");
  Advance(absl::Hours(24 * 20));
  Enrol("dee");
  ASSERT_EQ(Entries().size(), 3u);
  const double purged = PurgedAuditEntries();
  // 29 days after the first two: all are within the 30 days kept.
  Advance(absl::Hours(24 * 9));
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(Entries().size(), 3u);
  // Past 30 days for the first two, not for dee's.
  Advance(absl::Hours(24 * 1) + absl::Minutes(1));
  ASSERT_TRUE(Eventually([&] { return Entries().size() == 1u; })) << service_->log();
  auto left = Entries();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].target(), "member:dee");
  EXPECT_EQ(PurgedAuditEntries(), purged + 2);
}

}  // namespace
}  // namespace care::testing
