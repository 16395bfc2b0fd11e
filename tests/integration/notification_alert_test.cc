// Notification service, promotion alerts end to end: the real care_loyalty
// (audience) and care_notification binaries under fake clocks, called only
// through the generated stubs.
#include <fstream>
#include <optional>
#include <set>
#include <tuple>

#include "absl/strings/str_format.h"
#include "tests/harness/scrape.h"
#include "tests/integration/notification_fixture.h"

namespace care::testing {
namespace {

using care::common::v1::MESSAGE_CHANNEL_IN_APP;

// The notification fixture with the steps the longer alert tests share.
class NotificationAlertTest : public NotificationTest {
 protected:
  // a-ja's alert is marked read (it had been unread); a-vi cannot mark a-ja's message.
  void MarkReadOnlyByItsMember() {
    nv1::ListInboxResponse inbox = Inbox("a-ja");
    EXPECT_EQ(inbox.unread_count(), 1);
    nv1::MarkInboxMessageReadRequest mark;
    mark.set_request_id("read-1");
    mark.set_member_id("a-ja");
    mark.set_message_id(inbox.messages(0).message_id());
    nv1::InboxMessage read;
    ASSERT_TRUE(nstub_->MarkInboxMessageRead(Ctx(svc()).get(), mark, &read).ok());
    EXPECT_TRUE(read.has_read_time());
    EXPECT_EQ(Inbox("a-ja").unread_count(), 0);
    mark.set_member_id("a-vi");
    mark.set_request_id("read-2");
    grpc::Status other = nstub_->MarkInboxMessageRead(Ctx(svc()).get(), mark, &read);
    EXPECT_EQ(other.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(Reason(other), "INBOX_MESSAGE_NOT_FOUND");
  }

  // `member` withdraws IN_APP consent in the app's settings screen.
  static nv1::SetConsentRequest InAppWithdrawal(const std::string& member) {
    nv1::SetConsentRequest consent;
    consent.set_request_id("consent-1");
    consent.set_member_id(member);
    consent.set_channel(MESSAGE_CHANNEL_IN_APP);
    consent.set_granted(false);
    consent.set_source(nv1::CONSENT_SOURCE_MEMBER_SELF_SERVICE);
    consent.set_legal_basis(nv1::LEGAL_BASIS_CONSENT);
    consent.set_evidence("app settings screen v3");
    return consent;
  }

  // `member` turns marketing off on IN_APP.
  static nv1::UpdatePreferencesRequest InAppMarketingOff(const std::string& member) {
    nv1::UpdatePreferencesRequest mute;
    mute.set_request_id("prefs-1");
    mute.mutable_preferences()->set_member_id(member);
    auto* off = mute.mutable_preferences()->add_channel_preferences();
    off->set_channel(MESSAGE_CHANNEL_IN_APP);
    off->set_category(nv1::MESSAGE_CATEGORY_MARKETING);
    off->set_enabled(false);
    mute.mutable_update_mask()->add_paths("channel_preferences");
    return mute;
  }

  // The in-app delivery of `campaign`'s alert to `member` once it is no longer pending.
  nv1::Delivery SettledAlertDelivery(const std::string& member, const std::string& campaign) {
    nv1::GetDeliveryRequest get;
    get.mutable_delivery_key()->set_member_id(member);
    get.mutable_delivery_key()->set_message_key("promotion-alert/" + campaign);
    get.mutable_delivery_key()->set_channel(MESSAGE_CHANNEL_IN_APP);
    nv1::Delivery d;
    EXPECT_TRUE(Eventually([&] {
      return nstub_->GetDelivery(Ctx(svc()).get(), get, &d).ok() && d.status() != nv1::DELIVERY_STATUS_PENDING;
    }));
    return d;
  }

  // PutTemplate as an admin: its status and the stored template.
  std::pair<grpc::Status, nv1::Template> PutTemplate(const std::string& request_id, nv1::Template t) {
    nv1::PutTemplateRequest req;
    req.set_request_id(request_id);
    *req.mutable_template_() = std::move(t);
    nv1::Template out;
    grpc::Status s = nstub_->PutTemplate(Ctx(admin()).get(), req, &out);
    return std::make_pair(s, out);
  }

  static void Declare(nv1::Template& t, const std::string& name, nv1::VariableType type) {
    auto* v = t.add_variables();
    v->set_name(name);
    v->set_type(type);
  }
};

TEST_F(NotificationAlertTest, AlertReachesTargetedConsentingMembersOnceInTheirLocale) {
  EnrolAudience("a-ja", "vip", true, "ja");
  EnrolAudience("a-vi", "vip", true, "vi");
  EnrolAudience("a-en", "vip", true, "");
  EnrolAudience("a-noconsent", "vip", false, "en");
  EnrolAudience("b-retail", "retail", true, "en");

  // Start 72 h plus 5 s away: due in 5 s.
  nv1::IngestEventRequest req = Alert("promotion-1", "spring", 1, Base() + absl::Hours(72) + absl::Seconds(5));
  nv1::IngestEventResponse first = Ingest(req);
  EXPECT_EQ(first.outcome(), nv1::INGEST_OUTCOME_APPLIED);
  EXPECT_FALSE(first.duplicate());
  EXPECT_EQ(first.message_key(), "promotion-alert/spring");
  nv1::IngestEventResponse again = Ingest(req);
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(again.schedule_id(), first.schedule_id());

  // Due in 5 s, so already inside the fan-out's 26 h lead: the fan-out may
  // have started (it plans each member's send time, never after due).
  nv1::Schedule sched = Schedule("spring");
  EXPECT_TRUE(sched.state() == nv1::SCHEDULE_STATE_SCHEDULED || sched.state() == nv1::SCHEDULE_STATE_RUNNING)
      << nv1::ScheduleState_Name(sched.state());
  EXPECT_EQ(FromTimestamp(sched.due_time()), Base() + absl::Seconds(5));

  AdvanceNotif(absl::Seconds(10));
  ASSERT_TRUE(Eventually([&] {
    return Inbox("a-ja").messages_size() == 1 && Inbox("a-vi").messages_size() == 1 &&
           Inbox("a-en").messages_size() == 1;
  })) << notif_->log();
  EXPECT_EQ(Inbox("a-ja").messages(0).locale(), "ja");
  EXPECT_NE(Inbox("a-ja").messages(0).subject().find("Spring sale"), std::string::npos);
  EXPECT_NE(Inbox("a-ja").messages(0).subject().find("まもなく"), std::string::npos);
  EXPECT_EQ(Inbox("a-vi").messages(0).locale(), "vi");
  EXPECT_EQ(Inbox("a-en").messages(0).locale(), "en");
  EXPECT_EQ(Inbox("a-en").messages(0).attributes().at("campaign_id"), "spring");
  EXPECT_EQ(Inbox("a-noconsent").messages_size(), 0);
  EXPECT_EQ(Inbox("b-retail").messages_size(), 0);

  ASSERT_TRUE(Eventually([&] { return Schedule("spring").state() == nv1::SCHEDULE_STATE_COMPLETED; }));
  sched = Schedule("spring");
  EXPECT_EQ(sched.members_resolved(), 4);
  EXPECT_EQ(sched.deliveries_created(), 4);

  nv1::GetDeliveryRequest get;
  get.mutable_delivery_key()->set_member_id("a-noconsent");
  get.mutable_delivery_key()->set_message_key("promotion-alert/spring");
  get.mutable_delivery_key()->set_channel(MESSAGE_CHANNEL_IN_APP);
  nv1::Delivery d;
  ASSERT_TRUE(Eventually([&] {
    return nstub_->GetDelivery(Ctx(svc()).get(), get, &d).ok() && d.status() == nv1::DELIVERY_STATUS_SUPPRESSED;
  }));
  EXPECT_EQ(d.suppression_reason(), nv1::SUPPRESSION_REASON_NO_CONSENT);

  nv1::CampaignDeliveryStats stats = Stats("spring");
  EXPECT_EQ(Count(stats, nv1::DELIVERY_STATUS_SENT), 3);
  // The same numbers on the Prometheus endpoint.
  EXPECT_EQ(Deliveries("SENT"), 3);
  EXPECT_EQ(Deliveries("SUPPRESSED"), 1);
  EXPECT_EQ(Count(stats, nv1::DELIVERY_STATUS_SUPPRESSED, nv1::SUPPRESSION_REASON_NO_CONSENT), 1);
  EXPECT_EQ(stats.total_deliveries(), 4);

  // Nothing more on later moves of the clock or a repeated event.
  Ingest(req);
  AdvanceNotif(absl::Hours(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Inbox("a-ja").messages_size(), 1);
  EXPECT_EQ(Stats("spring").total_deliveries(), 4);

  // Mark read; again is fine and keeps the first read time.
  ASSERT_NO_FATAL_FAILURE(MarkReadOnlyByItsMember());

  // Member history.
  nv1::ListDeliveriesRequest list;
  list.mutable_filter()->set_member_id("a-vi");
  nv1::ListDeliveriesResponse history;
  ASSERT_TRUE(nstub_->ListDeliveries(Ctx(svc()).get(), list, &history).ok());
  ASSERT_EQ(history.deliveries_size(), 1);
  EXPECT_EQ(history.deliveries(0).status(), nv1::DELIVERY_STATUS_SENT);
  EXPECT_EQ(history.deliveries(0).inbox_message_id(), Inbox("a-vi").messages(0).message_id());
}

TEST_F(NotificationAlertTest, OptOutAfterSchedulingSuppressesTheAlertAndEveryConsentChangeIsKept) {
  EnrolAudience("m-stays", "vip", true, "en");
  EnrolAudience("m-withdraws", "vip", true, "en");
  EnrolAudience("m-mutes", "vip", true, "en");
  Ingest(Alert("promotion-2", "autumn", 1, Base() + absl::Hours(72) + absl::Seconds(5)));
  AdvanceNotif(absl::Seconds(1));

  // After the alert is scheduled: one member withdraws consent, one turns
  // marketing off in the app.
  nv1::SetConsentRequest consent = InAppWithdrawal("m-withdraws");
  nv1::ConsentRecord record;
  ASSERT_TRUE(nstub_->SetConsent(Ctx(svc()).get(), consent, &record).ok());
  EXPECT_TRUE(record.applied());
  EXPECT_FALSE(record.actor().empty());
  nv1::ConsentRecord retry;
  ASSERT_TRUE(nstub_->SetConsent(Ctx(svc()).get(), consent, &retry).ok());
  EXPECT_EQ(retry.consent_id(), record.consent_id());

  nv1::UpdatePreferencesRequest mute = InAppMarketingOff("m-mutes");
  nv1::Preferences prefs;
  ASSERT_TRUE(nstub_->UpdatePreferences(Ctx(svc()).get(), mute, &prefs).ok());
  EXPECT_EQ(prefs.version(), 1);
  EXPECT_EQ(prefs.channel_preferences_size(), 6);

  AdvanceNotif(absl::Seconds(10));
  ASSERT_TRUE(Eventually([&] { return Schedule("autumn").state() == nv1::SCHEDULE_STATE_COMPLETED; }));
  ASSERT_TRUE(Eventually([&] { return Inbox("m-stays").messages_size() == 1; }));
  EXPECT_EQ(SettledAlertDelivery("m-withdraws", "autumn").suppression_reason(), nv1::SUPPRESSION_REASON_NO_CONSENT);
  EXPECT_EQ(SettledAlertDelivery("m-mutes", "autumn").suppression_reason(), nv1::SUPPRESSION_REASON_OPTED_OUT);
  EXPECT_EQ(Inbox("m-withdraws").messages_size(), 0);
  EXPECT_EQ(Inbox("m-mutes").messages_size(), 0);

  // The withdrawal stands (loyalty's older opt-in does not undo it) and the
  // history keeps every change with its source and legal basis.
  nv1::GetPreferencesRequest get;
  get.set_member_id("m-withdraws");
  ASSERT_TRUE(nstub_->GetPreferences(Ctx(svc()).get(), get, &prefs).ok());
  ASSERT_EQ(prefs.marketing_consents_size(), 1);
  EXPECT_FALSE(prefs.marketing_consents(0).granted());
  nv1::ListConsentHistoryRequest hist;
  hist.set_member_id("m-withdraws");
  nv1::ListConsentHistoryResponse history;
  ASSERT_TRUE(nstub_->ListConsentHistory(Ctx(svc()).get(), hist, &history).ok());
  ASSERT_GE(history.records_size(), 1);
  bool self_service = false;
  for (const auto& r : history.records()) {
    if (r.source() == nv1::CONSENT_SOURCE_MEMBER_SELF_SERVICE) {
      self_service = true;
      EXPECT_FALSE(r.granted());
      EXPECT_EQ(r.legal_basis(), nv1::LEGAL_BASIS_CONSENT);
      EXPECT_EQ(r.evidence(), "app settings screen v3");
      EXPECT_EQ(r.origin_id(), "consent-1");
    }
  }
  EXPECT_TRUE(self_service);

  // A member never heard of has the defaults; bad input names the field.
  get.set_member_id("m-unknown");
  ASSERT_TRUE(nstub_->GetPreferences(Ctx(svc()).get(), get, &prefs).ok());
  EXPECT_EQ(prefs.version(), 0);
  EXPECT_EQ(prefs.channel_preferences_size(), 6);
  consent.set_request_id("consent-bad");
  consent.set_source(nv1::CONSENT_SOURCE_LOYALTY_PROFILE);
  grpc::Status bad = nstub_->SetConsent(Ctx(svc()).get(), consent, &record);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(BadFields(bad), std::vector<std::string>{"source"});
  mute.set_request_id("prefs-bad");
  mute.mutable_update_mask()->add_paths("email");
  EXPECT_EQ(BadFields(nstub_->UpdatePreferences(Ctx(svc()).get(), mute, &prefs)),
            std::vector<std::string>{"update_mask"});
}

TEST_F(NotificationAlertTest, StoredTemplatesAreCheckedOnSaveAndUsedBeforeTheBuiltInTexts) {
  nv1::Template t;
  t.set_kind(nv1::MESSAGE_KIND_PROMOTION_ALERT);
  t.set_channel(MESSAGE_CHANNEL_IN_APP);
  t.set_locale("en");
  t.set_subject("Don't miss {{campaign_title}}");
  t.set_body("Dear {{member_name}}, it starts {{starts_at}}.");
  // An undeclared placeholder, then a declared variable of the wrong type.
  auto [undeclared, ignored1] = PutTemplate("tmpl-1", t);
  EXPECT_EQ(undeclared.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // One violation per undeclared placeholder.
  EXPECT_EQ(BadFields(undeclared),
            (std::vector<std::string>{"template.variables", "template.variables", "template.variables"}));
  Declare(t, "campaign_title", nv1::VARIABLE_TYPE_STRING);
  Declare(t, "member_name", nv1::VARIABLE_TYPE_STRING);
  Declare(t, "starts_at", nv1::VARIABLE_TYPE_STRING);
  auto [wrong_type, ignored2] = PutTemplate("tmpl-2", t);
  EXPECT_EQ(BadFields(wrong_type), std::vector<std::string>{"template.variables[2].type"});
  t.mutable_variables(2)->set_type(nv1::VARIABLE_TYPE_TIMESTAMP);
  auto [saved, stored] = PutTemplate("tmpl-3", t);
  ASSERT_TRUE(saved.ok()) << Describe(saved);
  EXPECT_EQ(stored.version(), 1);
  nv1::Template complaint = t;
  complaint.set_kind(nv1::MESSAGE_KIND_COMPLAINT_UPDATED);
  auto [not_supplied, ignored3] = PutTemplate("tmpl-4", complaint);
  EXPECT_EQ(not_supplied.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // The alert uses the stored text.
  EnrolAudience("t-en", "vip", true, "en");
  Ingest(Alert("promotion-3", "winter", 1, Base() + absl::Hours(72) + absl::Seconds(5)));
  AdvanceNotif(absl::Seconds(10));
  ASSERT_TRUE(Eventually([&] { return Inbox("t-en").messages_size() == 1; }));
  EXPECT_EQ(Inbox("t-en").messages(0).subject(), "Don't miss Spring sale");

  // A ja-JP member keeps the built-in Japanese text (their language comes
  // before the stored English one); a fr member falls back to the stored
  // text; a draft previews without saving.
  nv1::GetTemplateRequest get;
  get.mutable_key()->set_kind(nv1::MESSAGE_KIND_PROMOTION_ALERT);
  get.mutable_key()->set_channel(MESSAGE_CHANNEL_IN_APP);
  get.mutable_key()->set_locale("ja-JP");
  nv1::Template got;
  grpc::Status exact = nstub_->GetTemplate(Ctx(admin()).get(), get, &got);
  EXPECT_EQ(exact.error_code(), grpc::StatusCode::NOT_FOUND);
  get.set_resolve_fallback(true);
  ASSERT_TRUE(nstub_->GetTemplate(Ctx(admin()).get(), get, &got).ok());
  EXPECT_EQ(got.locale(), "ja");
  EXPECT_EQ(got.version(), 0);
  EXPECT_NE(got.subject().find("まもなく"), std::string::npos);
  get.mutable_key()->set_locale("fr");
  ASSERT_TRUE(nstub_->GetTemplate(Ctx(admin()).get(), get, &got).ok());
  EXPECT_EQ(got.locale(), "en");
  EXPECT_EQ(got.version(), 1);
  nv1::RenderPreviewRequest preview;
  *preview.mutable_draft() = t;
  preview.mutable_draft()->set_subject("Sắp có {{campaign_title}}");
  (*preview.mutable_variables())["campaign_title"] = "Khuyến mãi mùa đông";
  nv1::RenderPreviewResponse rendered;
  ASSERT_TRUE(nstub_->RenderPreview(Ctx(admin()).get(), preview, &rendered).ok());
  EXPECT_EQ(rendered.subject(), "Sắp có Khuyến mãi mùa đông");
  EXPECT_EQ(rendered.template_version(), 0);

  nv1::ListTemplatesRequest list;
  nv1::ListTemplatesResponse listed;
  ASSERT_TRUE(nstub_->ListTemplates(Ctx(admin()).get(), list, &listed).ok());
  ASSERT_EQ(listed.templates_size(), 1);
  nv1::DeleteTemplateRequest del;
  del.set_request_id("tmpl-del-1");
  *del.mutable_key() = get.key();
  del.mutable_key()->set_locale("en");
  google::protobuf::Empty empty;
  ASSERT_TRUE(nstub_->DeleteTemplate(Ctx(admin()).get(), del, &empty).ok());
  ASSERT_TRUE(nstub_->DeleteTemplate(Ctx(admin()).get(), del, &empty).ok());  // a retry
  del.set_request_id("tmpl-del-2");
  EXPECT_EQ(nstub_->DeleteTemplate(Ctx(admin()).get(), del, &empty).error_code(), grpc::StatusCode::NOT_FOUND);
  // With nothing stored, the fr member's fallback is the built-in English text.
  ASSERT_TRUE(nstub_->GetTemplate(Ctx(admin()).get(), get, &got).ok());
  EXPECT_EQ(got.version(), 0);
  EXPECT_NE(got.subject().find("Coming soon"), std::string::npos);
}

TEST_F(NotificationTest, LoyaltyEventsReachTheMembersInboxOnceInTheirLocale) {
  auto event = [&](const std::string& id, absl::Time occurred, auto fill) {
    nv1::IngestEventRequest req;
    req.set_event_id(id);
    req.set_source("loyalty");
    *req.mutable_occurred_at() = ToTimestamp(occurred);
    fill(req);
    return Ingest(req);
  };
  event("profile-2", Base(), [](nv1::IngestEventRequest& r) {
    auto* p = r.mutable_member_profile_changed();
    p->set_member_id("lan");
    p->set_name("Lan");
    p->set_locale("vi");
    p->set_time_zone("Asia/Ho_Chi_Minh");
  });
  // An older profile arriving late changes nothing.
  nv1::IngestEventResponse stale = event("profile-1", Base() - absl::Hours(1), [](nv1::IngestEventRequest& r) {
    auto* p = r.mutable_member_profile_changed();
    p->set_member_id("lan");
    p->set_name("Old name");
    p->set_locale("en");
  });
  EXPECT_EQ(stale.outcome(), nv1::INGEST_OUTCOME_STALE_IGNORED);
  for (const char* id : {"tier-event-a", "tier-event-b"}) {  // the same change told twice
    event(id, Base(), [](nv1::IngestEventRequest& r) {
      auto* t = r.mutable_tier_changed();
      t->set_member_id("lan");
      t->set_old_tier_id("silver");
      t->set_new_tier_id("gold");
      t->set_tier_display_name("Vàng");
      t->set_version(2);
    });
  }
  event("birthday-1", Base(), [](nv1::IngestEventRequest& r) {
    r.mutable_birthday_reward()->set_member_id("lan");
    r.mutable_birthday_reward()->set_points(500);
  });
  event("visit-10", Base(), [](nv1::IngestEventRequest& r) {
    r.mutable_visit_reward_earned()->set_member_id("lan");
    r.mutable_visit_reward_earned()->set_visit_count(10);
    r.mutable_visit_reward_earned()->set_reward("Cà phê miễn phí");
  });
  ASSERT_TRUE(Eventually([&] { return Inbox("lan").messages_size() == 3; })) << notif_->log();
  std::map<int, nv1::InboxMessage> by_kind;
  nv1::ListInboxResponse inbox = Inbox("lan");
  for (const auto& m : inbox.messages()) by_kind[m.kind()] = m;
  EXPECT_EQ(by_kind[nv1::MESSAGE_KIND_TIER_CHANGED].locale(), "vi");
  EXPECT_EQ(by_kind[nv1::MESSAGE_KIND_TIER_CHANGED].body(), "Chào Lan, bạn đã lên hạng Vàng.");
  EXPECT_NE(by_kind[nv1::MESSAGE_KIND_BIRTHDAY_REWARD].body().find("500"), std::string::npos);
  EXPECT_NE(by_kind[nv1::MESSAGE_KIND_VISIT_REWARD].body().find("Cà phê miễn phí"), std::string::npos);
  AdvanceNotif(absl::Minutes(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Inbox("lan").messages_size(), 3);

  nv1::IngestEventRequest bad;
  bad.set_event_id("points-bad");
  bad.set_source("loyalty");
  *bad.mutable_occurred_at() = ToTimestamp(Base());
  bad.mutable_points_expiring()->set_member_id("lan");
  nv1::IngestEventResponse out;
  grpc::Status s = nstub_->IngestEvent(Ctx(PeerFor(bad)).get(), bad, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(BadFields(s),
            (std::vector<std::string>{"event.points_expiring.points", "event.points_expiring.expire_time"}));
}

TEST_F(NotificationTest, TransactionalMessagesUseTheirTemplateAndDeduplicateOnTheBusinessKey) {
  auto send = [&](const std::string& event_id, const std::string& template_key, grpc::Status* status) {
    nv1::IngestEventRequest req;
    req.set_event_id(event_id);
    req.set_source("orders");
    *req.mutable_occurred_at() = ToTimestamp(Base());
    auto* t = req.mutable_transactional();
    t->set_member_id("buyer");
    t->set_template_key(template_key);
    t->set_message_key("order-123-shipped");
    (*t->mutable_variables())["order_id"] = "123";
    nv1::IngestEventResponse out;
    *status = nstub_->IngestEvent(Ctx(PeerFor(req)).get(), req, &out);
  };
  grpc::Status s;
  send("orders-1", "order.shipped", &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(s), "TEMPLATE_NOT_FOUND");

  nv1::PutTemplateRequest put;
  put.set_request_id("tmpl-shipped");
  nv1::Template* t = put.mutable_template_();
  t->set_kind(nv1::MESSAGE_KIND_TRANSACTIONAL);
  t->set_template_key("order.shipped");
  t->set_channel(MESSAGE_CHANNEL_IN_APP);
  t->set_locale("en");
  t->set_subject("Order {{order_id}} is on its way");
  t->set_body("We shipped order {{order_id}}.");
  auto* v = t->add_variables();
  v->set_name("order_id");
  v->set_type(nv1::VARIABLE_TYPE_STRING);
  nv1::Template saved;
  ASSERT_TRUE(nstub_->PutTemplate(Ctx(admin()).get(), put, &saved).ok());

  send("orders-1", "order.shipped", &s);  // the retry after the template exists
  ASSERT_TRUE(s.ok()) << Describe(s);
  send("orders-2", "order.shipped", &s);  // another event, same business key
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_TRUE(Eventually([&] { return Inbox("buyer").messages_size() == 1; })) << notif_->log();
  AdvanceNotif(absl::Minutes(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  nv1::ListInboxResponse inbox = Inbox("buyer");
  ASSERT_EQ(inbox.messages_size(), 1);
  EXPECT_EQ(inbox.messages(0).subject(), "Order 123 is on its way");
  EXPECT_EQ(inbox.messages(0).kind(), nv1::MESSAGE_KIND_TRANSACTIONAL);
}

TEST_F(NotificationTest, AMemberOverTheFrequencyCapGetsNothingMoreAndTheReasonIsRecorded) {
  nv1::UpdateSettingsRequest update;
  update.set_request_id("settings-1");
  update.mutable_settings()->mutable_frequency_cap()->set_max_messages(1);
  *update.mutable_settings()->mutable_frequency_cap()->mutable_window() = ToDurationProto(absl::Hours(24 * 7));
  update.mutable_settings()->mutable_webhook()->set_url("https://sms-gateway.example/hook");
  update.mutable_settings()->mutable_webhook()->set_signing_secret("s3cret");
  for (const char* path : {"frequency_cap", "webhook.url", "webhook.signing_secret"}) {
    update.mutable_update_mask()->add_paths(path);
  }
  nv1::Settings saved;
  ASSERT_TRUE(nstub_->UpdateSettings(Ctx(admin()).get(), update, &saved).ok());
  EXPECT_EQ(saved.frequency_cap().max_messages(), 1);
  EXPECT_TRUE(saved.webhook().signing_secret().empty());  // never returned
  EXPECT_TRUE(saved.webhook().signing_secret_set());
  // Changing the URL alone keeps the secret.
  nv1::UpdateSettingsRequest url;
  url.set_request_id("settings-2");
  url.mutable_settings()->mutable_webhook()->set_url("https://sms-gateway.example/v2");
  url.mutable_update_mask()->add_paths("webhook");
  ASSERT_TRUE(nstub_->UpdateSettings(Ctx(admin()).get(), url, &saved).ok());
  nv1::GetSettingsRequest get;
  ASSERT_TRUE(nstub_->GetSettings(Ctx(admin()).get(), get, &saved).ok());
  EXPECT_EQ(saved.webhook().url(), "https://sms-gateway.example/v2");
  EXPECT_TRUE(saved.webhook().signing_secret_set());
  EXPECT_EQ(saved.version(), 2);
  url.set_request_id("settings-3");
  url.mutable_update_mask()->clear_paths();
  EXPECT_EQ(BadFields(nstub_->UpdateSettings(Ctx(admin()).get(), url, &saved)),
            std::vector<std::string>{"update_mask"});

  EnrolAudience("busy", "vip", true, "en");
  Ingest(Alert("promotion-cap-1", "first", 1, Base() + absl::Hours(72) + absl::Seconds(5)));
  AdvanceNotif(absl::Seconds(10));
  ASSERT_TRUE(Eventually([&] { return Inbox("busy").messages_size() == 1; })) << notif_->log();
  Ingest(Alert("promotion-cap-2", "second", 1, Base() + absl::Hours(73)));
  AdvanceNotif(absl::Hours(1));
  ASSERT_TRUE(Eventually([&] { return Stats("second").schedule_state() == nv1::SCHEDULE_STATE_COMPLETED; }));
  nv1::GetDeliveryRequest d;
  d.mutable_delivery_key()->set_member_id("busy");
  d.mutable_delivery_key()->set_message_key("promotion-alert/second");
  d.mutable_delivery_key()->set_channel(MESSAGE_CHANNEL_IN_APP);
  nv1::Delivery delivery;
  ASSERT_TRUE(Eventually([&] {
    return nstub_->GetDelivery(Ctx(svc()).get(), d, &delivery).ok() &&
           delivery.status() == nv1::DELIVERY_STATUS_SUPPRESSED;
  }));
  EXPECT_EQ(delivery.suppression_reason(), nv1::SUPPRESSION_REASON_FREQUENCY_CAP);
  EXPECT_EQ(Inbox("busy").messages_size(), 1);
}

TEST_F(NotificationTest, ABirthdayMessageAtNightWaitsForTheMembersMorning) {
  // Base() is 10:00 UTC: 19:00 in Tokyo. Four hours on it is 23:00 there.
  AdvanceNotif(absl::Hours(4));
  for (const auto& [id, event] :
       std::vector<std::pair<std::string, std::string>>{{"profile-yuki", "profile"}, {"birthday-yuki", "birthday"}}) {
    nv1::IngestEventRequest req;
    req.set_event_id(id);
    req.set_source("loyalty");
    *req.mutable_occurred_at() = ToTimestamp(Base() + absl::Hours(4));
    if (event == "profile") {
      req.mutable_member_profile_changed()->set_member_id("yuki");
      req.mutable_member_profile_changed()->set_locale("ja");
      req.mutable_member_profile_changed()->set_time_zone("Asia/Tokyo");
    } else {
      req.mutable_birthday_reward()->set_member_id("yuki");
      req.mutable_birthday_reward()->set_points(300);
    }
    Ingest(req);
  }
  nv1::ListDeliveriesRequest list;
  list.mutable_filter()->set_member_id("yuki");
  nv1::ListDeliveriesResponse ds;
  ASSERT_TRUE(nstub_->ListDeliveries(Ctx(svc()).get(), list, &ds).ok());
  ASSERT_EQ(ds.deliveries_size(), 1);
  // 08:00 the next morning in Tokyo is 23:00 UTC.
  EXPECT_EQ(FromTimestamp(ds.deliveries(0).send_after()), Base() + absl::Hours(13));
  EXPECT_TRUE(ds.deliveries(0).quiet_hours_adjusted());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Inbox("yuki").messages_size(), 0);
  AdvanceNotif(absl::Hours(9));
  ASSERT_TRUE(Eventually([&] { return Inbox("yuki").messages_size() == 1; }));
  EXPECT_EQ(Inbox("yuki").messages(0).locale(), "ja");
}

TEST_F(NotificationTest, ComplaintMessagesReachTheMembersInboxOnceAndCheckInsWaitForTheirTime) {
  EnrolAudience("c-vi", "retail", false, "vi");  // transactional: no marketing consent needed
  nv1::IngestEventRequest survey;
  survey.set_event_id("complaint:c-1:survey:abc");
  survey.set_source("complaint");
  *survey.mutable_occurred_at() = ToTimestamp(Base());
  survey.mutable_satisfaction_survey()->set_member_id("c-vi");
  survey.mutable_satisfaction_survey()->set_complaint_id("c-1");
  survey.mutable_satisfaction_survey()->set_survey_token("tok-123");
  EXPECT_EQ(Ingest(survey).outcome(), nv1::INGEST_OUTCOME_APPLIED);
  EXPECT_TRUE(Ingest(survey).duplicate());

  nv1::IngestEventRequest check_in;
  check_in.set_event_id("complaint:c-1:check-in:0");
  check_in.set_source("complaint");
  *check_in.mutable_occurred_at() = ToTimestamp(Base());
  check_in.mutable_proactive_check_in()->set_member_id("c-vi");
  check_in.mutable_proactive_check_in()->set_complaint_id("c-1");
  *check_in.mutable_proactive_check_in()->mutable_due_time() = ToTimestamp(Base() + absl::Hours(72));
  Ingest(check_in);

  AdvanceNotif(absl::Seconds(1));
  ASSERT_TRUE(Eventually([&] { return Inbox("c-vi").messages_size() == 1; })) << notif_->log();
  nv1::InboxMessage m = Inbox("c-vi").messages(0);
  EXPECT_EQ(m.kind(), nv1::MESSAGE_KIND_SATISFACTION_SURVEY);
  EXPECT_EQ(m.category(), nv1::MESSAGE_CATEGORY_TRANSACTIONAL);
  EXPECT_EQ(m.attributes().at("survey_token"), "tok-123");
  EXPECT_NE(m.body().find("tok-123"), std::string::npos);

  // The check-in is due three days later, not before.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Inbox("c-vi").messages_size(), 1);
  AdvanceNotif(absl::Hours(72));
  ASSERT_TRUE(Eventually([&] { return Inbox("c-vi").messages_size() == 2; }));
  EXPECT_EQ(Inbox("c-vi").messages(0).kind(), nv1::MESSAGE_KIND_PROACTIVE_CHECK_IN);
}

TEST_F(NotificationTest, VersionsRetimeAndCancellationIsFinal) {
  EnrolAudience("m1", "vip", true, "en");
  const absl::Time start = Base() + absl::Hours(24 * 10);
  EXPECT_EQ(Ingest(Alert("promotion-10", "c1", 2, start)).outcome(), nv1::INGEST_OUTCOME_APPLIED);
  EXPECT_EQ(FromTimestamp(Schedule("c1").due_time()), start - absl::Hours(72));
  // An older version arriving late is ignored.
  EXPECT_EQ(Ingest(Alert("promotion-9", "c1", 1, start + absl::Hours(1))).outcome(), nv1::INGEST_OUTCOME_STALE_IGNORED);
  EXPECT_EQ(FromTimestamp(Schedule("c1").due_time()), start - absl::Hours(72));
  // Moved: re-timed.
  EXPECT_EQ(Ingest(Alert("promotion-11", "c1", 3, start + absl::Hours(48))).outcome(), nv1::INGEST_OUTCOME_APPLIED);
  EXPECT_EQ(FromTimestamp(Schedule("c1").due_time()), start - absl::Hours(24));
  EXPECT_EQ(Schedule("c1").campaign_version(), 3);

  nv1::IngestEventRequest cancel;
  cancel.set_event_id("promotion-12");
  cancel.set_source("promotion");
  *cancel.mutable_occurred_at() = ToTimestamp(Base());
  cancel.mutable_promotion_alert_cancelled()->set_campaign_id("c1");
  cancel.mutable_promotion_alert_cancelled()->set_campaign_version(4);
  EXPECT_EQ(Ingest(cancel).outcome(), nv1::INGEST_OUTCOME_APPLIED);
  EXPECT_EQ(Schedule("c1").state(), nv1::SCHEDULE_STATE_CANCELLED);
  EXPECT_EQ(Ingest(Alert("promotion-13", "c1", 5, start)).outcome(), nv1::INGEST_OUTCOME_STALE_IGNORED);

  // A cancellation for a campaign never seen blocks a late alert.
  cancel.set_event_id("promotion-20");
  cancel.mutable_promotion_alert_cancelled()->set_campaign_id("c2");
  EXPECT_EQ(Ingest(cancel).outcome(), nv1::INGEST_OUTCOME_APPLIED);
  EXPECT_EQ(Ingest(Alert("promotion-21", "c2", 1, Base() + absl::Hours(72))).outcome(),
            nv1::INGEST_OUTCOME_STALE_IGNORED);

  AdvanceNotif(absl::Hours(24 * 10));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(Inbox("m1").messages_size(), 0);
  EXPECT_EQ(Stats("c1").total_deliveries(), 0);
}

// Quiet hours through the binaries: an alert due in the middle of the night
// for a member in Tokyo, and one due on the US spring-forward morning for a
// member in New York, each go out at 20:45 local the evening before (the
// end of the window minus the 15-minute margin), never later.
TEST_F(NotificationTest, AlertsDueInQuietHoursGoOutTheEveningBeforeInTokyoAndNewYork) {
  auto enrol_in = [&](const std::string& id, const std::string& segment, const std::string& zone) {
    Enrol(id, [&](lv1::Member* m) {
      m->set_segment(segment);
      m->set_time_zone(zone);
      auto* c = m->add_marketing_consents();
      c->set_channel(care::common::v1::MESSAGE_CHANNEL_IN_APP);
      c->set_granted(true);
    });
  };
  enrol_in("q-tokyo", "tokyo", "Asia/Tokyo");
  enrol_in("q-ny", "newyork", "America/New_York");
  absl::TimeZone tokyo, ny;
  ASSERT_TRUE(absl::LoadTimeZone("Asia/Tokyo", &tokyo));
  ASSERT_TRUE(absl::LoadTimeZone("America/New_York", &ny));
  // Due 03:00 on 10 March in Tokyo; due 06:00 on 9 March in New York, the
  // morning the clocks jump from 02:00 to 03:00 (the night is an hour short).
  const absl::Time due_tokyo = absl::FromCivil(absl::CivilMinute(2031, 3, 10, 3, 0), tokyo);
  const absl::Time due_ny = absl::FromCivil(absl::CivilMinute(2031, 3, 9, 6, 0), ny);
  const absl::Time send_tokyo = absl::FromCivil(absl::CivilMinute(2031, 3, 9, 20, 45), tokyo);
  const absl::Time send_ny = absl::FromCivil(absl::CivilMinute(2031, 3, 8, 20, 45), ny);
  ASSERT_EQ(due_ny - send_ny, absl::Hours(8) + absl::Minutes(15));  // EST evening to EDT morning

  SetNotifTime(absl::FromCivil(absl::CivilSecond(2031, 3, 1, 0, 0, 0), absl::UTCTimeZone()));
  Ingest(Alert("quiet-tokyo", "night-tokyo", 1, due_tokyo + absl::Hours(72), {"tokyo"}));
  Ingest(Alert("quiet-ny", "dst-ny", 1, due_ny + absl::Hours(72), {"newyork"}));

  auto delivery = [&](const std::string& member, const std::string& campaign) {
    return AlertDelivery(member, campaign);
  };
  for (const auto& [member_, campaign_, send] :
       {std::tuple<std::string, std::string, absl::Time>{"q-ny", "dst-ny", send_ny},
        std::tuple<std::string, std::string, absl::Time>{"q-tokyo", "night-tokyo", send_tokyo}}) {
    // Named copies: a lambda may not capture a structured binding (C++20; clang refuses).
    const std::string& member = member_;
    const std::string& campaign = campaign_;
    // A minute before: planned for the evening, nothing in the inbox yet.
    SetNotifTime(send - absl::Minutes(1));
    ASSERT_TRUE(Eventually([&] { return delivery(member, campaign).has_value(); })) << member << notif_->log();
    nv1::Delivery d = *delivery(member, campaign);
    EXPECT_EQ(d.status(), nv1::DELIVERY_STATUS_PENDING) << member;
    EXPECT_TRUE(d.quiet_hours_adjusted()) << member;
    EXPECT_EQ(FromTimestamp(d.send_after()), send) << member;
    EXPECT_EQ(Inbox(member).messages_size(), 0) << member;
    // At 20:45 local it is delivered.
    AdvanceNotif(absl::Minutes(2));
    ASSERT_TRUE(Eventually([&] { return Inbox(member).messages_size() == 1; })) << member << notif_->log();
    EXPECT_LE(FromTimestamp(Inbox(member).messages(0).create_time()), send + absl::Minutes(1));
  }
}

// Issue 15, defect 12: alerts went out 30 min to 7 h after due on the US
// fall-back night and for a member with a 10:00-12:00 window, because the
// fan-out started only "the default window's quiet span" ahead and a passed
// send moment moved to the next window. Now the fan-out starts a whole night
// ahead, each delivery is planned no later than due, and when no moment of
// the member's window is left before due the delivery is suppressed with a
// reason instead of going late.
TEST_F(NotificationTest, AlertsOnTheFallBackNightAndInAShortWindowGoOutNoLaterThanDue) {
  absl::TimeZone ny;
  ASSERT_TRUE(absl::LoadTimeZone("America/New_York", &ny));
  auto enrol_ny = [&](const std::string& id, const std::string& segment, bool late_morning) {
    Enrol(id, [&](lv1::Member* m) {
      m->set_segment(segment);
      m->set_time_zone("America/New_York");
      auto* c = m->add_marketing_consents();
      c->set_channel(MESSAGE_CHANNEL_IN_APP);
      c->set_granted(true);
    });
    if (!late_morning) return;
    nv1::UpdatePreferencesRequest req;
    req.set_request_id("window-" + id);
    req.mutable_preferences()->set_member_id(id);
    req.mutable_preferences()->mutable_send_window()->mutable_start()->set_hours(10);
    req.mutable_preferences()->mutable_send_window()->mutable_end()->set_hours(12);
    req.mutable_update_mask()->add_paths("send_window");
    nv1::Preferences prefs;
    grpc::Status s = nstub_->UpdatePreferences(Ctx(svc()).get(), req, &prefs);
    ASSERT_TRUE(s.ok()) << Describe(s);
  };
  enrol_ny("fb-ny", "fallback", false);       // default window 08:00-21:00
  enrol_ny("win-ny", "window", true);         // 10:00-12:00
  enrol_ny("win-late", "window-late", true);  // 10:00-12:00, event too late
  auto local = [&](int d, int h, int mi) { return absl::FromCivil(absl::CivilMinute(2031, 11, d, h, mi), ny); };
  // Sunday 2 Nov 2031, 01:00-02:00 happens twice. 07:30 EST is in the
  // default quiet hours; 09:30 is before the 10:00-12:00 window.
  const absl::Time due_fb = local(2, 7, 30), due_win = local(2, 9, 30);
  auto delivery = [&](const std::string& member, const std::string& campaign) {
    return AlertDelivery(member, campaign);
  };

  SetNotifTime(absl::FromCivil(absl::CivilMinute(2031, 10, 20, 0, 0), ny));
  Ingest(Alert("fb-1", "fallback-ny", 1, due_fb + absl::Hours(72), {"fallback"}));
  Ingest(Alert("win-1", "window-ny", 1, due_win + absl::Hours(72), {"window"}));
  struct Case {
    std::string member, campaign;
    absl::Time due, expected;
  };
  const std::vector<Case> cases = {
      {"fb-ny", "fallback-ny", due_fb, local(1, 20, 45)},  // the evening before, EDT
      {"win-ny", "window-ny", due_win, local(1, 11, 45)},  // the end of Saturday's window
  };
  // Each fan-out runs exactly at its scheduled time.
  for (const Case& c : cases) {
    const nv1::Schedule sched = Schedule(c.campaign);
    EXPECT_EQ(FromTimestamp(sched.due_time()), c.due) << c.campaign;
    SetNotifTime(FromTimestamp(sched.fan_out_time()));
    ASSERT_TRUE(Eventually([&] { return delivery(c.member, c.campaign).has_value(); })) << c.member << notif_->log();
    const nv1::Delivery d = *delivery(c.member, c.campaign);
    EXPECT_EQ(d.status(), nv1::DELIVERY_STATUS_PENDING) << c.member;
    EXPECT_LE(FromTimestamp(d.send_after()), c.due) << c.member << " planned after due";
    EXPECT_EQ(FromTimestamp(d.send_after()), c.expected) << c.member;
  }
  // Then each is sent at its planned moment (in time order).
  for (const Case& c : {cases[1], cases[0]}) {
    SetNotifTime(FromTimestamp(delivery(c.member, c.campaign)->send_after()));
    ASSERT_TRUE(Eventually([&] { return Inbox(c.member).messages_size() == 1; })) << c.member << notif_->log();
    EXPECT_LE(FromTimestamp(Inbox(c.member).messages(0).create_time()), c.due) << c.member;
    const nv1::Delivery d = *delivery(c.member, c.campaign);
    EXPECT_EQ(d.status(), nv1::DELIVERY_STATUS_SENT) << c.member;
  }

  // An alert due Monday 09:30 arrives Sunday 12:30, after that day's
  // 10:00-12:00 window closed: Monday 10:00 would be late, so it is
  // suppressed with the reason, and nothing reaches the inbox.
  SetNotifTime(local(2, 12, 30));
  const absl::Time due_late = local(3, 9, 30);
  Ingest(Alert("late-1", "window-late", 1, due_late + absl::Hours(72), {"window-late"}));
  ASSERT_TRUE(Eventually([&] { return delivery("win-late", "window-late").has_value(); })) << notif_->log();
  nv1::Delivery late = *delivery("win-late", "window-late");
  EXPECT_EQ(late.status(), nv1::DELIVERY_STATUS_SUPPRESSED);
  EXPECT_EQ(late.suppression_reason(), nv1::SUPPRESSION_REASON_NO_WINDOW_BEFORE_DUE);
  EXPECT_EQ(Count(Stats("window-late"), nv1::DELIVERY_STATUS_SUPPRESSED, nv1::SUPPRESSION_REASON_NO_WINDOW_BEFORE_DUE),
            1);
  SetNotifTime(local(3, 10, 0));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(Inbox("win-late").messages_size(), 0);
}

// A negative margin moved the planned send past the window's end (towards
// or past due); the contract's 0..2h and valid times of day are enforced.
TEST_F(NotificationTest, SettingsRefuseAMarginOutsideZeroToTwoHoursAndABadDefaultWindow) {
  for (absl::Duration margin : {absl::Minutes(-15), absl::Hours(2) + absl::Seconds(1)}) {
    nv1::UpdateSettingsRequest req;
    req.set_request_id(absl::StrCat("margin-", absl::FormatDuration(margin)));
    *req.mutable_settings()->mutable_quiet_hours_margin() = ToDurationProto(margin);
    req.mutable_update_mask()->add_paths("quiet_hours_margin");
    nv1::Settings out;
    grpc::Status s = nstub_->UpdateSettings(Ctx(admin()).get(), req, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << absl::FormatDuration(margin);
    EXPECT_EQ(BadFields(s), std::vector<std::string>{"settings.quiet_hours_margin"});
  }
  nv1::UpdateSettingsRequest req;
  req.set_request_id("window-25h");
  req.mutable_settings()->mutable_default_send_window()->mutable_start()->set_hours(8);
  req.mutable_settings()->mutable_default_send_window()->mutable_end()->set_hours(25);
  req.mutable_update_mask()->add_paths("default_send_window");
  nv1::Settings out;
  grpc::Status s = nstub_->UpdateSettings(Ctx(admin()).get(), req, &out);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"settings.default_send_window.end"});
  // Within bounds: accepted.
  req.set_request_id("margin-2h");
  req.mutable_settings()->clear_default_send_window();
  *req.mutable_settings()->mutable_quiet_hours_margin() = ToDurationProto(absl::Hours(2));
  req.mutable_update_mask()->Clear();
  req.mutable_update_mask()->add_paths("quiet_hours_margin");
  s = nstub_->UpdateSettings(Ctx(admin()).get(), req, &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(FromDurationProto(out.quiet_hours_margin()), absl::Hours(2));
}

// Text limits count characters: 2000 Vietnamese characters (6000 bytes) are
// a valid description, 2001 are not.
TEST_F(NotificationTest, AlertDescriptionIsLimitedInCharactersNotBytes) {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "\xE1\xBB\x87";
  nv1::IngestEventRequest ok = Alert("desc-ok", "desc", 1, Base() + absl::Hours(100));
  ok.mutable_promotion_alert()->set_description(text);
  nv1::IngestEventResponse resp;
  grpc::Status s = nstub_->IngestEvent(Ctx(PeerFor(ok)).get(), ok, &resp);
  EXPECT_TRUE(s.ok()) << Describe(s);
  nv1::IngestEventRequest over = Alert("desc-over", "desc-2", 1, Base() + absl::Hours(100));
  over.mutable_promotion_alert()->set_description(text + "a");
  s = nstub_->IngestEvent(Ctx(PeerFor(over)).get(), over, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"event.promotion_alert.description"});
  // A bad variable key is echoed as a prefix of whole characters (it was
  // cut at 60 bytes, inside a character, and the error did not decode).
  nv1::IngestEventRequest key = Alert("key-bad", "desc-3", 1, Base() + absl::Hours(100));
  (*key.mutable_promotion_alert()->mutable_variables())["a" + text.substr(0, 90)] = "x";
  s = nstub_->IngestEvent(Ctx(PeerFor(key)).get(), key, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"event.promotion_alert.variables"});
}

// issue 16, defect 3: each event kind only from the service that owns it.
// A backend's `service` token could broadcast a fake PromotionAlert (or
// pre-empt a real one with a high-version cancellation); loyalty's peer token
// cannot speak for promotion, nor promotion's for loyalty.
TEST_F(NotificationTest, EachEventKindIsAcceptedOnlyFromTheServiceThatOwnsIt) {
  const absl::Time start = Base() + absl::Hours(100);
  nv1::IngestEventResponse resp;
  grpc::Status s = nstub_->IngestEvent(Ctx(svc()).get(), Alert("fake-1", "fake", 1, start), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
  EXPECT_EQ(Reason(s), "MISSING_ROLE");
  nv1::IngestEventRequest cancel;
  cancel.set_event_id("fake-cancel-1");
  cancel.set_source("promotion");
  *cancel.mutable_occurred_at() = ToTimestamp(Base());
  cancel.mutable_promotion_alert_cancelled()->set_campaign_id("real");
  cancel.mutable_promotion_alert_cancelled()->set_campaign_version(1000000);
  s = nstub_->IngestEvent(Ctx(svc()).get(), cancel, &resp);
  EXPECT_EQ(Reason(s), "MISSING_ROLE") << Describe(s);
  s = nstub_->IngestEvent(Ctx(tokens_.peer_loyalty).get(), Alert("fake-2", "fake", 1, start), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
  EXPECT_EQ(Reason(s), "EVENT_SOURCE_MISMATCH");
  EXPECT_EQ(ReasonMetadata(s, "owner"), "svc:promotion");
  s = nstub_->IngestEvent(Ctx(tokens_.peer_loyalty).get(), cancel, &resp);
  EXPECT_EQ(Reason(s), "EVENT_SOURCE_MISMATCH") << Describe(s);
  nv1::GetScheduleRequest get;
  get.set_campaign_id("fake");
  nv1::Schedule schedule;
  EXPECT_EQ(Reason(nstub_->GetSchedule(Ctx(admin()).get(), get, &schedule)), "CAMPAIGN_NOT_FOUND");

  nv1::IngestEventRequest tier;
  tier.set_event_id("tier-forged");
  tier.set_source("loyalty");
  *tier.mutable_occurred_at() = ToTimestamp(Base());
  tier.mutable_tier_changed()->set_member_id("lan");
  tier.mutable_tier_changed()->set_new_tier_id("gold");
  tier.mutable_tier_changed()->set_version(99);
  s = nstub_->IngestEvent(Ctx(tokens_.peer_promotion).get(), tier, &resp);
  EXPECT_EQ(Reason(s), "EVENT_SOURCE_MISMATCH") << Describe(s);
  s = nstub_->IngestEvent(Ctx(svc()).get(), tier, &resp);
  EXPECT_EQ(Reason(s), "MISSING_ROLE") << Describe(s);

  // The owner must also name itself as the source (recorded on deliveries).
  nv1::IngestEventRequest disguised = Alert("real-0", "real", 1, start);
  disguised.set_source("loyalty");
  s = nstub_->IngestEvent(Ctx(tokens_.peer_promotion).get(), disguised, &resp);
  EXPECT_EQ(Reason(s), "EVENT_SOURCE_MISMATCH") << Describe(s);
  // The owners are accepted.
  s = nstub_->IngestEvent(Ctx(tokens_.peer_promotion).get(), Alert("real-1", "real", 1, start), &resp);
  EXPECT_TRUE(s.ok()) << Describe(s);
  s = nstub_->IngestEvent(Ctx(tokens_.peer_loyalty).get(), tier, &resp);
  EXPECT_TRUE(s.ok()) << Describe(s);
}

TEST_F(NotificationTest, InvalidEventsNameTheField) {
  nv1::IngestEventRequest req = Alert("promotion-x", "c3", 0, Base() + absl::Hours(72));
  req.mutable_promotion_alert()->clear_title();
  nv1::IngestEventResponse resp;
  grpc::Status s = nstub_->IngestEvent(Ctx(PeerFor(req)).get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  std::vector<std::string> fields = BadFields(s);
  std::set<std::string> got(fields.begin(), fields.end());
  EXPECT_TRUE(got.count("event.promotion_alert.campaign_version"));
  EXPECT_TRUE(got.count("event.promotion_alert.title"));
  // Wrong role.
  s = nstub_->IngestEvent(Ctx(tokens_.agent).get(), Alert("promotion-y", "c3", 1, Base()), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  nv1::GetScheduleRequest get;
  get.set_campaign_id("nope");
  nv1::Schedule out;
  s = nstub_->GetSchedule(Ctx(admin()).get(), get, &out);
  EXPECT_EQ(Reason(s), "CAMPAIGN_NOT_FOUND");
}

TEST_F(NotificationTest, ScheduleFarAheadSurvivesRestart) {
  EnrolAudience("r1", "vip", true, "en");
  const absl::Time start = Base() + absl::Hours(24 * 90);
  Ingest(Alert("promotion-30", "far", 1, start));
  notif_->Kill();
  ASSERT_TRUE(notif_->Restart().ok()) << notif_->log();
  ConnectNotification();
  SetNotifTime(Base());  // a restarted fake clock starts at the real time again
  EXPECT_EQ(Schedule("far").state(), nv1::SCHEDULE_STATE_SCHEDULED);
  AdvanceNotif(absl::Hours(24 * 80));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Inbox("r1").messages_size(), 0);
  SetNotifTime(start - absl::Hours(72));
  ASSERT_TRUE(Eventually([&] { return Inbox("r1").messages_size() == 1; })) << notif_->log();
}

TEST_F(NotificationTest, KillDuringFanOutToTenThousandMembersLeavesExactlyOneAlertEach) {
  // Batches of 100, so the fan-out spans a hundred transactions to land in.
  notif_->Kill();
  notif_->set_extra_args({"--fake_clock", "--redis_port=" + std::to_string(redis_.port()),
                          "--loyalty_target=" + service_->address(),
                          "--service_token_file=" + dir_.path() + "/notification_token", "--job_interval=50ms",
                          "--log_level=warn", "--fan_out_batch=100", "--fan_out_lease=2s"});
  ASSERT_TRUE(notif_->Restart().ok());
  ConnectNotification();
  SetNotifTime(Base());  // a restarted fake clock starts at the real time again
  constexpr int kMembers = 10000;
  for (int i = 0; i < kMembers; ++i) EnrolAudience(absl::StrFormat("k%05d", i), "vip", true, "en");
  Ingest(Alert("promotion-40", "big", 1, Base() + absl::Hours(72)));
  AdvanceNotif(absl::Seconds(1));
  ASSERT_TRUE(Eventually([&] { return Schedule("big").members_resolved() > 0; })) << notif_->log();
  const int64_t resolved_at_kill = Schedule("big").members_resolved();
  notif_->Kill();  // kill -9 in the middle of the fan-out
  ASSERT_TRUE(notif_->Restart().ok()) << notif_->log();
  ConnectNotification();
  SetNotifTime(Base() + absl::Seconds(1));
  ASSERT_TRUE(Eventually(
      [&] {
        nv1::CampaignDeliveryStats st = Stats("big");
        return st.schedule_state() == nv1::SCHEDULE_STATE_COMPLETED && Count(st, nv1::DELIVERY_STATUS_SENT) == kMembers;
      },
      absl::Seconds(120)))
      << notif_->log();
  EXPECT_LT(resolved_at_kill, kMembers) << "the kill landed after the fan-out";
  EXPECT_EQ(Stats("big").total_deliveries(), kMembers);
  // Every member, one SENT delivery each (paging through the campaign's deliveries).
  std::set<std::string> members = SentMembers("big");
  EXPECT_EQ(members.size(), static_cast<size_t>(kMembers));
  for (int i = 0; i < kMembers; i += 97) EXPECT_EQ(Inbox(absl::StrFormat("k%05d", i)).messages_size(), 1);
}

}  // namespace
}  // namespace care::testing
