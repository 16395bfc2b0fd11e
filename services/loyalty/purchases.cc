// Purchases and returns: points earned and reversed, visits, and the tier
// changes they cause, each in the caller's transaction.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/bounds.h"
#include "common/errors.h"
#include "services/loyalty/events.h"
#include "services/loyalty/loyalty_proto.h"
#include "services/loyalty/loyalty_service.h"
#include "services/loyalty/program.h"
#include "services/loyalty/service_internal.h"

namespace care::loyalty {

namespace {

// Business timestamps must be within 7 days before and 5 minutes after the
// server clock when first applied. Checked after the replay: a retry of a
// write that was recent then is answered with the first answer, however late
// it comes (a client is never told "invalid" for a write that happened).
absl::Status RequireRecent(const std::string& field, std::optional<absl::Time> at, absl::Time now) {
  if (!at) return absl::OkStatus();
  if (*at > now + absl::Minutes(5)) {
    return InvalidField(field, "must not be more than 5 minutes ahead of the server clock");
  }
  if (*at < now - absl::Hours(24 * 7)) return InvalidField(field, "must not be more than 7 days in the past");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::RecordPurchaseResponse> LoyaltyService::RecordPurchase(const Once& once, const PurchaseCommand& cmd,
                                                                          const Actor& actor) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  const Once tagged = AboutMember(once, cmd.member_id);
  PurchaseCommand scored = cmd;
  if (!cmd.promotion_redemption_id.empty()) {
    // Asked outside the write transaction (a remote call must not hold the
    // writer), and not at all for a retry of a recorded order: its first
    // answer is replayed whatever promotion says now.
    auto recorded = ReadValue<bool>([&](StoreTxn& tx) -> absl::StatusOr<bool> {
      auto p = tx.GetPurchase(cmd.order_id);
      if (!p.ok()) return p.status();
      return p->has_value();
    });
    if (!recorded.ok()) return recorded.status();
    if (!*recorded) {
      auto bonus = CampaignBonus(cmd);
      if (!bonus.ok()) return bonus.status();
      scored.campaign_bonus_points = *bonus;
    }
  }
  return WriteOnceAndCache<v1::RecordPurchaseResponse>(
      tagged, [&](StoreTxn& tx, Effects& fx, v1::RecordPurchaseResponse& response) -> absl::Status {
        if (absl::Status s = RequireRecent("purchase_time", cmd.purchase_time, clock_.Now()); !s.ok()) return s;
        auto r = RecordPurchaseIn(tx, fx, scored, actor);
        if (!r.ok()) return r.status();
        response = PurchaseResponse(*r);
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::RecordReturnResponse> LoyaltyService::RecordReturn(const Once& once, const ReturnCommand& cmd,
                                                                      const Actor& actor) {
  if (absl::Status s = RequireProgram(); !s.ok()) return s;
  // The member is the order's, known once it is read: the stored answer is
  // tagged before WriteOnce remembers it.
  Once tagged = once;
  return WriteOnceAndCache<v1::RecordReturnResponse>(
      tagged, [&](StoreTxn& tx, Effects& fx, v1::RecordReturnResponse& response) -> absl::Status {
        if (absl::Status s = RequireRecent("return_time", cmd.return_time, clock_.Now()); !s.ok()) return s;
        auto r = RecordReturnIn(tx, fx, cmd, actor);
        if (!r.ok()) return r.status();
        tagged.subject = MemberSubject(r->member_id);
        response = ReturnResponse(*r);
        return absl::OkStatus();
      });
}

absl::StatusOr<int64_t> LoyaltyService::CampaignBonus(const PurchaseCommand& cmd) {
  if (!redemptions_) {
    return FailedPrecondition("PROMOTION_NOT_CONFIGURED",
                              "this loyalty service has no promotion_target to read the redemption from");
  }
  // By this order's id only: another order's redemption is never found
  // under it, so one redemption's bonus goes to one order.
  auto r = redemptions_(cmd.order_id);
  if (!r.ok()) return r.status();
  auto mismatch = [](const std::string& why) {
    return Error(absl::StatusCode::kFailedPrecondition, "REDEMPTION_MISMATCH", why,
                 {{"field", "promotion_redemption_id"}});
  };
  if (r->redemption_id != cmd.promotion_redemption_id) {
    return mismatch("the order's promotion redemption has another redemption_id");
  }
  if (r->member_id != cmd.member_id) return mismatch("the order's promotion redemption is another member's");
  if (!r->live) return mismatch("the order's promotion redemption was cancelled or fully returned");
  if (r->bonus_points < 0 || r->bonus_points > kMaxPointsPerEntry) {
    return mismatch("the redemption's bonus points are out of bounds");
  }
  return r->bonus_points;
}

// A purchase is scored with the rules in force when it was made (earn rule,
// visit reward); tiers and currency follow the rules in force now.
struct LoyaltyService::PurchaseContext {
  Member member;
  Program scoring;
  Program current;
  absl::Time now;
  absl::Time purchase_time;
};

absl::StatusOr<LoyaltyService::PurchaseContext> LoyaltyService::LoadPurchaseContext(StoreTxn& tx,
                                                                                    const PurchaseCommand& cmd) {
  PurchaseContext c;
  c.now = clock_.Now();
  auto member = LoadMember(tx, cmd.member_id);
  if (!member.ok()) return member.status();
  c.member = std::move(*member);
  c.purchase_time = cmd.purchase_time.value_or(c.now);
  auto scoring = tx.ProgramAt(c.purchase_time);
  if (!scoring.ok()) return scoring.status();
  if (!scoring->has_value()) return NotConfigured();
  c.scoring = std::move(**scoring);
  auto current = CurrentProgram(tx);
  if (!current.ok()) return current.status();
  c.current = std::move(*current);
  if (absl::Status s = CheckCurrency("amount", cmd.currency, c.current); !s.ok()) return s;
  return c;
}

absl::Status LoyaltyService::EarnPurchasePoints(StoreTxn& tx, PurchaseContext& c, const PurchaseCommand& cmd,
                                                const Actor& actor, PurchaseResult& r) {
  Member& m = c.member;
  const Program& scoring = c.scoring;
  // The rule in force at purchase time, the member's tier multiplier.
  int multiplier = 10000;
  if (const Tier* t = scoring.FindTier(m.tier.tier_id)) {
    multiplier = t->benefits.points_multiplier_bps;
  } else if (const Tier* t2 = c.current.FindTier(m.tier.tier_id)) {
    multiplier = t2->benefits.points_multiplier_bps;
  }
  std::optional<int64_t> earned = cmd.no_points ? 0 : EarnPoints(cmd.amount, scoring.earn_rule, multiplier);
  if (!earned) {
    return InvalidField("amount", absl::StrCat("earns more than ", kMaxPointsPerEntry,
                                               " points under the earn rule; split the order"));
  }
  // The campaign bonus rides on the EARN entry, so a return takes back its
  // share with the earned points; the entry stays within its bound.
  earned = CheckedAdd(*earned, cmd.campaign_bonus_points, kMaxPointsPerEntry);
  if (!earned) {
    return InvalidField("promotion_redemption_id", absl::StrCat("the earned and campaign bonus points exceed ",
                                                                kMaxPointsPerEntry, " on one entry; split the order"));
  }
  // Spend windows are sums of these: bounded like every amount.
  std::optional<int64_t> lifetime_spend = CheckedAdd(m.lifetime_spend, cmd.amount);
  if (!lifetime_spend) {
    return InvalidField("amount", absl::StrCat("would take the member's lifetime spend past ", kMaxMoneyMinor));
  }
  LedgerEntry earn;
  earn.kind = EntryKind::kEarn;
  earn.points_delta = *earned;
  earn.create_time = c.now;
  earn.effective_time = c.purchase_time;
  earn.program_version = scoring.version;
  earn.actor = actor.name;
  earn.request_id = actor.request_id;
  earn.order_id = cmd.order_id;
  earn.cause = PurchaseCause{cmd.order_id,
                             cmd.amount,
                             cmd.lines,
                             cmd.campaign_ids,
                             cmd.store_id,
                             EarnCalculation{cmd.amount, scoring.earn_rule.points_per_unit,
                                             scoring.earn_rule.unit_amount, m.tier.tier_id, multiplier,
                                             scoring.earn_rule.rounding, cmd.no_points, cmd.campaign_bonus_points,
                                             cmd.promotion_redemption_id}};
  if (absl::Status s = Post(tx, c.current, m, earn, LotExpiry(scoring, c.purchase_time)); !s.ok()) return s;
  r.points_earned = *earned;
  r.campaign_bonus_points = cmd.campaign_bonus_points;
  r.entries.push_back(earn);
  Purchase purchase{
      cmd.order_id, m.member_id, cmd.amount, c.purchase_time, 0, earn.sequence, *earned, scoring.earn_rule.rounding, 0};
  if (absl::Status s = tx.InsertPurchase(purchase); !s.ok()) return s;
  m.lifetime_spend = *lifetime_spend;
  if (absl::Status s = RollupPurchase(tx, c.current, m, cmd.amount, c.now); !s.ok()) return s;
  return absl::OkStatus();
}

absl::Status LoyaltyService::CountVisit(StoreTxn& tx, PurchaseContext& c, const PurchaseCommand& cmd,
                                        const Actor& actor, PurchaseResult& r) {
  Member& m = c.member;
  // One visit per order, at most one per local day of the member.
  const std::optional<VisitReward>& visit = c.scoring.visit_reward;
  if (visit && visit->min_order_amount && cmd.amount < *visit->min_order_amount) {
    r.visit_outcome = VisitOutcome::kBelowMinimum;
  } else {
    auto added = tx.AddVisitDay(m.member_id, LocalDay(c.purchase_time, MemberZone(m, c.scoring)));
    if (!added.ok()) return added.status();
    r.visit_outcome = *added ? VisitOutcome::kCounted : VisitOutcome::kSameDay;
  }
  if (r.visit_outcome == VisitOutcome::kCounted) {
    ++m.visit_count;
    ++m.visits_since_reward;
    if (!m.last_visit_time || *m.last_visit_time < c.purchase_time) m.last_visit_time = c.purchase_time;
    if (visit && visit->every_n_visits > 0 && m.visits_since_reward >= visit->every_n_visits) {
      if (absl::Status s = GrantVisitReward(tx, c, *visit, cmd.order_id, actor, r); !s.ok()) return s;
    }
  }
  r.visit_count = m.visit_count;
  r.visits_until_reward = visit && visit->every_n_visits > 0 ? visit->every_n_visits - m.visits_since_reward : 0;
  return absl::OkStatus();
}

absl::Status LoyaltyService::GrantVisitReward(StoreTxn& tx, PurchaseContext& c, const VisitReward& visit,
                                              const std::string& order_id, const Actor& actor, PurchaseResult& r) {
  Member& m = c.member;
  LedgerEntry reward;
  reward.kind = EntryKind::kVisitReward;
  reward.points_delta = visit.bonus_points;
  reward.create_time = c.now;
  reward.effective_time = c.now;
  reward.program_version = c.scoring.version;
  reward.actor = actor.name;
  reward.request_id = actor.request_id;
  reward.order_id = order_id;
  reward.cause = VisitRewardCause{order_id, m.visit_count, visit.reward_name};
  if (absl::Status s = Post(tx, c.current, m, reward, LotExpiry(c.scoring, c.now)); !s.ok()) return s;
  m.visits_since_reward = 0;
  VisitRewarded event{m.member_id, m.visit_count, visit.reward_name, reward.entry_id(), visit.localized_reward_names};
  if (absl::Status s = tx.Enqueue(EventToOutbox(event, c.now)); !s.ok()) return s;
  r.visit_reward = event;
  r.visit_reward_points = visit.bonus_points;
  r.entries.push_back(reward);
  return absl::OkStatus();
}

absl::StatusOr<TierChange> LoyaltyService::UpgradeAfterPurchase(StoreTxn& tx, Effects& fx, Member& m,
                                                                const Program& current, absl::Time now) {
  // Upgrade at once when a threshold is met (rules in force now).
  SpendFn spend = SpendOf(tx, m);
  auto qualified = QualifiedTier(current, now, absl::InfiniteFuture(), spend);
  if (!qualified.ok()) return qualified.status();
  const Tier* held = current.FindTier(m.tier.tier_id);
  if (held == nullptr || (*qualified)->rank > held->rank) {
    TierChange change{true, m.tier.tier_id};
    if (absl::Status s = ChangeTier(tx, &fx, m, current, **qualified, now); !s.ok()) return s;
    return change;
  }
  if (m.tier.in_grace && held->window.kind == WindowKind::kRolling) {
    auto met = TierSpend(*held, now, absl::InfiniteFuture(), LoadZone(current.time_zone), spend);
    if (!met.ok()) return met.status();
    if (*met >= held->qualifying_spend) {
      // Re-qualified during grace: kept, reviewed a full window from now.
      m.tier.in_grace = false;
      m.tier.grace_end_time.reset();
      m.tier.review_time = AddMonths(now, held->window.rolling_months, LoadZone(current.time_zone));
    }
  }
  return TierChange{};
}

absl::Status LoyaltyService::SaveAndDescribe(StoreTxn& tx, const Program& current, const Member& m, int64_t& balance,
                                             TierSnapshot& tier, Progress& progress) {
  if (absl::Status s = tx.SaveMember(m); !s.ok()) return s;
  balance = m.points_balance;
  auto snapshot = SnapshotOf(tx, m);
  if (!snapshot.ok()) return snapshot.status();
  tier = std::move(*snapshot);
  auto p = ProgressOf(tx, current, m);
  if (!p.ok()) return p.status();
  progress = std::move(*p);
  return absl::OkStatus();
}

absl::StatusOr<PurchaseResult> LoyaltyService::RecordPurchaseIn(StoreTxn& tx, Effects& fx, const PurchaseCommand& cmd,
                                                                const Actor& actor) {
  auto c = LoadPurchaseContext(tx, cmd);
  if (!c.ok()) return c.status();
  PurchaseResult r;
  r.order_id = cmd.order_id;
  r.member_id = c->member.member_id;
  r.program_version = c->scoring.version;
  r.currency = c->current.currency_code;
  if (absl::Status s = EarnPurchasePoints(tx, *c, cmd, actor, r); !s.ok()) return s;
  if (absl::Status s = CountVisit(tx, *c, cmd, actor, r); !s.ok()) return s;
  auto change = UpgradeAfterPurchase(tx, fx, c->member, c->current, c->now);
  if (!change.ok()) return change.status();
  r.change = *change;
  if (absl::Status s = SaveAndDescribe(tx, c->current, c->member, r.points_balance, r.tier, r.progress); !s.ok()) {
    return s;
  }
  return r;
}

namespace {

// How much of the order `cmd` returns: what remains for a FULL return, the
// amount sent for a PARTIAL one, never more than remains.
absl::StatusOr<int64_t> ReturnedAmount(const ReturnCommand& cmd, const Purchase& purchase) {
  int64_t remaining = purchase.amount - purchase.returned_amount;
  auto exceeds = [&] {
    return Error(absl::StatusCode::kFailedPrecondition, "RETURN_EXCEEDS_PURCHASE",
                 remaining == 0 ? "the order is already fully returned"
                                : absl::StrCat("only ", remaining, " of the order remains unreturned"),
                 {{"remaining_minor", absl::StrCat(remaining)}});
  };
  if (cmd.kind == ReturnKind::kFull) {
    if (remaining == 0 && purchase.amount > 0) return exceeds();
    if (cmd.returned_amount && *cmd.returned_amount != remaining) {
      return InvalidField("returned_amount",
                          absl::StrCat("a FULL return must leave it unset or equal to what remains (", remaining, ")"));
    }
    return remaining;
  }
  int64_t amount = cmd.returned_amount.value_or(0);
  if (amount > remaining) return exceeds();
  return amount;
}

}  // namespace

// A return reverses points of its order's member; tiers and currency follow
// the rules in force now.
struct LoyaltyService::ReturnContext {
  Purchase purchase;
  Member member;
  Program current;
  int64_t amount = 0;
  absl::Time now;
  absl::Time return_time;
};

absl::StatusOr<LoyaltyService::ReturnContext> LoyaltyService::LoadReturnContext(StoreTxn& tx,
                                                                                const ReturnCommand& cmd) {
  ReturnContext c;
  c.now = clock_.Now();
  auto purchase = tx.GetPurchase(cmd.order_id);
  if (!purchase.ok()) return purchase.status();
  if (!purchase->has_value()) {
    return NotFound("ORDER_NOT_FOUND", absl::StrCat("no recorded purchase with order_id ", cmd.order_id));
  }
  c.purchase = std::move(**purchase);
  if (!cmd.member_id.empty() && cmd.member_id != c.purchase.member_id) {
    return FailedPrecondition("ORDER_MEMBER_MISMATCH", "the order belongs to another member");
  }
  auto member = LoadMember(tx, c.purchase.member_id);
  if (!member.ok()) return member.status();
  c.member = std::move(*member);
  auto current = CurrentProgram(tx);
  if (!current.ok()) return current.status();
  c.current = std::move(*current);
  if (cmd.returned_amount) {
    if (absl::Status s = CheckCurrency("returned_amount", cmd.currency, c.current); !s.ok()) return s;
  }
  auto amount = ReturnedAmount(cmd, c.purchase);
  if (!amount.ok()) return amount.status();
  c.amount = *amount;
  c.return_time = cmd.return_time.value_or(c.now);
  if (c.return_time < c.purchase.purchase_time) {
    return InvalidField("return_time", "must not be before the order's purchase_time");
  }
  return c;
}

absl::Status LoyaltyService::ReversePoints(StoreTxn& tx, ReturnContext& c, const ReturnCommand& cmd, const Actor& actor,
                                           ReturnResult& r) {
  Member& m = c.member;
  Purchase& purchase = c.purchase;
  // Reverse what the EARN entry earned for the returned part, cumulatively,
  // so rounding never takes back more than was earned.
  int64_t total = purchase.returned_amount + c.amount;
  int64_t target = ReversalTarget(purchase, total);
  int64_t reverse = std::max<int64_t>(0, target - purchase.points_reversed);
  int64_t recovered = std::min(reverse, m.points_balance);
  purchase.returned_amount = total;
  purchase.points_reversed = target;
  if (absl::Status s = tx.SavePurchase(purchase); !s.ok()) return s;
  m.lifetime_spend -= c.amount;
  RollupCounters returned;
  returned.returned_amount = c.amount;
  if (absl::Status s = Rollup(tx, c.current, c.now, m.tier.tier_id, returned); !s.ok()) return s;

  auto at_return = tx.ProgramAt(c.return_time);
  if (!at_return.ok()) return at_return.status();
  LedgerEntry& entry = r.entry;
  entry.kind = EntryKind::kReverse;
  entry.points_delta = -recovered;
  entry.create_time = c.now;
  entry.effective_time = c.return_time;
  entry.program_version = at_return->has_value() ? (*at_return)->version : c.current.version;
  entry.actor = actor.name;
  entry.request_id = actor.request_id;
  entry.order_id = cmd.order_id;
  entry.cause = ReturnCause{
      cmd.return_id,       cmd.order_id, cmd.kind, c.amount, total, EntryId(m.member_id, purchase.earn_sequence),
      reverse - recovered, cmd.reason};
  // The order's own points go first, then the oldest.
  if (absl::Status s = Post(tx, c.current, m, entry, std::nullopt, purchase.earn_sequence); !s.ok()) return s;
  r.returned_amount = c.amount;
  r.total_returned = total;
  r.fully_returned = total >= purchase.amount;
  r.points_reversed = recovered;
  r.points_unrecovered = reverse - recovered;
  return absl::OkStatus();
}

absl::StatusOr<ReturnResult> LoyaltyService::RecordReturnIn(StoreTxn& tx, Effects& fx, const ReturnCommand& cmd,
                                                            const Actor& actor) {
  auto c = LoadReturnContext(tx, cmd);
  if (!c.ok()) return c.status();
  Member& m = c->member;
  ReturnResult r;
  r.return_id = cmd.return_id;
  r.order_id = cmd.order_id;
  r.member_id = m.member_id;
  r.currency = c->current.currency_code;
  if (absl::Status s = ReversePoints(tx, *c, cmd, actor, r); !s.ok()) return s;
  auto lower = DowngradeAfterReturn(c->current, m.tier, c->now, SpendOf(tx, m));
  if (!lower.ok()) return lower.status();
  if (*lower != nullptr) {
    r.change = TierChange{true, m.tier.tier_id};
    if (absl::Status s = ChangeTier(tx, &fx, m, c->current, **lower, c->now); !s.ok()) return s;
  }
  if (absl::Status s = SaveAndDescribe(tx, c->current, m, r.points_balance, r.tier, r.progress); !s.ok()) return s;
  return r;
}

}  // namespace care::loyalty
