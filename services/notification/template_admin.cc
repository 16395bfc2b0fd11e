// Templates: stored per (kind, template_key, channel, locale) by admins,
// validated on save, resolved along the member's locale chain at send time
// (at each locale the stored text, then the built-in en/vi/ja one).
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/localized.h"
#include "common/proto_time.h"
#include "common/store.h"
#include "google/protobuf/empty.pb.h"
#include "services/notification/notification_service.h"
#include "services/notification/templates.h"

namespace care::notification {
namespace {

v1::TemplateKey KeyOf(const v1::Template& t) {
  v1::TemplateKey k;
  k.set_kind(t.kind());
  k.set_template_key(t.template_key());
  k.set_channel(t.channel());
  k.set_locale(t.locale());
  return k;
}

absl::Status TemplateNotFound() { return NotFound("TEMPLATE_NOT_FOUND", "no template for this key"); }

}  // namespace

absl::StatusOr<std::optional<v1::Template>> ResolveTemplate(StoreTxn& tx, const v1::TemplateKey& key,
                                                            const std::string& default_locale) {
  // Locale by locale, a stored template and then the built-in one: the
  // member's own language wins over a stored default-language text, so the
  // frame is in the language the content is picked in (render.cc).
  for (const std::string& locale : LocaleFallbackChain(key.locale(), default_locale)) {
    v1::TemplateKey k = key;
    k.set_locale(locale);
    auto stored = tx.GetTemplate(k);
    if (!stored.ok() || *stored) return stored;
    if (auto built_in = BuiltInTemplate(key.kind(), locale)) {
      built_in->set_channel(key.channel());
      return built_in;
    }
  }
  return std::nullopt;
}

absl::StatusOr<v1::Template> NotificationService::PutTemplate(const Once& once, const v1::Template& given,
                                                              const std::string& actor) {
  if (absl::Status bad = ValidateTemplate(given); !bad.ok()) return bad;
  const absl::Time now = clock_.Now();
  return WriteOnce<v1::Template>(store_, once, [&](StoreTxn& tx, v1::Template& out) -> absl::Status {
    auto stored = tx.GetTemplate(KeyOf(given));
    if (!stored.ok()) return stored.status();
    const int64_t version = *stored ? (*stored)->version() : 0;
    if (given.version() != 0 && given.version() != version) {
      return Error(absl::StatusCode::kAborted, "VERSION_MISMATCH", "the template changed; re-read and retry");
    }
    out = given;
    out.set_version(version + 1);
    *out.mutable_create_time() = *stored ? (*stored)->create_time() : ToTimestamp(now);
    *out.mutable_update_time() = ToTimestamp(now);
    out.set_updated_by(actor);
    return tx.PutTemplate(out);
  });
}

absl::StatusOr<v1::Template> NotificationService::GetTemplate(const v1::TemplateKey& key, bool resolve_fallback) {
  auto settings = CurrentSettings();
  if (!settings.ok()) return settings.status();
  std::optional<v1::Template> out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto t = resolve_fallback ? ResolveTemplate(tx, key, settings->default_locale()) : tx.GetTemplate(key);
    if (!t.ok()) return t.status();
    out = std::move(*t);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!out) return TemplateNotFound();
  return *out;
}

absl::StatusOr<std::vector<v1::Template>> NotificationService::ListTemplates(
    const TemplateFilter& filter, const std::optional<v1::TemplateKey>& after, int limit) {
  std::vector<v1::Template> out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto r = tx.ListTemplates(filter, after, limit);
    if (!r.ok()) return r.status();
    out = std::move(*r);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status NotificationService::DeleteTemplate(const Once& once, const v1::TemplateKey& key, int64_t version) {
  return WriteOnce<google::protobuf::Empty>(store_, once,
                                            [&](StoreTxn& tx, google::protobuf::Empty&) -> absl::Status {
                                              auto stored = tx.GetTemplate(key);
                                              if (!stored.ok()) return stored.status();
                                              if (!*stored) return TemplateNotFound();
                                              if (version != 0 && version != (*stored)->version()) {
                                                return Error(absl::StatusCode::kAborted, "VERSION_MISMATCH",
                                                             "the template changed; re-read and retry");
                                              }
                                              return tx.DeleteTemplate(key);
                                            })
      .status();
}

absl::StatusOr<v1::RenderPreviewResponse> NotificationService::RenderPreview(const Preview& preview) {
  auto settings = CurrentSettings();
  if (!settings.ok()) return settings.status();
  std::optional<v1::Template> tmpl;
  std::map<std::string, std::string> vars = preview.variables;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    v1::TemplateKey key = preview.draft ? KeyOf(*preview.draft) : preview.key;
    if (!preview.member_id.empty()) {
      auto member = tx.GetMember(preview.member_id);
      if (!member.ok()) return member.status();
      if (*member) {
        vars.emplace("member_name", (*member)->name);
        std::string locale = (*member)->preferences && !(*member)->preferences->locale().empty()
                                 ? (*member)->preferences->locale()
                                 : (*member)->profile_locale;
        if (!locale.empty() && !preview.draft) key.set_locale(locale);
      }
      vars.emplace("member_id", preview.member_id);
    }
    if (preview.draft) {
      tmpl = *preview.draft;
      tmpl->set_version(0);
      return absl::OkStatus();
    }
    auto t = ResolveTemplate(tx, key, settings->default_locale());
    if (!t.ok()) return t.status();
    tmpl = std::move(*t);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!tmpl) return TemplateNotFound();
  if (preview.draft) {
    if (absl::Status bad = ValidateTemplate(*tmpl); !bad.ok()) return bad;
  }
  v1::RenderPreviewResponse out;
  auto subject = RenderText(tmpl->subject(), vars, "subject");
  if (!subject.ok()) return subject.status();
  auto body = RenderText(tmpl->body(), vars, "body");
  if (!body.ok()) return body.status();
  auto html = RenderText(tmpl->html_body(), vars, "html_body");
  if (!html.ok()) return html.status();
  out.set_subject(*subject);
  out.set_body(*body);
  out.set_html_body(*html);
  out.set_resolved_locale(tmpl->locale());
  out.set_template_version(tmpl->version());
  return out;
}

}  // namespace care::notification
