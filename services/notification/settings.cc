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

bool Named(const google::protobuf::FieldMask& mask, absl::string_view path) {
  for (const std::string& p : mask.paths()) {
    if (p == path) return true;
  }
  return false;
}

// Whether a secret given for `before` may stay with `after`. A secret set
// while no URL was (first configuration) goes with the first URL.
bool SameOrigin(const std::string& before, const std::string& after) {
  return before.empty() || UrlOrigin(before) == UrlOrigin(after);
}

}  // namespace

v1::Settings NotificationService::Redacted(v1::Settings s) {
  s.mutable_webhook()->set_signing_secret_set(!s.webhook().signing_secret().empty());
  s.mutable_webhook()->clear_signing_secret();
  s.mutable_email()->set_password_set(!s.email().password().empty());
  s.mutable_email()->clear_password();
  return s;
}

absl::StatusOr<v1::Settings> NotificationService::RedactedSettings() {
  auto s = CurrentSettings();
  if (!s.ok()) return s.status();
  return Redacted(std::move(*s));
}

absl::StatusOr<v1::Settings> NotificationService::UpdateSettings(const Once& once, const v1::Settings& given,
                                                                 const google::protobuf::FieldMask& mask,
                                                                 const std::string& by) {
  const absl::Time now = clock_.Now();
  return WriteOnce<v1::Settings>(store_, once, [&](StoreTxn& tx, v1::Settings& out) -> absl::Status {
    auto stored = tx.GetSettings();
    if (!stored.ok()) return stored.status();
    v1::Settings current = stored->value_or(DefaultSettings());
    if (given.version() != 0 && given.version() != current.version()) {
      return Error(absl::StatusCode::kAborted, "VERSION_MISMATCH", "the settings changed; re-read and retry");
    }
    v1::Settings merged = current;
    google::protobuf::util::FieldMaskUtil::MergeOptions options;
    options.set_replace_repeated_fields(true);
    google::protobuf::util::FieldMaskUtil::MergeMessageTo(given, mask, options, &merged);
    // A changed address must meet the egress rules; an unchanged one is not
    // judged again here, so an unrelated update still goes through (the
    // transports refuse a bad stored URL at send time).
    if (merged.webhook().url() != current.webhook().url() && !merged.webhook().url().empty()) {
      if (absl::Status s = CheckChannelUrl(care::common::v1::MESSAGE_CHANNEL_WEBHOOK, merged.webhook().url(),
                                           options_.egress, "settings.webhook.url");
          !s.ok()) {
        return s;
      }
    }
    if (merged.email().smtp_url() != current.email().smtp_url() && !merged.email().smtp_url().empty()) {
      if (absl::Status s = CheckChannelUrl(care::common::v1::MESSAGE_CHANNEL_EMAIL, merged.email().smtp_url(),
                                           options_.egress, "settings.email.smtp_url");
          !s.ok()) {
        return s;
      }
    }
    if (merged.email().unsubscribe_url() != current.email().unsubscribe_url() &&
        !merged.email().unsubscribe_url().empty() && !options_.unsubscribe) {
      return FailedPrecondition("UNSUBSCRIBE_KEY_NOT_CONFIGURED",
                                "settings.email.unsubscribe_url needs the server's --unsubscribe_key_file");
    }
    // A secret changes only when its own path is named, so that updating
    // "webhook" for its URL cannot blank the signing secret; but a secret
    // belongs to the host it was given for: when the URL moves to another
    // origin (scheme, host or port) without the secret given again, it is
    // dropped, never sent to the new host.
    if (!Named(mask, "webhook.signing_secret")) {
      merged.mutable_webhook()->set_signing_secret(SameOrigin(current.webhook().url(), merged.webhook().url())
                                                       ? current.webhook().signing_secret()
                                                       : "");
    }
    if (!Named(mask, "email.password")) {
      merged.mutable_email()->set_password(SameOrigin(current.email().smtp_url(), merged.email().smtp_url())
                                               ? current.email().password()
                                               : "");
    }
    merged.set_version(current.version() + 1);
    *merged.mutable_update_time() = ToTimestamp(now);
    merged.set_updated_by(by);
    if (absl::Status s = tx.PutSettings(merged); !s.ok()) return s;
    out = Redacted(merged);
    return absl::OkStatus();
  });
}

}  // namespace care::notification
