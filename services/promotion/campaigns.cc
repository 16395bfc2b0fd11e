// The campaign lifecycle: create, announce (with its notice period and
// alert), reschedule, update, cancel, and the report. Each edit is decided
// on the stored version inside one idempotent write (EditCampaign), which stores
// the new version and enqueues its alert in the same transaction.
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/ids.h"
#include "common/proto_time.h"
#include "common/store.h"
#include "google/protobuf/util/field_mask_util.h"
#include "services/promotion/alert_events.h"
#include "services/promotion/campaign_validation.h"
#include "services/promotion/promotion_service.h"

namespace care::promotion {
namespace {

namespace v1 = ::care::promotion::v1;

absl::Status Transition(const v1::Campaign& c, absl::string_view method) {
  return Error(absl::StatusCode::kFailedPrecondition, "INVALID_TRANSITION",
               absl::StrCat(method, " is not allowed in state ", v1::CampaignState_Name(c.state())),
               {{"state", v1::CampaignState_Name(c.state())}, {"method", std::string(method)}});
}

absl::Status VersionMismatch(int64_t expected, int64_t actual) {
  return Error(absl::StatusCode::kAborted, "VERSION_MISMATCH",
               absl::StrCat("campaign is at version ", actual, ", not ", expected));
}

// OK when `expected` is 0 (any) or the campaign's version.
absl::Status CheckVersion(int64_t expected, const v1::Campaign& c) {
  return expected != 0 && expected != c.version() ? VersionMismatch(expected, c.version()) : absl::OkStatus();
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

// What an announcement needs: dates, zone, currency and rules.
absl::Status CheckComplete(const v1::Campaign& c) {
  if (!c.has_starts_at()) return Incomplete("starts_at");
  if (!c.has_ends_at()) return Incomplete("ends_at");
  if (c.time_zone().empty()) return Incomplete("time_zone");
  if (c.currency_code().empty()) return Incomplete("currency_code");
  if (c.rules().empty()) return Incomplete("rules");
  return absl::OkStatus();
}

bool Editable(v1::CampaignState state) {
  return state == v1::CAMPAIGN_STATE_DRAFT || state == v1::CAMPAIGN_STATE_ANNOUNCED ||
         state == v1::CAMPAIGN_STATE_ACTIVE;
}

void NameRules(v1::Campaign& c) {
  for (int i = 0; i < c.rules_size(); ++i) {
    if (c.rules(i).rule_id().empty()) c.mutable_rules(i)->set_rule_id(absl::StrCat("rule-", i + 1));
  }
}

// A new draft from the caller's campaign: output-only fields cleared,
// rights and rule matching defaulted.
v1::Campaign NewDraft(const v1::Campaign& from, const std::string& id, absl::Time now, const std::string& by) {
  v1::Campaign c = from;
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
  if (c.rights().stacking() == v1::STACKING_MODE_UNSPECIFIED)
    c.mutable_rights()->set_stacking(v1::STACKING_MODE_STACKABLE);
  if (c.rule_matching() == v1::RULE_MATCHING_UNSPECIFIED) c.set_rule_matching(v1::RULE_MATCHING_ALL);
  NameRules(c);
  *c.mutable_create_time() = ToTimestamp(now);
  *c.mutable_update_time() = ToTimestamp(now);
  c.set_updated_by(by);
  return c;
}

// Makes `c` the version after `stored`, stamped with who changed it and when.
void Stamp(v1::Campaign& c, const v1::Campaign& stored, absl::Time now, const std::string& by) {
  c.set_version(stored.version() + 1);
  *c.mutable_update_time() = ToTimestamp(now);
  c.set_updated_by(by);
}

// Once announced, the dates move only through RescheduleCampaign (which
// re-times the alert) and the currency never changes.
absl::Status CheckMutablePaths(v1::CampaignState state, const google::protobuf::FieldMask& mask) {
  if (state == v1::CAMPAIGN_STATE_DRAFT) return absl::OkStatus();
  for (const std::string& path : mask.paths()) {
    if (path == "starts_at" || path == "ends_at" || path == "currency_code" || path == "alert.notice") {
      return Error(absl::StatusCode::kFailedPrecondition, "FIELD_IMMUTABLE",
                   absl::StrCat(path, " cannot change after announcement"), {{"field", path}});
    }
  }
  return absl::OkStatus();
}

// The new dates of a reschedule, checked against the campaign's state and now.
absl::Status CheckSchedule(const Schedule& s, const v1::Campaign& current, absl::Time starts, absl::Time ends,
                           absl::Time now) {
  const auto state = current.state();
  if (state == v1::CAMPAIGN_STATE_ACTIVE && s.starts_at && starts != FromTimestamp(current.starts_at())) {
    return Error(absl::StatusCode::kFailedPrecondition, "FIELD_IMMUTABLE", "an active campaign's start cannot move",
                 {{"field", "starts_at"}});
  }
  if (s.starts_at && starts <= now && state != v1::CAMPAIGN_STATE_ACTIVE) {
    return InvalidField("starts_at", "must be in the future");
  }
  if (s.ends_at && ends <= now) return InvalidField("ends_at", "must be in the future");
  if (ends <= starts) return InvalidField("ends_at", "must be after starts_at");
  return absl::OkStatus();
}

}  // namespace

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

absl::StatusOr<v1::Campaign> PromotionService::EditCampaign(const Once& once, const std::string& campaign_id,
                                                            absl::Time now, const EditFn& fn) {
  bool changed = false;
  auto stored = WriteOnce<v1::Campaign>(store_, once, [&](StoreTxn& tx, v1::Campaign& out) -> absl::Status {
    changed = false;  // the transaction may run again (a lost conflict); only its last run counts
    auto current = tx.Campaign(campaign_id);
    if (!current.ok()) return current.status();
    auto edit = fn(current->has_value() ? &**current : nullptr);
    if (!edit.ok()) return edit.status();
    if (absl::Status s = tx.SaveCampaign(edit->change); !s.ok()) return s;
    const v1::Campaign& c = edit->change.campaign;
    if (edit->alert != Alert::kNone) {
      absl::Status s = tx.Enqueue(AlertEvent(c, edit->notice, now, edit->alert == Alert::kCancel));
      if (!s.ok()) return s;
    }
    out = c;
    changed = true;
    return absl::OkStatus();
  });
  if (!stored.ok()) return stored.status();
  // Only a committed new version reaches the index, after the commit (the
  // store is our only writer; Put ignores a version older than one it saw).
  if (changed) index_.Put(*stored);
  return WithClockState(*stored);
}

absl::StatusOr<v1::Campaign> PromotionService::Create(const Once& once, const std::string& campaign_id,
                                                      const v1::Campaign& campaign, const std::string& by) {
  const std::string id = campaign_id.empty() ? NewId("cmp-") : campaign_id;
  const absl::Time now = clock_.Now();
  Once audited = once;  // its audit entry names the id chosen here
  if (audited.audit) audited.audit->target = absl::StrCat("campaign:", id);
  return EditCampaign(audited, id, now, [&](const v1::Campaign* stored) -> absl::StatusOr<Edit> {
    if (stored != nullptr) return AlreadyExists("CAMPAIGN_ALREADY_EXISTS", absl::StrCat("campaign ", id, " exists"));
    Edit edit;
    edit.change.change = v1::CAMPAIGN_CHANGE_CREATED;
    edit.change.campaign = NewDraft(campaign, id, now, by);
    if (absl::Status bad = ValidateCampaign(edit.change.campaign); !bad.ok()) return bad;
    return edit;
  });
}

absl::StatusOr<v1::Campaign> PromotionService::Get(const std::string& campaign_id, int64_t version) {
  std::optional<v1::Campaign> found;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto c = version == 0 ? tx.Campaign(campaign_id) : tx.CampaignVersion(campaign_id, version);
    if (!c.ok()) return c.status();
    found = std::move(*c);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!found) {
    if (version != 0) return NotFound("CAMPAIGN_VERSION_NOT_FOUND", "no such version of the campaign");
    return NotFoundCampaign();
  }
  return WithClockState(*std::move(found));
}

absl::StatusOr<v1::Campaign> PromotionService::Announce(const Once& once, const std::string& campaign_id,
                                                        int64_t expected_version, bool allow_short_notice,
                                                        const std::string& by) {
  const absl::Time now = clock_.Now();
  return EditCampaign(once, campaign_id, now, [&](const v1::Campaign* current) -> absl::StatusOr<Edit> {
    if (current == nullptr) return NotFoundCampaign();
    if (absl::Status s = CheckVersion(expected_version, *current); !s.ok()) return s;
    if (current->state() != v1::CAMPAIGN_STATE_DRAFT) return Transition(*current, "AnnounceCampaign");
    if (absl::Status s = CheckComplete(*current); !s.ok()) return s;
    const absl::Time starts = FromTimestamp(current->starts_at());
    Edit edit;
    edit.notice = Notice(*current, options_.notice);
    const bool short_notice = starts - now < edit.notice;
    if (short_notice && !allow_short_notice) return NoticeTooShort(edit.notice, now + edit.notice);
    edit.change.change = v1::CAMPAIGN_CHANGE_ANNOUNCED;
    v1::Campaign& c = edit.change.campaign = *current;
    Stamp(c, *current, now, by);
    c.set_state(now >= starts ? v1::CAMPAIGN_STATE_ACTIVE : v1::CAMPAIGN_STATE_ANNOUNCED);
    c.set_short_notice(short_notice);
    *c.mutable_announce_time() = ToTimestamp(now);
    if (!c.alert().no_alert()) {
      *c.mutable_alert_due_time() = ToTimestamp(short_notice ? now : starts - edit.notice);
      edit.alert = Alert::kSend;
    }
    return edit;
  });
}

absl::StatusOr<v1::Campaign> PromotionService::Reschedule(const Once& once, const Schedule& schedule,
                                                          const std::string& by) {
  const absl::Time now = clock_.Now();
  return EditCampaign(once, schedule.campaign_id, now, [&](const v1::Campaign* stored) -> absl::StatusOr<Edit> {
    if (stored == nullptr) return NotFoundCampaign();
    const v1::Campaign current = WithClockState(*stored);
    if (absl::Status s = CheckVersion(schedule.expected_version, current); !s.ok()) return s;
    const auto state = current.state();
    if (!Editable(state)) return Transition(current, "RescheduleCampaign");
    const absl::Time starts = schedule.starts_at.value_or(FromTimestamp(current.starts_at()));
    const absl::Time ends = schedule.ends_at.value_or(FromTimestamp(current.ends_at()));
    if (absl::Status s = CheckSchedule(schedule, current, starts, ends, now); !s.ok()) return s;
    Edit edit;
    edit.notice = Notice(current, options_.notice);
    bool short_notice = current.short_notice();
    if (state == v1::CAMPAIGN_STATE_ANNOUNCED && schedule.starts_at) {
      short_notice = starts - now < edit.notice;
      if (short_notice && !schedule.allow_short_notice) return NoticeTooShort(edit.notice, now + edit.notice);
    }
    edit.change.change = v1::CAMPAIGN_CHANGE_RESCHEDULED;
    if (starts != FromTimestamp(current.starts_at())) edit.change.changed_fields.push_back("starts_at");
    if (ends != FromTimestamp(current.ends_at())) edit.change.changed_fields.push_back("ends_at");
    v1::Campaign& c = edit.change.campaign = *stored;
    Stamp(c, *stored, now, by);
    *c.mutable_starts_at() = ToTimestamp(starts);
    *c.mutable_ends_at() = ToTimestamp(ends);
    c.set_short_notice(short_notice);
    if (state != v1::CAMPAIGN_STATE_DRAFT && !c.alert().no_alert()) {
      if (state == v1::CAMPAIGN_STATE_ANNOUNCED) {
        *c.mutable_alert_due_time() = ToTimestamp(short_notice ? now : starts - edit.notice);
      }
      edit.alert = Alert::kSend;
    }
    return edit;
  });
}

absl::StatusOr<v1::Campaign> PromotionService::Update(const Once& once, const v1::Campaign& campaign,
                                                      const google::protobuf::FieldMask& mask, const std::string& by) {
  const absl::Time now = clock_.Now();
  return EditCampaign(once, campaign.campaign_id(), now, [&](const v1::Campaign* stored) -> absl::StatusOr<Edit> {
    if (stored == nullptr) return NotFoundCampaign();
    const v1::Campaign current = WithClockState(*stored);
    if (absl::Status s = CheckVersion(campaign.version(), current); !s.ok()) return s;
    const auto state = current.state();
    if (state == v1::CAMPAIGN_STATE_ENDED || state == v1::CAMPAIGN_STATE_CANCELLED) {
      return Transition(current, "UpdateCampaign");
    }
    if (absl::Status s = CheckMutablePaths(state, mask); !s.ok()) return s;
    Edit edit;
    edit.change.change = v1::CAMPAIGN_CHANGE_UPDATED;
    edit.change.changed_fields.assign(mask.paths().begin(), mask.paths().end());
    v1::Campaign& c = edit.change.campaign = *stored;
    google::protobuf::util::FieldMaskUtil::MergeOptions merge;
    merge.set_replace_repeated_fields(true);
    merge.set_replace_message_fields(true);
    google::protobuf::util::FieldMaskUtil::MergeMessageTo(campaign, mask, merge, &c);
    NameRules(c);
    Stamp(c, *stored, now, by);
    // The merged campaign is what would be stored: the same validation as
    // CreateCampaign's, on every field.
    if (absl::Status bad = ValidateCampaign(c); !bad.ok()) return bad;
    // Quotes use the new version at once; the alert carries it too.
    if (state != v1::CAMPAIGN_STATE_DRAFT && !c.alert().no_alert()) {
      edit.alert = Alert::kSend;
      edit.notice = Notice(c, options_.notice);
    }
    return edit;
  });
}

absl::StatusOr<v1::Campaign> PromotionService::Cancel(const Once& once, const std::string& campaign_id,
                                                      int64_t expected_version, const std::string& reason,
                                                      const std::string& by) {
  const absl::Time now = clock_.Now();
  return EditCampaign(once, campaign_id, now, [&](const v1::Campaign* stored) -> absl::StatusOr<Edit> {
    if (stored == nullptr) return NotFoundCampaign();
    const v1::Campaign current = WithClockState(*stored);
    if (absl::Status s = CheckVersion(expected_version, current); !s.ok()) return s;
    const auto state = current.state();
    if (!Editable(state)) return Transition(current, "CancelCampaign");
    Edit edit;
    edit.change.change = v1::CAMPAIGN_CHANGE_CANCELLED;
    v1::Campaign& c = edit.change.campaign = *stored;
    Stamp(c, *stored, now, by);
    c.set_state(v1::CAMPAIGN_STATE_CANCELLED);
    *c.mutable_cancel_time() = ToTimestamp(now);
    c.set_cancel_reason(reason);
    if (state != v1::CAMPAIGN_STATE_DRAFT && !c.alert().no_alert()) {
      edit.alert = Alert::kCancel;
      edit.notice = Notice(c, options_.notice);
    }
    return edit;
  });
}

absl::StatusOr<v1::CampaignReport> PromotionService::Report(const std::string& campaign_id) {
  auto c = Get(campaign_id, 0);
  if (!c.ok()) return c.status();
  CampaignUsage u;
  absl::Status read = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto usage = tx.UsageReport(campaign_id);
    if (!usage.ok()) return usage.status();
    u = std::move(*usage);
    return absl::OkStatus();
  });
  if (!read.ok()) return read;
  v1::CampaignReport r;
  r.set_campaign_id(campaign_id);
  r.set_campaign_version(c->version());
  r.set_state(c->state());
  r.set_redemptions(u.redemptions);
  r.set_cancelled_redemptions(u.cancelled);
  r.set_returned_redemptions(u.returned);
  r.set_unique_customers(u.customers);
  r.set_vouchers_generated(u.vouchers_generated);
  r.set_voucher_uses(u.voucher_uses);
  const std::string& cur = c->currency_code();
  SetMoney(r.mutable_discount_given(), u.discount, cur);
  if (c->limits().max_discount_total().amount_minor() > 0) {
    *r.mutable_budget_total() = c->limits().max_discount_total();
    SetMoney(r.mutable_budget_left(), c->limits().max_discount_total().amount_minor() - u.discount, cur);
  }
  if (c->limits().max_redemptions() > 0) r.set_redemptions_left(c->limits().max_redemptions() - u.redemptions);
  r.set_points_given(u.points);
  if (c->limits().points_budget() > 0) r.set_points_budget_left(c->limits().points_budget() - u.points);
  for (const CampaignUsage::Part& p : u.by_tier) {
    v1::ReportBreakdown* b = r.add_by_tier();
    b->set_tier_id(p.tier_id);
    b->set_redemptions(p.redemptions);
    SetMoney(b->mutable_discount_given(), p.discount, cur);
  }
  for (const CampaignUsage::Part& p : u.by_version) {
    v1::ReportBreakdown* b = r.add_by_version();
    b->set_campaign_version(p.version);
    b->set_redemptions(p.redemptions);
    SetMoney(b->mutable_discount_given(), p.discount, cur);
  }
  *r.mutable_report_time() = ToTimestamp(clock_.Now());
  return r;
}

}  // namespace care::promotion
