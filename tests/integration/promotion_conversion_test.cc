// Alert -> redemption conversion per campaign (issue 22, item 8) end to end:
// the real care_loyalty, care_promotion and care_notification. A campaign's
// alert goes to three members in the app and on the gateway (WEBHOOK); two of them redeem
// (one twice), a member who gave no consent (never alerted) and a
// guest redeem too, while notification is down and promotion restarts: the
// CampaignRedeemed events wait in promotion's outbox. Notification's
// campaign stats then count exactly the two alerted members who redeemed, per
// channel, with the rate, whatever is re-sent, and still after an erasure.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "tests/harness/receivers.h"
#include "tests/integration/promotion_fixture.h"

namespace care::testing {
namespace {

using care::common::v1::MESSAGE_CHANNEL_IN_APP;
using care::common::v1::MESSAGE_CHANNEL_WEBHOOK;

constexpr char kCampaign[] = "spring";

class PromotionConversionTest : public PromotionTest {
 protected:
  // Loyalty's outbox (profiles, consents) goes to the real notification,
  // which listens on a port fixed here so it comes back there after a restart.
  std::vector<std::string> ExtraArgs() override {
    return {"--notification_target=127.0.0.1:" + std::to_string(notification_port_)};
  }

  void SetUp() override {
    PromotionTest::SetUp();
    if (HasFatalFailure()) return;
    notif_ = std::make_unique<ServiceProcess>(CARE_NOTIFICATION_BIN, kNotificationHealthName,
                                              NotificationArgs({"--port=" + std::to_string(notification_port_)}),
                                              tokens_);
    ASSERT_NO_FATAL_FAILURE(StartNotification(Base()));
    ASSERT_NO_FATAL_FAILURE(ConfigureWebhook());
    StartPromotion(notif_->address(), {"--drain_deadline=1s"});
  }

  void StartNotification(absl::Time now) {
    absl::Status started = notif_->Start();
    ASSERT_TRUE(started.ok()) << started;
    nstub_ = nv1::NotificationService::NewStub(notif_->channel());
    nclock_ = care::common::v1::ClockControl::NewStub(notif_->channel());
    SetNotifTime(now);
  }

  void SetNotifTime(absl::Time now) {
    care::common::v1::SetTimeRequest req;
    *req.mutable_time() = ToTimestamp(now);
    care::common::v1::GetTimeResponse r;
    grpc::Status s = nclock_->SetTime(Ctx(admin()).get(), req, &r);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  // The WEBHOOK channel posts to the test's gateway (the member's phone in
  // the body).
  void ConfigureWebhook() {
    nv1::UpdateSettingsRequest req;
    req.set_request_id("settings-webhook");
    req.mutable_settings()->mutable_webhook()->set_url("http://127.0.0.1:" + std::to_string(gateway_.port()) + "/hook");
    req.mutable_settings()->mutable_webhook()->set_signing_secret("conversion-test-secret-0123456789");
    req.mutable_update_mask()->add_paths("webhook.url");
    req.mutable_update_mask()->add_paths("webhook.signing_secret");
    nv1::Settings out;
    grpc::Status s = nstub_->UpdateSettings(Ctx(admin()).get(), req, &out);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  // A member who `consents` to marketing in the app and on the gateway, or not.
  void Member(const std::string& id, bool consents) {
    Enrol(id, [&](lv1::Member* m) {
      m->set_phone("+8490123456" + std::to_string(++members_));
      if (!consents) return;
      for (auto channel : {MESSAGE_CHANNEL_IN_APP, MESSAGE_CHANNEL_WEBHOOK}) {
        auto* c = m->add_marketing_consents();
        c->set_channel(channel);
        c->set_granted(true);
      }
    });
  }

  // For everyone (guests too), announced in the app and on the gateway (WEBHOOK) to the
  // members, starting 72 h from now (its alert is due at once).
  void AnnounceCampaign() {
    pv1::Campaign c = BaseCampaign(Base() + absl::Hours(72));
    c.mutable_alert()->add_channels(MESSAGE_CHANNEL_IN_APP);
    c.mutable_alert()->add_channels(MESSAGE_CHANNEL_WEBHOOK);
    *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1500);
    pv1::Campaign out;
    grpc::Status s = Create(kCampaign, c, &out);
    ASSERT_TRUE(s.ok()) << Describe(s);
    s = Announce(kCampaign, false, &out);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  std::optional<nv1::CampaignDeliveryStats> Stats() {
    nv1::GetCampaignDeliveryStatsRequest req;
    req.set_campaign_id(kCampaign);
    nv1::CampaignDeliveryStats out;
    if (!nstub_->GetCampaignDeliveryStats(Ctx(admin()).get(), req, &out).ok()) return std::nullopt;
    return out;
  }

  // The conversion row of `channel` (members alerted and converted, rate).
  static nv1::ChannelConversion Conversion(const nv1::CampaignDeliveryStats& stats,
                                           care::common::v1::MessageChannel channel) {
    for (const auto& c : stats.conversions()) {
      if (c.channel() == channel) return c;
    }
    return nv1::ChannelConversion();
  }

  // Waits until both channels show `alerted` and `converted` members,
  // calling `tick` before each look.
  bool WaitConversions(
      int64_t alerted, int64_t converted, absl::Duration timeout, const std::function<void()>& tick = [] {}) {
    return Eventually(
        [&] {
          tick();
          auto stats = Stats();
          if (!stats) return false;
          for (auto channel : {MESSAGE_CHANNEL_IN_APP, MESSAGE_CHANNEL_WEBHOOK}) {
            nv1::ChannelConversion c = Conversion(*stats, channel);
            if (c.members_alerted() != alerted || c.members_converted() != converted) return false;
          }
          return true;
        },
        timeout);
  }

  // A member's (or, "", a guest's) order of the campaign's cart, redeemed.
  void BuyWithCampaign(const std::string& member, const std::string& order_id) {
    pv1::QuoteResponse q = Quote(Cart(member, {CartLine("l1", "SKU-1", "shoes", 1, 10000)}));
    ASSERT_TRUE(Applied(q, kCampaign)) << q.DebugString();
    pv1::Redemption r;
    grpc::Status s = Redeem(order_id, q.quote_token(), &r);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  nv1::Delivery AlertDelivery(const std::string& member, care::common::v1::MessageChannel channel) {
    nv1::GetDeliveryRequest get;
    get.mutable_delivery_key()->set_member_id(member);
    get.mutable_delivery_key()->set_message_key(std::string("promotion-alert/") + kCampaign);
    get.mutable_delivery_key()->set_channel(channel);
    nv1::Delivery d;
    grpc::Status s = nstub_->GetDelivery(Ctx(svc()).get(), get, &d);
    EXPECT_TRUE(s.ok()) << member << ": " << Describe(s);
    return d;
  }

  // What promotion's relay would send again for a redemption (a re-sent or
  // replayed event): same kind, sender and payload.
  nv1::IngestEventResponse Resend(const std::string& event_id, const std::string& member, const std::string& order_id,
                                  absl::Time redeemed) {
    nv1::IngestEventRequest req;
    req.set_event_id(event_id);
    req.set_source("promotion");
    *req.mutable_occurred_at() = ToTimestamp(Base());
    auto* r = req.mutable_campaign_redeemed();
    r->set_member_id(member);
    r->set_campaign_id(kCampaign);
    r->set_order_id(order_id);
    *r->mutable_redeem_time() = ToTimestamp(redeemed);
    nv1::IngestEventResponse out;
    grpc::Status s = nstub_->IngestEvent(Ctx(tokens_.peer_promotion).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  void ExpectTwoOfThreeConverted(const nv1::CampaignDeliveryStats& stats) {
    ASSERT_EQ(stats.conversions_size(), 2) << stats.DebugString();
    for (auto channel : {MESSAGE_CHANNEL_IN_APP, MESSAGE_CHANNEL_WEBHOOK}) {
      nv1::ChannelConversion c = Conversion(stats, channel);
      EXPECT_EQ(c.members_alerted(), 3) << stats.DebugString();
      EXPECT_EQ(c.members_converted(), 2) << stats.DebugString();
      EXPECT_DOUBLE_EQ(c.conversion_rate(), 2.0 / 3.0);
    }
  }

  int notification_port_ = FreePort();
  int members_ = 0;
  WebhookReceiver gateway_{[](int) { return 200; }};
  std::unique_ptr<ServiceProcess> notif_;
  std::unique_ptr<nv1::NotificationService::Stub> nstub_;
  std::unique_ptr<care::common::v1::ClockControl::Stub> nclock_;
};

TEST_F(PromotionConversionTest, MembersAlertedWhoThenRedeemAreCountedOncePerChannel) {
  for (const char* id : {"m-a", "m-b", "m-c"}) ASSERT_NO_FATAL_FAILURE(Member(id, true));
  ASSERT_NO_FATAL_FAILURE(Member("m-quiet", false));
  ASSERT_NO_FATAL_FAILURE(AnnounceCampaign());

  // Sent to the three who consented, on both channels; nobody converted yet.
  // Notification's clock moves on meanwhile: a post the gateway did not
  // take at once is retried a few (fake) seconds later.
  absl::Time notif_now = Base();
  ASSERT_TRUE(WaitConversions(3, 0, absl::Seconds(60), [&] { SetNotifTime(notif_now += absl::Seconds(10)); }))
      << (Stats() ? Stats()->DebugString() : "no stats") << "\n"
      << notif_->log();
  EXPECT_EQ(gateway_.requests().size(), 3u);
  ASSERT_TRUE(Eventually([&] {
    auto stats = Stats();
    return stats && stats->schedule_state() == nv1::SCHEDULE_STATE_COMPLETED;
  })) << notif_->log();
  EXPECT_EQ(AlertDelivery("m-quiet", MESSAGE_CHANNEL_IN_APP).suppression_reason(), nv1::SUPPRESSION_REASON_NO_CONSENT);

  // The campaign runs; notification is down while the orders are redeemed,
  // and promotion restarts before it is back: the events wait in its outbox.
  const absl::Time redeemed = Base() + absl::Hours(73);
  notif_->Kill();
  promo_start_time_ = redeemed;
  SetPromoTime(redeemed);
  ASSERT_NO_FATAL_FAILURE(BuyWithCampaign("m-a", "order-a1"));
  ASSERT_NO_FATAL_FAILURE(BuyWithCampaign("m-a", "order-a2"));  // a second redemption
  ASSERT_NO_FATAL_FAILURE(BuyWithCampaign("m-b", "order-b1"));
  ASSERT_NO_FATAL_FAILURE(BuyWithCampaign("m-quiet", "order-q1"));  // never alerted
  ASSERT_NO_FATAL_FAILURE(BuyWithCampaign("", "order-g1"));         // a guest
  ASSERT_NO_FATAL_FAILURE(RestartPromotion());
  // Back with its clock where promotion's is (an event from more than five
  // minutes ahead would be refused).
  ASSERT_NO_FATAL_FAILURE(StartNotification(redeemed + absl::Minutes(1)));

  ASSERT_TRUE(WaitConversions(3, 2, absl::Seconds(60))) << (Stats() ? Stats()->DebugString() : "no stats") << "\n"
                                                        << notif_->log() << promo_->log();
  // The outbox has nothing more to bring: the counts stay.
  absl::SleepFor(absl::Seconds(2));
  auto stats = Stats();
  ASSERT_TRUE(stats.has_value());
  ExpectTwoOfThreeConverted(*stats);

  // Each converted delivery says when; the others do not.
  for (auto channel : {MESSAGE_CHANNEL_IN_APP, MESSAGE_CHANNEL_WEBHOOK}) {
    EXPECT_EQ(FromTimestamp(AlertDelivery("m-a", channel).convert_time()), redeemed);
    EXPECT_EQ(FromTimestamp(AlertDelivery("m-b", channel).convert_time()), redeemed);
    EXPECT_FALSE(AlertDelivery("m-c", channel).has_convert_time());
    EXPECT_FALSE(AlertDelivery("m-quiet", channel).has_convert_time());
  }

  // The same event again is a duplicate; the same redemption under another
  // event id (a replay), or a redemption from before the alert, adds nothing.
  EXPECT_FALSE(Resend("replay-b1", "m-b", "order-b1", redeemed).duplicate());
  EXPECT_TRUE(Resend("replay-b1", "m-b", "order-b1", redeemed).duplicate());
  EXPECT_EQ(Resend("early-c1", "m-c", "order-c0", Base() - absl::Hours(1)).outcome(), nv1::INGEST_OUTCOME_APPLIED);
  stats = Stats();
  ASSERT_TRUE(stats.has_value());
  ExpectTwoOfThreeConverted(*stats);
  EXPECT_FALSE(AlertDelivery("m-c", MESSAGE_CHANNEL_IN_APP).has_convert_time());

  // Erasing a converted member keeps the campaign's figures.
  care::common::v1::ErasePersonalDataRequest erase;
  erase.set_erasure_id("erasure-m-a");
  erase.mutable_subject()->set_member_id("m-a");
  erase.set_pseudonym("erased-0123456789abcdef0123456789abcdef");
  erase.set_reason("right to erasure, ticket 7");
  care::common::v1::ErasureReceipt receipt;
  grpc::Status s = nstub_->ErasePersonalData(Ctx(tokens_.peer_loyalty).get(), erase, &receipt);
  ASSERT_TRUE(s.ok()) << Describe(s);
  stats = Stats();
  ASSERT_TRUE(stats.has_value());
  ExpectTwoOfThreeConverted(*stats);
}

// Only promotion reports redemptions, and a malformed one is refused naming
// its fields, with nothing converted.
TEST_F(PromotionConversionTest, CampaignRedeemedIsPromotionsAndChecksItsInput) {
  nv1::IngestEventRequest req;
  req.set_event_id("redeemed-bad");
  req.set_source("promotion");
  *req.mutable_occurred_at() = ToTimestamp(Base());
  auto* r = req.mutable_campaign_redeemed();
  r->set_member_id("m a");  // a space: not an id
  r->set_campaign_id(kCampaign);
  nv1::IngestEventResponse out;
  grpc::Status s = nstub_->IngestEvent(Ctx(tokens_.peer_promotion).get(), req, &out);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_THAT(BadFields(s),
              ::testing::UnorderedElementsAre("event.campaign_redeemed.member_id", "event.campaign_redeemed.order_id",
                                              "event.campaign_redeemed.redeem_time"));

  r->set_member_id("m-a");
  r->set_order_id("order-1");
  *r->mutable_redeem_time() = ToTimestamp(Base());
  req.set_source("loyalty");
  s = nstub_->IngestEvent(Ctx(tokens_.peer_loyalty).get(), req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
  EXPECT_EQ(Reason(s), "EVENT_SOURCE_MISMATCH");
  s = nstub_->IngestEvent(Ctx(svc()).get(), req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
  EXPECT_EQ(Reason(s), "MISSING_ROLE");
  // No alert of the campaign exists here: nothing to convert, nothing counted.
  req.set_source("promotion");
  s = nstub_->IngestEvent(Ctx(tokens_.peer_promotion).get(), req, &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(out.outcome(), nv1::INGEST_OUTCOME_APPLIED);
  nv1::GetCampaignDeliveryStatsRequest get;
  get.set_campaign_id(kCampaign);
  nv1::CampaignDeliveryStats stats;
  EXPECT_EQ(nstub_->GetCampaignDeliveryStats(Ctx(admin()).get(), get, &stats).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace care::testing
