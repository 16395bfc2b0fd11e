#include "services/promotion/promotion_service.h"

#include <openssl/sha.h>

#include <algorithm>
#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "care/notification/v1/notification.pb.h"
#include "common/errors.h"
#include "google/protobuf/util/field_mask_util.h"
#include "common/proto_time.h"
#include "services/promotion/campaign_validation.h"
#include "services/promotion/pricing.h"
#include "services/promotion/rejections.h"

namespace care::promotion {
namespace {

namespace v1 = ::care::promotion::v1;
namespace nv1 = ::care::notification::v1;

constexpr char kIngestMethod[] = "/care.notification.v1.NotificationService/IngestEvent";

absl::Status Transition(const v1::Campaign& c, absl::string_view method) {
  return Error(absl::StatusCode::kFailedPrecondition, "INVALID_TRANSITION",
               absl::StrCat(method, " is not allowed in state ", v1::CampaignState_Name(c.state())),
               {{"state", v1::CampaignState_Name(c.state())}, {"method", std::string(method)}});
}

absl::Status VersionMismatch(int64_t expected, int64_t actual) {
  return Error(absl::StatusCode::kAborted, "VERSION_MISMATCH",
               absl::StrCat("campaign is at version ", actual, ", not ", expected));
}

absl::Status NotFoundCampaign() { return NotFound("CAMPAIGN_NOT_FOUND", "no such campaign"); }

absl::Duration Notice(const v1::Campaign& c, absl::Duration fallback) {
  return c.alert().has_notice() ? FromDurationProto(c.alert().notice()) : fallback;
}

absl::Status NoticeTooShort(absl::Duration notice, absl::Time earliest) {
  return Error(absl::StatusCode::kFailedPrecondition, "NOTICE_TOO_SHORT",
               absl::StrCat("the campaign must start at least ", absl::FormatDuration(notice), " from now"),
               {{"notice", absl::StrCat(absl::ToInt64Seconds(notice), "s")},
                {"earliest_starts_at", absl::FormatTime(absl::RFC3339_sec, earliest, absl::UTCTimeZone())}});
}

absl::Status Incomplete(absl::string_view field) {
  return Error(absl::StatusCode::kFailedPrecondition, "CAMPAIGN_INCOMPLETE",
               absl::StrCat("the campaign needs ", field, " to be announced"), {{"field", std::string(field)}});
}

// The outbox event telling notification about the campaign's alert. Its id
// is unique per campaign version, which notification dedupes on.
OutboxEvent AlertEvent(const v1::Campaign& c, absl::Duration notice, absl::Time now, bool cancelled) {
  nv1::IngestEventRequest req;
  req.set_event_id(absl::StrCat("promotion:", c.campaign_id(), ":v", c.version()));
  req.set_source("promotion");
  *req.mutable_occurred_at() = ToTimestamp(now);
  if (cancelled) {
    auto* a = req.mutable_promotion_alert_cancelled();
    a->set_campaign_id(c.campaign_id());
    a->set_campaign_version(c.version());
  } else {
    auto* a = req.mutable_promotion_alert();
    a->set_campaign_id(c.campaign_id());
    a->set_campaign_version(c.version());
    a->set_title(c.alert().title().empty() ? c.display_name() : c.alert().title());
    a->set_description(c.alert().description().empty() ? c.description() : c.alert().description());
    *a->mutable_target_tier_ids() = c.audience().tier_ids();
    *a->mutable_target_segments() = c.audience().segments();
    *a->mutable_channels() = c.alert().channels();
    *a->mutable_starts_at() = c.starts_at();
    *a->mutable_ends_at() = c.ends_at();
    *a->mutable_notice() = ToDurationProto(notice);
    a->set_short_notice(c.short_notice());
    a->set_campaign_time_zone(c.time_zone());
    for (const auto& [k, v] : c.alert().variables()) (*a->mutable_variables())[k] = v;
  }
  return OutboxEvent{req.event_id(), "notification", kIngestMethod, req.SerializeAsString()};
}

std::string Digest(const std::string& token) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), md);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(md), sizeof(md)));
}

absl::Status Refuse(absl::string_view reason, const std::string& message, const ErrorMetadata& md) {
  return Error(absl::StatusCode::kFailedPrecondition, reason, message, md);
}

}  // namespace

std::string CustomerKey(const v1::QuoteCustomer& c) {
  if (!c.member_id().empty()) return "m:" + c.member_id();
  return c.guest_key().empty() ? "" : "g:" + c.guest_key();
}

PromotionService::PromotionService(PromotionStore& store, const Clock& clock, ShopperLookup shoppers,
                                   ProfileLookup profiles, PromotionOptions options)
    : store_(store),
      clock_(clock),
      shoppers_(std::move(shoppers)),
      profiles_(std::move(profiles)),
      options_(std::move(options)),
      signer_(options_.token_keys) {}

absl::Status PromotionService::Init() {
  auto live = store_.LiveCampaigns();
  if (!live.ok()) return live.status();
  index_.Load(*live);
  return absl::OkStatus();
}

v1::Campaign PromotionService::WithClockState(v1::Campaign c) const {
  absl::Time now = clock_.Now();
  if (c.state() == v1::CAMPAIGN_STATE_ANNOUNCED || c.state() == v1::CAMPAIGN_STATE_ACTIVE) {
    if (now >= FromTimestamp(c.ends_at())) {
      c.set_state(v1::CAMPAIGN_STATE_ENDED);
    } else if (now >= FromTimestamp(c.starts_at())) {
      c.set_state(v1::CAMPAIGN_STATE_ACTIVE);
    }
  }
  return c;
}

absl::StatusOr<v1::Campaign> PromotionService::Mutate(const std::string& method, const std::string& request_id,
                                                      const google::protobuf::Message& request,
                                                      const std::string& campaign_id,
                                                      const PromotionStore::Mutation& fn) {
  bool replayed = false;
  auto c = store_.MutateCampaign(method, request_id, request, campaign_id, fn, &replayed);
  if (!c.ok()) return c.status();
  // Only the committed change reaches the index (the store is our only writer).
  if (!replayed) index_.Put(*c);
  return WithClockState(*c);
}

absl::StatusOr<v1::Campaign> PromotionService::Create(const v1::CreateCampaignRequest& req, const std::string& by) {
  std::string id = req.campaign_id();
  if (id.empty()) id = absl::StrCat("c-", absl::ToUnixMicros(absl::Now()), "-", req.request_id().size());
  absl::Time now = clock_.Now();
  return Mutate("CreateCampaign", req.request_id(), req, id,
                [&](const v1::Campaign* current) -> absl::StatusOr<CampaignChange> {
                  if (current != nullptr) {
                    return AlreadyExists("CAMPAIGN_ALREADY_EXISTS", absl::StrCat("campaign ", id, " exists"));
                  }
                  CampaignChange ch;
                  ch.change = v1::CAMPAIGN_CHANGE_CREATED;
                  v1::Campaign& c = ch.campaign;
                  c = req.campaign();
                  c.set_campaign_id(id);
                  c.set_state(v1::CAMPAIGN_STATE_DRAFT);
                  c.set_version(1);
                  c.clear_short_notice();
                  c.clear_alert_due_time();
                  c.clear_announce_time();
                  c.clear_cancel_time();
                  c.clear_cancel_reason();
                  if (!c.rights().has_earns_points()) c.mutable_rights()->set_earns_points(true);
                  if (!c.rights().has_tier_discount_applies()) c.mutable_rights()->set_tier_discount_applies(true);
                  if (c.rights().stacking() == v1::STACKING_MODE_UNSPECIFIED) {
                    c.mutable_rights()->set_stacking(v1::STACKING_MODE_STACKABLE);
                  }
                  if (c.rule_matching() == v1::RULE_MATCHING_UNSPECIFIED) c.set_rule_matching(v1::RULE_MATCHING_ALL);
                  for (int i = 0; i < c.rules_size(); ++i) {
                    if (c.rules(i).rule_id().empty()) c.mutable_rules(i)->set_rule_id(absl::StrCat("rule-", i + 1));
                  }
                  *c.mutable_create_time() = ToTimestamp(now);
                  *c.mutable_update_time() = ToTimestamp(now);
                  c.set_updated_by(by);
                  if (absl::Status bad = ValidateCampaign(c); !bad.ok()) return bad;
                  return ch;
                });
}

absl::StatusOr<v1::Campaign> PromotionService::Get(const std::string& campaign_id, int64_t version) {
  auto c = store_.GetCampaign(campaign_id, version);
  if (!c.ok()) return c.status();
  return WithClockState(*c);
}

absl::StatusOr<v1::Campaign> PromotionService::Announce(const v1::AnnounceCampaignRequest& req,
                                                        const std::string& by) {
  absl::Time now = clock_.Now();
  return Mutate("AnnounceCampaign", req.request_id(), req, req.campaign_id(),
                [&](const v1::Campaign* current) -> absl::StatusOr<CampaignChange> {
                  if (current == nullptr) return NotFoundCampaign();
                  if (req.expected_version() != 0 && req.expected_version() != current->version()) {
                    return VersionMismatch(req.expected_version(), current->version());
                  }
                  if (current->state() != v1::CAMPAIGN_STATE_DRAFT) return Transition(*current, "AnnounceCampaign");
                  if (!current->has_starts_at()) return Incomplete("starts_at");
                  if (!current->has_ends_at()) return Incomplete("ends_at");
                  if (current->time_zone().empty()) return Incomplete("time_zone");
                  if (current->currency_code().empty()) return Incomplete("currency_code");
                  if (current->rules().empty()) return Incomplete("rules");
                  absl::Time starts = FromTimestamp(current->starts_at());
                  absl::Duration notice = Notice(*current, options_.notice);
                  bool short_notice = starts - now < notice;
                  if (short_notice && !req.allow_short_notice()) return NoticeTooShort(notice, now + notice);
                  CampaignChange ch;
                  ch.change = v1::CAMPAIGN_CHANGE_ANNOUNCED;
                  v1::Campaign& c = ch.campaign;
                  c = *current;
                  c.set_version(c.version() + 1);
                  c.set_state(now >= starts ? v1::CAMPAIGN_STATE_ACTIVE : v1::CAMPAIGN_STATE_ANNOUNCED);
                  c.set_short_notice(short_notice);
                  *c.mutable_announce_time() = ToTimestamp(now);
                  *c.mutable_update_time() = ToTimestamp(now);
                  c.set_updated_by(by);
                  if (!c.alert().no_alert()) {
                    *c.mutable_alert_due_time() = ToTimestamp(short_notice ? now : starts - notice);
                    ch.events.push_back(AlertEvent(c, notice, now, false));
                  }
                  return ch;
                });
}

absl::StatusOr<v1::Campaign> PromotionService::Reschedule(const v1::RescheduleCampaignRequest& req,
                                                          const std::string& by) {
  absl::Time now = clock_.Now();
  return Mutate("RescheduleCampaign", req.request_id(), req, req.campaign_id(),
                [&](const v1::Campaign* stored) -> absl::StatusOr<CampaignChange> {
                  if (stored == nullptr) return NotFoundCampaign();
                  v1::Campaign current = WithClockState(*stored);
                  if (req.expected_version() != 0 && req.expected_version() != current.version()) {
                    return VersionMismatch(req.expected_version(), current.version());
                  }
                  auto state = current.state();
                  if (state != v1::CAMPAIGN_STATE_DRAFT && state != v1::CAMPAIGN_STATE_ANNOUNCED &&
                      state != v1::CAMPAIGN_STATE_ACTIVE) {
                    return Transition(current, "RescheduleCampaign");
                  }
                  absl::Time starts = req.has_starts_at() ? FromTimestamp(req.starts_at())
                                                          : FromTimestamp(current.starts_at());
                  absl::Time ends = req.has_ends_at() ? FromTimestamp(req.ends_at()) : FromTimestamp(current.ends_at());
                  if (state == v1::CAMPAIGN_STATE_ACTIVE && req.has_starts_at() &&
                      starts != FromTimestamp(current.starts_at())) {
                    return Error(absl::StatusCode::kFailedPrecondition, "FIELD_IMMUTABLE",
                                 "an active campaign's start cannot move", {{"field", "starts_at"}});
                  }
                  if (req.has_starts_at() && starts <= now && state != v1::CAMPAIGN_STATE_ACTIVE) {
                    return InvalidField("starts_at", "must be in the future");
                  }
                  if (req.has_ends_at() && ends <= now) return InvalidField("ends_at", "must be in the future");
                  if (ends <= starts) return InvalidField("ends_at", "must be after starts_at");
                  absl::Duration notice = Notice(current, options_.notice);
                  bool short_notice = current.short_notice();
                  if (state == v1::CAMPAIGN_STATE_ANNOUNCED && req.has_starts_at()) {
                    short_notice = starts - now < notice;
                    if (short_notice && !req.allow_short_notice()) return NoticeTooShort(notice, now + notice);
                  }
                  CampaignChange ch;
                  ch.change = v1::CAMPAIGN_CHANGE_RESCHEDULED;
                  if (starts != FromTimestamp(current.starts_at())) ch.changed_fields.push_back("starts_at");
                  if (ends != FromTimestamp(current.ends_at())) ch.changed_fields.push_back("ends_at");
                  v1::Campaign& c = ch.campaign;
                  c = *stored;
                  c.set_version(c.version() + 1);
                  *c.mutable_starts_at() = ToTimestamp(starts);
                  *c.mutable_ends_at() = ToTimestamp(ends);
                  c.set_short_notice(short_notice);
                  *c.mutable_update_time() = ToTimestamp(now);
                  c.set_updated_by(by);
                  if (state != v1::CAMPAIGN_STATE_DRAFT && !c.alert().no_alert()) {
                    if (state == v1::CAMPAIGN_STATE_ANNOUNCED) {
                      *c.mutable_alert_due_time() = ToTimestamp(short_notice ? now : starts - notice);
                    }
                    ch.events.push_back(AlertEvent(c, notice, now, false));
                  }
                  return ch;
                });
}

absl::StatusOr<v1::Campaign> PromotionService::Update(const v1::UpdateCampaignRequest& req, const std::string& by) {
  absl::Time now = clock_.Now();
  const std::string& id = req.campaign().campaign_id();
  return Mutate("UpdateCampaign", req.request_id(), req, id,
                [&](const v1::Campaign* stored) -> absl::StatusOr<CampaignChange> {
                  if (stored == nullptr) return NotFoundCampaign();
                  v1::Campaign current = WithClockState(*stored);
                  if (req.campaign().version() != 0 && req.campaign().version() != current.version()) {
                    return VersionMismatch(req.campaign().version(), current.version());
                  }
                  auto state = current.state();
                  if (state == v1::CAMPAIGN_STATE_ENDED || state == v1::CAMPAIGN_STATE_CANCELLED) {
                    return Transition(current, "UpdateCampaign");
                  }
                  // Once announced, the dates move only through RescheduleCampaign
                  // (which re-times the alert) and the currency never changes.
                  for (const std::string& path : req.update_mask().paths()) {
                    if (state != v1::CAMPAIGN_STATE_DRAFT &&
                        (path == "starts_at" || path == "ends_at" || path == "currency_code" || path == "alert.notice")) {
                      return Error(absl::StatusCode::kFailedPrecondition, "FIELD_IMMUTABLE",
                                   absl::StrCat(path, " cannot change after announcement"), {{"field", path}});
                    }
                  }
                  CampaignChange ch;
                  ch.change = v1::CAMPAIGN_CHANGE_UPDATED;
                  ch.changed_fields.assign(req.update_mask().paths().begin(), req.update_mask().paths().end());
                  v1::Campaign& c = ch.campaign;
                  c = *stored;
                  google::protobuf::util::FieldMaskUtil::MergeOptions merge;
                  merge.set_replace_repeated_fields(true);
                  merge.set_replace_message_fields(true);
                  google::protobuf::util::FieldMaskUtil::MergeMessageTo(req.campaign(), req.update_mask(), merge, &c);
                  for (int i = 0; i < c.rules_size(); ++i) {
                    if (c.rules(i).rule_id().empty()) c.mutable_rules(i)->set_rule_id(absl::StrCat("rule-", i + 1));
                  }
                  c.set_version(stored->version() + 1);
                  *c.mutable_update_time() = ToTimestamp(now);
                  c.set_updated_by(by);
                  // The merged campaign is what would be stored: the same
                  // validation as CreateCampaign's, on every field.
                  if (absl::Status bad = ValidateCampaign(c); !bad.ok()) return bad;
                  // Quotes use the new version at once; the alert carries it too.
                  if (state != v1::CAMPAIGN_STATE_DRAFT && !c.alert().no_alert()) {
                    ch.events.push_back(AlertEvent(c, Notice(c, options_.notice), now, false));
                  }
                  return ch;
                });
}

absl::StatusOr<v1::Campaign> PromotionService::Cancel(const v1::CancelCampaignRequest& req, const std::string& by) {
  absl::Time now = clock_.Now();
  return Mutate("CancelCampaign", req.request_id(), req, req.campaign_id(),
                [&](const v1::Campaign* stored) -> absl::StatusOr<CampaignChange> {
                  if (stored == nullptr) return NotFoundCampaign();
                  v1::Campaign current = WithClockState(*stored);
                  if (req.expected_version() != 0 && req.expected_version() != current.version()) {
                    return VersionMismatch(req.expected_version(), current.version());
                  }
                  auto state = current.state();
                  if (state != v1::CAMPAIGN_STATE_DRAFT && state != v1::CAMPAIGN_STATE_ANNOUNCED &&
                      state != v1::CAMPAIGN_STATE_ACTIVE) {
                    return Transition(current, "CancelCampaign");
                  }
                  CampaignChange ch;
                  ch.change = v1::CAMPAIGN_CHANGE_CANCELLED;
                  v1::Campaign& c = ch.campaign;
                  c = *stored;
                  c.set_version(c.version() + 1);
                  c.set_state(v1::CAMPAIGN_STATE_CANCELLED);
                  *c.mutable_cancel_time() = ToTimestamp(now);
                  c.set_cancel_reason(req.reason());
                  *c.mutable_update_time() = ToTimestamp(now);
                  c.set_updated_by(by);
                  if (state != v1::CAMPAIGN_STATE_DRAFT && !c.alert().no_alert()) {
                    ch.events.push_back(AlertEvent(c, Notice(c, options_.notice), now, true));
                  }
                  return ch;
                });
}

absl::StatusOr<v1::CampaignReport> PromotionService::Report(const std::string& campaign_id) {
  auto c = Get(campaign_id, 0);
  if (!c.ok()) return c.status();
  auto u = store_.GetUsage(campaign_id);
  if (!u.ok()) return u.status();
  v1::CampaignReport r;
  r.set_campaign_id(campaign_id);
  r.set_campaign_version(c->version());
  r.set_state(c->state());
  r.set_redemptions(u->redemptions);
  r.set_cancelled_redemptions(u->cancelled);
  r.set_returned_redemptions(u->returned);
  r.set_unique_customers(u->customers);
  r.set_vouchers_generated(u->vouchers_generated);
  r.set_voucher_uses(u->voucher_uses);
  const std::string& cur = c->currency_code();
  SetMoney(r.mutable_discount_given(), u->discount, cur);
  if (c->limits().max_discount_total().amount_minor() > 0) {
    *r.mutable_budget_total() = c->limits().max_discount_total();
    SetMoney(r.mutable_budget_left(), c->limits().max_discount_total().amount_minor() - u->discount, cur);
  }
  if (c->limits().max_redemptions() > 0) r.set_redemptions_left(c->limits().max_redemptions() - u->redemptions);
  for (const CampaignUsage::Part& p : u->by_tier) {
    v1::ReportBreakdown* b = r.add_by_tier();
    b->set_tier_id(p.tier_id);
    b->set_redemptions(p.redemptions);
    SetMoney(b->mutable_discount_given(), p.discount, cur);
  }
  for (const CampaignUsage::Part& p : u->by_version) {
    v1::ReportBreakdown* b = r.add_by_version();
    b->set_campaign_version(p.version);
    b->set_redemptions(p.redemptions);
    SetMoney(b->mutable_discount_given(), p.discount, cur);
  }
  *r.mutable_report_time() = ToTimestamp(clock_.Now());
  return r;
}

absl::Status PromotionService::ReadLimits(const v1::Customer& customer, PricingInput& in) {
  std::vector<const v1::Campaign*> limited;
  for (const v1::Campaign* c : in.candidates) {
    const v1::Limits& l = c->limits();
    if (l.max_redemptions() > 0 || l.max_discount_total().amount_minor() > 0 || l.max_redemptions_per_customer() > 0) {
      limited.push_back(c);
    }
  }
  if (limited.empty()) return absl::OkStatus();  // no read at all for campaigns without limits
  v1::QuoteCustomer who;
  who.set_member_id(in.shopper.guest ? "" : in.shopper.member_id);
  who.set_guest_key(customer.guest().guest_key());
  const std::string key = CustomerKey(who);
  return store_.InReadTxn([&](RedemptionTxn& txn) -> absl::Status {
    for (const v1::Campaign* c : limited) {
      const v1::Limits& l = c->limits();
      PricingInput::Left& left = in.left[c->campaign_id()];
      auto usage = txn.Usage(c->campaign_id());
      if (!usage.ok()) return usage.status();
      if (l.max_redemptions() > 0) left.redemptions = l.max_redemptions() - usage->redemptions;
      if (l.max_discount_total().amount_minor() > 0) left.budget = l.max_discount_total().amount_minor() - usage->discount;
      if (l.max_redemptions_per_customer() > 0) {
        if (key.empty()) {
          left.customer_unidentified = true;
          continue;
        }
        auto n = txn.CustomerCount(c->campaign_id(), key);
        if (!n.ok()) return n.status();
        left.customer = l.max_redemptions_per_customer() - *n;
      }
    }
    return absl::OkStatus();
  });
}

absl::Status PromotionService::Quote(const v1::QuoteRequest& req, v1::QuoteResponse* out_ptr,
                                     std::function<absl::Status()> interrupted) {
  absl::Time now = clock_.Now();
  PricingInput in;
  in.now = now;
  in.currency_code = req.currency_code();
  in.shipping = req.shipping().amount_minor();
  in.adjustments = req.view() == v1::QUOTE_VIEW_FULL;
  if (req.customer().has_guest() || req.customer().member_id().empty()) {
    in.shopper.guest = true;
  } else {
    auto s = shoppers_(req.customer().member_id());
    if (!s.ok()) return s.status();
    in.shopper = *s;
  }
  in.lines.reserve(req.lines_size());
  for (const v1::CartLine& l : req.lines()) {
    in.lines.push_back(Line{l.line_id(), l.sku(), l.category(), l.quantity(), l.unit_price().amount_minor()});
  }
  // A cart beyond the money bound is refused before any lookup.
  if (absl::Status s = CheckCartBounds(in.lines, in.shipping); !s.ok()) return s;
  in.interrupted = std::move(interrupted);
  // explain_all: every live campaign goes through eligibility, so each one
  // that cannot apply is listed with the step that stopped it.
  std::vector<CampaignIndex::Ptr> hold = req.explain_all()
                                             ? index_.All()
                                             : index_.Candidates(in.lines, in.shopper.tier_id, in.shopper.guest);
  bool need_profile = false;
  in.candidates.reserve(hold.size());
  for (const auto& p : hold) {
    in.candidates.push_back(p.get());
    need_profile = need_profile || p->audience().opted_in_only() || !p->audience().segments().empty();
  }
  if (need_profile && !in.shopper.guest) {
    auto profile = profiles_(in.shopper.member_id);
    if (!profile.ok()) return profile.status();
    in.shopper.opted_in = profile->opted_in;
    in.shopper.segment = profile->segment;
  }
  // Limits as of now: a campaign used up is rejected here already and a
  // discount is capped at the budget left; the exact check is RedeemQuote's.
  if (absl::Status s = ReadLimits(req.customer(), in); !s.ok()) return s;
  v1::QuoteResponse& out = *out_ptr;
  if (absl::Status s = ResolveVouchers(req, in, out.mutable_vouchers()); !s.ok()) return s;
  if (absl::Status s = Price(in, &out); !s.ok()) return s;
  ExplainRejections(in, &out);
  // A campaign voucher counts only if its campaign applied.
  for (v1::VoucherResult& r : *out.mutable_vouchers()) {
    if (!r.accepted() || r.kind() != v1::VOUCHER_KIND_CAMPAIGN) continue;
    bool applied = false;
    for (const auto& ac : out.applied_campaigns()) applied = applied || ac.campaign_id() == r.campaign_id();
    if (!applied) {
      r.set_accepted(false);
      r.set_reason(v1::REJECTION_REASON_VOUCHER_CAMPAIGN_REJECTED);
    }
  }
  auto* cust = out.mutable_customer();
  cust->set_guest(in.shopper.guest);
  cust->set_member_id(in.shopper.member_id);
  cust->set_guest_key(req.customer().guest().guest_key());
  cust->set_tier_id(in.shopper.tier_id);
  cust->set_tier_version(in.shopper.tier_version);
  cust->set_offers_opt_in(in.shopper.opted_in);
  *out.mutable_quote_time() = ToTimestamp(now);
  *out.mutable_expire_time() = ToTimestamp(now + options_.quote_ttl);
  out.set_quote_token(signer_.Sign(out));
  return absl::OkStatus();
}

absl::StatusOr<v1::Redemption> PromotionService::Redeem(const v1::RedeemQuoteRequest& req) {
  auto quote = signer_.Verify(req.quote_token());
  if (!quote.ok()) return quote.status();
  absl::Time now = clock_.Now();
  std::string digest = Digest(req.quote_token());
  v1::Redemption out;
  absl::Status s = store_.InRedemptionTxn([&](RedemptionTxn& txn) -> absl::Status {
    auto existing = txn.Find(req.order_id());
    if (!existing.ok()) return existing.status();
    if (existing->has_value()) {
      if ((*existing)->second != digest) {
        return AlreadyExists("ORDER_ALREADY_REDEEMED", "the order was redeemed with another quote");
      }
      out = (*existing)->first;
      return absl::OkStatus();
    }
    // One token, one order: a quote is a price for one checkout, and its
    // limits and vouchers were checked for one redemption.
    auto used_by = txn.OrderOfToken(digest);
    if (!used_by.ok()) return used_by.status();
    if (used_by->has_value()) {
      return Error(absl::StatusCode::kAlreadyExists, "QUOTE_TOKEN_USED",
                   "this quote was already redeemed for another order; quote again", {{"order_id", **used_by}});
    }
    if (now >= FromTimestamp(quote->expire_time())) {
      return Refuse("QUOTE_EXPIRED", "the quote expired; quote again", {});
    }
    std::string customer = CustomerKey(quote->customer());
    for (v1::AppliedCampaign& ac : *quote->mutable_applied_campaigns()) {
      auto c = txn.Campaign(ac.campaign_id());
      if (!c.ok()) return c.status();
      ErrorMetadata md{{"campaign_id", ac.campaign_id()}};
      if (!c->has_value() || (*c)->state() == v1::CAMPAIGN_STATE_CANCELLED) {
        return Refuse("CAMPAIGN_NOT_ACTIVE", "a campaign of the quote was cancelled; quote again", md);
      }
      const v1::Campaign& camp = **c;
      if (camp.version() != ac.campaign_version()) {
        md.push_back({"quoted_version", absl::StrCat(ac.campaign_version())});
        md.push_back({"current_version", absl::StrCat(camp.version())});
        return Refuse("CAMPAIGN_CHANGED", "a campaign of the quote changed; quote again", md);
      }
      auto usage = txn.Usage(ac.campaign_id());
      if (!usage.ok()) return usage.status();
      if (camp.limits().max_redemptions() > 0 && usage->redemptions >= camp.limits().max_redemptions()) {
        return Refuse("REDEMPTION_LIMIT_REACHED", "the campaign's redemptions are used up", md);
      }
      int64_t budget = camp.limits().max_discount_total().amount_minor();
      if (budget > 0 && budget - usage->discount < ac.discount().amount_minor()) {
        return Refuse("BUDGET_EXHAUSTED", "the campaign's budget left is below the quoted discount", md);
      }
      if (camp.limits().max_redemptions_per_customer() > 0) {
        auto n = txn.CustomerCount(ac.campaign_id(), customer);
        if (!n.ok()) return n.status();
        if (*n >= camp.limits().max_redemptions_per_customer()) {
          return Refuse("CUSTOMER_LIMIT_REACHED", "the customer used this campaign up", md);
        }
      }
      absl::Status st = txn.AddUsage({ac.campaign_id(), customer, quote->customer().tier_id(), ac.campaign_version()},
                                     1, ac.discount().amount_minor(), 0);
      if (!st.ok()) return st;
      Describe(camp, &ac);  // the token leaves out what the bound version says
    }
    if (absl::Status st = ConsumeVouchers(txn, *quote, now, out); !st.ok()) return st;
    // Unique per order (the order id is unique, and so is its digest with
    // the token's), stable across retries of the same order.
    out.set_redemption_id(absl::StrCat("r-", Digest(absl::StrCat(req.order_id(), "\n", digest)).substr(0, 20)));
    out.set_order_id(req.order_id());
    out.set_state(v1::REDEMPTION_STATE_REDEEMED);
    *out.mutable_customer() = quote->customer();
    for (const auto& l : quote->lines()) *out.add_lines()->mutable_line() = l;
    *out.mutable_shipping() = quote->shipping();
    *out.mutable_totals() = quote->totals();
    *out.mutable_campaigns() = quote->applied_campaigns();
    out.set_earns_points(quote->earns_points());
    out.set_free_returns(quote->free_returns());
    *out.mutable_quote_time() = quote->quote_time();
    *out.mutable_create_time() = ToTimestamp(now);
    *out.mutable_update_time() = ToTimestamp(now);
    return txn.Save(out, digest);
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::Redemption> PromotionService::GetRedemption(const std::string& order_id) {
  v1::Redemption out;
  absl::Status s = store_.InRedemptionTxn([&](RedemptionTxn& txn) -> absl::Status {
    auto existing = txn.Find(order_id);
    if (!existing.ok()) return existing.status();
    if (!existing->has_value()) return NotFound("REDEMPTION_NOT_FOUND", "no redemption for this order");
    out = (*existing)->first;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace care::promotion
