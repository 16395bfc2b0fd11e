// common/privacy.h on SQLite: an erasure deletes exactly the idempotency
// answers and outbox events tagged with the person, leaves a tombstone that
// refuses them later, and after Scrub the person's strings are in none of
// the database's files; the request checks name each bad field.
#include "common/privacy.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/idempotency.h"
#include "common/sqlite.h"
#include "google/protobuf/wrappers.pb.h"
#include "tests/harness/harness.h"

namespace care {
namespace {

using care::common::v1::DataSubject;
using care::common::v1::ErasePersonalDataRequest;
using care::common::v1::ErasureReceipt;

std::string FileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every byte of the database's files: main file, WAL, anything beside it.
std::string AllFiles(const std::string& dir) {
  std::string all;
  for (const auto& e : std::filesystem::directory_iterator(dir)) all += FileText(e.path().string());
  return all;
}

class PrivacyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = SqliteDatabase::Open(dir_.path() + "/svc.db", CommonMigrations());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
  }

  // An idempotent answer and an outbox event that embed `text`, tagged `subject`.
  void StoreAbout(const std::string& subject, const std::string& text, const std::string& id) {
    google::protobuf::StringValue answer;
    answer.set_value(text);
    Once once{"checkout", "Test", id, FingerprintOf(answer), subject};
    OutboxEvent event{"ev-" + id, "notification", "/x.Y/Z", answer.SerializeAsString()};
    event.subject = subject;
    ASSERT_TRUE(db_->Write([&](Txn& txn) -> absl::Status {
                     if (absl::Status s = care::Remember(txn, once, answer); !s.ok()) return s;
                     return EnqueueOutbox(txn, event);
                   })
                    .ok());
  }

  int64_t Count(const std::string& sql) {
    int64_t n = -1;
    EXPECT_TRUE(db_->Read([&](Txn& txn) -> absl::Status {
                     auto stmt = txn.Query(sql);
                     if (!stmt.ok()) return stmt.status();
                     auto row = stmt->Step();
                     if (!row.ok()) return row.status();
                     n = stmt->Int(0);
                     return absl::OkStatus();
                   })
                    .ok());
    return n;
  }

  testing::TempDir dir_;
  std::unique_ptr<SqliteDatabase> db_;
};

TEST_F(PrivacyTest, ErasureDeletesWhatNamesThePersonOnlyAndLeavesNoCopyOnDisk) {
  DataSubject ann;
  ann.set_member_id("m-ann");
  ann.set_email("Ann.Example@Mail.test");
  // Many rows each, so the pages are written and rewritten in the WAL.
  for (int i = 0; i < 50; ++i) {
    StoreAbout(MemberSubject("m-ann"), "Ann Distinctive Okonkwo-Lindqvist", "a" + std::to_string(i));
    StoreAbout(EmailSubject("ann.example@mail.test"), "ann.example@mail.test", "e" + std::to_string(i));
    StoreAbout(MemberSubject("m-bob"), "Bob Keeps-His-Data", "b" + std::to_string(i));
  }
  ASSERT_NE(AllFiles(dir_.path()).find("Okonkwo-Lindqvist"), std::string::npos) << "the test needs the text on disk";

  ErasureReceipt receipt;
  ASSERT_TRUE(db_->Write([&](Txn& txn) {
                   return EraseCommonRecords(txn, SubjectKeys(ann), absl::FromUnixSeconds(1'800'000'000), receipt);
                 })
                  .ok());
  EXPECT_EQ(receipt.erased().at("idempotency_record"), 100);
  EXPECT_EQ(receipt.erased().at("outbox_event"), 100);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM idempotency_records"), 50);  // Bob's
  EXPECT_EQ(Count("SELECT COUNT(*) FROM outbox"), 50);

  // A later event for Ann is refused, by any of her keys; Bob's is not.
  DataSubject by_mail;
  by_mail.set_email("ANN.EXAMPLE@mail.test");
  EXPECT_TRUE(db_->Read([&](Txn& txn) -> absl::Status {
                   EXPECT_EQ(ErrorReason(RefuseIfErased(txn, SubjectKeys(by_mail))), "SUBJECT_ERASED");
                   EXPECT_TRUE(RefuseIfErased(txn, {MemberSubject("m-bob")}).ok());
                   return absl::OkStatus();
                 })
                  .ok());

  ASSERT_TRUE(db_->Scrub().ok());
  const std::string disk = AllFiles(dir_.path());
  EXPECT_EQ(disk.find("Okonkwo-Lindqvist"), std::string::npos);
  EXPECT_EQ(disk.find("ann.example@mail.test"), std::string::npos);
  EXPECT_EQ(disk.find("m-ann"), std::string::npos);  // the tombstone keeps a digest only
  EXPECT_NE(disk.find("Bob Keeps-His-Data"), std::string::npos);
}

TEST_F(PrivacyTest, ADeliveredErasureRequestLosesItsPayload) {
  // The relay blanks it on delivery (outbox.cc); here the column is set.
  OutboxEvent event{"erase-1", "complaint", "/x.Y/Erase", "names Ann"};
  event.scrub_when_delivered = true;
  ASSERT_TRUE(db_->Write([&](Txn& txn) { return EnqueueOutbox(txn, event); }).ok());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM outbox WHERE scrub_when_delivered = 1"), 1);
}

TEST_F(PrivacyTest, DeletingWhatIsTaggedKeepsEventsStillOwedAndBlanksThemOnDelivery) {
  StoreAbout("complaint:c1", "first words", "1");
  StoreAbout("complaint:c1", "second words", "2");
  StoreAbout("complaint:c2", "other words", "3");
  // ev-1 was delivered; ev-2 is still pending.
  ASSERT_TRUE(db_->Write([&](Txn& txn) {
                   return txn.Exec("UPDATE outbox SET delivered_at = 1 WHERE event_id = 'ev-1'").status();
                 })
                  .ok());
  absl::StatusOr<TaggedDeleted> deleted;
  ASSERT_TRUE(db_->Write([&](Txn& txn) {
                   deleted = DeleteTagged(txn, "complaint:c1", TaggedEvents::kDelivered);
                   return deleted.status();
                 })
                  .ok());
  EXPECT_EQ(deleted->idempotency_records, 2);
  EXPECT_EQ(deleted->outbox_events, 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM idempotency_records"), 1);  // c2's
  EXPECT_EQ(Count("SELECT COUNT(*) FROM outbox WHERE event_id = 'ev-2' AND scrub_when_delivered = 1"), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM outbox WHERE event_id = 'ev-3' AND scrub_when_delivered = 0"), 1);
  // kAll takes the pending one too.
  ASSERT_TRUE(db_->Write([&](Txn& txn) {
                   deleted = DeleteTagged(txn, "complaint:c1", TaggedEvents::kAll);
                   return deleted.status();
                 })
                  .ok());
  EXPECT_EQ(deleted->outbox_events, 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM outbox"), 1);
}

TEST(PrivacyChecksTest, EachBadFieldIsNamed) {
  ErasePersonalDataRequest req;
  auto bad = CheckErasureRequest(req);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  for (const char* field : {"erasure_id", "subject", "pseudonym", "reason"}) {
    EXPECT_NE(bad.ToString().find(field), std::string::npos) << field << ": " << bad;
  }
  req.set_erasure_id("er-1");
  req.mutable_subject()->set_email("not-an-address");
  req.mutable_subject()->set_phone("0123");
  req.set_pseudonym(NewPseudonym());
  req.set_reason(std::string(501, 'r'));
  bad = CheckErasureRequest(req);
  for (const char* field : {"subject.email", "subject.phone", "reason"}) {
    EXPECT_NE(bad.ToString().find(field), std::string::npos) << field << ": " << bad;
  }
  req.mutable_subject()->set_email("a@b.test");
  req.mutable_subject()->set_phone("+4915112345678");
  req.set_reason("DSR-2026-17");
  EXPECT_TRUE(CheckErasureRequest(req).ok());
  req.set_pseudonym("erased-" + std::string(32, 'G'));
  EXPECT_FALSE(CheckErasureRequest(req).ok());
  EXPECT_NE(NewPseudonym(), NewPseudonym());
}

}  // namespace
}  // namespace care
