#include "services/promotion/rejections.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/proto_time.h"

namespace care::promotion {
namespace {

namespace v1 = ::care::promotion::v1;

std::string When(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", FromTimestamp(t), absl::UTCTimeZone());
}

const v1::Rule* RuleOf(const v1::Campaign* c, const std::string& rule_id) {
  if (c == nullptr) return nullptr;
  for (const v1::Rule& r : c->rules()) {
    if (r.rule_id() == rule_id) return &r;
  }
  return nullptr;
}

std::string RulePrefix(const v1::RejectedCampaign& r) {
  return r.rule_id().empty() ? "" : absl::StrCat("rule ", r.rule_id(), ": ");
}

}  // namespace

std::string RejectionDetail(const v1::RejectedCampaign& r, const v1::Campaign* c, const PricingInput& in) {
  switch (r.reason()) {
    case v1::REJECTION_REASON_CAMPAIGN_NOT_ANNOUNCED:
      return "the campaign is a draft: it applies only once announced";
    case v1::REJECTION_REASON_CAMPAIGN_NOT_STARTED:
      return c == nullptr ? "the campaign has not started yet"
                          : absl::StrCat("the campaign starts at ", When(c->starts_at()));
    case v1::REJECTION_REASON_CAMPAIGN_ENDED:
      return c == nullptr ? "the campaign has ended" : absl::StrCat("the campaign ended at ", When(c->ends_at()));
    case v1::REJECTION_REASON_CAMPAIGN_CANCELLED:
      return "the campaign was cancelled";
    case v1::REJECTION_REASON_CURRENCY_MISMATCH:
      return absl::StrCat("the campaign is in ", c == nullptr ? "another currency" : c->currency_code(),
                          ", the cart in ", in.currency_code);
    case v1::REJECTION_REASON_OUTSIDE_WINDOW:
      return absl::StrCat("now is outside every validity window",
                          c == nullptr ? "" : absl::StrCat(" (", c->time_zone(), " local time)"));
    case v1::REJECTION_REASON_GUEST_NOT_ELIGIBLE:
      return "the campaign is for identified members only and the customer is a guest";
    case v1::REJECTION_REASON_TIER_NOT_TARGETED:
      return absl::StrCat("tier ", in.shopper.tier_id.empty() ? "(none)" : in.shopper.tier_id, " is not targeted",
                          c == nullptr
                              ? ""
                              : absl::StrCat(" (targets: ", absl::StrJoin(c->audience().tier_ids(), ", "), ")"));
    case v1::REJECTION_REASON_SEGMENT_NOT_TARGETED:
      return absl::StrCat("the member is in no targeted segment",
                          c == nullptr
                              ? ""
                              : absl::StrCat(" (targets: ", absl::StrJoin(c->audience().segments(), ", "), ")"));
    case v1::REJECTION_REASON_NOT_OPTED_IN:
      return "the member has not opted in to special offers";
    case v1::REJECTION_REASON_VOUCHER_REQUIRED:
      return "the campaign needs one of its vouchers and no usable one was sent";
    case v1::REJECTION_REASON_REDEMPTION_LIMIT_REACHED:
      return c == nullptr ? "the campaign's redemptions are used up"
                          : absl::StrCat("all ", c->limits().max_redemptions(), " redemptions are used");
    case v1::REJECTION_REASON_CUSTOMER_LIMIT_REACHED:
      return c == nullptr ? "the customer used the campaign up"
                          : absl::StrCat("the customer has used all ", c->limits().max_redemptions_per_customer(),
                                         " redemptions allowed per customer");
    case v1::REJECTION_REASON_CUSTOMER_UNIDENTIFIED:
      return "the campaign limits redemptions per customer and the guest has no guest_key";
    case v1::REJECTION_REASON_BUDGET_EXHAUSTED:
      return "the campaign's budget is used up";
    case v1::REJECTION_REASON_MIN_SPEND_NOT_MET:
      return absl::StrCat(RulePrefix(r), "the cart does not reach the minimum spend");
    case v1::REJECTION_REASON_MIN_QUANTITY_NOT_MET: {
      std::string need;
      if (const v1::Rule* rule = RuleOf(c, r.rule_id())) {
        for (const v1::Condition& cond : rule->conditions()) {
          if (cond.has_min_quantity()) need = absl::StrCat(" (", cond.min_quantity().quantity(), " needed)");
        }
      }
      return absl::StrCat(RulePrefix(r), "too few matching units in the cart", need);
    }
    case v1::REJECTION_REASON_COMBO_INCOMPLETE:
      return absl::StrCat(RulePrefix(r), "a component of the combo is missing");
    case v1::REJECTION_REASON_TIER_CONDITION_NOT_MET:
      return absl::StrCat(RulePrefix(r), in.shopper.guest ? "a guest has no tier"
                                                          : absl::StrCat("tier ", in.shopper.tier_id,
                                                                         " is not one the rule requires"));
    case v1::REJECTION_REASON_NO_EFFECT:
      return "the conditions held but the effects found nothing to discount (lines already at zero, no "
             "matching unit left, or a price not lower)";
    case v1::REJECTION_REASON_EXCLUDED_BY_EXCLUSIVE:
      return absl::StrCat("the exclusive campaign ", r.blocking_campaign_id(), " applied first");
    case v1::REJECTION_REASON_BLOCKED_BY_HIGHER_PRIORITY:
      return absl::StrCat("this campaign is exclusive and ", r.blocking_campaign_id(), " already applied before it");
    default:
      return absl::StrCat("rejected: ", v1::RejectionReason_Name(r.reason()));
  }
}

void ExplainRejections(const PricingInput& in, v1::QuoteResponse* out) {
  if (out->rejected_campaigns().empty()) return;
  absl::flat_hash_map<absl::string_view, const v1::Campaign*> by_id;
  by_id.reserve(in.candidates.size());
  for (const v1::Campaign* c : in.candidates) by_id.emplace(c->campaign_id(), c);
  for (v1::RejectedCampaign& r : *out->mutable_rejected_campaigns()) {
    if (!r.detail().empty()) continue;
    auto it = by_id.find(r.campaign_id());
    r.set_detail(RejectionDetail(r, it == by_id.end() ? nullptr : it->second, in));
  }
}

}  // namespace care::promotion
