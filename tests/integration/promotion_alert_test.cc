// Promotion announcements end to end: care_promotion's outbox delivers
// PromotionAlert / PromotionAlertCancelled to the real care_notification,
// whose schedule for the campaign is what these tests read.
#include "tests/integration/promotion_fixture.h"

namespace care::testing {
namespace {

class PromotionAlertTest : public PromotionTest {
 protected:
  void StartNotification(const std::vector<std::string>& extra = {}, bool set_time = true) {
    std::vector<std::string> args = NotificationArgs(extra);
    notif_ = std::make_unique<ServiceProcess>(CARE_NOTIFICATION_BIN, kNotificationHealthName, args, tokens_);
    absl::Status started = notif_->Start();
    ASSERT_TRUE(started.ok()) << started;
    nstub_ = nv1::NotificationService::NewStub(notif_->channel());
    if (!set_time) return;
    auto nclock = care::common::v1::ClockControl::NewStub(notif_->channel());
    care::common::v1::SetTimeRequest req;
    *req.mutable_time() = ToTimestamp(Base());
    care::common::v1::GetTimeResponse r;
    grpc::Status s = nclock->SetTime(Ctx(admin()).get(), req, &r);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  // The campaign's schedule in notification, once it exists with at least
  // `version` (alerts arrive asynchronously through the outbox).
  std::optional<nv1::Schedule> WaitSchedule(const std::string& campaign, int64_t version,
                                            absl::Duration timeout = absl::Seconds(20)) {
    std::optional<nv1::Schedule> found;
    Eventually(
        [&] {
          nv1::GetScheduleRequest req;
          req.set_campaign_id(campaign);
          nv1::Schedule out;
          if (!nstub_->GetSchedule(Ctx(admin()).get(), req, &out).ok()) return false;
          if (out.campaign_version() < version) return false;
          found = out;
          return true;
        },
        timeout);
    return found;
  }

  pv1::Campaign Draft(const std::string& id, absl::Time starts) {
    pv1::Campaign c = BaseCampaign(starts);
    c.mutable_audience()->add_tier_ids("gold");
    c.mutable_alert()->add_channels(care::common::v1::MESSAGE_CHANNEL_IN_APP);
    auto* rule = c.add_rules();
    *rule->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1500);
    pv1::Campaign out;
    grpc::Status s = Create(id, c, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    EXPECT_EQ(out.state(), pv1::CAMPAIGN_STATE_DRAFT);
    return out;
  }

  // A draft starting in 71 h cannot be announced (the notice is 72 h) and stays a draft.
  void ExpectAnnouncingAt71HoursRefused() {
    Draft("early", Base() + absl::Hours(71));
    pv1::Campaign out;
    grpc::Status s = Announce("early", false, &out);
    ASSERT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(s);
    EXPECT_EQ(Reason(s), "NOTICE_TOO_SHORT");
    EXPECT_EQ(ReasonMetadata(s, "notice"), "259200s");
    pv1::GetCampaignRequest get;
    get.set_campaign_id("early");
    ASSERT_TRUE(promo().GetCampaign(Ctx(admin()).get(), get, &out).ok());
    EXPECT_EQ(out.state(), pv1::CAMPAIGN_STATE_DRAFT);  // nothing changed
  }

  std::unique_ptr<ServiceProcess> notif_;
  std::unique_ptr<nv1::NotificationService::Stub> nstub_;
};

TEST_F(PromotionAlertTest, NoticePeriodIsEnforcedAndTheAlertFollowsTheCampaign) {
  StartNotification();
  StartPromotion(notif_->address());

  // 71 hours ahead: refused, with the earliest acceptable start.
  ASSERT_NO_FATAL_FAILURE(ExpectAnnouncingAt71HoursRefused());

  // 72 hours ahead: accepted; the alert is due at start - 72 h, i.e. now.
  absl::Time starts = Base() + absl::Hours(72);
  Draft("spring", starts);
  pv1::Campaign out;
  grpc::Status s = Announce("spring", false, &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(out.state(), pv1::CAMPAIGN_STATE_ANNOUNCED);
  EXPECT_FALSE(out.short_notice());
  EXPECT_EQ(FromTimestamp(out.alert_due_time()), Base());
  auto sched = WaitSchedule("spring", out.version());
  ASSERT_TRUE(sched.has_value());
  EXPECT_EQ(sched->campaign_version(), out.version());
  EXPECT_EQ(FromTimestamp(sched->due_time()), Base());
  EXPECT_EQ(FromTimestamp(sched->promotion_alert().starts_at()), starts);
  EXPECT_EQ(FromDurationProto(sched->promotion_alert().notice()), absl::Hours(72));
  EXPECT_EQ(sched->promotion_alert().target_tier_ids(0), "gold");
  EXPECT_EQ(sched->promotion_alert().title(), "Spring sale");

  // A campaign further out (the one above is due now, so notification may
  // already have sent it): due at start - 72 h = in 28 h.
  starts = Base() + absl::Hours(100);
  Draft("summer", starts);
  ASSERT_TRUE(Announce("summer", false, &out).ok());
  EXPECT_EQ(FromTimestamp(out.alert_due_time()), Base() + absl::Hours(28));
  sched = WaitSchedule("summer", out.version());
  ASSERT_TRUE(sched.has_value());
  EXPECT_EQ(FromTimestamp(sched->due_time()), Base() + absl::Hours(28));
  EXPECT_EQ(sched->state(), nv1::SCHEDULE_STATE_SCHEDULED);

  // Moving the start a day later moves the alert a day later.
  pv1::RescheduleCampaignRequest move;
  move.set_request_id("move-summer");
  move.set_campaign_id("summer");
  *move.mutable_starts_at() = ToTimestamp(starts + absl::Hours(24));
  s = promo().RescheduleCampaign(Ctx(admin()).get(), move, &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(FromTimestamp(out.alert_due_time()), Base() + absl::Hours(52));
  sched = WaitSchedule("summer", out.version());
  ASSERT_TRUE(sched.has_value());
  EXPECT_EQ(FromTimestamp(sched->promotion_alert().starts_at()), starts + absl::Hours(24));
  EXPECT_EQ(FromTimestamp(sched->due_time()), Base() + absl::Hours(52));
  EXPECT_EQ(sched->state(), nv1::SCHEDULE_STATE_SCHEDULED);

  // Moving it closer than the notice is refused like announcing.
  move.set_request_id("move-summer-too-close");
  *move.mutable_starts_at() = ToTimestamp(Base() + absl::Hours(10));
  s = promo().RescheduleCampaign(Ctx(admin()).get(), move, &out);
  EXPECT_EQ(Reason(s), "NOTICE_TOO_SHORT") << Describe(s);

  // Cancelling cancels the alert.
  pv1::CancelCampaignRequest cancel;
  cancel.set_request_id("cancel-summer");
  cancel.set_campaign_id("summer");
  cancel.set_reason("supplier withdrew");
  s = promo().CancelCampaign(Ctx(admin()).get(), cancel, &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(out.state(), pv1::CAMPAIGN_STATE_CANCELLED);
  EXPECT_TRUE(Eventually(
      [&] {
        nv1::GetScheduleRequest req;
        req.set_campaign_id("summer");
        nv1::Schedule sc;
        return nstub_->GetSchedule(Ctx(admin()).get(), req, &sc).ok() && sc.state() == nv1::SCHEDULE_STATE_CANCELLED;
      },
      absl::Seconds(20)));

  // A cancelled campaign cannot be announced again.
  s = Announce("summer", true, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(s), "INVALID_TRANSITION");
}

TEST_F(PromotionAlertTest, ShortNoticeIsExplicitAndDueAtOnce) {
  StartNotification();
  StartPromotion(notif_->address());
  Draft("flash", Base() + absl::Hours(5));
  pv1::Campaign out;
  grpc::Status s = Announce("flash", true, &out);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_TRUE(out.short_notice());
  EXPECT_EQ(FromTimestamp(out.alert_due_time()), Base());
  auto sched = WaitSchedule("flash", out.version());
  ASSERT_TRUE(sched.has_value());
  EXPECT_TRUE(sched->promotion_alert().short_notice());
}

TEST_F(PromotionAlertTest, AlertIsScheduledOnceNotificationIsBack) {
  // Notification is not running when the campaign is announced: the alert
  // waits in promotion's outbox and is delivered when it comes up.
  // Both clocks run at the real time here: a freshly started fake clock
  // starts there, and the alert's occurred_at must not be in its future.
  int port = FreePort();
  promo_start_time_ = absl::InfinitePast();
  StartPromotion(absl::StrCat("127.0.0.1:", port));
  Draft("later", absl::Now() + absl::Hours(100));
  pv1::Campaign out;
  grpc::Status s = Announce("later", false, &out);
  ASSERT_TRUE(s.ok()) << Describe(s);

  StartNotification({absl::StrCat("--port=", port)}, /*set_time=*/false);
  auto sched = WaitSchedule("later", out.version(), absl::Seconds(60));
  ASSERT_TRUE(sched.has_value());
  EXPECT_EQ(FromTimestamp(sched->due_time()), FromTimestamp(out.alert_due_time()));
  EXPECT_EQ(sched->state(), nv1::SCHEDULE_STATE_SCHEDULED);
}

}  // namespace
}  // namespace care::testing
