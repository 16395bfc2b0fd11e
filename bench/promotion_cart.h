#pragma once

// The cart every promotion benchmark quotes: a guest, 20 lines SKU-0..SKU-19
// in category "bench", USD, with shipping. Shared so that the load scenario
// and the in-process breakdown measure the same request.

#include <string>

#include "absl/strings/str_cat.h"
#include "care/promotion/v1/promotion.pb.h"

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

}  // namespace care::bench
