#include "services/loyalty/loyalty_proto.h"

#include <algorithm>

#include "absl/numeric/int128.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "google/protobuf/util/field_mask_util.h"

namespace care::loyalty {
namespace {

using care::common::v1::Money;

// Amounts inside a program: the program's currency or no code at all.
int64_t ProgramAmount(const Money& m, const std::string& currency, const std::string& field, FieldErrors& errors) {
  if (!m.currency_code().empty() && m.currency_code() != currency) {
    errors.Add(field, absl::StrCat("must be in the program currency ", currency));
  }
  return m.amount_minor();
}

void SetTime(absl::Time t, google::protobuf::Timestamp* out) { *out = ToTimestamp(t); }

PurchaseLine LineFromProto(const v1::PurchaseLine& p) {
  return PurchaseLine{p.line_id(), p.sku(), p.category(), p.quantity(), p.amount().amount_minor()};
}

v1::PurchaseLine LineToProto(const PurchaseLine& l, const std::string& currency) {
  v1::PurchaseLine p;
  p.set_line_id(l.line_id);
  p.set_sku(l.sku);
  p.set_category(l.category);
  p.set_quantity(l.quantity);
  *p.mutable_amount() = MoneyProto(l.amount, currency);
  return p;
}

}  // namespace

Money MoneyProto(int64_t minor, const std::string& currency) {
  Money m;
  m.set_amount_minor(minor);
  m.set_currency_code(currency);
  return m;
}

v1::TierBenefits BenefitsToProto(const TierBenefits& b) {
  v1::TierBenefits p;
  p.set_discount_bps(b.discount_bps);
  p.set_points_multiplier_bps(b.points_multiplier_bps);
  p.set_free_shipping(b.free_shipping);
  p.set_free_returns(b.free_returns);
  p.set_support_priority(static_cast<v1::SupportPriority>(b.support_priority));
  for (const auto& perk : b.perks) p.add_perks(perk);
  return p;
}

namespace {

TierBenefits BenefitsFromProto(const v1::TierBenefits& p) {
  TierBenefits b;
  b.discount_bps = p.discount_bps();
  b.points_multiplier_bps = p.points_multiplier_bps();
  b.free_shipping = p.free_shipping();
  b.free_returns = p.free_returns();
  b.support_priority = static_cast<SupportPriority>(p.support_priority());
  b.perks.assign(p.perks().begin(), p.perks().end());
  return b;
}

v1::Occasion OccasionToProto(const Occasion& o) {
  v1::Occasion p;
  p.set_occasion_id(o.occasion_id);
  p.set_display_name(o.display_name);
  p.mutable_localized_display_names()->insert(o.localized_display_names.begin(), o.localized_display_names.end());
  if (o.anniversary) {
    v1::MembershipAnniversary* a = p.mutable_membership_anniversary();  // set even with no years
    for (int year : o.anniversary_years) a->add_years(year);
  } else {
    p.mutable_date()->set_year(o.year);
    p.mutable_date()->set_month(o.month);
    p.mutable_date()->set_day(o.day);
  }
  p.set_points(o.points);
  for (const std::string& t : o.tier_ids) p.add_tier_ids(t);
  for (const std::string& s : o.segments) p.add_segments(s);
  p.set_reward_id(o.reward_id);
  return p;
}

// An occasion with neither rule keeps month 0, which validation names.
Occasion OccasionFromProto(const v1::Occasion& p) {
  Occasion o;
  o.occasion_id = p.occasion_id();
  o.display_name = p.display_name();
  o.localized_display_names.insert(p.localized_display_names().begin(), p.localized_display_names().end());
  o.anniversary = p.has_membership_anniversary();
  o.anniversary_years.assign(p.membership_anniversary().years().begin(), p.membership_anniversary().years().end());
  o.year = p.date().year();
  o.month = p.date().month();
  o.day = p.date().day();
  o.points = p.points();
  o.tier_ids.assign(p.tier_ids().begin(), p.tier_ids().end());
  o.segments.assign(p.segments().begin(), p.segments().end());
  o.reward_id = p.reward_id();
  return o;
}

v1::CadenceRule CadenceRuleToProto(const CadenceRule& r) {
  v1::CadenceRule p;
  p.set_rule_id(r.rule_id);
  p.set_display_name(r.display_name);
  p.mutable_localized_display_names()->insert(r.localized_display_names.begin(), r.localized_display_names.end());
  if (r.trigger == CadenceRule::Trigger::kNoPurchaseFor) *p.mutable_no_purchase_for() = ToDurationProto(r.after);
  if (r.trigger == CadenceRule::Trigger::kSinceEnrolment) *p.mutable_since_enrolment() = ToDurationProto(r.after);
  if (r.period != absl::ZeroDuration()) *p.mutable_period() = ToDurationProto(r.period);
  for (const std::string& t : r.tier_ids) p.add_tier_ids(t);
  for (const std::string& s : r.segments) p.add_segments(s);
  p.set_action(r.action == CadenceRule::Action::kAgentTask ? v1::CADENCE_ACTION_AGENT_TASK
                                                           : v1::CADENCE_ACTION_MESSAGE);
  p.set_team_id(r.team_id);
  return p;
}

// A rule with no trigger keeps kNone, which validation names.
CadenceRule CadenceRuleFromProto(const v1::CadenceRule& p) {
  CadenceRule r;
  r.rule_id = p.rule_id();
  r.display_name = p.display_name();
  r.localized_display_names.insert(p.localized_display_names().begin(), p.localized_display_names().end());
  if (p.has_no_purchase_for()) {
    r.trigger = CadenceRule::Trigger::kNoPurchaseFor;
    r.after = FromDurationProto(p.no_purchase_for());
  } else if (p.has_since_enrolment()) {
    r.trigger = CadenceRule::Trigger::kSinceEnrolment;
    r.after = FromDurationProto(p.since_enrolment());
  }
  r.period = FromDurationProto(p.period());
  r.tier_ids.assign(p.tier_ids().begin(), p.tier_ids().end());
  r.segments.assign(p.segments().begin(), p.segments().end());
  if (p.action() == v1::CADENCE_ACTION_AGENT_TASK) r.action = CadenceRule::Action::kAgentTask;
  if (!v1::CadenceAction_IsValid(p.action())) r.action = CadenceRule::Action::kUnknown;
  r.team_id = p.team_id();
  return r;
}

// The program's lists of member rules: occasions and cadence rules.
void RulesFromProto(const v1::Program& p, Program& program) {
  for (const v1::Occasion& o : p.occasions()) program.occasions.push_back(OccasionFromProto(o));
  for (const v1::CadenceRule& r : p.cadence_rules()) program.cadence_rules.push_back(CadenceRuleFromProto(r));
}

}  // namespace

v1::Program ProgramToProto(const Program& program) {
  v1::Program p;
  p.set_version(program.version);
  p.set_display_name(program.display_name);
  p.set_currency_code(program.currency_code);
  p.set_time_zone(program.time_zone);
  for (const Tier& t : program.tiers) {
    v1::Tier* pt = p.add_tiers();
    pt->set_tier_id(t.tier_id);
    pt->set_display_name(t.display_name);
    for (const auto& [locale, name] : t.localized_display_names) {
      (*pt->mutable_localized_display_names())[locale] = name;
    }
    pt->set_rank(t.rank);
    *pt->mutable_qualifying_spend() = MoneyProto(t.qualifying_spend, program.currency_code);
    pt->mutable_qualification_window()->set_kind(static_cast<v1::QualificationWindowKind>(t.window.kind));
    pt->mutable_qualification_window()->set_rolling_months(t.window.rolling_months);
    v1::RetentionRule* r = pt->mutable_retention();
    if (t.retention.grace_period > absl::ZeroDuration()) {
      *r->mutable_grace_period() = ToDurationProto(t.retention.grace_period);
    }
    r->set_downgrade_mode(static_cast<v1::DowngradeMode>(t.retention.downgrade_mode));
    r->set_return_downgrade(static_cast<v1::ReturnDowngrade>(t.retention.return_downgrade));
    *pt->mutable_benefits() = BenefitsToProto(t.benefits);
    pt->set_description(t.description);
  }
  v1::EarnRule* e = p.mutable_earn_rule();
  e->set_points_per_unit(program.earn_rule.points_per_unit);
  *e->mutable_unit_amount() = MoneyProto(program.earn_rule.unit_amount, program.currency_code);
  e->set_rounding(static_cast<v1::RoundingMode>(program.earn_rule.rounding));
  if (program.points_expiry) {
    p.mutable_points_expiry()->set_expire_after_months(program.points_expiry->expire_after_months);
    if (program.points_expiry->warning_lead > absl::ZeroDuration()) {
      *p.mutable_points_expiry()->mutable_warning_lead() = ToDurationProto(program.points_expiry->warning_lead);
    }
  }
  if (program.visit_reward) {
    const VisitReward& v = *program.visit_reward;
    v1::VisitReward* pv = p.mutable_visit_reward();
    pv->set_every_n_visits(v.every_n_visits);
    if (v.min_order_amount) *pv->mutable_min_order_amount() = MoneyProto(*v.min_order_amount, program.currency_code);
    pv->set_reward_name(v.reward_name);
    pv->set_bonus_points(v.bonus_points);
    pv->mutable_localized_reward_names()->insert(v.localized_reward_names.begin(), v.localized_reward_names.end());
  }
  if (program.birthday_points > 0) p.mutable_birthday_bonus()->set_points(program.birthday_points);
  for (const Occasion& o : program.occasions) *p.add_occasions() = OccasionToProto(o);
  for (const CadenceRule& r : program.cadence_rules) *p.add_cadence_rules() = CadenceRuleToProto(r);
  if (program.point_value_points > 0) {
    *p.mutable_point_value()->mutable_amount() = MoneyProto(program.point_value_amount, program.currency_code);
    p.mutable_point_value()->set_points(program.point_value_points);
  }
  p.set_change_note(program.change_note);
  p.set_actor(program.actor);
  if (program.effective_time != absl::InfinitePast()) SetTime(program.effective_time, p.mutable_effective_time());
  if (program.superseded_time) SetTime(*program.superseded_time, p.mutable_superseded_time());
  return p;
}

Program ProgramFromProto(const v1::Program& p, FieldErrors& errors) {
  Program program;
  program.version = p.version();
  program.display_name = p.display_name();
  program.currency_code = p.currency_code();
  program.time_zone = p.time_zone();
  for (int i = 0; i < p.tiers_size(); ++i) {
    const v1::Tier& pt = p.tiers(i);
    std::string at = absl::StrCat("program.tiers[", i, "]");
    Tier t;
    t.tier_id = pt.tier_id();
    t.display_name = pt.display_name();
    t.localized_display_names.insert(pt.localized_display_names().begin(), pt.localized_display_names().end());
    t.rank = pt.rank();
    t.qualifying_spend = ProgramAmount(pt.qualifying_spend(), program.currency_code, at + ".qualifying_spend", errors);
    t.window.kind = static_cast<WindowKind>(pt.qualification_window().kind());
    t.window.rolling_months = pt.qualification_window().rolling_months();
    t.retention.grace_period = FromDurationProto(pt.retention().grace_period());
    // UNSPECIFIED is stored as the documented default.
    t.retention.downgrade_mode = pt.retention().downgrade_mode() == v1::DOWNGRADE_MODE_ONE_RANK
                                     ? DowngradeMode::kOneRank
                                     : DowngradeMode::kToQualified;
    t.retention.return_downgrade = pt.retention().return_downgrade() == v1::RETURN_DOWNGRADE_IMMEDIATE
                                       ? ReturnDowngrade::kImmediate
                                       : ReturnDowngrade::kAtReview;
    if (!pt.has_benefits()) errors.Add(at + ".benefits", "required");
    t.benefits = BenefitsFromProto(pt.benefits());
    t.description = pt.description();
    program.tiers.push_back(std::move(t));
  }
  if (!p.has_earn_rule()) errors.Add("program.earn_rule", "required");
  program.earn_rule.points_per_unit = p.earn_rule().points_per_unit();
  if (!p.earn_rule().has_unit_amount()) {
    if (p.has_earn_rule()) errors.Add("program.earn_rule.unit_amount", "required");
  } else {
    program.earn_rule.unit_amount = ProgramAmount(p.earn_rule().unit_amount(), program.currency_code,
                                                  "program.earn_rule.unit_amount", errors);
  }
  switch (p.earn_rule().rounding()) {
    case v1::ROUNDING_MODE_HALF_UP:
      program.earn_rule.rounding = Rounding::kHalfUp;
      break;
    case v1::ROUNDING_MODE_CEILING:
      program.earn_rule.rounding = Rounding::kCeiling;
      break;
    default:
      program.earn_rule.rounding = Rounding::kFloor;
  }
  if (p.has_points_expiry()) {
    program.points_expiry = PointsExpiry{p.points_expiry().expire_after_months(),
                                         FromDurationProto(p.points_expiry().warning_lead())};
  }
  if (p.has_visit_reward()) {
    VisitReward v;
    v.every_n_visits = p.visit_reward().every_n_visits();
    if (p.visit_reward().has_min_order_amount()) {
      v.min_order_amount = ProgramAmount(p.visit_reward().min_order_amount(), program.currency_code,
                                         "program.visit_reward.min_order_amount", errors);
    }
    v.reward_name = p.visit_reward().reward_name();
    v.bonus_points = p.visit_reward().bonus_points();
    v.localized_reward_names.insert(p.visit_reward().localized_reward_names().begin(),
                                    p.visit_reward().localized_reward_names().end());
    program.visit_reward = std::move(v);
  }
  program.birthday_points = p.birthday_bonus().points();
  RulesFromProto(p, program);
  if (p.has_point_value()) {
    program.point_value_amount = ProgramAmount(p.point_value().amount(), program.currency_code,
                                               "program.point_value.amount", errors);
    program.point_value_points = p.point_value().points();
    // Set but 0 points is an error, not "unset" (ValidateProgram).
    if (program.point_value_points == 0) program.point_value_points = -1;
  }
  program.change_note = p.change_note();
  program.actor = p.actor();
  if (p.has_effective_time()) program.effective_time = FromTimestamp(p.effective_time());
  if (p.has_superseded_time()) program.superseded_time = FromTimestamp(p.superseded_time());
  return program;
}

v1::TierSnapshot SnapshotToProto(const TierSnapshot& s) {
  v1::TierSnapshot p;
  p.set_member_id(s.member_id);
  p.set_tier_id(s.tier_id);
  p.set_tier_display_name(s.tier_display_name);
  p.set_tier_rank(s.tier_rank);
  *p.mutable_benefits() = BenefitsToProto(s.benefits);
  p.set_version(s.version);
  p.set_program_version(s.program_version);
  SetTime(s.update_time, p.mutable_update_time());
  return p;
}

Profile ProfileFromProto(const v1::Member& p) {
  Profile profile;
  profile.name = p.name();
  profile.email = p.email();
  profile.phone = p.phone();
  profile.locale = p.locale();
  profile.time_zone = p.time_zone();
  if (p.has_birthday()) profile.birthday = BirthDate{p.birthday().year(), p.birthday().month(), p.birthday().day()};
  profile.segment = p.segment();
  profile.gender = p.gender();
  profile.age_band = p.age_band();
  profile.occupation = p.occupation();
  for (const auto& c : p.marketing_consents()) {
    profile.consents.push_back(Consent{c.channel(), c.granted(), absl::InfinitePast()});
  }
  return profile;
}

void ProfileToProto(const Profile& profile, v1::Member* p) {
  p->set_name(profile.name);
  p->set_email(profile.email);
  p->set_phone(profile.phone);
  p->set_locale(profile.locale);
  p->set_time_zone(profile.time_zone);
  if (profile.birthday) {
    p->mutable_birthday()->set_year(profile.birthday->year);
    p->mutable_birthday()->set_month(profile.birthday->month);
    p->mutable_birthday()->set_day(profile.birthday->day);
  }
  p->set_segment(profile.segment);
  p->set_gender(static_cast<v1::Gender>(profile.gender));
  p->set_age_band(static_cast<v1::AgeBand>(profile.age_band));
  p->set_occupation(profile.occupation);
  for (const Consent& c : profile.consents) {
    v1::MarketingConsent* pc = p->add_marketing_consents();
    pc->set_channel(static_cast<care::common::v1::MessageChannel>(c.channel));
    pc->set_granted(c.granted);
    if (c.update_time != absl::InfinitePast()) SetTime(c.update_time, pc->mutable_update_time());
  }
}

v1::Member MemberToProto(const Member& m, const TierSnapshot& snapshot, const std::string& currency) {
  v1::Member p;
  p.set_member_id(m.member_id);
  ProfileToProto(m.profile, &p);
  v1::TierStanding* t = p.mutable_tier();
  t->set_tier_id(m.tier.tier_id);
  t->set_tier_display_name(snapshot.tier_display_name);
  t->set_tier_rank(snapshot.tier_rank);
  t->set_state(m.tier.in_grace ? v1::TIER_STATE_IN_GRACE : v1::TIER_STATE_QUALIFIED);
  SetTime(m.tier.achieved_time, t->mutable_achieved_time());
  if (m.tier.review_time) SetTime(*m.tier.review_time, t->mutable_review_time());
  if (m.tier.in_grace && m.tier.grace_end_time) SetTime(*m.tier.grace_end_time, t->mutable_grace_end_time());
  t->set_version(m.tier.version);
  p.set_points_balance(m.points_balance);
  p.set_visit_count(m.visit_count);
  p.set_visits_since_reward(m.visits_since_reward);
  if (m.last_visit_time) SetTime(*m.last_visit_time, p.mutable_last_visit_time());
  *p.mutable_lifetime_spend() = MoneyProto(m.lifetime_spend, currency);
  SetTime(m.create_time, p.mutable_create_time());
  SetTime(m.update_time, p.mutable_update_time());
  p.set_version(m.version);
  return p;
}

v1::LedgerEntry EntryToProto(const LedgerEntry& e, const std::string& currency) {
  v1::LedgerEntry p;
  p.set_entry_id(e.entry_id());
  p.set_member_id(e.member_id);
  p.set_sequence(e.sequence);
  p.set_kind(static_cast<v1::LedgerEntryKind>(e.kind));
  p.set_points_delta(e.points_delta);
  p.set_balance_after(e.balance_after);
  SetTime(e.create_time, p.mutable_create_time());
  SetTime(e.effective_time, p.mutable_effective_time());
  if (e.expire_time) SetTime(*e.expire_time, p.mutable_expire_time());
  p.set_program_version(e.program_version);
  p.set_actor(e.actor);
  p.set_request_id(e.request_id);
  std::visit(
      [&](const auto& cause) {
        using T = std::decay_t<decltype(cause)>;
        if constexpr (std::is_same_v<T, PurchaseCause>) {
          v1::PurchaseCause* c = p.mutable_purchase();
          c->set_order_id(cause.order_id);
          *c->mutable_amount() = MoneyProto(cause.amount, currency);
          for (const auto& l : cause.lines) *c->add_lines() = LineToProto(l, currency);
          for (const auto& id : cause.campaign_ids) c->add_campaign_ids(id);
          c->set_store_id(cause.store_id);
          v1::EarnCalculation* k = c->mutable_calculation();
          const EarnCalculation& calc = cause.calculation;
          *k->mutable_amount() = MoneyProto(calc.amount, currency);
          k->set_points_per_unit(calc.points_per_unit);
          *k->mutable_unit_amount() = MoneyProto(calc.unit_amount, currency);
          k->set_tier_id(calc.tier_id);
          k->set_points_multiplier_bps(calc.points_multiplier_bps);
          k->set_rounding(static_cast<v1::RoundingMode>(calc.rounding));
          k->set_no_points(calc.no_points);
          k->set_campaign_bonus_points(calc.campaign_bonus_points);
          k->set_promotion_redemption_id(calc.promotion_redemption_id);
        } else if constexpr (std::is_same_v<T, ReturnCause>) {
          v1::ReturnCause* c = p.mutable_product_return();
          c->set_return_id(cause.return_id);
          c->set_order_id(cause.order_id);
          c->set_kind(static_cast<v1::ReturnKind>(cause.kind));
          *c->mutable_returned_amount() = MoneyProto(cause.returned_amount, currency);
          *c->mutable_total_returned() = MoneyProto(cause.total_returned, currency);
          c->set_reversed_entry_id(cause.reversed_entry_id);
          c->set_points_unrecovered(cause.points_unrecovered);
          c->set_reason(cause.reason);
        } else if constexpr (std::is_same_v<T, RedemptionCause>) {
          p.mutable_redemption()->set_order_id(cause.order_id);
          p.mutable_redemption()->set_description(cause.description);
        } else if constexpr (std::is_same_v<T, AdjustmentCause>) {
          p.mutable_adjustment()->set_reason_code(cause.reason_code);
          p.mutable_adjustment()->set_complaint_id(cause.complaint_id);
          p.mutable_adjustment()->set_note(cause.note);
        } else if constexpr (std::is_same_v<T, ExpiryCause>) {
          SetTime(cause.expire_time, p.mutable_expiry()->mutable_expire_time());
        } else if constexpr (std::is_same_v<T, BirthdayCause>) {
          p.mutable_birthday()->set_year(cause.year);
        } else if constexpr (std::is_same_v<T, VisitRewardCause>) {
          p.mutable_visit_reward()->set_order_id(cause.order_id);
          p.mutable_visit_reward()->set_visit_count(cause.visit_count);
          p.mutable_visit_reward()->set_reward_name(cause.reward_name);
        } else if constexpr (std::is_same_v<T, ForfeitureCause>) {
          p.mutable_forfeiture()->set_description(cause.description);
        } else if constexpr (std::is_same_v<T, OccasionCause>) {
          p.mutable_occasion()->set_occasion_id(cause.occasion_id);
          p.mutable_occasion()->set_occasion_name(cause.occasion_name);
          p.mutable_occasion()->set_occurrence(cause.occurrence);
        } else if constexpr (std::is_same_v<T, RewardCause>) {
          v1::RewardCause* c = p.mutable_reward();
          c->set_reward_id(cause.reward_id);
          c->set_reward_name(cause.reward_name);
          c->set_redemption_id(cause.redemption_id);
          c->set_refund_reason(cause.refund_reason);
          c->set_occasion_id(cause.occasion_id);
        }
      },
      e.cause);
  return p;
}

namespace {

PurchaseCause PurchaseCauseFromProto(const v1::PurchaseCause& c) {
  PurchaseCause cause;
  cause.order_id = c.order_id();
  cause.amount = c.amount().amount_minor();
  for (const auto& l : c.lines()) cause.lines.push_back(LineFromProto(l));
  cause.campaign_ids.assign(c.campaign_ids().begin(), c.campaign_ids().end());
  cause.store_id = c.store_id();
  const auto& k = c.calculation();
  cause.calculation = EarnCalculation{k.amount().amount_minor(),
                                      k.points_per_unit(),
                                      k.unit_amount().amount_minor(),
                                      k.tier_id(),
                                      k.points_multiplier_bps(),
                                      static_cast<Rounding>(k.rounding()),
                                      k.no_points(),
                                      k.campaign_bonus_points(),
                                      k.promotion_redemption_id()};
  return cause;
}

}  // namespace

LedgerEntry EntryFromProto(const v1::LedgerEntry& p) {
  LedgerEntry e;
  e.member_id = p.member_id();
  e.sequence = p.sequence();
  e.kind = static_cast<EntryKind>(p.kind());
  e.points_delta = p.points_delta();
  e.balance_after = p.balance_after();
  e.create_time = FromTimestamp(p.create_time());
  e.effective_time = FromTimestamp(p.effective_time());
  if (p.has_expire_time()) e.expire_time = FromTimestamp(p.expire_time());
  e.program_version = p.program_version();
  e.actor = p.actor();
  e.request_id = p.request_id();
  switch (p.cause_case()) {
    case v1::LedgerEntry::kPurchase:
      e.order_id = p.purchase().order_id();
      e.cause = PurchaseCauseFromProto(p.purchase());
      break;
    case v1::LedgerEntry::kProductReturn: {
      const auto& c = p.product_return();
      e.order_id = c.order_id();
      e.cause = ReturnCause{c.return_id(),
                            c.order_id(),
                            static_cast<ReturnKind>(c.kind()),
                            c.returned_amount().amount_minor(),
                            c.total_returned().amount_minor(),
                            c.reversed_entry_id(),
                            c.points_unrecovered(),
                            c.reason()};
      break;
    }
    case v1::LedgerEntry::kRedemption:
      e.order_id = p.redemption().order_id();
      e.cause = RedemptionCause{p.redemption().order_id(), p.redemption().description()};
      break;
    case v1::LedgerEntry::kAdjustment:
      e.cause = AdjustmentCause{p.adjustment().reason_code(), p.adjustment().complaint_id(), p.adjustment().note()};
      break;
    case v1::LedgerEntry::kExpiry:
      e.cause = ExpiryCause{FromTimestamp(p.expiry().expire_time())};
      break;
    case v1::LedgerEntry::kBirthday:
      e.cause = BirthdayCause{p.birthday().year()};
      break;
    case v1::LedgerEntry::kVisitReward:
      e.order_id = p.visit_reward().order_id();
      e.cause = VisitRewardCause{p.visit_reward().order_id(), p.visit_reward().visit_count(),
                                 p.visit_reward().reward_name()};
      break;
    case v1::LedgerEntry::kForfeiture:
      e.cause = ForfeitureCause{p.forfeiture().description()};
      break;
    case v1::LedgerEntry::kOccasion:
      e.cause = OccasionCause{p.occasion().occasion_id(), p.occasion().occasion_name(), p.occasion().occurrence()};
      break;
    case v1::LedgerEntry::kReward:
      e.cause = RewardCause{p.reward().reward_id(), p.reward().reward_name(), p.reward().redemption_id(),
                            p.reward().refund_reason(), p.reward().occasion_id()};
      break;
    default:
      break;
  }
  return e;
}

v1::TierProjection ProjectionToProto(const Projection& pr, const std::string& currency) {
  v1::TierProjection p;
  p.set_tier_id(pr.tier.tier_id);
  p.set_tier_display_name(pr.tier.display_name);
  p.set_tier_rank(pr.tier.rank);
  p.set_goal(pr.keep ? v1::TIER_GOAL_KEEP : v1::TIER_GOAL_REACH);
  *p.mutable_threshold() = MoneyProto(pr.tier.qualifying_spend, currency);
  *p.mutable_qualifying_spend() = MoneyProto(pr.qualifying_spend, currency);
  *p.mutable_spend_needed() = MoneyProto(pr.spend_needed, currency);
  SetTime(pr.deadline, p.mutable_deadline());
  if (pr.window_start) SetTime(*pr.window_start, p.mutable_window_start());
  p.set_achieved(pr.achieved());
  return p;
}

namespace {

// Amounts of a stored version without their currency code ("the program's"),
// so that a mask changing only currency_code (allowed before any purchase)
// re-denominates them instead of failing on each.
void ClearProgramCurrencies(v1::Program* p) {
  for (auto& t : *p->mutable_tiers()) t.mutable_qualifying_spend()->clear_currency_code();
  if (p->has_earn_rule()) p->mutable_earn_rule()->mutable_unit_amount()->clear_currency_code();
  if (p->visit_reward().has_min_order_amount()) {
    p->mutable_visit_reward()->mutable_min_order_amount()->clear_currency_code();
  }
}

// Both purchase and return answers carry the member's tier after the change
// and the progress to the next tier.
template <typename Result, typename Response>
void SetTierOutcome(const Result& r, Response* resp) {
  *resp->mutable_tier() = SnapshotToProto(r.tier);
  resp->set_tier_changed(r.change.changed);
  if (r.change.changed) resp->set_previous_tier_id(r.change.previous_tier_id);
  const Progress& p = r.progress;
  if (p.next_tier) *resp->mutable_next_tier_progress() = ProjectionToProto(*p.next_tier, r.currency);
  if (p.keep_tier) *resp->mutable_keep_tier_progress() = ProjectionToProto(*p.keep_tier, r.currency);
}

}  // namespace

absl::StatusOr<Program> MergeProgram(const Program* latest, const ProgramUpdate& update) {
  using google::protobuf::util::FieldMaskUtil;
  v1::Program merged;
  if (update.replace_all) {
    merged = update.program;
  } else {
    if (latest == nullptr) return InvalidField("update_mask", "must be empty or \"*\" for the first program version");
    merged = ProgramToProto(*latest);
    ClearProgramCurrencies(&merged);
    FieldMaskUtil::MergeOptions options;
    options.set_replace_message_fields(true);
    options.set_replace_repeated_fields(true);
    FieldMaskUtil::MergeMessageTo(update.program, update.mask, options, &merged);
  }
  FieldErrors errors;
  Program next = ProgramFromProto(merged, errors);
  if (!errors.empty()) return errors.ToStatus();
  return next;
}

v1::Member MemberViewToProto(const MemberView& view, const std::string& currency) {
  return MemberToProto(view.member, view.snapshot, currency);
}

v1::RecordPurchaseResponse PurchaseResponse(const PurchaseResult& r) {
  v1::RecordPurchaseResponse resp;
  resp.set_order_id(r.order_id);
  resp.set_member_id(r.member_id);
  resp.set_program_version(r.program_version);
  resp.set_points_earned(r.points_earned);
  resp.set_campaign_bonus_points(r.campaign_bonus_points);
  resp.set_points_balance(r.points_balance);
  SetTierOutcome(r, &resp);
  resp.set_visit_counted(r.visit_outcome == VisitOutcome::kCounted);
  resp.set_visit_outcome(static_cast<v1::VisitOutcome>(r.visit_outcome));
  resp.set_visit_count(r.visit_count);
  resp.set_visits_until_reward(r.visits_until_reward);
  if (r.visit_reward) {
    v1::VisitRewardGrant* g = resp.mutable_visit_reward();
    g->set_reward_name(r.visit_reward->reward_name);
    g->set_points(r.visit_reward_points);
    g->set_visit_count(r.visit_reward->visit_count);
    g->set_entry_id(r.visit_reward->entry_id);
  }
  for (const LedgerEntry& e : r.entries) *resp.add_entries() = EntryToProto(e, r.currency);
  return resp;
}

v1::RecordReturnResponse ReturnResponse(const ReturnResult& r) {
  v1::RecordReturnResponse resp;
  resp.set_return_id(r.return_id);
  resp.set_order_id(r.order_id);
  resp.set_member_id(r.member_id);
  *resp.mutable_returned_amount() = MoneyProto(r.returned_amount, r.currency);
  *resp.mutable_total_returned() = MoneyProto(r.total_returned, r.currency);
  resp.set_order_fully_returned(r.fully_returned);
  resp.set_points_reversed(r.points_reversed);
  resp.set_points_unrecovered(r.points_unrecovered);
  resp.set_points_balance(r.points_balance);
  SetTierOutcome(r, &resp);
  *resp.mutable_entry() = EntryToProto(r.entry, r.currency);
  return resp;
}

v1::PointsBalance BalanceToProto(const Balance& b) {
  v1::PointsBalance resp;
  resp.set_member_id(b.member_id);
  resp.set_balance(b.balance);
  resp.set_lifetime_earned(b.lifetime_earned);
  resp.set_lifetime_bonus(b.lifetime_bonus);
  resp.set_lifetime_adjusted(b.lifetime_adjusted);
  resp.set_lifetime_redeemed(b.lifetime_redeemed);
  resp.set_lifetime_reversed(b.lifetime_reversed);
  resp.set_lifetime_expired(b.lifetime_expired);
  resp.set_points_expiring_soon(b.expiring_soon);
  *resp.mutable_expiring_soon_until() = ToTimestamp(b.expiring_soon_until);
  for (const MemberExpiry& e : b.upcoming) {
    v1::ExpiringPoints* p = resp.add_upcoming_expiries();
    *p->mutable_expire_time() = ToTimestamp(e.expire_time);
    p->set_points(e.points);
  }
  *resp.mutable_as_of() = ToTimestamp(b.as_of);
  return resp;
}

v1::ProjectTierResponse ProjectionResponse(const TierProjectionResult& r) {
  v1::ProjectTierResponse resp;
  *resp.mutable_tier() = SnapshotToProto(r.member.snapshot);
  *resp.mutable_standing() = MemberViewToProto(r.member, r.currency).tier();
  for (const Projection& p : r.projections) *resp.add_projections() = ProjectionToProto(p, r.currency);
  *resp.mutable_as_of() = ToTimestamp(r.as_of);
  return resp;
}

namespace {

v1::LocalDate DateProto(absl::CivilDay day) {
  v1::LocalDate d;
  d.set_year(static_cast<int32_t>(day.year()));
  d.set_month(day.month());
  d.set_day(day.day());
  return d;
}

// Rates in basis points, rounded down; 0 without a divisor.
int32_t Bps(int64_t part, int64_t whole) {
  if (whole <= 0 || part <= 0) return 0;
  return static_cast<int32_t>(std::min<absl::int128>(absl::int128(part) * 10000 / whole, 1000000));
}

v1::PointsFigures PointsProto(const RollupCounters& c) {
  v1::PointsFigures p;
  p.set_issued(c.points_earned + c.points_bonus + c.points_visit + c.points_adjusted_in);
  p.set_earned(c.points_earned);
  p.set_bonus(c.points_bonus);
  p.set_visit_rewards(c.points_visit);
  p.set_adjusted_in(c.points_adjusted_in);
  p.set_adjusted_out(c.points_adjusted_out);
  p.set_redeemed(c.points_redeemed);
  p.set_reversed(c.points_reversed);
  p.set_expired(c.points_expired);
  p.set_forfeited(c.points_forfeited);
  return p;
}

}  // namespace

v1::LoyaltyAnalytics AnalyticsResponse(const AnalyticsResult& result) {
  v1::LoyaltyAnalytics out;
  out.set_time_zone(result.time_zone);
  out.set_currency_code(result.currency);
  SetTime(result.as_of, out.mutable_as_of_time());
  for (const AnalyticsPeriod& p : result.periods) {
    v1::AnalyticsPeriod* pp = out.add_periods();
    *pp->mutable_start_date() = DateProto(p.start_day);
    *pp->mutable_end_date() = DateProto(p.end_day);
    pp->set_members(p.members);
    pp->set_enrolled(p.sums.enrolled);
    pp->set_erased(p.sums.erased);
    pp->set_upgrades(p.sums.upgraded);
    pp->set_downgrades(p.sums.downgraded);
    pp->set_purchases(p.sums.purchases);
    *pp->mutable_purchase_amount() = MoneyProto(p.sums.purchase_amount, result.currency);
    *pp->mutable_returned_amount() = MoneyProto(p.sums.returned_amount, result.currency);
    pp->set_active_members(p.active);
    pp->set_repeat_members(p.repeat);
    pp->set_active_rate_bps(Bps(p.active, p.members));
    pp->set_repeat_rate_bps(Bps(p.repeat, p.active));
    *pp->mutable_points() = PointsProto(p.sums);
    pp->set_outstanding_points(p.outstanding_points);
    if (p.liability) *pp->mutable_outstanding_liability() = MoneyProto(*p.liability, result.currency);
    for (const TierFigures& t : p.tiers) {
      v1::TierFigures* pt = pp->add_tiers();
      pt->set_tier_id(t.tier_id);
      pt->set_members(t.members);
      pt->set_enrolled(t.sums.enrolled);
      pt->set_erased(t.sums.erased);
      pt->set_upgraded_in(t.sums.upgraded);
      pt->set_downgraded_in(t.sums.downgraded);
      pt->set_active_members(t.active);
      pt->set_purchases(t.sums.purchases);
      *pt->mutable_points() = PointsProto(t.sums);
    }
  }
  return out;
}

}  // namespace care::loyalty
