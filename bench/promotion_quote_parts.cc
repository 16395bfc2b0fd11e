// promotion_quote_parts: what one quote's pieces cost in a single process,
// without gRPC and without the load generator sharing the cores, for the
// cart of the promotion_quote scenario (20 lines, 20 one-sku campaigns and
// two cart-wide ones apply). Each piece is reported as a multiple of the
// baseline measured in the same loop: parsing the 20-line request onto an
// arena, which every server pays before any handler runs. Both views are
// measured: BASIC (checkout's default) and FULL (every adjustment).
//
//   build/bench/promotion_quote_parts [--iterations=20000]

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bench/promotion_cart.h"
#include "common/proto_time.h"
#include "google/protobuf/arena.h"
#include "services/promotion/pricing.h"
#include "services/promotion/quote_token.h"

namespace {

namespace v1 = ::care::promotion::v1;
using Clock = std::chrono::steady_clock;

constexpr int kLines = care::bench::kCartLines;

std::vector<v1::Campaign> Campaigns(absl::Time now) {
  std::vector<v1::Campaign> out(kLines + 2);
  for (int i = 0; i < kLines + 2; ++i) {
    const bool cart_wide = i >= kLines;
    out[i] = care::bench::BenchCampaign(absl::StrCat(cart_wide ? "bench-cart-campaign-" : "bench-sku-campaign-", i), 2,
                                        now);
    v1::Campaign& c = out[i];
    v1::Rule* rule = c.mutable_rules(0);
    v1::Effect* e = rule->add_effects();
    if (cart_wide) {
      e->mutable_cart_discount()->mutable_value()->mutable_value()->set_percent_off_bps(100);
    } else {
      e->mutable_item_discount()->mutable_items()->add_skus(absl::StrCat("SKU-", i));
      e->mutable_item_discount()->mutable_value()->mutable_value()->set_percent_off_bps(500);
    }
  }
  return out;
}

double Micros(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

// Microseconds summed over the iterations, per piece of a quote.
struct Parts {
  double parse_request = 0, price = 0, sign = 0, serialize = 0, parse_response = 0;
  size_t response_bytes = 0, token_bytes = 0;
};

// The quote scenario's cart against its campaigns, as the server prices it.
class QuoteParts final {
 public:
  QuoteParts()
      : now_(absl::Now()),
        campaigns_(Campaigns(now_)),
        request_wire_(care::bench::BenchCart("bench-0").SerializeAsString()),
        signer_(std::vector<care::promotion::QuoteKey>{{"bench", "bench-secret-0123456789abcdef0123"}}) {
    options_.start_block_size = 16 * 1024;  // as the server's Quote allocator
    options_.max_block_size = 256 * 1024;
  }

  // One quote of the cart, timed piece by piece into `p`; `full`: QUOTE_VIEW_FULL.
  void QuoteOnce(bool full, Parts& p) {
    std::string wire;
    {
      google::protobuf::Arena arena(options_);
      const Clock::time_point t0 = Clock::now();
      auto* req = google::protobuf::Arena::CreateMessage<v1::QuoteRequest>(&arena);
      req->ParseFromString(request_wire_);
      const Clock::time_point t1 = Clock::now();
      care::promotion::PricingInput in;
      in.now = now_;
      in.currency_code = req->currency_code();
      in.shipping = req->shipping().amount_minor();
      in.adjustments = full;
      for (const v1::CartLine& l : req->lines()) {
        in.lines.push_back({l.line_id(), l.sku(), l.category(), l.quantity(), l.unit_price().amount_minor()});
      }
      for (const v1::Campaign& c : campaigns_) in.candidates.push_back(&c);
      auto* out = google::protobuf::Arena::CreateMessage<v1::QuoteResponse>(&arena);
      if (absl::Status priced = care::promotion::Price(in, out); !priced.ok()) {
        std::fprintf(stderr, "pricing failed: %s\n", priced.ToString().c_str());
        std::exit(1);
      }
      const Clock::time_point t2 = Clock::now();
      out->set_quote_token(signer_.Sign(*out));
      const Clock::time_point t3 = Clock::now();
      out->SerializeToString(&wire);
      const Clock::time_point t4 = Clock::now();
      p.parse_request += Micros(t0, t1);
      p.price += Micros(t1, t2);
      p.sign += Micros(t2, t3);
      p.serialize += Micros(t3, t4);
      p.token_bytes = out->quote_token().size();
    }
    const Clock::time_point t5 = Clock::now();
    client_.Clear();
    client_.ParseFromString(wire);
    p.parse_response += Micros(t5, Clock::now());
    p.response_bytes = wire.size();
  }

 private:
  const absl::Time now_;
  const std::vector<v1::Campaign> campaigns_;
  const std::string request_wire_;
  const care::promotion::QuoteSigner signer_;
  google::protobuf::ArenaOptions options_;
  v1::QuoteResponse client_;  // reused, as a client's stub call would
};

// Each piece per quote, in microseconds and as a multiple of parsing the request.
void PrintParts(const Parts& basic, const Parts& full, int iterations) {
  const double base = (basic.parse_request + full.parse_request) / 2 / iterations;
  std::printf("%-34s %9s %9s %12s %12s\n", "piece (one 20-line quote)", "basic us", "full us", "basic x base",
              "full x base");
  auto row = [&](const char* name, double Parts::*piece) {
    const double b = basic.*piece / iterations, f = full.*piece / iterations;
    std::printf("%-34s %9.2f %9.2f %12.2f %12.2f\n", name, b, f, b / base, f / base);
  };
  row("parse the request (baseline)", &Parts::parse_request);
  row("price the cart", &Parts::price);
  row("sign the token", &Parts::sign);
  row("serialize the response", &Parts::serialize);
  row("parse the response (client)", &Parts::parse_response);
  std::printf("response bytes: basic %zu, full %zu (token %zu); %d iterations of each view\n", basic.response_bytes,
              full.response_bytes, basic.token_bytes, iterations);
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 20000;
  for (int i = 1; i < argc; ++i) {
    if (absl::StartsWith(argv[i], "--iterations=")) iterations = std::atoi(argv[i] + 13);
  }
  if (iterations <= 0) {
    std::fprintf(stderr, "usage: promotion_quote_parts [--iterations=N>0]\n");
    return 2;
  }
  QuoteParts quote;
  // Alternated, so both views see the same machine.
  Parts basic, full;
  for (int it = 0; it < iterations; ++it) {
    quote.QuoteOnce(false, basic);
    quote.QuoteOnce(true, full);
  }
  PrintParts(basic, full, iterations);
  return 0;
}
