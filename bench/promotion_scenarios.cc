// Promotion scenarios for care_load: Quote of a 20-line guest cart while N
// campaigns are live (N = 10, 100, 1000, 10000). Each campaign discounts one
// sku ("SKU-i"); the cart holds SKU-0..SKU-19, so 20 campaigns (at most N)
// apply whatever N is, plus two cart-wide ones: the quote's cost must follow
// the applicable campaigns, not N. That is the heavy case: every line has its
// own campaign, and a FULL response carries 60 adjustments. The typical variant
// (100 live, only 2 sku campaigns on the cart's skus plus the two cart-wide)
// is a cart that a handful of promotions touch. Quotes ask for the default
// (BASIC) view, as checkout does; the _full variant asks for every
// adjustment, as an agent explaining a price does. Run each against a fresh
// care_promotion (setup adds its campaigns to whatever is already live).
//
// promotion_redeem is checkout's durable path: Quote, then RedeemQuote of
// that quote for a new order, per call (10 live campaigns, 4 apply: each
// redemption records usage of all 4, so concurrent redemptions update the
// same campaign rows).
//
// Setup needs a token with the admin role as well as service.

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/promotion_cart.h"
#include "bench/scenario.h"
#include "care/promotion/v1/promotion.grpc.pb.h"
#include "common/grpc_status.h"
#include "common/proto_time.h"
#include "google/protobuf/arena.h"

namespace care::bench {
namespace {

namespace pv1 = ::care::promotion::v1;

constexpr int kLines = kCartLines;

std::unique_ptr<grpc::ClientContext> SetupContext(const ScenarioContext& c) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("authorization", absl::StrCat("Bearer ", c.token));
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return ctx;
}

// Campaign ids allow [a-z0-9-] only.
std::string Slug(const std::string& s) {
  std::string out;
  for (char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    out += std::isalnum(u) ? static_cast<char>(std::tolower(u)) : '-';
  }
  return out.substr(0, 30);
}

// Creates and announces (short notice, already running) campaign `i`.
// `sku` is the index of the sku it discounts (unused when cart-wide).
absl::Status AddCampaign(pv1::PromotionService::Stub& stub, const ScenarioContext& c, int i, bool cart_wide, int sku) {
  std::string id = absl::StrCat("b", Slug(c.run_id), "-", cart_wide ? "all-" : "", i);
  pv1::GetCampaignRequest get;
  get.set_campaign_id(id);
  pv1::Campaign existing;
  if (stub.GetCampaign(SetupContext(c).get(), get, &existing).ok()) return absl::OkStatus();  // same --run_id
  pv1::CreateCampaignRequest create;
  create.set_request_id("create-" + id);
  create.set_campaign_id(id);
  pv1::Campaign* camp = create.mutable_campaign();
  camp->set_display_name(id);
  camp->set_time_zone("UTC");
  camp->set_currency_code("USD");
  *camp->mutable_starts_at() = ToTimestamp(absl::Now() - absl::Hours(1));
  *camp->mutable_ends_at() = ToTimestamp(absl::Now() + absl::Hours(24 * 30));
  pv1::Effect* e = camp->add_rules()->add_effects();
  if (cart_wide) {
    e->mutable_cart_discount()->mutable_value()->mutable_value()->set_percent_off_bps(100);
  } else {
    e->mutable_item_discount()->mutable_items()->add_skus(absl::StrCat("SKU-", sku));
    e->mutable_item_discount()->mutable_value()->mutable_value()->set_percent_off_bps(500);
  }
  pv1::Campaign out;
  absl::Status s = FromGrpcStatus(stub.CreateCampaign(SetupContext(c).get(), create, &out));
  if (!s.ok()) return s;
  pv1::AnnounceCampaignRequest announce;
  announce.set_request_id("announce-" + id);
  announce.set_campaign_id(id);
  announce.set_allow_short_notice(true);
  return FromGrpcStatus(stub.AnnounceCampaign(SetupContext(c).get(), announce, &out));
}

// `matching`: how many sku campaigns name a sku of the cart (-1 = all that
// can); the others name skus no cart line has.
absl::Status Setup(const ScenarioContext& c, int campaigns, int matching) {
  auto stub = pv1::PromotionService::NewStub(c.channel);
  for (int i = 0; i < 2; ++i) {
    if (absl::Status s = AddCampaign(*stub, c, i, true, 0); !s.ok()) return s;
  }
  // Several writers at once: the server's group commit batches them.
  std::atomic<int> next{0};
  std::vector<absl::Status> errors(8);
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = next++; i < campaigns - 2; i = next++) {
        absl::Status s = AddCampaign(*stub, c, i, false, matching < 0 || i < matching ? i : kLines + i);
        if (!s.ok()) {
          errors[t] = s;
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& s : errors) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

class QuoteScenario final : public Scenario {
 public:
  QuoteScenario(const ScenarioContext& c, pv1::QuoteView view)
      : stub_(pv1::PromotionService::NewStub(c.channel)), request_(BenchCart(absl::StrCat("bench-", c.slot))) {
    request_.set_view(view);
  }

  // One call at a time per scenario: each response is parsed onto the arena,
  // which the next call resets. A reused heap message would not do: its
  // Clear() deletes every sub-message (each line's four amounts, the totals),
  // so a 20-line response would cost the client over a hundred allocations.
  void Call(grpc::ClientContext* ctx, uint64_t, Done done) override {
    arena_.Reset();
    auto* response = google::protobuf::Arena::CreateMessage<pv1::QuoteResponse>(&arena_);
    stub_->async()->Quote(ctx, &request_, response, std::move(done));
  }

 private:
  static google::protobuf::ArenaOptions ArenaOn(char* block, size_t size) {
    google::protobuf::ArenaOptions o;
    o.initial_block = block;
    o.initial_block_size = size;
    return o;
  }

  std::unique_ptr<pv1::PromotionService::Stub> stub_;
  pv1::QuoteRequest request_;
  alignas(8) char block_[64 * 1024];  // kept by Reset(): no allocation once warm
  google::protobuf::Arena arena_{ArenaOn(block_, sizeof block_)};
};

// Quote, then RedeemQuote of its token for order <run_id>-<call_id>; the
// call's latency covers both.
class RedeemScenario final : public Scenario {
 public:
  explicit RedeemScenario(const ScenarioContext& c)
      : c_(c),
        stub_(pv1::PromotionService::NewStub(c.channel)),
        quote_request_(BenchCart(absl::StrCat("bench-", c.slot))) {}

  void Call(grpc::ClientContext* ctx, uint64_t call_id, Done done) override {
    quote_.Clear();
    stub_->async()->Quote(ctx, &quote_request_, &quote_,
                          [this, ctx, call_id, done = std::move(done)](const grpc::Status& s) mutable {
                            if (!s.ok()) {
                              done(s);
                              return;
                            }
                            // The previous redemption finished before this call started.
                            redeem_ctx_ = std::make_unique<grpc::ClientContext>();
                            redeem_ctx_->AddMetadata("authorization", absl::StrCat("Bearer ", c_.token));
                            redeem_ctx_->set_deadline(ctx->deadline());
                            redeem_.set_order_id(absl::StrCat("bench-", c_.run_id, "-", call_id));
                            redeem_.set_quote_token(quote_.quote_token());
                            stub_->async()->RedeemQuote(redeem_ctx_.get(), &redeem_, &redemption_, std::move(done));
                          });
  }

 private:
  ScenarioContext c_;
  std::unique_ptr<pv1::PromotionService::Stub> stub_;
  pv1::QuoteRequest quote_request_;
  pv1::QuoteResponse quote_;
  std::unique_ptr<grpc::ClientContext> redeem_ctx_;
  pv1::RedeemQuoteRequest redeem_;
  pv1::Redemption redemption_;
};

ScenarioInfo QuoteWith(int campaigns, int matching, bool full) {
  const int apply = 2 + std::min(kLines, matching < 0 ? campaigns - 2 : matching);
  const pv1::QuoteView view = full ? pv1::QUOTE_VIEW_FULL : pv1::QUOTE_VIEW_BASIC;
  return ScenarioInfo{absl::StrCat("PromotionService/Quote (", pv1::QuoteView_Name(view), "): 20-line guest cart, ",
                                   campaigns, " live campaigns of which ", apply,
                                   " apply (setup adds them; use a fresh server)"),
                      [view](const ScenarioContext& c) { return std::make_unique<QuoteScenario>(c, view); },
                      [campaigns, matching](const ScenarioContext& c) { return Setup(c, campaigns, matching); }};
}

}  // namespace

ScenarioInfo PromotionQuoteScenario(int campaigns, int matching, bool full) {
  return QuoteWith(campaigns, matching, full);
}

ScenarioInfo PromotionRedeemScenario() {
  return ScenarioInfo{
      "PromotionService/Quote then RedeemQuote for a new order, 20-line guest cart, 10 live campaigns of which 4 "
      "apply (setup adds them; use a fresh server)",
      [](const ScenarioContext& c) { return std::make_unique<RedeemScenario>(c); },
      [](const ScenarioContext& c) { return Setup(c, 10, 2); }};
}

}  // namespace care::bench
