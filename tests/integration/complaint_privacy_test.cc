// A person's data in the complaint service through the real binaries: the
// export returns every ticket, message, reply, note, survey answer and
// compensation the test created; erasure (as loyalty's outbox calls it)
// blanks the text and re-keys the tickets to the pseudonym, once; metrics
// are the same before and after; the erased member cannot be re-created;
// another member is untouched; and on SQLite none of the person's strings is
// left anywhere in the data directory's files (database, WAL, the rest).
#include <gmock/gmock.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "google/protobuf/util/message_differencer.h"
#include "tests/integration/complaint_fixture.h"

namespace care::testing {
namespace {

namespace cv1 = ::care::common::v1;

constexpr char kPhrase[] = "quokka-umbrella-7741";
constexpr char kName[] = "Zelda Quenworth";
constexpr char kEmail[] = "zelda.quenworth@example.org";
constexpr char kPhone[] = "+447700900123";
constexpr char kPseudonym[] = "erased-0123456789abcdef0123456789abcdef";
// Distinctive, so the raw files can be searched for them.
constexpr char kMember[] = "m-quenworth-5521";
constexpr char kOther[] = "m-otherperson-8830";

class ComplaintPrivacyTest : public ComplaintTest {
 protected:
  kv1::Complaint FileWith(const std::string& member, const std::string& order, const std::string& description) {
    kv1::CreateComplaintRequest req;
    req.set_request_id(absl::StrCat("file-", ++counter_));
    req.set_member_id(member);
    req.set_channel(kv1::CHANNEL_EMAIL);
    req.set_category(kv1::CATEGORY_DELIVERY);
    req.set_order_id(order);
    req.set_subject(member == std::string(kMember) ? absl::StrCat("Complaint from ", kName) : "Complaint");
    req.set_description(description);
    req.set_locale("en");
    kv1::CreateComplaintResponse out;
    grpc::Status s = complaints().CreateComplaint(Ctx(agent()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out.complaint();
  }

  grpc::Status CustomerSays(const std::string& id, const std::string& text) {
    kv1::RecordCustomerMessageRequest req;
    req.set_request_id(absl::StrCat("msg-", ++counter_));
    req.set_complaint_id(id);
    req.set_text(text);
    req.set_channel(kv1::CHANNEL_EMAIL);
    kv1::RecordCustomerMessageResponse out;
    return complaints().RecordCustomerMessage(Ctx(svc()).get(), req, &out);
  }

  void Note(const std::string& id, const std::string& text) {
    kv1::AddNoteRequest req;
    req.set_request_id(absl::StrCat("note-", ++counter_));
    req.set_complaint_id(id);
    req.set_text(text);
    kv1::AddNoteResponse out;
    grpc::Status s = complaints().AddNote(Ctx(agent()).get(), req, &out);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  grpc::Status Export(const cv1::DataSubject& subject, std::vector<kv1::ComplaintPersonalData>* items,
                      const std::string& token, const std::string& reason = "DPR-2031-7") {
    cv1::ExportPersonalDataRequest req;
    *req.mutable_subject() = subject;
    req.set_reason(reason);
    auto ctx = Ctx(token);
    auto reader = complaints().ExportPersonalData(ctx.get(), req);
    kv1::ComplaintPersonalData item;
    while (reader->Read(&item)) items->push_back(item);
    return reader->Finish();
  }

  grpc::Status Erase(const cv1::ErasePersonalDataRequest& req, cv1::ErasureReceipt* out, const std::string& token) {
    return complaints().ErasePersonalData(Ctx(token).get(), req, out);
  }

  kv1::ComplaintMetrics Metrics() { return MetricsByCategory(Base() + absl::Hours(24)); }

  // A receipt's count of `kind` (0 when absent).
  static int64_t Count(const google::protobuf::Map<std::string, int64_t>& counts, const std::string& kind) {
    auto it = counts.find(kind);
    return it == counts.end() ? 0 : it->second;
  }

  static cv1::DataSubject Member(const std::string& id) {
    cv1::DataSubject s;
    s.set_member_id(id);
    return s;
  }
};

TEST_F(ComplaintPrivacyTest, ExportHasEverythingAndErasureBlanksTheTextKeepsTheMetricsAndLeavesNoTraceOnDisk) {
  Enrol(kMember);
  Enrol(kOther);
  // The person's first ticket: resolved with goodwill points and a survey answer.
  kv1::Complaint first = FileWith(kMember, "o-1",
                                  absl::StrCat("I am ", kName, ", my ", kPhrase, " parcel broke; write to ", kEmail,
                                               " or ", kPhone));
  ASSERT_TRUE(
      CustomerSays(first.complaint_id(), absl::StrCat("Still waiting, call ", kPhone, " about the ", kPhrase)).ok());
  kv1::ReplyToComplaintResponse reply;
  SetBoth(Base() + absl::Minutes(30));
  ASSERT_TRUE(Reply(first.complaint_id(), absl::StrCat("Dear ", kName, ", we are sorry"), &reply).ok());
  Note(first.complaint_id(), absl::StrCat("Customer e-mail ", kEmail));
  kv1::ResolveComplaintRequest resolve = ResolveRequest(first.complaint_id(), 100);
  resolve.set_resolution_summary(absl::StrCat("Refunded ", kName));
  kv1::ResolveComplaintResponse resolved;
  grpc::Status rs = complaints().ResolveComplaint(Ctx(agent()).get(), resolve, &resolved);
  ASSERT_TRUE(rs.ok()) << Describe(rs);
  AnswerSurvey(first.complaint_id(), 1, "answer-1", 5, absl::StrCat("Thanks, the ", kPhrase, " is fine now"));
  if (HasFatalFailure()) return;
  // A second ticket, still open; and another member's.
  kv1::Complaint second = FileWith(kMember, "o-2", absl::StrCat("Again the ", kPhrase));
  ASSERT_TRUE(CustomerSays(second.complaint_id(), absl::StrCat("This is ", kName)).ok());
  kv1::Complaint other = FileWith(kOther, "o-9", "Someone else's words");

  // Export: every item the test created, nothing of m2.
  std::vector<kv1::ComplaintPersonalData> items;
  grpc::Status ex = Export(Member(kMember), &items, admin());
  ASSERT_TRUE(ex.ok()) << Describe(ex);
  std::set<std::string> tickets;
  int messages = 0, replies = 0, notes = 0, surveys = 0;
  for (const auto& item : items) {
    if (item.has_complaint()) {
      EXPECT_EQ(item.complaint().member_id(), kMember);
      tickets.insert(item.complaint().complaint_id());
      if (item.complaint().complaint_id() == first.complaint_id()) {
        EXPECT_NE(item.complaint().description().find(kEmail), std::string::npos);
        ASSERT_EQ(item.complaint().compensations_size(), 1);
        EXPECT_EQ(item.complaint().compensations(0).points(), 100);
      }
    } else if (item.has_event()) {
      EXPECT_NE(item.event().complaint_id(), other.complaint_id());
      messages += item.event().has_customer_message();
      replies += item.event().has_reply();
      notes += item.event().has_note() && item.event().note().text().find(kEmail) != std::string::npos;
    } else if (item.has_survey_response()) {
      ++surveys;
      EXPECT_EQ(item.survey_response().score(), 5);
      EXPECT_NE(item.survey_response().comment().find(kPhrase), std::string::npos);
    }
  }
  EXPECT_EQ(tickets, (std::set<std::string>{first.complaint_id(), second.complaint_id()}));
  EXPECT_EQ(messages, 2);
  EXPECT_EQ(replies, 1);
  EXPECT_EQ(notes, 1);
  EXPECT_EQ(surveys, 1);

  // Tickets are filed by member: an e-mail alone finds nothing here.
  std::vector<kv1::ComplaintPersonalData> none;
  cv1::DataSubject by_email;
  by_email.set_email(kEmail);
  ASSERT_TRUE(Export(by_email, &none, admin()).ok());
  EXPECT_TRUE(none.empty());
  // Bad input names the field; wrong roles and peers are refused.
  grpc::Status bad = Export(cv1::DataSubject(), &none, admin());
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(BadFields(bad), std::vector<std::string>{"subject"});
  EXPECT_EQ(Export(Member(kMember), &none, agent()).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(none.empty());

  if (!TestPostgres()) {
    ASSERT_FALSE(FoundInFiles(complaint_->data_dir(), {kMember}).empty()) << "the check below would prove nothing";
  }
  const kv1::ComplaintMetrics before = Metrics();
  cv1::ErasePersonalDataRequest erase;
  erase.set_erasure_id("er-1");
  *erase.mutable_subject() = Member(kMember);
  erase.mutable_subject()->set_email(kEmail);
  erase.set_pseudonym(kPseudonym);
  erase.set_reason("DPR-2031-7");
  cv1::ErasureReceipt receipt;
  grpc::Status wrong_peer = Erase(erase, &receipt, tokens_.peer_complaint);
  EXPECT_EQ(wrong_peer.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Reason(wrong_peer), "PEER_NOT_ALLOWED");
  EXPECT_EQ(Erase(erase, &receipt, admin()).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  cv1::ErasePersonalDataRequest no_pseudonym = erase;
  no_pseudonym.set_pseudonym(kMember);
  grpc::Status bad_erase = Erase(no_pseudonym, &receipt, tokens_.peer_loyalty);
  EXPECT_EQ(bad_erase.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(BadFields(bad_erase), std::vector<std::string>{"pseudonym"});

  grpc::Status es = Erase(erase, &receipt, tokens_.peer_loyalty);
  ASSERT_TRUE(es.ok()) << Describe(es);
  EXPECT_EQ(receipt.service(), "complaint");
  EXPECT_EQ(receipt.erasure_id(), "er-1");
  EXPECT_EQ(Count(receipt.deidentified(), "complaint"), 2);
  EXPECT_EQ(Count(receipt.deidentified(), "compensation"), 1);
  EXPECT_EQ(Count(receipt.erased(), "complaint_text"), 2);
  EXPECT_EQ(Count(receipt.erased(), "customer_message"), 2);
  EXPECT_EQ(Count(receipt.erased(), "reply"), 1);
  EXPECT_EQ(Count(receipt.erased(), "note"), 1);
  EXPECT_EQ(Count(receipt.erased(), "survey_comment"), 1);
  EXPECT_EQ(Count(receipt.erased(), "survey_token"), 1);
  // Every stored answer about the person and every event naming them.
  EXPECT_GE(Count(receipt.erased(), "idempotency_record"), 7);
  EXPECT_GE(Count(receipt.erased(), "outbox_event"), 5);
  // A retry (the outbox delivering again) is a no-op with the first receipt.
  cv1::ErasureReceipt again;
  ASSERT_TRUE(Erase(erase, &again, tokens_.peer_loyalty).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(again, receipt)) << again.ShortDebugString();

  // The tickets stay for the metrics, de-identified; the money record too.
  kv1::Complaint kept = Get(first.complaint_id());
  EXPECT_EQ(kept.member_id(), kPseudonym);
  EXPECT_EQ(kept.status(), kv1::COMPLAINT_STATUS_RESOLVED);
  EXPECT_TRUE(kept.description().empty());
  EXPECT_TRUE(kept.subject().empty());
  EXPECT_TRUE(kept.resolution_summary().empty());
  EXPECT_EQ(kept.survey().score(), 5);
  EXPECT_TRUE(kept.survey().comment().empty());
  ASSERT_EQ(kept.compensations_size(), 1);
  EXPECT_EQ(kept.compensations(0).points(), 100);
  EXPECT_EQ(kept.compensations(0).status(), kv1::COMPENSATION_STATUS_ISSUED);
  for (const auto& e : Events(first.complaint_id())) {
    EXPECT_EQ(e.ShortDebugString().find(kPhrase), std::string::npos) << e.ShortDebugString();
    EXPECT_EQ(e.ShortDebugString().find(kName), std::string::npos) << e.ShortDebugString();
  }
  EXPECT_EQ(Metrics().SerializeAsString(), before.SerializeAsString()) << Metrics().ShortDebugString();

  // Nothing is found for the person any more; nothing of theirs comes back.
  items.clear();
  ASSERT_TRUE(Export(Member(kMember), &items, admin()).ok());
  EXPECT_TRUE(items.empty());
  kv1::CreateComplaintRequest refile;
  refile.set_request_id("refile-1");
  refile.set_member_id(kMember);
  refile.set_channel(kv1::CHANNEL_PHONE);
  refile.set_category(kv1::CATEGORY_PRODUCT);
  refile.set_description("A new complaint");
  kv1::CreateComplaintResponse created;
  grpc::Status refused = complaints().CreateComplaint(Ctx(agent()).get(), refile, &created);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(refused), "SUBJECT_ERASED");
  grpc::Status message = CustomerSays(second.complaint_id(), absl::StrCat("I am ", kName, " again"));
  EXPECT_EQ(message.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(message), "SUBJECT_ERASED");
  // The kept tickets are frozen: no move that would tell or pay anyone.
  kv1::TransitionComplaintRequest move;
  move.set_request_id("move-after-erasure");
  move.set_complaint_id(second.complaint_id());
  move.set_to_status(kv1::COMPLAINT_STATUS_CLOSED);
  move.set_reason("closing out");
  kv1::Complaint moved;
  grpc::Status frozen = complaints().TransitionComplaint(Ctx(agent()).get(), move, &moved);
  EXPECT_EQ(frozen.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(frozen);
  EXPECT_EQ(Reason(frozen), "SUBJECT_ERASED");

  // The other member is untouched.
  EXPECT_EQ(Get(other.complaint_id()).description(), "Someone else's words");
  EXPECT_EQ(Get(other.complaint_id()).member_id(), kOther);
  items.clear();
  ASSERT_TRUE(Export(Member(kOther), &items, admin()).ok());
  EXPECT_FALSE(items.empty());

  // On disk: none of the person's strings in any file of the data directory.
  if (TestPostgres()) return;  // PostgreSQL: VACUUM semantics (docs/privacy.md)
  EXPECT_TRUE(FoundInFiles(complaint_->data_dir(), {kPhrase, kName, kEmail, kPhone}, /*include_logs=*/true).empty());
  // Issue 21, hostile review: ids built from the member id (the goodwill's
  // ledger reference "<member>/<n>") kept the original id. Logs aside (they
  // age out on their own), no file holds it; the other member's is there.
  EXPECT_THAT(FoundInFiles(complaint_->data_dir(), {kMember}), ::testing::IsEmpty());
  EXPECT_THAT(FoundInFiles(complaint_->data_dir(), {kOther}), ::testing::Not(::testing::IsEmpty()));
}

// Issue 21, hostile review: goodwill still ISSUING (loyalty down, the call in
// the outbox) when the person is erased stayed ISSUING forever: the outbox
// event goes with the person, and loyalty would refuse it (SUBJECT_ERASED).
// It ends FAILED with that reason, and stays so when loyalty is back.
TEST_F(ComplaintPrivacyTest, GoodwillStillIssuingWhenThePersonIsErasedEndsFailedSayingWhy) {
  Enrol(kMember);
  kv1::Complaint c = FileWith(kMember, "o-7", "The parcel broke");
  service_->Kill();
  kv1::ResolveComplaintResponse resolved;
  grpc::Status rs = complaints().ResolveComplaint(Ctx(agent()).get(), ResolveRequest(c.complaint_id(), 100), &resolved);
  ASSERT_TRUE(rs.ok()) << Describe(rs);
  ASSERT_EQ(resolved.compensation().status(), kv1::COMPENSATION_STATUS_ISSUING);

  cv1::ErasePersonalDataRequest erase;
  erase.set_erasure_id("er-issuing");
  *erase.mutable_subject() = Member(kMember);
  erase.set_pseudonym(kPseudonym);
  erase.set_reason("DPR-2031-9");
  cv1::ErasureReceipt receipt;
  grpc::Status es = Erase(erase, &receipt, tokens_.peer_loyalty);
  ASSERT_TRUE(es.ok()) << Describe(es);
  EXPECT_EQ(Count(receipt.deidentified(), "unissued_compensation"), 1);
  auto compensation = [&] {
    kv1::Complaint kept = Get(c.complaint_id());
    return kept.compensations_size() == 1 ? kept.compensations(0) : kv1::Compensation();
  };
  EXPECT_EQ(compensation().status(), kv1::COMPENSATION_STATUS_FAILED);
  EXPECT_EQ(compensation().failure_reason(), "SUBJECT_ERASED");
  EXPECT_EQ(compensation().points(), 100) << "the amount stays on the record";

  // Loyalty back: nothing is issued to anyone, the state stands.
  ASSERT_TRUE(service_->Start().ok()) << service_->log();
  Connect();
  LetJobsRun();
  EXPECT_EQ(compensation().status(), kv1::COMPENSATION_STATUS_FAILED);
  EXPECT_EQ(compensation().failure_reason(), "SUBJECT_ERASED");
}

}  // namespace
}  // namespace care::testing
