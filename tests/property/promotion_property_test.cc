// Model-based property test of promotion's money paths, through the
// generated client against the real care_promotion and care_loyalty
// binaries (fake clocks, private redis, SQLite files). A seeded generator
// issues Quote, RedeemQuote, ReturnRedemption, CancelRedemption,
// UpdateCampaign, CancelCampaign, GenerateVouchers and IssueVoucher (used
// through quotes), clock moves that expire quotes, retries of the same key
// (after the first answer and concurrently) and concurrent batches; after
// every step the service's own reads (GetCampaignReport, GetRedemption,
// GetVoucher, GetCampaign, quotes) are checked against a small model:
//   - budget given + budget left = budget, 0 <= given <= budget, and given is
//     what the live redemptions hold (exactly, once nothing is partially
//     returned; in bounds otherwise; summed over campaigns, exactly);
//   - bonus points: points given is exactly what the redemptions hold (their
//     bonus less what returns and cancels gave back), within points_budget;
//     a return gives back the returned share of the order's value, and the
//     last unit or a cancel the rest, never more;
//   - redemption counts, per-customer counts and voucher uses in [0, limit]
//     and equal to what the model's live redemptions hold;
//   - each unit released at most once: a redemption releases in total at
//     most what it held, everything when cancelled or fully returned, and a
//     fully returned one is left unchanged by a cancel;
//   - no request applied twice: a retry returns the first answer and
//     changes nothing;
//   - one quote token pays for one order (redemption ids unique per order);
//   - RedeemQuote succeeds exactly when the model's limits allow it;
//   - a quote never applies a cancelled campaign or an old version, never
//     gives more than the budget left / the per-order cap, and its totals
//     add up, non-negative, within the money bound (or the cart is refused
//     INVALID_ARGUMENT).
#include <algorithm>
#include <map>
#include <thread>

#include "absl/strings/str_join.h"
#include "common/bounds.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/integration/promotion_fixture.h"
#include "tests/property/property_support.h"

namespace care::testing {
namespace {

using google::protobuf::util::MessageDifferencer;
using property::PropertyRun;
using property::Rng;
using property::St;

constexpr int kDefaultSteps = 3000;

enum Kind { kCartPercent, kItemAmount, kVoucherCart };

struct CampaignModel {
  std::string id;
  Kind kind;
  int64_t version = 0;
  bool cancelled = false;
  int64_t max_redemptions = 0;
  int64_t budget = 0;
  int64_t per_order = 0;
  int per_customer = 0;
  int64_t points_budget = 0;  // 0: no BonusPoints effect, or no points budget
  bool bonus = false;
  std::vector<std::string> codes;
};

struct VoucherModel {
  std::string code;
  std::string campaign;  // empty: goodwill
  std::string member;
  int max_uses = 1;
};

struct QuoteModel {
  pv1::QuoteRequest request;
  pv1::QuoteResponse response;
  std::string customer;  // "m:<id>", "g:<key>" or "" (guest without key)
  int redeemed = 0;      // orders redeemed with this token
};

struct LineModel {
  std::string id;
  int quantity = 0;
  int returned = 0;
  int64_t total = 0;  // what the line paid, as redeemed
};

struct RedemptionModel {
  std::string order;
  std::string redemption_id;
  std::string token;
  std::string customer;
  std::map<std::string, int64_t> discount;  // per campaign
  std::map<std::string, int64_t> bonus;     // bonus points per campaign, as quoted
  std::map<std::string, int64_t> bonus_released;
  int64_t held = 0;  // sum of the campaigns' discounts
  int64_t released = 0;
  std::vector<LineModel> lines;
  std::vector<std::string> vouchers;
  pv1::RedemptionState state = pv1::REDEMPTION_STATE_REDEEMED;
  std::map<std::string, std::pair<pv1::ReturnRedemptionRequest, pv1::ReturnRecord>> returns;
  bool Live() const {
    return state == pv1::REDEMPTION_STATE_REDEEMED || state == pv1::REDEMPTION_STATE_PARTIALLY_RETURNED;
  }
};

std::string Money(const care::common::v1::Money& m) { return absl::StrCat(m.amount_minor()); }

class PromotionPropertyTest : public PromotionTest {
 protected:
  void SetUp() override {
    PromotionTest::SetUp();
    if (HasFatalFailure()) return;
    StartPromotion();
    if (HasFatalFailure()) return;
    for (int i = 0; i < 3; ++i) {
      std::string id = absl::StrCat("pm", i);
      Enrol(id);
      members_.push_back(id);
    }
    now_ = Base();
  }

  // ------------------------------------------------------------ model reads
  int64_t LiveCount(const std::string& c) const {
    int64_t n = 0;
    for (const auto& [o, r] : redemptions_) n += r.Live() && r.discount.count(c);
    return n;
  }
  int64_t StateCount(const std::string& c, pv1::RedemptionState s) const {
    int64_t n = 0;
    for (const auto& [o, r] : redemptions_) n += r.state == s && r.discount.count(c);
    return n;
  }
  int64_t CustomerCount(const std::string& c, const std::string& customer) const {
    int64_t n = 0;
    for (const auto& [o, r] : redemptions_) n += r.Live() && r.discount.count(c) && r.customer == customer;
    return n;
  }
  int64_t Uses(const std::string& code) const {
    int64_t n = 0;
    for (const auto& [o, r] : redemptions_) {
      n += r.Live() && std::find(r.vouchers.begin(), r.vouchers.end(), code) != r.vouchers.end();
    }
    return n;
  }
  // Bonus points of campaign `c` the redemptions hold.
  int64_t PointsHeld(const std::string& c) const {
    int64_t n = 0;
    for (const auto& [o, r] : redemptions_) {
      if (auto b = r.bonus.find(c); b != r.bonus.end()) n += b->second - r.bonus_released.at(c);
    }
    return n;
  }
  std::vector<std::string> LiveCampaigns() const {
    std::vector<std::string> out;
    for (const auto& [id, c] : campaigns_) {
      if (!c.cancelled) out.push_back(id);
    }
    return out;
  }

  // Why RedeemQuote must refuse this quote now ("" = it must succeed).
  std::string MustRefuse(const QuoteModel& q) {
    if (now_ >= FromTimestamp(q.response.expire_time())) return "QUOTE_EXPIRED";
    // By token, not by quote: under the frozen fake clock two quotes of the
    // same cart are byte for byte the same token.
    if (tokens_used_.count(q.response.quote_token())) return "TOKEN_ALREADY_USED";
    for (const auto& ac : q.response.applied_campaigns()) {
      const CampaignModel& c = campaigns_[ac.campaign_id()];
      if (c.cancelled) return "CAMPAIGN_NOT_ACTIVE";
      if (c.version != ac.campaign_version()) return "CAMPAIGN_CHANGED";
      if (c.max_redemptions > 0 && LiveCount(c.id) >= c.max_redemptions) return "REDEMPTION_LIMIT_REACHED";
      if (c.budget > 0 && c.budget - given_[c.id] < ac.discount().amount_minor()) return "BUDGET_EXHAUSTED";
      if (c.points_budget > 0 && c.points_budget - PointsHeld(c.id) < ac.bonus_points()) return "BUDGET_EXHAUSTED";
      if (c.per_customer > 0 && CustomerCount(c.id, q.customer) >= c.per_customer) return "CUSTOMER_LIMIT_REACHED";
    }
    for (const auto& v : q.response.vouchers()) {
      if (v.accepted() && Uses(v.code()) >= vouchers_[v.code()].max_uses) return "VOUCHER_EXHAUSTED";
    }
    return "";
  }

  // ---------------------------------------------------------- campaigns
  void NewCampaign() {
    CampaignModel m;
    m.id = absl::StrCat("pc", ++serial_);
    m.kind = static_cast<Kind>(rng_->Weighted({4, 3, 3}));
    pv1::Campaign c = BaseCampaign(now_);
    c.set_display_name(absl::StrCat("Property ", m.id));
    *c.mutable_starts_at() = ToTimestamp(now_ - absl::Hours(1));
    *c.mutable_ends_at() = ToTimestamp(Base() + absl::Hours(24 * 60));
    pv1::Effect* e = c.add_rules()->add_effects();
    if (m.kind == kCartPercent) {
      *e->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
    } else if (m.kind == kItemAmount) {
      auto* d = e->mutable_item_discount();
      d->mutable_items()->add_categories("food");
      *d->mutable_value()->mutable_value()->mutable_amount_off() = Usd(300);
      d->set_max_units(3);
      c.mutable_rights()->set_priority(5);
    } else {
      c.set_voucher_required(true);
      *e->mutable_cart_discount()->mutable_value()->mutable_value()->mutable_amount_off() = Usd(500);
    }
    if (rng_->Chance(0.7)) m.max_redemptions = rng_->Uniform(1, 6);
    if (rng_->Chance(0.7)) m.budget = rng_->Uniform(800, 6000);
    if (rng_->Chance(0.5)) m.per_customer = static_cast<int>(rng_->Uniform(1, 2));
    if (rng_->Chance(0.3)) m.per_order = rng_->Uniform(200, 1500);
    if (rng_->Chance(0.4)) AddBonus(m, c);
    c.mutable_limits()->set_max_redemptions(m.max_redemptions);
    if (m.budget > 0) *c.mutable_limits()->mutable_max_discount_total() = Usd(m.budget);
    c.mutable_limits()->set_max_redemptions_per_customer(m.per_customer);
    if (m.per_order > 0) *c.mutable_limits()->mutable_max_discount_per_order() = Usd(m.per_order);
    pv1::Campaign out;
    grpc::Status s = Create(m.id, c, &out);
    if (run_->Check(s.ok(), absl::StrCat("CreateCampaign ", m.id, ": ", St(s)), m.id)) {
      s = Announce(m.id, true, &out);
      run_->Check(s.ok(), absl::StrCat("AnnounceCampaign ", m.id, ": ", St(s)), m.id);
    }
    m.version = out.version();
    run_->Log(absl::StrCat("create+announce ", m.id, " kind=", m.kind, " bonus=", m.bonus, " points_budget=",
                           m.points_budget, " max_redemptions=", m.max_redemptions, " budget=", m.budget,
                           " per_customer=", m.per_customer, " per_order=", m.per_order, " -> v", m.version),
              {m.id});
    campaigns_[m.id] = m;
    given_[m.id] = 0;
    if (m.kind == kVoucherCart) GenerateVouchers(m.id);
  }

  // A BonusPoints effect beside the discount, maybe within a points budget.
  void AddBonus(CampaignModel& m, pv1::Campaign& c) {
    m.bonus = true;
    auto* bp = c.mutable_rules(0)->add_effects()->mutable_bonus_points();
    bp->set_points_per_order(rng_->Uniform(0, 40));
    bp->set_points_per_unit(rng_->Uniform(1, 15));
    if (rng_->Chance(0.5)) bp->mutable_items()->add_categories("food");
    if (rng_->Chance(0.6)) m.points_budget = rng_->Uniform(20, 400);
    c.mutable_limits()->set_points_budget(m.points_budget);
  }

  void GenerateVouchers(const std::string& campaign) {
    pv1::GenerateVouchersRequest req;
    req.set_request_id(absl::StrCat("gen-", ++serial_));
    req.set_campaign_id(campaign);
    req.set_count(static_cast<int>(rng_->Uniform(1, 2)));
    req.set_max_uses(static_cast<int>(rng_->Uniform(1, 3)));
    pv1::GenerateVouchersResponse out, again;
    grpc::Status s = promo().GenerateVouchers(Ctx(admin()).get(), req, &out);
    run_->Log(absl::StrCat("GenerateVouchers(", campaign, " count=", req.count(), " max_uses=", req.max_uses(), ") -> ",
                           St(s)),
              {campaign});
    if (!run_->Check(s.ok(), absl::StrCat("GenerateVouchers for ", campaign, ": ", St(s)), campaign)) return;
    if (rng_->Chance(0.3)) {
      s = promo().GenerateVouchers(Ctx(admin()).get(), req, &again);
      run_->Log("retry GenerateVouchers " + req.request_id(), {campaign});
      if (!run_->Check(s.ok() && MessageDifferencer::Equals(out, again),
                       absl::StrCat("retry of GenerateVouchers ", req.request_id(), " answered ", St(s),
                                    " with other codes"),
                       campaign)) {
        return;
      }
    }
    for (const auto& v : out.vouchers()) {
      vouchers_[v.code()] = VoucherModel{v.code(), campaign, "", v.max_uses()};
      campaigns_[campaign].codes.push_back(v.code());
    }
  }

  void IssueGoodwill() {
    pv1::IssueVoucherRequest req;
    req.set_request_id(absl::StrCat("goodwill-", ++serial_));
    req.set_member_id(rng_->Pick(members_));
    if (rng_->Chance(0.6)) {
      *req.mutable_value() = Usd(rng_->Uniform(100, 600));
    } else {
      req.set_percent_off_bps(static_cast<int>(rng_->Uniform(500, 2000)));
    }
    req.set_reason_code("GOODWILL");
    pv1::Voucher out, again;
    grpc::Status s = promo().IssueVoucher(Ctx(goodwill()).get(), req, &out);
    run_->Log(absl::StrCat("IssueVoucher(", req.member_id(), " ", req.has_value() ? "amount " : "bps ",
                           req.has_value() ? req.value().amount_minor() : req.percent_off_bps(), ") -> ",
                           s.ok() ? out.code() : St(s)),
              {req.member_id(), out.code()});
    if (!run_->Check(s.ok(), absl::StrCat("IssueVoucher: ", St(s)))) return;
    if (rng_->Chance(0.3)) {
      s = promo().IssueVoucher(Ctx(goodwill()).get(), req, &again);
      if (!run_->Check(s.ok() && again.code() == out.code(),
                       absl::StrCat("retry of IssueVoucher ", req.request_id(), " answered ", St(s), " code ",
                                    again.code(), " (first ", out.code(), ")"),
                       out.code())) {
        return;
      }
    }
    vouchers_[out.code()] = VoucherModel{out.code(), "", req.member_id(), 1};
    CheckVoucher(out.code());
  }

  pv1::UpdateCampaignRequest UpdateRequest(const CampaignModel& c, bool limits) {
    pv1::UpdateCampaignRequest req;
    req.set_request_id(absl::StrCat("update-", ++serial_));
    req.mutable_campaign()->set_campaign_id(c.id);
    if (limits && c.max_redemptions > 0 && rng_->Chance(0.5)) {
      req.mutable_campaign()->mutable_limits()->set_max_redemptions(c.max_redemptions + rng_->Uniform(1, 3));
      req.mutable_update_mask()->add_paths("limits.max_redemptions");
    } else if (limits && c.budget > 0) {
      *req.mutable_campaign()->mutable_limits()->mutable_max_discount_total() = Usd(c.budget +
                                                                                    rng_->Uniform(300, 2000));
      req.mutable_update_mask()->add_paths("limits.max_discount_total");
    } else {
      req.mutable_campaign()->set_description(absl::StrCat("Edited at step ", run_->step(), " #", serial_));
      req.mutable_update_mask()->add_paths("description");
    }
    return req;
  }

  // Applies a successful update to the model.
  void ApplyUpdate(const pv1::UpdateCampaignRequest& req, const pv1::Campaign& out) {
    CampaignModel& c = campaigns_[req.campaign().campaign_id()];
    c.version += 1;
    for (const auto& p : req.update_mask().paths()) {
      if (p == "limits.max_redemptions") c.max_redemptions = req.campaign().limits().max_redemptions();
      if (p == "limits.max_discount_total") c.budget = req.campaign().limits().max_discount_total().amount_minor();
    }
    run_->Check(out.version() == c.version,
                absl::StrCat("UpdateCampaign ", c.id, " answered version ", out.version(), "; the model expects ",
                             c.version),
                c.id);
  }

  void Update() {
    std::vector<std::string> live = LiveCampaigns();
    if (live.empty()) return;
    CampaignModel& c = campaigns_[rng_->Pick(live)];
    pv1::UpdateCampaignRequest req = UpdateRequest(c, rng_->Chance(0.5));
    pv1::Campaign out;
    grpc::Status s = promo().UpdateCampaign(Ctx(admin()).get(), req, &out);
    run_->Log(absl::StrCat("UpdateCampaign(", c.id, " ", absl::StrJoin(req.update_mask().paths(), ","), " ",
                           req.request_id(), ") -> ", St(s)),
              {c.id});
    if (!run_->Check(s.ok(), absl::StrCat("UpdateCampaign ", c.id, ": ", St(s)), c.id)) return;
    ApplyUpdate(req, out);
    if (rng_->Chance(0.3)) {
      pv1::Campaign again;
      s = promo().UpdateCampaign(Ctx(admin()).get(), req, &again);
      run_->Log("retry UpdateCampaign " + req.request_id(), {c.id});
      run_->Check(s.ok() && MessageDifferencer::Equals(out, again),
                  absl::StrCat("retry of UpdateCampaign ", req.request_id(), " answered ", St(s),
                               s.ok() ? absl::StrCat(" version ", again.version(), " (first ", out.version(), ")")
                                      : ""),
                  c.id);
    }
    CheckCampaign(c.id);
  }

  // UpdateCampaign with what CreateCampaign refuses: INVALID_ARGUMENT, and
  // nothing changes.
  void InvalidUpdate() {
    std::vector<std::string> live = LiveCampaigns();
    if (live.empty()) return;
    const CampaignModel& c = campaigns_[rng_->Pick(live)];
    pv1::UpdateCampaignRequest req;
    req.set_request_id(absl::StrCat("bad-update-", ++serial_));
    req.mutable_campaign()->set_campaign_id(c.id);
    req.mutable_campaign()->mutable_limits()->set_max_redemptions(-5);
    req.mutable_update_mask()->add_paths("limits.max_redemptions");
    pv1::Campaign out;
    grpc::Status s = promo().UpdateCampaign(Ctx(admin()).get(), req, &out);
    run_->Log(absl::StrCat("UpdateCampaign(", c.id, " limits.max_redemptions=-5) -> ", St(s)), {c.id});
    run_->Check(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT,
                absl::StrCat("UpdateCampaign ", c.id, " with max_redemptions=-5 answered ", St(s),
                             s.ok() ? absl::StrCat(" (new version ", out.version(), ")") : "",
                             "; expected INVALID_ARGUMENT and no change"),
                c.id);
    CheckCampaign(c.id);
  }

  void CancelCampaign() {
    std::vector<std::string> live = LiveCampaigns();
    if (live.empty()) return;
    CampaignModel& c = campaigns_[rng_->Pick(live)];
    pv1::CancelCampaignRequest req;
    req.set_request_id(absl::StrCat("cancel-", ++serial_));
    req.set_campaign_id(c.id);
    req.set_reason("property test");
    pv1::Campaign out, again;
    grpc::Status s = promo().CancelCampaign(Ctx(admin()).get(), req, &out);
    run_->Log(absl::StrCat("CancelCampaign(", c.id, ") -> ", St(s)), {c.id});
    if (!run_->Check(s.ok() && out.state() == pv1::CAMPAIGN_STATE_CANCELLED && out.version() == c.version + 1,
                     absl::StrCat("CancelCampaign ", c.id, ": ", St(s), " state ", pv1::CampaignState_Name(out.state()),
                                  " version ", out.version()),
                     c.id)) {
      return;
    }
    c.cancelled = true;
    c.version += 1;
    if (rng_->Chance(0.3)) {
      s = promo().CancelCampaign(Ctx(admin()).get(), req, &again);
      run_->Log("retry CancelCampaign " + req.request_id(), {c.id});
      run_->Check(s.ok() && MessageDifferencer::Equals(out, again),
                  absl::StrCat("retry of CancelCampaign ", req.request_id(), " answered ", St(s)), c.id);
    }
    CheckCampaign(c.id);
    ProbeIndex(c.id);
  }

  // A quote that would touch every campaign must not apply a cancelled one.
  void ProbeIndex(const std::string& id) {
    pv1::QuoteRequest req = Cart("", {CartLine("p1", "A", "food", 2, 1500), CartLine("p2", "C", "gear", 1, 4200)});
    req.mutable_customer()->mutable_guest()->set_guest_key("probe");
    // A few of its codes (a quote takes at most 20).
    const auto& codes = campaigns_[id].codes;
    for (size_t i = codes.size() > 3 ? codes.size() - 3 : 0; i < codes.size(); ++i) req.add_voucher_codes(codes[i]);
    pv1::QuoteResponse q;
    grpc::Status s = promo().Quote(Ctx(svc()).get(), req, &q);
    if (!run_->Check(s.ok(), absl::StrCat("probe quote: ", St(s)), id)) return;
    for (const auto& ac : q.applied_campaigns()) {
      const CampaignModel& c = campaigns_[ac.campaign_id()];
      run_->Check(!c.cancelled && ac.campaign_version() == c.version,
                  absl::StrCat("a quote applied campaign ", c.id, " v", ac.campaign_version(), " although it is ",
                               c.cancelled ? "CANCELLED" : "live", " at v", c.version),
                  c.id);
    }
  }

  // -------------------------------------------------------------- quotes
  pv1::QuoteRequest RandomCart(std::string* customer) {
    static const std::vector<std::tuple<std::string, std::string, int64_t>> kCatalog = {{"A", "food", 1500},
                                                                                        {"B", "drink", 800},
                                                                                        {"C", "gear", 4200},
                                                                                        {"D", "food", 650}};
    std::vector<pv1::CartLine> lines;
    int n = static_cast<int>(rng_->Uniform(1, 3));
    for (int i = 0; i < n; ++i) {
      const auto& [sku, cat, price] = rng_->Pick(kCatalog);
      lines.push_back(CartLine(absl::StrCat("l", i), sku, cat, static_cast<int>(rng_->Uniform(1, 4)), price));
    }
    pv1::QuoteRequest req;
    double who = static_cast<double>(rng_->Uniform(0, 99)) / 100.0;
    if (who < 0.6) {
      std::string m = rng_->Pick(members_);
      req = Cart(m, lines, rng_->Chance(0.3) ? 500 : 0);
      *customer = "m:" + m;
    } else if (who < 0.95) {
      std::string g = absl::StrCat("g", rng_->Uniform(0, 2));
      req = Cart("", lines, rng_->Chance(0.3) ? 500 : 0);
      req.mutable_customer()->mutable_guest()->set_guest_key(g);
      *customer = "g:" + g;
    } else {
      req = Cart("", lines);
      req.mutable_customer()->mutable_guest()->clear_guest_key();
      *customer = "";
    }
    if (!vouchers_.empty() && rng_->Chance(0.5)) {
      std::vector<std::string> codes;
      for (const auto& [code, v] : vouchers_) codes.push_back(code);
      req.add_voucher_codes(rng_->Pick(codes));
      if (rng_->Chance(0.2)) req.add_voucher_codes(rng_->Pick(codes));
    }
    return req;
  }

  static std::string CartText(const pv1::QuoteRequest& req) {
    std::vector<std::string> parts;
    for (const auto& l : req.lines()) {
      parts.push_back(absl::StrCat(l.line_id(), ":", l.sku(), "x", l.quantity(), "@", l.unit_price().amount_minor()));
    }
    std::string who = req.customer().has_guest() ? "guest " + req.customer().guest().guest_key()
                                                 : req.customer().member_id();
    return absl::StrCat(who, " [", absl::StrJoin(parts, " "), "] ship=", req.shipping().amount_minor(),
                        req.voucher_codes_size() ? " codes=" + absl::StrJoin(req.voucher_codes(), ",") : "");
  }

  // Totals add up, nothing negative, nothing past the money bound.
  bool CheckTotals(const pv1::QuoteResponse& q, const std::string& what) {
    const pv1::Totals& t = q.totals();
    // In 128 bits: the amounts checked may be anything the service sent.
    __int128 subtotal = 0, discount = 0;
    bool ok = true;
    for (const auto& l : q.lines()) {
      ok = ok && l.discount().amount_minor() >= 0 && l.discount().amount_minor() <= l.subtotal().amount_minor() &&
           static_cast<__int128>(l.total().amount_minor()) ==
               static_cast<__int128>(l.subtotal().amount_minor()) - l.discount().amount_minor() &&
           static_cast<__int128>(l.subtotal().amount_minor()) ==
               static_cast<__int128>(l.unit_price().amount_minor()) * l.quantity();
      subtotal += l.subtotal().amount_minor();
      discount += l.discount().amount_minor();
    }
    std::vector<int64_t> all{t.subtotal().amount_minor(),          t.items_discount().amount_minor(),
                             t.items_total().amount_minor(),       t.shipping().amount_minor(),
                             t.shipping_discount().amount_minor(), t.shipping_total().amount_minor(),
                             t.total_discount().amount_minor(),    t.total().amount_minor()};
    for (int64_t v : all) ok = ok && v >= 0 && v <= kMaxMoneyMinor;
    auto v = [](const care::common::v1::Money& m) { return static_cast<__int128>(m.amount_minor()); };
    ok = ok && v(t.subtotal()) == subtotal && v(t.items_discount()) == discount &&
         v(t.items_total()) == subtotal - discount &&
         v(t.shipping_total()) == v(t.shipping()) - v(t.shipping_discount()) &&
         v(t.total()) == v(t.items_total()) + v(t.shipping_total()) &&
         v(t.total_discount()) == v(t.items_discount()) + v(t.shipping_discount());
    return run_->Check(ok, absl::StrCat(what, ": totals do not add up or leave [0, 10^15]: ", t.ShortDebugString()));
  }

  void QuoteStep() {
    QuoteModel m;
    m.request = RandomCart(&m.customer);
    grpc::Status s = promo().Quote(Ctx(svc()).get(), m.request, &m.response);
    std::vector<std::string> applied;
    std::set<std::string> keys;
    for (const auto& ac : m.response.applied_campaigns()) {
      applied.push_back(absl::StrCat(ac.campaign_id(), "@v", ac.campaign_version(), "=", Money(ac.discount())));
      keys.insert(ac.campaign_id());
    }
    for (const auto& v : m.response.vouchers()) {
      if (v.accepted()) {
        applied.push_back("voucher " + v.code());
        keys.insert(v.code());
      }
    }
    int id = static_cast<int>(quotes_.size());
    keys.insert(absl::StrCat("quote", id));
    run_->Log(absl::StrCat("Quote#", id, " ", CartText(m.request), " -> ", St(s), " {", absl::StrJoin(applied, " "),
                           "}"),
              keys);
    if (!run_->Check(s.ok(), absl::StrCat("Quote ", CartText(m.request), ": ", St(s)))) return;
    if (!CheckTotals(m.response, "Quote#" + std::to_string(id))) return;
    for (const auto& ac : m.response.applied_campaigns()) {
      const CampaignModel& c = campaigns_[ac.campaign_id()];
      int64_t d = ac.discount().amount_minor();
      std::string what = absl::StrCat("Quote#", id, " applied ", c.id, " v", ac.campaign_version(), " discount ", d);
      if (!run_->Check(!c.cancelled && ac.campaign_version() == c.version,
                       absl::StrCat(what, " but the campaign is ", c.cancelled ? "cancelled" : "at", " v", c.version),
                       c.id) ||
          !run_->Check(d >= 0 && (c.per_order == 0 || d <= c.per_order),
                       absl::StrCat(what, " above its per-order cap ", c.per_order), c.id) ||
          !run_->Check(c.budget == 0 || d <= c.budget - given_[c.id],
                       absl::StrCat(what, " above its budget left ", c.budget - given_[c.id]), c.id) ||
          !run_->Check(c.max_redemptions == 0 || LiveCount(c.id) < c.max_redemptions,
                       absl::StrCat(what, " with its ", c.max_redemptions, " redemptions used up"), c.id) ||
          !run_->Check(c.per_customer == 0 || (!m.customer.empty() && CustomerCount(c.id, m.customer) < c.per_customer),
                       absl::StrCat(what, " to customer '", m.customer, "' past the per-customer limit ",
                                    c.per_customer),
                       c.id)) {
        return;
      }
    }
    for (const auto& v : m.response.vouchers()) {
      if (!v.accepted()) continue;
      const VoucherModel& vm = vouchers_[v.code()];
      if (!run_->Check(Uses(v.code()) < vm.max_uses,
                       absl::StrCat("Quote#", id, " accepted voucher ", v.code(), " with ", Uses(v.code()), " of ",
                                    vm.max_uses, " uses taken"),
                       v.code()) ||
          !run_->Check(vm.member.empty() || m.customer == "m:" + vm.member,
                       absl::StrCat("Quote#", id, " accepted ", v.code(), " of ", vm.member, " for ", m.customer),
                       v.code())) {
        return;
      }
    }
    quotes_.push_back(std::move(m));
  }

  // A cart past the money bound: INVALID_ARGUMENT, or a priced cart whose
  // every amount stays within [0, 10^15] and adds up.
  void HugeQuote() {
    std::string customer;
    pv1::QuoteRequest req = RandomCart(&customer);
    req.clear_voucher_codes();
    int which = static_cast<int>(rng_->Uniform(0, 2));
    if (which == 0) {
      req.mutable_lines(0)->mutable_unit_price()->set_amount_minor(kMaxMoneyMinor);
      req.mutable_lines(0)->set_quantity(10000);
    } else if (which == 1) {
      *req.mutable_shipping() = Usd(INT64_MAX - 10);
    } else {
      req.mutable_lines(0)->mutable_unit_price()->set_amount_minor(INT64_MAX / 3);
      req.mutable_lines(0)->set_quantity(3);
      *req.add_lines() = CartLine("big2", "C", "gear", 3, INT64_MAX / 3);
    }
    pv1::QuoteResponse q;
    grpc::Status s = promo().Quote(Ctx(svc()).get(), req, &q);
    run_->Log(absl::StrCat("huge Quote ", CartText(req), " -> ", St(s)), {"huge"});
    if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) return;
    if (!run_->Check(s.ok(),
                     absl::StrCat("huge Quote ", CartText(req), " answered ", St(s),
                                  "; expected INVALID_ARGUMENT naming the field"),
                     "huge")) {
      return;
    }
    CheckTotals(q, absl::StrCat("huge Quote ", CartText(req)));
  }

  // ---------------------------------------------------------- redemptions
  // Applies a successful first redemption of `q` for `order`.
  void ApplyRedeem(QuoteModel& q, const std::string& order, const pv1::Redemption& r) {
    RedemptionModel m;
    m.order = order;
    m.redemption_id = r.redemption_id();
    m.token = q.response.quote_token();
    m.customer = q.customer;
    for (const auto& ac : q.response.applied_campaigns()) {
      m.discount[ac.campaign_id()] = ac.discount().amount_minor();
      m.held += ac.discount().amount_minor();
      m.bonus[ac.campaign_id()] = ac.bonus_points();
      m.bonus_released[ac.campaign_id()] = 0;
    }
    for (const auto& l : r.lines()) {
      m.lines.push_back(LineModel{l.line().line_id(), l.line().quantity(), 0, l.line().total().amount_minor()});
    }
    for (const auto& v : q.response.vouchers()) {
      if (v.accepted()) m.vouchers.push_back(v.code());
    }
    q.redeemed += 1;
    tokens_used_.insert(m.token);
    // What was redeemed is what was quoted.
    bool same = r.state() == pv1::REDEMPTION_STATE_REDEEMED && r.order_id() == order &&
                r.campaigns_size() == q.response.applied_campaigns_size() &&
                static_cast<size_t>(r.voucher_codes_size()) == m.vouchers.size();
    for (int i = 0; same && i < r.campaigns_size(); ++i) {
      const auto& a = r.campaigns(i);
      const auto& b = q.response.applied_campaigns(i);
      same = a.campaign_id() == b.campaign_id() && a.campaign_version() == b.campaign_version() &&
             a.discount().amount_minor() == b.discount().amount_minor();
    }
    run_->Check(same, absl::StrCat("RedeemQuote ", order, " differs from its quote: ", r.ShortDebugString()), order);
    for (const auto& [o, other] : redemptions_) {
      if (!run_->Check(other.redemption_id != m.redemption_id,
                       absl::StrCat("orders ", o, " and ", order, " share redemption id ", m.redemption_id), order)) {
        return;
      }
    }
    redemptions_[order] = m;
  }

  // The limits the model holds the service to, after any change.
  void CheckModelLimits(const std::string& key) {
    for (const auto& [id, c] : campaigns_) {
      int64_t live = LiveCount(id), held = 0;
      for (const auto& [o, r] : redemptions_) {
        if (r.state == pv1::REDEMPTION_STATE_REDEEMED && r.discount.count(id)) held += r.discount.at(id);
      }
      if (!run_->Check(c.max_redemptions == 0 || live <= c.max_redemptions,
                       absl::StrCat("campaign ", id, " has ", live, " live redemptions, limit ", c.max_redemptions),
                       id) ||
          !run_->Check(c.budget == 0 || held <= c.budget,
                       absl::StrCat("campaign ", id, " gave ", held, " on untouched redemptions, budget ", c.budget),
                       id)) {
        return;
      }
      if (c.per_customer > 0) {
        std::map<std::string, int64_t> per;
        for (const auto& [o, r] : redemptions_) {
          if (r.Live() && r.discount.count(id)) per[r.customer] += 1;
        }
        for (const auto& [who, n] : per) {
          if (!run_->Check(n <= c.per_customer,
                           absl::StrCat("customer '", who, "' holds ", n, " redemptions of ", id, ", limit ",
                                        c.per_customer),
                           id)) {
            return;
          }
        }
      }
    }
    for (const auto& [code, v] : vouchers_) {
      if (!run_->Check(Uses(code) <= v.max_uses,
                       absl::StrCat("voucher ", code, " used ", Uses(code), " times, max ", v.max_uses), code)) {
        return;
      }
    }
    (void)key;
  }

  grpc::Status RedeemCall(const std::string& order, const std::string& token, pv1::Redemption* out) {
    pv1::RedeemQuoteRequest req;
    req.set_request_id("rq-" + order);
    req.set_order_id(order);
    req.set_quote_token(token);
    return promo().RedeemQuote(Ctx(svc()).get(), req, out);
  }

  std::set<std::string> KeysOf(size_t qi, const std::string& order) {
    std::set<std::string> keys{order, absl::StrCat("quote", qi)};
    for (const auto& ac : quotes_[qi].response.applied_campaigns()) keys.insert(ac.campaign_id());
    for (const auto& v : quotes_[qi].response.vouchers()) {
      if (v.accepted()) keys.insert(v.code());
    }
    return keys;
  }

  // The quote to redeem: mostly a recent one; one already redeemed only
  // when token reuse is being searched for.
  std::optional<size_t> PickQuote(bool allow_used) {
    std::vector<size_t> candidates;
    size_t from = quotes_.size() > 8 ? quotes_.size() - 8 : 0;
    for (size_t i = from; i < quotes_.size(); ++i) {
      if (allow_used || !tokens_used_.count(quotes_[i].response.quote_token())) candidates.push_back(i);
    }
    if (candidates.empty()) return std::nullopt;
    return rng_->Pick(candidates);
  }

  void RedeemStep() {
    bool reuse = !property::Skipped("token_reuse") && rng_->Chance(0.1);
    auto qi = PickQuote(reuse);
    if (!qi) return;
    QuoteModel& q = quotes_[*qi];
    std::string order = absl::StrCat("order-", ++serial_);
    std::string expect = MustRefuse(q);
    pv1::Redemption r;
    grpc::Status s = RedeemCall(order, q.response.quote_token(), &r);
    run_->Log(absl::StrCat("RedeemQuote(", order, ", token of Quote#", *qi, ") -> ", St(s),
                           s.ok() ? " " + r.redemption_id() : "",
                           expect.empty() ? "" : " [model: refuse " + expect + "]"),
              KeysOf(*qi, order));
    if (!expect.empty()) {
      run_->Check(!s.ok() && s.error_code() != grpc::StatusCode::INTERNAL &&
                      s.error_code() != grpc::StatusCode::UNKNOWN,
                  absl::StrCat("RedeemQuote ", order, " with the token of Quote#", *qi, " answered ", St(s),
                               s.ok() ? " (redemption " + r.redemption_id() + ")" : "",
                               "; the model expects a refusal (", expect, ")"),
                  order);
      if (s.ok()) ApplyRedeem(q, order, r);
      CheckModelLimits(order);
      for (const auto& ac : q.response.applied_campaigns()) CheckCampaign(ac.campaign_id());
      return;
    }
    if (!run_->Check(s.ok(),
                     absl::StrCat("RedeemQuote ", order, " refused with ", St(s),
                                  " although the model's limits allow it"),
                     order)) {
      return;
    }
    ApplyRedeem(q, order, r);
    if (rng_->Chance(0.3)) {
      pv1::Redemption again;
      s = RedeemCall(order, q.response.quote_token(), &again);
      run_->Log("retry RedeemQuote " + order, {order});
      run_->Check(s.ok() && again.redemption_id() == r.redemption_id() && again.order_id() == order,
                  absl::StrCat("retry of RedeemQuote ", order, " answered ", St(s), " ", again.redemption_id()), order);
    }
    CheckModelLimits(order);
    CheckRedemption(order);
    for (const auto& ac : q.response.applied_campaigns()) CheckCampaign(ac.campaign_id());
    for (const auto& v : q.response.vouchers()) {
      if (v.accepted()) CheckVoucher(v.code());
    }
  }

  // Applies a successful first return to the model.
  void ApplyReturn(const pv1::ReturnRedemptionRequest& req, const pv1::ReturnRedemptionResponse& out) {
    RedemptionModel& m = redemptions_[req.order_id()];
    if (req.lines().empty()) {
      for (auto& l : m.lines) l.returned = l.quantity;
    } else {
      for (const auto& rl : req.lines()) {
        for (auto& l : m.lines) {
          if (l.id == rl.line_id()) l.returned += rl.quantity();
        }
      }
    }
    bool complete = true;
    for (const auto& l : m.lines) complete = complete && l.returned == l.quantity;
    const pv1::ReturnRecord& rec = out.return_record();
    m.released += rec.discount_released().amount_minor();
    m.state = complete ? pv1::REDEMPTION_STATE_RETURNED : pv1::REDEMPTION_STATE_PARTIALLY_RETURNED;
    m.returns[req.return_id()] = {req, rec};
    ApplyBonusReturn(m, out, complete);
    run_->Check(rec.usage_released() == complete && rec.discount_released().amount_minor() >= 0 &&
                    m.released <= m.held && (!complete || m.released == m.held),
                absl::StrCat("return ", req.return_id(), " of ", req.order_id(), ": released ",
                             rec.discount_released().amount_minor(), " (total ", m.released, " of ", m.held,
                             " held), usage_released=", rec.usage_released(), " complete=", complete),
                req.order_id());
  }

  // The order's value the returned units carry, and its whole value (units
  // when nothing was paid), as promotion documents the points' share.
  static std::pair<int64_t, int64_t> ReturnedValue(const RedemptionModel& m) {
    int64_t paid = 0, part = 0, whole = 0;
    for (const auto& l : m.lines) paid += l.total;
    for (const auto& l : m.lines) {
      const int64_t value = paid > 0 ? l.total : l.quantity;
      whole += value;
      part += static_cast<int64_t>(static_cast<__int128>(value) * l.returned / l.quantity);
    }
    return {part, whole};
  }

  // A return's bonus points: each campaign's released total becomes its
  // share of the returned value (all of it once complete), never less than
  // before; the record gives back the increase. (The record, not the
  // redemption in the answer: a replayed return answers the redemption as
  // it is now, perhaps cancelled since.)
  void ApplyBonusReturn(RedemptionModel& m, const pv1::ReturnRedemptionResponse& out, bool complete) {
    const auto [part, whole] = ReturnedValue(m);
    int64_t gave = 0;
    for (auto& [c, released] : m.bonus_released) {
      const int64_t bonus = m.bonus[c];
      const int64_t due = complete || whole <= 0 ? bonus
                                                 : static_cast<int64_t>(static_cast<__int128>(bonus) * part / whole);
      gave += std::max(released, due) - released;
      released = std::max(released, due);
    }
    run_->Check(out.return_record().bonus_points_released() == gave,
                absl::StrCat("return ", out.return_record().return_id(), " to ", m.order, " gave back ",
                             out.return_record().bonus_points_released(), " bonus points; expected ", gave, " (", part,
                             " of ", whole, " of the order's value returned)"),
                m.order);
  }

  pv1::ReturnRedemptionRequest ReturnRequest(const RedemptionModel& m, bool allow_exceed) {
    pv1::ReturnRedemptionRequest req;
    req.set_order_id(m.order);
    req.set_return_id(absl::StrCat("ret-", ++serial_));
    req.set_request_id("rr-" + req.return_id());
    std::vector<const LineModel*> open;
    for (const auto& l : m.lines) {
      if (l.returned < l.quantity) open.push_back(&l);
    }
    if (open.empty() || rng_->Chance(0.15)) return req;  // everything not yet returned
    const LineModel* l = rng_->Pick(open);
    auto* rl = req.add_lines();
    rl->set_line_id(l->id);
    int left = l->quantity - l->returned;
    rl->set_quantity(allow_exceed && rng_->Chance(0.1) ? left + 1 : static_cast<int>(rng_->Uniform(1, left)));
    return req;
  }

  static std::string ReturnText(const pv1::ReturnRedemptionRequest& req) {
    std::vector<std::string> parts;
    for (const auto& l : req.lines()) parts.push_back(absl::StrCat(l.line_id(), "x", l.quantity()));
    return absl::StrCat("ReturnRedemption(", req.order_id(), " ", req.return_id(), " [",
                        req.lines().empty() ? "all" : absl::StrJoin(parts, " "), "])");
  }

  std::optional<std::string> PickRedemption(const std::function<bool(const RedemptionModel&)>& pred) {
    std::vector<std::string> ids;
    for (const auto& [o, r] : redemptions_) {
      if (pred(r)) ids.push_back(o);
    }
    if (ids.empty()) return std::nullopt;
    // Recent ones more often: they still hold something.
    if (ids.size() > 6 && rng_->Chance(0.7)) ids.erase(ids.begin(), ids.end() - 6);
    return rng_->Pick(ids);
  }

  void ReturnStep() {
    auto order = PickRedemption([](const RedemptionModel&) { return true; });
    if (!order) return;
    RedemptionModel& m = redemptions_[*order];
    pv1::ReturnRedemptionRequest req = ReturnRequest(m, true);
    int exceed = 0;
    for (const auto& rl : req.lines()) {
      for (const auto& l : m.lines) {
        if (l.id == rl.line_id() && rl.quantity() > l.quantity - l.returned) exceed = 1;
      }
    }
    pv1::ReturnRedemptionResponse out;
    grpc::Status s = promo().ReturnRedemption(Ctx(svc()).get(), req, &out);
    std::set<std::string> keys{*order};
    for (const auto& [c, d] : m.discount) keys.insert(c);
    for (const auto& v : m.vouchers) keys.insert(v);
    run_->Log(absl::StrCat(ReturnText(req), " on ", pv1::RedemptionState_Name(m.state), " -> ", St(s),
                           s.ok() ? absl::StrCat(" released ", Money(out.return_record().discount_released())) : ""),
              keys);
    if (m.state == pv1::REDEMPTION_STATE_CANCELLED || m.state == pv1::REDEMPTION_STATE_RETURNED || exceed) {
      run_->Check(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION,
                  absl::StrCat(ReturnText(req), " on a ", pv1::RedemptionState_Name(m.state),
                               exceed ? " redemption, more units than remain," : " redemption", " answered ", St(s),
                               "; expected FAILED_PRECONDITION"),
                  *order);
      CheckRedemption(*order);
      return;
    }
    if (!run_->Check(s.ok(), absl::StrCat(ReturnText(req), ": ", St(s)), *order)) return;
    ApplyReturn(req, out);
    if (rng_->Chance(0.3)) {
      pv1::ReturnRedemptionResponse again;
      s = promo().ReturnRedemption(Ctx(svc()).get(), req, &again);
      run_->Log("retry " + ReturnText(req), {*order});
      run_->Check(s.ok() && MessageDifferencer::Equals(again.return_record(), out.return_record()),
                  absl::StrCat("retry of ", ReturnText(req), " answered ", St(s), " ",
                               again.return_record().ShortDebugString(), " (first ",
                               out.return_record().ShortDebugString(), ")"),
                  *order);
    }
    CheckModelLimits(*order);
    CheckRedemption(*order);
    for (const auto& [c, d] : m.discount) CheckCampaign(c);
    for (const auto& v : m.vouchers) CheckVoucher(v);
  }

  // A retry long after the first answer (the quote may have expired, the
  // order been returned or cancelled since): RedeemQuote returns the stored
  // redemption, ReturnRedemption the first return record; nothing changes.
  void LateRetry() {
    auto order = PickRedemption([](const RedemptionModel&) { return true; });
    if (!order) return;
    const RedemptionModel& m = redemptions_[*order];
    if (!m.returns.empty() && rng_->Chance(0.5)) {
      std::vector<std::string> ids;
      for (const auto& [id, r] : m.returns) ids.push_back(id);
      const auto& [req, first] = m.returns.at(rng_->Pick(ids));
      pv1::ReturnRedemptionResponse out;
      grpc::Status s = promo().ReturnRedemption(Ctx(svc()).get(), req, &out);
      run_->Log("late retry " + ReturnText(req) + " -> " + St(s), {*order});
      run_->Check(s.ok() && MessageDifferencer::Equals(out.return_record(), first),
                  absl::StrCat("late retry of ", ReturnText(req), " answered ", St(s), " ",
                               out.return_record().ShortDebugString(), " (first ", first.ShortDebugString(), ")"),
                  *order);
    } else {
      pv1::Redemption out;
      grpc::Status s = RedeemCall(*order, m.token, &out);
      run_->Log(absl::StrCat("late retry RedeemQuote(", *order, ") on ", pv1::RedemptionState_Name(m.state), " -> ",
                             St(s)),
                {*order});
      run_->Check(s.ok() && out.redemption_id() == m.redemption_id && out.order_id() == *order,
                  absl::StrCat("late retry of RedeemQuote ", *order, " answered ", St(s), " ", out.redemption_id(),
                               " (first ", m.redemption_id, ")"),
                  *order);
    }
    CheckModelLimits(*order);
    CheckRedemption(*order);
    for (const auto& [c, d] : m.discount) CheckCampaign(c);
  }

  // Applies a successful cancel; checks its answer.
  void ApplyCancel(const std::string& order, const pv1::Redemption& out) {
    RedemptionModel& m = redemptions_[order];
    if (m.state == pv1::REDEMPTION_STATE_RETURNED) {
      run_->Check(out.state() == pv1::REDEMPTION_STATE_RETURNED,
                  absl::StrCat("CancelRedemption of fully returned ", order, " changed it to ",
                               pv1::RedemptionState_Name(out.state()), " (released ", Money(out.discount_released()),
                               "; it held ", m.held, ", all already released by returns): expected it unchanged"),
                  order);
      return;
    }
    m.state = pv1::REDEMPTION_STATE_CANCELLED;
    m.released = m.held;
    for (auto& [c, released] : m.bonus_released) released = m.bonus[c];
    bool all_back = true;
    for (const auto& ac : out.campaigns()) all_back = all_back && ac.bonus_points() == ac.bonus_points_released();
    run_->Check(all_back, absl::StrCat("CancelRedemption ", order, " left bonus points held: ", out.ShortDebugString()),
                order);
    run_->Check(out.state() == pv1::REDEMPTION_STATE_CANCELLED && out.discount_released().amount_minor() == m.held,
                absl::StrCat("CancelRedemption ", order, ": state ", pv1::RedemptionState_Name(out.state()),
                             " released ", Money(out.discount_released()), "; expected CANCELLED with ", m.held,
                             " released in total"),
                order);
  }

  void CancelStep() {
    bool after_return = !property::Skipped("cancel_after_return");
    auto order = PickRedemption([&](const RedemptionModel& r) {
      return after_return || r.state == pv1::REDEMPTION_STATE_REDEEMED || r.state == pv1::REDEMPTION_STATE_CANCELLED;
    });
    if (!order) return;
    RedemptionModel& m = redemptions_[*order];
    pv1::CancelRedemptionRequest req;
    req.set_request_id(absl::StrCat("cr-", ++serial_));
    req.set_order_id(*order);
    req.set_reason("property test");
    pv1::Redemption out;
    grpc::Status s = promo().CancelRedemption(Ctx(svc()).get(), req, &out);
    std::set<std::string> keys{*order};
    for (const auto& [c, d] : m.discount) keys.insert(c);
    for (const auto& v : m.vouchers) keys.insert(v);
    run_->Log(absl::StrCat("CancelRedemption(", *order, ") on ", pv1::RedemptionState_Name(m.state), " -> ", St(s),
                           s.ok() ? " released " + Money(out.discount_released()) : ""),
              keys);
    if (!run_->Check(s.ok(), absl::StrCat("CancelRedemption ", *order, ": ", St(s)), *order)) return;
    ApplyCancel(*order, out);
    if (rng_->Chance(0.3)) {
      pv1::Redemption again;
      s = promo().CancelRedemption(Ctx(svc()).get(), req, &again);
      run_->Log("retry CancelRedemption " + *order, {*order});
      run_->Check(s.ok() && again.state() == out.state() &&
                      again.discount_released().amount_minor() == out.discount_released().amount_minor(),
                  absl::StrCat("retry of CancelRedemption ", *order, " answered ", St(s), " ",
                               pv1::RedemptionState_Name(again.state()), " released ",
                               Money(again.discount_released())),
                  *order);
    }
    CheckModelLimits(*order);
    CheckRedemption(*order);
    for (const auto& [c, d] : m.discount) CheckCampaign(c);
    for (const auto& v : m.vouchers) CheckVoucher(v);
  }

  // ------------------------------------------------------ concurrent batches
  // Several quotes redeemed at once for different orders: they race for the
  // same limits.
  void RaceBatch() {
    std::vector<size_t> picked;
    for (int i = 0; i < 4; ++i) {
      QuoteStep();
      if (run_->failed()) return;
      // Two quotes of the same cart are the same token (frozen clock): that
      // is token reuse, left out when that group is skipped.
      bool dup = tokens_used_.count(quotes_.back().response.quote_token()) > 0;
      for (size_t p : picked) dup = dup || quotes_[p].response.quote_token() == quotes_.back().response.quote_token();
      if (!dup || !property::Skipped("token_reuse")) picked.push_back(quotes_.size() - 1);
    }
    std::vector<std::string> orders;
    std::vector<grpc::Status> status(picked.size());
    std::vector<pv1::Redemption> out(picked.size());
    std::set<std::string> keys;
    for (size_t i = 0; i < picked.size(); ++i) {
      orders.push_back(absl::StrCat("order-", ++serial_));
      auto k = KeysOf(picked[i], orders.back());
      keys.insert(k.begin(), k.end());
    }
    std::vector<std::string> before(picked.size());
    for (size_t i = 0; i < picked.size(); ++i) before[i] = MustRefuse(quotes_[picked[i]]);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < picked.size(); ++i) {
      threads.emplace_back([&, i] {
        status[i] = RedeemCall(orders[i], quotes_[picked[i]].response.quote_token(), &out[i]);
      });
    }
    for (auto& t : threads) t.join();
    std::vector<std::string> texts;
    for (size_t i = 0; i < picked.size(); ++i) {
      texts.push_back(absl::StrCat(orders[i], "<-Quote#", picked[i], ":", St(status[i])));
    }
    run_->Log(absl::StrCat("concurrent RedeemQuote {", absl::StrJoin(texts, " | "), "}"), keys);
    for (size_t i = 0; i < picked.size(); ++i) {
      if (status[i].ok()) ApplyRedeem(quotes_[picked[i]], orders[i], out[i]);
    }
    CheckModelLimits("");
    for (const auto& k : keys) {
      if (campaigns_.count(k)) CheckCampaign(k);  // also refreshes given_ for the judgement below
      if (vouchers_.count(k)) CheckVoucher(k);
    }
    for (size_t i = 0; i < picked.size() && !run_->failed(); ++i) {
      if (status[i].ok()) {
        run_->Check(before[i].empty(),
                    absl::StrCat("concurrent RedeemQuote ", orders[i], " succeeded; the model ",
                                 "refused it before the batch (", before[i], ")"),
                    orders[i]);
        continue;
      }
      // A refusal must be explained by the state before or after the batch.
      std::string after = MustRefuse(quotes_[picked[i]]);
      run_->Check((!before[i].empty() || !after.empty()) &&
                      status[i].error_code() == grpc::StatusCode::FAILED_PRECONDITION,
                  absl::StrCat("concurrent RedeemQuote ", orders[i], " refused with ", St(status[i]),
                               " although the model allows it before and after the batch"),
                  orders[i]);
    }
  }

  // The same order and token sent several times at once: one redemption.
  // With token reuse: the same token for different orders at once.
  void DuplicateRedeemBatch(bool other_orders) {
    auto qi = PickQuote(false);
    if (!qi) return;
    QuoteModel& q = quotes_[*qi];
    std::string expect = MustRefuse(q);
    int n = 3;
    std::vector<std::string> orders;
    orders.reserve(n);
    std::string shared = absl::StrCat("order-", ++serial_);
    for (int i = 0; i < n; ++i) orders.push_back(other_orders ? absl::StrCat(shared, "-", i) : shared);
    std::vector<grpc::Status> status(n);
    std::vector<pv1::Redemption> out(n);
    std::vector<std::thread> threads;
    threads.reserve(n);
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&, i] { status[i] = RedeemCall(orders[i], q.response.quote_token(), &out[i]); });
    }
    for (auto& t : threads) t.join();
    std::vector<std::string> texts;
    int ok = 0;
    for (int i = 0; i < n; ++i) {
      texts.push_back(absl::StrCat(orders[i], ":", St(status[i]), " ", out[i].redemption_id()));
      ok += status[i].ok();
    }
    auto keys = KeysOf(*qi, shared);
    for (const auto& o : orders) keys.insert(o);
    run_->Log(absl::StrCat("concurrent RedeemQuote of Quote#", *qi, other_orders ? " for 3 orders" : " x3 same order",
                           " {", absl::StrJoin(texts, " | "), "}",
                           expect.empty() ? "" : " [model: refuse " + expect + "]"),
              keys);
    if (other_orders) {
      // One token, one order.
      if (!run_->Check(ok <= 1, absl::StrCat("one quote token (Quote#", *qi, ") redeemed ", ok, " orders at once"),
                       shared)) {
        return;
      }
      for (int i = 0; i < n; ++i) {
        if (status[i].ok()) ApplyRedeem(q, orders[i], out[i]);
      }
    } else {
      for (int i = 1; i < n; ++i) {
        if (!run_->Check(status[i].error_code() == status[0].error_code() &&
                             out[i].redemption_id() == out[0].redemption_id(),
                         absl::StrCat("the same RedeemQuote ", shared,
                                      " sent 3 times at once answered differently: ", absl::StrJoin(texts, " | ")),
                         shared)) {
          return;
        }
      }
      if (status[0].ok()) ApplyRedeem(q, shared, out[0]);
    }
    run_->Check(expect.empty() ? ok >= 1 : ok == 0,
                absl::StrCat("concurrent RedeemQuote of Quote#", *qi, ": ", ok, " succeeded; the model expects ",
                             expect.empty() ? "success" : "refusal (" + expect + ")"),
                shared);
    CheckModelLimits(shared);
    for (const auto& k : keys) {
      if (campaigns_.count(k)) CheckCampaign(k);
      if (vouchers_.count(k)) CheckVoucher(k);
      if (redemptions_.count(k)) CheckRedemption(k);
    }
  }

  // A return and a cancel of the same order at once (and the same return
  // twice at once).
  void ReturnCancelBatch() {
    auto order = PickRedemption([](const RedemptionModel& r) { return r.Live(); });
    if (!order) return;
    RedemptionModel& m = redemptions_[*order];
    bool with_cancel = !property::Skipped("cancel_after_return") && rng_->Chance(0.6);
    pv1::ReturnRedemptionRequest req = ReturnRequest(m, false);
    const int returns_before = static_cast<int>(m.returns.size());
    pv1::CancelRedemptionRequest cancel;
    cancel.set_request_id(absl::StrCat("cr-", ++serial_));
    cancel.set_order_id(*order);
    grpc::Status rs[2], cs;
    pv1::ReturnRedemptionResponse rout[2];
    pv1::Redemption cout;
    std::vector<std::thread> threads;
    threads.emplace_back([&] { rs[0] = promo().ReturnRedemption(Ctx(svc()).get(), req, &rout[0]); });
    threads.emplace_back([&] { rs[1] = promo().ReturnRedemption(Ctx(svc()).get(), req, &rout[1]); });
    if (with_cancel) threads.emplace_back([&] { cs = promo().CancelRedemption(Ctx(svc()).get(), cancel, &cout); });
    for (auto& t : threads) t.join();
    std::set<std::string> keys{*order};
    for (const auto& [c, d] : m.discount) keys.insert(c);
    for (const auto& v : m.vouchers) keys.insert(v);
    run_->Log(absl::StrCat("concurrent {", ReturnText(req), " x2", with_cancel ? " | CancelRedemption" : "", "} on ",
                           pv1::RedemptionState_Name(m.state), " -> return ", St(rs[0]), " / ", St(rs[1]),
                           with_cancel ? " cancel " + St(cs) : "",
                           with_cancel && cs.ok() ? " released " + Money(cout.discount_released()) : ""),
              keys);
    // The same return twice: one answer.
    if (!run_->Check(rs[0].error_code() == rs[1].error_code() &&
                         (!rs[0].ok() || MessageDifferencer::Equals(rout[0].return_record(), rout[1].return_record())),
                     absl::StrCat("the same return ", req.return_id(), " sent twice at once answered ", St(rs[0]),
                                  " and ", St(rs[1])),
                     *order)) {
      return;
    }
    if (with_cancel && !run_->Check(cs.ok(), absl::StrCat("CancelRedemption ", *order, ": ", St(cs)), *order)) {
      return;
    }
    bool return_first = rs[0].ok() && (!with_cancel || cout.returns_size() > returns_before);
    if (rs[0].ok() && !return_first) {
      run_->Violation(absl::StrCat(ReturnText(req), " succeeded on ", *order, " after it was cancelled"), *order);
      return;
    }
    if (!rs[0].ok() && !(with_cancel && rs[0].error_code() == grpc::StatusCode::FAILED_PRECONDITION)) {
      run_->Violation(absl::StrCat(ReturnText(req), ": ", St(rs[0])), *order);
      return;
    }
    if (rs[0].ok()) ApplyReturn(req, rout[0]);
    if (with_cancel) ApplyCancel(*order, cout);
    CheckModelLimits(*order);
    CheckRedemption(*order);
    for (const auto& [c, d] : m.discount) CheckCampaign(c);
    for (const auto& v : m.vouchers) CheckVoucher(v);
  }

  // Updates (one of them sent three times at once with one request id) and
  // a cancel of the same campaign at once; then the index must not apply
  // the cancelled campaign.
  void UpdateCancelBatch() {
    std::vector<std::string> live = LiveCampaigns();
    if (live.empty()) return;
    CampaignModel& c = campaigns_[rng_->Pick(live)];
    bool with_cancel = !property::Skipped("update_cancel_race") && rng_->Chance(0.6);
    pv1::UpdateCampaignRequest a = UpdateRequest(c, false), b = UpdateRequest(c, false);
    pv1::CancelCampaignRequest cancel;
    cancel.set_request_id(absl::StrCat("cancel-", ++serial_));
    cancel.set_campaign_id(c.id);
    grpc::Status sa[3], sb, sc;
    pv1::Campaign oa[3], ob, oc;
    std::vector<std::thread> threads;
    threads.reserve(5);
    for (int i = 0; i < 3; ++i) {
      threads.emplace_back([&, i] { sa[i] = promo().UpdateCampaign(Ctx(admin()).get(), a, &oa[i]); });
    }
    threads.emplace_back([&] { sb = promo().UpdateCampaign(Ctx(admin()).get(), b, &ob); });
    if (with_cancel) threads.emplace_back([&] { sc = promo().CancelCampaign(Ctx(admin()).get(), cancel, &oc); });
    for (auto& t : threads) t.join();
    run_->Log(absl::StrCat("concurrent {UpdateCampaign ", a.request_id(), " x3 | UpdateCampaign ", b.request_id(),
                           with_cancel ? " | CancelCampaign" : "", "} on ", c.id, " v", c.version, " -> ", St(sa[0]),
                           " v", oa[0].version(), " / ", St(sa[1]), " v", oa[1].version(), " / ", St(sa[2]), " v",
                           oa[2].version(), " / ", St(sb), " v", ob.version(),
                           with_cancel ? absl::StrCat(" / cancel ", St(sc), " v", oc.version()) : ""),
              {c.id});
    for (int i = 1; i < 3; ++i) {
      if (!run_->Check(
              sa[i].error_code() == sa[0].error_code() && (!sa[0].ok() || MessageDifferencer::Equals(oa[i], oa[0])),
              absl::StrCat("UpdateCampaign ", a.request_id(), " sent 3 times at once answered differently"), c.id)) {
        return;
      }
    }
    auto refused_ok = [](const grpc::Status& s) {
      return s.ok() || s.error_code() == grpc::StatusCode::FAILED_PRECONDITION;
    };
    if (!run_->Check(refused_ok(sa[0]) && refused_ok(sb) && (!with_cancel || sc.ok()) &&
                         (with_cancel || (sa[0].ok() && sb.ok())),
                     absl::StrCat("concurrent update/cancel of ", c.id, ": ", St(sa[0]), " / ", St(sb), " / ", St(sc)),
                     c.id)) {
      return;
    }
    int64_t versions = (sa[0].ok() ? 1 : 0) + (sb.ok() ? 1 : 0) + (with_cancel ? 1 : 0);
    c.version += versions;
    if (with_cancel) c.cancelled = true;
    CheckCampaign(c.id);
    ProbeIndex(c.id);
  }

  // ------------------------------------------------------------- checks
  void CheckRedemption(const std::string& order) {
    if (run_->failed()) return;
    const RedemptionModel& m = redemptions_[order];
    pv1::GetRedemptionRequest req;
    req.set_order_id(order);
    pv1::Redemption r;
    grpc::Status s = promo().GetRedemption(Ctx(svc()).get(), req, &r);
    if (!run_->Check(s.ok(), absl::StrCat("GetRedemption ", order, ": ", St(s)), order)) return;
    bool lines_ok = r.lines_size() == static_cast<int>(m.lines.size());
    for (int i = 0; lines_ok && i < r.lines_size(); ++i) {
      lines_ok = r.lines(i).returned_quantity() == m.lines[i].returned;
    }
    int64_t points_back = 0;
    for (const auto& ac : r.campaigns()) {
      const auto it = m.bonus_released.find(ac.campaign_id());
      const int64_t want = it == m.bonus_released.end() ? -1 : it->second;
      points_back += ac.bonus_points_released();
      if (!run_->Check(ac.bonus_points_released() == want,
                       absl::StrCat("GetRedemption ", order, ": campaign ", ac.campaign_id(), " gave back ",
                                    ac.bonus_points_released(), " of ", ac.bonus_points(),
                                    " bonus points; the model: ", want),
                       order)) {
        return;
      }
    }
    if (!run_->Check(points_back == r.bonus_points_released(),
                     absl::StrCat("GetRedemption ", order, ": bonus_points_released ", r.bonus_points_released(),
                                  " is not the campaigns' sum ", points_back),
                     order)) {
      return;
    }
    run_->Check(r.state() == m.state && r.discount_released().amount_minor() == m.released &&
                    r.redemption_id() == m.redemption_id && lines_ok,
                absl::StrCat("GetRedemption ", order, ": state ", pv1::RedemptionState_Name(r.state()), " released ",
                             Money(r.discount_released()), " lines_ok=", lines_ok, "; the model has ",
                             pv1::RedemptionState_Name(m.state), " released ", m.released, " of ", m.held),
                order);
  }

  void CheckVoucher(const std::string& code) {
    if (run_->failed()) return;
    pv1::GetVoucherRequest req;
    req.set_code(code);
    pv1::Voucher v;
    grpc::Status s = promo().GetVoucher(Ctx(svc()).get(), req, &v);
    if (!run_->Check(s.ok(), absl::StrCat("GetVoucher ", code, ": ", St(s)), code)) return;
    run_->Check(v.uses() == Uses(code) && v.uses() >= 0 && v.uses() <= v.max_uses() &&
                    v.max_uses() == vouchers_[code].max_uses,
                absl::StrCat("voucher ", code, ": uses ", v.uses(), " of ", v.max_uses(),
                             "; the model's live redemptions hold ", Uses(code), " of ", vouchers_[code].max_uses),
                code);
  }

  // The campaign's report against the model; returns discount_given.
  int64_t CheckCampaign(const std::string& id) {
    if (run_->failed()) return 0;
    const CampaignModel& c = campaigns_[id];
    pv1::GetCampaignRequest get;
    get.set_campaign_id(id);
    pv1::Campaign camp;
    grpc::Status s = promo().GetCampaign(Ctx(admin()).get(), get, &camp);
    if (!run_->Check(s.ok() && camp.version() == c.version &&
                         (camp.state() == pv1::CAMPAIGN_STATE_CANCELLED) == c.cancelled,
                     absl::StrCat("GetCampaign ", id, ": ", St(s), " v", camp.version(), " ",
                                  pv1::CampaignState_Name(camp.state()), "; the model has v", c.version,
                                  c.cancelled ? " CANCELLED" : " live"),
                     id)) {
      return 0;
    }
    pv1::GetCampaignReportRequest req;
    req.set_campaign_id(id);
    pv1::CampaignReport r;
    s = promo().GetCampaignReport(Ctx(admin()).get(), req, &r);
    if (!run_->Check(s.ok(), absl::StrCat("GetCampaignReport ", id, ": ", St(s)), id)) return 0;
    int64_t lo = 0, hi = 0, partial = 0;
    for (const auto& [o, m] : redemptions_) {
      if (!m.discount.count(id)) continue;
      if (m.state == pv1::REDEMPTION_STATE_REDEEMED) {
        lo += m.discount.at(id);
        hi += m.discount.at(id);
      } else if (m.state == pv1::REDEMPTION_STATE_PARTIALLY_RETURNED) {
        hi += m.discount.at(id);
        ++partial;
      }
    }
    int64_t given = r.discount_given().amount_minor();
    int64_t uses = 0;
    for (const auto& code : c.codes) uses += Uses(code);
    std::string what = absl::StrCat("report of ", id, ": redemptions=", r.redemptions(),
                                    " cancelled=", r.cancelled_redemptions(), " returned=", r.returned_redemptions(),
                                    " given=", given, " budget=", Money(r.budget_total()),
                                    " left=", Money(r.budget_left()), " voucher_uses=", r.voucher_uses(),
                                    " vouchers_generated=", r.vouchers_generated(), "; the model: live=", LiveCount(id),
                                    " cancelled=", StateCount(id, pv1::REDEMPTION_STATE_CANCELLED),
                                    " returned=", StateCount(id, pv1::REDEMPTION_STATE_RETURNED), " given in [", lo,
                                    ", ", hi, "] budget=", c.budget, " max_redemptions=", c.max_redemptions,
                                    " voucher_uses=", uses, " vouchers_generated=", c.codes.size());
    bool ok = r.redemptions() == LiveCount(id) &&
              r.cancelled_redemptions() == StateCount(id, pv1::REDEMPTION_STATE_CANCELLED) &&
              r.returned_redemptions() == StateCount(id, pv1::REDEMPTION_STATE_RETURNED);
    if (!run_->Check(ok, "redemption counts differ from the model: " + what, id)) return given;
    if (!run_->Check(given >= lo && given <= hi,
                     "discount given is not what the live redemptions hold (released twice, or not at all): " + what,
                     id)) {
      return given;
    }
    if (c.budget > 0 && !run_->Check(r.budget_total().amount_minor() == c.budget &&
                                         given + r.budget_left().amount_minor() == c.budget && given <= c.budget &&
                                         r.budget_left().amount_minor() >= 0,
                                     "budget given + left != budget, or outside [0, budget]: " + what, id)) {
      return given;
    }
    if (c.max_redemptions > 0 && !run_->Check(r.redemptions() <= c.max_redemptions && r.has_redemptions_left() &&
                                                  r.redemptions_left() == c.max_redemptions - r.redemptions(),
                                              "redemptions outside [0, max_redemptions]: " + what, id)) {
      return given;
    }
    // (CARE_PROPERTY_SKIP=report_voucher_uses looks past issue 15 item 14.)
    if (!property::Skipped("report_voucher_uses") &&
        !run_->Check(r.voucher_uses() == uses && r.vouchers_generated() == static_cast<int64_t>(c.codes.size()),
                     "voucher uses/vouchers generated differ from the model: " + what, id)) {
      return given;
    }
    if (!CheckPoints(id, r, what)) return given;
    given_[id] = given;
    return given;
  }

  // Points given = what the redemptions hold, within the points budget.
  bool CheckPoints(const std::string& id, const pv1::CampaignReport& r, const std::string& what) {
    const CampaignModel& c = campaigns_[id];
    const int64_t held = PointsHeld(id);
    const std::string points = absl::StrCat(" points_given=", r.points_given(),
                                            " points_budget_left=", r.points_budget_left(), "; the model holds ", held,
                                            " of ", c.points_budget, "; ", what);
    if (!run_->Check(r.points_given() == held, "bonus points given differ from what redemptions hold:" + points, id)) {
      return false;
    }
    return c.points_budget == 0 ||
           run_->Check(held <= c.points_budget && r.points_budget_left() == c.points_budget - held,
                       "bonus points outside the points budget:" + points, id);
  }

  // Everything, including the sum over campaigns (exact, whatever the
  // partial returns).
  void CheckAll() {
    int64_t given = 0, held = 0;
    for (const auto& [id, c] : campaigns_) given += CheckCampaign(id);
    for (const auto& [code, v] : vouchers_) CheckVoucher(code);
    for (const auto& [o, m] : redemptions_) {
      CheckRedemption(o);
      held += m.held - m.released;
    }
    CheckModelLimits("");
    run_->Check(given == held, absl::StrCat("the campaigns' reports give ", given, " in total; the redemptions hold ",
                                            held, " (held - released)"));
  }

  void Step() {
    if (LiveCampaigns().size() < 3 && campaigns_.size() < 60) NewCampaign();
    size_t op = rng_->Weighted({26, 22, 10, 8, 3, 2, 3, 3, 2, 2, 1, 5, 3, 3, 3, 2, 3});
    switch (op) {
      case 0:
        QuoteStep();
        break;
      case 1:
        RedeemStep();
        break;
      case 2:
        ReturnStep();
        break;
      case 3:
        CancelStep();
        break;
      case 4:
        Update();
        break;
      case 5:
        CancelCampaign();
        break;
      case 6: {
        std::vector<std::string> ids;
        for (const auto& [id, c] : campaigns_) {
          if (!c.cancelled && c.kind == kVoucherCart) ids.push_back(id);
        }
        if (!ids.empty()) GenerateVouchers(rng_->Pick(ids));
        break;
      }
      case 7:
        IssueGoodwill();
        break;
      case 8: {
        absl::Duration d = absl::Minutes(rng_->Uniform(5, 20));
        now_ += d;
        run_->Log(absl::StrCat("advance promotion clock by ", absl::FormatDuration(d)), {"clock"});
        care::common::v1::SetTimeRequest req;
        *req.mutable_advance() = ToDurationProto(d);
        care::common::v1::GetTimeResponse r;
        grpc::Status s = pclock_->SetTime(Ctx(admin()).get(), req, &r);
        run_->Check(s.ok() && FromTimestamp(r.time()) == now_, absl::StrCat("SetTime: ", St(s)));
        break;
      }
      case 9:
        if (!property::Skipped("validation")) InvalidUpdate();
        break;
      case 10:
        if (!property::Skipped("huge")) HugeQuote();
        break;
      case 11:
        RaceBatch();
        break;
      case 12:
        DuplicateRedeemBatch(false);
        break;
      case 13:
        if (!property::Skipped("token_reuse")) DuplicateRedeemBatch(true);
        break;
      case 14:
        ReturnCancelBatch();
        break;
      case 15:
        UpdateCancelBatch();
        break;
      default:
        LateRetry();
        break;
    }
  }

  void RunSeed(const std::string& name, uint64_t seed) {
    PropertyRun run(name, seed, property::Steps(kDefaultSteps));
    Rng rng(seed);
    run_ = &run;
    rng_ = &rng;
    const absl::Duration took = run.Drive(
        50, [&] { Step(); }, [&] { CheckAll(); });
    std::cout << "[property] " << name << " seed=" << seed << ": " << run.step() << " steps, " << quotes_.size()
              << " quotes, " << redemptions_.size() << " redemptions, " << campaigns_.size() << " campaigns in "
              << absl::FormatDuration(took) << run.outcome() << std::endl;
  }

  PropertyRun* run_ = nullptr;
  Rng* rng_ = nullptr;
  absl::Time now_;
  int serial_ = 0;
  std::vector<std::string> members_;
  std::map<std::string, CampaignModel> campaigns_;
  std::map<std::string, int64_t> given_;  // last report's discount_given
  std::map<std::string, VoucherModel> vouchers_;
  std::vector<QuoteModel> quotes_;
  std::map<std::string, RedemptionModel> redemptions_;
  std::set<std::string> tokens_used_;
};

TEST_F(PromotionPropertyTest, MoneyInvariantsHoldFixedSeed) {
  RunSeed("promotion.money", property::EnvSeed().value_or(20261206));
}

TEST_F(PromotionPropertyTest, MoneyInvariantsHoldFreshSeed) {
  if (property::EnvSeed()) GTEST_SKIP() << "CARE_PROPERTY_SEED replays one seed (the fixed-seed test)";
  RunSeed("promotion.money", property::FreshSeed());
}

}  // namespace
}  // namespace care::testing
