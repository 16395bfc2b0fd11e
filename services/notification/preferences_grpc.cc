// The gRPC side of settings, preferences and consent: request validation
// (bad input is INVALID_ARGUMENT naming the field), then NotificationService.
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/pagination.h"
#include "common/privacy.h"
#include "common/proto_time.h"
#include "google/protobuf/util/field_mask_util.h"
#include "services/notification/notification_grpc.h"
#include "services/notification/request_checks.h"

namespace care::notification {
namespace {

void ValidateTime(FieldErrors& errors, const std::string& field, const v1::TimeOfDay& t) {
  bool ok = t.hours() >= 0 && t.minutes() >= 0 && t.minutes() <= 59 &&
            (t.hours() < 24 || (t.hours() == 24 && t.minutes() == 0));
  if (!ok) errors.Add(field, "must be a time of day 00:00..24:00");
}

// 24:00-00:00 wraps from midnight to the same midnight: a window that never
// opens, so nothing could ever be sent.
void ValidateWindow(FieldErrors& errors, const std::string& field, const v1::SendWindow& w) {
  ValidateTime(errors, field + ".start", w.start());
  ValidateTime(errors, field + ".end", w.end());
  if (w.start().hours() == 24 && w.end().hours() == 0 && w.end().minutes() == 0) {
    errors.Add(field, "24:00-00:00 never opens; 00:00-00:00 means no quiet hours");
  }
}

}  // namespace

absl::Status ValidatePreferences(const v1::UpdatePreferencesRequest& r) {
  FieldErrors errors;
  errors.RequireId("request_id", r.request_id());
  const v1::Preferences& p = r.preferences();
  errors.RequireId("preferences.member_id", p.member_id());
  for (const std::string& path : r.update_mask().paths()) {
    if (path != "locale" && path != "time_zone" && path != "send_window" && path != "channel_preferences") {
      errors.Add("update_mask", absl::StrCat("\"", path, "\" cannot be updated"));
    }
  }
  if (!p.locale().empty()) errors.RequireId("preferences.locale", p.locale());
  if (!p.time_zone().empty()) errors.RequireTimeZone("preferences.time_zone", p.time_zone());
  if (p.has_send_window()) {
    ValidateWindow(errors, "preferences.send_window", p.send_window());
  }
  for (int i = 0; i < p.channel_preferences_size(); ++i) {
    const auto& c = p.channel_preferences(i);
    std::string f = absl::StrCat("preferences.channel_preferences[", i, "]");
    if (c.channel() == 0 || !care::common::v1::MessageChannel_IsValid(c.channel())) {
      errors.Add(f + ".channel", "unknown");
    }
    if (c.category() == 0 || !v1::MessageCategory_IsValid(c.category())) errors.Add(f + ".category", "unknown");
  }
  if (p.marketing_consents_size() > 0) errors.Add("preferences.marketing_consents", "is changed with SetConsent");
  return errors.ToStatus();
}

absl::Status ValidateConsent(const v1::SetConsentRequest& r, absl::Time now) {
  FieldErrors errors;
  errors.RequireId("request_id", r.request_id());
  errors.RequireId("member_id", r.member_id());
  if (r.channel() == 0 || !care::common::v1::MessageChannel_IsValid(r.channel())) errors.Add("channel", "required");
  if (r.source() == v1::CONSENT_SOURCE_UNSPECIFIED || !v1::ConsentSource_IsValid(r.source())) {
    errors.Add("source", "required");
  } else if (r.source() == v1::CONSENT_SOURCE_LOYALTY_PROFILE) {
    errors.Add("source", "LOYALTY_PROFILE is set only by loyalty's events");
  }
  if (r.legal_basis() == v1::LEGAL_BASIS_UNSPECIFIED || !v1::LegalBasis_IsValid(r.legal_basis())) {
    errors.Add("legal_basis", "required");
  }
  errors.RequireMaxLength("evidence", r.evidence(), 500);
  CheckOptionalTimestamp(errors, "effective_time", r.has_effective_time(), r.effective_time());
  if (r.has_effective_time() && ValidTimestamp(r.effective_time()) && FromTimestamp(r.effective_time()) > now) {
    errors.Add("effective_time", "must not be in the future");
  }
  return errors.ToStatus();
}

using Reactor = NotificationGrpc::Reactor;

namespace {

constexpr char kSettingsScope[] = "notification.UpdateSettings";
constexpr char kPreferencesScope[] = "notification.UpdatePreferences";
constexpr char kConsentScope[] = "notification.SetConsent";
constexpr char kUnsubscribeScope[] = "notification.Unsubscribe";
// Evidence a gateway adds to an unsubscribe; the record's evidence (500)
// also holds the delivery it came from.
constexpr size_t kMaxUnsubscribeEvidence = 300;

ConsentChange ChangeOf(const v1::SetConsentRequest& r) {
  ConsentChange c;
  c.member_id = r.member_id();
  c.channel = r.channel();
  c.granted = r.granted();
  c.source = r.source();
  c.legal_basis = r.legal_basis();
  c.evidence = r.evidence();
  if (r.has_effective_time()) c.effective_time = FromTimestamp(r.effective_time());
  c.origin_id = r.request_id();
  return c;
}

}  // namespace

Reactor* NotificationGrpc::GetSettings(ServerContext* ctx, const v1::GetSettingsRequest* req, v1::Settings* resp) {
  return rpc_.Unary(ctx, *req,
                    [=, this](const Caller&) -> absl::Status { return Respond(service_.RedactedSettings(), resp); });
}

Reactor* NotificationGrpc::UpdateSettings(ServerContext* ctx, const v1::UpdateSettingsRequest* req,
                                          v1::Settings* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    if (req->update_mask().paths().empty()) errors.Add("update_mask", "name the paths to change");
    if (!google::protobuf::util::FieldMaskUtil::IsValidFieldMask<v1::Settings>(req->update_mask())) {
      errors.Add("update_mask", "names a field settings do not have");
    }
    for (const std::string& path : req->update_mask().paths()) {
      if (path == "version" || path == "update_time" || path == "updated_by" || path == "webhook.signing_secret_set" ||
          path == "email.password_set") {
        errors.Add("update_mask", absl::StrCat("\"", path, "\" is output only"));
      }
    }
    const v1::Settings& s = req->settings();
    if (s.frequency_cap().max_messages() < 0) errors.Add("settings.frequency_cap.max_messages", "must be >= 0");
    if (s.frequency_cap().max_messages() > 0 && s.frequency_cap().window().seconds() <= 0) {
      errors.Add("settings.frequency_cap.window", "must be positive with a cap");
    }
    if (!s.default_time_zone().empty()) errors.RequireTimeZone("settings.default_time_zone", s.default_time_zone());
    // The margin moves alerts earlier; a negative one would move them past
    // the window's end, towards or past due.
    const google::protobuf::Duration& margin = s.quiet_hours_margin();
    if (margin.seconds() < 0 || margin.nanos() < 0 || margin.nanos() > 999999999 ||
        FromDurationProto(margin) > absl::Hours(2)) {
      errors.Add("settings.quiet_hours_margin", "must be 0..2h");
    }
    if (s.has_default_send_window()) {
      ValidateWindow(errors, "settings.default_send_window", s.default_send_window());
    }
    if (!s.default_locale().empty()) errors.RequireId("settings.default_locale", s.default_locale());
    if (std::string problem = UnsubscribeUrlProblem(s.email().unsubscribe_url()); !problem.empty()) {
      errors.Add("settings.email.unsubscribe_url", problem);
    }
    if (!errors.empty()) return errors.ToStatus();
    return Respond(service_.UpdateSettings(AuditedOnce(caller, kSettingsScope, req->request_id(), *req,
                                                       AuditOf(caller, "settings")),
                                           req->settings(), req->update_mask(), caller.principal->name),
                   resp);
  });
}

Reactor* NotificationGrpc::GetPreferences(ServerContext* ctx, const v1::GetPreferencesRequest* req,
                                          v1::Preferences* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    if (req->member_id().empty()) return InvalidField("member_id", "is required");
    return Respond(service_.GetPreferences(req->member_id()), resp);
  });
}

Reactor* NotificationGrpc::UpdatePreferences(ServerContext* ctx, const v1::UpdatePreferencesRequest* req,
                                             v1::Preferences* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    if (absl::Status bad = ValidatePreferences(*req); !bad.ok()) return bad;
    std::vector<std::string> paths(req->update_mask().paths().begin(), req->update_mask().paths().end());
    return Respond(
        service_.UpdatePreferences(AuditedOnce(caller, kPreferencesScope, req->request_id(), *req,
                                               AuditOf(caller, MemberSubject(req->preferences().member_id()))),
                                   req->preferences(), std::move(paths)),
        resp);
  });
}

Reactor* NotificationGrpc::SetConsent(ServerContext* ctx, const v1::SetConsentRequest* req, v1::ConsentRecord* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    if (absl::Status bad = ValidateConsent(*req, service_.Now()); !bad.ok()) return bad;
    return Respond(service_.SetConsent(AuditedOnce(caller, kConsentScope, req->request_id(), *req,
                                                   AuditOf(caller, MemberSubject(req->member_id()))),
                                       ChangeOf(*req), caller.principal->name),
                   resp);
  });
}

Reactor* NotificationGrpc::Unsubscribe(ServerContext* ctx, const v1::UnsubscribeRequest* req, v1::ConsentRecord* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    if (req->token().empty()) errors.Add("token", "is required");
    if (req->token().size() > kMaxUnsubscribeTokenBytes) {
      errors.Add("token", absl::StrCat("is longer than ", kMaxUnsubscribeTokenBytes, " bytes"));
    }
    errors.RequireMaxLength("evidence", req->evidence(), kMaxUnsubscribeEvidence);
    if (!errors.empty()) return errors.ToStatus();
    auto change = service_.UnsubscribeChange(req->token(), req->evidence());
    if (!change.ok()) return change.status();
    // One link, one withdrawal: the delivery is the natural key, and the
    // gateway's evidence (a timestamp, an address) is not part of the
    // request a retry must repeat.
    v1::SetConsentRequest same;
    same.set_request_id(change->origin_id);
    same.set_member_id(change->member_id);
    same.set_channel(static_cast<care::common::v1::MessageChannel>(change->channel));
    return Respond(service_.SetConsent(SharedOnce(kUnsubscribeScope, change->origin_id, same), *change,
                                       caller.principal->name),
                   resp);
  });
}

Reactor* NotificationGrpc::ListConsentHistory(ServerContext* ctx, const v1::ListConsentHistoryRequest* req,
                                              v1::ListConsentHistoryResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("member_id", req->member_id());
    if (req->channel() != 0 && !care::common::v1::MessageChannel_IsValid(req->channel())) {
      errors.Add("channel", "unknown");
    }
    if (!errors.empty()) return errors.ToStatus();
    auto page = ReadPageRequest(*req, req->page_size(), req->page_token());
    if (!page.ok()) return page.status();
    auto rows = service_.ConsentHistory(req->member_id(), req->channel(), page->cursor, page->size + 1);
    if (!rows.ok()) return rows.status();
    resp->set_next_page_token(TrimPage(*rows, page->size, *req, [](const auto& row) { return row.first; }));
    for (auto& [seq, r] : *rows) *resp->add_records() = std::move(r);
    return absl::OkStatus();
  });
}

}  // namespace care::notification
