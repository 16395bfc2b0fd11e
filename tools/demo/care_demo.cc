// care_demo: the suite's main job, end to end, through the generated clients.
// tools/suite.sh starts the four services with --fake_clock and runs this; the
// demo moves the services' clocks (ClockControl) instead of waiting days.
// Every step checks what it shows: a broken flow ends the demo with exit 1.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "care/common/v1/runtime.grpc.pb.h"
#include "care/complaint/v1/complaint.grpc.pb.h"
#include "care/loyalty/v1/loyalty.grpc.pb.h"
#include "care/notification/v1/notification.grpc.pb.h"
#include "care/promotion/v1/promotion.grpc.pb.h"
#include "common/config.h"
#include "common/errors.h"
#include "common/grpc_status.h"
#include "common/outbox.h"
#include "common/proto_time.h"
#include "tools/demo/webhook_sink.h"

namespace {

namespace cv1 = care::common::v1;
namespace lv1 = care::loyalty::v1;
namespace pv1 = care::promotion::v1;
namespace kv1 = care::complaint::v1;
namespace nv1 = care::notification::v1;

// The care desk's teams in the demo: the delivery desk, led by Hoa, and
// the care team that makes the cadence's welcome calls.
constexpr char kDeliveryDesk[] = "delivery-desk";
constexpr char kDeliveryLead[] = "lead-hoa";
constexpr char kCareTeam[] = "care-team";

struct Targets {
  std::string loyalty, promotion, complaint, notification, token;
};

// Raised by a step whose result is not what the demo shows; main() reports it.
struct DemoFailure {
  std::string what;
};

class Demo final {
 public:
  explicit Demo(const Targets& t) : token_(t.token) {
    for (const std::string* target : {&t.loyalty, &t.promotion, &t.complaint, &t.notification}) {
      channels_.push_back(care::Dial(*target));
    }
    loyalty_ = lv1::LoyaltyService::NewStub(channels_[0]);
    promotion_ = pv1::PromotionService::NewStub(channels_[1]);
    complaint_ = kv1::ComplaintService::NewStub(channels_[2]);
    notification_ = nv1::NotificationService::NewStub(channels_[3]);
    run_ = absl::StrCat(absl::ToUnixSeconds(absl::Now()));
  }

  void Run() {
    SyncClocks();
    Program();
    Members();
    Purchases();
    Campaign();
    QuoteAndRedeem();
    AlertConversion();
    RedeemReward();
    Complaint();
    Inquiry();
    CheckInTasks();
    PartialReturn();
    Measure();
    Inboxes();
    std::printf("\nDemo complete: every step above was checked against the services' answers.\n");
  }

 private:
  // ------------------------------------------------------------ narration

  void Step(const std::string& title) { std::printf("\n== %d. %s\n", ++step_, title.c_str()); }
  static void Say(const std::string& line) { std::printf("   %s\n", line.c_str()); }
  static void Check(bool ok, const std::string& what) {
    if (!ok) throw DemoFailure{what};
  }

  std::unique_ptr<grpc::ClientContext> Ctx(absl::Duration timeout = absl::Seconds(10)) const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata("authorization", "Bearer " + token_);
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    return ctx;
  }

  // Runs one call; a failure ends the demo with the status and its reason.
  void Call(const std::string& what, const std::function<grpc::Status(grpc::ClientContext*)>& call) const {
    grpc::Status s = call(Ctx().get());
    if (!s.ok()) {
      absl::Status status = care::FromGrpcStatus(s);
      throw DemoFailure{absl::StrCat(what, ": ", absl::StatusCodeToString(status.code()), " ", status.message(),
                                     " (reason ", care::ErrorReason(status), ")")};
    }
  }

  // Polls `done` for up to `timeout`: deliveries go through outboxes and jobs.
  static void Eventually(const std::string& what, const std::function<bool()>& done,
                         absl::Duration timeout = absl::Seconds(20)) {
    absl::Time deadline = absl::Now() + timeout;
    while (!done()) {
      if (absl::Now() > deadline) throw DemoFailure{absl::StrCat("timed out waiting: ", what)};
      absl::SleepFor(absl::Milliseconds(100));
    }
  }

  std::string Id(const std::string& name) const { return absl::StrCat("demo-", run_, "-", name); }
  static std::string Local(absl::Time t, const std::string& zone) {
    absl::TimeZone tz;
    if (!absl::LoadTimeZone(zone, &tz)) tz = absl::UTCTimeZone();
    return absl::FormatTime("%a %Y-%m-%d %H:%M", t, tz) + " " + zone;
  }
  static std::string Vnd(int64_t amount) { return absl::StrFormat("%d VND", amount); }

  // ---------------------------------------------------------------- clocks

  std::unique_ptr<cv1::ClockControl::Stub> ClockOf(size_t i) const { return cv1::ClockControl::NewStub(channels_[i]); }

  // The four services' clocks start at their own start-up instants: bring
  // them to the latest, so business time agrees across the suite.
  void SyncClocks() {
    Step("Clocks");
    absl::Time latest = absl::InfinitePast();
    for (size_t i = 0; i < channels_.size(); ++i) {
      cv1::GetTimeResponse r;
      Call("ClockControl.GetTime", [&](auto* ctx) { return ClockOf(i)->GetTime(ctx, {}, &r); });
      latest = std::max(latest, care::FromTimestamp(r.time()));
    }
    // Start at the next 01:00 UTC (08:00 in Hanoi, 10:00 in Tokyo): the same
    // story whatever the hour the demo runs. Clocks only move forward.
    absl::CivilHour hour = absl::ToCivilHour(latest + absl::Seconds(1), absl::UTCTimeZone());
    absl::CivilDay day = absl::CivilDay(hour) + (hour.hour() >= 1 ? 1 : 0);
    SetClocks(absl::FromCivil(absl::CivilHour(day.year(), day.month(), day.day(), 1), absl::UTCTimeZone()));
    started_ = now_;
    Say("The services run with --fake_clock: instead of waiting three days, the demo moves");
    Say(absl::StrCat("their clocks together. Suite time now: ", absl::FormatTime(now_, absl::UTCTimeZone()), " UTC"));
  }

  void SetClocks(absl::Time t) {
    for (size_t i = 0; i < channels_.size(); ++i) {
      cv1::SetTimeRequest req;
      *req.mutable_time() = care::ToTimestamp(t);
      cv1::GetTimeResponse r;
      Call("ClockControl.SetTime", [&](auto* ctx) { return ClockOf(i)->SetTime(ctx, req, &r); });
    }
    now_ = t;
  }
  void Advance(absl::Duration d, const std::string& why) {
    SetClocks(now_ + d);
    Say(absl::StrCat("(clock +", absl::FormatDuration(d), ": ", why, "; now ",
                     absl::FormatTime("%Y-%m-%d %H:%M", now_, absl::UTCTimeZone()), " UTC)"));
  }

  // --------------------------------------------------------------- loyalty

  static care::common::v1::Money Money(int64_t units) {
    care::common::v1::Money m;
    m.set_currency_code("VND");
    m.set_amount_minor(units);
    return m;
  }

  static lv1::Tier Tier(const std::string& id, const std::string& name, int rank, int64_t spend, int multiplier_bps,
                        int discount_bps) {
    lv1::Tier t;
    t.set_tier_id(id);
    t.set_display_name(name);
    t.set_rank(rank);
    *t.mutable_qualifying_spend() = Money(spend);
    if (spend > 0) {
      t.mutable_qualification_window()->set_kind(lv1::QUALIFICATION_WINDOW_KIND_ROLLING);
      t.mutable_qualification_window()->set_rolling_months(12);
    }
    t.mutable_benefits()->set_points_multiplier_bps(multiplier_bps);
    t.mutable_benefits()->set_discount_bps(discount_bps);
    t.mutable_benefits()->set_support_priority(rank >= 2   ? lv1::SUPPORT_PRIORITY_URGENT
                                               : rank == 1 ? lv1::SUPPORT_PRIORITY_HIGH
                                                           : lv1::SUPPORT_PRIORITY_STANDARD);
    return t;
  }

  void Program() {
    Step("Loyalty program: accumulate points and upgrade customers (seed 000)");
    lv1::Program p;
    p.set_display_name("CareSuite Rewards");
    p.set_currency_code("VND");
    p.set_time_zone("Asia/Ho_Chi_Minh");
    // What a point is worth, for the liability in the analytics: 100 VND.
    *p.mutable_point_value()->mutable_amount() = Money(100);
    p.mutable_point_value()->set_points(1);
    *p.add_tiers() = Tier("member", "Member", 0, 0, 10000, 0);
    lv1::Tier silver = Tier("silver", "Silver", 1, 2000000, 12500, 500);
    (*silver.mutable_localized_display_names())["vi"] = "Bạc";
    (*silver.mutable_localized_display_names())["ja"] = "シルバー";
    *p.add_tiers() = silver;
    lv1::Tier gold = Tier("gold", "Gold", 2, 5000000, 15000, 1000);
    (*gold.mutable_localized_display_names())["vi"] = "Vàng";
    (*gold.mutable_localized_display_names())["ja"] = "ゴールド";
    gold.mutable_benefits()->set_free_returns(true);
    gold.mutable_benefits()->add_perks("special care");
    *p.add_tiers() = gold;
    p.mutable_earn_rule()->set_points_per_unit(1);
    *p.mutable_earn_rule()->mutable_unit_amount() = Money(10000);
    p.mutable_earn_rule()->set_rounding(lv1::ROUNDING_MODE_FLOOR);
    p.mutable_points_expiry()->set_expire_after_months(12);
    p.mutable_visit_reward()->set_every_n_visits(10);
    p.mutable_visit_reward()->set_reward_name("1 free dessert");
    p.mutable_birthday_bonus()->set_points(100);
    lv1::Occasion* anniversary = p.add_occasions();
    anniversary->set_occasion_id("anniversary");
    anniversary->set_display_name("Membership anniversary");
    (*anniversary->mutable_localized_display_names())["vi"] = "Kỷ niệm ngày gia nhập";
    (*anniversary->mutable_localized_display_names())["ja"] = "入会記念日";
    anniversary->mutable_membership_anniversary();
    anniversary->set_points(200);
    lv1::CadenceRule* quiet = p.add_cadence_rules();
    quiet->set_rule_id("we-miss-you");
    quiet->set_display_name("We miss you");
    (*quiet->mutable_localized_display_names())["vi"] = "Lâu rồi không gặp";
    (*quiet->mutable_localized_display_names())["ja"] = "お久しぶりです";
    *quiet->mutable_no_purchase_for() = care::ToDurationProto(absl::Hours(24 * 60));
    *quiet->mutable_period() = care::ToDurationProto(absl::Hours(24 * 90));
    lv1::CadenceRule* welcome = p.add_cadence_rules();
    welcome->set_rule_id("welcome-call");
    welcome->set_display_name("Welcome call to a new member");
    (*welcome->mutable_localized_display_names())["vi"] = "Gọi chào mừng thành viên mới";
    (*welcome->mutable_localized_display_names())["ja"] = "新規会員へのウェルカムコール";
    *welcome->mutable_since_enrolment() = care::ToDurationProto(absl::Hours(24));
    welcome->set_action(lv1::CADENCE_ACTION_AGENT_TASK);
    welcome->set_team_id(kCareTeam);

    lv1::Program current;
    int64_t version = 0;
    if (loyalty_->GetProgram(Ctx().get(), {}, &current).ok()) version = current.version();
    lv1::UpdateProgramRequest req;
    req.set_request_id(Id("program"));
    *req.mutable_program() = p;
    req.mutable_program()->set_version(version);
    req.set_change_note("demo");
    lv1::Program out;
    Call("LoyaltyService.UpdateProgram", [&](auto* ctx) { return loyalty_->UpdateProgram(ctx, req, &out); });
    Say(absl::StrCat("Program version ", out.version(), ": Member -> Silver at ", Vnd(2000000), " -> Gold at ",
                     Vnd(5000000), " spent over 12 months; 1 point per 10,000 VND"));
    Say("Gold: x1.5 points, 10% discount, free returns, 'special care', urgent support priority");
    Say("Every membership anniversary: 200 points and a message in the member's language (occasion \"anniversary\")");
    Say("Care cadence: a member with no purchase for 60 days gets a check-in (with marketing consent), at most "
        "every 90 days (rule \"we-miss-you\")");
    Say(absl::StrCat("A day after joining, a welcome call: a task for an agent in the \"", kCareTeam,
                     "\" queue, not a message (rule \"welcome-call\")"));
  }

  struct Person {
    std::string key, name, locale, zone;
    std::string id;
  };

  void Members() {
    Step("Members enrol, with their language, time zone and marketing consent");
    people_ = {{"lan", "Nguyen Thi Lan", "vi", "Asia/Ho_Chi_Minh", ""},
               {"yuki", "Sato Yuki", "ja", "Asia/Tokyo", ""},
               {"emma", "Emma Brown", "en", "America/New_York", ""}};
    for (Person& p : people_) {
      lv1::EnrolMemberRequest req;
      req.set_request_id(Id("enrol-" + p.key));
      lv1::Member* m = req.mutable_member();
      m->set_member_id(Id(p.key));
      m->set_name(p.name);
      m->set_email(p.key + "@example.com");
      m->set_locale(p.locale);
      m->set_time_zone(p.zone);
      m->set_segment("retail");
      for (auto channel : {cv1::MESSAGE_CHANNEL_IN_APP, cv1::MESSAGE_CHANNEL_EMAIL}) {
        auto* c = m->add_marketing_consents();
        c->set_channel(channel);
        c->set_granted(p.key != "emma");  // Emma does not want marketing
      }
      lv1::Member out;
      Call("LoyaltyService.EnrolMember", [&](auto* ctx) { return loyalty_->EnrolMember(ctx, req, &out); });
      p.id = out.member_id();
      Say(absl::StrCat(p.name, " (", p.locale, ", ", p.zone, ") enrolled as ", out.tier().tier_id(),
                       p.key == "emma" ? "; declined marketing messages" : "; accepts marketing messages"));
    }
  }

  lv1::RecordPurchaseResponse Purchase(const Person& p, const std::string& order, int64_t amount) {
    lv1::RecordPurchaseRequest req;
    req.set_request_id(Id(order));
    req.set_member_id(p.id);
    req.set_order_id(Id(order));
    *req.mutable_amount() = Money(amount);
    lv1::RecordPurchaseResponse out;
    Call("LoyaltyService.RecordPurchase", [&](auto* ctx) { return loyalty_->RecordPurchase(ctx, req, &out); });
    return out;
  }

  void Purchases() {
    Step("Purchases earn points; crossing a threshold upgrades at once");
    const Person& lan = people_[0];
    auto first = Purchase(lan, "order-lan-1", 1500000);
    Say(absl::StrCat(lan.name, " buys for ", Vnd(1500000), ": +", first.points_earned(), " points, balance ",
                     first.points_balance(), ", tier ", first.tier().tier_id()));
    auto second = Purchase(lan, "order-lan-2", 3600000);
    Check(second.tier_changed() && second.tier().tier_id() == "gold", "the second purchase upgrades Lan to gold");
    Say(absl::StrCat("She buys for ", Vnd(3600000), ": +", second.points_earned(), " points, upgraded ",
                     second.previous_tier_id(), " -> ", second.tier().tier_id()));
    auto again = Purchase(lan, "order-lan-2", 3600000);
    Check(again.points_balance() == second.points_balance(), "a replayed order changes nothing");
    Say("Checkout retries the same order: the same answer, no points twice");

    const Person& yuki = people_[1];
    auto y = Purchase(yuki, "order-yuki-1", 2500000);
    Say(absl::StrCat(yuki.name, " buys for ", Vnd(2500000), ": tier ", y.tier().tier_id(), ", balance ",
                     y.points_balance()));
    const Person& emma = people_[2];
    auto e = Purchase(emma, "order-emma-1", 6000000);
    Say(absl::StrCat(emma.name, " buys for ", Vnd(6000000), ": tier ", e.tier().tier_id()));

    lv1::GetTierRequest get;
    get.set_member_id(lan.id);
    lv1::TierSnapshot tier;
    Call("LoyaltyService.GetTier", [&](auto* ctx) { return loyalty_->GetTier(ctx, get, &tier); });
    Check(tier.tier_id() == "gold", "GetTier returns gold right after the upgrade");
    Say("Every service now reads Lan's tier as gold through the Redis tier cache");
  }

  // ------------------------------------------------------------ promotion

  static pv1::DiscountValue Percent(int bps) {
    pv1::DiscountValue v;
    v.set_percent_off_bps(bps);
    return v;
  }

  // Silver saves 5%, gold 15% and ships free, from starts_ for a week, alerted in the app.
  pv1::Campaign TetWeek() const {
    pv1::Campaign c;
    c.set_display_name("Tet week for our members");
    c.set_description("Silver members save 5%, gold members 15% and ship for free");
    // Each member reads the alert in their language (issue 22, item 5).
    (*c.mutable_localized_display_names())["vi"] = "Tuần lễ Tết dành cho hội viên";
    (*c.mutable_localized_display_names())["ja"] = "会員様のテト週間";
    (*c.mutable_localized_descriptions())["vi"] = "Hạng Bạc giảm 5%, hạng Vàng giảm 15% và miễn phí giao hàng";
    (*c.mutable_localized_descriptions())["ja"] = "シルバー会員は5%、ゴールド会員は15%オフで送料無料";
    c.set_time_zone("Asia/Ho_Chi_Minh");
    c.set_currency_code("VND");
    *c.mutable_starts_at() = care::ToTimestamp(starts_);
    *c.mutable_ends_at() = care::ToTimestamp(starts_ + absl::Hours(24 * 7));
    c.mutable_audience()->add_tier_ids("silver");
    c.mutable_audience()->add_tier_ids("gold");
    pv1::Rule* rule = c.add_rules();
    rule->set_rule_id("tier-discount");
    pv1::TieredValue* value = rule->add_effects()->mutable_cart_discount()->mutable_value();
    (*value->mutable_tier_values())["silver"] = Percent(500);
    (*value->mutable_tier_values())["gold"] = Percent(1500);
    // Bonus points (issue 22): 20 per unit of lotus tea, credited by loyalty.
    pv1::BonusPoints* bonus = rule->add_effects()->mutable_bonus_points();
    bonus->set_points_per_unit(20);
    bonus->mutable_items()->add_skus("TEA-LOTUS");
    c.mutable_limits()->set_points_budget(100000);
    pv1::Rule* shipping = c.add_rules();
    shipping->set_rule_id("gold-ships-free");
    shipping->add_conditions()->mutable_customer_tier()->add_tier_ids("gold");
    shipping->add_effects()->mutable_free_shipping();
    c.mutable_alert()->add_channels(cv1::MESSAGE_CHANNEL_IN_APP);
    return c;
  }

  void Campaign() {
    Step("A campaign for silver and gold, announced three days ahead (seed 000)");
    campaign_id_ = Id("tet-week");
    starts_ = now_ + absl::Hours(72) + absl::Hours(1);
    pv1::Campaign c = TetWeek();
    pv1::CreateCampaignRequest create;
    create.set_request_id(Id("create-campaign"));
    create.set_campaign_id(campaign_id_);
    *create.mutable_campaign() = c;
    pv1::Campaign out;
    Call("PromotionService.CreateCampaign", [&](auto* ctx) { return promotion_->CreateCampaign(ctx, create, &out); });
    RefuseShortNotice(c);

    pv1::AnnounceCampaignRequest announce;
    announce.set_request_id(Id("announce"));
    announce.set_campaign_id(campaign_id_);
    Call("PromotionService.AnnounceCampaign",
         [&](auto* ctx) { return promotion_->AnnounceCampaign(ctx, announce, &out); });
    absl::Time due = care::FromTimestamp(out.alert_due_time());
    Say(absl::StrCat("'", out.display_name(), "' starts ", Local(starts_, "Asia/Ho_Chi_Minh"),
                     ": announced; alert due ", Local(due, "Asia/Ho_Chi_Minh")));

    nv1::ListSchedulesRequest list;
    list.set_campaign_id(campaign_id_);
    Eventually("the notification service holds the alert's schedule", [&] {
      nv1::ListSchedulesResponse r;
      if (!notification_->ListSchedules(Ctx().get(), list, &r).ok() || r.schedules().empty()) return false;
      Say(absl::StrCat("Notification holds schedule ", r.schedules(0).schedule_id(), ", due ",
                       absl::FormatTime("%Y-%m-%d %H:%M UTC", care::FromTimestamp(r.schedules(0).due_time()),
                                        absl::UTCTimeZone()),
                       " (handed over through promotion's outbox)"));
      return true;
    });

    Advance(due - now_ + absl::Minutes(1), "to the alert's due time");
    AlertsDelivered();
  }

  // `c` moved to start in 71 h: the service refuses to announce it (notice period).
  void RefuseShortNotice(const pv1::Campaign& c) {
    pv1::Campaign early = c;
    *early.mutable_starts_at() = care::ToTimestamp(now_ + absl::Hours(71));
    *early.mutable_ends_at() = care::ToTimestamp(now_ + absl::Hours(100));
    pv1::CreateCampaignRequest create_early;
    create_early.set_request_id(Id("create-early"));
    create_early.set_campaign_id(Id("too-soon"));
    *create_early.mutable_campaign() = early;
    pv1::Campaign out;
    Call("PromotionService.CreateCampaign",
         [&](auto* ctx) { return promotion_->CreateCampaign(ctx, create_early, &out); });
    pv1::AnnounceCampaignRequest announce_early;
    announce_early.set_request_id(Id("announce-early"));
    announce_early.set_campaign_id(Id("too-soon"));
    grpc::Status refused = promotion_->AnnounceCampaign(Ctx().get(), announce_early, &out);
    Check(refused.error_code() == grpc::StatusCode::FAILED_PRECONDITION, "a campaign 71 h away cannot be announced");
    Say(absl::StrCat("Announcing a campaign that starts in 71 h: refused, ",
                     care::ErrorReason(care::FromGrpcStatus(refused)), " (customers get three days' notice)"));
  }

  // At the due time the alert reaches every member who accepts marketing, and not Emma.
  void AlertsDelivered() {
    for (const Person& p : people_) {
      bool expect = p.key != "emma";  // Emma is gold but declined marketing
      nv1::ListInboxRequest inbox;
      inbox.set_member_id(p.id);
      if (expect) {
        Eventually("the alert in " + p.name + "'s inbox", [&] {
          nv1::ListInboxResponse r;
          if (!notification_->ListInbox(Ctx().get(), inbox, &r).ok()) return false;
          for (const auto& m : r.messages()) {
            if (m.kind() == nv1::MESSAGE_KIND_PROMOTION_ALERT) {
              Say(absl::StrCat(p.name, "'s inbox (", m.locale(), "): \"", m.subject(), "\""));
              Check(m.locale() == p.locale && !absl::StrContains(m.subject(), "Tet week"),
                    p.name + "'s alert is in their own language, title included");
              return true;
            }
          }
          return false;
        });
      }
    }
    nv1::ListInboxRequest emma;
    emma.set_member_id(people_[2].id);
    nv1::ListInboxResponse r;
    Call("NotificationService.ListInbox", [&](auto* ctx) { return notification_->ListInbox(ctx, emma, &r); });
    bool alerted = false;
    for (const auto& m : r.messages()) alerted |= m.kind() == nv1::MESSAGE_KIND_PROMOTION_ALERT;
    Check(!alerted, "Emma declined marketing and gets no alert");
    Say("Emma Brown declined marketing: no alert for her");
  }

  pv1::QuoteResponse QuoteFor(const Person& p) {
    pv1::QuoteRequest req;
    req.mutable_customer()->set_member_id(p.id);
    req.set_currency_code("VND");
    auto line = [&](const std::string& id, const std::string& sku, const std::string& category, int qty,
                    int64_t price) {
      pv1::CartLine* l = req.add_lines();
      l->set_line_id(id);
      l->set_sku(sku);
      l->set_category(category);
      l->set_quantity(qty);
      *l->mutable_unit_price() = Money(price);
    };
    line("1", "AO-DAI-RED", "apparel", 1, 1200000);
    line("2", "TEA-LOTUS", "food", 2, 150000);
    *req.mutable_shipping() = Money(30000);
    pv1::QuoteResponse out;
    Call("PromotionService.Quote", [&](auto* ctx) { return promotion_->Quote(ctx, req, &out); });
    return out;
  }

  void QuoteAndRedeem() {
    Step("Checkout: the same cart, quoted for each member's tier");
    Advance(starts_ - now_ + absl::Minutes(5), "to the campaign's start");
    const Person& lan = people_[0];
    const Person& yuki = people_[1];
    pv1::QuoteResponse gold = QuoteFor(lan);
    pv1::QuoteResponse silver = QuoteFor(yuki);
    for (const auto* q : {&gold, &silver}) {
      Say(absl::StrCat(q->customer().member_id() == lan.id ? lan.name : yuki.name, " (", q->customer().tier_id(),
                       "): subtotal ", Vnd(q->totals().subtotal().amount_minor()), ", discount ",
                       Vnd(q->totals().total_discount().amount_minor()), ", shipping ",
                       q->shipping().free_shipping() ? "free" : Vnd(q->totals().shipping_total().amount_minor()),
                       ", total ", Vnd(q->totals().total().amount_minor()), q->earns_points() ? ", earns points" : ""));
    }
    Check(gold.totals().total_discount().amount_minor() > silver.totals().total_discount().amount_minor(),
          "gold gets the larger discount");
    Check(gold.shipping().free_shipping() && !silver.shipping().free_shipping(), "only gold ships free");

    pv1::RedeemQuoteRequest redeem;
    redeem.set_order_id(Id("order-lan-3"));
    redeem.set_quote_token(gold.quote_token());
    pv1::Redemption redemption;
    Call("PromotionService.RedeemQuote", [&](auto* ctx) { return promotion_->RedeemQuote(ctx, redeem, &redemption); });
    Call("PromotionService.RedeemQuote (retry)",
         [&](auto* ctx) { return promotion_->RedeemQuote(ctx, redeem, &redemption); });
    Say(absl::StrCat("Lan places the order: redemption ", redemption.redemption_id(),
                     "; checkout's retry returns the same redemption, the budget is charged once"));

    lv1::RecordPurchaseRequest purchase;
    purchase.set_request_id(Id("order-lan-3"));
    purchase.set_member_id(lan.id);
    purchase.set_order_id(Id("order-lan-3"));
    *purchase.mutable_amount() = gold.totals().total();
    purchase.set_no_points(!gold.earns_points());
    purchase.add_campaign_ids(campaign_id_);
    purchase.set_promotion_redemption_id(redemption.redemption_id());
    lv1::RecordPurchaseResponse earned;
    Call("LoyaltyService.RecordPurchase", [&](auto* ctx) { return loyalty_->RecordPurchase(ctx, purchase, &earned); });
    // This run's campaign (an earlier run's may still be live beside it).
    int64_t bonus = -1;
    for (const auto& ac : redemption.campaigns()) {
      if (ac.campaign_id() == campaign_id_) bonus = ac.bonus_points();
    }
    Check(bonus == 40 && earned.campaign_bonus_points() == redemption.bonus_points(),
          "the campaign's 40 bonus points (2 lotus teas) are credited as the redemption carries them");
    Say(absl::StrCat("Loyalty records the purchase: +", earned.points_earned(), " points (gold x1.5, with ",
                     earned.campaign_bonus_points(), " campaign bonus points read from the redemption), balance ",
                     earned.points_balance()));
  }

  // Alert -> redemption conversion (issue 22): Lan was alerted in the app,
  // then redeemed; promotion's outbox told notification, which counts her once.
  void AlertConversion() {
    nv1::GetCampaignDeliveryStatsRequest req;
    req.set_campaign_id(campaign_id_);
    nv1::ChannelConversion in_app;
    Eventually("Lan's redemption counted as a conversion of the alert", [&] {
      nv1::CampaignDeliveryStats stats;
      if (!notification_->GetCampaignDeliveryStats(Ctx().get(), req, &stats).ok()) return false;
      for (const auto& c : stats.conversions()) {
        if (c.channel() == cv1::MESSAGE_CHANNEL_IN_APP) in_app = c;
      }
      return in_app.members_converted() > 0;
    });
    Check(in_app.members_converted() == 1, "Lan, alerted in the app, redeemed and is counted once");
    Say(absl::StrCat("Alert conversion in the app: ", in_app.members_converted(), " of ", in_app.members_alerted(),
                     " members alerted redeemed (", absl::StrFormat("%.0f%%", 100 * in_app.conversion_rate()),
                     "; carectl notification campaign-stats ", campaign_id_, ")"));
  }

  // A reward from the catalogue (issue 22): points buy a free item, once.
  void RedeemReward() {
    Step("Points buy a reward from the catalogue");
    const Person& lan = people_[0];
    lv1::CreateRewardRequest create;
    create.set_request_id(Id("reward-tea"));
    lv1::Reward* reward = create.mutable_reward();
    reward->set_reward_id(Id("lotus-tea"));
    reward->set_display_name("A box of lotus tea");
    (*reward->mutable_localized_display_names())["vi"] = "Một hộp trà sen";
    reward->set_points_price(100);
    reward->set_stock(20);
    reward->mutable_free_item()->set_sku("TEA-LOTUS");
    lv1::Reward created;
    Call("LoyaltyService.CreateReward", [&](auto* ctx) { return loyalty_->CreateReward(ctx, create, &created); });
    lv1::RedeemRewardRequest redeem;
    redeem.set_request_id(Id("redeem-tea"));
    redeem.set_member_id(lan.id);
    redeem.set_reward_id(created.reward_id());
    lv1::RewardRedemption first, again;
    Call("LoyaltyService.RedeemReward", [&](auto* ctx) { return loyalty_->RedeemReward(ctx, redeem, &first); });
    Call("LoyaltyService.RedeemReward (retry)", [&](auto* ctx) { return loyalty_->RedeemReward(ctx, redeem, &again); });
    Check(first.redemption_id() == again.redemption_id(), "a retried redemption is the same one");
    Check(first.state() == lv1::RewardRedemption::FULFILLED, "a free item is fulfilled at once");
    lv1::GetRewardRequest get;
    get.set_reward_id(created.reward_id());
    lv1::Reward after;
    Call("LoyaltyService.GetReward", [&](auto* ctx) { return loyalty_->GetReward(ctx, get, &after); });
    Check(after.stock() == 19, "one unit taken from the stock");
    Say(absl::StrCat(lan.name, " spends ", first.points(), " points on '", first.localized_reward_names().at("vi"),
                     "' (", first.reward_display_name(), "): ", lv1::RewardRedemption::State_Name(first.state()),
                     ", ledger entry ", first.entry_id(), ", stock 20 -> ", after.stock(),
                     "; the retry returns the same redemption"));
  }

  // ------------------------------------------------------------ complaint

  void Complaint() {
    Step("A complaint: special care for gold, an SLA breach escalates and alerts the team lead, goodwill, a survey");
    ComplaintRules();
    StaffDirectory();
    const Person& lan = people_[0];
    kv1::Complaint c = FileComplaint(lan);
    Escalation(c);
    Replies(c);
    Goodwill(lan, c);
    Survey(lan);
  }

  // Office hours, an SLA policy for gold and one for everyone else, and the phrases agents may not use.
  void ComplaintRules() {
    kv1::CreateBusinessCalendarRequest cal;
    cal.set_request_id(Id("calendar"));
    cal.mutable_calendar()->set_calendar_id(Id("hcm-office"));
    cal.mutable_calendar()->set_time_zone("Asia/Ho_Chi_Minh");
    for (int d = kv1::WEEKDAY_MONDAY; d <= kv1::WEEKDAY_SATURDAY; ++d) {
      kv1::BusinessHours* h = cal.mutable_calendar()->add_weekly_hours();
      h->set_day(static_cast<kv1::Weekday>(d));
      h->mutable_start()->set_hours(8);
      h->mutable_end()->set_hours(20);
    }
    kv1::BusinessCalendar calendar;
    Call("ComplaintService.CreateBusinessCalendar",
         [&](auto* ctx) { return complaint_->CreateBusinessCalendar(ctx, cal, &calendar); });
    RetireEarlierPolicies();
    for (auto [id, tier, hours] :
         {std::tuple<std::string, std::string, int>{"gold-care", "gold", 1}, {"standard", "", 4}}) {
      kv1::CreateSlaPolicyRequest p;
      p.set_request_id(Id("policy-" + id));
      p.mutable_policy()->set_sla_policy_id(Id(id));
      p.mutable_policy()->set_evaluation_order(tier.empty() ? 10 : 1);
      p.mutable_policy()->set_enabled(true);
      if (!tier.empty()) p.mutable_policy()->add_tier_ids(tier);
      *p.mutable_policy()->mutable_first_response_target() = care::ToDurationProto(absl::Hours(hours));
      *p.mutable_policy()->mutable_resolution_target() = care::ToDurationProto(absl::Hours(24));
      p.mutable_policy()->set_calendar_id(calendar.calendar_id());
      kv1::EscalationLevel* level = p.mutable_policy()->add_escalation_levels();
      level->set_level(1);
      level->set_target(kv1::SLA_TARGET_FIRST_RESPONSE);
      // The lead of the ticket's team first, before it leaves for the supervisors' queue.
      level->add_actions(kv1::ESCALATION_ACTION_NOTIFY_TEAM_LEAD);
      level->add_actions(kv1::ESCALATION_ACTION_RAISE_PRIORITY);
      level->add_actions(kv1::ESCALATION_ACTION_REASSIGN_TO_SUPERVISOR_QUEUE);
      level->set_supervisor_queue_team_id("supervisors");
      kv1::SlaPolicy policy;
      Call("ComplaintService.CreateSlaPolicy", [&](auto* ctx) { return complaint_->CreateSlaPolicy(ctx, p, &policy); });
    }
    kv1::PutForbiddenPhrasesRequest phrases;
    phrases.set_request_id(Id("phrases-vi"));
    phrases.mutable_list()->set_locale("vi");
    phrases.mutable_list()->add_phrases("không thể");
    phrases.mutable_list()->add_phrases("bình tĩnh");
    kv1::ForbiddenPhraseList list;
    Call("ComplaintService.PutForbiddenPhrases",
         [&](auto* ctx) { return complaint_->PutForbiddenPhrases(ctx, phrases, &list); });
    Say("Business hours Mon-Sat 08:00-20:00 in Ho Chi Minh City; gold members get a 1-hour first response,");
    Say("others 4 hours; a breach alerts the team's lead, raises the priority and moves the ticket to the");
    Say("supervisors' queue");
  }

  // Earlier runs' policies (same tiers, same evaluation order) are disabled,
  // so this run's decide the SLA even on the data of a demo older than it.
  void RetireEarlierPolicies() {
    kv1::ListSlaPoliciesRequest list;
    list.set_page_size(1000);
    kv1::ListSlaPoliciesResponse policies;
    Call("ComplaintService.ListSlaPolicies",
         [&](auto* ctx) { return complaint_->ListSlaPolicies(ctx, list, &policies); });
    for (const kv1::SlaPolicy& old : policies.policies()) {
      if (!old.enabled() || !absl::StartsWith(old.sla_policy_id(), "demo-") ||
          absl::StartsWith(old.sla_policy_id(), Id(""))) {
        continue;
      }
      kv1::UpdateSlaPolicyRequest off;
      off.set_request_id(Id("retire-" + old.sla_policy_id()));
      off.mutable_policy()->set_sla_policy_id(old.sla_policy_id());
      off.mutable_policy()->set_enabled(false);
      off.mutable_update_mask()->add_paths("enabled");
      kv1::SlaPolicy updated;
      Call("ComplaintService.UpdateSlaPolicy",
           [&](auto* ctx) { return complaint_->UpdateSlaPolicy(ctx, off, &updated); });
    }
  }

  // The delivery desk's lead, Hoa, gets staff alerts in Vietnamese through
  // the chat gateway: notification's webhook, here the demo's own receiver.
  void StaffDirectory() {
    Check(webhook_.port() > 0, "the demo's webhook receiver listens on a loopback port");
    nv1::UpdateSettingsRequest hook;
    hook.set_request_id(Id("webhook"));
    hook.mutable_settings()->mutable_webhook()->set_url(absl::StrCat("http://127.0.0.1:", webhook_.port(), "/chat"));
    hook.mutable_settings()->mutable_webhook()->set_signing_secret(Id("webhook-signing-secret-0123456789"));
    hook.mutable_update_mask()->add_paths("webhook.url");
    hook.mutable_update_mask()->add_paths("webhook.signing_secret");
    nv1::Settings settings;
    Call("NotificationService.UpdateSettings",
         [&](auto* ctx) { return notification_->UpdateSettings(ctx, hook, &settings); });
    kv1::UpdateComplaintSettingsRequest desk;
    desk.set_request_id(Id("staff"));
    kv1::TeamSettings* team = desk.mutable_settings()->add_teams();
    team->set_team_id(kDeliveryDesk);
    team->set_display_name("Delivery desk");
    team->set_lead_agent_id(kDeliveryLead);
    kv1::StaffMember* lead = desk.mutable_settings()->add_staff();
    lead->set_agent_id(kDeliveryLead);
    lead->set_display_name("Pham Thu Hoa");
    lead->set_team_id(kDeliveryDesk);
    lead->set_locale("vi");
    lead->set_time_zone("Asia/Ho_Chi_Minh");
    lead->set_alert_channel(cv1::MESSAGE_CHANNEL_WEBHOOK);
    lead->set_webhook_address("chat:hoa");
    desk.mutable_update_mask()->add_paths("teams");
    desk.mutable_update_mask()->add_paths("staff");
    kv1::ComplaintSettings out;
    Call("ComplaintService.UpdateComplaintSettings",
         [&](auto* ctx) { return complaint_->UpdateComplaintSettings(ctx, desk, &out); });
    Say(absl::StrCat("Staff directory: Pham Thu Hoa leads the delivery desk; her alerts go to her chat (webhook to ",
                     "127.0.0.1:", webhook_.port(), ", the demo's stand-in for the chat gateway), in Vietnamese"));
  }

  // The webhook posts to the delivery desk's lead about complaint `id`.
  std::vector<std::string> LeadAlerts(const std::string& id) {
    std::vector<std::string> out;
    for (std::string& body : webhook_.Bodies()) {
      if (absl::StrContains(body, absl::StrCat("\"staff_id\":\"", kDeliveryLead, "\"")) &&
          absl::StrContains(body, id)) {
        out.push_back(std::move(body));
      }
    }
    return out;
  }

  kv1::Complaint FileComplaint(const Person& lan) {
    kv1::CreateComplaintRequest file;
    file.set_request_id(Id("complaint"));
    file.set_member_id(lan.id);
    file.set_channel(kv1::CHANNEL_CHAT);
    file.set_category(kv1::CATEGORY_DELIVERY);
    file.set_order_id(Id("order-lan-3"));
    file.set_team_id(kDeliveryDesk);
    file.set_description("Áo dài giao bị rách");
    file.set_locale("vi");
    kv1::CreateComplaintResponse filed;
    Call("ComplaintService.CreateComplaint", [&](auto* ctx) { return complaint_->CreateComplaint(ctx, file, &filed); });
    const kv1::Complaint& c = filed.complaint();
    complaint_id_ = c.complaint_id();
    Say(absl::StrCat(lan.name, " complains over chat: ", c.complaint_id(), ", tier ", c.tier().tier_id(), ", priority ",
                     kv1::Priority_Name(c.priority()), ", first response due ",
                     Local(care::FromTimestamp(c.first_response_sla().due_time()), "Asia/Ho_Chi_Minh")));
    return c;
  }

  // Two hours without an answer breach the first response: the SLA job escalates once.
  void Escalation(const kv1::Complaint& c) {
    Advance(absl::Hours(2), "nobody answered");
    kv1::GetComplaintRequest get;
    get.set_complaint_id(c.complaint_id());
    kv1::Complaint escalated;
    Eventually("the SLA job escalates the ticket", [&] {
      return complaint_->GetComplaint(Ctx().get(), get, &escalated).ok() && escalated.escalations_size() == 1;
    });
    Check(escalated.first_response_sla().breached(), "the first response is breached");
    Say(absl::StrCat("First response breached; escalated once: priority ", kv1::Priority_Name(escalated.priority()),
                     ", team ", escalated.team_id()));
    Check(escalated.escalations(0).notified_agent_id() == kDeliveryLead, "the escalation names the team lead");
    Eventually("the team lead's alert at the chat gateway", [&] { return !LeadAlerts(c.complaint_id()).empty(); });
    Advance(absl::Minutes(1), "the SLA job runs again");
    absl::SleepFor(absl::Seconds(2));
    const std::vector<std::string> alerts = LeadAlerts(c.complaint_id());
    Check(alerts.size() == 1, "the team lead is alerted once");
    Check(absl::StrContains(alerts[0], "MESSAGE_KIND_STAFF_ESCALATION"), "the alert is an escalation");
    Check(absl::StrContains(alerts[0], "\"locale\":\"vi\""), "the alert is in the lead's language");
    Say("Hoa's chat gets the escalation once (MESSAGE_KIND_STAFF_ESCALATION, in Vietnamese); the job's");
    Say("later runs send nothing more");
  }

  // A draft with forbidden phrases is refused; the apology goes out.
  void Replies(const kv1::Complaint& c) {
    kv1::ReplyToComplaintRequest reply;
    reply.set_request_id(Id("reply-rude"));
    reply.set_complaint_id(c.complaint_id());
    reply.set_text("Chị BÌNH TĨNH, chúng tôi không thể làm gì hơn");
    kv1::ReplyToComplaintResponse replied;
    grpc::Status refused = complaint_->ReplyToComplaint(Ctx().get(), reply, &replied);
    Check(refused.error_code() == grpc::StatusCode::INVALID_ARGUMENT, "a reply with forbidden phrases is refused");
    Say(absl::StrCat("An agent's draft is refused, ", care::ErrorReason(care::FromGrpcStatus(refused)), ": ",
                     absl::StrReplaceAll(care::ErrorMetadataValue(care::FromGrpcStatus(refused), "phrases"),
                                         {{"\n", ", "}}),
                     " (nothing stored or sent)"));
    reply.set_request_id(Id("reply"));
    reply.set_text("Xin lỗi chị, chúng tôi sẽ đổi áo mới ngay hôm nay");
    *reply.mutable_consultation_time() = care::ToDurationProto(absl::Minutes(6));
    Call("ComplaintService.ReplyToComplaint",
         [&](auto* ctx) { return complaint_->ReplyToComplaint(ctx, reply, &replied); });
    Say("The agent's apology goes out through the notification service");
  }

  // Resolving with 200 goodwill points adds them to loyalty's balance, once.
  void Goodwill(const Person& lan, const kv1::Complaint& c) {
    lv1::GetBalanceRequest balance_req;
    balance_req.set_member_id(lan.id);
    lv1::PointsBalance before;
    Call("LoyaltyService.GetBalance", [&](auto* ctx) { return loyalty_->GetBalance(ctx, balance_req, &before); });
    kv1::ResolveComplaintRequest resolve;
    resolve.set_request_id(Id("resolve"));
    resolve.set_complaint_id(c.complaint_id());
    resolve.set_resolution_summary("Đã đổi áo mới và tặng 200 điểm");
    resolve.mutable_compensation()->set_points(200);
    resolve.mutable_compensation()->set_reason_code("DAMAGED_ITEM");
    kv1::ResolveComplaintResponse resolved;
    Call("ComplaintService.ResolveComplaint",
         [&](auto* ctx) { return complaint_->ResolveComplaint(ctx, resolve, &resolved); });
    Eventually("the goodwill points in loyalty", [&] {
      lv1::PointsBalance now;
      return loyalty_->GetBalance(Ctx().get(), balance_req, &now).ok() && now.balance() == before.balance() + 200;
    });
    Say(absl::StrCat("Resolved with 200 goodwill points: loyalty's balance ", before.balance(), " -> ",
                     before.balance() + 200, " (AdjustPoints through the outbox, exactly once)"));
  }

  // The survey invitation arrives in the inbox; it takes one answer, not two.
  void Survey(const Person& lan) {
    nv1::ListInboxRequest inbox;
    inbox.set_member_id(lan.id);
    std::string token;
    Eventually("the survey invitation in Lan's inbox", [&] {
      nv1::ListInboxResponse r;
      if (!notification_->ListInbox(Ctx().get(), inbox, &r).ok()) return false;
      for (const auto& m : r.messages()) {
        if (m.kind() == nv1::MESSAGE_KIND_SATISFACTION_SURVEY) token = m.attributes().at("survey_token");
      }
      return !token.empty();
    });
    kv1::SubmitSurveyResponseRequest answer;
    answer.set_request_id(Id("survey"));
    answer.set_survey_token(token);
    answer.set_score(5);
    answer.set_comment("Cảm ơn!");
    kv1::SurveyResponse answered;
    Call("ComplaintService.SubmitSurveyResponse",
         [&](auto* ctx) { return complaint_->SubmitSurveyResponse(ctx, answer, &answered); });
    answer.set_request_id(Id("survey-again"));
    grpc::Status twice = complaint_->SubmitSurveyResponse(Ctx().get(), answer, &answered);
    Check(twice.error_code() == grpc::StatusCode::ALREADY_EXISTS, "a survey is answered once");
    Say("Lan answers the survey from her inbox: 5/5; a second answer is refused (ALREADY_EXISTS)");
  }

  // A prospect without membership asks before buying (seeds 002, 003): the
  // desk files an inquiry for the contact; when she enrols, it follows her.
  void Inquiry() {
    Step("An inquiry from a prospect who is not a member yet; she enrols and her ticket follows her");
    kv1::CreateContactRequest add;
    add.set_request_id(Id("contact-minh"));
    kv1::Contact* who = add.mutable_contact();
    who->set_display_name("Tran Thi Minh");
    who->set_email(Id("minh") + "@example.com");
    who->set_locale("vi");
    who->set_time_zone("Asia/Ho_Chi_Minh");
    who->set_channel(cv1::MESSAGE_CHANNEL_EMAIL);
    who->mutable_prospect()->set_source("web-inquiry");
    who->mutable_prospect()->add_interests("ao-dai");
    kv1::Contact contact;
    Call("ComplaintService.CreateContact", [&](auto* ctx) { return complaint_->CreateContact(ctx, add, &contact); });
    kv1::CreateComplaintRequest ask;
    ask.set_request_id(Id("inquiry-minh"));
    ask.set_kind(kv1::TICKET_KIND_INQUIRY);
    ask.set_contact_id(contact.contact_id());
    ask.set_channel(kv1::CHANNEL_WEB);
    ask.set_category(kv1::CATEGORY_PRODUCT);
    ask.set_description("Áo dài size M còn màu đỏ không?");
    ask.set_locale("vi");
    kv1::CreateComplaintResponse asked;
    Call("ComplaintService.CreateComplaint", [&](auto* ctx) { return complaint_->CreateComplaint(ctx, ask, &asked); });
    Check(asked.complaint().member_id().empty(), "an inquiry from a contact names no member");
    Say(absl::StrCat(who->display_name(), " (prospect from ", who->prospect().source(),
                     ") asks over the web form: ", asked.complaint().complaint_id(), ", kind INQUIRY, no membership"));

    lv1::EnrolMemberRequest enrol;
    enrol.set_request_id(Id("enrol-minh"));
    enrol.mutable_member()->set_member_id(Id("minh"));
    enrol.mutable_member()->set_name(who->display_name());
    enrol.mutable_member()->set_email(who->email());
    enrol.mutable_member()->set_locale("vi");
    lv1::Member member;
    Call("LoyaltyService.EnrolMember", [&](auto* ctx) { return loyalty_->EnrolMember(ctx, enrol, &member); });
    kv1::GetComplaintRequest get;
    get.set_complaint_id(asked.complaint().complaint_id());
    Eventually("the inquiry linked to the new member", [&] {
      kv1::Complaint now;
      return complaint_->GetComplaint(Ctx().get(), get, &now).ok() && now.member_id() == member.member_id();
    });
    Say(absl::StrCat("She enrols with the same e-mail as ", member.member_id(),
                     ": loyalty tells the desk, and her inquiry now belongs to the member"));
  }

  // The member's check-in tickets (one per cadence rule and period).
  kv1::ListComplaintsResponse CheckInsOf(const std::string& member_id, int want) {
    kv1::ListComplaintsRequest list;
    list.add_kinds(kv1::TICKET_KIND_CARE_CHECK_IN);
    list.set_member_id(member_id);
    kv1::ListComplaintsResponse tasks;
    Eventually(
        "the welcome call for " + member_id,
        [&] { return complaint_->ListComplaints(Ctx().get(), list, &tasks).ok() && tasks.complaints_size() >= want; },
        absl::Seconds(40));
    Check(tasks.complaints_size() == want, "one welcome call per member");
    return tasks;
  }

  // The cadence's welcome call (rule "welcome-call", AGENT_TASK): a day after
  // joining, each member has one check-in ticket in the care team's queue,
  // named in their language, under the SLA like any ticket; they were sent
  // nothing.
  void CheckInTasks() {
    Step("Care cadence: a welcome call a day after joining, a task in the care team's queue");
    for (const Person& p : people_) {
      const kv1::Complaint task = CheckInsOf(p.id, 1).complaints(0);
      Say(absl::StrCat(p.name, " (joined days ago): ", task.complaint_id(), " \"", task.subject(), "\""));
    }
    Advance(absl::Hours(24), "a day after Minh joined");
    const kv1::Complaint task = CheckInsOf(Id("minh"), 1).complaints(0);
    Check(task.team_id() == kCareTeam && task.assignee_agent_id().empty(),
          "the welcome call waits in the care team's queue, unassigned");
    Check(task.first_response_sla().has_due_time(), "the welcome call follows the SLA policy that matches");
    Say(absl::StrCat("Tran Thi Minh: ", task.complaint_id(), " \"", task.subject(), "\", kind ",
                     kv1::TicketKind_Name(task.kind()).substr(12), ", team ", task.team_id(),
                     ", unassigned, first response due ",
                     Local(care::FromTimestamp(task.first_response_sla().due_time()), "Asia/Ho_Chi_Minh")));
    Say("Loyalty filed them through its outbox (one per member and rule, whatever the retries). A task is not");
    Say("marketing: Emma, who declined marketing, gets her call too; the agent decides how to reach out");
  }

  pv1::CampaignReport Report() {
    pv1::GetCampaignReportRequest req;
    req.set_campaign_id(campaign_id_);
    pv1::CampaignReport r;
    Call("PromotionService.GetCampaignReport", [&](auto* ctx) { return promotion_->GetCampaignReport(ctx, req, &r); });
    return r;
  }

  // One lotus tea of Lan's order comes back (issue 22): promotion gives the
  // campaign's points budget back the share of the bonus the returned value
  // carried, and loyalty takes back the points the refund carried.
  void PartialReturn() {
    Step("A partial return: one of Lan's two lotus teas comes back");
    const Person& lan = people_[0];
    const pv1::CampaignReport before = Report();
    pv1::ReturnRedemptionRequest ret;
    ret.set_request_id(Id("return-tea"));
    ret.set_order_id(Id("order-lan-3"));
    ret.set_return_id(Id("return-tea"));
    pv1::ReturnLine* line = ret.add_lines();
    line->set_line_id("2");
    line->set_quantity(1);
    pv1::ReturnRedemptionResponse returned;
    Call("PromotionService.ReturnRedemption",
         [&](auto* ctx) { return promotion_->ReturnRedemption(ctx, ret, &returned); });
    // This run's campaign (an earlier run's may have applied beside it).
    int64_t points_back = 0, bonus = 0;
    for (const auto& ac : returned.redemption().campaigns()) {
      if (ac.campaign_id() != campaign_id_) continue;
      points_back = ac.bonus_points_released();
      bonus = ac.bonus_points();
    }
    Check(points_back > 0 && before.points_given() - Report().points_given() == points_back,
          "the return gives the campaign's points budget back its share of the bonus");
    int64_t refund = 0;
    for (const auto& l : returned.redemption().lines()) {
      if (l.line().line_id() == "2") refund = l.line().total().amount_minor() / l.line().quantity();
    }
    lv1::RecordReturnRequest back;
    back.set_return_id(Id("return-tea"));
    back.set_order_id(Id("order-lan-3"));
    back.set_member_id(lan.id);
    back.set_kind(lv1::RETURN_KIND_PARTIAL);
    *back.mutable_returned_amount() = Money(refund);
    lv1::RecordReturnResponse reversed;
    Call("LoyaltyService.RecordReturn", [&](auto* ctx) { return loyalty_->RecordReturn(ctx, back, &reversed); });
    Check(reversed.points_reversed() > 0, "loyalty takes back the points the refund carried");
    points_reversed_ = reversed.points_reversed();
    Say(absl::StrCat("Promotion: ", Vnd(returned.return_record().discount_on_returned_units().amount_minor()),
                     " of discount rode on the tea (deducted from the refund), ",
                     Vnd(returned.return_record().discount_released().amount_minor()),
                     " back to the campaigns' budgets, and ", points_back, " of the campaign's ", bonus,
                     " bonus points back to its points budget"));
    Say(absl::StrCat("Loyalty: refund ", Vnd(refund), ", ", reversed.points_reversed(), " points taken back, balance ",
                     reversed.points_balance(),
                     reversed.tier_changed() ? ", tier now " + reversed.tier().tier_id() : ""));
  }

  static lv1::LocalDate DateOf(absl::Time t) {
    absl::TimeZone hanoi;
    if (!absl::LoadTimeZone("Asia/Ho_Chi_Minh", &hanoi)) hanoi = absl::UTCTimeZone();
    const absl::CivilDay d = absl::ToCivilDay(t, hanoi);
    lv1::LocalDate out;
    out.set_year(static_cast<int32_t>(d.year()));
    out.set_month(d.month());
    out.set_day(d.day());
    return out;
  }

  // Seed 003 "measure and adjust policies": the program's figures over this
  // run's days, answered from loyalty's daily rollups (issue 22, item 8).
  void Measure() {
    Step("Measuring the policy: the program's figures over the demo's days");
    lv1::GetLoyaltyAnalyticsRequest req;
    *req.mutable_start_date() = DateOf(started_);
    *req.mutable_end_date() = DateOf(now_);
    req.set_granularity(lv1::GetLoyaltyAnalyticsRequest::MONTH);
    lv1::LoyaltyAnalytics a;
    Call("LoyaltyService.GetLoyaltyAnalytics", [&](auto* ctx) { return loyalty_->GetLoyaltyAnalytics(ctx, req, &a); });
    Check(a.periods_size() > 0, "the analytics cover the demo's days");
    int64_t purchases = 0, issued = 0, redeemed = 0, reversed = 0, enrolled = 0;
    for (const auto& period : a.periods()) {
      purchases += period.purchases();
      issued += period.points().issued();
      redeemed += period.points().redeemed();
      reversed += period.points().reversed();
      enrolled += period.enrolled();
    }
    const lv1::AnalyticsPeriod& last = a.periods(a.periods_size() - 1);
    Check(enrolled >= static_cast<int64_t>(people_.size()) && purchases > 0 && reversed >= points_reversed_ &&
              redeemed > 0 && last.has_outstanding_liability(),
          "the figures count this run's members, purchases, the reward's points and the return");
    Say(absl::StrCat(enrolled, " members joined, ", purchases, " purchases; points issued ", issued, ", redeemed ",
                     redeemed, ", taken back by returns ", reversed));
    Say(absl::StrCat("Now: ", last.members(), " members, active ", last.active_rate_bps() / 100, "%, repeat ",
                     last.repeat_rate_bps() / 100, "%; ", last.outstanding_points(),
                     " points outstanding, a liability of ", Vnd(last.outstanding_liability().amount_minor())));
    for (const auto& tier : last.tiers()) {
      Say(absl::StrCat("  ", tier.tier_id(), ": ", tier.members(), " members, ", tier.upgraded_in(), " upgraded in"));
    }
  }

  void Inboxes() {
    Step("The members' inboxes at the end");
    for (const Person& p : people_) {
      nv1::ListInboxRequest inbox;
      inbox.set_member_id(p.id);
      nv1::ListInboxResponse r;
      Call("NotificationService.ListInbox", [&](auto* ctx) { return notification_->ListInbox(ctx, inbox, &r); });
      Say(absl::StrCat(p.name, ": ", r.messages_size(), " message(s)"));
      for (const auto& m : r.messages()) {
        Say(absl::StrCat("  - [", nv1::MessageKind_Name(m.kind()).substr(13), "] ", m.subject()));
      }
    }
  }

  std::string token_;
  care::demo::WebhookSink webhook_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::unique_ptr<lv1::LoyaltyService::Stub> loyalty_;
  std::unique_ptr<pv1::PromotionService::Stub> promotion_;
  std::unique_ptr<kv1::ComplaintService::Stub> complaint_;
  std::unique_ptr<nv1::NotificationService::Stub> notification_;
  std::string run_;
  absl::Time now_;
  int step_ = 0;
  std::vector<Person> people_;
  std::string campaign_id_;
  std::string complaint_id_;
  absl::Time starts_;
  absl::Time started_;           // the suite time the demo began at
  int64_t points_reversed_ = 0;  // by the partial return
};

}  // namespace

int main(int argc, char** argv) {
  care::ConfigReader config(argc, argv, "care_demo: the suite's main job, narrated, through the generated clients");
  Targets t;
  t.loyalty = config.Target("loyalty", "host:port of care_loyalty");
  t.promotion = config.Target("promotion", "host:port of care_promotion");
  t.complaint = config.Target("complaint", "host:port of care_complaint");
  t.notification = config.Target("notification", "host:port of care_notification");
  t.token = config.String("token", "", "bearer token with every role");
  if (t.token.empty()) config.AddError("token is required");
  for (const std::string* s : {&t.loyalty, &t.promotion, &t.complaint, &t.notification}) {
    if (s->empty()) config.AddError("--loyalty, --promotion, --complaint and --notification are required");
  }
  config.Finish();
  try {
    Demo(t).Run();
  } catch (const DemoFailure& f) {
    std::fprintf(stderr, "\nDEMO FAILED: %s\n", f.what.c_str());
    return 1;
  }
  return 0;
}
