#pragma once

// Walks a message (by reflection) for every Money and DiscountValue in it,
// so a fuzz target can tell whether a campaign or cart stays within the
// documented bounds: amounts in [0, kMaxMoneyMinor], percentages in
// [0, 10000] basis points, and (when `currency` is set) every Money in that
// currency or without a code.

#include <string>
#include <vector>

#include "care/common/v1/common.pb.h"
#include "care/promotion/v1/promotion.pb.h"
#include "common/bounds.h"
#include "google/protobuf/message.h"

namespace care::fuzz {

// The path of the first value out of bounds ("" when all are within).
inline std::string MoneyOutOfBounds(const google::protobuf::Message& m, const std::string& currency,
                                    const std::string& path = "") {
  if (const auto* money = dynamic_cast<const care::common::v1::Money*>(&m)) {
    const int64_t a = money->amount_minor();
    if (a < 0 || a > care::kMaxMoneyMinor) return path + ".amount_minor";
    if (!currency.empty() && !money->currency_code().empty() && money->currency_code() != currency) {
      return path + ".currency_code";
    }
    return "";
  }
  if (const auto* value = dynamic_cast<const care::promotion::v1::DiscountValue*>(&m)) {
    if (value->has_percent_off_bps() && (value->percent_off_bps() < 0 || value->percent_off_bps() > 10000)) {
      return path + ".percent_off_bps";
    }
  }
  const google::protobuf::Reflection* r = m.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const auto* f : fields) {
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    const std::string sub = path + "." + f->name();
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        std::string bad = MoneyOutOfBounds(r->GetRepeatedMessage(m, f, i), currency,
                                           sub + "[" + std::to_string(i) + "]");
        if (!bad.empty()) return bad;
      }
    } else {
      std::string bad = MoneyOutOfBounds(r->GetMessage(m, f), currency, sub);
      if (!bad.empty()) return bad;
    }
  }
  return "";
}

}  // namespace care::fuzz
