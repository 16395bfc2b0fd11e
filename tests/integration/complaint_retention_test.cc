// Retention of closed complaints' free texts through the real binaries, on
// both engines, on the services' fake clocks: --closed_complaint_text_retention
// after a ticket closed, its texts (description, subject, summary, customer
// messages, replies, notes, survey comment, compensation notes) are blanked
// as erasure blanks them, and its stored answers and delivered outbox events
// deleted; the facts stay, so the metrics are unchanged; tickets open or
// closed more recently keep theirs; a second run changes nothing; on SQLite
// the words are gone from every file of the data directory. Tickets closed
// before the migration (dated by their creation) are judged by their real
// closing time. A retention out of bounds stops start-up.
#include <libpq-fe.h>
#include <sqlite3.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/harness/scrape.h"
#include "tests/integration/complaint_fixture.h"

namespace care::testing {
namespace {

constexpr char kWordsA[] = "otter-teapot-3318";
constexpr char kWordsB[] = "heron-violin-2290";
constexpr char kWordsC[] = "badger-compass-6604";
constexpr absl::Duration kDay = absl::Hours(24);

class ComplaintRetentionTest : public ComplaintTest {
 protected:
  std::vector<std::string> ExtraComplaintArgs() override {
    // Stored answers and delivered events outlive the texts here, so what
    // removes them from the files is the text retention, not theirs.
    return {"--closed_complaint_text_retention=720h", "--idempotency_retention=2000h", "--outbox_retention=2000h",
            "--metrics_port=0", "--metrics_port_file=" + MetricsPortFile()};
  }
  std::string MetricsPortFile() { return dir_.path() + "/complaint_metrics_port"; }

  double Purged(const std::string& table) {
    auto body = HttpGet(std::stoi(ReadFile(MetricsPortFile())), "/metrics");
    EXPECT_TRUE(body.ok()) << body.status();
    return Sample(ParseExposition(body.ok() ? *body : ""), "care_retention_purged_total{table=\"" + table + "\"}");
  }

  kv1::Complaint FileAbout(const std::string& member, const std::string& words) {
    kv1::CreateComplaintRequest req;
    req.set_request_id(absl::StrCat("file-", ++counter_));
    req.set_member_id(member);
    req.set_channel(kv1::CHANNEL_EMAIL);
    req.set_category(kv1::CATEGORY_DELIVERY);
    req.set_subject(absl::StrCat("About ", words));
    req.set_description(absl::StrCat("My ", words, " parcel broke"));
    req.set_locale("en");
    kv1::CreateComplaintResponse out;
    grpc::Status s = complaints().CreateComplaint(Ctx(agent()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out.complaint();
  }

  void CustomerSays(const std::string& id, const std::string& text) {
    kv1::RecordCustomerMessageRequest req;
    req.set_request_id(absl::StrCat("msg-", ++counter_));
    req.set_complaint_id(id);
    req.set_text(text);
    req.set_channel(kv1::CHANNEL_EMAIL);
    kv1::RecordCustomerMessageResponse out;
    grpc::Status s = complaints().RecordCustomerMessage(Ctx(svc()).get(), req, &out);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  grpc::Status Note(const std::string& id, const std::string& text) {
    kv1::AddNoteRequest req;
    req.set_request_id(absl::StrCat("note-", ++counter_));
    req.set_complaint_id(id);
    req.set_text(text);
    kv1::AddNoteResponse out;
    return complaints().AddNote(Ctx(agent()).get(), req, &out);
  }

  void Close(const std::string& id) {
    kv1::TransitionComplaintRequest req;
    req.set_request_id(absl::StrCat("close-", ++counter_));
    req.set_complaint_id(id);
    req.set_to_status(kv1::COMPLAINT_STATUS_CLOSED);
    req.set_reason("done");
    kv1::Complaint out;
    grpc::Status s = complaints().TransitionComplaint(Ctx(agent()).get(), req, &out);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  // A ticket with a text of every kind holding `words`: a customer message,
  // a reply, a note.
  kv1::Complaint Discussed(const std::string& words) {
    kv1::Complaint c = FileAbout("m1", words);
    CustomerSays(c.complaint_id(), absl::StrCat("Still waiting for the ", words));
    kv1::ReplyToComplaintResponse reply;
    grpc::Status s = Reply(c.complaint_id(), absl::StrCat("Sorry about the ", words), &reply);
    EXPECT_TRUE(s.ok()) << Describe(s);
    EXPECT_TRUE(Note(c.complaint_id(), absl::StrCat("Checked the ", words)).ok());
    return c;
  }

  // Whether any text of the ticket or its audit trail holds `words`.
  bool Holds(const std::string& id, const std::string& words) {
    bool found = Get(id).ShortDebugString().find(words) != std::string::npos;
    for (const auto& e : Events(id)) found |= e.ShortDebugString().find(words) != std::string::npos;
    return found;
  }

  kv1::ComplaintMetrics Metrics() { return MetricsByCategory(Base() + kDay * 60); }

  // Runs `sql` on complaint's database from outside the service.
  void ExecOnDatabase(const std::string& sql) {
    if (auto cluster = TestPostgres()) {
      std::string url;
      const std::string cmdline = ReadFile(absl::StrCat("/proc/", complaint_->pid(), "/cmdline"));
      for (absl::string_view arg : absl::StrSplit(cmdline, '\0')) {
        if (absl::ConsumePrefix(&arg, "--database_url=")) url = std::string(arg);
      }
      const std::string password(absl::StripAsciiWhitespace(ReadFile(cluster->password_file)));
      const char* keys[] = {"dbname", "password", "connect_timeout", nullptr};
      const char* values[] = {url.c_str(), password.c_str(), "10", nullptr};
      PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
      ASSERT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
      PGresult* r = PQexec(conn, sql.c_str());
      EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQresultErrorMessage(r);
      PQclear(r);
      PQfinish(conn);
      return;
    }
    sqlite3* db = nullptr;
    const std::string path = complaint_->data_dir() + "/complaint.db";
    ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
};

TEST_F(ComplaintRetentionTest, ClosedTicketsLoseTheirTextsAfterTheRetentionAndKeepTheirFacts) {
  Enrol("m1");
  // A: every kind of text, resolved with goodwill points and a survey
  // answer, closed at once. B: closed on day 20. C: never closed.
  kv1::Complaint a = Discussed(kWordsA);
  kv1::ResolveComplaintRequest resolve = ResolveRequest(a.complaint_id(), 100);
  resolve.set_resolution_summary(absl::StrCat("Replaced the ", kWordsA));
  resolve.mutable_compensation()->set_note(absl::StrCat("For the ", kWordsA));
  kv1::ResolveComplaintResponse resolved;
  grpc::Status rs = complaints().ResolveComplaint(Ctx(agent()).get(), resolve, &resolved);
  ASSERT_TRUE(rs.ok()) << Describe(rs);
  AnswerSurvey(a.complaint_id(), 1, "answer-a", 4, absl::StrCat("The new ", kWordsA, " is fine"));
  if (HasFatalFailure()) return;
  SetBoth(Base() + absl::Hours(1));
  Close(a.complaint_id());
  kv1::Complaint b = Discussed(kWordsB);
  kv1::Complaint c = Discussed(kWordsC);
  SetBoth(Base() + kDay * 20);
  Close(b.complaint_id());
  const int a_events = static_cast<int>(Events(a.complaint_id()).size());

  // Day 30: nothing is due yet (A closed at day 0 plus an hour).
  SetBoth(Base() + kDay * 30);
  LetJobsRun();
  ASSERT_TRUE(Holds(a.complaint_id(), kWordsA));
  const kv1::ComplaintMetrics before = Metrics();
  const double purged = Purged("complaint_texts");
  if (!TestPostgres()) {
    EXPECT_EQ(FoundInFiles(complaint_->data_dir(), {kWordsA, kWordsB, kWordsC}).size(), 3u);
  }

  // Day 30 and two hours: A's texts are gone; its facts stay.
  const absl::Time removed = Base() + kDay * 30 + absl::Hours(2);
  SetBoth(removed);
  ASSERT_TRUE(Eventually([&] { return Get(a.complaint_id()).description().empty(); })) << complaint_->log();
  kv1::Complaint kept = Get(a.complaint_id());
  EXPECT_FALSE(Holds(a.complaint_id(), kWordsA));
  EXPECT_TRUE(kept.subject().empty());
  EXPECT_TRUE(kept.resolution_summary().empty());
  EXPECT_TRUE(kept.survey().comment().empty());
  EXPECT_EQ(FromTimestamp(kept.texts_removed_time()), removed);
  EXPECT_EQ(kept.member_id(), "m1");
  EXPECT_EQ(kept.status(), kv1::COMPLAINT_STATUS_CLOSED);
  EXPECT_EQ(kept.category(), kv1::CATEGORY_DELIVERY);
  EXPECT_EQ(kept.channel(), kv1::CHANNEL_EMAIL);
  EXPECT_EQ(FromTimestamp(kept.close_time()), Base() + absl::Hours(1));
  EXPECT_EQ(kept.survey().score(), 4);
  ASSERT_EQ(kept.compensations_size(), 1);
  EXPECT_EQ(kept.compensations(0).points(), 100);
  EXPECT_EQ(kept.compensations(0).status(), kv1::COMPENSATION_STATUS_ISSUED);
  EXPECT_TRUE(kept.compensations(0).note().empty());
  EXPECT_EQ(static_cast<int>(Events(a.complaint_id()).size()), a_events) << "the audit trail keeps its place";
  EXPECT_EQ(Metrics().SerializeAsString(), before.SerializeAsString()) << Metrics().ShortDebugString();
  EXPECT_EQ(Purged("complaint_texts"), purged + 1);
  // B (closed 10 days ago) and C (open) keep theirs.
  EXPECT_TRUE(Holds(b.complaint_id(), kWordsB));
  EXPECT_TRUE(Holds(c.complaint_id(), kWordsC));
  EXPECT_FALSE(Get(b.complaint_id()).has_texts_removed_time());
  if (!TestPostgres()) {
    // Deleted, not hidden: the ticket, its trail, its stored answers (the
    // reply, the survey answer) and the events sent about it.
    EXPECT_TRUE(FoundInFiles(complaint_->data_dir(), {kWordsA}, /*include_logs=*/true).empty());
    EXPECT_EQ(FoundInFiles(complaint_->data_dir(), {kWordsB, kWordsC}).size(), 2u);
  }

  // No text comes back to A; B, closed but kept, still takes a note.
  grpc::Status refused = Note(a.complaint_id(), absl::StrCat("Again the ", kWordsA));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(refused);
  EXPECT_EQ(Reason(refused), "COMPLAINT_CLOSED");
  EXPECT_TRUE(Note(b.complaint_id(), absl::StrCat("Late note on the ", kWordsB)).ok());

  // A second run changes nothing.
  const int64_t version = Get(a.complaint_id()).version();
  SetBoth(removed + absl::Hours(1));
  LetJobsRun();
  EXPECT_EQ(Get(a.complaint_id()).version(), version);
  EXPECT_EQ(Purged("complaint_texts"), purged + 1);
  EXPECT_TRUE(Holds(b.complaint_id(), kWordsB));

  // Day 50 and a minute: B's turn, its late note too; C stays.
  SetBoth(Base() + kDay * 50 + absl::Minutes(1));
  ASSERT_TRUE(Eventually([&] { return Get(b.complaint_id()).has_texts_removed_time(); })) << complaint_->log();
  EXPECT_FALSE(Holds(b.complaint_id(), kWordsB));
  EXPECT_TRUE(Holds(c.complaint_id(), kWordsC));
  EXPECT_EQ(Purged("complaint_texts"), purged + 2);
  EXPECT_EQ(Metrics().SerializeAsString(), before.SerializeAsString());
  if (!TestPostgres()) {
    EXPECT_EQ(FoundInFiles(complaint_->data_dir(), {kWordsA, kWordsB, kWordsC}, /*include_logs=*/true).size(), 1u);
  }
}

TEST_F(ComplaintRetentionTest, TicketsClosedBeforeTheMigrationAreJudgedByTheirRealClosingTime) {
  Enrol("m1");
  kv1::Complaint early = FileAbout("m1", kWordsA);
  kv1::Complaint late = FileAbout("m1", kWordsB);
  SetBoth(Base() + absl::Hours(1));
  Close(early.complaint_id());
  SetBoth(Base() + kDay * 20);
  Close(late.complaint_id());
  // What the migration does to tickets already CLOSED: dated by creation.
  ExecOnDatabase("UPDATE complaints SET close_time = create_time WHERE status = 6");

  // Day 30 and two hours: the early one is due, the late one (closed on day
  // 20, though dated day 0) is not.
  SetBoth(Base() + kDay * 30 + absl::Hours(2));
  ASSERT_TRUE(Eventually([&] { return Get(early.complaint_id()).has_texts_removed_time(); })) << complaint_->log();
  LetJobsRun();
  EXPECT_FALSE(Holds(early.complaint_id(), kWordsA));
  EXPECT_TRUE(Holds(late.complaint_id(), kWordsB));
  EXPECT_FALSE(Get(late.complaint_id()).has_texts_removed_time());
  // Its own time comes.
  SetBoth(Base() + kDay * 50 + absl::Minutes(1));
  ASSERT_TRUE(Eventually([&] { return Get(late.complaint_id()).has_texts_removed_time(); })) << complaint_->log();
  EXPECT_FALSE(Holds(late.complaint_id(), kWordsB));
}

TEST_F(ComplaintRetentionTest, ARetentionOutOfBoundsStopsStartUp) {
  std::vector<std::string> args;
  for (const std::string& a : ComplaintArgs()) {
    if (!absl::StartsWith(a, "--closed_complaint_text_retention=")) args.push_back(a);
  }
  args.push_back("--closed_complaint_text_retention=24h");
  ServiceProcess bad(CARE_COMPLAINT_BIN, kComplaintHealth, args, tokens_);
  absl::Status started = bad.Start();
  EXPECT_FALSE(started.ok());
  EXPECT_NE(bad.log().find("closed_complaint_text_retention must be between 30 days and 3660 days"), std::string::npos)
      << bad.log();
}

}  // namespace
}  // namespace care::testing
