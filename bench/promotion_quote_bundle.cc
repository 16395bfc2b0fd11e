// promotion_quote_bundle: pricing the largest cart the contract accepts
// (1000 lines x 10,000 units) under one live "any 2 for X" bundle campaign,
// in a single process (issue 15, defect 2). Pricing is reported as a multiple
// of the baseline measured in the same loop: parsing the same request onto an
// arena, which every server pays before any handler runs. Both views are
// measured (BASIC and FULL, alternated), with the FULL response's size.
//
//   build/bench/promotion_quote_bundle [--lines=1000] [--units=10000] [--iterations=20]

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/promotion_cart.h"
#include "common/proto_time.h"
#include "google/protobuf/arena.h"
#include "services/promotion/pricing.h"

namespace {

namespace v1 = ::care::promotion::v1;
using Clock = std::chrono::steady_clock;

v1::QuoteRequest Cart(int lines, int units) {
  v1::QuoteRequest req;
  req.mutable_customer()->mutable_guest()->set_guest_key("bench");
  req.set_currency_code("USD");
  for (int i = 0; i < lines; ++i) {
    v1::CartLine* l = req.add_lines();
    l->set_line_id(absl::StrCat("l", i));
    l->set_sku(absl::StrCat("SKU-", i));
    l->set_category("bench");
    l->set_quantity(units);
    l->mutable_unit_price()->set_amount_minor(1000 + 37 * (i % 100));
    l->mutable_unit_price()->set_currency_code("USD");
  }
  return req;
}

// Any 2 units of the category for 15.00.
v1::Campaign Bundle(absl::Time now) {
  v1::Campaign c = care::bench::BenchCampaign("bench-any-two", 1, now);
  v1::BundlePrice* bp = c.mutable_rules(0)->add_effects()->mutable_bundle_price();
  v1::ComboComponent* comp = bp->add_components();
  comp->mutable_items()->add_categories("bench");
  comp->set_quantity(2);
  bp->mutable_price()->mutable_value()->mutable_fixed_price()->set_amount_minor(1500);
  return c;
}

double Micros(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

}  // namespace

int main(int argc, char** argv) {
  int lines = 1000, units = 10000, iterations = 20;
  for (int i = 1; i < argc; ++i) {
    if (absl::StartsWith(argv[i], "--lines=")) lines = std::atoi(argv[i] + 8);
    if (absl::StartsWith(argv[i], "--units=")) units = std::atoi(argv[i] + 8);
    if (absl::StartsWith(argv[i], "--iterations=")) iterations = std::atoi(argv[i] + 13);
  }
  if (lines <= 0 || units <= 0 || iterations <= 0) {
    std::fprintf(stderr, "usage: promotion_quote_bundle [--lines=N>0] [--units=N>0] [--iterations=N>0]\n");
    return 2;
  }
  const absl::Time now = absl::Now();
  const v1::Campaign bundle = Bundle(now);
  const std::string request_wire = Cart(lines, units).SerializeAsString();
  google::protobuf::ArenaOptions options;  // as the server's Quote allocator
  options.start_block_size = 16 * 1024;
  options.max_block_size = 256 * 1024;

  struct Parts {
    double parse_request = 0, price = 0;
    size_t response_bytes = 0, adjustments = 0;
    int64_t discount = 0;
  };
  auto quote_once = [&](bool full, Parts& p) {
    google::protobuf::Arena arena(options);
    const Clock::time_point t0 = Clock::now();
    auto* req = google::protobuf::Arena::CreateMessage<v1::QuoteRequest>(&arena);
    req->ParseFromString(request_wire);
    const Clock::time_point t1 = Clock::now();
    care::promotion::PricingInput in;
    in.now = now;
    in.currency_code = req->currency_code();
    in.adjustments = full;
    in.lines.reserve(req->lines_size());
    for (const v1::CartLine& l : req->lines()) {
      in.lines.push_back({l.line_id(), l.sku(), l.category(), l.quantity(), l.unit_price().amount_minor()});
    }
    in.candidates.push_back(&bundle);
    auto* out = google::protobuf::Arena::CreateMessage<v1::QuoteResponse>(&arena);
    const absl::Status priced = care::promotion::Price(in, out);
    const Clock::time_point t2 = Clock::now();
    if (!priced.ok()) {
      std::fprintf(stderr, "pricing failed: %s\n", priced.ToString().c_str());
      std::exit(1);
    }
    p.parse_request += Micros(t0, t1);
    p.price += Micros(t1, t2);
    p.discount = out->totals().items_discount().amount_minor();
    p.adjustments = 0;
    for (const auto& l : out->lines()) p.adjustments += l.adjustments_size();
    p.response_bytes = out->ByteSizeLong();
  };
  Parts basic, full;
  for (int it = 0; it < iterations; ++it) {
    quote_once(false, basic);
    quote_once(true, full);
  }
  const double base = (basic.parse_request + full.parse_request) / 2 / iterations;
  std::printf("cart: %d lines x %d units, one \"any 2 for 15.00\" bundle campaign; %d iterations of each view\n", lines,
              units, iterations);
  std::printf("%-32s %11s %11s %12s %12s\n", "piece", "basic ms", "full ms", "basic x base", "full x base");
  auto row = [&](const char* name, double Parts::*piece) {
    const double b = basic.*piece / iterations, f = full.*piece / iterations;
    std::printf("%-32s %11.3f %11.3f %12.2f %12.2f\n", name, b / 1000, f / 1000, b / base, f / base);
  };
  row("parse the request (baseline)", &Parts::parse_request);
  row("price the cart", &Parts::price);
  std::printf("discount %lld minor units; FULL: %zu adjustments, %zu response bytes (BASIC %zu)\n",
              static_cast<long long>(full.discount), full.adjustments, full.response_bytes, basic.response_bytes);
  return 0;
}
