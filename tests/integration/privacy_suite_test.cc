// One data-protection request across the real suite (docs/privacy.md): a
// person with data in all four services — loyalty profile and ledger, a
// goodwill voucher in promotion, a complaint with a distinctive phrase, inbox
// messages and a contact in notification — is exported from each service
// and erased through loyalty's ErasePerson while complaint is down. The
// erasure completes once complaint is back; afterwards no export finds them,
// their ledger is kept under the pseudonym with the remaining balance
// forfeited, and (SQLite) no database file of any service, nor Redis, holds
// their name, e-mail, phone or phrase. Members who share an e-mail address
// are erased one by one: by member id only the one named, by the address
// each of them.
#include <fstream>
#include <set>

#include "absl/strings/match.h"
#include "care/common/v1/audit.grpc.pb.h"
#include "care/promotion/v1/promotion.grpc.pb.h"
#include "tests/integration/complaint_fixture.h"

namespace care::testing {
namespace {

namespace pv1 = ::care::promotion::v1;
using care::common::v1::ExportPersonalDataRequest;

constexpr char kMember[] = "m-ingrid";
constexpr char kName[] = "Ingrid Vantablack-Oyelaran";
constexpr char kEmail[] = "ingrid.vantablack@example.net";
constexpr char kPhone[] = "+447700900417";
constexpr char kPhrase[] = "porcelain heron smashed beyond recognition";

class PrivacySuiteTest : public ComplaintTest {
 protected:
  // Loyalty knows where its peers will listen before they run: complaint
  // starts, stops and comes back on the same port.
  std::vector<std::string> ExtraArgs() override {
    return {"--port=" + std::to_string(loyalty_port_),
            "--notification_target=127.0.0.1:" + std::to_string(notification_port_),
            "--promotion_target=127.0.0.1:" + std::to_string(promotion_port_),
            "--complaint_target=127.0.0.1:" + std::to_string(complaint_port_)};
  }
  std::vector<std::string> ExtraComplaintArgs() override {
    return {"--port=" + std::to_string(complaint_port_),
            "--notification_target=127.0.0.1:" + std::to_string(notification_port_),
            "--promotion_target=127.0.0.1:" + std::to_string(promotion_port_)};
  }

  void SetUp() override {
    LoyaltyTest::SetUp();  // NOLINT(bugprone-parent-virtual-call): complaint starts last
    if (HasFatalFailure()) return;
    Configure();
    notif_ = std::make_unique<ServiceProcess>(CARE_NOTIFICATION_BIN, "care.notification.v1.NotificationService",
                                              NotificationArgs({"--port=" + std::to_string(notification_port_)}),
                                              tokens_);
    ASSERT_TRUE(notif_->Start().ok()) << notif_->log();
    SetBaseTime(*notif_);
    std::vector<std::string> promo_args = PromotionArgs();
    promo_args.push_back("--port=" + std::to_string(promotion_port_));
    promotion_ = std::make_unique<ServiceProcess>(CARE_PROMOTION_BIN, "care.promotion.v1.PromotionService", promo_args,
                                                  tokens_);
    ASSERT_TRUE(promotion_->Start().ok()) << promotion_->log();
    SetBaseTime(*promotion_);
    complaint_ = std::make_unique<ServiceProcess>(CARE_COMPLAINT_BIN, kComplaintHealth, ComplaintArgs(), tokens_);
    ASSERT_TRUE(complaint_->Start().ok()) << complaint_->log();
    cstub_ = kv1::ComplaintService::NewStub(complaint_->channel());
    cclock_ = care::common::v1::ClockControl::NewStub(complaint_->channel());
    SetBoth(Base());
  }

  static ExportPersonalDataRequest ExportOf(const std::string& member_id) {
    ExportPersonalDataRequest req;
    req.mutable_subject()->set_member_id(member_id);
    req.set_reason("DSR-2026-0042");
    return req;
  }

  // Every item one service exports about `member_id`, as text.
  template <typename Item, typename Stub>
  std::vector<std::string> Exported(Stub& stub, const std::string& member_id) {
    auto ctx = Ctx(admin());
    auto reader = stub.ExportPersonalData(ctx.get(), ExportOf(member_id));
    std::vector<std::string> items;
    Item item;
    while (reader->Read(&item)) items.push_back(item.DebugString());
    grpc::Status s = reader->Finish();
    EXPECT_TRUE(s.ok()) << Describe(s);
    return items;
  }

  // The items of all four services' exports about `member_id`, one text.
  std::string ExportedEverywhere(const std::string& member_id) {
    std::string all;
    for (const auto& i : Exported<lv1::LoyaltyPersonalData>(stub(), member_id)) all += "loyalty " + i;
    auto promo = pv1::PromotionService::NewStub(promotion_->channel());
    for (const auto& i : Exported<pv1::PromotionPersonalData>(*promo, member_id)) all += "promotion " + i;
    for (const auto& i : Exported<kv1::ComplaintPersonalData>(complaints(), member_id)) all += "complaint " + i;
    auto notif = nv1::NotificationService::NewStub(notif_->channel());
    for (const auto& i : Exported<nv1::NotificationPersonalData>(*notif, member_id)) all += "notification " + i;
    return all;
  }

  lv1::Erasure GetErasure(const std::string& id) {
    lv1::GetErasureRequest req;
    req.set_erasure_id(id);
    lv1::Erasure out;
    grpc::Status s = stub().GetErasure(Ctx(admin()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  int64_t LedgerTotal(const std::string& member_id) {
    int64_t total = 0;
    for (const auto& e : Ledger(member_id)) total += e.points_delta();
    return total;
  }

  // Files a complaint for `member_id` and resolves it with a goodwill voucher
  // (promotion) that the member is told of (notification's inbox).
  // Resolves the ticket with a 500 USD goodwill voucher (from promotion).
  void ResolveWithVoucher(const std::string& complaint_id) {
    kv1::ResolveComplaintRequest resolve = ResolveRequest(complaint_id, 0);
    resolve.mutable_compensation()->mutable_voucher()->mutable_amount()->set_amount_minor(500);
    resolve.mutable_compensation()->mutable_voucher()->mutable_amount()->set_currency_code("USD");
    resolve.mutable_compensation()->set_reason_code("LATE_DELIVERY");
    kv1::ResolveComplaintResponse resolved;
    grpc::Status s = complaints().ResolveComplaint(Ctx(supervisor()).get(), resolve, &resolved);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  void FileAndResolve(const std::string& member_id) {
    kv1::CreateComplaintRequest file;
    file.set_request_id("file-" + member_id);
    file.set_member_id(member_id);
    file.set_channel(kv1::CHANNEL_EMAIL);
    file.set_category(kv1::CATEGORY_DELIVERY);
    file.set_description("The parcel of " + member_id + " never came");
    file.set_locale("en");
    kv1::CreateComplaintResponse filed;
    grpc::Status s = complaints().CreateComplaint(Ctx(agent()).get(), file, &filed);
    ASSERT_TRUE(s.ok()) << Describe(s);
    ResolveWithVoucher(filed.complaint().complaint_id());
  }

  // Which kinds of a member's data the services export ("loyalty member",
  // "promotion voucher", ...).
  std::set<std::string> ExportedKinds(const std::string& member_id) {
    std::set<std::string> kinds;
    const std::string all = ExportedEverywhere(member_id);
    for (const char* kind : {"loyalty member", "loyalty ledger_entry", "promotion voucher", "complaint complaint",
                             "notification contact", "notification inbox_message"}) {
      if (all.find(kind) != std::string::npos) kinds.insert(kind);
    }
    return kinds;
  }

  lv1::Erasure EraseAndWait(const lv1::ErasePersonRequest& req) {
    lv1::Erasure erasure;
    grpc::Status s = stub().ErasePerson(Ctx(admin()).get(), req, &erasure);
    EXPECT_TRUE(s.ok()) << Describe(s);
    EXPECT_TRUE(Eventually([&] { return GetErasure(erasure.erasure_id()).complete(); }, absl::Seconds(60)))
        << GetErasure(erasure.erasure_id()).DebugString();
    return GetErasure(erasure.erasure_id());
  }

  int notification_port_ = FreePort();
  int promotion_port_ = FreePort();
  int complaint_port_ = FreePort();
  std::unique_ptr<ServiceProcess> notif_;
  std::unique_ptr<ServiceProcess> promotion_;
};

TEST_F(PrivacySuiteTest, APersonIsExportedFromEveryServiceAndErasedEverywhereEvenWithOneServiceDown) {
  Enrol(kMember, [](lv1::Member* m) {
    m->set_name(kName);
    m->set_email(kEmail);
    m->set_phone(kPhone);
  });
  Enrol("m-bystander");
  Purchase(kMember, "order-i1", 15000);
  // The complaint names the phrase; its resolution grants a voucher
  // (promotion) and tells the member (notification's inbox).
  kv1::CreateComplaintRequest file;
  file.set_request_id("file-ingrid");
  file.set_member_id(kMember);
  file.set_channel(kv1::CHANNEL_EMAIL);
  file.set_category(kv1::CATEGORY_DELIVERY);
  file.set_order_id("order-i1");
  file.set_description(std::string("My ") + kPhrase + ", and I want it replaced");
  file.set_locale("en");
  kv1::CreateComplaintResponse filed;
  grpc::Status s = complaints().CreateComplaint(Ctx(agent()).get(), file, &filed);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ResolveWithVoucher(filed.complaint().complaint_id());
  if (HasFatalFailure()) return;

  // Export: each service has its part, once the outboxes delivered.
  std::string exported;
  ASSERT_TRUE(Eventually(
      [&] {
        exported = ExportedEverywhere(kMember);
        return exported.find("promotion voucher") != std::string::npos &&
               exported.find("notification inbox_message") != std::string::npos &&
               exported.find("notification contact") != std::string::npos;
      },
      absl::Seconds(30)))
      << exported << promotion_->log() << notif_->log();
  EXPECT_NE(exported.find("loyalty member"), std::string::npos) << exported;
  EXPECT_NE(exported.find("loyalty ledger_entry"), std::string::npos) << exported;
  EXPECT_NE(exported.find(kPhrase), std::string::npos) << exported;
  EXPECT_NE(exported.find(kName), std::string::npos) << exported;
  EXPECT_EQ(exported.find("m-bystander"), std::string::npos) << "another member's data was exported";
  const int64_t total = LedgerTotal(kMember);
  ASSERT_GT(total, 0);
  // Each export is in its service's audit log: who, why, and a digest for whom.
  const std::vector<std::pair<ServiceProcess*, std::string>> services{
      {service_.get(), "care.loyalty.v1.LoyaltyService"},
      {promotion_.get(), "care.promotion.v1.PromotionService"},
      {complaint_.get(), "care.complaint.v1.ComplaintService"},
      {notif_.get(), "care.notification.v1.NotificationService"}};
  for (const auto& [process, service] : services) {
    care::common::v1::ListAuditEntriesRequest list;
    list.set_action("/" + service + "/ExportPersonalData");
    care::common::v1::ListAuditEntriesResponse audited;
    s = care::common::v1::AuditLog::NewStub(process->channel())->ListAuditEntries(Ctx(admin()).get(), list, &audited);
    ASSERT_TRUE(s.ok()) << Describe(s);
    ASSERT_FALSE(audited.entries().empty()) << service;
    EXPECT_EQ(audited.entries(0).reason(), "DSR-2026-0042");
    EXPECT_EQ(audited.entries(0).principal(), "admin:test");
    EXPECT_EQ(audited.entries(0).DebugString().find(kMember), std::string::npos) << audited.DebugString();
  }

  // Erase while complaint is down: loyalty's part is done at once, the
  // others follow through the outbox, complaint's when it is back.
  complaint_->Terminate(absl::Seconds(5));
  lv1::ErasePersonRequest erase;
  erase.set_request_id("dsr-42");
  erase.mutable_subject()->set_member_id(kMember);
  erase.set_reason("DSR-2026-0042");
  lv1::Erasure erasure;
  s = stub().ErasePerson(Ctx(admin()).get(), erase, &erasure);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_TRUE(Eventually(
      [&] {
        lv1::Erasure e = GetErasure(erasure.erasure_id());
        for (const auto& part : e.services()) {
          if (part.service() == "complaint" && part.state() == lv1::ServiceErasure::PENDING && part.attempts() > 0) {
            return true;
          }
        }
        return false;
      },
      absl::Seconds(30)))
      << GetErasure(erasure.erasure_id()).DebugString();
  EXPECT_FALSE(GetErasure(erasure.erasure_id()).complete());

  ASSERT_TRUE(complaint_->Start().ok()) << complaint_->log();
  cstub_ = kv1::ComplaintService::NewStub(complaint_->channel());
  ASSERT_TRUE(Eventually([&] { return GetErasure(erasure.erasure_id()).complete(); }, absl::Seconds(60)))
      << GetErasure(erasure.erasure_id()).DebugString();
  lv1::Erasure done = GetErasure(erasure.erasure_id());
  EXPECT_EQ(done.services_size(), 4) << done.DebugString();
  EXPECT_EQ(done.DebugString().find(kMember), std::string::npos) << "the erasure record names the person";

  // A retried request is the same erasure.
  lv1::Erasure again;
  s = stub().ErasePerson(Ctx(admin()).get(), erase, &again);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(again.erasure_id(), erasure.erasure_id());

  // Nothing is found about them anywhere; the money stays, de-identified.
  exported = ExportedEverywhere(kMember);
  for (const char* needle : {kName, kEmail, kPhone, kPhrase}) {
    EXPECT_EQ(exported.find(needle), std::string::npos) << needle << " still exported: " << exported;
  }
  // The ticket keeps its facts under the pseudonym, and so does the ledger.
  kv1::GetComplaintRequest get;
  get.set_complaint_id(filed.complaint().complaint_id());
  kv1::Complaint ticket;
  s = complaints().GetComplaint(Ctx(agent()).get(), get, &ticket);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_TRUE(absl::StartsWith(ticket.member_id(), "erased-")) << ticket.DebugString();
  // The remaining balance is forfeited by one last entry: the pseudonym owes
  // nothing, and the entries before it still add up to what the member had.
  const std::vector<lv1::LedgerEntry> kept = Ledger(ticket.member_id());
  ASSERT_GE(kept.size(), 2U);
  EXPECT_EQ(LedgerTotal(ticket.member_id()), 0);
  EXPECT_EQ(kept.back().kind(), lv1::LEDGER_ENTRY_KIND_FORFEIT);
  EXPECT_EQ(kept.back().points_delta(), -total);
  EXPECT_EQ(kept.back().balance_after(), 0);
  EXPECT_EQ(kept.back().forfeiture().description(), "remaining balance forfeited at erasure");
  std::string redis = RedisContents();
  EXPECT_EQ(redis.find(kMember), std::string::npos) << redis;
  EXPECT_EQ(redis.find(kName), std::string::npos) << redis;

  if (TestPostgres()) return;  // raw files: SQLite (PostgreSQL's VACUUM semantics are in docs/privacy.md)
  for (ServiceProcess* p : {service_.get(), promotion_.get(), complaint_.get(), notif_.get()}) {
    std::map<std::string, std::string> found = FoundInFiles(p->data_dir(), {kName, kEmail, kPhone, kPhrase});
    EXPECT_TRUE(found.empty()) << p->data_dir() << ": " << found.begin()->first << " in " << found.begin()->second;
  }
}

TEST_F(PrivacySuiteTest, MembersSharingAnEMailAreErasedByMemberIdAloneOrAllByTheAddress) {
  constexpr char kShared[] = "the.family@example.net";
  const std::vector<std::string> members = {"m-ana", "m-ben", "m-cy"};
  for (const std::string& m : members) {
    Enrol(m, [&](lv1::Member* p) {
      p->set_name("Member " + m);
      p->set_email(kShared);
    });
    Purchase(m, "order-" + m, 8000);
    FileAndResolve(m);
  }
  const std::set<std::string> everything = {"loyalty member",       "loyalty ledger_entry",
                                            "promotion voucher",    "complaint complaint",
                                            "notification contact", "notification inbox_message"};
  for (const std::string& m : members) {
    ASSERT_TRUE(Eventually([&] { return ExportedKinds(m) == everything; }, absl::Seconds(30)))
        << m << ": " << ExportedEverywhere(m);
  }

  // By member id: Ana only. Ben and Cy share her address and keep everything.
  lv1::ErasePersonRequest by_id;
  by_id.set_request_id("dsr-ana");
  by_id.mutable_subject()->set_member_id("m-ana");
  by_id.set_reason("DSR-2026-0051");
  const lv1::Erasure ana = EraseAndWait(by_id);
  EXPECT_TRUE(ExportedKinds("m-ana").empty()) << ExportedEverywhere("m-ana");
  for (const char* m : {"m-ben", "m-cy"}) {
    EXPECT_EQ(ExportedKinds(m), everything) << m << " lost data to another member's erasure: " << ExportedEverywhere(m);
  }
  for (const auto& part : ana.services()) {
    if (part.service() != "loyalty") EXPECT_EQ(part.requests(), 1) << part.DebugString();
  }

  // By the address: both members who hold it, each everywhere, each under a
  // pseudonym of its own.
  lv1::ErasePersonRequest by_email;
  by_email.set_request_id("dsr-family");
  by_email.mutable_subject()->set_email("The.Family@example.net");
  by_email.set_reason("DSR-2026-0052");
  const lv1::Erasure family = EraseAndWait(by_email);
  for (const char* m : {"m-ben", "m-cy"}) {
    EXPECT_TRUE(ExportedKinds(m).empty()) << m << " was not erased everywhere: " << ExportedEverywhere(m);
  }
  for (const auto& part : family.services()) {
    EXPECT_EQ(part.state(), lv1::ServiceErasure::DONE) << part.DebugString();
    if (part.service() == "loyalty") continue;
    EXPECT_EQ(part.requests(), 2) << part.DebugString();
    EXPECT_EQ(part.requests_done(), 2) << part.DebugString();
    EXPECT_EQ(part.receipt().erasure_id(), family.erasure_id());
  }
  // Each ticket is kept under its own member's pseudonym.
  kv1::ListComplaintsRequest list;
  list.set_page_size(100);
  kv1::ListComplaintsResponse listed;
  grpc::Status s = complaints().ListComplaints(Ctx(agent()).get(), list, &listed);
  ASSERT_TRUE(s.ok()) << Describe(s);
  std::set<std::string> owners;
  for (const auto& c : listed.complaints()) {
    EXPECT_TRUE(absl::StartsWith(c.member_id(), "erased-")) << c.member_id();
    owners.insert(c.member_id());
  }
  EXPECT_EQ(owners.size(), 3U);
}

}  // namespace
}  // namespace care::testing
