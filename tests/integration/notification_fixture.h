#pragma once

// Notification tests: the real care_loyalty (audience) and care_notification
// binaries under fake clocks, called only through the generated stubs.

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tests/harness/scrape.h"
#include "tests/integration/loyalty_fixture.h"

namespace care::testing {

inline constexpr char kNotificationHealth[] = "care.notification.v1.NotificationService";

class NotificationTest : public LoyaltyTest {
 protected:
  void SetUp() override {
    LoyaltyTest::SetUp();
    if (HasFatalFailure()) return;
    Configure();
    StartNotification({"--metrics_port=0", "--metrics_port_file=" + MetricsPortFile()});
  }
  std::string MetricsPortFile() { return dir_.path() + "/notification_metrics_port"; }
  double Deliveries(const std::string& status) {
    auto body = HttpGet(std::stoi(ReadFile(MetricsPortFile())), "/metrics");
    EXPECT_TRUE(body.ok()) << body.status();
    return Sample(ParseExposition(body.ok() ? *body : ""),
                  "care_notification_deliveries_total{channel=\"IN_APP\",status=\"" + status + "\"}");
  }

  void StartNotification(const std::vector<std::string>& extra) {
    std::vector<std::string> args = NotificationArgs(extra);
    notif_ = std::make_unique<ServiceProcess>(CARE_NOTIFICATION_BIN, kNotificationHealth, args, tokens_);
    absl::Status started = notif_->Start();
    ASSERT_TRUE(started.ok()) << started;
    ConnectNotification();
    SetNotifTime(Base());
  }

  void ConnectNotification() {
    nstub_ = nv1::NotificationService::NewStub(notif_->channel());
    nclock_ = care::common::v1::ClockControl::NewStub(notif_->channel());
  }

  void SetNotifTime(absl::Time t) {
    care::common::v1::SetTimeRequest req;
    *req.mutable_time() = ToTimestamp(t);
    care::common::v1::GetTimeResponse r;
    grpc::Status s = nclock_->SetTime(Ctx(admin()).get(), req, &r);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }
  void AdvanceNotif(absl::Duration d) {
    care::common::v1::SetTimeRequest req;
    *req.mutable_advance() = ToDurationProto(d);
    care::common::v1::GetTimeResponse r;
    grpc::Status s = nclock_->SetTime(Ctx(admin()).get(), req, &r);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  // Enrols a member with marketing consent on IN_APP when `consent`.
  void EnrolAudience(const std::string& id, const std::string& segment, bool consent, const std::string& locale) {
    Enrol(id, [&](lv1::Member* m) {
      m->set_segment(segment);
      m->set_locale(locale);
      if (consent) {
        auto* c = m->add_marketing_consents();
        c->set_channel(care::common::v1::MESSAGE_CHANNEL_IN_APP);
        c->set_granted(true);
      }
    });
  }

  nv1::IngestEventRequest Alert(const std::string& event_id, const std::string& campaign, int64_t version,
                                absl::Time starts_at, const std::vector<std::string>& segments = {"vip"},
                                const std::vector<care::common::v1::MessageChannel>& channels = {
                                    care::common::v1::MESSAGE_CHANNEL_IN_APP}) {
    nv1::IngestEventRequest req;
    req.set_event_id(event_id);
    req.set_source("promotion");
    *req.mutable_occurred_at() = ToTimestamp(Base());
    auto* a = req.mutable_promotion_alert();
    a->set_campaign_id(campaign);
    a->set_campaign_version(version);
    a->set_title("Spring sale");
    a->set_description("15% off");
    for (const auto& s : segments) a->add_target_segments(s);
    for (auto c : channels) a->add_channels(c);
    *a->mutable_starts_at() = ToTimestamp(starts_at);
    *a->mutable_ends_at() = ToTimestamp(starts_at + absl::Hours(24 * 7));
    *a->mutable_notice() = ToDurationProto(absl::Hours(72));
    return req;
  }

  nv1::IngestEventResponse Ingest(const nv1::IngestEventRequest& req) {
    nv1::IngestEventResponse resp;
    grpc::Status s = nstub_->IngestEvent(Ctx(PeerFor(req)).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return resp;
  }

  nv1::ListInboxResponse Inbox(const std::string& member_id) {
    nv1::ListInboxRequest req;
    req.set_member_id(member_id);
    nv1::ListInboxResponse resp;
    grpc::Status s = nstub_->ListInbox(Ctx(svc()).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return resp;
  }

  nv1::Schedule Schedule(const std::string& campaign) {
    nv1::GetScheduleRequest req;
    req.set_campaign_id(campaign);
    nv1::Schedule out;
    grpc::Status s = nstub_->GetSchedule(Ctx(admin()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  // The in-app delivery of `campaign`'s alert to `member`, if there is one.
  std::optional<nv1::Delivery> AlertDelivery(const std::string& member, const std::string& campaign) {
    nv1::GetDeliveryRequest get;
    get.mutable_delivery_key()->set_member_id(member);
    get.mutable_delivery_key()->set_message_key("promotion-alert/" + campaign);
    get.mutable_delivery_key()->set_channel(care::common::v1::MESSAGE_CHANNEL_IN_APP);
    nv1::Delivery d;
    grpc::Status s = nstub_->GetDelivery(Ctx(svc()).get(), get, &d);
    return s.ok() ? std::optional<nv1::Delivery>(d) : std::nullopt;
  }

  nv1::CampaignDeliveryStats Stats(const std::string& campaign) {
    nv1::GetCampaignDeliveryStatsRequest req;
    req.set_campaign_id(campaign);
    nv1::CampaignDeliveryStats out;
    grpc::Status s = nstub_->GetCampaignDeliveryStats(Ctx(admin()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  // The members `campaign` was delivered to, paging through its deliveries;
  // fails the test for a delivery not SENT or a member delivered twice.
  std::set<std::string> SentMembers(const std::string& campaign) {
    std::set<std::string> members;
    nv1::ListDeliveriesRequest list;
    list.mutable_filter()->set_campaign_id(campaign);
    list.set_page_size(1000);
    for (int pages = 0; pages < 100; ++pages) {
      nv1::ListDeliveriesResponse page;
      grpc::Status s = nstub_->ListDeliveries(Ctx(admin()).get(), list, &page);
      EXPECT_TRUE(s.ok()) << Describe(s);
      for (const auto& d : page.deliveries()) {
        EXPECT_EQ(d.status(), nv1::DELIVERY_STATUS_SENT);
        EXPECT_TRUE(members.insert(d.member_id()).second) << "two deliveries for " << d.member_id();
      }
      if (!s.ok() || page.next_page_token().empty()) break;
      list.set_page_token(page.next_page_token());
    }
    return members;
  }

  int64_t Count(const nv1::CampaignDeliveryStats& stats, nv1::DeliveryStatus status,
                nv1::SuppressionReason reason = nv1::SUPPRESSION_REASON_UNSPECIFIED) {
    int64_t n = 0;
    for (const auto& c : stats.counts()) {
      if (c.status() == status && c.suppression_reason() == reason) n += c.count();
    }
    return n;
  }

  std::unique_ptr<ServiceProcess> notif_;
  std::unique_ptr<nv1::NotificationService::Stub> nstub_;
  std::unique_ptr<care::common::v1::ClockControl::Stub> nclock_;
};

}  // namespace care::testing
