// common/privacy.h on SQLite: an erasure deletes exactly the idempotency
// answers and outbox events tagged with the person, leaves a tombstone that
// refuses them later, and after Scrub the person's strings are in none of
// the database's files; tombstones are keyed (no plain hash of a phone
// number or address a dump's reader could test), rotate, and re-key the
// unkeyed ones of older releases; the request checks name each bad field.
#include "common/privacy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/idempotency.h"
#include "common/sqlite.h"
#include "google/protobuf/wrappers.pb.h"
#include "tests/harness/harness.h"

namespace care {
namespace {

using care::common::v1::DataSubject;
using care::common::v1::ErasePersonalDataRequest;
using care::common::v1::ErasureReceipt;

const NamedKey kKeyA{"a-1", "0123456789abcdef0123456789abcdef-first"};
const NamedKey kKeyB{"b-2", "fedcba9876543210fedcba9876543210-second"};

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

  std::vector<std::string> Texts(const std::string& sql) {
    std::vector<std::string> out;
    EXPECT_TRUE(db_->Read([&](Txn& txn) -> absl::Status {
                     auto rows = Collect<std::string>(txn.Query(sql), [](const Statement& st) { return st.Text(0); });
                     if (!rows.ok()) return rows.status();
                     out = *std::move(rows);
                     return absl::OkStatus();
                   })
                    .ok());
    return out;
  }

  testing::TempDir dir_;
  const SubjectDigests digests_{std::vector<NamedKey>{kKeyA}};
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
                   return EraseCommonRecords(txn, digests_, SubjectKeys(ann), absl::FromUnixSeconds(1'800'000'000),
                                             receipt);
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
                   EXPECT_EQ(ErrorReason(RefuseIfErased(txn, digests_, SubjectKeys(by_mail))), "SUBJECT_ERASED");
                   EXPECT_TRUE(RefuseIfErased(txn, digests_, {MemberSubject("m-bob")}).ok());
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

// Issue 21, hostile review: the tombstone of "phone:+44..." was its plain
// SHA-256, so anyone with a dump could hash a list of numbers and find who
// was erased. Now it is an HMAC under --privacy_key_file.
TEST_F(PrivacyTest, TombstonesAreKeyedAndStillRefuse) {
  DataSubject ann;
  ann.set_member_id("m-ann");
  ann.set_phone("+447700900123");
  ErasureReceipt receipt;
  ASSERT_TRUE(db_->Write([&](Txn& txn) {
                   return EraseCommonRecords(txn, digests_, SubjectKeys(ann), absl::FromUnixSeconds(1'800'000'000),
                                             receipt);
                 })
                  .ok());
  std::vector<std::string> stored = Texts("SELECT digest FROM erased_subjects ORDER BY digest");
  ASSERT_EQ(stored.size(), 2U);
  for (const std::string& key : SubjectKeys(ann)) {
    const std::string plain = SubjectDigest(key);
    for (const std::string& d : stored) EXPECT_EQ(d.find(plain), std::string::npos) << "plain SHA-256 of " << key;
    // Under the key, and said so: "<key_id>:<hex HMAC>".
    EXPECT_NE(std::find(stored.begin(), stored.end(), digests_.Digest(key)), stored.end());
    EXPECT_EQ(digests_.Digest(key).rfind("a-1:", 0), 0U);
  }
  // Another key gives other digests: without the key, nothing to test against.
  const SubjectDigests other(std::vector<NamedKey>{kKeyB});
  EXPECT_NE(other.Digest(MemberSubject("m-ann")), digests_.Digest(MemberSubject("m-ann")));

  // Rotation: a new key listed first writes; the old one still recognises
  // the person erased under it.
  const SubjectDigests rotated(std::vector<NamedKey>{kKeyB, kKeyA});
  EXPECT_EQ(rotated.Digest(MemberSubject("m-ann")), other.Digest(MemberSubject("m-ann")));
  EXPECT_TRUE(db_->Read([&](Txn& txn) -> absl::Status {
                   EXPECT_EQ(ErrorReason(RefuseIfErased(txn, rotated, {PhoneSubject("+447700900123")})),
                             "SUBJECT_ERASED");
                   EXPECT_EQ(ErrorReason(RefuseIfErased(txn, rotated, {MemberSubject("m-ann")})), "SUBJECT_ERASED");
                   EXPECT_TRUE(RefuseIfErased(txn, rotated, {MemberSubject("m-bob")}).ok());
                   // Dropping the key that wrote it forgets the tombstone:
                   // why the docs say never to drop one.
                   EXPECT_TRUE(RefuseIfErased(txn, other, {MemberSubject("m-ann")}).ok());
                   return absl::OkStatus();
                 })
                  .ok());
}

// Tombstones an older release wrote (plain SHA-256) are recognised, and
// re-keyed at start-up so a later dump holds no testable digest.
TEST_F(PrivacyTest, UnkeyedTombstonesOfAnOlderReleaseAreRecognisedAndReKeyed) {
  const std::string legacy = SubjectDigest(EmailSubject("old.case@mail.test"));
  ASSERT_TRUE(db_->Write([&](Txn& txn) {
                   return txn
                       .Exec("INSERT INTO erased_subjects (digest, erased_at) VALUES (?1, ?2)", legacy,
                             int64_t{1'700'000'000'000'000})
                       .status();
                 })
                  .ok());
  DataSubject old_case;
  old_case.set_email("Old.Case@mail.test");
  auto refused = [&] {
    std::string reason;
    EXPECT_TRUE(db_->Read([&](Txn& txn) -> absl::Status {
                     reason = ErrorReason(RefuseIfErased(txn, digests_, SubjectKeys(old_case)));
                     return absl::OkStatus();
                   })
                    .ok());
    return reason;
  };
  EXPECT_EQ(refused(), "SUBJECT_ERASED") << "the unkeyed tombstone is still checked";

  auto rewrapped = RewrapLegacyTombstones(*db_, digests_);
  ASSERT_TRUE(rewrapped.ok()) << rewrapped.status();
  EXPECT_EQ(*rewrapped, 1);
  EXPECT_EQ(Texts("SELECT digest FROM erased_subjects"),
            std::vector<std::string>{digests_.Digest(EmailSubject("old.case@mail.test"))});
  EXPECT_EQ(Count("SELECT erased_at FROM erased_subjects"), 1'700'000'000'000'000) << "the date stays";
  EXPECT_EQ(refused(), "SUBJECT_ERASED") << "still refused once re-keyed";
  auto again = RewrapLegacyTombstones(*db_, digests_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
  ASSERT_TRUE(db_->Scrub().ok());
  EXPECT_EQ(AllFiles(dir_.path()).find(legacy), std::string::npos) << "the unkeyed digest is gone from the files";
}

TEST(PrivacyTextTest, PseudonymisedReplacesTheMemberIdOnly) {
  EXPECT_EQ(Pseudonymised("m-ann/17", "m-ann", "erased-0f"), "erased-0f/17");
  EXPECT_EQ(Pseudonymised("dlv-ab12-m-ann", "m-ann", "erased-0f"), "dlv-ab12-erased-0f");
  EXPECT_EQ(Pseudonymised("tier-changed/v3", "m-ann", "erased-0f"), "tier-changed/v3");
  EXPECT_EQ(Pseudonymised("anything", "", "erased-0f"), "anything");
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

// Issue 22: complaint names the contacts it erased to notification by id
// alone; each must be an id, and at most kMaxSubjectContactIds of them.
TEST(PrivacyChecksTest, ContactIdsAloneNameASubjectWithinTheirBound) {
  ErasePersonalDataRequest req;
  req.set_erasure_id("er-1:contacts.0");
  req.set_pseudonym(NewPseudonym());
  req.set_reason("DSR-2026-17");
  req.mutable_subject()->add_contact_ids("ct-0123456789abcdef");
  EXPECT_TRUE(CheckErasureRequest(req).ok());
  req.mutable_subject()->add_contact_ids("not an id");
  EXPECT_NE(CheckErasureRequest(req).ToString().find("subject.contact_ids"), std::string::npos);
  req.mutable_subject()->clear_contact_ids();
  for (int i = 0; i <= kMaxSubjectContactIds; ++i) req.mutable_subject()->add_contact_ids(absl::StrCat("ct-", i));
  absl::Status bad = CheckErasureRequest(req);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.ToString().find("subject.contact_ids"), std::string::npos) << bad;
  req.mutable_subject()->mutable_contact_ids()->RemoveLast();
  EXPECT_TRUE(CheckErasureRequest(req).ok());
}

}  // namespace
}  // namespace care
