#include "services/promotion/eligibility.h"

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/proto_time.h"

namespace care::promotion {

v1::RejectionReason Eligibility(const v1::Campaign& camp, const PricingInput& in, std::string* detail) {
  if (camp.state() == v1::CAMPAIGN_STATE_CANCELLED) return v1::REJECTION_REASON_CAMPAIGN_CANCELLED;
  if (camp.state() == v1::CAMPAIGN_STATE_DRAFT) return v1::REJECTION_REASON_CAMPAIGN_NOT_ANNOUNCED;
  if (in.now < FromTimestamp(camp.starts_at())) return v1::REJECTION_REASON_CAMPAIGN_NOT_STARTED;
  if (in.now >= FromTimestamp(camp.ends_at())) return v1::REJECTION_REASON_CAMPAIGN_ENDED;
  if (camp.currency_code() != in.currency_code) return v1::REJECTION_REASON_CURRENCY_MISMATCH;
  if (!InsideWindows(camp, in.now)) return v1::REJECTION_REASON_OUTSIDE_WINDOW;
  const auto& a = camp.audience();
  const Shopper& who = in.shopper;
  if (who.guest && (a.members_only() || a.opted_in_only() || !a.tier_ids().empty() || !a.segments().empty())) {
    return v1::REJECTION_REASON_GUEST_NOT_ELIGIBLE;
  }
  if (!a.tier_ids().empty() && !Contains(a.tier_ids(), who.tier_id)) {
    *detail = absl::StrCat("tier ", who.tier_id, " is not targeted");
    return v1::REJECTION_REASON_TIER_NOT_TARGETED;
  }
  if (!a.segments().empty() && !Contains(a.segments(), who.segment)) {
    *detail = absl::StrCat("segment \"", who.segment, "\" is not targeted");
    return v1::REJECTION_REASON_SEGMENT_NOT_TARGETED;
  }
  if (a.opted_in_only() && !who.opted_in) return v1::REJECTION_REASON_NOT_OPTED_IN;
  if (camp.voucher_required() && !in.unlocked.count(camp.campaign_id())) return v1::REJECTION_REASON_VOUCHER_REQUIRED;
  if (auto l = in.left.find(camp.campaign_id()); l != in.left.end()) {
    if (l->second.redemptions && *l->second.redemptions <= 0) return v1::REJECTION_REASON_REDEMPTION_LIMIT_REACHED;
    if (l->second.customer_unidentified) return v1::REJECTION_REASON_CUSTOMER_UNIDENTIFIED;
    if (l->second.customer && *l->second.customer <= 0) return v1::REJECTION_REASON_CUSTOMER_LIMIT_REACHED;
    if (l->second.budget && *l->second.budget <= 0) return v1::REJECTION_REASON_BUDGET_EXHAUSTED;
    if (l->second.points && *l->second.points <= 0) return v1::REJECTION_REASON_BUDGET_EXHAUSTED;
  }
  return v1::REJECTION_REASON_UNSPECIFIED;
}

v1::RejectionReason FailedCondition(const v1::Rule& rule, const PricingInput& in, const std::vector<int64_t>& subtotals,
                                    std::string* detail) {
  for (const v1::Condition& cond : rule.conditions()) {
    if (cond.has_min_spend()) {
      int64_t spend = 0;
      for (size_t i = 0; i < in.lines.size(); ++i) {
        if (!cond.min_spend().has_items() || Matches(cond.min_spend().items(), in.lines[i])) spend += subtotals[i];
      }
      if (spend < cond.min_spend().amount().amount_minor()) {
        *detail = absl::StrCat("rule ", rule.rule_id(), ": spend ", spend, " of ",
                               cond.min_spend().amount().amount_minor(), " minor units");
        return v1::REJECTION_REASON_MIN_SPEND_NOT_MET;
      }
    } else if (cond.has_min_quantity()) {
      int64_t units = 0;
      for (const Line& l : in.lines) {
        if (Matches(cond.min_quantity().items(), l)) units += l.quantity;
      }
      if (units < cond.min_quantity().quantity()) return v1::REJECTION_REASON_MIN_QUANTITY_NOT_MET;
    } else if (cond.has_combo()) {
      // A unit counts toward one component only.
      std::vector<int64_t> left;
      for (const Line& l : in.lines) left.push_back(l.quantity);
      for (const v1::ComboComponent& comp : cond.combo().components()) {
        int64_t need = std::max(1, comp.quantity());
        for (size_t i = 0; i < in.lines.size() && need > 0; ++i) {
          if (!Matches(comp.items(), in.lines[i])) continue;
          int64_t take = std::min(need, left[i]);
          left[i] -= take;
          need -= take;
        }
        if (need > 0) {
          *detail = absl::StrCat("rule ", rule.rule_id(), ": combo component missing");
          return v1::REJECTION_REASON_COMBO_INCOMPLETE;
        }
      }
    } else if (cond.has_customer_tier()) {
      if (in.shopper.guest || !Contains(cond.customer_tier().tier_ids(), in.shopper.tier_id)) {
        return v1::REJECTION_REASON_TIER_CONDITION_NOT_MET;
      }
    }
  }
  return v1::REJECTION_REASON_UNSPECIFIED;
}

bool InsideWindows(const v1::Campaign& camp, absl::Time now) {
  if (camp.windows().empty()) return true;
  absl::TimeZone zone;
  if (!absl::LoadTimeZone(camp.time_zone(), &zone)) return false;
  absl::CivilSecond local = absl::ToCivilSecond(now, zone);
  for (const v1::ValidityWindow& w : camp.windows()) {
    int start_min = w.start_time().hours() * 60 + w.start_time().minutes();
    int end_min = w.end_time().hours() * 60 + w.end_time().minutes();
    if (end_min == 0) end_min = 24 * 60;
    int now_min = local.hour() * 60 + local.minute();
    // The day the window opened on: today, or yesterday for the part of an
    // overnight window after midnight.
    absl::CivilDay opened = absl::CivilDay(local);
    bool inside;
    if (end_min > start_min) {
      inside = now_min >= start_min && now_min < end_min;
    } else if (now_min >= start_min) {
      inside = true;
    } else {
      inside = now_min < end_min;
      opened -= 1;
    }
    if (!inside) continue;
    if (!w.weekdays().empty()) {
      int iso = static_cast<int>(absl::GetWeekday(opened));  // Monday = 0
      if (std::find(w.weekdays().begin(), w.weekdays().end(), iso + 1) == w.weekdays().end()) continue;
    }
    if (w.has_start_date() &&
        opened < absl::CivilDay(w.start_date().year(), w.start_date().month(), w.start_date().day())) {
      continue;
    }
    if (w.has_end_date() && opened > absl::CivilDay(w.end_date().year(), w.end_date().month(), w.end_date().day())) {
      continue;
    }
    return true;
  }
  return false;
}

}  // namespace care::promotion
