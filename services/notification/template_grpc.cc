// The gRPC side of templates: request checks, then NotificationService
// (which validates template contents itself, for PutTemplate and drafts).
#include "absl/strings/escaping.h"
#include "common/errors.h"
#include "common/pagination.h"
#include "services/notification/notification_grpc.h"

namespace care::notification {
namespace {

void ValidateKey(FieldErrors& errors, const v1::TemplateKey& k) {
  if (k.kind() == v1::MESSAGE_KIND_UNSPECIFIED || !v1::MessageKind_IsValid(k.kind())) errors.Add("key.kind", "required");
  if (k.channel() == 0 || !care::common::v1::MessageChannel_IsValid(k.channel())) errors.Add("key.channel", "required");
  errors.RequireId("key.locale", k.locale());
}

}  // namespace

using Reactor = NotificationGrpc::Reactor;

Reactor* NotificationGrpc::PutTemplate(ServerContext* ctx, const v1::PutTemplateRequest* req, v1::Template* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    if (!errors.empty()) return errors.ToStatus();
    auto t = service_.PutTemplate(*req, caller.principal->name);
    if (!t.ok()) return t.status();
    *resp = std::move(*t);
    return absl::OkStatus();
  });
}

Reactor* NotificationGrpc::GetTemplate(ServerContext* ctx, const v1::GetTemplateRequest* req, v1::Template* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    ValidateKey(errors, req->key());
    if (!errors.empty()) return errors.ToStatus();
    auto t = service_.GetTemplate(req->key(), req->resolve_fallback());
    if (!t.ok()) return t.status();
    *resp = std::move(*t);
    return absl::OkStatus();
  });
}

Reactor* NotificationGrpc::ListTemplates(ServerContext* ctx, const v1::ListTemplatesRequest* req,
                                         v1::ListTemplatesResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    int size = PageSize(req->page_size(), errors);
    if (!errors.empty()) return errors.ToStatus();
    auto cursor = DecodePageToken(*req, req->page_token());
    if (!cursor.ok()) return cursor.status();
    std::optional<v1::TemplateKey> after;
    if (!cursor->empty()) {
      std::string bytes;
      after.emplace();
      if (!absl::WebSafeBase64Unescape(*cursor, &bytes) || !after->ParseFromString(bytes)) return InvalidPageToken();
    }
    auto page = service_.ListTemplates(*req, after, size + 1);
    if (!page.ok()) return page.status();
    bool more = static_cast<int>(page->size()) > size;
    if (more) page->resize(size);
    for (auto& t : *page) *resp->add_templates() = std::move(t);
    if (more) {
      const v1::Template& last = resp->templates(resp->templates_size() - 1);
      v1::TemplateKey key;
      key.set_kind(last.kind());
      key.set_template_key(last.template_key());
      key.set_channel(last.channel());
      key.set_locale(last.locale());
      resp->set_next_page_token(EncodePageToken(*req, absl::WebSafeBase64Escape(key.SerializeAsString())));
    }
    return absl::OkStatus();
  });
}

Reactor* NotificationGrpc::DeleteTemplate(ServerContext* ctx, const v1::DeleteTemplateRequest* req,
                                          google::protobuf::Empty* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    ValidateKey(errors, req->key());
    if (!errors.empty()) return errors.ToStatus();
    return service_.DeleteTemplate(*req);
  });
}

Reactor* NotificationGrpc::RenderPreview(ServerContext* ctx, const v1::RenderPreviewRequest* req,
                                         v1::RenderPreviewResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    if (req->source_case() == v1::RenderPreviewRequest::SOURCE_NOT_SET) errors.Add("key", "a key or a draft is required");
    if (req->has_key()) ValidateKey(errors, req->key());
    if (!req->time_zone().empty()) errors.RequireTimeZone("time_zone", req->time_zone());
    if (!errors.empty()) return errors.ToStatus();
    auto r = service_.RenderPreview(*req);
    if (!r.ok()) return r.status();
    *resp = std::move(*r);
    return absl::OkStatus();
  });
}

}  // namespace care::notification
