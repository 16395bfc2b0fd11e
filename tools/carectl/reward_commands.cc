// carectl loyalty reward ...: the rewards catalogue (care.loyalty.v1, issue 22).

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "care/loyalty/v1/loyalty.grpc.pb.h"
#include "tools/carectl/commands.h"

namespace carectl {
namespace {

namespace v1 = care::loyalty::v1;

std::unique_ptr<v1::LoyaltyService::Stub> Stub(const Context& c) { return v1::LoyaltyService::NewStub(c.channel()); }

std::string Kind(const v1::Reward& r) {
  switch (r.kind_case()) {
    case v1::Reward::kPromotionVoucher:
      return absl::StrCat("voucher of ", r.promotion_voucher().campaign_id());
    case v1::Reward::kFreeItem:
      return absl::StrCat("item ", r.free_item().sku());
    case v1::Reward::kDonation:
      return absl::StrCat("donation to ", r.donation().charity_name());
    default:
      return "-";
  }
}

void PrintRedemption(const v1::RewardRedemption& r) {
  PrintFields({{"REDEMPTION", r.redemption_id()},
               {"MEMBER", r.member_id()},
               {"REWARD", absl::StrCat(r.reward_display_name(), " (", r.reward_id(), ")")},
               {"POINTS", absl::StrCat(r.points())},
               {"STATE", EnumName(v1::RewardRedemption::State_descriptor(), r.state())},
               {"VOUCHER", r.voucher_code().empty() ? "-" : r.voucher_code()},
               {"REFUND REASON", r.refund_reason().empty() ? "-" : r.refund_reason()},
               {"ENTRY", r.entry_id()}});
}

int List(Context& c, Args& a) {
  v1::ListRewardsRequest req;
  req.set_show_archived(a.BoolFlag("archived"));
  req.set_page_size(static_cast<int32_t>(a.IntFlag("page_size", 50)));
  req.set_page_token(a.Flag("page_token"));
  a.Done();
  v1::ListRewardsResponse resp;
  return c.Finish(Stub(c)->ListRewards(c.NewCall().get(), req, &resp), resp, [&] {
    Table t({"REWARD", "NAME", "POINTS", "KIND", "TIERS", "STOCK", "REDEEMED", "STATE"});
    for (const auto& r : resp.rewards()) {
      t.Row({r.reward_id(), r.display_name(), absl::StrCat(r.points_price()), Kind(r),
             r.tier_ids().empty() ? "any" : absl::StrJoin(r.tier_ids(), ","),
             r.has_stock() ? absl::StrCat(r.stock()) : "unlimited", absl::StrCat(r.redeemed_count()),
             EnumName(v1::RewardState_descriptor(), r.state())});
    }
    t.Print("(no rewards)");
    PrintNextPage(resp.next_page_token());
  });
}

int Create(Context& c, Args& a) {
  v1::CreateRewardRequest req;
  std::string file = a.Flag("file");
  if (file.empty()) throw UsageError("--file is required: the reward as JSON");
  ReadMessageFile(file, req.mutable_reward());
  req.set_request_id(RequestId(a));
  a.Done();
  v1::Reward resp;
  return c.Finish(Stub(c)->CreateReward(c.NewCall().get(), req, &resp), resp, [&] {
    PrintFields({{"REWARD", resp.reward_id()},
                 {"NAME", resp.display_name()},
                 {"POINTS", absl::StrCat(resp.points_price())},
                 {"KIND", Kind(resp)},
                 {"STOCK", resp.has_stock() ? absl::StrCat(resp.stock()) : "unlimited"},
                 {"VERSION", absl::StrCat(resp.version())}});
  });
}

int Redeem(Context& c, Args& a) {
  v1::RedeemRewardRequest req;
  req.set_member_id(a.Positional("member_id"));
  req.set_reward_id(a.Positional("reward_id"));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::RewardRedemption resp;
  return c.Finish(Stub(c)->RedeemReward(c.NewCall().get(), req, &resp), resp, [&] { PrintRedemption(resp); });
}

int Redemptions(Context& c, Args& a) {
  v1::ListRewardRedemptionsRequest req;
  req.set_member_id(a.Positional("member_id"));
  req.set_page_size(static_cast<int32_t>(a.IntFlag("page_size", 50)));
  req.set_page_token(a.Flag("page_token"));
  a.Done();
  v1::ListRewardRedemptionsResponse resp;
  return c.Finish(Stub(c)->ListRewardRedemptions(c.NewCall().get(), req, &resp), resp, [&] {
    Table t({"REDEMPTION", "REWARD", "POINTS", "STATE", "VOUCHER", "CREATED"});
    for (const auto& r : resp.redemptions()) {
      t.Row({r.redemption_id(), r.reward_id(), absl::StrCat(r.points()),
             EnumName(v1::RewardRedemption::State_descriptor(), r.state()),
             r.voucher_code().empty() ? "-" : r.voucher_code(), Time(r.create_time())});
    }
    t.Print("(no redemptions)");
    PrintNextPage(resp.next_page_token());
  });
}

}  // namespace

std::vector<Command> RewardCommands() {
  const std::string id = " [--request-id=ID]";
  return {
      {"loyalty reward", "list", "[--archived] [--page-size=50] [--page-token=]",
       "lists the rewards catalogue (ListRewards)", List},
      {"loyalty reward", "create", "--file=REWARD.json" + id, "adds a reward from its JSON form (CreateReward; admin)",
       Create},
      {"loyalty reward", "redeem", "<member_id> <reward_id>" + id,
       "spends the member's points on a reward (RedeemReward; a service token)", Redeem},
      {"loyalty reward", "redemptions", "<member_id> [--page-size=50] [--page-token=]",
       "lists a member's reward redemptions, newest first (ListRewardRedemptions)", Redemptions},
  };
}

}  // namespace carectl
