// Contacts and inquiries through the real binaries (issue 22, item 1): a
// person without membership asks a question, the desk answers it (a
// forbidden phrase refused), hands it over and resolves it; the contact gets
// the answer and the survey by e-mail from the real notification service and
// answers it; metrics count the inquiry. Goodwill needs a member. Prospects
// are listed and exported only with consent, and a contact who enrols is
// linked with their tickets. A contact's erasure reaches notification's
// deliveries to them, a member's reaches their linked contacts, a person
// with many contacts is exported and erased in batches, and listing
// contacts is audited (issue 22, hostile review).
#include <gmock/gmock.h>

#include <optional>
#include <regex>

#include "absl/strings/match.h"
#include "care/common/v1/audit.grpc.pb.h"
#include "tests/harness/receivers.h"
#include "tests/integration/complaint_fixture.h"

namespace care::testing {
namespace {

using care::common::v1::MESSAGE_CHANNEL_EMAIL;
using care::common::v1::MESSAGE_CHANNEL_WEBHOOK;

class ContactsTest : public ComplaintNotificationTest {
 protected:
  // Loyalty tells complaint of enrolments (LinkContacts through its outbox).
  std::vector<std::string> ExtraArgs() override {
    return {"--port=" + std::to_string(loyalty_port_),
            "--complaint_target=127.0.0.1:" + std::to_string(complaint_port_), "--link_contacts=true"};
  }

  void SetUp() override {
    ComplaintNotificationTest::SetUp();
    if (HasFatalFailure()) return;
    ConfigureEmail();
  }

  void ConfigureEmail() {
    nv1::UpdateSettingsRequest mail;
    mail.set_request_id("settings-contacts-email");
    mail.mutable_settings()->mutable_email()->set_smtp_url("smtp://127.0.0.1:" + std::to_string(smtp_.port()));
    mail.mutable_settings()->mutable_email()->set_from_address("care@example.com");
    mail.mutable_update_mask()->add_paths("email.smtp_url");
    mail.mutable_update_mask()->add_paths("email.from_address");
    nv1::Settings settings;
    grpc::Status s = nstub_->UpdateSettings(Ctx(admin()).get(), mail, &settings);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  static kv1::Contact Person(const std::string& name, const std::string& email) {
    kv1::Contact c;
    c.set_display_name(name);
    c.set_email(email);
    c.set_locale("en");
    c.set_time_zone("Asia/Ho_Chi_Minh");
    return c;
  }

  grpc::Status CreateContact(const kv1::Contact& contact, const std::string& request_id, kv1::Contact* out,
                             const std::string& token = "") {
    kv1::CreateContactRequest req;
    req.set_request_id(request_id);
    *req.mutable_contact() = contact;
    return complaints().CreateContact(Ctx(token.empty() ? agent() : token).get(), req, out);
  }

  kv1::Contact MustCreate(const kv1::Contact& contact, const std::string& request_id) {
    kv1::Contact out;
    grpc::Status s = CreateContact(contact, request_id, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  kv1::Complaint FileFor(const std::string& contact_id, kv1::TicketKind kind) {
    kv1::CreateComplaintRequest req;
    req.set_request_id(absl::StrCat("contact-file-", ++counter_));
    req.set_contact_id(contact_id);
    req.set_kind(kind);
    req.set_channel(kv1::CHANNEL_EMAIL);
    req.set_category(kv1::CATEGORY_PRODUCT);
    req.set_description("Does the blender come with a glass jug?");
    kv1::CreateComplaintResponse out;
    grpc::Status s = complaints().CreateComplaint(Ctx(agent()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out.complaint();
  }

  // A round-the-clock calendar and a 2 h first-response policy for every ticket.
  void AnyTicketPolicy() {
    UtcCalendar();
    if (HasFatalFailure()) return;
    kv1::CreateSlaPolicyRequest req;
    req.set_request_id("policy-any");
    kv1::SlaPolicy* p = req.mutable_policy();
    p->set_sla_policy_id("any");
    p->set_enabled(true);
    *p->mutable_first_response_target() = ToDurationProto(absl::Hours(2));
    *p->mutable_resolution_target() = ToDurationProto(absl::Hours(8));
    p->set_calendar_id("utc");
    kv1::SlaPolicy out;
    grpc::Status s = complaints().CreateSlaPolicy(Ctx(admin()).get(), req, &out);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  void ForbidInEnglish(const std::string& phrase) {
    kv1::PutForbiddenPhrasesRequest req;
    req.set_request_id("phrases-en");
    req.mutable_list()->set_locale("en");
    req.mutable_list()->add_phrases(phrase);
    kv1::ForbiddenPhraseList out;
    grpc::Status s = complaints().PutForbiddenPhrases(Ctx(admin()).get(), req, &out);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  // The mails to `address` whose text contains `needle`.
  std::vector<SmtpReceiver::Mail> MailsTo(const std::string& address, const std::string& needle) {
    std::vector<SmtpReceiver::Mail> out;
    for (SmtpReceiver::Mail& m : smtp_.mails()) {
      if (m.rcpt == "<" + address + ">" && absl::StrContains(m.data, needle)) out.push_back(std::move(m));
    }
    return out;
  }
  bool MailArrives(const std::string& address, const std::string& needle) {
    return Eventually([&] { return !MailsTo(address, needle).empty(); }, absl::Seconds(20));
  }

  std::vector<std::string> ListedIds(const kv1::ListContactsRequest& req, grpc::Status* status = nullptr,
                                     const std::string& token = "") {
    kv1::ListContactsResponse out;
    grpc::Status s = complaints().ListContacts(Ctx(token.empty() ? supervisor() : token).get(), req, &out);
    if (status != nullptr) *status = s;
    std::vector<std::string> ids;
    for (const auto& c : out.contacts()) ids.push_back(c.contact_id());
    return ids;
  }

  // Complaint's erasure of `subject`, as loyalty's outbox sends it.
  care::common::v1::ErasureReceipt EraseAtComplaint(const std::string& erasure_id,
                                                    const care::common::v1::DataSubject& subject) {
    care::common::v1::ErasePersonalDataRequest erase;
    erase.set_erasure_id(erasure_id);
    *erase.mutable_subject() = subject;
    erase.set_pseudonym(kContactPseudonym);
    erase.set_reason("DSR-22");
    care::common::v1::ErasureReceipt receipt;
    grpc::Status s = complaints().ErasePersonalData(Ctx(tokens_.peer_loyalty).get(), erase, &receipt);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return receipt;
  }

  // Complaint's export of `subject`; its contact records' ids.
  std::vector<std::string> ExportedContacts(const care::common::v1::DataSubject& subject) {
    care::common::v1::ExportPersonalDataRequest req;
    *req.mutable_subject() = subject;
    req.set_reason("DSR-22");
    auto ctx = Ctx(admin());
    auto reader = complaints().ExportPersonalData(ctx.get(), req);
    std::vector<std::string> ids;
    for (kv1::ComplaintPersonalData item; reader->Read(&item);) {
      if (item.has_contact()) ids.push_back(item.contact().contact_id());
    }
    grpc::Status s = reader->Finish();
    EXPECT_TRUE(s.ok()) << Describe(s);
    return ids;
  }

  // Notification's export of what it holds about these contacts; nullopt
  // if the call failed (notification still starting).
  std::optional<std::vector<nv1::NotificationPersonalData>> NotificationExport(const std::vector<std::string>& ids) {
    care::common::v1::ExportPersonalDataRequest req;
    for (const std::string& id : ids) req.mutable_subject()->add_contact_ids(id);
    req.set_reason("DSR-22");
    auto ctx = Ctx(admin());
    auto reader = nstub_->ExportPersonalData(ctx.get(), req);
    std::vector<nv1::NotificationPersonalData> items;
    for (nv1::NotificationPersonalData item; reader->Read(&item);) items.push_back(item);
    if (!reader->Finish().ok()) return std::nullopt;
    return items;
  }

  std::vector<nv1::Delivery> DeliveriesOf(const std::string& complaint_id) {
    nv1::ListDeliveriesRequest req;
    req.mutable_filter()->set_complaint_id(complaint_id);
    req.set_page_size(100);
    nv1::ListDeliveriesResponse out;
    grpc::Status s = nstub_->ListDeliveries(Ctx(admin()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return {out.deliveries().begin(), out.deliveries().end()};
  }

  static constexpr char kContactPseudonym[] = "erased-00112233445566778899aabbccddeeff";
  SmtpReceiver smtp_;
};

TEST_F(ContactsTest, AContactsInquiryIsAnsweredHandedOverResolvedAndSurveyedByEmail) {
  AnyTicketPolicy();
  ForbidInEnglish("calm down");
  kv1::Contact lan = MustCreate(Person("Lan Nguyen", "lan@example.com"), "contact-lan");
  ASSERT_FALSE(lan.contact_id().empty());
  EXPECT_EQ(lan.channel(), MESSAGE_CHANNEL_EMAIL) << "an e-mail address makes EMAIL the default";

  kv1::Complaint q = FileFor(lan.contact_id(), kv1::TICKET_KIND_INQUIRY);
  EXPECT_EQ(q.kind(), kv1::TICKET_KIND_INQUIRY);
  EXPECT_EQ(q.contact_id(), lan.contact_id());
  EXPECT_TRUE(q.member_id().empty());
  EXPECT_EQ(q.locale(), "en") << "the contact's language";
  EXPECT_EQ(q.tier().source(), kv1::TIER_SOURCE_UNAVAILABLE);
  EXPECT_EQ(q.sla_policy_id(), "any") << "the same SLAs as complaints";
  ASSERT_TRUE(MailArrives("lan@example.com", "We have received your inquiry.")) << notif_->log();

  kv1::ReplyToComplaintResponse reply;
  grpc::Status s = Reply(q.complaint_id(), "Please calm down, it does.", &reply);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(s), "FORBIDDEN_PHRASE");
  s = Reply(q.complaint_id(), "Yes, the jug is glass.", &reply);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_TRUE(MailArrives("lan@example.com", "Yes, the jug is glass.")) << notif_->log();
  EXPECT_TRUE(MailsTo("lan@example.com", "calm down").empty()) << "a refused reply sends nothing";

  kv1::TransferComplaintRequest transfer;
  transfer.set_request_id("transfer-lan");
  transfer.set_complaint_id(q.complaint_id());
  transfer.set_to_agent_id("agent-2");
  transfer.set_handover_note("Asked about the jug; answered.");
  kv1::Complaint moved;
  s = complaints().TransferComplaint(Ctx(agent()).get(), transfer, &moved);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(moved.handover().note(), "Asked about the jug; answered.");

  // Goodwill is a member's: refused for a contact, and nothing changes.
  kv1::ResolveComplaintResponse resolved;
  s = complaints().ResolveComplaint(Ctx(agent()).get(), ResolveRequest(q.complaint_id(), 100), &resolved);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(s), "GOODWILL_NEEDS_MEMBER");
  EXPECT_NE(Get(q.complaint_id()).status(), kv1::COMPLAINT_STATUS_RESOLVED);
  kv1::ResolveComplaintRequest plain = ResolveRequest(q.complaint_id(), 0);
  plain.set_request_id("resolve-plain");
  s = complaints().ResolveComplaint(Ctx(agent()).get(), plain, &resolved);
  ASSERT_TRUE(s.ok()) << Describe(s);

  // The survey reaches the contact by e-mail; they answer with its code.
  ASSERT_TRUE(MailArrives("lan@example.com", "survey code")) << notif_->log();
  const std::string body = MailsTo("lan@example.com", "survey code").front().data;
  std::smatch code;
  ASSERT_TRUE(std::regex_search(body, code, std::regex("survey code ([A-Za-z0-9_-]+)"))) << body;
  kv1::SubmitSurveyResponseRequest answer;
  answer.set_request_id("survey-lan");
  answer.set_survey_token(code[1].str());
  answer.set_score(5);
  kv1::SurveyResponse sr;
  s = complaints().SubmitSurveyResponse(Ctx(svc()).get(), answer, &sr);
  ASSERT_TRUE(s.ok()) << Describe(s);
  kv1::Complaint done = Get(q.complaint_id());
  EXPECT_EQ(done.status(), kv1::COMPLAINT_STATUS_RESOLVED);
  EXPECT_EQ(done.survey().status(), kv1::SURVEY_STATUS_ANSWERED);
  EXPECT_EQ(done.survey().score(), 5);

  // Metrics count the inquiry as an inquiry.
  kv1::GetComplaintMetricsRequest mreq;
  *mreq.mutable_start_time() = ToTimestamp(Base() - absl::Hours(1));
  *mreq.mutable_end_time() = ToTimestamp(Base() + absl::Hours(1));
  mreq.add_group_by(kv1::METRICS_DIMENSION_KIND);
  kv1::ComplaintMetrics m;
  s = complaints().GetComplaintMetrics(Ctx(supervisor()).get(), mreq, &m);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_EQ(m.groups_size(), 1);
  EXPECT_EQ(m.groups(0).key().kind(), kv1::TICKET_KIND_INQUIRY);
  EXPECT_EQ(m.groups(0).complaint_count(), 1);
  EXPECT_EQ(m.groups(0).resolved_count(), 1);
  EXPECT_EQ(m.groups(0).satisfaction().response_count(), 1);
  EXPECT_DOUBLE_EQ(m.groups(0).satisfaction().average_score(), 5.0);

  // The desk finds the contact's inquiries.
  kv1::ListComplaintsRequest list;
  list.set_contact_id(lan.contact_id());
  list.add_kinds(kv1::TICKET_KIND_INQUIRY);
  kv1::ListComplaintsResponse listed;
  s = complaints().ListComplaints(Ctx(agent()).get(), list, &listed);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_EQ(listed.complaints_size(), 1);
  list.set_kinds(0, kv1::TICKET_KIND_COMPLAINT);
  s = complaints().ListComplaints(Ctx(agent()).get(), list, &listed);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(listed.complaints_size(), 0);
}

TEST_F(ContactsTest, ATicketNamesAMemberOrAContactAndTheContactMustExist) {
  kv1::CreateComplaintRequest req;
  req.set_request_id("both");
  req.set_member_id("m-1");
  req.set_contact_id("ct-1");
  req.set_channel(kv1::CHANNEL_EMAIL);
  req.set_category(kv1::CATEGORY_PRODUCT);
  req.set_description("?");
  kv1::CreateComplaintResponse out;
  grpc::Status s = complaints().CreateComplaint(Ctx(agent()).get(), req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(s), "INVALID_FIELD");
  req.set_request_id("unknown-contact");
  req.clear_member_id();
  s = complaints().CreateComplaint(Ctx(agent()).get(), req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Reason(s), "CONTACT_NOT_FOUND");
  kv1::Contact nobody;
  nobody.set_display_name("No Address");
  s = CreateContact(nobody, "no-address", &nobody);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(s), "INVALID_FIELD");
}

TEST_F(ContactsTest, ProspectsAreListedAndExportedOnlyWithConsent) {
  kv1::Contact a = Person("An", "an@example.com");
  a.mutable_prospect()->set_source("fair-2031");
  a.mutable_prospect()->add_interests("coffee");
  kv1::ContactConsent* yes = a.add_consents();
  yes->set_channel(MESSAGE_CHANNEL_EMAIL);
  yes->set_granted(true);
  kv1::Contact b = Person("Binh", "binh@example.com");
  b.mutable_prospect()->set_source("fair-2031");
  b.mutable_prospect()->add_interests("tea");
  b.add_consents()->set_channel(MESSAGE_CHANNEL_EMAIL);  // withdrawn: not granted
  kv1::Contact c = Person("Chi", "chi@example.com");     // not a prospect
  *c.add_consents() = *yes;
  const std::string ida = MustCreate(a, "prospect-a").contact_id();
  const std::string idb = MustCreate(b, "prospect-b").contact_id();
  const std::string idc = MustCreate(c, "contact-c").contact_id();
  // A retry returns the first answer: one contact.
  EXPECT_EQ(MustCreate(a, "prospect-a").contact_id(), ida);
  EXPECT_EQ(MustCreate(a, "prospect-a").prospect().follow_up(), kv1::FOLLOW_UP_STATE_NEW);

  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  kv1::ListContactsRequest req;
  EXPECT_EQ(ListedIds(req), sorted({ida, idb, idc}));
  req.set_prospects_only(true);
  EXPECT_EQ(ListedIds(req), sorted({ida, idb}));
  req.set_consented_channel(MESSAGE_CHANNEL_EMAIL);
  EXPECT_EQ(ListedIds(req), std::vector<std::string>{ida}) << "the export holds only who consented";
  req.set_consented_channel(MESSAGE_CHANNEL_WEBHOOK);
  EXPECT_TRUE(ListedIds(req).empty());
  req.clear_consented_channel();
  req.set_interest("tea");
  EXPECT_EQ(ListedIds(req), std::vector<std::string>{idb});
  req.clear_interest();
  req.set_source("web");
  EXPECT_TRUE(ListedIds(req).empty());

  // Paged one by one, every prospect once.
  kv1::ListContactsRequest paged;
  paged.set_prospects_only(true);
  paged.set_page_size(1);
  std::vector<std::string> seen;
  for (int i = 0; i < 5; ++i) {
    kv1::ListContactsResponse out;
    grpc::Status s = complaints().ListContacts(Ctx(svc()).get(), paged, &out);
    ASSERT_TRUE(s.ok()) << Describe(s);
    for (const auto& ct : out.contacts()) seen.push_back(ct.contact_id());
    if (out.next_page_token().empty()) break;
    paged.set_page_token(out.next_page_token());
  }
  EXPECT_EQ(seen, sorted({ida, idb}));

  // Agents reach contacts through their tickets, not the prospect list.
  grpc::Status denied;
  ListedIds(kv1::ListContactsRequest(), &denied, agent());
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(ContactsTest, AContactWhoEnrolsIsLinkedAndTheirTicketsFollowThem) {
  kv1::Contact mai = MustCreate(Person("Mai Tran", "mai@example.com"), "contact-mai");
  kv1::Complaint t = FileFor(mai.contact_id(), kv1::TICKET_KIND_COMPLAINT);
  EXPECT_EQ(t.kind(), kv1::TICKET_KIND_COMPLAINT);
  // Mai enrols with the same e-mail address: loyalty tells complaint.
  Enrol("m-mai", [](lv1::Member* m) { m->set_email("mai@example.com"); });
  kv1::GetContactRequest get;
  get.set_contact_id(mai.contact_id());
  kv1::Contact now;
  ASSERT_TRUE(Eventually([&] {
    return complaints().GetContact(Ctx(agent()).get(), get, &now).ok() && now.member_id() == "m-mai";
  })) << complaint_->log()
      << service_->log();
  kv1::ListComplaintsRequest by_member;
  by_member.set_member_id("m-mai");
  kv1::ListComplaintsResponse listed;
  grpc::Status s = complaints().ListComplaints(Ctx(agent()).get(), by_member, &listed);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_EQ(listed.complaints_size(), 1);
  EXPECT_EQ(listed.complaints(0).complaint_id(), t.complaint_id());
  EXPECT_EQ(listed.complaints(0).contact_id(), mai.contact_id());
  // A new ticket of the linked contact is the member's too.
  EXPECT_EQ(FileFor(mai.contact_id(), kv1::TICKET_KIND_INQUIRY).member_id(), "m-mai");
}

TEST_F(ContactsTest, OnlyLoyaltyAmongPeersLinksAndARetryReturnsTheFirstAnswer) {
  kv1::Contact vy = MustCreate(Person("Vy Le", "vy@example.com"), "contact-vy");
  FileFor(vy.contact_id(), kv1::TICKET_KIND_INQUIRY);
  kv1::LinkContactsRequest link;
  link.set_request_id("link-vy");
  link.set_member_id("m-vy");
  link.set_email("vy@example.com");
  kv1::LinkContactsResponse linked;
  grpc::Status s = complaints().LinkContacts(Ctx(tokens_.peer_promotion).get(), link, &linked);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Reason(s), "PEER_NOT_ALLOWED");
  s = complaints().LinkContacts(Ctx(agent()).get(), link, &linked);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  s = complaints().LinkContacts(Ctx(tokens_.peer_loyalty).get(), link, &linked);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_EQ(linked.contact_ids_size(), 1);
  EXPECT_EQ(linked.contact_ids(0), vy.contact_id());
  EXPECT_EQ(linked.complaint_count(), 1);
  kv1::LinkContactsResponse again;
  s = complaints().LinkContacts(Ctx(tokens_.peer_loyalty).get(), link, &again);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(again.SerializeAsString(), linked.SerializeAsString()) << "a retry returns the first answer";
  link.set_request_id("link-vy-2");
  s = complaints().LinkContacts(Ctx(tokens_.peer_loyalty).get(), link, &again);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(again.contact_ids_size(), 0) << "a linked contact stays linked";
}

TEST_F(ContactsTest, OnlyContactsWhoseAddressesAreTheMembersAreLinked) {
  // Same phone, another e-mail: someone else (a family phone, a recycled
  // number). A phone-only contact with that phone is the member.
  kv1::Contact alice = Person("Alice", "alice@example.com");
  alice.set_phone("+84901234567");
  alice = MustCreate(alice, "contact-alice");
  kv1::Contact walk_in = Person("Walk-in", "");
  walk_in.set_phone("+84901234567");
  walk_in.set_channel(care::common::v1::MESSAGE_CHANNEL_WEBHOOK);
  walk_in = MustCreate(walk_in, "contact-walk-in");
  auto link = [&](const std::string& id, const std::string& member, const std::string& email,
                  const std::string& phone) {
    kv1::LinkContactsRequest req;
    req.set_request_id(id);
    req.set_member_id(member);
    req.set_email(email);
    req.set_phone(phone);
    kv1::LinkContactsResponse out;
    grpc::Status s = complaints().LinkContacts(Ctx(tokens_.peer_loyalty).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return std::vector<std::string>(out.contact_ids().begin(), out.contact_ids().end());
  };
  EXPECT_EQ(link("link-bob", "m-bob", "bob@example.com", "+84901234567"),
            std::vector<std::string>{walk_in.contact_id()});
  // A phone alone never takes over a contact who has an e-mail address.
  EXPECT_TRUE(link("link-carol", "m-carol", "", "+84901234567").empty());
  // The right e-mail with a different phone on both sides is not them either.
  EXPECT_TRUE(link("link-alice-2", "m-alice-2", "alice@example.com", "+84909999999").empty());
  EXPECT_EQ(link("link-alice", "m-alice", "ALICE@example.com", "+84901234567"),
            std::vector<std::string>{alice.contact_id()});

  // An address six unlinked contacts share links none of them.
  for (int i = 0; i < 6; ++i) {
    kv1::Contact shop = Person(absl::StrCat("Guest ", i), "");
    shop.set_phone("+84281234567");
    shop.set_channel(care::common::v1::MESSAGE_CHANNEL_WEBHOOK);
    MustCreate(shop, absl::StrCat("contact-shop-", i));
  }
  EXPECT_TRUE(link("link-shop", "m-shop", "", "+84281234567").empty());
}

TEST_F(ContactsTest, AContactIsExportedAndErasedByTheirEmailAddress) {
  kv1::Contact kim = MustCreate(Person("Kim Pham", "Kim@Example.com"), "contact-kim");
  kv1::Complaint t = FileFor(kim.contact_id(), kv1::TICKET_KIND_INQUIRY);
  kv1::ReplyToComplaintResponse reply;
  ASSERT_TRUE(Reply(t.complaint_id(), "Kim, yes it is glass.", &reply).ok());
  care::common::v1::DataSubject subject;
  subject.set_email("kim@example.com");  // without case, as erasure subjects are

  care::common::v1::ExportPersonalDataRequest ex;
  *ex.mutable_subject() = subject;
  ex.set_reason("DSR-7");
  auto ctx = Ctx(admin());
  auto reader = complaints().ExportPersonalData(ctx.get(), ex);
  std::vector<kv1::ComplaintPersonalData> items;
  for (kv1::ComplaintPersonalData item; reader->Read(&item);) items.push_back(item);
  grpc::Status s = reader->Finish();
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_GE(items.size(), 3u);
  EXPECT_EQ(items[0].contact().contact_id(), kim.contact_id());
  EXPECT_EQ(items[1].complaint().complaint_id(), t.complaint_id());
  bool reply_exported = false;
  for (const auto& item : items) reply_exported |= item.event().reply().text() == "Kim, yes it is glass.";
  EXPECT_TRUE(reply_exported);

  care::common::v1::ErasePersonalDataRequest erase;
  erase.set_erasure_id("erase-kim");
  *erase.mutable_subject() = subject;
  erase.set_pseudonym("erased-0123456789abcdef0123456789abcdef");
  erase.set_reason("DSR-7");
  care::common::v1::ErasureReceipt receipt;
  s = complaints().ErasePersonalData(Ctx(tokens_.peer_loyalty).get(), erase, &receipt);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(receipt.erased().at("contact"), 1);
  EXPECT_EQ(receipt.deidentified().at("complaint"), 1);
  kv1::GetContactRequest get;
  get.set_contact_id(kim.contact_id());
  kv1::Contact gone;
  s = complaints().GetContact(Ctx(agent()).get(), get, &gone);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  kv1::Complaint kept = Get(t.complaint_id());
  EXPECT_EQ(kept.member_id(), erase.pseudonym());
  EXPECT_TRUE(kept.contact_id().empty());
  EXPECT_TRUE(kept.description().empty());
  EXPECT_EQ(kept.kind(), kv1::TICKET_KIND_INQUIRY) << "the facts stay for metrics";
  for (const auto& e : Events(t.complaint_id())) EXPECT_TRUE(e.reply().text().empty());
  // The kept ticket is frozen: nothing more is said to the person.
  s = Reply(t.complaint_id(), "Anything else?", &reply);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(s), "SUBJECT_ERASED");
}

kv1::UpdateContactRequest ContactEdit(const kv1::Contact& c, const std::string& request_id,
                                      std::initializer_list<const char*> paths) {
  kv1::UpdateContactRequest req;
  req.set_request_id(request_id);
  *req.mutable_contact() = c;
  for (const char* p : paths) req.mutable_update_mask()->add_paths(p);
  return req;
}

TEST_F(ContactsTest, AContactsNewAddressGetsLaterMessagesOnceTheUpdateLands) {
  kv1::Contact hoa = MustCreate(Person("Hoa Le", "hoa.old@example.com"), "contact-hoa");
  kv1::Complaint q = FileFor(hoa.contact_id(), kv1::TICKET_KIND_INQUIRY);
  ASSERT_TRUE(MailArrives("hoa.old@example.com", "We have received your inquiry.")) << notif_->log();

  kv1::Contact edit = hoa;
  edit.set_email("hoa.new@example.com");
  edit.set_display_name("Hoa Le Thi");
  kv1::UpdateContactRequest req = ContactEdit(edit, "update-hoa", {"email", "display_name"});
  req.set_expected_version(hoa.version());
  kv1::Contact updated;
  grpc::Status s = complaints().UpdateContact(Ctx(agent()).get(), req, &updated);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(updated.email(), "hoa.new@example.com");
  EXPECT_EQ(updated.display_name(), "Hoa Le Thi");
  EXPECT_EQ(updated.locale(), "en") << "fields outside the mask stay";
  EXPECT_EQ(updated.version(), hoa.version() + 1);
  // A retry answers the same; a stale version is refused and changes nothing.
  kv1::Contact again;
  s = complaints().UpdateContact(Ctx(agent()).get(), req, &again);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(again.version(), updated.version());
  kv1::UpdateContactRequest stale = ContactEdit(hoa, "update-hoa-stale", {"display_name"});
  stale.set_expected_version(hoa.version());
  s = complaints().UpdateContact(Ctx(agent()).get(), stale, &again);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << Describe(s);
  EXPECT_EQ(Reason(s), "VERSION_MISMATCH");

  kv1::ReplyToComplaintResponse reply;
  s = Reply(q.complaint_id(), "The jug is glass, Hoa.", &reply);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_TRUE(MailArrives("hoa.new@example.com", "The jug is glass, Hoa.")) << notif_->log();
  EXPECT_TRUE(MailsTo("hoa.old@example.com", "The jug is glass").empty()) << "the old address hears no more";

  // The change is in the audit log, once, naming the contact by id only.
  auto audit = care::common::v1::AuditLog::NewStub(complaint_->channel());
  care::common::v1::ListAuditEntriesRequest by_target;
  by_target.set_target("contact:" + hoa.contact_id());
  care::common::v1::ListAuditEntriesResponse entries;
  s = audit->ListAuditEntries(Ctx(admin()).get(), by_target, &entries);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_EQ(entries.entries_size(), 1);
  EXPECT_EQ(entries.entries(0).action(), "/care.complaint.v1.ComplaintService/UpdateContact");
  EXPECT_EQ(entries.entries(0).principal(), "agent:test");
  EXPECT_EQ(entries.entries(0).ShortDebugString().find("hoa.new"), std::string::npos);
}

TEST_F(ContactsTest, AnUpdateThatLeavesNoValidContactIsRefusedAndChangesNothing) {
  kv1::Contact tam = Person("Tam Vo", "tam@example.com");
  auto* consent = tam.add_consents();
  consent->set_channel(MESSAGE_CHANNEL_EMAIL);
  consent->set_granted(true);
  tam.mutable_prospect()->set_source("fair-2026");
  tam = MustCreate(tam, "contact-tam");
  kv1::Contact out;

  kv1::Contact no_address = tam;
  no_address.clear_email();
  grpc::Status s = complaints().UpdateContact(Ctx(agent()).get(), ContactEdit(no_address, "tam-1", {"email"}), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  // No address is left, and the EMAIL channel has none to use.
  EXPECT_EQ(BadFields(s), (std::vector<std::string>{"contact.email", "contact.channel"}));
  s = complaints().UpdateContact(Ctx(agent()).get(), ContactEdit(tam, "tam-2", {"member_id"}), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"update_mask"});
  s = complaints().UpdateContact(Ctx(agent()).get(), ContactEdit(tam, "tam-3", {}), &out);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"update_mask"});
  kv1::Contact nobody = tam;
  nobody.set_contact_id("ct-nobody");
  s = complaints().UpdateContact(Ctx(agent()).get(), ContactEdit(nobody, "tam-4", {"locale"}), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(s);
  EXPECT_EQ(Reason(s), "CONTACT_NOT_FOUND");
  kv1::GetContactRequest get;
  get.set_contact_id(tam.contact_id());
  kv1::Contact now;
  ASSERT_TRUE(complaints().GetContact(Ctx(agent()).get(), get, &now).ok());
  EXPECT_EQ(now.version(), tam.version());
  EXPECT_EQ(now.email(), "tam@example.com");

  // Withdrawing a consent dates it then, even when the edit sends back the
  // grant's old date; the prospect keeps its follow-up state when the edit
  // leaves it unset.
  SetBoth(Base() + absl::Hours(5));
  kv1::Contact edit = tam;
  edit.mutable_consents(0)->set_granted(false);
  edit.mutable_prospect()->add_interests("blenders");
  edit.mutable_prospect()->set_follow_up(kv1::FOLLOW_UP_STATE_UNSPECIFIED);
  s = complaints().UpdateContact(Ctx(agent()).get(), ContactEdit(edit, "tam-5", {"consents", "prospect"}), &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_EQ(out.consents_size(), 1);
  EXPECT_FALSE(out.consents(0).granted());
  EXPECT_EQ(FromTimestamp(out.consents(0).update_time()), Base() + absl::Hours(5));
  EXPECT_EQ(out.prospect().follow_up(), kv1::FOLLOW_UP_STATE_NEW);
  ASSERT_EQ(out.prospect().interests_size(), 1);
  EXPECT_EQ(out.updated_by().principal_id(), "agent:test");
  // A grant given on paper an hour ago is dated then; a date before the
  // withdrawal or in the future is not believed.
  edit = out;
  edit.mutable_consents(0)->set_granted(true);
  *edit.mutable_consents(0)->mutable_update_time() = ToTimestamp(Base() + absl::Hours(4));
  s = complaints().UpdateContact(Ctx(agent()).get(), ContactEdit(edit, "tam-6", {"consents"}), &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(FromTimestamp(out.consents(0).update_time()), Base() + absl::Hours(5)) << "before the withdrawal";
  SetBoth(Base() + absl::Hours(7));
  edit = out;
  edit.mutable_consents(0)->set_granted(false);
  *edit.mutable_consents(0)->mutable_update_time() = ToTimestamp(Base() + absl::Hours(6));
  s = complaints().UpdateContact(Ctx(agent()).get(), ContactEdit(edit, "tam-7", {"consents"}), &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(FromTimestamp(out.consents(0).update_time()), Base() + absl::Hours(6)) << "on paper, recorded later";
  // A retry whose contact carries other fields outside the mask is the same
  // request.
  edit.set_version(99);
  edit.set_locale("vi");
  kv1::Contact replay;
  s = complaints().UpdateContact(Ctx(agent()).get(), ContactEdit(edit, "tam-7", {"consents"}), &replay);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(replay.version(), out.version());
  kv1::ListContactsRequest consented;
  consented.set_consented_channel(MESSAGE_CHANNEL_EMAIL);
  EXPECT_TRUE(ListedIds(consented).empty()) << "the withdrawn consent leaves the follow-up export";
}

TEST_F(ContactsTest, ErasureByTheNewAddressTakesTheAnswersThatNamedTheOldOne) {
  kv1::CreateContactRequest create;
  create.set_request_id("contact-vy");
  *create.mutable_contact() = Person("Vy Tran", "vy.old@example.com");
  kv1::Contact vy;
  grpc::Status s = complaints().CreateContact(Ctx(agent()).get(), create, &vy);
  ASSERT_TRUE(s.ok()) << Describe(s);
  kv1::Contact edit = vy;
  edit.set_email("vy.new@example.com");
  kv1::Contact updated;
  s = complaints().UpdateContact(Ctx(agent()).get(), ContactEdit(edit, "update-vy", {"email"}), &updated);
  ASSERT_TRUE(s.ok()) << Describe(s);

  care::common::v1::ErasePersonalDataRequest erase;
  erase.set_erasure_id("erase-vy");
  erase.mutable_subject()->set_email("vy.new@example.com");
  erase.set_pseudonym("erased-00000000000000000000000000000abc");
  erase.set_reason("DSR-9");
  care::common::v1::ErasureReceipt receipt;
  s = complaints().ErasePersonalData(Ctx(tokens_.peer_loyalty).get(), erase, &receipt);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(receipt.erased().at("contact"), 1);
  // The create's stored answer named the old address: it went too, so its
  // retry is a new request, not the erased person's data replayed.
  kv1::Contact replay;
  s = complaints().CreateContact(Ctx(agent()).get(), create, &replay);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_NE(replay.contact_id(), vy.contact_id());
  s = complaints().UpdateContact(Ctx(agent()).get(), ContactEdit(edit, "update-vy", {"email"}), &updated);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(s);
}

TEST_F(ContactsTest, ALinkedContactIsTheMembersAndIsNotChangedHere) {
  kv1::Contact duc = MustCreate(Person("Duc Ho", "duc@example.com"), "contact-duc");
  Enrol("m-duc", [](lv1::Member* m) { m->set_email("duc@example.com"); });
  kv1::GetContactRequest get;
  get.set_contact_id(duc.contact_id());
  kv1::Contact now;
  ASSERT_TRUE(Eventually([&] {
    return complaints().GetContact(Ctx(agent()).get(), get, &now).ok() && now.member_id() == "m-duc";
  })) << complaint_->log();
  kv1::Contact edit = now;
  edit.set_email("someone.else@example.com");
  kv1::Contact out;
  grpc::Status s = complaints().UpdateContact(Ctx(agent()).get(), ContactEdit(edit, "duc-1", {"email"}), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(s);
  EXPECT_EQ(Reason(s), "CONTACT_LINKED");
  ASSERT_TRUE(complaints().GetContact(Ctx(agent()).get(), get, &now).ok());
  EXPECT_EQ(now.email(), "duc@example.com");
}

// Issue 22, hostile review: erasing a contact left notification's deliveries
// to them, with the event behind each (the contact's name, address and the
// message). Complaint's erasure passes the contact ids on through its
// outbox; with notification down then, it happens once notification is back.
TEST_F(ContactsTest, AnErasedContactsDeliveriesGoFromNotificationEvenIfItWasDown) {
  AnyTicketPolicy();
  const std::string name = "Quilla Varnstrom", email = "quilla.varnstrom@example.org", text = "zephyr-lantern-4417";
  kv1::Contact quilla = MustCreate(Person(name, email), "contact-quilla");
  kv1::Complaint t = FileFor(quilla.contact_id(), kv1::TICKET_KIND_INQUIRY);
  ASSERT_TRUE(MailArrives(email, "We have received your inquiry.")) << notif_->log();
  kv1::ReplyToComplaintResponse reply;
  grpc::Status s = Reply(t.complaint_id(), absl::StrCat("The answer: ", text), &reply);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_TRUE(MailArrives(email, text)) << notif_->log();
  auto held = NotificationExport({quilla.contact_id()});
  ASSERT_TRUE(held.has_value());
  ASSERT_GE(held->size(), 2U) << "the acknowledgement and the reply";
  for (const auto& item : *held) EXPECT_EQ(item.delivery().contact_id(), quilla.contact_id());

  notif_->Kill();
  care::common::v1::DataSubject subject;
  subject.set_email(email);
  EXPECT_EQ(EraseAtComplaint("erase-quilla", subject).erased().at("contact"), 1);
  ASSERT_TRUE(notif_->Restart().ok()) << notif_->log();
  nstub_ = nv1::NotificationService::NewStub(notif_->channel());
  SetAll(Base());
  ASSERT_TRUE(Eventually(
      [&] {
        auto left = NotificationExport({quilla.contact_id()});
        return left.has_value() && left->empty();
      },
      absl::Seconds(30)))
      << complaint_->log() << notif_->log();
  // The deliveries stay for the counts, under the pseudonym, naming no one.
  std::vector<nv1::Delivery> kept = DeliveriesOf(t.complaint_id());
  ASSERT_GE(kept.size(), 2U);
  for (const nv1::Delivery& d : kept) {
    EXPECT_EQ(d.contact_id(), kContactPseudonym);
    EXPECT_FALSE(absl::StrContains(d.delivery_id(), quilla.contact_id())) << d.delivery_id();
    EXPECT_TRUE(d.last_error().empty());
  }
  if (TestPostgres()) return;  // PostgreSQL: VACUUM semantics (docs/privacy.md)
  EXPECT_TRUE(FoundInFiles(notif_->data_dir(), {name, email, text, quilla.contact_id()}).empty());
}

// Issue 22, hostile review: a member's erasure found contacts by the
// member's current address only; a contact linked to them under an address
// they no longer have survived.
TEST_F(ContactsTest, AMembersErasureTakesTheirLinkedContactFiledUnderAnOldAddress) {
  kv1::Contact hoa = MustCreate(Person("Hoa Pham", "hoa.old@example.com"), "contact-hoa");
  FileFor(hoa.contact_id(), kv1::TICKET_KIND_INQUIRY);
  kv1::LinkContactsRequest link;
  link.set_request_id("link-hoa");
  link.set_member_id("m-hoa");
  link.set_email("hoa.old@example.com");
  kv1::LinkContactsResponse linked;
  grpc::Status s = complaints().LinkContacts(Ctx(tokens_.peer_loyalty).get(), link, &linked);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_EQ(linked.contact_ids_size(), 1);
  // She changed her e-mail address since: loyalty erases her with the new one.
  care::common::v1::DataSubject subject;
  subject.set_member_id("m-hoa");
  subject.set_email("hoa.new@example.com");
  EXPECT_EQ(ExportedContacts(subject), std::vector<std::string>{hoa.contact_id()});
  care::common::v1::ErasureReceipt receipt = EraseAtComplaint("erase-hoa", subject);
  EXPECT_EQ(receipt.erased().at("contact"), 1);
  kv1::GetContactRequest get;
  get.set_contact_id(hoa.contact_id());
  kv1::Contact gone;
  s = complaints().GetContact(Ctx(agent()).get(), get, &gone);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(ExportedContacts(subject).empty());
}

// Issue 22, hostile review: a person's contacts were read all at once.
// Export and erasure read them in batches (kContactBatch, 50) by contact
// id: 110 contacts sharing one phone (a shop's) are every one exported and
// erased, and notification gets each batch's ids in a request of its own
// (at most 100 ids each), the last batch's too.
TEST_F(ContactsTest, MoreContactsThanTwoBatchesAreAllExportedAndErased) {
  std::vector<std::string> ids;
  for (int i = 0; i < 110; ++i) {
    kv1::Contact guest = Person(absl::StrCat("Guest ", i), "");
    guest.set_phone("+84287770000");
    guest.set_channel(MESSAGE_CHANNEL_WEBHOOK);
    ids.push_back(MustCreate(guest, absl::StrCat("guest-", i)).contact_id());
  }
  std::sort(ids.begin(), ids.end());
  // The first and the last by id hear from complaint (no webhook is set up:
  // their deliveries are suppressed, but held).
  kv1::Complaint first = FileFor(ids.front(), kv1::TICKET_KIND_INQUIRY);
  kv1::Complaint last = FileFor(ids.back(), kv1::TICKET_KIND_INQUIRY);
  ASSERT_TRUE(Eventually([&] {
    auto held = NotificationExport({ids.front(), ids.back()});
    return held.has_value() && held->size() >= 2;
  })) << notif_->log();

  care::common::v1::DataSubject subject;
  subject.set_phone("+84287770000");
  EXPECT_EQ(ExportedContacts(subject), ids) << "each once, in id order";
  EXPECT_EQ(EraseAtComplaint("erase-guests", subject).erased().at("contact"), 110);
  EXPECT_TRUE(ExportedContacts(subject).empty());
  EXPECT_TRUE(ListedIds(kv1::ListContactsRequest()).empty());
  ASSERT_TRUE(Eventually(
      [&] {
        auto left = NotificationExport({ids.front(), ids.back()});
        return left.has_value() && left->empty();
      },
      absl::Seconds(30)))
      << complaint_->log() << notif_->log();
  for (const auto& c : {first, last}) {
    for (const nv1::Delivery& d : DeliveriesOf(c.complaint_id())) EXPECT_EQ(d.contact_id(), kContactPseudonym);
  }
}

// Issue 22, hostile review: ListContacts (the prospect export) read
// contacts' personal data in bulk without an audit entry. Each page leaves
// one, like ExportPersonalData: who, why, the filters named, how many.
TEST_F(ContactsTest, ListingContactsIsAuditedWithWhoWhyAndHowMany) {
  kv1::Contact a = Person("An", "an@example.com");
  a.mutable_prospect()->set_source("fair-2031");
  MustCreate(a, "prospect-a");
  kv1::Contact b = Person("Binh", "binh@example.com");
  b.mutable_prospect()->set_source("fair-2031");
  MustCreate(b, "prospect-b");
  kv1::ListContactsRequest req;
  req.set_source("fair-2031");
  req.set_reason("follow-up call list 7");
  EXPECT_EQ(ListedIds(req).size(), 2U);
  req.set_reason(std::string(501, 'x'));
  grpc::Status s;
  ListedIds(req, &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  auto audit = care::common::v1::AuditLog::NewStub(complaint_->channel());
  care::common::v1::ListAuditEntriesRequest list;
  list.set_action("/care.complaint.v1.ComplaintService/ListContacts");
  care::common::v1::ListAuditEntriesResponse entries;
  s = audit->ListAuditEntries(Ctx(admin()).get(), list, &entries);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_EQ(entries.entries_size(), 1) << "a refused call reads nothing";
  const care::common::v1::AuditEntry& e = entries.entries(0);
  EXPECT_FALSE(e.principal().empty());
  EXPECT_EQ(e.target(), "contacts");
  EXPECT_EQ(e.reason(), "follow-up call list 7");
  EXPECT_THAT(e.detail(), ::testing::HasSubstr("count=2"));
  EXPECT_THAT(e.detail(), ::testing::HasSubstr("source"));
  EXPECT_THAT(e.detail(), ::testing::Not(::testing::HasSubstr("fair-2031"))) << "filters named, not their values";
}

}  // namespace
}  // namespace care::testing
