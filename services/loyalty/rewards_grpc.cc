// The rewards catalogue's RPCs (issue 22): each request's shape is checked
// here (INVALID_ARGUMENT naming the fields, every bound in loyalty.proto),
// the rest is the domain's (rewards.cc).

#include <set>

#include "absl/strings/str_cat.h"
#include "common/bounds.h"
#include "common/errors.h"
#include "common/localized.h"
#include "common/pagination.h"
#include "common/privacy.h"
#include "common/proto_time.h"
#include "services/loyalty/loyalty_grpc.h"
#include "services/loyalty/request_checks.h"
#include "services/loyalty/rewards.h"

namespace care::loyalty {
namespace {

constexpr size_t kMaxRewardName = 200;
constexpr size_t kMaxRewardDescription = 1000;
constexpr size_t kMaxSku = 64;
constexpr int kMaxRewardTiers = 32;
constexpr int64_t kMaxRewardStock = 1'000'000;

const std::set<std::string>& UpdatableRewardFields() {
  static const auto* fields = new std::set<std::string>{"display_name", "localized_display_names",
                                                        "description",  "points_price",
                                                        "tier_ids",     "stock",
                                                        "start_time",   "end_time"};
  return *fields;
}

// Checks the fields of `r` in `paths` (null: every field, as on create).
void ValidateReward(FieldErrors& errors, const v1::Reward& r, const std::set<std::string>* paths) {
  auto checked = [&](const char* field) { return paths == nullptr || paths->count(field) > 0; };
  if (checked("display_name") && errors.RequireNonEmpty("reward.display_name", r.display_name())) {
    errors.RequireMaxLength("reward.display_name", r.display_name(), kMaxRewardName);
  }
  if (checked("localized_display_names")) {
    ValidateLocalizedTexts(errors, "reward.localized_display_names", r.localized_display_names(), kMaxRewardName);
  }
  if (checked("description")) errors.RequireMaxLength("reward.description", r.description(), kMaxRewardDescription);
  if (checked("points_price")) errors.RequireRange("reward.points_price", r.points_price(), 1, kMaxPointsPerEntry);
  if (checked("tier_ids")) {
    if (r.tier_ids_size() > kMaxRewardTiers) errors.Add("reward.tier_ids", "at most 32 tiers");
    for (int i = 0; i < r.tier_ids_size() && i < kMaxRewardTiers; ++i) {
      if (!IsSlug(r.tier_ids(i))) errors.Add(absl::StrCat("reward.tier_ids[", i, "]"), "must match [a-z0-9_-]{1,32}");
    }
  }
  if (checked("stock") && r.has_stock()) errors.RequireRange("reward.stock", r.stock(), 0, kMaxRewardStock);
  if (checked("start_time")) CheckOptionalTimestamp(errors, "reward.start_time", r.has_start_time(), r.start_time());
  if (checked("end_time")) CheckOptionalTimestamp(errors, "reward.end_time", r.has_end_time(), r.end_time());
  if (checked("start_time") && checked("end_time") && r.has_start_time() && r.has_end_time() &&
      FromTimestamp(r.end_time()) <= FromTimestamp(r.start_time())) {
    errors.Add("reward.end_time", "must be after start_time");
  }
  if (paths != nullptr) return;  // the kind is set once, on create
  switch (r.kind_case()) {
    case v1::Reward::kPromotionVoucher:
      errors.RequireId("reward.promotion_voucher.campaign_id", r.promotion_voucher().campaign_id());
      break;
    case v1::Reward::kFreeItem:
      if (errors.RequireNonEmpty("reward.free_item.sku", r.free_item().sku())) {
        errors.RequireMaxLength("reward.free_item.sku", r.free_item().sku(), kMaxSku);
      }
      break;
    case v1::Reward::kDonation:
      if (errors.RequireNonEmpty("reward.donation.charity_name", r.donation().charity_name())) {
        errors.RequireMaxLength("reward.donation.charity_name", r.donation().charity_name(), kMaxRewardName);
      }
      break;
    default:
      errors.Add("reward.kind", "one of promotion_voucher, free_item or donation is required");
  }
}

absl::StatusOr<std::set<std::string>> RewardMaskPaths(const google::protobuf::FieldMask& mask) {
  FieldErrors errors;
  std::set<std::string> paths;
  if (mask.paths().empty()) errors.Add("update_mask", "required: the fields to update");
  for (const std::string& p : mask.paths()) {
    if (UpdatableRewardFields().count(p) == 0) {
      errors.Add("update_mask", absl::StrCat(EchoValue(p), " cannot be updated"));
    } else {
      paths.insert(p);
    }
  }
  if (!errors.empty()) return errors.ToStatus();
  return paths;
}

}  // namespace

grpc::ServerUnaryReactor* LoyaltyGrpc::CreateReward(ServerContext* ctx, const v1::CreateRewardRequest* req,
                                                    v1::Reward* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireId("reward.reward_id", req->reward().reward_id());
    ValidateReward(errors, req->reward(), nullptr);
    if (!errors.empty()) return errors.ToStatus();
    return Respond(loyalty_.CreateReward(AuditedOnce(caller, "CreateReward", req->request_id(), *req,
                                                     AuditOf(caller, "reward:" + req->reward().reward_id())),
                                         req->reward()),
                   resp);
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::GetReward(ServerContext* ctx, const v1::GetRewardRequest* req,
                                                 v1::Reward* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("reward_id", req->reward_id());
    if (!errors.empty()) return errors.ToStatus();
    return Respond(loyalty_.GetReward(req->reward_id()), resp);
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::ListRewards(ServerContext* ctx, const v1::ListRewardsRequest* req,
                                                   v1::ListRewardsResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    auto page = ReadPageCursor(*req, req->page_size(), req->page_token());
    if (!page.ok()) return page.status();
    auto rewards = loyalty_.ListRewards(req->show_archived(), page->cursor, page->size + 1);
    if (!rewards.ok()) return rewards.status();
    resp->set_next_page_token(TrimPage(*rewards, page->size, *req, [](const v1::Reward& r) { return r.reward_id(); }));
    for (v1::Reward& r : *rewards) *resp->add_rewards() = std::move(r);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::UpdateReward(ServerContext* ctx, const v1::UpdateRewardRequest* req,
                                                    v1::Reward* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireId("reward.reward_id", req->reward().reward_id());
    if (req->reward().version() < 0) errors.Add("reward.version", "must be >= 0");
    if (!errors.empty()) return errors.ToStatus();
    auto paths = RewardMaskPaths(req->update_mask());
    if (!paths.ok()) return paths.status();
    ValidateReward(errors, req->reward(), &*paths);
    if (!errors.empty()) return errors.ToStatus();
    return Respond(loyalty_.UpdateReward(AuditedOnce(caller, "UpdateReward", req->request_id(), *req,
                                                     AuditOf(caller, "reward:" + req->reward().reward_id())),
                                         req->reward(), *paths),
                   resp);
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::ArchiveReward(ServerContext* ctx, const v1::ArchiveRewardRequest* req,
                                                     v1::Reward* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireId("reward_id", req->reward_id());
    if (!errors.empty()) return errors.ToStatus();
    return Respond(loyalty_.ArchiveReward(AuditedOnce(caller, "ArchiveReward", req->request_id(), *req,
                                                      AuditOf(caller, "reward:" + req->reward_id())),
                                          req->reward_id()),
                   resp);
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::RedeemReward(ServerContext* ctx, const v1::RedeemRewardRequest* req,
                                                    v1::RewardRedemption* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller& caller) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("request_id", req->request_id());
    errors.RequireId("member_id", req->member_id());
    errors.RequireId("reward_id", req->reward_id());
    if (!errors.empty()) return errors.ToStatus();
    return Respond(loyalty_.RedeemReward(OnceFor(caller, "RedeemReward", req->request_id(), *req), req->member_id(),
                                         req->reward_id(), Actor{caller.principal->name, req->request_id()}),
                   resp);
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::GetRewardRedemption(ServerContext* ctx,
                                                           const v1::GetRewardRedemptionRequest* req,
                                                           v1::RewardRedemption* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("redemption_id", req->redemption_id());
    if (!errors.empty()) return errors.ToStatus();
    return Respond(loyalty_.GetRedemption(req->redemption_id()), resp);
  });
}

grpc::ServerUnaryReactor* LoyaltyGrpc::ListRewardRedemptions(ServerContext* ctx,
                                                             const v1::ListRewardRedemptionsRequest* req,
                                                             v1::ListRewardRedemptionsResponse* resp) {
  return rpc_.Unary(ctx, *req, [=, this](const Caller&) -> absl::Status {
    FieldErrors errors;
    errors.RequireId("member_id", req->member_id());
    if (!errors.empty()) return errors.ToStatus();
    auto page = ReadPageRequest(*req, req->page_size(), req->page_token());
    if (!page.ok()) return page.status();
    auto list = loyalty_.ListRedemptions(req->member_id(), page->cursor, page->size + 1);
    if (!list.ok()) return list.status();
    resp->set_next_page_token(TrimPage(*list, page->size, *req, RedemptionSequence));
    for (v1::RewardRedemption& r : *list) *resp->add_redemptions() = std::move(r);
    return absl::OkStatus();
  });
}

}  // namespace care::loyalty
