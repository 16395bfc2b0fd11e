// The gRPC side of vouchers: request checks (INVALID_ARGUMENT naming the
// field), then PromotionService.
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/auth.h"
#include "common/errors.h"
#include "common/filter_limits.h"
#include "common/localized.h"
#include "common/pagination.h"
#include "common/proto_time.h"
#include "services/promotion/promotion_grpc.h"

namespace care::promotion {
namespace {

namespace pv1 = ::care::promotion::v1;

bool Charset(const std::string& s) {
  if (s.size() < 2 || s.size() > 36) return false;
  std::string seen;
  for (char c : s) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) || seen.find(c) != std::string::npos) return false;
    seen.push_back(c);
  }
  return true;
}

bool Prefix(const std::string& s) {
  if (s.size() > 20) return false;
  for (char c : s) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

// No code is longer (prefix 20 + 32 drawn characters); longer input is
// refused before any lookup.
constexpr size_t kMaxCodeLength = 64;

// A goodwill reason code: [A-Z0-9_]{1,64} (e.g. "LATE_DELIVERY").
bool ReasonCode(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// The wire requests as the domain's values.
VoucherBatch BatchOf(const pv1::GenerateVouchersRequest& req) {
  VoucherBatch b;
  b.campaign_id = req.campaign_id();
  b.count = req.count();
  b.member_ids.assign(req.member_ids().begin(), req.member_ids().end());
  b.prefix = req.pattern().prefix();
  b.charset = req.pattern().charset();
  b.length = req.pattern().length();
  b.max_uses = req.max_uses();
  if (req.has_expire_time()) b.expire_time = FromTimestamp(req.expire_time());
  return b;
}

GoodwillGrant GrantOf(const pv1::IssueVoucherRequest& req) {
  GoodwillGrant g;
  g.member_id = req.member_id();
  if (req.has_value()) {
    *g.value.mutable_amount_off() = req.value();
  } else if (req.benefit_case() == pv1::IssueVoucherRequest::kCampaignId) {
    g.campaign_id = req.campaign_id();
  } else {
    g.value.set_percent_off_bps(req.percent_off_bps());
  }
  if (req.has_validity()) g.validity = FromDurationProto(req.validity());
  g.reason_code = req.reason_code();
  g.complaint_id = req.complaint_id();
  g.note = req.note();
  g.issued_by = req.issued_by();
  return g;
}

VoucherQuery VoucherQueryOf(const pv1::ListVouchersRequest& req) {
  VoucherQuery q;
  q.stored = {req.campaign_id(), req.batch_id(), req.member_id(), req.kind()};
  q.complaint_id = req.complaint_id();
  for (int state : req.states()) q.states.push_back(static_cast<pv1::VoucherState>(state));
  return q;
}

}  // namespace

using Reactor = PromotionGrpc::Reactor;

Reactor* PromotionGrpc::GenerateVouchers(ServerContext* ctx, const pv1::GenerateVouchersRequest* req,
                                         pv1::GenerateVouchersResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireId("campaign_id", req->campaign_id());
    if (req->member_ids().empty()) {
      errors.RequireRange("count", req->count(), 1, 10000);
    } else {
      if (req->count() != 0) errors.Add("count", "must be 0 when member_ids is set");
      if (req->member_ids_size() > 10000) errors.Add("member_ids", "at most 10000");
      for (const std::string& m : req->member_ids()) {
        if (!errors.RequireId("member_ids", m)) break;
      }
    }
    const auto& p = req->pattern();
    if (!Prefix(p.prefix())) errors.Add("pattern.prefix", "[A-Z0-9-]{0,20}");
    if (!p.charset().empty() && !Charset(p.charset()))
      errors.Add("pattern.charset", "2..36 distinct characters of [A-Z0-9]");
    if (p.length() != 0) errors.RequireRange("pattern.length", p.length(), 6, 32);
    if (req->max_uses() < 0) errors.Add("max_uses", "must be >= 1 (0 = 1)");
    CheckOptionalTimestamp(errors, "expire_time", req->has_expire_time(), req->expire_time());
    if (!errors.empty()) return errors.ToStatus();
    return Respond(promotion_.GenerateVouchers(OnceFor(caller, "GenerateVouchers", req->request_id(), *req),
                                               BatchOf(*req), caller.principal->name),
                   resp);
  });
}

Reactor* PromotionGrpc::GetVoucher(ServerContext* ctx, const pv1::GetVoucherRequest* req, pv1::Voucher* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    if (req->code().empty()) return InvalidField("code", "is required");
    if (FieldErrors e; !e.RequireMaxLength("code", req->code(), kMaxCodeLength)) return e.ToStatus();
    return Respond(promotion_.GetVoucher(req->code()), resp);
  });
}

Reactor* PromotionGrpc::ValidateVoucher(ServerContext* ctx, const pv1::ValidateVoucherRequest* req,
                                        pv1::ValidateVoucherResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    if (req->code().empty()) return InvalidField("code", "is required");
    if (FieldErrors e; !e.RequireMaxLength("code", req->code(), kMaxCodeLength)) return e.ToStatus();
    if (!req->language_code().empty() && !IsLocaleTag(req->language_code())) {
      return InvalidField("language_code", "not a BCP 47 tag of at most 35 characters");
    }
    return Respond(promotion_.ValidateVoucher(req->code(), req->customer().member_id(), req->language_code()), resp);
  });
}

Reactor* PromotionGrpc::IssueVoucher(ServerContext* ctx, const pv1::IssueVoucherRequest* req, pv1::Voucher* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    // Among peers complaint issues goodwill (an amount or a percentage) and
    // loyalty campaign vouchers bought with points, each only its own kind;
    // humans keep theirs.
    const bool reward = req->benefit_case() == pv1::IssueVoucherRequest::kCampaignId;
    if (absl::Status s = AuthorizePeer(*caller.principal, {reward ? "svc:loyalty" : "svc:complaint"}, "IssueVoucher");
        !s.ok()) {
      return s;
    }
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireId("member_id", req->member_id());
    switch (req->benefit_case()) {
      case pv1::IssueVoucherRequest::kValue:
        if (req->value().amount_minor() <= 0) errors.Add("value.amount_minor", "must be > 0");
        errors.RequireMoney("value.amount_minor", req->value().amount_minor());
        errors.RequireCurrency("value.currency_code", req->value().currency_code());
        break;
      case pv1::IssueVoucherRequest::kPercentOffBps:
        errors.RequireRange("percent_off_bps", req->percent_off_bps(), 1, 10000);
        break;
      case pv1::IssueVoucherRequest::kCampaignId:
        errors.RequireId("campaign_id", req->campaign_id());
        break;
      default:
        errors.Add("value", "value, percent_off_bps or campaign_id is required");
    }
    if (req->has_validity()) {
      absl::Duration validity = FromDurationProto(req->validity());
      if (validity <= absl::ZeroDuration() || validity > absl::Hours(24 * 366)) {
        errors.Add("validity", "must be more than 0 and at most 366 days");
      }
    }
    if (!ReasonCode(req->reason_code())) errors.Add("reason_code", "required, 1..64 characters of [A-Z0-9_]");
    errors.RequireMaxLength("complaint_id", req->complaint_id(), 128);
    errors.RequireMaxLength("issued_by", req->issued_by(), 128);
    errors.RequireMaxLength("note", req->note(), 1000);
    if (!errors.empty()) return errors.ToStatus();
    return Respond(promotion_.IssueVoucher(OnceFor(caller, "IssueVoucher", req->request_id(), *req), GrantOf(*req),
                                           caller.principal->name),
                   resp);
  });
}

Reactor* PromotionGrpc::ListVouchers(ServerContext* ctx, const pv1::ListVouchersRequest* req,
                                     pv1::ListVouchersResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    if (absl::Status s = CheckFilterValues("states", req->states_size()); !s.ok()) return s;
    auto paging = ReadPageRequest(*req, req->page_size(), req->page_token());
    if (!paging.ok()) return paging.status();
    auto page = promotion_.ListVouchers(VoucherQueryOf(*req), paging->cursor, paging->size);
    if (!page.ok()) return page.status();
    for (auto& v : page->first) *resp->add_vouchers() = std::move(v);
    resp->set_next_page_token(NextPageToken(*req, page->second));
    return absl::OkStatus();
  });
}

Reactor* PromotionGrpc::RevokeVoucher(ServerContext* ctx, const pv1::RevokeVoucherRequest* req, pv1::Voucher* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireNonEmpty("code", req->code());
    errors.RequireMaxLength("code", req->code(), kMaxCodeLength);
    errors.RequireMaxLength("reason", req->reason(), 500);
    if (!errors.empty()) return errors.ToStatus();
    return Respond(promotion_.RevokeVoucher(OnceFor(caller, "RevokeVoucher", req->request_id(), *req), req->code(),
                                            req->reason()),
                   resp);
  });
}

}  // namespace care::promotion
