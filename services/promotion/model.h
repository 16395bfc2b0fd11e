#pragma once

// Domain types of the pricing engine: plain values in minor units, no gRPC,
// no SQL. Campaign definitions stay in their contract form
// (care::promotion::v1::Campaign, a plain protobuf message) because the
// contract already models every field; the engine reads only what it needs.

#include <cstdint>
#include <string>
#include <vector>

namespace care::promotion {

struct Line {
  std::string line_id;
  std::string sku;
  std::string category;
  int32_t quantity = 0;
  int64_t unit_price = 0;  // minor units
};

// The customer as pricing sees them.
struct Shopper {
  bool guest = true;
  std::string member_id;
  std::string tier_id;
  int64_t tier_version = 0;
  int32_t tier_discount_bps = 0;
  bool tier_free_shipping = false;
  bool tier_free_returns = false;
  bool opted_in = false;
  std::string segment;  // loyalty's customer segment ("" = none)
};

}  // namespace care::promotion
