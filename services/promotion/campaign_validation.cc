#include "services/promotion/campaign_validation.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "common/bounds.h"
#include "common/localized.h"
#include "common/proto_time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"

namespace care::promotion {
namespace {

namespace v1 = ::care::promotion::v1;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

bool Matches(const std::string& s, size_t max, bool (*ok)(char)) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    if (!ok(c)) return false;
  }
  return true;
}
bool RuleIdChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; }
bool VariableChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

// Every Money anywhere in the campaign (limits, values, prices, spends, caps,
// tier values), found by reflection so that a field added to the contract
// later is checked too.
void WalkMoney(const Message& m, const std::string& path, const std::string& currency, FieldErrors& errors,
               size_t& mismatches) {
  if (m.GetDescriptor() == care::common::v1::Money::descriptor()) {
    const auto& money = static_cast<const care::common::v1::Money&>(m);
    if (!CheckAmount(errors, path, money, currency)) ++mismatches;
    return;
  }
  const auto* refl = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  refl->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    const std::string base = path + "." + f->name();
    if (f->is_map()) {
      const FieldDescriptor* key = f->message_type()->map_key();
      const FieldDescriptor* value = f->message_type()->map_value();
      if (value->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
      for (int i = 0; i < refl->FieldSize(m, f); ++i) {
        const Message& entry = refl->GetRepeatedMessage(m, f, i);
        const auto* er = entry.GetReflection();
        std::string k = key->cpp_type() == FieldDescriptor::CPPTYPE_STRING ? er->GetString(entry, key)
                                                                           : absl::StrCat(i);
        WalkMoney(er->GetMessage(entry, value), absl::StrCat(base, "[\"", k.substr(0, 64), "\"]"), currency, errors,
                  mismatches);
      }
    } else if (f->is_repeated()) {
      for (int i = 0; i < refl->FieldSize(m, f); ++i) {
        WalkMoney(refl->GetRepeatedMessage(m, f, i), absl::StrCat(base, "[", i, "]"), currency, errors, mismatches);
      }
    } else {
      WalkMoney(refl->GetMessage(m, f), base, currency, errors, mismatches);
    }
  }
}

void CheckSelector(FieldErrors& errors, const std::string& f, const v1::ItemSelector& s) {
  if (s.skus_size() > 1000) errors.Add(f + ".skus", "at most 1000 entries");
  if (s.categories_size() > 1000) errors.Add(f + ".categories", "at most 1000 entries");
  if (s.exclude_skus_size() > 1000) errors.Add(f + ".exclude_skus", "at most 1000 entries");
  if (s.exclude_categories_size() > 1000) errors.Add(f + ".exclude_categories", "at most 1000 entries");
}

// A DiscountValue of one of the `allowed` kinds, in range.
void CheckValue(FieldErrors& errors, const std::string& f, const v1::DiscountValue& v,
                std::initializer_list<v1::DiscountValue::KindCase> allowed) {
  if (v.kind_case() == v1::DiscountValue::KIND_NOT_SET) {
    errors.Add(f, "exactly one of percent_off_bps, amount_off, fixed_price");
    return;
  }
  if (std::find(allowed.begin(), allowed.end(), v.kind_case()) == allowed.end()) {
    errors.Add(f, "this kind of value is not accepted by the effect");
    return;
  }
  if (v.kind_case() == v1::DiscountValue::kPercentOffBps) {
    errors.RequireRange(f + ".percent_off_bps", v.percent_off_bps(), 1, 10000);
  } else if (v.kind_case() == v1::DiscountValue::kAmountOff && v.amount_off().amount_minor() <= 0) {
    errors.Add(f + ".amount_off.amount_minor", "must be > 0");
  }
}

void CheckTiered(FieldErrors& errors, const std::string& f, const v1::TieredValue& t,
                 std::initializer_list<v1::DiscountValue::KindCase> allowed) {
  if (t.has_value()) CheckValue(errors, f + ".value", t.value(), allowed);
  if (t.tier_values_size() > 50) errors.Add(f + ".tier_values", "at most 50 entries");
  for (const auto& [tier, v] : t.tier_values()) {
    CheckValue(errors, absl::StrCat(f, ".tier_values[\"", tier.substr(0, 64), "\"]"), v, allowed);
  }
}

constexpr auto kPercent = v1::DiscountValue::kPercentOffBps;
constexpr auto kAmount = v1::DiscountValue::kAmountOff;
constexpr auto kFixed = v1::DiscountValue::kFixedPrice;

void CheckEffect(FieldErrors& errors, const std::string& f, const v1::Effect& e) {
  switch (e.effect_case()) {
    case v1::Effect::kCartDiscount:
      CheckTiered(errors, f + ".cart_discount.value", e.cart_discount().value(), {kPercent, kAmount});
      CheckSelector(errors, f + ".cart_discount.items", e.cart_discount().items());
      break;
    case v1::Effect::kItemDiscount:
      CheckTiered(errors, f + ".item_discount.value", e.item_discount().value(), {kPercent, kAmount, kFixed});
      CheckSelector(errors, f + ".item_discount.items", e.item_discount().items());
      if (e.item_discount().max_units() < 0) errors.Add(f + ".item_discount.max_units", "must be >= 0");
      break;
    case v1::Effect::kNthItemDiscount: {
      const auto& n = e.nth_item_discount();
      CheckTiered(errors, f + ".nth_item_discount.value", n.value(), {kPercent, kAmount, kFixed});
      CheckSelector(errors, f + ".nth_item_discount.items", n.items());
      if (n.nth() < 2) errors.Add(f + ".nth_item_discount.nth", "must be >= 2");
      if (n.max_applications() < 0) errors.Add(f + ".nth_item_discount.max_applications", "must be >= 0");
      break;
    }
    case v1::Effect::kBundlePrice: {
      const auto& b = e.bundle_price();
      if (b.components_size() < 1 || b.components_size() > 20) {
        errors.Add(f + ".bundle_price.components", "1..20 components");
      }
      for (int i = 0; i < b.components_size(); ++i) {
        CheckSelector(errors, absl::StrCat(f, ".bundle_price.components[", i, "].items"), b.components(i).items());
        if (b.components(i).quantity() < 0) {
          errors.Add(absl::StrCat(f, ".bundle_price.components[", i, "].quantity"), "must be >= 0 (0 = 1)");
        }
      }
      CheckTiered(errors, f + ".bundle_price.price", b.price(), {kFixed});
      if (b.max_sets() < 0) errors.Add(f + ".bundle_price.max_sets", "must be >= 0");
      break;
    }
    case v1::Effect::kMemberPrice: {
      const auto& mp = e.member_price();
      if (mp.prices_size() < 1 || mp.prices_size() > 1000) errors.Add(f + ".member_price.prices", "1..1000 entries");
      for (int i = 0; i < mp.prices_size(); ++i) {
        const std::string pf = absl::StrCat(f, ".member_price.prices[", i, "]");
        if (mp.prices(i).sku().empty()) errors.Add(pf + ".sku", "is required");
        errors.RequireMaxLength(pf + ".sku", mp.prices(i).sku(), 128);
        CheckTiered(errors, pf + ".unit_price", mp.prices(i).unit_price(), {kFixed});
      }
      break;
    }
    case v1::Effect::kBonusPoints: {
      const auto& bp = e.bonus_points();
      const std::string pf = f + ".bonus_points";
      if (bp.points_per_order() < 0 || bp.points_per_order() > kMaxPointsPerEntry) {
        errors.Add(pf + ".points_per_order", absl::StrCat("0..", kMaxPointsPerEntry));
      }
      if (bp.points_per_unit() < 0 || bp.points_per_unit() > kMaxPointsPerEntry) {
        errors.Add(pf + ".points_per_unit", absl::StrCat("0..", kMaxPointsPerEntry));
      }
      if (bp.points_per_order() <= 0 && bp.points_per_unit() <= 0) {
        errors.Add(pf, "points_per_order or points_per_unit must be > 0");
      }
      CheckSelector(errors, pf + ".items", bp.items());
      if (bp.max_units() < 0 || bp.max_units() > kMaxLineQuantity) {
        errors.Add(pf + ".max_units", absl::StrCat("0..", kMaxLineQuantity));
      }
      break;
    }
    case v1::Effect::kFreeShipping:
    case v1::Effect::kFreeReturns:
      break;
    case v1::Effect::EFFECT_NOT_SET:
      errors.Add(f, "exactly one effect");
      break;
  }
}

void CheckCondition(FieldErrors& errors, const std::string& f, const v1::Condition& c) {
  switch (c.condition_case()) {
    case v1::Condition::kMinSpend:
      if (c.min_spend().amount().amount_minor() <= 0) errors.Add(f + ".min_spend.amount.amount_minor", "must be > 0");
      CheckSelector(errors, f + ".min_spend.items", c.min_spend().items());
      break;
    case v1::Condition::kMinQuantity:
      if (c.min_quantity().quantity() < 1) errors.Add(f + ".min_quantity.quantity", "must be >= 1");
      CheckSelector(errors, f + ".min_quantity.items", c.min_quantity().items());
      break;
    case v1::Condition::kCombo:
      if (c.combo().components_size() < 1 || c.combo().components_size() > 20) {
        errors.Add(f + ".combo.components", "1..20 components");
      }
      for (int i = 0; i < c.combo().components_size(); ++i) {
        CheckSelector(errors, absl::StrCat(f, ".combo.components[", i, "].items"), c.combo().components(i).items());
        if (c.combo().components(i).quantity() < 0) {
          errors.Add(absl::StrCat(f, ".combo.components[", i, "].quantity"), "must be >= 0 (0 = 1)");
        }
      }
      break;
    case v1::Condition::kCustomerTier:
      if (c.customer_tier().tier_ids().empty()) errors.Add(f + ".customer_tier.tier_ids", "at least one");
      break;
    case v1::Condition::CONDITION_NOT_SET:
      errors.Add(f, "exactly one condition");
      break;
  }
}

void CheckWindow(FieldErrors& errors, const std::string& f, const v1::ValidityWindow& w) {
  auto date = [&](const char* name, bool has, const v1::LocalDate& d) {
    if (!has) return;
    const std::string df = absl::StrCat(f, ".", name);
    errors.RequireRange(df + ".year", d.year(), 1, 9999);
    errors.RequireRange(df + ".month", d.month(), 1, 12);
    errors.RequireRange(df + ".day", d.day(), 1, 31);
  };
  date("start_date", w.has_start_date(), w.start_date());
  date("end_date", w.has_end_date(), w.end_date());
  auto time = [&](const char* name, bool has, const v1::TimeOfDay& t) {
    if (!has) return;
    errors.RequireRange(absl::StrCat(f, ".", name, ".hours"), t.hours(), 0, 23);
    errors.RequireRange(absl::StrCat(f, ".", name, ".minutes"), t.minutes(), 0, 59);
  };
  time("start_time", w.has_start_time(), w.start_time());
  time("end_time", w.has_end_time(), w.end_time());
  for (int i = 0; i < w.weekdays_size(); ++i) {
    if (w.weekdays(i) < v1::WEEKDAY_MONDAY || w.weekdays(i) > v1::WEEKDAY_SUNDAY) {
      errors.Add(absl::StrCat(f, ".weekdays[", i, "]"), "must be MONDAY..SUNDAY");
    }
  }
}

}  // namespace

bool CheckAmount(FieldErrors& errors, const std::string& field, const care::common::v1::Money& m,
                 const std::string& currency) {
  if (m.amount_minor() < 0) {
    errors.Add(field + ".amount_minor", "must be >= 0");
  } else {
    errors.RequireMoney(field + ".amount_minor", m.amount_minor());
  }
  if (!currency.empty() && !m.currency_code().empty() && m.currency_code() != currency) {
    errors.Add(field + ".currency_code", absl::StrCat("must be ", currency, ", the currency it is used in"));
    return false;
  }
  return true;
}

absl::Status FieldStatus(const FieldErrors& errors, size_t mismatches) {
  absl::Status fields = errors.ToStatus();
  if (fields.ok() || mismatches == 0 || mismatches != errors.size()) return fields;
  // Same message and field list, reason CURRENCY_MISMATCH: the ErrorInfo is
  // rebuilt and every other detail (BadRequest) carried over.
  absl::Status out = Error(absl::StatusCode::kInvalidArgument, "CURRENCY_MISMATCH", fields.message(),
                           {{"field", ErrorMetadataValue(fields, "field")}});
  fields.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
    if (!out.GetPayload(url).has_value()) out.SetPayload(url, payload);
  });
  return out;
}

absl::Status ValidateCampaign(const v1::Campaign& c) {
  FieldErrors errors;
  size_t mismatches = 0;
  if (c.display_name().empty()) errors.Add("campaign.display_name", "is required (1..200 characters)");
  errors.RequireMaxLength("campaign.display_name", c.display_name(), 200);
  errors.RequireMaxLength("campaign.description", c.description(), 2000);
  ValidateLocalizedTexts(errors, "campaign.localized_display_names", c.localized_display_names(), 200);
  ValidateLocalizedTexts(errors, "campaign.localized_descriptions", c.localized_descriptions(), 2000);
  if (!c.time_zone().empty()) errors.RequireTimeZone("campaign.time_zone", c.time_zone());
  if (!c.currency_code().empty()) errors.RequireCurrency("campaign.currency_code", c.currency_code());
  CheckOptionalTimestamp(errors, "campaign.starts_at", c.has_starts_at(), c.starts_at());
  CheckOptionalTimestamp(errors, "campaign.ends_at", c.has_ends_at(), c.ends_at());
  if (c.has_starts_at() && c.has_ends_at() && FromTimestamp(c.ends_at()) <= FromTimestamp(c.starts_at())) {
    errors.Add("campaign.ends_at", "must be after starts_at");
  }
  if (c.windows_size() > 50) errors.Add("campaign.windows", "at most 50");
  for (int i = 0; i < c.windows_size() && i < 50; ++i) {
    CheckWindow(errors, absl::StrCat("campaign.windows[", i, "]"), c.windows(i));
  }
  if (c.rules_size() > 100) errors.Add("campaign.rules", "at most 100");
  std::set<std::string> rule_ids;
  for (int i = 0; i < c.rules_size() && i < 100; ++i) {
    const auto& r = c.rules(i);
    std::string f = absl::StrCat("campaign.rules[", i, "]");
    if (!r.rule_id().empty()) {
      if (!Matches(r.rule_id(), 40, RuleIdChar)) errors.Add(f + ".rule_id", "must match [a-z0-9_-]{1,40}");
      if (!rule_ids.insert(r.rule_id()).second) errors.Add(f + ".rule_id", "is used by an earlier rule");
    }
    errors.RequireMaxLength(f + ".description", r.description(), 2000);
    if (r.effects().empty() || r.effects_size() > 20) errors.Add(f + ".effects", "1..20 effects");
    for (int j = 0; j < r.effects_size() && j < 20; ++j) {
      CheckEffect(errors, absl::StrCat(f, ".effects[", j, "]"), r.effects(j));
    }
    if (r.conditions_size() > 20) errors.Add(f + ".conditions", "at most 20");
    for (int j = 0; j < r.conditions_size() && j < 20; ++j) {
      CheckCondition(errors, absl::StrCat(f, ".conditions[", j, "]"), r.conditions(j));
    }
  }
  if (c.alert().has_notice()) {
    absl::Duration notice = FromDurationProto(c.alert().notice());
    if (notice < absl::ZeroDuration() || notice > absl::Hours(24 * 30)) {
      errors.Add("campaign.alert.notice", "0 to 30 days");
    }
  }
  errors.RequireMaxLength("campaign.alert.title", c.alert().title(), 200);
  errors.RequireMaxLength("campaign.alert.description", c.alert().description(), 2000);
  if (c.alert().variables_size() > 50) errors.Add("campaign.alert.variables", "at most 50 entries");
  for (const auto& [k, v] : c.alert().variables()) {
    if (!Matches(k, 64, VariableChar) || k[0] < 'a' || k[0] > 'z') {
      errors.Add("campaign.alert.variables", "keys must match [a-z][a-z0-9_]*");
      break;
    }
  }
  if (c.limits().max_redemptions() < 0) errors.Add("campaign.limits.max_redemptions", "must be >= 0");
  if (c.limits().max_redemptions_per_customer() < 0) {
    errors.Add("campaign.limits.max_redemptions_per_customer", "must be >= 0");
  }
  if (c.limits().points_budget() < 0 || c.limits().points_budget() > kMaxPointsBalance) {
    errors.Add("campaign.limits.points_budget", absl::StrCat("0..", kMaxPointsBalance));
  }
  // Every amount: within the money bound and in the campaign's currency.
  WalkMoney(c, "campaign", c.currency_code(), errors, mismatches);
  return FieldStatus(errors, mismatches);
}

}  // namespace care::promotion
