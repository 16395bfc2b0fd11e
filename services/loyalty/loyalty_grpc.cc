#include "services/loyalty/loyalty_grpc.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "common/audit.h"
#include "common/auth.h"
#include "common/bounds.h"
#include "common/errors.h"
#include "common/filter_limits.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pagination.h"
#include "common/privacy.h"
#include "common/proto_time.h"
#include "common/server_stream.h"
#include "services/loyalty/loyalty_proto.h"
#include "services/loyalty/prometheus.h"
#include "services/loyalty/request_checks.h"

namespace care::loyalty {
namespace {

constexpr int kExportBatch = 500;

Actor ActorOf(const Caller& caller, const std::string& request_id) { return Actor{caller.principal->name, request_id}; }

PurchaseCommand PurchaseCommandOf(const v1::RecordPurchaseRequest& req, std::optional<absl::Time> purchase_time) {
  PurchaseCommand cmd;
  cmd.member_id = req.member_id();
  cmd.order_id = req.order_id();
  cmd.amount = req.amount().amount_minor();
  cmd.currency = req.amount().currency_code();
  cmd.purchase_time = purchase_time;
  for (const auto& l : req.lines()) {
    cmd.lines.push_back(PurchaseLine{l.line_id(), l.sku(), l.category(), l.quantity(), l.amount().amount_minor()});
  }
  cmd.no_points = req.no_points();
  cmd.campaign_ids.assign(req.campaign_ids().begin(), req.campaign_ids().end());
  cmd.store_id = req.store_id();
  cmd.promotion_redemption_id = req.promotion_redemption_id();
  return cmd;
}

ReturnCommand ReturnCommandOf(const v1::RecordReturnRequest& req, std::optional<absl::Time> return_time) {
  ReturnCommand cmd;
  cmd.return_id = req.return_id();
  cmd.order_id = req.order_id();
  cmd.member_id = req.member_id();
  cmd.kind = req.kind() == v1::RETURN_KIND_FULL ? ReturnKind::kFull : ReturnKind::kPartial;
  if (req.has_returned_amount()) {
    cmd.returned_amount = req.returned_amount().amount_minor();
    cmd.currency = req.returned_amount().currency_code();
  }
  cmd.return_time = return_time;
  cmd.reason = req.reason();
  return cmd;
}

// A natural key names the order (or return) whoever reports it: every field
// but request_id must match for a retry.
template <typename Request>
Request WithoutRequestId(const Request& req) {
  Request fingerprint = req;
  fingerprint.clear_request_id();
  return fingerprint;
}

// ExportMembers' filters (the program is the domain's to require).
absl::StatusOr<MemberFilter> ExportFilter(const v1::ExportMembersRequest& req) {
  if (absl::Status s = CheckFilterValues({{"tier_ids", req.tier_ids_size()}, {"segments", req.segments_size()}});
      !s.ok()) {
    return s;
  }
  FieldErrors errors;
  MemberFilter filter;
  ValidateMemberFilter(errors, req.tier_ids(), req.segments(), &filter);
  if (req.has_marketing_consent_channel()) {
    if (!care::common::v1::MessageChannel_IsValid(req.marketing_consent_channel())) {
      errors.Add("marketing_consent_channel", "unknown channel");
    }
    filter.consent_channel = req.marketing_consent_channel();
  }
  if (!req.after_member_id().empty()) errors.RequireId("after_member_id", req.after_member_id());
  if (!errors.empty()) return errors.ToStatus();
  return filter;
}

}  // namespace

LoyaltyGrpc::LoyaltyGrpc(RpcRuntime& rpc, LoyaltyService& loyalty, const SubjectDigests& digests)
    : rpc_(rpc), loyalty_(loyalty), digests_(digests) {}

// ------------------------------------------------------------------ program

grpc::ServerUnaryReactor* LoyaltyGrpc::GetProgram(ServerContext* ctx, const v1::GetProgramRequest* req,
                                                  v1::Program* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    if (req->version() < 0) errors.Add("version", "must be >= 0");
    if (req->version() > 0 && req->has_as_of_time()) errors.Add("as_of_time", "not with version");
    auto as_of = BusinessTime(errors, "as_of_time", req->has_as_of_time(), req->as_of_time());
    if (!errors.empty()) return errors.ToStatus();
    return Respond(loyalty_.GetProgram(req->version(), as_of), resp);
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::UpdateProgram(ServerContext* ctx, const v1::UpdateProgramRequest* req,
                                                     v1::Program* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    if (!req->has_program()) errors.Add("program", "required");
    errors.RequireMaxLength("change_note", req->change_note(), 500);
    bool replace_all = CheckProgramMask(errors, *req);
    if (!errors.empty()) return errors.ToStatus();
    ProgramUpdate update{req->program(), req->update_mask(), replace_all, req->change_note()};
    return Respond(loyalty_.UpdateProgram(AuditedOnce(caller, "UpdateProgram", req->request_id(), *req,
                                                      AuditOf(caller, "program")),
                                          update, ActorOf(caller, req->request_id())),
                   resp);
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::ListProgramVersions(ServerContext* ctx,
                                                           const v1::ListProgramVersionsRequest* req,
                                                           v1::ListProgramVersionsResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    auto page = ReadPageRequest(*req, req->page_size(), req->page_token());
    if (!page.ok()) return page.status();
    auto programs = loyalty_.ListPrograms(page->cursor, page->size + 1);
    if (!programs.ok()) return programs.status();
    resp->set_next_page_token(TrimPage(*programs, page->size, *req, [](const v1::Program& p) { return p.version(); }));
    for (v1::Program& p : *programs) *resp->add_programs() = std::move(p);
    return absl::OkStatus();
  });
}

// ------------------------------------------------------------------ members

grpc::ServerUnaryReactor* LoyaltyGrpc::EnrolMember(ServerContext* ctx, const v1::EnrolMemberRequest* req,
                                                   v1::Member* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    if (!req->has_member()) {
      errors.Add("member", "required");
    } else {
      OptionalId(errors, "member.member_id", req->member().member_id());
      ValidateProfile(errors, req->member(), nullptr, loyalty_.Now());
    }
    if (!errors.empty()) return errors.ToStatus();
    return Respond(loyalty_.Enrol(AuditedOnce(caller, "EnrolMember", req->request_id(), *req,
                                              AuditOf(caller, MemberSubject(req->member().member_id()))),
                                  req->member().member_id(), ProfileFromProto(req->member())),
                   resp);
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::GetMember(ServerContext* ctx, const v1::GetMemberRequest* req,
                                                 v1::Member* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("member_id", req->member_id());
    if (!errors.empty()) return errors.ToStatus();
    return Respond(loyalty_.GetMember(req->member_id()), resp);
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::UpdateMember(ServerContext* ctx, const v1::UpdateMemberRequest* req,
                                                    v1::Member* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireId("member.member_id", req->member().member_id());
    if (req->member().version() < 0) errors.Add("member.version", "must be >= 0");
    if (!errors.empty()) return errors.ToStatus();
    auto paths = MemberMaskPaths(req->update_mask());
    if (!paths.ok()) return paths.status();
    ValidateProfile(errors, req->member(), &*paths, loyalty_.Now());
    if (!errors.empty()) return errors.ToStatus();
    return Respond(loyalty_.UpdateMember(AuditedOnce(caller, "UpdateMember", req->request_id(), *req,
                                                     AuditOf(caller, MemberSubject(req->member().member_id()))),
                                         req->member().member_id(), ProfileFromProto(req->member()), *paths,
                                         req->member().version()),
                   resp);
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::ListMembers(ServerContext* ctx, const v1::ListMembersRequest* req,
                                                   v1::ListMembersResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    if (absl::Status s = CheckFilterValues({{"tier_ids", req->tier_ids_size()}, {"segments", req->segments_size()}});
        !s.ok()) {
      return s;
    }
    FieldErrors errors;
    PageSize(req->page_size(), errors);
    MemberFilter filter;
    ValidateMemberFilter(errors, req->tier_ids(), req->segments(), &filter);
    if (!req->email().empty() && !IsEmail(req->email())) errors.Add("email", "must be an e-mail address");
    if (!req->phone().empty() && !IsE164(req->phone())) errors.Add("phone", "must be an E.164 number");
    if (!errors.empty()) return errors.ToStatus();
    filter.email = req->email();
    filter.phone = req->phone();
    auto page = ReadPageCursor(*req, req->page_size(), req->page_token());
    if (!page.ok()) return page.status();
    auto members = loyalty_.ListMembers(filter, page->cursor, page->size + 1);
    if (!members.ok()) return members.status();
    resp->set_next_page_token(TrimPage(*members, page->size, *req, [](const v1::Member& m) { return m.member_id(); }));
    for (v1::Member& m : *members) *resp->add_members() = std::move(m);
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<v1::Member>* LoyaltyGrpc::ExportMembers(ServerContext* ctx,
                                                                 const v1::ExportMembersRequest* req) {
  using Writer = BatchedWriter<v1::Member>;
  // Exports carry every member's personal data, so each one is audited when
  // the stream ends, however it ends (the writer drops `fetch` with it): a
  // log line with who, the filters and how many members, and two counters.
  struct ExportAudit {
    std::string principal;
    std::string filters;
    int64_t rows = 0;
    ~ExportAudit() {
      if (principal.empty()) return;  // refused before the first batch
      // Warn level: an audit line must survive --log_level=warn.
      LogWarn("member export", {{"principal", principal}, {"filters", filters}, {"rows", rows}});
      MemberExportsMetric().Inc({principal});
      MembersExportedMetric().Inc({principal}, static_cast<double>(rows));
    }
  };
  auto audit = std::make_shared<ExportAudit>();
  // Keyset paging: each batch starts after the last member sent, so a
  // member is sent once and memory holds one batch, however many match.
  auto fetch = [this, req, audit, cursor = req->after_member_id(),
                filter = std::optional<MemberFilter>()](const Caller& caller) mutable -> absl::StatusOr<Writer::Batch> {
    // Among peers only notification exports (campaign audiences); a refused
    // caller is not counted as an export.
    if (absl::Status s = AuthorizePeer(*caller.principal, {"svc:notification"}, "ExportMembers"); !s.ok()) return s;
    if (audit->principal.empty()) {
      // In the audit log before the first member leaves: no export
      // without its entry (its filters name tiers and segments, nobody).
      AuditRecord entry = AuditOf(caller, "members");
      entry.detail = req->ShortDebugString().substr(0, 200);
      if (absl::Status s = loyalty_.AuditRead(entry); !s.ok()) return s;
      audit->principal = caller.principal->name;
      audit->filters = req->ShortDebugString();
    }
    if (!filter) {
      auto checked = ExportFilter(*req);
      if (!checked.ok()) return checked.status();
      filter = std::move(*checked);
    }
    auto members = loyalty_.ListMembers(*filter, cursor, kExportBatch);
    if (!members.ok()) return members.status();
    Writer::Batch batch;
    audit->rows += static_cast<int64_t>(members->size());
    batch.last = static_cast<int>(members->size()) < kExportBatch;
    if (!members->empty()) cursor = members->back().member_id();
    batch.items = std::move(*members);
    return batch;
  };
  return new Writer(rpc_, ctx, *req, std::move(fetch));
}

// -------------------------------------------------------- points and tiers

grpc::ServerUnaryReactor* LoyaltyGrpc::RecordPurchase(ServerContext* ctx, const v1::RecordPurchaseRequest* req,
                                                      v1::RecordPurchaseResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    auto purchase_time = CheckPurchase(errors, req);
    if (!errors.empty()) return errors.ToStatus();
    return Respond(loyalty_.RecordPurchase(SharedOnce("RecordPurchase", req->order_id(), WithoutRequestId(*req)),
                                           PurchaseCommandOf(*req, purchase_time), ActorOf(caller, req->request_id())),
                   resp);
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::RecordReturn(ServerContext* ctx, const v1::RecordReturnRequest* req,
                                                    v1::RecordReturnResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    auto return_time = CheckReturn(errors, *req);
    if (!errors.empty()) return errors.ToStatus();
    return Respond(loyalty_.RecordReturn(SharedOnce("RecordReturn", req->return_id(), WithoutRequestId(*req)),
                                         ReturnCommandOf(*req, return_time), ActorOf(caller, req->request_id())),
                   resp);
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::RedeemPoints(ServerContext* ctx, const v1::RedeemPointsRequest* req,
                                                    v1::RedeemPointsResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireId("member_id", req->member_id());
    errors.RequireRange("points", req->points(), 1, kMaxPointsPerEntry);
    OptionalId(errors, "order_id", req->order_id());
    errors.RequireMaxLength("description", req->description(), 200);
    if (!errors.empty()) return errors.ToStatus();
    RedeemCommand cmd{req->member_id(), req->points(), req->order_id(), req->description()};
    return Respond(loyalty_.Redeem(OnceFor(caller, "RedeemPoints", req->request_id(), *req), cmd,
                                   ActorOf(caller, req->request_id())),
                   resp);
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::AdjustPoints(ServerContext* ctx, const v1::AdjustPointsRequest* req,
                                                    v1::AdjustPointsResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    // Among peers only complaint adjusts points (goodwill); humans keep theirs.
    if (absl::Status s = AuthorizePeer(*caller.principal, {"svc:complaint"}, "AdjustPoints"); !s.ok()) return s;
    FieldErrors errors;
    CheckAdjust(errors, *req);
    if (!errors.empty()) return errors.ToStatus();
    AdjustCommand cmd{req->member_id(), req->points_delta(), req->reason_code(), req->complaint_id(), req->note()};
    return Respond(loyalty_.Adjust(OnceFor(caller, "AdjustPoints", req->request_id(), *req), cmd,
                                   ActorOf(caller, req->request_id())),
                   resp);
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::ListLedgerEntries(ServerContext* ctx, const v1::ListLedgerEntriesRequest* req,
                                                         v1::ListLedgerEntriesResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    if (absl::Status s = CheckFilterValues("kinds", req->kinds_size()); !s.ok()) return s;
    FieldErrors errors;
    PageSize(req->page_size(), errors);
    EntryFilter filter = LedgerFilter(errors, *req);
    if (!errors.empty()) return errors.ToStatus();
    auto page = ReadPageRequest(*req, req->page_size(), req->page_token());
    if (!page.ok()) return page.status();
    auto entries = loyalty_.ListEntries(filter, page->cursor, page->size + 1);
    if (!entries.ok()) return entries.status();
    resp->set_next_page_token(TrimPage(*entries, page->size, *req,
                                       [](const v1::LedgerEntry& e) { return e.sequence(); }));
    for (v1::LedgerEntry& e : *entries) *resp->add_entries() = std::move(e);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::GetBalance(ServerContext* ctx, const v1::GetBalanceRequest* req,
                                                  v1::PointsBalance* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("member_id", req->member_id());
    std::optional<absl::Duration> horizon;
    if (req->has_expiring_within()) {
      horizon = FromDurationProto(req->expiring_within());
      if (*horizon < absl::ZeroDuration() || *horizon > absl::Hours(24 * 366)) {
        errors.Add("expiring_within", "must be between 0 and 366 days");
      }
    }
    if (!errors.empty()) return errors.ToStatus();
    return Respond(loyalty_.GetBalance(req->member_id(), horizon), resp);
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::GetTier(ServerContext* ctx, const v1::GetTierRequest* req,
                                               v1::TierSnapshot* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("member_id", req->member_id());
    if (!errors.empty()) return errors.ToStatus();
    return Respond(loyalty_.GetTier(req->member_id()), resp);
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::ProjectTier(ServerContext* ctx, const v1::ProjectTierRequest* req,
                                                   v1::ProjectTierResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("member_id", req->member_id());
    if (!req->target_tier_id().empty() && !IsSlug(req->target_tier_id())) {
      errors.Add("target_tier_id", "must match [a-z0-9_-]{1,32}");
    }
    auto by_time = BusinessTime(errors, "by_time", req->has_by_time(), req->by_time());
    if (by_time && *by_time < loyalty_.Now()) errors.Add("by_time", "must not be in the past");
    if (!errors.empty()) return errors.ToStatus();
    return Respond(loyalty_.ProjectTier(req->member_id(), req->target_tier_id(), by_time), resp);
  });
}

// ------------------------------------------------------------ personal data

grpc::ServerWriteReactor<v1::LoyaltyPersonalData>* LoyaltyGrpc::ExportPersonalData(
    ServerContext* ctx, const care::common::v1::ExportPersonalDataRequest* req) {
  using Writer = BatchedWriter<v1::LoyaltyPersonalData>;
  auto audit = std::make_shared<PersonalDataExportAudit>(digests_);
  auto fetch = [this, req, audit, cursor = LoyaltyService::ExportCursor()](
                   const Caller& caller) mutable -> absl::StatusOr<Writer::Batch> {
    auto write = [this](const AuditRecord& r) { return loyalty_.AuditRead(r); };
    if (absl::Status s = audit->Start(caller, *req, write); !s.ok()) return s;
    auto items = loyalty_.ExportPersonalData(req->subject(), cursor, kExportBatch);
    if (!items.ok()) return items.status();
    Writer::Batch batch;
    audit->Count(items->size());
    batch.items = std::move(*items);
    batch.last = cursor.done();
    return batch;
  };
  return new Writer(rpc_, ctx, *req, std::move(fetch));
}

grpc::ServerUnaryReactor* LoyaltyGrpc::ErasePerson(ServerContext* ctx, const v1::ErasePersonRequest* req,
                                                   v1::Erasure* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    CheckSubject(errors, "subject", req->subject());
    // Contacts are erased by complaint, found by the address named here.
    if (!req->subject().contact_ids().empty()) errors.Add("subject.contact_ids", "name the person by address instead");
    if (errors.RequireNonEmpty("reason", req->reason())) errors.RequireMaxLength("reason", req->reason(), 500);
    if (!errors.empty()) return errors.ToStatus();
    // The stored answer (an Erasure) names no one: it is not tagged.
    return Respond(loyalty_.ErasePerson(OnceFor(caller, "ErasePerson", req->request_id(), *req), req->subject(),
                                        req->reason(), ActorOf(caller, req->request_id())),
                   resp);
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::GetErasure(ServerContext* ctx, const v1::GetErasureRequest* req,
                                                  v1::Erasure* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("erasure_id", req->erasure_id());
    if (!errors.empty()) return errors.ToStatus();
    return Respond(loyalty_.GetErasure(req->erasure_id()), resp);
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::GetLoyaltyAnalytics(ServerContext* ctx,
                                                           const v1::GetLoyaltyAnalyticsRequest* req,
                                                           v1::LoyaltyAnalytics* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    AnalyticsQuery query = CheckAnalytics(errors, *req);
    if (!errors.empty()) return errors.ToStatus();
    return Respond(loyalty_.GetLoyaltyAnalytics(query), resp);
  });
}

}  // namespace care::loyalty
