// Service-wide settings: changed by path (secrets only when named), never
// returned with their secrets, versioned for optimistic concurrency.
#include "absl/strings/match.h"
#include "common/errors.h"
#include "common/proto_time.h"
#include "common/store.h"
#include "google/protobuf/util/field_mask_util.h"
#include "services/notification/notification_service.h"

namespace care::notification {
namespace {

constexpr char kSettingsScope[] = "notification.UpdateSettings";

bool Named(const google::protobuf::FieldMask& mask, absl::string_view path) {
  for (const std::string& p : mask.paths()) {
    if (p == path) return true;
  }
  return false;
}

}  // namespace

v1::Settings NotificationService::Redacted(v1::Settings s) {
  s.mutable_webhook()->set_signing_secret_set(!s.webhook().signing_secret().empty());
  s.mutable_webhook()->clear_signing_secret();
  s.mutable_email()->set_password_set(!s.email().password().empty());
  s.mutable_email()->clear_password();
  return s;
}

absl::StatusOr<v1::Settings> NotificationService::UpdateSettings(const v1::UpdateSettingsRequest& req,
                                                                 const std::string& by) {
  const absl::Time now = clock_.Now();
  return WriteOnce<v1::Settings>(store_, kSettingsScope, req.request_id(), req,
                                 [&](StoreTxn& tx, v1::Settings& out) -> absl::Status {
    auto stored = tx.GetSettings();
    if (!stored.ok()) return stored.status();
    v1::Settings current = stored->value_or(DefaultSettings());
    if (req.settings().version() != 0 && req.settings().version() != current.version()) {
      return Error(absl::StatusCode::kAborted, "VERSION_MISMATCH", "the settings changed; re-read and retry");
    }
    v1::Settings merged = current;
    google::protobuf::util::FieldMaskUtil::MergeOptions options;
    options.set_replace_repeated_fields(true);
    google::protobuf::util::FieldMaskUtil::MergeMessageTo(req.settings(), req.update_mask(), options, &merged);
    // A secret changes only when its own path is named, so that updating
    // "webhook" for its URL cannot blank the signing secret.
    if (!Named(req.update_mask(), "webhook.signing_secret")) {
      merged.mutable_webhook()->set_signing_secret(current.webhook().signing_secret());
    }
    if (!Named(req.update_mask(), "email.password")) merged.mutable_email()->set_password(current.email().password());
    merged.set_version(current.version() + 1);
    *merged.mutable_update_time() = ToTimestamp(now);
    merged.set_updated_by(by);
    if (absl::Status s = tx.PutSettings(merged); !s.ok()) return s;
    out = Redacted(merged);
    return absl::OkStatus();
  });
}

}  // namespace care::notification
