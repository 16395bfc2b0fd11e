#pragma once

// Shared set-up of the promotion integration tests: the real care_loyalty
// (tiers, written through to the Redis tier cache) and care_promotion
// binaries under fake clocks, a private redis-server, and optionally the real
// care_notification. Tests talk to the binaries only through generated stubs.

#include <string>
#include <vector>

#include "care/promotion/v1/promotion.grpc.pb.h"
#include "tests/integration/loyalty_fixture.h"

namespace care::testing {

namespace pv1 = ::care::promotion::v1;

constexpr char kPromotionHealth[] = "care.promotion.v1.PromotionService";
constexpr char kNotificationHealthName[] = "care.notification.v1.NotificationService";

class PromotionTest : public LoyaltyTest {
 protected:
  void SetUp() override {
    LoyaltyTest::SetUp();
    if (HasFatalFailure()) return;
    Configure();
  }

  // Starts care_promotion; `notification` = its --notification_target ("" =
  // none).
  void StartPromotion(const std::string& notification = "", std::vector<std::string> extra = {}) {
    WriteQuoteKeys(quote_keys_);
    promo_ = std::make_unique<ServiceProcess>(CARE_PROMOTION_BIN, kPromotionHealth,
                                              PromotionArgs(notification, std::move(extra)), tokens_);
    absl::Status started = promo_->Start();
    ASSERT_TRUE(started.ok()) << started;
    pstub_ = pv1::PromotionService::NewStub(promo_->channel());
    pclock_ = care::common::v1::ClockControl::NewStub(promo_->channel());
    if (promo_start_time_ != absl::InfinitePast()) SetPromoTime(promo_start_time_);
  }

  // care_promotion's flags: this test's Redis, loyalty and quote keys.
  std::vector<std::string> PromotionArgs(const std::string& notification, std::vector<std::string> extra) {
    std::vector<std::string> args{"--fake_clock",
                                  "--redis_port=" + std::to_string(redis_.port()),
                                  "--loyalty_target=" + service_->address(),
                                  "--service_token_file=" + dir_.path() + "/promotion_token",
                                  "--quote_token_secret_file=" + dir_.path() + "/quote_secret",
                                  "--outbox_interval=50ms",
                                  "--log_level=warn"};
    if (!notification.empty()) args.push_back("--notification_target=" + notification);
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  // Writes the --quote_token_secret_file (`<key_id> <key>` per line).
  void WriteQuoteKeys(const std::string& text) {
    std::ofstream(dir_.path() + "/quote_secret", std::ios::trunc) << text;
  }

  // Restarts care_promotion on its own data with the same flags (and the key
  // file as it is now), its clock set again. Pass a short --drain_deadline
  // to StartPromotion: the restart waits for the drain.
  void RestartPromotion() {
    pstub_.reset();
    pclock_.reset();
    absl::Status restarted = promo_->Restart();
    ASSERT_TRUE(restarted.ok()) << restarted;
    pstub_ = pv1::PromotionService::NewStub(promo_->channel());
    pclock_ = care::common::v1::ClockControl::NewStub(promo_->channel());
    if (promo_start_time_ != absl::InfinitePast()) SetPromoTime(promo_start_time_);
  }

  void SetPromoTime(absl::Time t) {
    care::common::v1::SetTimeRequest req;
    *req.mutable_time() = ToTimestamp(t);
    care::common::v1::GetTimeResponse r;
    grpc::Status s = pclock_->SetTime(Ctx(admin()).get(), req, &r);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  pv1::PromotionService::Stub& promo() { return *pstub_; }

  // ------------------------------------------------------------ campaigns
  // A cart-wide stackable campaign in USD, UTC, over [starts, starts + 30d).
  static pv1::Campaign BaseCampaign(absl::Time starts) {
    pv1::Campaign c;
    c.set_display_name("Spring sale");
    c.set_description("Spring sale for members");
    c.set_time_zone("UTC");
    c.set_currency_code("USD");
    *c.mutable_starts_at() = ToTimestamp(starts);
    *c.mutable_ends_at() = ToTimestamp(starts + absl::Hours(24 * 30));
    return c;
  }

  static pv1::DiscountValue Percent(int bps) {
    pv1::DiscountValue v;
    v.set_percent_off_bps(bps);
    return v;
  }

  // 20% off for gold, 10% for silver, nothing for others, already started;
  // the tier's own discount does not stack with it.
  pv1::Campaign TierCampaign() {
    pv1::Campaign c = BaseCampaign(Base());
    c.clear_starts_at();
    c.mutable_rights()->set_tier_discount_applies(false);
    auto* value = c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value();
    (*value->mutable_tier_values())["gold"] = Percent(2000);
    (*value->mutable_tier_values())["silver"] = Percent(1000);
    return c;
  }

  grpc::Status Create(const std::string& id, const pv1::Campaign& c, pv1::Campaign* out) {
    pv1::CreateCampaignRequest req;
    req.set_request_id("create-" + id);
    req.set_campaign_id(id);
    *req.mutable_campaign() = c;
    return promo().CreateCampaign(Ctx(admin()).get(), req, out);
  }

  grpc::Status Announce(const std::string& id, bool short_notice, pv1::Campaign* out) {
    pv1::AnnounceCampaignRequest req;
    req.set_request_id(absl::StrCat("announce-", id, "-", ++counter_));
    req.set_campaign_id(id);
    req.set_allow_short_notice(short_notice);
    return promo().AnnounceCampaign(Ctx(admin()).get(), req, out);
  }

  // Creates and announces (short notice) a campaign already running at Base().
  pv1::Campaign Live(const std::string& id, pv1::Campaign c) {
    if (!c.has_starts_at()) {
      *c.mutable_starts_at() = ToTimestamp(Base() - absl::Hours(1));
      *c.mutable_ends_at() = ToTimestamp(Base() + absl::Hours(24 * 30));
    }
    pv1::Campaign out;
    grpc::Status s = Create(id, c, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    s = Announce(id, true, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  // ---------------------------------------------------------------- quotes
  static pv1::CartLine CartLine(const std::string& id, const std::string& sku, const std::string& category, int qty,
                                int64_t unit) {
    pv1::CartLine l;
    l.set_line_id(id);
    l.set_sku(sku);
    l.set_category(category);
    l.set_quantity(qty);
    *l.mutable_unit_price() = Usd(unit);
    return l;
  }

  static pv1::QuoteRequest Cart(const std::string& member_id, const std::vector<pv1::CartLine>& lines,
                                int64_t shipping = 0) {
    pv1::QuoteRequest req;
    if (member_id.empty()) {
      req.mutable_customer()->mutable_guest()->set_guest_key("guest-1");
    } else {
      req.mutable_customer()->set_member_id(member_id);
    }
    req.set_currency_code("USD");
    for (const auto& l : lines) *req.add_lines() = l;
    if (shipping > 0) *req.mutable_shipping() = Usd(shipping);
    return req;
  }

  pv1::QuoteResponse Quote(const pv1::QuoteRequest& req) {
    pv1::QuoteResponse out;
    grpc::Status s = promo().Quote(Ctx(svc()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  grpc::Status Redeem(const std::string& order_id, const std::string& token, pv1::Redemption* out) {
    pv1::RedeemQuoteRequest req;
    req.set_order_id(order_id);
    req.set_quote_token(token);
    // A hot budget or usage row may answer ABORTED: retried like a client.
    return RetryAborted([&](int) { return promo().RedeemQuote(Ctx(svc()).get(), req, out); });
  }

  pv1::CampaignReport Report(const std::string& id) {
    pv1::GetCampaignReportRequest req;
    req.set_campaign_id(id);
    pv1::CampaignReport out;
    grpc::Status s = promo().GetCampaignReport(Ctx(admin()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  static bool Applied(const pv1::QuoteResponse& q, const std::string& id) {
    for (const auto& a : q.applied_campaigns()) {
      if (a.campaign_id() == id) return true;
    }
    return false;
  }
  static pv1::RejectionReason Rejection(const pv1::QuoteResponse& q, const std::string& id) {
    for (const auto& r : q.rejected_campaigns()) {
      if (r.campaign_id() == id) return r.reason();
    }
    return pv1::REJECTION_REASON_UNSPECIFIED;
  }

  // Makes `member_id` a member of `tier` ("silver" or "gold") by spending.
  void MakeTier(const std::string& member_id, const std::string& tier) {
    Enrol(member_id);
    Purchase(member_id, "seed-" + member_id + "-" + tier, tier == "gold" ? 500000 : 100000);
    ASSERT_EQ(GetTier(member_id).tier_id(), tier);
  }

  // Where the promotion clock is set at start; InfinitePast = leave it at
  // the real time, where a fresh fake clock starts (tests whose peer starts
  // later, with its own fresh fake clock).
  absl::Time promo_start_time_ = Base();
  // What StartPromotion writes to the quote key file.
  std::string quote_keys_ = "test-1 test-quote-secret-0123456789abcdef0123456789\n";
  std::unique_ptr<ServiceProcess> promo_;
  std::unique_ptr<pv1::PromotionService::Stub> pstub_;
  std::unique_ptr<care::common::v1::ClockControl::Stub> pclock_;
};

// A PromotionTest whose loyalty calls promotion (campaign bonus points,
// reward vouchers): loyalty knows the port before promotion listens there.
class LinkedPromotionTest : public PromotionTest {
 protected:
  std::vector<std::string> ExtraArgs() override {
    return {"--promotion_target=127.0.0.1:" + std::to_string(promotion_port_)};
  }

  void SetUp() override {
    PromotionTest::SetUp();
    if (HasFatalFailure()) return;
    StartPromotion("", {"--port=" + std::to_string(promotion_port_)});
  }

  int promotion_port_ = FreePort();
};

}  // namespace care::testing
