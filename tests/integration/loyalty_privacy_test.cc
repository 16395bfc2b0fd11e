// A person's data in loyalty (docs/privacy.md): their export, and the
// suite's erasure entry point (ErasePerson) against the real care_loyalty,
// with promotion and complaint down at first (fake peers started later) and
// the fake notification refusing until it is "back".

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "care/complaint/v1/complaint.grpc.pb.h"
#include "care/promotion/v1/promotion.grpc.pb.h"
#include "tests/integration/loyalty_fixture.h"

namespace care::testing {
namespace {

using care::common::v1::ErasePersonalDataRequest;
using care::common::v1::ErasureReceipt;
using care::common::v1::ExportPersonalDataRequest;

constexpr char kName[] = "Zelda Quixotebottom";
constexpr char kEmail[] = "zelda.quixote@example.org";
constexpr char kPhone[] = "+15550199887";

// A peer that answers ErasePersonalData only (PromotionService or
// ComplaintService), on a port chosen before it runs.
template <typename Service>
class FakeErasurePeer final : public Service::CallbackService {
 public:
  FakeErasurePeer(std::string name, int port) : name_(std::move(name)) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", port), grpc::InsecureServerCredentials());
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeErasurePeer() override { server_->Shutdown(std::chrono::system_clock::now()); }

  grpc::ServerUnaryReactor* ErasePersonalData(grpc::CallbackServerContext* ctx, const ErasePersonalDataRequest* req,
                                              ErasureReceipt* resp) override {
    std::lock_guard lock(mu_);
    requests_.push_back(*req);
    resp->set_service(name_);
    resp->set_erasure_id(req->erasure_id());
    (*resp->mutable_erased())["record"] = 1;
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  std::vector<ErasePersonalDataRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  std::string name_;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;
  std::vector<ErasePersonalDataRequest> requests_;
};

class LoyaltyPrivacyTest : public LoyaltyTest {
 protected:
  std::vector<std::string> ExtraArgs() override {
    return {absl::StrCat("--promotion_target=127.0.0.1:", promotion_port_),
            absl::StrCat("--complaint_target=127.0.0.1:", complaint_port_)};
  }

  // Every item of the person's export.
  std::vector<lv1::LoyaltyPersonalData> Export(const care::common::v1::DataSubject& subject) {
    ExportPersonalDataRequest req;
    *req.mutable_subject() = subject;
    req.set_reason("DSR-2031-17");
    auto ctx = Ctx(admin());
    auto reader = stub().ExportPersonalData(ctx.get(), req);
    std::vector<lv1::LoyaltyPersonalData> items;
    lv1::LoyaltyPersonalData item;
    while (reader->Read(&item)) items.push_back(item);
    grpc::Status s = reader->Finish();
    EXPECT_TRUE(s.ok()) << Describe(s);
    return items;
  }

  grpc::Status Erase(const std::string& request_id, const std::string& member_id, lv1::Erasure* out,
                     const std::string& token = "") {
    lv1::ErasePersonRequest req;
    req.set_request_id(request_id);
    req.mutable_subject()->set_member_id(member_id);
    req.set_reason("DSR-2031-17");
    return stub().ErasePerson(Ctx(token.empty() ? admin() : token).get(), req, out);
  }

  lv1::Erasure GetErasure(const std::string& erasure_id) {
    lv1::GetErasureRequest req;
    req.set_erasure_id(erasure_id);
    lv1::Erasure out;
    grpc::Status s = stub().GetErasure(Ctx(admin()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  static const lv1::ServiceErasure& Part(const lv1::Erasure& e, const std::string& service) {
    for (const auto& s : e.services()) {
      if (s.service() == service) return s;
    }
    ADD_FAILURE() << "no part for " << service << " in " << e.ShortDebugString();
    static const lv1::ServiceErasure none;
    return none;
  }

  int promotion_port_ = FreePort();
  int complaint_port_ = FreePort();
};

int64_t Sum(const std::vector<lv1::LedgerEntry>& entries) {
  int64_t sum = 0;
  for (const auto& e : entries) sum += e.points_delta();
  return sum;
}

TEST_F(LoyaltyPrivacyTest, ExportsEverythingThenErasesOnceAcrossTheSuite) {
  Configure();
  Enrol("m-zelda", [](lv1::Member* m) {
    m->set_name(kName);
    m->set_email(kEmail);
    m->set_phone(kPhone);
  });
  Enrol("m-other");
  Purchase("m-zelda", "order-z1", 12000);
  Purchase("m-zelda", "order-z2", 4550);
  Adjust("m-zelda", "adjust-z1", 40);
  lv1::RedeemPointsResponse redeemed;
  ASSERT_TRUE(Redeem("m-zelda", "redeem-z1", 30, &redeemed).ok());
  Purchase("m-other", "order-o1", 9900);
  GetTier("m-zelda");
  const std::vector<lv1::LedgerEntry> ledger = Ledger("m-zelda");
  const int64_t total = Sum(ledger);
  ASSERT_EQ(ledger.size(), 4U);

  // Export: the profile, its tier snapshot and every ledger entry, found
  // by member id and by e-mail alike.
  care::common::v1::DataSubject by_id;
  by_id.set_member_id("m-zelda");
  care::common::v1::DataSubject by_email;
  by_email.set_email("Zelda.Quixote@example.org");
  for (const auto& subject : {by_id, by_email}) {
    std::vector<lv1::LoyaltyPersonalData> items = Export(subject);
    std::set<std::string> entry_ids;
    int members = 0, snapshots = 0;
    for (const auto& item : items) {
      if (item.has_member()) {
        ++members;
        EXPECT_EQ(item.member().name(), kName);
        EXPECT_EQ(item.member().phone(), kPhone);
      }
      if (item.has_tier_snapshot()) {
        ++snapshots;
        EXPECT_EQ(item.tier_snapshot().member_id(), "m-zelda");
      }
      if (item.has_ledger_entry()) entry_ids.insert(item.ledger_entry().entry_id());
    }
    EXPECT_EQ(members, 1);
    EXPECT_EQ(snapshots, 1);
    std::set<std::string> expected;
    for (const auto& e : ledger) expected.insert(e.entry_id());
    EXPECT_EQ(entry_ids, expected);
  }

  // Bad input and the wrong role.
  lv1::Erasure refused;
  lv1::ErasePersonRequest no_reason;
  no_reason.set_request_id("erase-bad");
  no_reason.mutable_subject()->set_member_id("m-zelda");
  grpc::Status bad = stub().ErasePerson(Ctx(admin()).get(), no_reason, &refused);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(bad);
  EXPECT_NE(Describe(bad).find("reason"), std::string::npos) << Describe(bad);
  EXPECT_EQ(Erase("erase-svc", "m-zelda", &refused, svc()).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  if (!TestPostgres()) {
    ASSERT_EQ(FoundInFiles(service_->data_dir(), {kName}).size(), 1U) << "the check below would prove nothing";
  }

  // Erase with promotion and complaint down and notification refusing.
  notification_.set_down(true);
  lv1::Erasure erasure;
  grpc::Status s = Erase("erase-1", "m-zelda", &erasure);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_FALSE(erasure.complete());
  EXPECT_EQ(erasure.requested_by(), "admin:test");
  EXPECT_EQ(erasure.ShortDebugString().find("zelda"), std::string::npos) << "the erasure names no one";
  const lv1::ServiceErasure& own = Part(erasure, "loyalty");
  EXPECT_EQ(own.state(), lv1::ServiceErasure::DONE);
  EXPECT_EQ(own.receipt().erased().at("member"), 1);
  EXPECT_EQ(own.receipt().deidentified().at("ledger_entry"), 5) << "four entries and the forfeiture";
  EXPECT_EQ(own.receipt().deidentified().at("purchase"), 2);
  EXPECT_GE(own.receipt().erased().at("idempotency_record"), 1);
  for (const char* peer : {"promotion", "complaint", "notification"}) {
    EXPECT_EQ(Part(erasure, peer).state(), lv1::ServiceErasure::PENDING) << peer;
  }
  // Promotion and complaint are tried and fail; notification's request may
  // still wait behind its earlier events (held back while it is down).
  ASSERT_TRUE(Eventually([&] {
    lv1::Erasure now = GetErasure(erasure.erasure_id());
    if (Part(now, "notification").state() != lv1::ServiceErasure::PENDING) return false;
    for (const char* peer : {"promotion", "complaint"}) {
      const auto& part = Part(now, peer);
      if (part.state() != lv1::ServiceErasure::PENDING || part.attempts() < 1 || part.last_error().empty()) {
        return false;
      }
    }
    return true;
  })) << GetErasure(erasure.erasure_id()).ShortDebugString();

  // The member is gone and is not re-created.
  lv1::GetMemberRequest get;
  get.set_member_id("m-zelda");
  lv1::Member gone;
  grpc::Status read = stub().GetMember(Ctx(svc()).get(), get, &gone);
  EXPECT_EQ(read.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(read);
  EXPECT_NE(Describe(read).find("SUBJECT_ERASED"), std::string::npos) << Describe(read);
  lv1::RecordPurchaseResponse purchase;
  grpc::Status later = stub().RecordPurchase(Ctx(svc()).get(), PurchaseRequest("m-zelda", "order-z3", 100), &purchase);
  EXPECT_NE(Describe(later).find("SUBJECT_ERASED"), std::string::npos) << Describe(later);
  lv1::EnrolMemberRequest again;
  again.set_request_id("enrol-again");
  again.mutable_member()->set_member_id("m-zelda");
  again.mutable_member()->set_name(kName);
  lv1::Member reenrolled;
  grpc::Status enrol = stub().EnrolMember(Ctx(svc()).get(), again, &reenrolled);
  EXPECT_NE(Describe(enrol).find("SUBJECT_ERASED"), std::string::npos) << Describe(enrol);
  EXPECT_TRUE(Export(by_id).empty());
  EXPECT_EQ(GetMember("m-other").name(), "Member m-other");
  EXPECT_EQ(Ledger("m-other").size(), 1U);

  // A retry is the same erasure; Redis names the member no more.
  lv1::Erasure retried;
  ASSERT_TRUE(Erase("erase-1", "m-zelda", &retried).ok());
  EXPECT_EQ(retried.erasure_id(), erasure.erasure_id());
  const std::string redis = RedisContents();
  EXPECT_EQ(redis.find("m-zelda"), std::string::npos);
  EXPECT_NE(redis.find("m-other"), std::string::npos) << "the other member's snapshot stays";
  if (!TestPostgres()) {
    EXPECT_TRUE(FoundInFiles(service_->data_dir(), {kName}).empty()) << "the name is in the database files";
  }

  // The services come back: each becomes DONE with its receipt.
  FakeErasurePeer<care::promotion::v1::PromotionService> promotion("promotion", promotion_port_);
  FakeErasurePeer<care::complaint::v1::ComplaintService> complaint("complaint", complaint_port_);
  notification_.set_down(false);
  ASSERT_TRUE(Eventually([&] { return GetErasure(erasure.erasure_id()).complete(); }, absl::Seconds(60)))
      << GetErasure(erasure.erasure_id()).ShortDebugString();
  lv1::Erasure done = GetErasure(erasure.erasure_id());
  for (const char* peer : {"promotion", "complaint", "notification"}) {
    EXPECT_EQ(Part(done, peer).state(), lv1::ServiceErasure::DONE) << peer;
    EXPECT_EQ(Part(done, peer).receipt().service(), peer);
  }
  ASSERT_EQ(promotion.requests().size(), 1U);
  const ErasePersonalDataRequest sent = promotion.requests()[0];
  EXPECT_EQ(sent.erasure_id(), erasure.erasure_id());
  EXPECT_EQ(sent.subject().member_id(), "m-zelda");
  EXPECT_EQ(sent.subject().email(), kEmail) << "the others erase by every key loyalty knows";
  EXPECT_EQ(sent.subject().phone(), kPhone);

  // Money stays, de-identified: the same entries under the pseudonym, and one
  // more that forfeits the remaining balance (nobody can spend it), so the
  // pseudonym owes nothing and issued - spent - forfeited still adds up.
  std::vector<lv1::LedgerEntry> kept = Ledger(sent.pseudonym());
  ASSERT_EQ(kept.size(), ledger.size() + 1);
  EXPECT_EQ(Sum(kept), 0);
  for (const auto& e : kept) EXPECT_EQ(e.member_id(), sent.pseudonym());
  const lv1::LedgerEntry& forfeit = kept.back();
  EXPECT_EQ(forfeit.kind(), lv1::LEDGER_ENTRY_KIND_FORFEIT);
  EXPECT_EQ(forfeit.points_delta(), -total);
  EXPECT_EQ(forfeit.balance_after(), 0);
  EXPECT_EQ(forfeit.sequence(), ledger.back().sequence() + 1);
  EXPECT_EQ(forfeit.forfeiture().description(), "remaining balance forfeited at erasure");
  EXPECT_EQ(forfeit.DebugString().find("zelda"), std::string::npos) << forfeit.DebugString();

  // A second erasure of the same member erases nothing more.
  lv1::Erasure second;
  ASSERT_TRUE(Erase("erase-2", "m-zelda", &second).ok());
  EXPECT_NE(second.erasure_id(), erasure.erasure_id());
  for (const auto& [kind, n] : Part(second, "loyalty").receipt().erased()) EXPECT_EQ(n, 0) << kind;
  EXPECT_TRUE(Part(second, "loyalty").receipt().deidentified().empty());
  EXPECT_EQ(Ledger(sent.pseudonym()).size(), ledger.size() + 1) << "forfeited once";

  // Proof on disk: once the requests were delivered (payloads blanked) and
  // the files scrubbed, no name, e-mail or phone is left in them.
  if (!TestPostgres()) {
    ASSERT_TRUE(Eventually([&] { return GetErasure(second.erasure_id()).complete(); }, absl::Seconds(30)));
    EXPECT_TRUE(Eventually(
        [&] {
          return FoundInFiles(service_->data_dir(), {kName, kEmail, kPhone}).empty();
        },
        absl::Seconds(15)))
        << "the person's name, e-mail or phone is still in " << service_->data_dir();
  }
}

TEST_F(LoyaltyPrivacyTest, UnknownErasureIsNotFound) {
  lv1::GetErasureRequest req;
  req.set_erasure_id("er-nothing");
  lv1::Erasure out;
  grpc::Status s = stub().GetErasure(Ctx(admin()).get(), req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(s);
}

}  // namespace
}  // namespace care::testing
