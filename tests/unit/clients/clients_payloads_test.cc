// The outbox payload builders produce the bytes the services built by hand
// before them (each expectation below is the services' original code).

#include <gtest/gtest.h>

#include "care/loyalty/v1/loyalty.pb.h"
#include "care/notification/v1/notification.pb.h"
#include "care/promotion/v1/promotion.pb.h"
#include "clients/loyalty/points_adjustment.h"
#include "clients/notification/ingest_events.h"
#include "clients/promotion/goodwill_voucher.h"
#include "common/proto_time.h"

namespace care::clients {
namespace {

namespace nv1 = ::care::notification::v1;
using notification::EventHeader;
using notification::IngestEvent;

const absl::Time kNow = absl::FromUnixMicros(1767225600123456);

nv1::IngestEventRequest Expected(const std::string& id, const std::string& source) {
  nv1::IngestEventRequest r;
  r.set_event_id(id);
  r.set_source(source);
  *r.mutable_occurred_at() = ToTimestamp(kNow);
  return r;
}

void ExpectEvent(const OutboxEvent& got, const nv1::IngestEventRequest& want) {
  EXPECT_EQ(got.event_id, want.event_id());
  EXPECT_EQ(got.destination, "notification");
  EXPECT_EQ(got.method, "/care.notification.v1.NotificationService/IngestEvent");
  EXPECT_EQ(got.payload, want.SerializeAsString());
}

TEST(ClientsPayloads, LoyaltyEvents) {
  EventHeader h{"loyalty:tier:m1:3", "loyalty", kNow};
  nv1::IngestEventRequest tier = Expected(h.event_id, "loyalty");
  auto* t = tier.mutable_tier_changed();
  t->set_member_id("m1");
  t->set_old_tier_id("silver");
  t->set_new_tier_id("gold");
  t->set_tier_display_name("Gold");
  t->set_version(3);
  (*t->mutable_localized_tier_display_names())["ja"] = "ゴールド";
  ExpectEvent(IngestEvent(h, notification::TierChange{"m1", "silver", "gold", "Gold", 3, {{"ja", "ゴールド"}}}), tier);

  const absl::Time expire = absl::FromUnixSeconds(1770000000);
  nv1::IngestEventRequest exp = Expected(h.event_id, "loyalty");
  exp.mutable_points_expiring()->set_member_id("m1");
  exp.mutable_points_expiring()->set_points(40);
  *exp.mutable_points_expiring()->mutable_expire_time() = ToTimestamp(expire);
  ExpectEvent(IngestEvent(h, notification::PointsExpiry{"m1", 40, expire}), exp);

  nv1::IngestEventRequest bday = Expected(h.event_id, "loyalty");
  bday.mutable_birthday_reward()->set_member_id("m1");
  bday.mutable_birthday_reward()->set_points(0);
  ExpectEvent(IngestEvent(h, notification::BirthdayReward{"m1", 0}), bday);

  nv1::IngestEventRequest visit = Expected(h.event_id, "loyalty");
  visit.mutable_visit_reward_earned()->set_member_id("m1");
  visit.mutable_visit_reward_earned()->set_visit_count(10);
  visit.mutable_visit_reward_earned()->set_reward("coffee");
  ExpectEvent(IngestEvent(h, notification::VisitReward{"m1", 10, "coffee"}), visit);

  nv1::IngestEventRequest profile = Expected(h.event_id, "loyalty");
  auto* p = profile.mutable_member_profile_changed();
  p->set_member_id("m1");
  p->set_name("Ann");
  p->set_locale("en-GB");
  p->set_time_zone("Europe/London");
  p->set_email("ann@example.com");
  auto* c1 = p->add_consents();
  c1->set_channel(care::common::v1::MESSAGE_CHANNEL_EMAIL);
  c1->set_granted(true);
  *c1->mutable_update_time() = ToTimestamp(kNow);
  auto* c2 = p->add_consents();
  c2->set_channel(care::common::v1::MESSAGE_CHANNEL_IN_APP);
  notification::MemberProfileChange change{"m1", "Ann", "en-GB", "Europe/London", "ann@example.com", ""};
  change.consents = {{care::common::v1::MESSAGE_CHANNEL_EMAIL, true, kNow},
                     {care::common::v1::MESSAGE_CHANNEL_IN_APP, false, absl::InfinitePast()}};
  ExpectEvent(IngestEvent(h, change), profile);
}

TEST(ClientsPayloads, PromotionEvents) {
  EventHeader h{"promotion:c1:v2", "promotion", kNow};
  google::protobuf::Timestamp starts, ends;
  starts.set_seconds(1767300000);
  starts.set_nanos(123456789);  // a caller's nanoseconds survive
  ends.set_seconds(1767400000);
  nv1::IngestEventRequest alert = Expected(h.event_id, "promotion");
  auto* a = alert.mutable_promotion_alert();
  a->set_campaign_id("c1");
  a->set_campaign_version(2);
  a->set_title("Sale");
  a->set_description("All shoes");
  a->add_target_tier_ids("gold");
  a->add_target_segments("vip");
  a->add_channels(care::common::v1::MESSAGE_CHANNEL_EMAIL);
  *a->mutable_starts_at() = starts;
  *a->mutable_ends_at() = ends;
  *a->mutable_notice() = ToDurationProto(absl::Hours(72));
  a->set_short_notice(true);
  a->set_campaign_time_zone("Europe/Paris");
  (*a->mutable_variables())["code"] = "SHOES";
  (*a->mutable_localized_titles())["ja"] = "靴のセール";
  (*a->mutable_localized_descriptions())["ja"] = "靴が20%オフ";
  notification::PromotionAlert in;
  in.campaign_id = "c1";
  in.campaign_version = 2;
  in.title = "Sale";
  in.description = "All shoes";
  in.target_tier_ids = {"gold"};
  in.target_segments = {"vip"};
  in.channels = {care::common::v1::MESSAGE_CHANNEL_EMAIL};
  in.starts_at = FromTimestamp(starts);
  in.ends_at = FromTimestamp(ends);
  in.notice = absl::Hours(72);
  in.short_notice = true;
  in.campaign_time_zone = "Europe/Paris";
  in.variables = {{"code", "SHOES"}};
  in.localized_titles = {{"ja", "靴のセール"}};
  in.localized_descriptions = {{"ja", "靴が20%オフ"}};
  ExpectEvent(IngestEvent(h, in), alert);

  nv1::IngestEventRequest cancel = Expected(h.event_id, "promotion");
  cancel.mutable_promotion_alert_cancelled()->set_campaign_id("c1");
  cancel.mutable_promotion_alert_cancelled()->set_campaign_version(2);
  ExpectEvent(IngestEvent(h, notification::PromotionAlertCancel{"c1", 2}), cancel);

  nv1::IngestEventRequest redeemed = Expected(h.event_id, "promotion");
  auto* r = redeemed.mutable_campaign_redeemed();
  r->set_member_id("m1");
  r->set_campaign_id("c1");
  r->set_order_id("o-1");
  *r->mutable_redeem_time() = starts;  // to the nanosecond
  ExpectEvent(IngestEvent(h, notification::CampaignRedemption{"m1", "c1", "o-1", FromTimestamp(starts)}), redeemed);
}

TEST(ClientsPayloads, ComplaintEvents) {
  EventHeader h{"complaint:k1:ack", "complaint", kNow};
  nv1::IngestEventRequest update = Expected(h.event_id, "complaint");
  auto* u = update.mutable_complaint_update();
  u->set_member_id("m1");
  u->set_complaint_id("k1");
  u->set_kind(nv1::COMPLAINT_UPDATE_KIND_RESOLVED);
  u->set_message("done");
  u->set_locale_hint("fr");
  ExpectEvent(IngestEvent(h, notification::ComplaintUpdate{"m1", "k1", notification::ComplaintUpdateKind::kResolved,
                                                           "done", "fr"}),
              update);

  const google::protobuf::Timestamp due = ToTimestamp(kNow + absl::Hours(48));
  nv1::IngestEventRequest survey = Expected(h.event_id, "complaint");
  survey.mutable_satisfaction_survey()->set_member_id("m1");
  survey.mutable_satisfaction_survey()->set_complaint_id("k1");
  survey.mutable_satisfaction_survey()->set_survey_token("tok");
  *survey.mutable_satisfaction_survey()->mutable_expire_time() = due;
  ExpectEvent(IngestEvent(h, notification::SatisfactionSurvey{"m1", "k1", "tok", FromTimestamp(due)}), survey);

  nv1::IngestEventRequest check = Expected(h.event_id, "complaint");
  check.mutable_proactive_check_in()->set_member_id("m1");
  check.mutable_proactive_check_in()->set_complaint_id("k1");
  *check.mutable_proactive_check_in()->mutable_due_time() = due;
  ExpectEvent(IngestEvent(h, notification::ProactiveCheckIn{"m1", "k1", FromTimestamp(due)}), check);
}

TEST(ClientsPayloads, GoodwillPoints) {
  care::loyalty::v1::AdjustPointsRequest want;
  want.set_request_id("comp1");
  want.set_member_id("m1");
  want.set_points_delta(250);
  want.set_reason_code("GOODWILL");
  want.set_complaint_id("k1");
  want.set_note("sorry");
  loyalty::PointsAdjustment in{"comp1", "m1", 250, "GOODWILL", "k1", "sorry"};
  OutboxEvent got = loyalty::AdjustPointsEvent("complaint:comp1", in);
  EXPECT_EQ(got.event_id, "complaint:comp1");
  EXPECT_EQ(got.destination, "loyalty");
  EXPECT_EQ(got.method, "/care.loyalty.v1.LoyaltyService/AdjustPoints");
  EXPECT_EQ(got.payload, want.SerializeAsString());

  auto parsed = loyalty::ParsePointsAdjustment(got.payload);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->request_id, "comp1");
  EXPECT_EQ(parsed->complaint_id, "k1");
  EXPECT_FALSE(loyalty::ParsePointsAdjustment("\xff\xff").has_value());

  care::loyalty::v1::AdjustPointsResponse response;
  response.mutable_entry()->set_entry_id("e9");
  EXPECT_EQ(loyalty::AdjustedEntryId(response.SerializeAsString()), "e9");
  EXPECT_FALSE(loyalty::AdjustedEntryId("\xff\xff").has_value());
}

TEST(ClientsPayloads, GoodwillVouchers) {
  care::promotion::v1::IssueVoucherRequest amount;
  amount.set_request_id("comp2");
  amount.set_member_id("m1");
  amount.mutable_value()->set_amount_minor(500);
  amount.mutable_value()->set_currency_code("EUR");
  *amount.mutable_validity() = ToDurationProto(absl::Hours(24 * 30));
  amount.set_reason_code("LATE_DELIVERY");
  amount.set_complaint_id("k1");
  amount.set_note("n");
  amount.set_issued_by("agent:7");
  promotion::GoodwillVoucher in;
  in.request_id = "comp2";
  in.member_id = "m1";
  in.value = promotion::GoodwillVoucher::Amount{500, "EUR"};
  in.validity = absl::Hours(24 * 30);
  in.reason_code = "LATE_DELIVERY";
  in.complaint_id = "k1";
  in.note = "n";
  in.issued_by = "agent:7";
  OutboxEvent got = promotion::IssueVoucherEvent("complaint:comp2", in);
  EXPECT_EQ(got.destination, "promotion");
  EXPECT_EQ(got.method, "/care.promotion.v1.PromotionService/IssueVoucher");
  EXPECT_EQ(got.payload, amount.SerializeAsString());

  // A percentage, even 0, is sent (the oneof is set); no validity: unset.
  care::promotion::v1::IssueVoucherRequest percent;
  percent.set_request_id("comp3");
  percent.set_percent_off_bps(0);
  promotion::GoodwillVoucher p;
  p.request_id = "comp3";
  EXPECT_EQ(promotion::IssueVoucherEvent("e", p).payload, percent.SerializeAsString());

  // A reward voucher (loyalty's catalogue): the campaign, and no amount.
  care::promotion::v1::IssueVoucherRequest campaign;
  campaign.set_request_id("rr-1");
  campaign.set_member_id("m1");
  campaign.set_campaign_id("spring");
  campaign.set_reason_code("REWARD");
  promotion::GoodwillVoucher c;
  c.request_id = "rr-1";
  c.member_id = "m1";
  c.campaign_id = "spring";
  c.value = promotion::GoodwillVoucher::Amount{500, "EUR"};  // ignored: the campaign wins
  c.reason_code = "REWARD";
  EXPECT_EQ(promotion::IssueVoucherEvent("loyalty:reward:rr-1", c).payload, campaign.SerializeAsString());
  auto reward = promotion::ParseGoodwillVoucher(campaign.SerializeAsString());
  ASSERT_TRUE(reward.has_value());
  EXPECT_EQ(reward->campaign_id, "spring");
  EXPECT_FALSE(reward->value.has_value());

  auto parsed = promotion::ParseGoodwillVoucher(got.payload);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->complaint_id, "k1");
  EXPECT_EQ(parsed->request_id, "comp2");
  ASSERT_TRUE(parsed->value.has_value());
  EXPECT_EQ(parsed->value->amount_minor, 500);

  care::promotion::v1::Voucher voucher;
  voucher.set_code("GW-1");
  EXPECT_EQ(promotion::IssuedVoucherCode(voucher.SerializeAsString()), "GW-1");
  EXPECT_FALSE(promotion::IssuedVoucherCode("\xff\xff").has_value());
}

}  // namespace
}  // namespace care::clients
