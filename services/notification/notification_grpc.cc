#include "services/notification/notification_grpc.h"

#include <atomic>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/errors.h"
#include "common/filter_limits.h"
#include "common/grpc_status.h"
#include "common/localized.h"
#include "common/pagination.h"
#include "common/privacy.h"
#include "common/proto_time.h"
#include "common/server_stream.h"
#include "services/notification/event_wire.h"
#include "services/notification/request_checks.h"

namespace care::notification {
namespace {

bool ValidChannel(int c) { return c != 0 && care::common::v1::MessageChannel_IsValid(c); }

bool VariableKey(const std::string& s) {
  if (s.empty() || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

void RequireTime(FieldErrors& errors, const std::string& field, bool present, const google::protobuf::Timestamp& t) {
  if (!present) {
    errors.Add(field, "required");
  } else {
    CheckTimestamp(errors, field, t);
  }
}

void ValidateAlert(FieldErrors& errors, const v1::PromotionAlert& a) {
  const std::string p = "event.promotion_alert.";
  errors.RequireId(p + "campaign_id", a.campaign_id());
  if (a.campaign_version() <= 0) errors.Add(p + "campaign_version", "must be > 0");
  if (errors.RequireNonEmpty(p + "title", a.title())) errors.RequireMaxLength(p + "title", a.title(), 500);
  errors.RequireMaxLength(p + "description", a.description(), 2000);  // promotion's own bound
  ValidateLocalizedTexts(errors, p + "localized_titles", a.localized_titles(), 500);
  ValidateLocalizedTexts(errors, p + "localized_descriptions", a.localized_descriptions(), 2000);
  RequireTime(errors, p + "starts_at", a.has_starts_at(), a.starts_at());
  RequireTime(errors, p + "ends_at", a.has_ends_at(), a.ends_at());
  if (a.has_starts_at() && a.has_ends_at() && FromTimestamp(a.starts_at()) >= FromTimestamp(a.ends_at())) {
    errors.Add(p + "ends_at", "must be after starts_at");
  }
  if (a.notice().seconds() < 0 || a.notice().nanos() < 0) errors.Add(p + "notice", "must be >= 0");
  for (int i = 0; i < a.channels_size(); ++i) {
    if (!ValidChannel(a.channels(i))) errors.Add(absl::StrCat(p, "channels[", i, "]"), "unknown channel");
  }
  for (const std::string& t : a.target_tier_ids()) {
    if (!errors.RequireId(p + "target_tier_ids", t)) break;
  }
  if (!a.campaign_time_zone().empty()) errors.RequireTimeZone(p + "campaign_time_zone", a.campaign_time_zone());
  if (a.variables_size() > 50) errors.Add(p + "variables", "at most 50 entries");
  for (const auto& [k, v] : a.variables()) {
    if (!VariableKey(k)) {
      errors.Add(p + "variables", absl::StrCat("key \"", ReceiverText(k, 60), "\" must match [a-z][a-z0-9_]*"));
      break;
    }
  }
}

}  // namespace

absl::string_view EventOwner(v1::IngestEventRequest::EventCase kind) {
  switch (kind) {
    case v1::IngestEventRequest::kPromotionAlert:
    case v1::IngestEventRequest::kPromotionAlertCancelled:
    case v1::IngestEventRequest::kCampaignRedeemed:
      return "svc:promotion";
    case v1::IngestEventRequest::kMemberProfileChanged:
    case v1::IngestEventRequest::kTierChanged:
    case v1::IngestEventRequest::kPointsExpiring:
    case v1::IngestEventRequest::kBirthdayReward:
    case v1::IngestEventRequest::kVisitRewardEarned:
    case v1::IngestEventRequest::kOccasionReward:
    case v1::IngestEventRequest::kCareCheckIn:
      return "svc:loyalty";
    case v1::IngestEventRequest::kComplaintUpdate:
    case v1::IngestEventRequest::kSatisfactionSurvey:
    case v1::IngestEventRequest::kProactiveCheckIn:
    case v1::IngestEventRequest::kStaffAlert:
      return "svc:complaint";
    case v1::IngestEventRequest::kTransactional:
    case v1::IngestEventRequest::EVENT_NOT_SET:
      return "";
  }
  return "";
}

absl::Status CheckEventSender(const v1::IngestEventRequest& r, const Principal& sender) {
  absl::string_view owner = EventOwner(r.event_case());
  if (owner.empty()) return absl::OkStatus();
  // A backend's token may send Transactional only; every other kind moves
  // value or speaks for a CareSuite service (alerts, tiers, complaint mail).
  if (!sender.roles.count(care::common::v1::ROLE_PEER)) {
    return Error(absl::StatusCode::kPermissionDenied, "MISSING_ROLE",
                 absl::StrCat(sender.name, " may send only transactional events (", owner, " sends this kind)"),
                 {{"principal", sender.name}, {"owner", std::string(owner)}});
  }
  if (sender.name != owner) {
    return Error(absl::StatusCode::kPermissionDenied, "EVENT_SOURCE_MISMATCH",
                 absl::StrCat(sender.name, " may not send this kind of event (", owner, " owns it)"),
                 {{"principal", sender.name}, {"owner", std::string(owner)}});
  }
  // `source` is recorded on deliveries: it must name the sender, not another.
  if (r.source() != absl::StripPrefix(owner, "svc:")) {
    return Error(absl::StatusCode::kPermissionDenied, "EVENT_SOURCE_MISMATCH",
                 absl::StrCat(sender.name, " must send its events with source \"", absl::StripPrefix(owner, "svc:"),
                              "\""),
                 {{"principal", sender.name}, {"owner", std::string(owner)}});
  }
  return absl::OkStatus();
}

namespace {

void ValidateProfile(FieldErrors& errors, const v1::MemberProfileChanged& m) {
  errors.RequireId("event.member_profile_changed.member_id", m.member_id());
  if (!m.time_zone().empty()) errors.RequireTimeZone("event.member_profile_changed.time_zone", m.time_zone());
  for (int i = 0; i < m.consents_size(); ++i) {
    if (!ValidChannel(m.consents(i).channel())) {
      errors.Add(absl::StrCat("event.member_profile_changed.consents[", i, "].channel"), "unknown channel");
    }
  }
}

void ValidateTransactional(FieldErrors& errors, const v1::Transactional& t) {
  errors.RequireId("event.transactional.member_id", t.member_id());
  errors.RequireNonEmpty("event.transactional.template_key", t.template_key());
  for (int i = 0; i < t.channels_size(); ++i) {
    if (!ValidChannel(t.channels(i))) errors.Add(absl::StrCat("event.transactional.channels[", i, "]"), "unknown");
  }
  for (const auto& [k, v] : t.variables()) {
    if (!VariableKey(k)) {
      errors.Add("event.transactional.variables",
                 absl::StrCat("key \"", ReceiverText(k, 60), "\" must match [a-z][a-z0-9_]*"));
      break;
    }
  }
}

bool StaffKind(v1::MessageKind kind) {
  return kind == v1::MESSAGE_KIND_STAFF_ESCALATION || kind == v1::MESSAGE_KIND_STAFF_BREACH_WARNING ||
         kind == v1::MESSAGE_KIND_STAFF_COMPENSATION_APPROVAL || kind == v1::MESSAGE_KIND_STAFF_REOPENED;
}

void ValidateStaffAlert(FieldErrors& errors, const v1::StaffAlert& a) {
  const std::string p = "event.staff_alert.";
  const v1::StaffRecipient& r = a.recipient();
  errors.RequireId(p + "recipient.staff_id", r.staff_id());
  errors.RequireMaxLength(p + "recipient.name", r.name(), 200);
  if (!r.locale().empty() && !IsLocaleTag(r.locale())) errors.Add(p + "recipient.locale", "not a BCP 47 tag");
  if (!r.time_zone().empty()) errors.RequireTimeZone(p + "recipient.time_zone", r.time_zone());
  if (r.channel() != care::common::v1::MESSAGE_CHANNEL_WEBHOOK &&
      r.channel() != care::common::v1::MESSAGE_CHANNEL_EMAIL) {
    errors.Add(p + "recipient.channel", "must be WEBHOOK or EMAIL");
  }
  if (r.channel() == care::common::v1::MESSAGE_CHANNEL_EMAIL && !IsEmail(r.email())) {
    errors.Add(p + "recipient.email", "an e-mail address is required with EMAIL");
  }
  errors.RequireMaxLength(p + "recipient.email", r.email(), 254);
  errors.RequireMaxLength(p + "recipient.webhook_address", r.webhook_address(), 500);
  if (!StaffKind(a.kind())) errors.Add(p + "kind", "must be one of the MESSAGE_KIND_STAFF_* kinds");
  errors.RequireId(p + "complaint_id", a.complaint_id());
  errors.RequireId(p + "alert_key", a.alert_key());
  errors.RequireMaxLength(p + "sla_target", a.sla_target(), 50);
  errors.RequireMaxLength(p + "priority", a.priority(), 50);
  errors.RequireMaxLength(p + "compensation_id", a.compensation_id(), 200);
  errors.RequireMaxLength(p + "compensation", a.compensation(), 200);
  if (a.has_due_time()) CheckTimestamp(errors, p + "due_time", a.due_time());
}

// A complaint message's addressee: a member, or a contact carried inline.
void ValidateAddressee(FieldErrors& errors, const std::string& p, const std::string& member_id, bool has_contact,
                       const v1::ContactRecipient& c) {
  if (!has_contact) {
    errors.RequireId(p + "member_id", member_id);
    return;
  }
  if (!member_id.empty()) errors.Add(p + "member_id", "must be empty with contact");
  errors.RequireId(p + "contact.contact_id", c.contact_id());
  errors.RequireMaxLength(p + "contact.name", c.name(), 200);
  if (!c.locale().empty() && !IsLocaleTag(c.locale())) errors.Add(p + "contact.locale", "not a BCP 47 tag");
  if (!c.time_zone().empty()) errors.RequireTimeZone(p + "contact.time_zone", c.time_zone());
  if (!c.email().empty() && !IsEmail(c.email())) errors.Add(p + "contact.email", "not an e-mail address");
  if (!c.phone().empty() && !IsE164(c.phone())) errors.Add(p + "contact.phone", "not an E.164 number");
  if (c.channel() == care::common::v1::MESSAGE_CHANNEL_EMAIL) {
    if (c.email().empty()) errors.Add(p + "contact.email", "is required with EMAIL");
  } else if (c.channel() == care::common::v1::MESSAGE_CHANNEL_WEBHOOK) {
    if (c.phone().empty()) errors.Add(p + "contact.phone", "is required with WEBHOOK");
  } else {
    errors.Add(p + "contact.channel", "must be EMAIL or WEBHOOK");
  }
}

// The event of each kind: its own required fields and bounds.
void ValidateCareCheckIn(FieldErrors& errors, const v1::CareCheckIn& c) {
  errors.RequireId("event.care_check_in.member_id", c.member_id());
  errors.RequireId("event.care_check_in.rule_id", c.rule_id());
  if (c.contact() <= 0) errors.Add("event.care_check_in.contact", "must be > 0");
  if (errors.RequireNonEmpty("event.care_check_in.rule_name", c.rule_name())) {
    errors.RequireMaxLength("event.care_check_in.rule_name", c.rule_name(), 100);
  }
  ValidateLocalizedTexts(errors, "event.care_check_in.localized_rule_names", c.localized_rule_names(), 100);
}

void ValidateOccasionReward(FieldErrors& errors, const v1::OccasionReward& o) {
  errors.RequireId("event.occasion_reward.member_id", o.member_id());
  errors.RequireId("event.occasion_reward.occasion_id", o.occasion_id());
  if (o.occurrence() <= 0) errors.Add("event.occasion_reward.occurrence", "must be > 0");
  if (errors.RequireNonEmpty("event.occasion_reward.occasion_name", o.occasion_name())) {
    errors.RequireMaxLength("event.occasion_reward.occasion_name", o.occasion_name(), 100);
  }
  ValidateLocalizedTexts(errors, "event.occasion_reward.localized_occasion_names", o.localized_occasion_names(), 100);
  errors.RequireRange("event.occasion_reward.points", o.points(), 0, 1000000);
  errors.RequireMaxLength("event.occasion_reward.reward_name", o.reward_name(), 200);
  ValidateLocalizedTexts(errors, "event.occasion_reward.localized_reward_names", o.localized_reward_names(), 200);
}

void ValidateCampaignRedeemed(FieldErrors& errors, const v1::CampaignRedeemed& c) {
  errors.RequireId("event.campaign_redeemed.member_id", c.member_id());
  errors.RequireId("event.campaign_redeemed.campaign_id", c.campaign_id());
  errors.RequireId("event.campaign_redeemed.order_id", c.order_id());
  RequireTime(errors, "event.campaign_redeemed.redeem_time", c.has_redeem_time(), c.redeem_time());
}

void ValidateEvent(FieldErrors& errors, const v1::IngestEventRequest& r) {
  if (r.has_care_check_in()) ValidateCareCheckIn(errors, r.care_check_in());
  if (r.has_campaign_redeemed()) ValidateCampaignRedeemed(errors, r.campaign_redeemed());
  switch (r.event_case()) {
    case v1::IngestEventRequest::EVENT_NOT_SET:
      errors.Add("event", "exactly one event is required");
      break;
    case v1::IngestEventRequest::kPromotionAlert:
      ValidateAlert(errors, r.promotion_alert());
      break;
    case v1::IngestEventRequest::kPromotionAlertCancelled:
      errors.RequireId("event.promotion_alert_cancelled.campaign_id", r.promotion_alert_cancelled().campaign_id());
      if (r.promotion_alert_cancelled().campaign_version() < 0) {
        errors.Add("event.promotion_alert_cancelled.campaign_version", "must be >= 0");
      }
      break;
    case v1::IngestEventRequest::kComplaintUpdate:
      ValidateAddressee(errors, "event.complaint_update.", r.complaint_update().member_id(),
                        r.complaint_update().has_contact(), r.complaint_update().contact());
      errors.RequireId("event.complaint_update.complaint_id", r.complaint_update().complaint_id());
      errors.RequireMaxLength("event.complaint_update.message", r.complaint_update().message(), 10000);
      break;
    case v1::IngestEventRequest::kSatisfactionSurvey:
      ValidateAddressee(errors, "event.satisfaction_survey.", r.satisfaction_survey().member_id(),
                        r.satisfaction_survey().has_contact(), r.satisfaction_survey().contact());
      errors.RequireNonEmpty("event.satisfaction_survey.survey_token", r.satisfaction_survey().survey_token());
      break;
    case v1::IngestEventRequest::kProactiveCheckIn:
      ValidateAddressee(errors, "event.proactive_check_in.", r.proactive_check_in().member_id(),
                        r.proactive_check_in().has_contact(), r.proactive_check_in().contact());
      RequireTime(errors, "event.proactive_check_in.due_time", r.proactive_check_in().has_due_time(),
                  r.proactive_check_in().due_time());
      break;
    case v1::IngestEventRequest::kMemberProfileChanged:
      ValidateProfile(errors, r.member_profile_changed());
      break;
    case v1::IngestEventRequest::kTransactional:
      ValidateTransactional(errors, r.transactional());
      break;
    case v1::IngestEventRequest::kStaffAlert:
      ValidateStaffAlert(errors, r.staff_alert());
      break;
    case v1::IngestEventRequest::kTierChanged:
      errors.RequireId("event.tier_changed.member_id", r.tier_changed().member_id());
      errors.RequireNonEmpty("event.tier_changed.new_tier_id", r.tier_changed().new_tier_id());
      ValidateLocalizedTexts(errors, "event.tier_changed.localized_tier_display_names",
                             r.tier_changed().localized_tier_display_names(), 200);
      break;
    case v1::IngestEventRequest::kPointsExpiring:
      errors.RequireId("event.points_expiring.member_id", r.points_expiring().member_id());
      if (r.points_expiring().points() <= 0) errors.Add("event.points_expiring.points", "must be > 0");
      RequireTime(errors, "event.points_expiring.expire_time", r.points_expiring().has_expire_time(),
                  r.points_expiring().expire_time());
      break;
    case v1::IngestEventRequest::kBirthdayReward:
      errors.RequireId("event.birthday_reward.member_id", r.birthday_reward().member_id());
      if (r.birthday_reward().points() <= 0) errors.Add("event.birthday_reward.points", "must be > 0");
      break;
    case v1::IngestEventRequest::kVisitRewardEarned:
      errors.RequireId("event.visit_reward_earned.member_id", r.visit_reward_earned().member_id());
      if (r.visit_reward_earned().visit_count() <= 0) {
        errors.Add("event.visit_reward_earned.visit_count", "must be > 0");
      }
      ValidateLocalizedTexts(errors, "event.visit_reward_earned.localized_rewards",
                             r.visit_reward_earned().localized_rewards(), 200);
      break;
    case v1::IngestEventRequest::kOccasionReward:
      ValidateOccasionReward(errors, r.occasion_reward());
      break;
    default:
      break;
  }
}

}  // namespace

absl::Status ValidateIngest(const v1::IngestEventRequest& r, absl::Time now) {
  FieldErrors errors;
  errors.RequireId("event_id", r.event_id());
  if (errors.RequireNonEmpty("source", r.source())) errors.RequireMaxLength("source", r.source(), 100);
  RequireTime(errors, "occurred_at", r.has_occurred_at(), r.occurred_at());
  if (r.has_occurred_at() && ValidTimestamp(r.occurred_at()) &&
      FromTimestamp(r.occurred_at()) > now + absl::Minutes(5)) {
    errors.Add("occurred_at", "must not be more than 5 minutes ahead of the server clock");
  }
  ValidateEvent(errors, r);
  return errors.ToStatus();
}

using Reactor = NotificationGrpc::Reactor;

namespace {

constexpr char kIngestScope[] = "notification.IngestEvent";
constexpr char kMarkReadScope[] = "notification.MarkInboxMessageRead";

// Schedules are listed by (due time, id): the cursor is "<due micros>|<id>".
std::string ScheduleCursorOf(const v1::Schedule& s) {
  return absl::StrCat(absl::ToUnixMicros(FromTimestamp(s.due_time())), "|", s.schedule_id());
}

absl::StatusOr<std::optional<ScheduleCursor>> ParseScheduleCursor(const std::string& cursor) {
  if (cursor.empty()) return std::nullopt;
  std::pair<std::string, std::string> parts = absl::StrSplit(cursor, absl::MaxSplits('|', 1));
  ScheduleCursor c;
  if (!absl::SimpleAtoi(parts.first, &c.due_at)) return InvalidPageToken();
  c.schedule_id = parts.second;
  return c;
}

}  // namespace

Reactor* NotificationGrpc::IngestEvent(ServerContext* ctx, const v1::IngestEventRequest* req,
                                       v1::IngestEventResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    // Who may send this kind first: a forger learns nothing from validation.
    if (absl::Status s = CheckEventSender(*req, *caller.principal); !s.ok()) return s;
    if (absl::Status s = ValidateIngest(*req, service_.Now()); !s.ok()) return s;
    // Deduplicated on event_id alone (the fingerprint covers only the id),
    // within the sending service's own ids: its principal owns them.
    v1::IngestEventRequest id_only;
    id_only.set_event_id(req->event_id());
    return Respond(service_.Ingest(OnceFor(caller, kIngestScope, req->event_id(), id_only), EventFromWire(*req)), resp);
  });
}

Reactor* NotificationGrpc::GetSchedule(ServerContext* ctx, const v1::GetScheduleRequest* req, v1::Schedule* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    if (req->key_case() == v1::GetScheduleRequest::kScheduleId) {
      errors.RequireId("schedule_id", req->schedule_id());
    } else if (req->key_case() == v1::GetScheduleRequest::kCampaignId) {
      errors.RequireId("campaign_id", req->campaign_id());
    } else {
      errors.Add("key", "schedule_id or campaign_id is required");
    }
    if (!errors.empty()) return errors.ToStatus();
    return Respond(service_.GetSchedule(req->schedule_id(), req->campaign_id()), resp);
  });
}

Reactor* NotificationGrpc::ListSchedules(ServerContext* ctx, const v1::ListSchedulesRequest* req,
                                         v1::ListSchedulesResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    if (absl::Status s = CheckFilterValues("states", req->states_size()); !s.ok()) return s;
    FieldErrors errors;
    ScheduleFilter f;
    for (int i = 0; i < req->states_size(); ++i) {
      if (req->states(i) == 0 || !v1::ScheduleState_IsValid(req->states(i))) {
        errors.Add(absl::StrCat("states[", i, "]"), "unknown state");
      }
      f.states.push_back(req->states(i));
    }
    if (!v1::MessageKind_IsValid(req->kind())) errors.Add("kind", "unknown kind");
    f.kind = req->kind();
    f.campaign_id = req->campaign_id();
    f.member_id = req->member_id();
    if (req->has_due_after()) f.due_after = FromTimestamp(req->due_after());
    if (req->has_due_before()) f.due_before = FromTimestamp(req->due_before());
    if (!errors.empty()) return errors.ToStatus();
    auto page = ReadPageCursor(*req, req->page_size(), req->page_token());
    if (!page.ok()) return page.status();
    auto after = ParseScheduleCursor(page->cursor);
    if (!after.ok()) return after.status();
    auto rows = service_.ListSchedules(f, *after, page->size + 1);
    if (!rows.ok()) return rows.status();
    resp->set_next_page_token(TrimPage(*rows, page->size, *req, ScheduleCursorOf));
    for (auto& s : *rows) *resp->add_schedules() = std::move(s);
    return absl::OkStatus();
  });
}

Reactor* NotificationGrpc::ListInbox(ServerContext* ctx, const v1::ListInboxRequest* req, v1::ListInboxResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    if (absl::Status s = CheckFilterValues("kinds", req->kinds_size()); !s.ok()) return s;
    FieldErrors errors;
    errors.RequireId("member_id", req->member_id());
    InboxFilter f;
    f.member_id = req->member_id();
    f.unread_only = req->unread_only();
    for (int i = 0; i < req->kinds_size(); ++i) {
      if (req->kinds(i) == 0 || !v1::MessageKind_IsValid(req->kinds(i))) {
        errors.Add(absl::StrCat("kinds[", i, "]"), "unknown kind");
      }
      f.kinds.push_back(req->kinds(i));
    }
    if (!errors.empty()) return errors.ToStatus();
    auto page = ReadPageRequest(*req, req->page_size(), req->page_token());
    if (!page.ok()) return page.status();
    auto inbox = service_.ListInbox(f, page->cursor, page->size + 1);
    if (!inbox.ok()) return inbox.status();
    resp->set_next_page_token(TrimPage(inbox->messages, page->size, *req, [](const auto& row) { return row.first; }));
    for (auto& [seq, m] : inbox->messages) *resp->add_messages() = std::move(m);
    resp->set_unread_count(inbox->unread_count);
    return absl::OkStatus();
  });
}

Reactor* NotificationGrpc::MarkInboxMessageRead(ServerContext* ctx, const v1::MarkInboxMessageReadRequest* req,
                                                v1::InboxMessage* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireId("member_id", req->member_id());
    errors.RequireId("message_id", req->message_id());
    if (!errors.empty()) return errors.ToStatus();
    return Respond(service_.MarkRead(OnceFor(caller, kMarkReadScope, req->request_id(), *req), req->member_id(),
                                     req->message_id()),
                   resp);
  });
}

grpc::ServerWriteReactor<v1::SubscribeInboxResponse>* NotificationGrpc::SubscribeInbox(
    ServerContext* ctx, const v1::SubscribeInboxRequest* req) {
  using Writer = BatchedWriter<v1::SubscribeInboxResponse>;
  constexpr int kMaxMembers = 10000;
  constexpr int kWindow = 1000;
  auto waker = std::make_shared<FeedWaker>();
  // How far this stream has read: a feed head another replica moved wakes
  // it only when it is behind.
  auto read_through = std::make_shared<std::atomic<int64_t>>(-1);
  // Validated on the first fetch (on the work pool: it reads the feed). The
  // stream slot and the watch live as long as the call (they are released
  // with this function, when the writer is gone).
  auto fetch = [this, req, waker, read_through, position = std::optional<int64_t>(),
                query = NotificationService::InboxFeedQuery(), slot = std::shared_ptr<void>(),
                watch = std::shared_ptr<void>()](const Caller& caller) mutable -> absl::StatusOr<Writer::Batch> {
    if (!position) {
      // Member ids are matched in memory (a set), so they get a larger bound.
      if (absl::Status s = CheckFilterValues("member_ids", req->member_ids_size(), kMaxMembers); !s.ok()) return s;
      if (absl::Status s = CheckFilterValues("kinds", req->kinds_size()); !s.ok()) return s;
      FieldErrors errors;
      for (int i = 0; i < req->member_ids_size(); ++i) {
        errors.RequireId(absl::StrCat("member_ids[", i, "]"), req->member_ids(i));
        query.member_ids.insert(req->member_ids(i));
      }
      for (int i = 0; i < req->kinds_size(); ++i) {
        if (req->kinds(i) == 0 || !v1::MessageKind_IsValid(req->kinds(i))) {
          errors.Add(absl::StrCat("kinds[", i, "]"), "unknown kind");
        }
        query.kinds.push_back(req->kinds(i));
      }
      std::optional<int64_t> cursor;
      if (!req->cursor().empty()) {
        int64_t c = 0;
        if (!absl::SimpleAtoi(req->cursor(), &c)) {
          errors.Add("cursor", "not a cursor of this feed");
        } else {
          cursor = c;
        }
      }
      if (!errors.empty()) return errors.ToStatus();
      slot = inbox_streams_.TryAcquire(caller.principal->name);
      if (slot == nullptr) {
        return Error(absl::StatusCode::kResourceExhausted, "TOO_MANY_STREAMS",
                     absl::StrCat("this principal already holds ", inbox_streams_.limit(),
                                  " SubscribeInbox streams; close one first"),
                     {{"limit", absl::StrCat(inbox_streams_.limit())}});
      }
      // Watching before the first read: whatever commits after it wakes us.
      watch = service_.inbox_watch().Watch(
          query.member_ids, [waker] { waker->Wake(); }, [read_through] { return read_through->load(); });
      auto start = service_.InboxFeedStart(cursor);
      if (!start.ok()) return start.status();
      position = *start;
    }
    auto page = service_.ReadInboxFeed(query, *position, kWindow);
    if (!page.ok()) return page.status();
    position = page->position;
    read_through->store(*position);
    Writer::Batch batch;
    // Caught up: wait (holding no thread) until InboxWatch wakes the stream
    // for a change to its members; this long pause only backs that up.
    if (page->caught_up) batch.idle = absl::Seconds(30);
    batch.items.reserve(page->events.size());
    for (InboxEvent& e : page->events) {
      v1::SubscribeInboxResponse& r = batch.items.emplace_back();
      r.set_type(static_cast<v1::InboxEventType>(e.type));
      *r.mutable_message() = std::move(e.message);
      r.set_cursor(absl::StrCat(e.seq));
    }
    return batch;
  };
  return new Writer(rpc_, ctx, *req, std::move(fetch), std::move(waker));
}

Reactor* NotificationGrpc::GetDelivery(ServerContext* ctx, const v1::GetDeliveryRequest* req, v1::Delivery* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    if (req->key_case() == v1::GetDeliveryRequest::kDeliveryId) {
      errors.RequireId("delivery_id", req->delivery_id());
    } else if (req->key_case() == v1::GetDeliveryRequest::kDeliveryKey) {
      errors.RequireId("delivery_key.member_id", req->delivery_key().member_id());
      errors.RequireNonEmpty("delivery_key.message_key", req->delivery_key().message_key());
      if (!ValidChannel(req->delivery_key().channel())) errors.Add("delivery_key.channel", "required");
    } else {
      errors.Add("key", "delivery_id or delivery_key is required");
    }
    if (!errors.empty()) return errors.ToStatus();
    return Respond(service_.GetDelivery(req->delivery_id(), req->has_delivery_key() ? &req->delivery_key() : nullptr),
                   resp);
  });
}

Reactor* NotificationGrpc::ListDeliveries(ServerContext* ctx, const v1::ListDeliveriesRequest* req,
                                          v1::ListDeliveriesResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    const v1::DeliveryFilter& f = req->filter();
    if (absl::Status s = CheckFilterValues({{"filter.statuses", f.statuses_size()},
                                            {"filter.channels", f.channels_size()},
                                            {"filter.kinds", f.kinds_size()}});
        !s.ok()) {
      return s;
    }
    FieldErrors errors;
    for (int i = 0; i < f.statuses_size(); ++i) {
      if (f.statuses(i) == 0 || !v1::DeliveryStatus_IsValid(f.statuses(i))) {
        errors.Add(absl::StrCat("filter.statuses[", i, "]"), "unknown status");
      }
    }
    for (int i = 0; i < f.channels_size(); ++i) {
      if (!ValidChannel(f.channels(i))) errors.Add(absl::StrCat("filter.channels[", i, "]"), "unknown channel");
    }
    for (int i = 0; i < f.kinds_size(); ++i) {
      if (f.kinds(i) == 0 || !v1::MessageKind_IsValid(f.kinds(i))) {
        errors.Add(absl::StrCat("filter.kinds[", i, "]"), "unknown kind");
      }
    }
    if (!v1::SuppressionReason_IsValid(f.suppression_reason())) {
      errors.Add("filter.suppression_reason", "unknown reason");
    }
    if (!errors.empty()) return errors.ToStatus();
    auto page = ReadPageRequest(*req, req->page_size(), req->page_token());
    if (!page.ok()) return page.status();
    auto rows = service_.ListDeliveries(f, page->cursor, page->size + 1);
    if (!rows.ok()) return rows.status();
    resp->set_next_page_token(TrimPage(*rows, page->size, *req, [](const auto& row) { return row.first; }));
    for (auto& [seq, d] : *rows) *resp->add_deliveries() = std::move(d);
    return absl::OkStatus();
  });
}

Reactor* NotificationGrpc::GetCampaignDeliveryStats(ServerContext* ctx, const v1::GetCampaignDeliveryStatsRequest* req,
                                                    v1::CampaignDeliveryStats* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("campaign_id", req->campaign_id());
    if (!errors.empty()) return errors.ToStatus();
    return Respond(service_.CampaignStats(req->campaign_id()), resp);
  });
}

// ------------------------------------------------------------ the audience

absl::Status LoyaltyAudience::Stream(const AudienceQuery& query, int batch_size,
                                     const std::function<absl::Status(std::vector<AudienceMember>)>& on_batch) {
  std::vector<AudienceMember> batch;
  absl::Status streamed = loyalty_.ExportMembers(
      {query.tier_ids, query.segments, query.after_member_id}, [&](const care::loyalty::v1::Member& m) -> absl::Status {
        AudienceMember a;
        a.member_id = m.member_id();
        a.name = m.name();
        a.email = m.email();
        a.phone = m.phone();
        a.locale = m.locale();
        a.time_zone = m.time_zone();
        for (const auto& c : m.marketing_consents()) {
          a.consents.push_back({static_cast<int>(c.channel()), c.granted(),
                                c.has_update_time() ? FromTimestamp(c.update_time()) : absl::UnixEpoch()});
        }
        batch.push_back(std::move(a));
        if (static_cast<int>(batch.size()) < batch_size) return absl::OkStatus();
        absl::Status s = on_batch(std::move(batch));
        batch.clear();
        return s;
      });
  if (!streamed.ok()) return streamed;
  if (!batch.empty()) return on_batch(std::move(batch));
  return absl::OkStatus();
}

}  // namespace care::notification
