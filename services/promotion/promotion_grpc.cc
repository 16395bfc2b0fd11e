#include "services/promotion/promotion_grpc.h"

#include <chrono>
#include <set>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/bounds.h"
#include "common/errors.h"
#include "common/filter_limits.h"
#include "common/localized.h"
#include "common/pagination.h"
#include "common/proto_time.h"
#include "google/protobuf/util/field_mask_util.h"
#include "services/promotion/campaign_validation.h"
#include "services/promotion/request_checks.h"

namespace care::promotion {
namespace {

namespace pv1 = ::care::promotion::v1;

bool IsCampaignId(const std::string& s) {  // [a-z0-9-]{1,63}
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

void RequireRequestId(FieldErrors& errors, const std::string& id) { errors.RequireId("request_id", id); }

// Whether the caller of `ctx` still waits: pricing a big cart stops once the
// call's deadline passed or the client cancelled, instead of running on.
std::function<absl::Status()> CallerWaits(grpc::CallbackServerContext* ctx) {
  return [ctx, deadline = ctx->deadline()]() -> absl::Status {
    if (std::chrono::system_clock::now() >= deadline) {
      return absl::DeadlineExceededError("the call's deadline passed while pricing");
    }
    if (ctx->IsCancelled()) return absl::CancelledError("the call was cancelled while pricing");
    return absl::OkStatus();
  };
}

// The wire requests as the domain's values.
Schedule ScheduleOf(const pv1::RescheduleCampaignRequest& req) {
  Schedule s;
  s.campaign_id = req.campaign_id();
  s.expected_version = req.expected_version();
  if (req.has_starts_at()) s.starts_at = FromTimestamp(req.starts_at());
  if (req.has_ends_at()) s.ends_at = FromTimestamp(req.ends_at());
  s.allow_short_notice = req.allow_short_notice();
  return s;
}

CampaignFilter CampaignFilterOf(const pv1::ListCampaignsRequest& req) {
  CampaignFilter f;
  for (int state : req.states()) f.states.push_back(static_cast<pv1::CampaignState>(state));
  f.tier_id = req.tier_id();
  if (req.has_voucher_required()) f.voucher_required = req.voucher_required();
  if (req.has_active_at()) f.active_at = FromTimestamp(req.active_at());
  return f;
}

RedemptionFilter RedemptionFilterOf(const pv1::ListRedemptionsRequest& req) {
  RedemptionFilter f;
  f.member_id = req.member_id();
  for (int state : req.states()) f.states.push_back(static_cast<pv1::RedemptionState>(state));
  f.voucher_code = req.voucher_code();
  f.campaign_id = req.campaign_id();
  if (req.has_create_time_from()) f.created_from = FromTimestamp(req.create_time_from());
  if (req.has_create_time_to()) f.created_to = FromTimestamp(req.create_time_to());
  return f;
}

Cart CartOf(const pv1::QuoteRequest& req) {
  Cart cart;
  cart.member_id = req.customer().member_id();
  cart.guest_key = req.customer().guest().guest_key();
  cart.currency_code = req.currency_code();
  cart.shipping = req.shipping().amount_minor();
  cart.full_view = req.view() == pv1::QUOTE_VIEW_FULL;
  cart.explain_all = req.explain_all();
  cart.language_code = req.language_code();
  cart.lines.reserve(req.lines_size());
  for (const pv1::CartLine& l : req.lines()) {
    cart.lines.push_back(Line{l.line_id(), l.sku(), l.category(), l.quantity(), l.unit_price().amount_minor()});
  }
  cart.voucher_codes.assign(req.voucher_codes().begin(), req.voucher_codes().end());
  return cart;
}

OrderReturn ReturnOf(const pv1::ReturnRedemptionRequest& req) {
  OrderReturn r;
  r.order_id = req.order_id();
  r.return_id = req.return_id();
  for (const pv1::ReturnLine& l : req.lines()) r.lines.push_back({l.line_id(), l.quantity()});
  r.reason = req.reason();
  return r;
}

}  // namespace

grpc::ServerUnaryReactor* PromotionGrpc::CreateCampaign(ServerContext* ctx, const pv1::CreateCampaignRequest* req,
                                                        pv1::Campaign* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    RequireRequestId(errors, req->request_id());
    if (!req->campaign_id().empty() && !IsCampaignId(req->campaign_id())) {
      errors.Add("campaign_id", "must match [a-z0-9-]{1,63}");
    }
    // The campaign's content is checked by the domain (ValidateCampaign),
    // the same way for create and for the merged result of an update.
    if (!req->has_campaign()) errors.Add("campaign", "required");
    if (!errors.empty()) return errors.ToStatus();
    return Respond(promotion_.Create(AuditedOnce(caller, "CreateCampaign", req->request_id(), *req,
                                                 AuditOf(caller, absl::StrCat("campaign:", req->campaign_id()))),
                                     req->campaign_id(), req->campaign(), caller.principal->name),
                   resp);
  });
}

grpc::ServerUnaryReactor* PromotionGrpc::GetCampaign(ServerContext* ctx, const pv1::GetCampaignRequest* req,
                                                     pv1::Campaign* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    if (!IsCampaignId(req->campaign_id())) errors.Add("campaign_id", "must match [a-z0-9-]{1,63}");
    if (req->version() < 0) errors.Add("version", "must be >= 0");
    if (!errors.empty()) return errors.ToStatus();
    return Respond(promotion_.Get(req->campaign_id(), req->version()), resp);
  });
}

grpc::ServerUnaryReactor* PromotionGrpc::AnnounceCampaign(ServerContext* ctx, const pv1::AnnounceCampaignRequest* req,
                                                          pv1::Campaign* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    RequireRequestId(errors, req->request_id());
    if (!IsCampaignId(req->campaign_id())) errors.Add("campaign_id", "must match [a-z0-9-]{1,63}");
    if (req->expected_version() < 0) errors.Add("expected_version", "must be >= 0");
    if (!errors.empty()) return errors.ToStatus();
    return Respond(promotion_.Announce(OnceFor(caller, "AnnounceCampaign", req->request_id(), *req), req->campaign_id(),
                                       req->expected_version(), req->allow_short_notice(), caller.principal->name),
                   resp);
  });
}

grpc::ServerUnaryReactor* PromotionGrpc::RescheduleCampaign(ServerContext* ctx,
                                                            const pv1::RescheduleCampaignRequest* req,
                                                            pv1::Campaign* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    RequireRequestId(errors, req->request_id());
    if (!IsCampaignId(req->campaign_id())) errors.Add("campaign_id", "must match [a-z0-9-]{1,63}");
    if (!req->has_starts_at() && !req->has_ends_at()) errors.Add("starts_at", "starts_at or ends_at required");
    CheckOptionalTimestamp(errors, "starts_at", req->has_starts_at(), req->starts_at());
    CheckOptionalTimestamp(errors, "ends_at", req->has_ends_at(), req->ends_at());
    if (!errors.empty()) return errors.ToStatus();
    return Respond(promotion_.Reschedule(AuditedOnce(caller, "RescheduleCampaign", req->request_id(), *req,
                                                     AuditOf(caller, absl::StrCat("campaign:", req->campaign_id()))),
                                         ScheduleOf(*req), caller.principal->name),
                   resp);
  });
}

grpc::ServerUnaryReactor* PromotionGrpc::CancelCampaign(ServerContext* ctx, const pv1::CancelCampaignRequest* req,
                                                        pv1::Campaign* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    RequireRequestId(errors, req->request_id());
    if (!IsCampaignId(req->campaign_id())) errors.Add("campaign_id", "must match [a-z0-9-]{1,63}");
    errors.RequireMaxLength("reason", req->reason(), 500);
    if (!errors.empty()) return errors.ToStatus();
    return Respond(
        promotion_.Cancel(AuditedOnce(caller, "CancelCampaign", req->request_id(), *req,
                                      AuditOf(caller, absl::StrCat("campaign:", req->campaign_id()), req->reason())),
                          req->campaign_id(), req->expected_version(), req->reason(), caller.principal->name),
        resp);
  });
}

grpc::ServerUnaryReactor* PromotionGrpc::UpdateCampaign(ServerContext* ctx, const pv1::UpdateCampaignRequest* req,
                                                        pv1::Campaign* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    if (!IsCampaignId(req->campaign().campaign_id())) errors.Add("campaign.campaign_id", "must match [a-z0-9-]{1,63}");
    if (req->update_mask().paths().empty()) errors.Add("update_mask", "must name at least one field");
    if (!google::protobuf::util::FieldMaskUtil::IsValidFieldMask<pv1::Campaign>(req->update_mask())) {
      errors.Add("update_mask", "names a field the campaign does not have");
    }
    static const std::set<std::string> kOutputOnly = {"campaign_id",    "state",         "version",     "short_notice",
                                                      "alert_due_time", "announce_time", "cancel_time", "cancel_reason",
                                                      "create_time",    "update_time",   "updated_by"};
    for (const std::string& path : req->update_mask().paths()) {
      std::string top = path.substr(0, path.find('.'));
      if (kOutputOnly.count(top) || pv1::Campaign::descriptor()->FindFieldByName(top) == nullptr) {
        errors.Add("update_mask", absl::StrCat("\"", path, "\" is output only or unknown"));
      }
    }
    if (!errors.empty()) return errors.ToStatus();
    return Respond(
        promotion_.Update(AuditedOnce(caller, "UpdateCampaign", req->request_id(), *req,
                                      AuditOf(caller, absl::StrCat("campaign:", req->campaign().campaign_id()))),
                          req->campaign(), req->update_mask(), caller.principal->name),
        resp);
  });
}

grpc::ServerUnaryReactor* PromotionGrpc::ListCampaigns(ServerContext* ctx, const pv1::ListCampaignsRequest* req,
                                                       pv1::ListCampaignsResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    if (absl::Status s = CheckFilterValues("states", req->states_size()); !s.ok()) return s;
    FieldErrors errors;
    CheckOptionalTimestamp(errors, "active_at", req->has_active_at(), req->active_at());
    if (!errors.empty()) return errors.ToStatus();
    auto paging = ReadPageRequest(*req, req->page_size(), req->page_token());
    if (!paging.ok()) return paging.status();
    auto page = promotion_.ListCampaigns(CampaignFilterOf(*req), paging->cursor, paging->size);
    if (!page.ok()) return page.status();
    for (auto& c : page->first) *resp->add_campaigns() = std::move(c);
    resp->set_next_page_token(NextPageToken(*req, page->second));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* PromotionGrpc::ListCampaignVersions(ServerContext* ctx,
                                                              const pv1::ListCampaignVersionsRequest* req,
                                                              pv1::ListCampaignVersionsResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    if (!IsCampaignId(req->campaign_id())) errors.Add("campaign_id", "must match [a-z0-9-]{1,63}");
    int size = PageSize(req->page_size(), errors);
    if (!errors.empty()) return errors.ToStatus();
    auto cursor = DecodePageToken(*req, req->page_token());
    if (!cursor.ok()) return cursor.status();
    int64_t after = 0;
    if (!cursor->empty() && !absl::SimpleAtoi(*cursor, &after)) return InvalidPageToken();
    auto versions = promotion_.ListVersions(req->campaign_id(), after, size + 1);
    if (!versions.ok()) return versions.status();
    resp->set_next_page_token(TrimPage(*versions, size, *req,
                                       [](const pv1::CampaignVersion& v) { return v.version(); }));
    for (auto& v : *versions) *resp->add_versions() = std::move(v);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* PromotionGrpc::ListRedemptions(ServerContext* ctx, const pv1::ListRedemptionsRequest* req,
                                                         pv1::ListRedemptionsResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    if (absl::Status s = CheckFilterValues("states", req->states_size()); !s.ok()) return s;
    auto paging = ReadPageRequest(*req, req->page_size(), req->page_token());
    if (!paging.ok()) return paging.status();
    auto page = promotion_.ListRedemptions(RedemptionFilterOf(*req), paging->cursor, paging->size);
    if (!page.ok()) return page.status();
    for (auto& r : page->first) *resp->add_redemptions() = std::move(r);
    resp->set_next_page_token(NextPageToken(*req, page->second));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* PromotionGrpc::GetCampaignReport(ServerContext* ctx, const pv1::GetCampaignReportRequest* req,
                                                           pv1::CampaignReport* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    if (!IsCampaignId(req->campaign_id())) errors.Add("campaign_id", "must match [a-z0-9-]{1,63}");
    if (!errors.empty()) return errors.ToStatus();
    return Respond(promotion_.Report(req->campaign_id()), resp);
  });
}

absl::Status CheckQuoteRequest(const pv1::QuoteRequest* req) {
  FieldErrors errors;
  size_t mismatches = 0;  // amounts in another currency than the cart's
  const auto& cust = req->customer();
  if (cust.identity_case() == pv1::Customer::IDENTITY_NOT_SET) errors.Add("customer", "member_id or guest required");
  if (cust.has_member_id()) errors.RequireId("customer.member_id", cust.member_id());
  if (cust.has_guest()) errors.RequireMaxLength("customer.guest.guest_key", cust.guest().guest_key(), 128);
  errors.RequireCurrency("currency_code", req->currency_code());
  if (req->lines().empty() || req->lines_size() > 1000) errors.Add("lines", "1..1000 lines");
  absl::flat_hash_set<absl::string_view> line_ids;
  line_ids.reserve(req->lines_size());
  for (int i = 0; i < req->lines_size(); ++i) {
    const auto& l = req->lines(i);
    const auto& price = l.unit_price();
    // Byte lengths within the limits are within them in characters too.
    const bool ok = !l.line_id().empty() && l.line_id().size() <= 64 && !l.sku().empty() && l.sku().size() <= 128 &&
                    l.category().size() <= 128 && l.quantity() >= 1 && l.quantity() <= 10000 &&
                    price.amount_minor() >= 0 && price.amount_minor() <= kMaxMoneyMinor &&
                    (price.currency_code().empty() || price.currency_code() == req->currency_code());
    const bool unique = line_ids.insert(l.line_id()).second;
    if (ok && unique) continue;  // field paths are built only for a line that fails
    std::string f = absl::StrCat("lines[", i, "]");
    if (l.line_id().empty()) {
      errors.Add(f + ".line_id", "required, 1..64 characters");
    } else if (errors.RequireMaxLength(f + ".line_id", l.line_id(), 64) && !unique) {
      errors.Add(f + ".line_id", "must be unique in the cart");
    }
    if (l.sku().empty()) {
      errors.Add(f + ".sku", "required, 1..128 characters");
    } else {
      errors.RequireMaxLength(f + ".sku", l.sku(), 128);
    }
    errors.RequireMaxLength(f + ".category", l.category(), 128);
    errors.RequireRange(f + ".quantity", l.quantity(), 1, 10000);
    if (!CheckAmount(errors, f + ".unit_price", price, req->currency_code())) ++mismatches;
  }
  if (!CheckAmount(errors, "shipping", req->shipping(), req->currency_code())) ++mismatches;
  if (req->voucher_codes_size() > 20) errors.Add("voucher_codes", "at most 20");
  for (int i = 0; i < req->voucher_codes_size() && i < 20; ++i) {
    errors.RequireMaxLength(absl::StrCat("voucher_codes[", i, "]"), req->voucher_codes(i), 64);
  }
  if (!pv1::QuoteView_IsValid(req->view())) errors.Add("view", "unknown view");
  if (!req->language_code().empty() && !IsLocaleTag(req->language_code())) {
    errors.Add("language_code", "not a BCP 47 tag of at most 35 characters");
  }
  return FieldStatus(errors, mismatches);
}

grpc::ServerUnaryReactor* PromotionGrpc::Quote(ServerContext* ctx, const pv1::QuoteRequest* req,
                                               pv1::QuoteResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    if (absl::Status bad = CheckQuoteRequest(req); !bad.ok()) return bad;
    // Sums over the lines and shipping are bounded by the domain
    // (CheckCartBounds: "lines[i]", "lines", "shipping").
    return promotion_.Quote(CartOf(*req), resp, CallerWaits(ctx));
  });
}

grpc::ServerUnaryReactor* PromotionGrpc::RedeemQuote(ServerContext* ctx, const pv1::RedeemQuoteRequest* req,
                                                     pv1::Redemption* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("order_id", req->order_id());
    errors.RequireNonEmpty("quote_token", req->quote_token());
    if (!errors.empty()) return errors.ToStatus();
    return Respond(promotion_.Redeem(req->order_id(), req->quote_token()), resp);
  });
}

grpc::ServerUnaryReactor* PromotionGrpc::CancelRedemption(ServerContext* ctx, const pv1::CancelRedemptionRequest* req,
                                                          pv1::Redemption* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("order_id", req->order_id());
    errors.RequireMaxLength("reason", req->reason(), 500);
    if (!errors.empty()) return errors.ToStatus();
    return Respond(promotion_.CancelRedemption(req->order_id(), req->reason()), resp);
  });
}

grpc::ServerUnaryReactor* PromotionGrpc::ReturnRedemption(ServerContext* ctx, const pv1::ReturnRedemptionRequest* req,
                                                          pv1::ReturnRedemptionResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("order_id", req->order_id());
    if (req->return_id().empty()) errors.Add("return_id", "required, 1..128 characters");
    errors.RequireMaxLength("return_id", req->return_id(), 128);
    for (int i = 0; i < req->lines_size(); ++i) {
      if (req->lines(i).line_id().empty()) errors.Add(absl::StrCat("lines[", i, "].line_id"), "required");
      if (req->lines(i).quantity() < 1) errors.Add(absl::StrCat("lines[", i, "].quantity"), "must be >= 1");
    }
    errors.RequireMaxLength("reason", req->reason(), 500);
    if (!errors.empty()) return errors.ToStatus();
    return Respond(promotion_.Return(ReturnOf(*req)), resp);
  });
}

grpc::ServerUnaryReactor* PromotionGrpc::GetRedemption(ServerContext* ctx, const pv1::GetRedemptionRequest* req,
                                                       pv1::Redemption* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    // Among peers only loyalty reads redemptions (a purchase's campaign bonus).
    if (absl::Status s = AuthorizePeer(*caller.principal, {"svc:loyalty"}, "GetRedemption"); !s.ok()) return s;
    FieldErrors errors;
    errors.RequireId("order_id", req->order_id());
    if (!errors.empty()) return errors.ToStatus();
    return Respond(promotion_.GetRedemption(req->order_id()), resp);
  });
}

}  // namespace care::promotion
