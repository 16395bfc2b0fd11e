// The program (validation, versions, optimistic concurrency) and members
// (enrolment, updates with a field mask, listing with filters and page
// tokens, and the streaming export for notification audiences).
#include <set>

#include "absl/strings/str_format.h"
#include "tests/harness/scrape.h"
#include "tests/integration/loyalty_fixture.h"

namespace care::testing {
namespace {

class ProgramTest : public LoyaltyTest {
 protected:
  // Versions 2 and 1, a page of one each, version 1 superseded an hour after Base().
  void ExpectTwoVersionsNewestFirst() {
    lv1::ListProgramVersionsRequest list;
    list.set_page_size(1);
    lv1::ListProgramVersionsResponse page;
    ASSERT_TRUE(stub().ListProgramVersions(Ctx(admin()).get(), list, &page).ok());
    ASSERT_EQ(page.programs_size(), 1);
    EXPECT_EQ(page.programs(0).version(), 2);
    ASSERT_FALSE(page.next_page_token().empty());
    list.set_page_token(page.next_page_token());
    ASSERT_TRUE(stub().ListProgramVersions(Ctx(admin()).get(), list, &page).ok());
    ASSERT_EQ(page.programs_size(), 1);
    EXPECT_EQ(page.programs(0).version(), 1);
    EXPECT_EQ(FromTimestamp(page.programs(0).superseded_time()), Base() + absl::Hours(1));
    EXPECT_TRUE(page.next_page_token().empty());
  }
};

using MemberTest = LoyaltyTest;

TEST_F(ProgramTest, IsValidatedVersionedAndGuardedByItsVersion) {
  lv1::GetProgramRequest get;
  lv1::Program got;
  grpc::Status s = stub().GetProgram(Ctx(svc()).get(), get, &got);
  EXPECT_EQ(Reason(s), "PROGRAM_NOT_CONFIGURED");

  lv1::Program bad = DefaultProgram();
  bad.set_time_zone("Mars/Olympus");
  bad.mutable_tiers(1)->mutable_qualifying_spend()->set_amount_minor(600000);  // above gold
  bad.mutable_tiers(2)->mutable_benefits()->set_points_multiplier_bps(0);
  lv1::Program out;
  s = UpdateProgram(bad, 0, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(BadFields(s),
            (std::vector<std::string>{"program.time_zone", "program.tiers[2].benefits.points_multiplier_bps"}));
  bad = DefaultProgram();
  bad.mutable_tiers(1)->mutable_qualifying_spend()->set_amount_minor(600000);
  s = UpdateProgram(bad, 0, &out);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"program.tiers[2].qualifying_spend"});

  lv1::Program v1 = Configure();
  EXPECT_EQ(v1.version(), 1);
  EXPECT_EQ(v1.actor(), "admin:test");
  ASSERT_EQ(v1.tiers_size(), 3);
  EXPECT_EQ(v1.tiers(0).tier_id(), "member");

  // Optimistic concurrency: the version being replaced must be named.
  lv1::Program renamed = v1;
  renamed.set_display_name("Care Club");
  s = UpdateProgram(renamed, 0, &out, {"display_name"});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(Reason(s), "VERSION_MISMATCH");
  EXPECT_EQ(ReasonMetadata(s, "current_version"), "1");
  Advance(absl::Hours(1));
  s = UpdateProgram(renamed, 1, &out, {"display_name"});
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(out.version(), 2);
  EXPECT_EQ(out.display_name(), "Care Club");

  // Removing a tier someone holds is refused; an unheld one may go.
  Enrol("ann");
  Purchase("ann", "o-1", 100000);
  lv1::Program fewer = out;
  fewer.mutable_tiers()->DeleteSubrange(1, 1);  // silver
  s = UpdateProgram(fewer, 2, &out, {"tiers"});
  EXPECT_EQ(Reason(s), "TIER_IN_USE");
  EXPECT_EQ(ReasonMetadata(s, "tier_id"), "silver");
  lv1::Program usd_to_eur = DefaultProgram();
  usd_to_eur.set_currency_code("EUR");
  s = UpdateProgram(usd_to_eur, 2, &out, {"currency_code"});
  EXPECT_EQ(Reason(s), "PROGRAM_CHANGE_NOT_ALLOWED");

  ASSERT_NO_FATAL_FAILURE(ExpectTwoVersionsNewestFirst());

  get.set_version(1);
  ASSERT_TRUE(stub().GetProgram(Ctx(svc()).get(), get, &got).ok());
  EXPECT_EQ(got.display_name(), "CareSuite Rewards");
  get.Clear();
  *get.mutable_as_of_time() = ToTimestamp(Base() + absl::Minutes(30));
  ASSERT_TRUE(stub().GetProgram(Ctx(svc()).get(), get, &got).ok());
  EXPECT_EQ(got.version(), 1);
  get.set_version(9);
  get.clear_as_of_time();
  s = stub().GetProgram(Ctx(svc()).get(), get, &got);
  EXPECT_EQ(Reason(s), "PROGRAM_VERSION_NOT_FOUND");
  // Agents may read the program but not change it.
  lv1::UpdateProgramRequest as_agent;
  as_agent.set_request_id("agent-try");
  s = stub().UpdateProgram(Ctx(tokens_.agent).get(), as_agent, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(MemberTest, EnrolUpdateWithAMaskAndOptimisticVersions) {
  Configure();
  lv1::Member m = Enrol("ann", [](lv1::Member* p) {
    p->set_segment("partner");
    p->set_gender(lv1::GENDER_FEMALE);
    p->set_age_band(lv1::AGE_BAND_25_34);
    auto* c = p->add_marketing_consents();
    c->set_channel(care::common::v1::MESSAGE_CHANNEL_EMAIL);
    c->set_granted(true);
  });
  EXPECT_EQ(m.version(), 1);
  EXPECT_EQ(m.segment(), "partner");
  EXPECT_EQ(m.points_balance(), 0);
  EXPECT_EQ(m.tier().tier_display_name(), "Member");
  ASSERT_EQ(m.marketing_consents_size(), 1);
  EXPECT_EQ(FromTimestamp(m.marketing_consents(0).update_time()), Base());

  lv1::EnrolMemberRequest again;
  again.set_request_id("another-request");
  again.mutable_member()->set_member_id("ann");
  again.mutable_member()->set_name("Ann Again");
  lv1::Member out;
  grpc::Status s = stub().EnrolMember(Ctx(svc()).get(), again, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Reason(s), "MEMBER_ALREADY_EXISTS");

  lv1::EnrolMemberRequest invalid;
  invalid.set_request_id("bad");
  invalid.mutable_member()->set_email("not-an-email");
  invalid.mutable_member()->set_phone("0901");
  invalid.mutable_member()->mutable_birthday()->set_month(2);
  invalid.mutable_member()->mutable_birthday()->set_day(30);
  s = stub().EnrolMember(Ctx(svc()).get(), invalid, &out);
  EXPECT_EQ(BadFields(s), (std::vector<std::string>{"member.name", "member.email", "member.phone", "member.birthday"}));

  Advance(absl::Hours(2));
  lv1::UpdateMemberRequest update;
  update.set_request_id("u-1");
  update.mutable_member()->set_member_id("ann");
  update.mutable_member()->set_version(1);
  update.mutable_member()->set_name("Ann Nguyen");
  update.mutable_member()->set_email("IGNORED, not in the mask");
  auto* sms = update.mutable_member()->add_marketing_consents();
  sms->set_channel(care::common::v1::MESSAGE_CHANNEL_WEBHOOK);
  sms->set_granted(true);
  update.mutable_update_mask()->add_paths("name");
  update.mutable_update_mask()->add_paths("marketing_consents");
  s = stub().UpdateMember(Ctx(svc()).get(), update, &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(out.name(), "Ann Nguyen");
  EXPECT_EQ(out.email(), "ann@example.com");
  EXPECT_EQ(out.version(), 2);
  ASSERT_EQ(out.marketing_consents_size(), 2);  // merged by channel, in channel order
  EXPECT_EQ(out.marketing_consents(0).channel(), care::common::v1::MESSAGE_CHANNEL_WEBHOOK);
  EXPECT_EQ(FromTimestamp(out.marketing_consents(0).update_time()), Base() + absl::Hours(2));
  EXPECT_EQ(out.marketing_consents(1).channel(), care::common::v1::MESSAGE_CHANNEL_EMAIL);
  EXPECT_EQ(FromTimestamp(out.marketing_consents(1).update_time()), Base());

  update.set_request_id("u-2");  // still says version 1
  s = stub().UpdateMember(Ctx(svc()).get(), update, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(Reason(s), "VERSION_MISMATCH");
  EXPECT_EQ(ReasonMetadata(s, "current_version"), "2");

  update.set_request_id("u-3");
  update.mutable_update_mask()->add_paths("points_balance");
  s = stub().UpdateMember(Ctx(svc()).get(), update, &out);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"update_mask"});
}

TEST_F(MemberTest, ListPagesThroughFiltersWithTokensBoundToThem) {
  Configure();
  for (int i = 0; i < 7; ++i) {
    std::string id = absl::StrCat("m", i);
    Enrol(id, [i](lv1::Member* m) { m->set_segment(i % 2 ? "partner" : "retail"); });
    if (i < 3) Purchase(id, "o-" + id, 100000);
  }
  lv1::ListMembersRequest req;
  req.add_tier_ids("silver");
  req.set_page_size(2);
  lv1::ListMembersResponse page;
  ASSERT_TRUE(stub().ListMembers(Ctx(svc()).get(), req, &page).ok());
  ASSERT_EQ(page.members_size(), 2);
  EXPECT_EQ(page.members(0).member_id(), "m0");
  EXPECT_EQ(page.members(1).member_id(), "m1");
  req.set_page_token(page.next_page_token());
  ASSERT_TRUE(stub().ListMembers(Ctx(svc()).get(), req, &page).ok());
  ASSERT_EQ(page.members_size(), 1);
  EXPECT_EQ(page.members(0).member_id(), "m2");
  EXPECT_TRUE(page.next_page_token().empty());

  req.clear_tier_ids();  // the token was issued for another filter
  grpc::Status s = stub().ListMembers(Ctx(svc()).get(), req, &page);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(s), "INVALID_PAGE_TOKEN");

  req.Clear();
  req.add_segments("partner");
  req.set_email("M3@EXAMPLE.COM");
  ASSERT_TRUE(stub().ListMembers(Ctx(svc()).get(), req, &page).ok());
  ASSERT_EQ(page.members_size(), 1);
  EXPECT_EQ(page.members(0).member_id(), "m3");

  req.Clear();
  req.set_page_size(-1);
  s = stub().ListMembers(Ctx(svc()).get(), req, &page);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"page_size"});
}

TEST_F(MemberTest, ExportStreamsEveryMatchingMemberOnceInOrderAcrossBatches) {
  Configure();
  constexpr int kMembers = 1300;  // several server batches of 500
  // Set-up from 8 threads, retried like a client (same request ids) on a
  // loaded machine.
  RunConcurrently(kMembers, 8, [&](int i) {
    lv1::EnrolMemberRequest req;
    req.set_request_id(absl::StrCat("e-", i));
    req.mutable_member()->set_member_id(absl::StrFormat("x%05d", i));
    req.mutable_member()->set_name("x");
    if (i % 3 == 0) {
      auto* c = req.mutable_member()->add_marketing_consents();
      c->set_channel(care::common::v1::MESSAGE_CHANNEL_IN_APP);
      c->set_granted(true);
    }
    lv1::Member out;
    grpc::Status s = RetryTransient([&](int) { return stub().EnrolMember(Ctx(svc()).get(), req, &out); });
    ASSERT_TRUE(s.ok()) << req.request_id() << ": " << Describe(s);
    if (i % 10 == 0) {
      lv1::RecordPurchaseResponse r;
      const auto purchase = PurchaseRequest(out.member_id(), absl::StrCat("o-", i), 100000);
      s = RetryTransient([&](int) { return stub().RecordPurchase(Ctx(svc()).get(), purchase, &r); });
      ASSERT_TRUE(s.ok()) << purchase.request_id() << ": " << Describe(s);
    }
  });

  auto export_ids = [&](const lv1::ExportMembersRequest& req) {
    std::vector<std::string> ids;
    auto ctx = Ctx(tokens_.peer_notification, absl::Seconds(30));
    auto reader = stub().ExportMembers(ctx.get(), req);
    lv1::Member m;
    while (reader->Read(&m)) ids.push_back(m.member_id());
    grpc::Status s = reader->Finish();
    EXPECT_TRUE(s.ok()) << Describe(s);
    return ids;
  };
  lv1::ExportMembersRequest all;
  std::vector<std::string> ids = export_ids(all);
  ASSERT_EQ(ids.size(), static_cast<size_t>(kMembers));
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());

  lv1::ExportMembersRequest silver;
  silver.add_tier_ids("silver");
  ids = export_ids(silver);
  EXPECT_EQ(ids.size(), 130u);
  EXPECT_EQ(ids.front(), "x00000");

  lv1::ExportMembersRequest consented;
  consented.set_marketing_consent_channel(care::common::v1::MESSAGE_CHANNEL_IN_APP);
  EXPECT_EQ(export_ids(consented).size(), 434u);

  // Resuming after the last id received.
  lv1::ExportMembersRequest resume;
  resume.set_after_member_id("x01199");
  ids = export_ids(resume);
  ASSERT_EQ(ids.size(), 100u);
  EXPECT_EQ(ids.front(), "x01200");

  // The stream is authorized like any call.
  auto ctx = Ctx(tokens_.agent);
  auto reader = stub().ExportMembers(ctx.get(), all);
  lv1::Member m;
  EXPECT_FALSE(reader->Read(&m));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  lv1::ExportMembersRequest bad;
  bad.add_tier_ids("Not A Tier");
  auto ctx2 = Ctx(tokens_.peer_notification);
  auto reader2 = stub().ExportMembers(ctx2.get(), bad);
  EXPECT_FALSE(reader2->Read(&m));
  grpc::Status s = reader2->Finish();
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"tier_ids[0]"});
}

TEST_F(MemberTest, AClientThatStopsReadingDoesNotStallTheServer) {
  Configure();
  for (int i = 0; i < 30; ++i) Enrol(absl::StrCat("y", i));
  {
    auto ctx = Ctx(tokens_.peer_notification);
    auto reader = stub().ExportMembers(ctx.get(), lv1::ExportMembersRequest());
    lv1::Member m;
    ASSERT_TRUE(reader->Read(&m));
    ctx->TryCancel();
    while (reader->Read(&m)) {
    }
    reader->Finish();
  }
  EXPECT_EQ(GetMember("y3").member_id(), "y3");
}

// issue 16, defect 3: exporting every member's personal data takes a peer
// (notification, for audiences) or an admin, and each export is audited.
class ExportAuditTest : public LoyaltyTest {
 protected:
  std::vector<std::string> ExtraArgs() override {
    return {"--metrics_port=0", "--metrics_port_file=" + dir_.path() + "/metrics_port"};
  }
  double Sampled(const std::string& series) {
    auto body = HttpGet(std::stoi(ReadFile(dir_.path() + "/metrics_port")), "/metrics");
    EXPECT_TRUE(body.ok()) << body.status();
    return Sample(ParseExposition(body.ok() ? *body : ""), series);
  }
};

TEST_F(ExportAuditTest, ABackendCannotExportMembersAndEveryExportIsAudited) {
  Configure();
  for (int i = 0; i < 7; ++i) Enrol(absl::StrCat("e", i));
  lv1::Member m;
  {
    auto ctx = Ctx(svc());
    auto reader = stub().ExportMembers(ctx.get(), lv1::ExportMembersRequest());
    EXPECT_FALSE(reader->Read(&m));
    grpc::Status s = reader->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
    EXPECT_EQ(Reason(s), "MISSING_ROLE");
  }
  int rows = 0;
  {
    auto ctx = Ctx(tokens_.peer_notification);
    auto reader = stub().ExportMembers(ctx.get(), lv1::ExportMembersRequest());
    while (reader->Read(&m)) ++rows;
    grpc::Status s = reader->Finish();
    ASSERT_TRUE(s.ok()) << Describe(s);
  }
  EXPECT_EQ(rows, 7);
  // The audit is written as the stream is torn down, just after Finish.
  ASSERT_TRUE(Eventually([&] {
    return Sampled("care_loyalty_member_exports_total{principal=\"svc:notification\"}") == 1;
  }));
  EXPECT_EQ(Sampled("care_loyalty_members_exported_total{principal=\"svc:notification\"}"), 7);
  EXPECT_EQ(Sampled("care_loyalty_member_exports_total{principal=\"backend:test\"}"), 0);
  std::string log = service_->log();
  EXPECT_NE(log.find("\"member export\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"principal\":\"svc:notification\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"rows\":7"), std::string::npos) << log;
}

// issue 16, defect 3: among peers only notification exports members; a
// compromised promotion, loyalty or complaint peer gets nothing, and its
// refused attempt is not counted as an export. Admins keep theirs.
TEST_F(ExportAuditTest, AmongPeersOnlyNotificationExportsMembers) {
  Configure();
  for (int i = 0; i < 3; ++i) Enrol(absl::StrCat("p", i));
  lv1::Member m;
  for (const std::string* peer : {&tokens_.peer_promotion, &tokens_.peer_loyalty, &tokens_.peer_complaint}) {
    auto ctx = Ctx(*peer);
    auto reader = stub().ExportMembers(ctx.get(), lv1::ExportMembersRequest());
    EXPECT_FALSE(reader->Read(&m));
    grpc::Status s = reader->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
    EXPECT_EQ(Reason(s), "PEER_NOT_ALLOWED") << Describe(s);
    EXPECT_EQ(ReasonMetadata(s, "allowed"), "svc:notification");
    EXPECT_NE(ReasonMetadata(s, "method").find("ExportMembers"), std::string::npos) << Describe(s);
  }
  for (const std::string* allowed : {&tokens_.peer_notification, &tokens_.admin}) {
    auto ctx = Ctx(*allowed);
    auto reader = stub().ExportMembers(ctx.get(), lv1::ExportMembersRequest());
    int rows = 0;
    while (reader->Read(&m)) ++rows;
    grpc::Status s = reader->Finish();
    ASSERT_TRUE(s.ok()) << Describe(s);
    EXPECT_EQ(rows, 3);
  }
  ASSERT_TRUE(Eventually([&] { return Sampled("care_loyalty_member_exports_total{principal=\"admin:test\"}") == 1; }));
  EXPECT_EQ(Sampled("care_loyalty_member_exports_total{principal=\"svc:promotion\"}"), 0);
}

}  // namespace
}  // namespace care::testing
