// Content in the member's language end to end (issue 22, item 5): the real
// care_loyalty, care_promotion and care_notification, loyalty's and
// promotion's outboxes relaying to notification. A campaign with English and
// Japanese texts reaches a "ja" member fully in Japanese, an "en" member in
// English and a "vi" member in a Vietnamese frame around the fallback (the
// default locale's) title; a tier upgrade and a visit reward name the tier
// and the reward in the member's language, a complaint update the ticket's.
// Bad localized texts are refused naming the field.
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "tests/integration/promotion_fixture.h"

namespace care::testing {
namespace {

using care::common::v1::MESSAGE_CHANNEL_IN_APP;

class PromotionLocalizedTest : public PromotionTest {
 protected:
  // Loyalty's outbox goes to the real notification, which starts later on
  // this port.
  std::vector<std::string> ExtraArgs() override {
    return {"--notification_target=127.0.0.1:" + std::to_string(notification_port_)};
  }

  void SetUp() override {
    PromotionTest::SetUp();
    if (HasFatalFailure()) return;
    lv1::Program program = DefaultProgram();
    (*program.mutable_tiers(2)->mutable_localized_display_names())["ja"] = "ゴールド";
    // A reward on every visit, so the one purchase below earns it.
    program.mutable_visit_reward()->set_every_n_visits(1);
    (*program.mutable_visit_reward()->mutable_localized_reward_names())["ja"] = "デザート1品無料";
    Configure(program);
    notif_ = std::make_unique<ServiceProcess>(CARE_NOTIFICATION_BIN, kNotificationHealthName,
                                              NotificationArgs({"--port=" + std::to_string(notification_port_)}),
                                              tokens_);
    absl::Status started = notif_->Start();
    ASSERT_TRUE(started.ok()) << started;
    nstub_ = nv1::NotificationService::NewStub(notif_->channel());
    auto nclock = care::common::v1::ClockControl::NewStub(notif_->channel());
    care::common::v1::SetTimeRequest req;
    *req.mutable_time() = ToTimestamp(Base());
    care::common::v1::GetTimeResponse r;
    ASSERT_TRUE(nclock->SetTime(Ctx(admin()).get(), req, &r).ok());
    StartPromotion(notif_->address());
  }

  // A gold member in `locale` who accepts marketing in the app.
  void GoldMember(const std::string& id, const std::string& locale) {
    Enrol(id, [&](lv1::Member* m) {
      m->set_locale(locale);
      auto* c = m->add_marketing_consents();
      c->set_channel(MESSAGE_CHANNEL_IN_APP);
      c->set_granted(true);
    });
    Purchase(id, "gold-" + id, 500000);
    ASSERT_EQ(GetTier(id).tier_id(), "gold");
  }

  // The member's inbox message of `kind` whose subject is `subject`, once it
  // is there (the outboxes and notification's jobs run in the background).
  std::optional<nv1::InboxMessage> WaitMessage(const std::string& member, nv1::MessageKind kind,
                                               const std::string& subject) {
    std::optional<nv1::InboxMessage> found;
    std::vector<std::string> seen;
    Eventually(
        [&] {
          nv1::ListInboxRequest req;
          req.set_member_id(member);
          req.add_kinds(kind);
          nv1::ListInboxResponse inbox;
          if (!nstub_->ListInbox(Ctx(svc()).get(), req, &inbox).ok()) return false;
          seen.clear();
          for (const auto& m : inbox.messages()) {
            seen.push_back(m.subject());
            if (m.subject() == subject) found = m;
          }
          return found.has_value();
        },
        absl::Seconds(20));
    EXPECT_TRUE(found.has_value()) << member << " has no \"" << subject
                                   << "\"; subjects: " << absl::StrJoin(seen, " | ") << "\n"
                                   << notif_->log();
    return found;
  }

  // A campaign for gold members, in the default language and with English
  // and Japanese texts, starting 72 h from now (its alert is due at once).
  static pv1::Campaign LocalizedCampaign() {
    pv1::Campaign c = BaseCampaign(Base() + absl::Hours(72));
    c.set_description("15% off for members");
    (*c.mutable_localized_display_names())["en"] = "Members' spring sale";
    (*c.mutable_localized_display_names())["ja"] = "会員様限定の春のセール";
    (*c.mutable_localized_descriptions())["ja"] = "会員様は15%オフ";
    c.mutable_audience()->add_tier_ids("gold");
    c.mutable_alert()->add_channels(MESSAGE_CHANNEL_IN_APP);
    *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1500);
    return c;
  }

  // The retailer's own English alert text, stored in notification: it must
  // not take the place of the built-in Japanese and Vietnamese ones.
  void StoreEnglishAlertTemplate() {
    nv1::PutTemplateRequest req;
    req.set_request_id("template-en");
    nv1::Template* t = req.mutable_template_();
    t->set_kind(nv1::MESSAGE_KIND_PROMOTION_ALERT);
    t->set_channel(MESSAGE_CHANNEL_IN_APP);
    t->set_locale("en");
    t->set_subject("Don't miss {{campaign_title}}");
    t->set_body("{{campaign_title}}: {{campaign_description}}");
    for (const char* name : {"campaign_title", "campaign_description"}) {
      auto* v = t->add_variables();
      v->set_name(name);
      v->set_type(nv1::VARIABLE_TYPE_STRING);
    }
    nv1::Template out;
    grpc::Status s = nstub_->PutTemplate(Ctx(admin()).get(), req, &out);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  int notification_port_ = FreePort();
  std::unique_ptr<ServiceProcess> notif_;
  std::unique_ptr<nv1::NotificationService::Stub> nstub_;
};

TEST_F(PromotionLocalizedTest, EachMemberReadsTheAlertAndTheirNewTierInTheirLanguage) {
  ASSERT_NO_FATAL_FAILURE(StoreEnglishAlertTemplate());
  ASSERT_NO_FATAL_FAILURE(GoldMember("m-ja", "ja"));
  ASSERT_NO_FATAL_FAILURE(GoldMember("m-en", "en"));
  ASSERT_NO_FATAL_FAILURE(GoldMember("m-vi", "vi"));

  // The upgrade names the tier in the member's language; Vietnamese has no
  // name of its own, nor has the default locale: the tier's display name.
  auto ja_tier = WaitMessage("m-ja", nv1::MESSAGE_KIND_TIER_CHANGED, "ゴールドへようこそ");
  ASSERT_TRUE(ja_tier.has_value());
  EXPECT_EQ(ja_tier->body(), "Member m-ja様、ゴールド会員になりました。");
  EXPECT_EQ(ja_tier->locale(), "ja");
  EXPECT_TRUE(WaitMessage("m-en", nv1::MESSAGE_KIND_TIER_CHANGED, "Welcome to Gold").has_value());
  EXPECT_TRUE(WaitMessage("m-vi", nv1::MESSAGE_KIND_TIER_CHANGED, "Chào mừng bạn đến hạng Gold").has_value());
  // The visit reward, named in Japanese for the ja member only.
  auto ja_reward = WaitMessage("m-ja", nv1::MESSAGE_KIND_VISIT_REWARD, "1回目のご来店ありがとうございます");
  ASSERT_TRUE(ja_reward.has_value());
  EXPECT_EQ(ja_reward->body(), "特典: デザート1品無料");
  auto vi_reward = WaitMessage("m-vi", nv1::MESSAGE_KIND_VISIT_REWARD, "Cảm ơn bạn đã ghé lần thứ 1");
  ASSERT_TRUE(vi_reward.has_value());
  EXPECT_EQ(vi_reward->body(), "Phần thưởng của bạn: 1 free dessert.");

  pv1::Campaign created;
  grpc::Status s = Create("spring", LocalizedCampaign(), &created);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(created.localized_display_names().at("ja"), "会員様限定の春のセール");
  pv1::Campaign announced;
  s = Announce("spring", false, &announced);
  ASSERT_TRUE(s.ok()) << Describe(s);

  // ja: the built-in Japanese frame around the Japanese title and
  // description, not the stored English text, and no English at all.
  auto ja = WaitMessage("m-ja", nv1::MESSAGE_KIND_PROMOTION_ALERT, "まもなく開始: 会員様限定の春のセール");
  ASSERT_TRUE(ja.has_value());
  EXPECT_EQ(ja->locale(), "ja");
  EXPECT_EQ(ja->body(), "Member m-ja様、会員様限定の春のセールは2031-01-18 10:00に始まります。会員様は15%オフ");
  // en: the stored English template with the English title; the description
  // has no English text, so the campaign's own.
  auto en = WaitMessage("m-en", nv1::MESSAGE_KIND_PROMOTION_ALERT, "Don't miss Members' spring sale");
  ASSERT_TRUE(en.has_value());
  EXPECT_EQ(en->locale(), "en");
  EXPECT_EQ(en->body(), "Members' spring sale: 15% off for members");
  // vi: no Vietnamese text, so the default locale's (en) title and the
  // campaign's description, in the built-in Vietnamese frame.
  auto vi = WaitMessage("m-vi", nv1::MESSAGE_KIND_PROMOTION_ALERT, "Sắp diễn ra: Members' spring sale");
  ASSERT_TRUE(vi.has_value());
  EXPECT_EQ(vi->locale(), "vi");
  EXPECT_EQ(vi->body(), "Chào Member m-vi, Members' spring sale bắt đầu lúc 2031-01-18 10:00. 15% off for members");

  // A complaint filed in Japanese by the English-speaking member: the update
  // comes in the ticket's language (ComplaintUpdate.locale_hint).
  nv1::IngestEventRequest update;
  update.set_event_id("complaint:c-1:update:1");
  update.set_source("complaint");
  *update.mutable_occurred_at() = ToTimestamp(Base());
  auto* u = update.mutable_complaint_update();
  u->set_member_id("m-en");
  u->set_complaint_id("c-1");
  u->set_kind(nv1::COMPLAINT_UPDATE_KIND_UPDATED);
  u->set_message("担当者が確認しています。");
  u->set_locale_hint("ja");
  nv1::IngestEventResponse ingested;
  s = nstub_->IngestEvent(Ctx(tokens_.peer_complaint).get(), update, &ingested);
  ASSERT_TRUE(s.ok()) << Describe(s);
  auto ticket = WaitMessage("m-en", nv1::MESSAGE_KIND_COMPLAINT_UPDATED, "お問い合わせの進捗");
  ASSERT_TRUE(ticket.has_value());
  EXPECT_EQ(ticket->locale(), "ja");
  EXPECT_EQ(ticket->body(), "担当者が確認しています。");
}

// Issue 22 item 6: an occasion's gift reaches each member named in their
// language, in the built-in frame of that language.
TEST_F(PromotionLocalizedTest, AnOccasionGiftIsAnnouncedInTheMembersLanguage) {
  Enrol("m-ja", [](lv1::Member* m) { m->set_locale("ja"); });
  Enrol("m-vi", [](lv1::Member* m) { m->set_locale("vi"); });
  lv1::Program program = DefaultProgram();
  lv1::Occasion* o = program.add_occasions();
  o->set_occasion_id("founding-day");
  o->set_display_name("Founding day");
  (*o->mutable_localized_display_names())["ja"] = "創業記念日";
  o->mutable_date()->set_month(1);
  o->mutable_date()->set_day(16);  // the day after Base(), in the program's zone (UTC)
  o->set_points(40);
  // And a catalogue gift, named in Japanese only.
  lv1::CreateRewardRequest tea;
  tea.set_request_id("tea");
  tea.mutable_reward()->set_reward_id("tea");
  tea.mutable_reward()->set_display_name("Lotus tea");
  (*tea.mutable_reward()->mutable_localized_display_names())["ja"] = "蓮茶";
  tea.mutable_reward()->set_points_price(100);
  tea.mutable_reward()->mutable_free_item()->set_sku("TEA-1");
  lv1::Reward created;
  grpc::Status s = stub().CreateReward(Ctx(admin()).get(), tea, &created);
  ASSERT_TRUE(s.ok()) << Describe(s);
  o->set_reward_id("tea");
  lv1::Program out;
  s = UpdateProgram(program, 2, &out, {"occasions"});  // version 2: the SetUp's
  ASSERT_TRUE(s.ok()) << Describe(s);
  // 16 January, noon: the gift is due, and inside the members' send window
  // on notification's clock too.
  const absl::Time noon = Base() + absl::Hours(26);
  auto nclock = care::common::v1::ClockControl::NewStub(notif_->channel());
  care::common::v1::SetTimeRequest at;
  *at.mutable_time() = ToTimestamp(noon);
  care::common::v1::GetTimeResponse now;
  ASSERT_TRUE(nclock->SetTime(Ctx(admin()).get(), at, &now).ok());
  SetTime(noon);

  auto ja = WaitMessage("m-ja", nv1::MESSAGE_KIND_OCCASION_REWARD, "創業記念日");
  ASSERT_TRUE(ja.has_value());
  EXPECT_EQ(ja->locale(), "ja");
  EXPECT_EQ(ja->body(), "Member m-ja様、創業記念日を記念して40ポイントを進呈しました。記念品: 蓮茶。");
  // No Vietnamese names: the occasion's and the gift's own, in the
  // Vietnamese frame.
  auto vi = WaitMessage("m-vi", nv1::MESSAGE_KIND_OCCASION_REWARD, "Founding day");
  ASSERT_TRUE(vi.has_value());
  EXPECT_EQ(vi->body(),
            "Chào Member m-vi, nhân dịp Founding day chúng tôi tặng bạn 40 điểm. Quà tặng của bạn: Lotus tea.");
  EXPECT_EQ(Balance("m-ja").balance(), 40);
}

TEST_F(PromotionLocalizedTest, LocalizedTextsAreStoredBoundedAndReplacedByAnUpdate) {
  pv1::Campaign created;
  grpc::Status s = Create("summer", LocalizedCampaign(), &created);
  ASSERT_TRUE(s.ok()) << Describe(s);
  pv1::GetCampaignRequest get;
  get.set_campaign_id("summer");
  pv1::Campaign got;
  ASSERT_TRUE(promo().GetCampaign(Ctx(admin()).get(), get, &got).ok());
  EXPECT_EQ(got.localized_display_names().size(), 2);
  EXPECT_EQ(got.localized_display_names().at("en"), "Members' spring sale");
  EXPECT_EQ(got.localized_descriptions().at("ja"), "会員様は15%オフ");
  pv1::ListCampaignsRequest list;
  pv1::ListCampaignsResponse listed;
  ASSERT_TRUE(promo().ListCampaigns(Ctx(admin()).get(), list, &listed).ok());
  ASSERT_EQ(listed.campaigns_size(), 1);
  EXPECT_EQ(listed.campaigns(0).localized_display_names().at("ja"), "会員様限定の春のセール");

  // A tag that is not BCP 47, a tag repeated but for case, an empty text, a
  // description over 2000 characters: each named, nothing stored.
  pv1::Campaign bad = LocalizedCampaign();
  (*bad.mutable_localized_display_names())["ja_JP"] = "春";
  (*bad.mutable_localized_display_names())["JA"] = "春";
  (*bad.mutable_localized_display_names())["vi"] = "";
  (*bad.mutable_localized_descriptions())["vi"] = std::string(2001, 'x');
  pv1::Campaign out;
  s = Create("bad-texts", bad, &out);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_EQ(Reason(s), "INVALID_FIELD");
  EXPECT_THAT(BadFields(s), ::testing::UnorderedElementsAre("campaign.localized_display_names[ja]",
                                                            "campaign.localized_display_names[ja_JP]",
                                                            "campaign.localized_display_names[vi]",
                                                            "campaign.localized_descriptions[vi]"));
  get.set_campaign_id("bad-texts");
  EXPECT_EQ(promo().GetCampaign(Ctx(admin()).get(), get, &got).error_code(), grpc::StatusCode::NOT_FOUND);

  // At most 32 locales.
  pv1::Campaign many = LocalizedCampaign();
  for (int i = 0; i < 31; ++i) {
    const std::string tag = {static_cast<char>('x' + i / 26), static_cast<char>('a' + i % 26)};
    (*many.mutable_localized_display_names())[tag] = "t";
  }
  s = Create("many-texts", many, &out);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_THAT(BadFields(s), ::testing::ElementsAre("campaign.localized_display_names"));

  // An update naming the map replaces it as a whole, in a new version.
  pv1::UpdateCampaignRequest update;
  update.set_request_id("update-summer");
  update.mutable_campaign()->set_campaign_id("summer");
  (*update.mutable_campaign()->mutable_localized_display_names())["vi"] = "Khuyến mãi mùa hè";
  update.mutable_update_mask()->add_paths("localized_display_names");
  ASSERT_TRUE(promo().UpdateCampaign(Ctx(admin()).get(), update, &out).ok());
  EXPECT_EQ(out.version(), 2);
  get.set_campaign_id("summer");
  ASSERT_TRUE(promo().GetCampaign(Ctx(admin()).get(), get, &got).ok());
  EXPECT_EQ(got.localized_display_names().size(), 1);
  EXPECT_EQ(got.localized_display_names().at("vi"), "Khuyến mãi mùa hè");
  EXPECT_EQ(got.localized_descriptions().at("ja"), "会員様は15%オフ");
}

}  // namespace
}  // namespace care::testing
