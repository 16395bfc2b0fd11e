// The gRPC side of templates: request checks, then NotificationService
// (which validates template contents itself, for PutTemplate and drafts).
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/pagination.h"
#include "services/notification/notification_grpc.h"

namespace care::notification {
namespace {

void ValidateKey(FieldErrors& errors, const v1::TemplateKey& k) {
  if (k.kind() == v1::MESSAGE_KIND_UNSPECIFIED || !v1::MessageKind_IsValid(k.kind())) {
    errors.Add("key.kind", "required");
  }
  if (k.channel() == 0 || !care::common::v1::MessageChannel_IsValid(k.channel())) errors.Add("key.channel", "required");
  errors.RequireId("key.locale", k.locale());
}

constexpr char kPutTemplateScope[] = "notification.PutTemplate";
constexpr char kDeleteTemplateScope[] = "notification.DeleteTemplate";

// Templates are listed by their key: the cursor is the key's serialized
// bytes, web-safe base64.
std::string TemplateCursorOf(const v1::Template& t) {
  v1::TemplateKey key;
  key.set_kind(t.kind());
  key.set_template_key(t.template_key());
  key.set_channel(t.channel());
  key.set_locale(t.locale());
  return absl::WebSafeBase64Escape(key.SerializeAsString());
}

absl::StatusOr<std::optional<v1::TemplateKey>> ParseTemplateCursor(const std::string& cursor) {
  if (cursor.empty()) return std::nullopt;
  std::string bytes;
  v1::TemplateKey key;
  if (!absl::WebSafeBase64Unescape(cursor, &bytes) || !key.ParseFromString(bytes)) return InvalidPageToken();
  return key;
}

Preview PreviewOf(const v1::RenderPreviewRequest& r) {
  Preview p;
  if (r.has_draft()) p.draft = r.draft();
  p.key = r.key();
  p.member_id = r.member_id();
  p.variables.insert(r.variables().begin(), r.variables().end());
  return p;
}

}  // namespace

using Reactor = NotificationGrpc::Reactor;

namespace {

// The audit log's name for a template (common/audit.h):
// "template:<kind>/<key>/<channel>/<locale>".
template <typename KeyFields>
std::string TemplateTarget(const KeyFields& k) {
  return absl::StrCat("template:", v1::MessageKind_Name(k.kind()), "/", k.template_key(), "/",
                      care::common::v1::MessageChannel_Name(k.channel()), "/", k.locale());
}

}  // namespace

Reactor* NotificationGrpc::PutTemplate(ServerContext* ctx, const v1::PutTemplateRequest* req, v1::Template* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    if (!errors.empty()) return errors.ToStatus();
    return Respond(service_.PutTemplate(AuditedOnce(caller, kPutTemplateScope, req->request_id(), *req,
                                                    AuditOf(caller, TemplateTarget(req->template_()))),
                                        req->template_(), caller.principal->name),
                   resp);
  });
}

Reactor* NotificationGrpc::GetTemplate(ServerContext* ctx, const v1::GetTemplateRequest* req, v1::Template* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    ValidateKey(errors, req->key());
    if (!errors.empty()) return errors.ToStatus();
    return Respond(service_.GetTemplate(req->key(), req->resolve_fallback()), resp);
  });
}

Reactor* NotificationGrpc::ListTemplates(ServerContext* ctx, const v1::ListTemplatesRequest* req,
                                         v1::ListTemplatesResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    auto page = ReadPageCursor(*req, req->page_size(), req->page_token());
    if (!page.ok()) return page.status();
    auto after = ParseTemplateCursor(page->cursor);
    if (!after.ok()) return after.status();
    TemplateFilter filter;
    filter.kind = req->kind();
    filter.template_key = req->template_key();
    filter.channel = req->channel();
    filter.locale = req->locale();
    auto rows = service_.ListTemplates(filter, *after, page->size + 1);
    if (!rows.ok()) return rows.status();
    resp->set_next_page_token(TrimPage(*rows, page->size, *req, TemplateCursorOf));
    for (auto& t : *rows) *resp->add_templates() = std::move(t);
    return absl::OkStatus();
  });
}

Reactor* NotificationGrpc::DeleteTemplate(ServerContext* ctx, const v1::DeleteTemplateRequest* req,
                                          google::protobuf::Empty* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    ValidateKey(errors, req->key());
    if (!errors.empty()) return errors.ToStatus();
    return service_.DeleteTemplate(AuditedOnce(caller, kDeleteTemplateScope, req->request_id(), *req,
                                               AuditOf(caller, TemplateTarget(req->key()))),
                                   req->key(), req->version());
  });
}

Reactor* NotificationGrpc::RenderPreview(ServerContext* ctx, const v1::RenderPreviewRequest* req,
                                         v1::RenderPreviewResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    if (req->source_case() == v1::RenderPreviewRequest::SOURCE_NOT_SET) {
      errors.Add("key", "a key or a draft is required");
    }
    if (req->has_key()) ValidateKey(errors, req->key());
    if (!req->time_zone().empty()) errors.RequireTimeZone("time_zone", req->time_zone());
    if (!errors.empty()) return errors.ToStatus();
    return Respond(service_.RenderPreview(PreviewOf(*req)), resp);
  });
}

}  // namespace care::notification
