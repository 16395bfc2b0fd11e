// The rewards catalogue (issue 22 item 3) against the real care_loyalty and
// care_promotion: 50 members redeem a voucher reward with stock 10 at once
// and exactly 10 get it, each voucher issued once by promotion and usable in
// a Quote; a voucher promotion refuses for good (its campaign cancelled) is
// refunded on the ledger and the stock; free items and donations are
// fulfilled at once within their tiers, dates and stock; retries return the
// first answer; bad input names the field; only admins manage the catalogue
// and only backends redeem.
#include <atomic>
#include <thread>

#include "tests/integration/promotion_fixture.h"

namespace care::testing {
namespace {

using Redemption = lv1::RewardRedemption;

class RewardsTest : public LinkedPromotionTest {
 protected:
  // A running voucher-based campaign: 10% off the cart with one of its codes.
  void VoucherCampaign(const std::string& id) {
    pv1::Campaign c = BaseCampaign(Base());
    c.clear_starts_at();
    c.set_voucher_required(true);
    *c.add_rules()->add_effects()->mutable_cart_discount()->mutable_value()->mutable_value() = Percent(1000);
    Live(id, c);
  }

  static lv1::Reward VoucherReward(const std::string& id, const std::string& campaign, int64_t price) {
    lv1::Reward r;
    r.set_reward_id(id);
    r.set_display_name("10% off your next order");
    (*r.mutable_localized_display_names())["ja"] = "次回のご注文が10%オフ";
    r.set_points_price(price);
    r.mutable_promotion_voucher()->set_campaign_id(campaign);
    return r;
  }

  grpc::Status CreateReward(const lv1::Reward& r, lv1::Reward* out, const std::string& token = "") {
    lv1::CreateRewardRequest req;
    req.set_request_id("create-" + r.reward_id());
    *req.mutable_reward() = r;
    return stub().CreateReward(Ctx(token.empty() ? admin() : token).get(), req, out);
  }

  lv1::Reward MustCreate(const lv1::Reward& r) {
    lv1::Reward out;
    grpc::Status s = CreateReward(r, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  lv1::Reward GetReward(const std::string& id) {
    lv1::GetRewardRequest req;
    req.set_reward_id(id);
    lv1::Reward out;
    grpc::Status s = stub().GetReward(Ctx(svc()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  grpc::Status RedeemReward(const std::string& request_id, const std::string& member, const std::string& reward,
                            Redemption* out, const std::string& token = "") {
    lv1::RedeemRewardRequest req;
    req.set_request_id(request_id);
    req.set_member_id(member);
    req.set_reward_id(reward);
    return RetryAborted([&](int) { return stub().RedeemReward(Ctx(token.empty() ? svc() : token).get(), req, out); });
  }

  Redemption GetRedemption(const std::string& id) {
    lv1::GetRewardRedemptionRequest req;
    req.set_redemption_id(id);
    Redemption out;
    grpc::Status s = stub().GetRewardRedemption(Ctx(svc()).get(), req, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }

  // Waits until promotion's answer settled the redemption (no longer ISSUING).
  Redemption Settled(const std::string& id) {
    EXPECT_TRUE(Eventually([&] { return GetRedemption(id).state() != Redemption::ISSUING; }, absl::Seconds(30)))
        << GetRedemption(id).DebugString();
    return GetRedemption(id);
  }

  std::vector<lv1::LedgerEntry> EntriesOf(const std::string& member, lv1::LedgerEntryKind kind) {
    std::vector<lv1::LedgerEntry> out;
    for (const auto& e : Ledger(member)) {
      if (e.kind() == kind) out.push_back(e);
    }
    return out;
  }
};

TEST_F(RewardsTest, FiftyConcurrentRedemptionsOfStockTenExactlyTenSucceedAndEachVoucherIsUsableInAQuote) {
  VoucherCampaign("reward-10off");
  lv1::Reward reward = VoucherReward("ten-off", "reward-10off", 100);
  reward.set_stock(10);
  lv1::Reward created = MustCreate(reward);
  EXPECT_EQ(created.state(), lv1::REWARD_STATE_ACTIVE);
  EXPECT_EQ(created.version(), 1);
  constexpr int kMembers = 50;
  for (int i = 0; i < kMembers; ++i) {
    const std::string m = absl::StrCat("m-", i);
    Enrol(m);
    Purchase(m, "order-" + m, 15000);  // 150 points
  }

  std::vector<grpc::Status> statuses(kMembers);
  std::vector<Redemption> answers(kMembers);
  std::vector<std::thread> threads;
  threads.reserve(kMembers);
  std::atomic<bool> go{false};
  for (int i = 0; i < kMembers; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      statuses[i] = RedeemReward(absl::StrCat("redeem-", i), absl::StrCat("m-", i), "ten-off", &answers[i]);
    });
  }
  go = true;
  for (auto& t : threads) t.join();

  std::vector<int> winners;
  for (int i = 0; i < kMembers; ++i) {
    if (statuses[i].ok()) {
      winners.push_back(i);
      EXPECT_EQ(answers[i].state(), Redemption::ISSUING);
      EXPECT_EQ(answers[i].points(), 100);
      continue;
    }
    EXPECT_EQ(statuses[i].error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(statuses[i]);
    EXPECT_EQ(Reason(statuses[i]), "OUT_OF_STOCK") << Describe(statuses[i]);
  }
  ASSERT_EQ(winners.size(), 10u);
  lv1::Reward after = GetReward("ten-off");
  EXPECT_EQ(after.stock(), 0);
  EXPECT_EQ(after.redeemed_count(), 10);
  EXPECT_EQ(after.version(), 1) << "redemptions are not edits";

  // Balances exact: winners paid 100 once on the ledger, the others nothing.
  for (int i = 0; i < kMembers; ++i) {
    const std::string m = absl::StrCat("m-", i);
    const bool won = std::find(winners.begin(), winners.end(), i) != winners.end();
    EXPECT_EQ(Balance(m).balance(), won ? 50 : 150) << m;
    EXPECT_EQ(EntriesOf(m, lv1::LEDGER_ENTRY_KIND_REWARD).size(), won ? 1u : 0u) << m;
  }
  const int w = winners.front();
  const std::string winner = absl::StrCat("m-", w);
  int l = 0;
  while (std::find(winners.begin(), winners.end(), l) != winners.end()) ++l;
  const std::string loser = absl::StrCat("m-", l);
  lv1::LedgerEntry spent = EntriesOf(winner, lv1::LEDGER_ENTRY_KIND_REWARD).front();
  EXPECT_EQ(spent.points_delta(), -100);
  EXPECT_EQ(spent.reward().reward_id(), "ten-off");
  EXPECT_EQ(spent.reward().reward_name(), "10% off your next order");
  EXPECT_EQ(spent.reward().redemption_id(), answers[w].redemption_id());
  EXPECT_EQ(spent.entry_id(), answers[w].entry_id());
  EXPECT_EQ(Balance(winner).lifetime_redeemed(), 100);

  // Each winner's voucher is issued once, assigned to them.
  std::set<std::string> codes;
  for (int i : winners) {
    Redemption r = Settled(answers[i].redemption_id());
    ASSERT_EQ(r.state(), Redemption::ISSUED) << r.DebugString();
    EXPECT_FALSE(r.voucher_code().empty());
    codes.insert(r.voucher_code());
    pv1::GetVoucherRequest get;
    get.set_code(r.voucher_code());
    pv1::Voucher v;
    ASSERT_TRUE(promo().GetVoucher(Ctx(svc()).get(), get, &v).ok());
    EXPECT_EQ(v.kind(), pv1::VOUCHER_KIND_CAMPAIGN);
    EXPECT_EQ(v.campaign_id(), "reward-10off");
    EXPECT_EQ(v.member_id(), absl::StrCat("m-", i));
    EXPECT_EQ(v.max_uses(), 1);
  }
  EXPECT_EQ(codes.size(), 10u);
  pv1::ListVouchersRequest list;
  list.set_campaign_id("reward-10off");
  list.set_page_size(100);
  pv1::ListVouchersResponse vouchers;
  ASSERT_TRUE(promo().ListVouchers(Ctx(admin()).get(), list, &vouchers).ok());
  EXPECT_EQ(vouchers.vouchers_size(), 10) << "one voucher per redemption, however often the outbox ran";

  // The winner's code takes 10% off in a quote; nobody else may use it.
  const std::string code = GetRedemption(answers[w].redemption_id()).voucher_code();
  pv1::QuoteRequest cart = Cart(winner, {CartLine("a", "TEA", "drinks", 1, 10000)});
  cart.add_voucher_codes(code);
  pv1::QuoteResponse q = Quote(cart);
  EXPECT_TRUE(Applied(q, "reward-10off")) << q.DebugString();
  ASSERT_EQ(q.vouchers_size(), 1);
  EXPECT_TRUE(q.vouchers(0).accepted());
  EXPECT_EQ(q.totals().total_discount().amount_minor(), 1000) << q.DebugString();
  pv1::QuoteRequest other = Cart(loser, {CartLine("a", "TEA", "drinks", 1, 10000)});
  other.add_voucher_codes(code);
  EXPECT_FALSE(Applied(Quote(other), "reward-10off"));

  // A retry returns the first answer and spends nothing more; a refused
  // request is refused again.
  Redemption again;
  grpc::Status s = RedeemReward(absl::StrCat("redeem-", w), winner, "ten-off", &again);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(again.SerializeAsString(), answers[w].SerializeAsString());
  EXPECT_EQ(Balance(winner).balance(), 50);
  s = RedeemReward(absl::StrCat("redeem-", l), loser, "ten-off", &again);
  EXPECT_EQ(Reason(s), "OUT_OF_STOCK") << Describe(s);

  // The member's redemptions, newest first, page by page.
  lv1::ListRewardRedemptionsRequest mine;
  mine.set_member_id(winner);
  lv1::ListRewardRedemptionsResponse listed;
  ASSERT_TRUE(stub().ListRewardRedemptions(Ctx(svc()).get(), mine, &listed).ok());
  ASSERT_EQ(listed.redemptions_size(), 1);
  EXPECT_EQ(listed.redemptions(0).voucher_code(), code);
}

TEST_F(RewardsTest, AVoucherPromotionRefusesForGoodIsRefundedOnTheLedgerAndTheStock) {
  VoucherCampaign("doomed");
  lv1::Reward reward = VoucherReward("doomed-off", "doomed", 120);
  reward.set_stock(5);
  MustCreate(reward);
  pv1::CancelCampaignRequest cancel;
  cancel.set_request_id("cancel-doomed");
  cancel.set_campaign_id("doomed");
  cancel.set_reason("withdrawn");
  pv1::Campaign cancelled;
  grpc::Status s = promo().CancelCampaign(Ctx(admin()).get(), cancel, &cancelled);
  ASSERT_TRUE(s.ok()) << Describe(s);
  Enrol("m-unlucky");
  Purchase("m-unlucky", "order-unlucky", 30000);  // 300 points

  Redemption r;
  s = RedeemReward("redeem-doomed", "m-unlucky", "doomed-off", &r);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(r.state(), Redemption::ISSUING);
  Redemption settled = Settled(r.redemption_id());
  ASSERT_EQ(settled.state(), Redemption::REFUNDED) << settled.DebugString();
  EXPECT_EQ(settled.refund_reason(), "INVALID_TRANSITION");
  EXPECT_TRUE(settled.voucher_code().empty());
  EXPECT_EQ(Balance("m-unlucky").balance(), 300);
  EXPECT_EQ(Balance("m-unlucky").lifetime_redeemed(), 0) << "net of the refund";
  auto spent = EntriesOf("m-unlucky", lv1::LEDGER_ENTRY_KIND_REWARD);
  auto back = EntriesOf("m-unlucky", lv1::LEDGER_ENTRY_KIND_REWARD_REFUND);
  ASSERT_EQ(spent.size(), 1u);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(spent[0].points_delta(), -120);
  EXPECT_EQ(back[0].points_delta(), 120);
  EXPECT_EQ(back[0].reward().redemption_id(), r.redemption_id());
  EXPECT_EQ(back[0].reward().refund_reason(), "INVALID_TRANSITION");
  EXPECT_EQ(back[0].entry_id(), settled.refund_entry_id());
  lv1::Reward after = GetReward("doomed-off");
  EXPECT_EQ(after.stock(), 5);
  EXPECT_EQ(after.redeemed_count(), 0);
  // Refunded once: the relay has nothing more to do with it.
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(EntriesOf("m-unlucky", lv1::LEDGER_ENTRY_KIND_REWARD_REFUND).size(), 1u);
  pv1::ListVouchersRequest list;
  list.set_campaign_id("doomed");
  pv1::ListVouchersResponse vouchers;
  ASSERT_TRUE(promo().ListVouchers(Ctx(admin()).get(), list, &vouchers).ok());
  EXPECT_EQ(vouchers.vouchers_size(), 0);
}

TEST_F(RewardsTest, ItemsAndDonationsAreFulfilledAtOnceWithinTiersDatesStockAndBalance) {
  lv1::Reward item;
  item.set_reward_id("gold-mug");
  item.set_display_name("A mug");
  item.set_points_price(500);
  item.add_tier_ids("gold");
  item.set_stock(1);
  item.mutable_free_item()->set_sku("MUG-1");
  MustCreate(item);
  lv1::Reward gift;
  gift.set_reward_id("trees");
  gift.set_display_name("Plant a tree");
  gift.set_points_price(50);
  *gift.mutable_end_time() = ToTimestamp(Base() + absl::Hours(24));
  gift.mutable_donation()->set_charity_name("Forests Now");
  MustCreate(gift);
  Enrol("m-plain");
  Purchase("m-plain", "order-plain", 60000);  // 600 points, tier member
  MakeTier("m-gold", "gold");
  MakeTier("m-gold2", "gold");

  Redemption r;
  grpc::Status s = RedeemReward("mug-plain", "m-plain", "gold-mug", &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(s), "TIER_NOT_ELIGIBLE") << Describe(s);
  s = RedeemReward("mug-gold", "m-gold", "gold-mug", &r);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(r.state(), Redemption::FULFILLED);
  EXPECT_EQ(r.sku(), "MUG-1");
  s = RedeemReward("mug-gold2", "m-gold2", "gold-mug", &r);
  EXPECT_EQ(Reason(s), "OUT_OF_STOCK") << Describe(s);

  s = RedeemReward("tree-1", "m-plain", "trees", &r);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(r.state(), Redemption::FULFILLED);
  EXPECT_EQ(r.charity_name(), "Forests Now");
  EXPECT_EQ(Balance("m-plain").balance(), 550);
  // Past its end: not available; nor once archived.
  Advance(absl::Hours(25));
  s = RedeemReward("tree-2", "m-plain", "trees", &r);
  EXPECT_EQ(Reason(s), "REWARD_NOT_AVAILABLE") << Describe(s);
  lv1::UpdateRewardRequest update;
  update.set_request_id("extend-trees");
  update.mutable_reward()->set_reward_id("trees");
  update.mutable_reward()->set_version(1);
  update.mutable_reward()->set_points_price(1000);
  update.mutable_update_mask()->add_paths("end_time");
  update.mutable_update_mask()->add_paths("points_price");
  lv1::Reward updated;
  s = stub().UpdateReward(Ctx(admin()).get(), update, &updated);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(updated.version(), 2);
  EXPECT_FALSE(updated.has_end_time());
  s = RedeemReward("tree-3", "m-plain", "trees", &r);
  EXPECT_EQ(Reason(s), "INSUFFICIENT_POINTS") << Describe(s);
  s = stub().UpdateReward(
      Ctx(admin()).get(),
      [&] {
        auto stale = update;
        stale.set_request_id("stale-update");
        return stale;
      }(),
      &updated);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << Describe(s);
  EXPECT_EQ(Reason(s), "VERSION_MISMATCH");
  lv1::ArchiveRewardRequest archive;
  archive.set_request_id("archive-trees");
  archive.set_reward_id("trees");
  lv1::Reward archived;
  ASSERT_TRUE(stub().ArchiveReward(Ctx(admin()).get(), archive, &archived).ok());
  EXPECT_EQ(archived.state(), lv1::REWARD_STATE_ARCHIVED);
  s = RedeemReward("tree-4", "m-plain", "trees", &r);
  EXPECT_EQ(Reason(s), "REWARD_NOT_AVAILABLE") << Describe(s);
  lv1::ListRewardsRequest list;
  lv1::ListRewardsResponse rewards;
  ASSERT_TRUE(stub().ListRewards(Ctx(tokens_.agent).get(), list, &rewards).ok());
  ASSERT_EQ(rewards.rewards_size(), 1);
  EXPECT_EQ(rewards.rewards(0).reward_id(), "gold-mug");
  list.set_show_archived(true);
  list.set_page_size(1);
  ASSERT_TRUE(stub().ListRewards(Ctx(tokens_.agent).get(), list, &rewards).ok());
  ASSERT_EQ(rewards.rewards_size(), 1);
  EXPECT_EQ(rewards.rewards(0).reward_id(), "gold-mug");
  list.set_page_token(rewards.next_page_token());
  ASSERT_TRUE(stub().ListRewards(Ctx(tokens_.agent).get(), list, &rewards).ok());
  ASSERT_EQ(rewards.rewards_size(), 1);
  EXPECT_EQ(rewards.rewards(0).reward_id(), "trees");

  // The member's export carries the redemption; erasure takes it.
  care::common::v1::ExportPersonalDataRequest exp;
  exp.mutable_subject()->set_member_id("m-plain");
  exp.set_reason("DSR-1");
  auto ctx = Ctx(admin());
  auto reader = stub().ExportPersonalData(ctx.get(), exp);
  lv1::LoyaltyPersonalData item_out;
  int redemptions = 0;
  while (reader->Read(&item_out)) redemptions += item_out.has_reward_redemption() ? 1 : 0;
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(redemptions, 1);
  const std::string tree_redemption = [&] {
    lv1::ListRewardRedemptionsRequest req;
    req.set_member_id("m-plain");
    lv1::ListRewardRedemptionsResponse resp;
    EXPECT_TRUE(stub().ListRewardRedemptions(Ctx(svc()).get(), req, &resp).ok());
    return resp.redemptions_size() == 1 ? resp.redemptions(0).redemption_id() : std::string();
  }();
  ASSERT_FALSE(tree_redemption.empty());
  lv1::ErasePersonRequest erase;
  erase.set_request_id("erase-plain");
  erase.mutable_subject()->set_member_id("m-plain");
  erase.set_reason("DSR-2");
  lv1::Erasure erasure;
  s = stub().ErasePerson(Ctx(admin()).get(), erase, &erasure);
  ASSERT_TRUE(s.ok()) << Describe(s);
  lv1::GetRewardRedemptionRequest get;
  get.set_redemption_id(tree_redemption);
  Redemption gone;
  s = stub().GetRewardRedemption(Ctx(svc()).get(), get, &gone);
  EXPECT_EQ(Reason(s), "REDEMPTION_NOT_FOUND") << Describe(s);
}

TEST_F(RewardsTest, BadInputNamesTheFieldAndOnlyTheRightRolesManageAndRedeem) {
  auto field_of = [&](const lv1::Reward& r) {
    lv1::Reward out;
    grpc::Status s = CreateReward(r, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
    auto fields = BadFields(s);
    return fields.empty() ? std::string() : fields.front();
  };
  lv1::Reward good = VoucherReward("ok", "some-campaign", 10);
  lv1::Reward r = good;
  r.set_points_price(0);
  EXPECT_EQ(field_of(r), "reward.points_price");
  r = good;
  r.set_points_price(1'000'000'001);
  EXPECT_EQ(field_of(r), "reward.points_price");
  r = good;
  r.set_stock(1'000'001);
  EXPECT_EQ(field_of(r), "reward.stock");
  r = good;
  r.clear_promotion_voucher();
  EXPECT_EQ(field_of(r), "reward.kind");
  r = good;
  r.mutable_promotion_voucher()->set_campaign_id("bad id!");
  EXPECT_EQ(field_of(r), "reward.promotion_voucher.campaign_id");
  r = good;
  r.set_display_name("");
  EXPECT_EQ(field_of(r), "reward.display_name");
  r = good;
  (*r.mutable_localized_display_names())["not a tag"] = "x";
  EXPECT_EQ(field_of(r), "reward.localized_display_names[not a tag]");
  r = good;
  *r.mutable_start_time() = ToTimestamp(Base());
  *r.mutable_end_time() = ToTimestamp(Base());
  EXPECT_EQ(field_of(r), "reward.end_time");
  r = good;
  r.add_tier_ids("platinum");
  EXPECT_EQ(field_of(r), "reward.tier_ids[0]");
  r = good;
  r.set_reward_id("");
  EXPECT_EQ(field_of(r), "reward.reward_id");

  MustCreate(good);
  lv1::Reward out;
  lv1::Reward twin = good;
  twin.set_display_name("twin");
  lv1::CreateRewardRequest dup;
  dup.set_request_id("create-twin");
  *dup.mutable_reward() = twin;
  grpc::Status s = stub().CreateReward(Ctx(admin()).get(), dup, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << Describe(s);
  EXPECT_EQ(Reason(s), "REWARD_ALREADY_EXISTS");

  lv1::UpdateRewardRequest bad_mask;
  bad_mask.set_request_id("bad-mask");
  bad_mask.mutable_reward()->set_reward_id("ok");
  bad_mask.mutable_update_mask()->add_paths("promotion_voucher");
  s = stub().UpdateReward(Ctx(admin()).get(), bad_mask, &out);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"update_mask"}) << Describe(s);

  Redemption redeemed;
  s = RedeemReward("", "m-x", "ok", &redeemed);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{"request_id"}) << Describe(s);
  s = RedeemReward("r-1", "m-nobody", "ok", &redeemed);
  EXPECT_EQ(Reason(s), "MEMBER_NOT_FOUND") << Describe(s);
  Enrol("m-x");
  s = RedeemReward("r-2", "m-x", "no-such-reward", &redeemed);
  EXPECT_EQ(Reason(s), "REWARD_NOT_FOUND") << Describe(s);
  s = RedeemReward("r-3", "m-x", "ok", &redeemed);
  EXPECT_EQ(Reason(s), "INSUFFICIENT_POINTS") << Describe(s);

  // Among peers only loyalty asks promotion for a campaign voucher (and
  // only complaint for goodwill: promotion_voucher_test).
  pv1::IssueVoucherRequest issue;
  issue.set_request_id("not-yours");
  issue.set_member_id("m-x");
  issue.set_campaign_id("some-campaign");
  issue.set_reason_code("REWARD");
  pv1::Voucher voucher;
  s = promo().IssueVoucher(Ctx(tokens_.peer_complaint).get(), issue, &voucher);
  EXPECT_EQ(Reason(s), "PEER_NOT_ALLOWED") << Describe(s);
  EXPECT_EQ(ReasonMetadata(s, "allowed"), "svc:loyalty");

  // Least privilege: the catalogue is the admins', redeeming the backends'.
  lv1::Reward other = good;
  other.set_reward_id("by-service");
  s = CreateReward(other, &out, svc());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
  s = CreateReward(other, &out, tokens_.agent);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
  s = RedeemReward("r-4", "m-x", "ok", &redeemed, tokens_.agent);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
  s = RedeemReward("r-5", "m-x", "ok", &redeemed, admin());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
}

}  // namespace
}  // namespace care::testing
