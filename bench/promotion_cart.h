#pragma once

// The cart every promotion benchmark quotes: a guest, 20 lines SKU-0..SKU-19
// in category "bench", USD, with shipping. Shared so that the load scenario
// and the in-process breakdown measure the same request.

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "care/promotion/v1/promotion.pb.h"
#include "common/proto_time.h"

namespace care::bench {

inline constexpr int kCartLines = 20;

inline care::promotion::v1::QuoteRequest BenchCart(const std::string& guest_key) {
  care::promotion::v1::QuoteRequest req;
  req.mutable_customer()->mutable_guest()->set_guest_key(guest_key);
  req.set_currency_code("USD");
  for (int i = 0; i < kCartLines; ++i) {
    care::promotion::v1::CartLine* l = req.add_lines();
    l->set_line_id(absl::StrCat("l", i));
    l->set_sku(absl::StrCat("SKU-", i));
    l->set_category("bench");
    l->set_quantity(1 + i % 3);
    l->mutable_unit_price()->set_amount_minor(1000 + 37 * i);
    l->mutable_unit_price()->set_currency_code("USD");
  }
  req.mutable_shipping()->set_amount_minor(500);
  req.mutable_shipping()->set_currency_code("USD");
  return req;
}

// A live USD campaign, in UTC, that started an hour before `now`, with one
// empty rule "rule-1" for the benchmark to fill.
inline care::promotion::v1::Campaign BenchCampaign(const std::string& id, int64_t version, absl::Time now) {
  care::promotion::v1::Campaign c;
  c.set_campaign_id(id);
  c.set_display_name(id);
  c.set_version(version);
  c.set_state(care::promotion::v1::CAMPAIGN_STATE_ACTIVE);
  c.set_time_zone("UTC");
  c.set_currency_code("USD");
  *c.mutable_starts_at() = care::ToTimestamp(now - absl::Hours(1));
  *c.mutable_ends_at() = care::ToTimestamp(now + absl::Hours(100));
  c.add_rules()->set_rule_id("rule-1");
  return c;
}

}  // namespace care::bench
