// Model-based property test of loyalty's points ledger, through the
// generated client against the real care_loyalty binary (fake clock, private
// redis, SQLite file). A seeded generator issues RecordPurchase,
// RecordReturn, RedeemPoints, AdjustPoints, clock moves that make points
// expire, retries of the same key (after the first answer and concurrently)
// and concurrent batches; after every step the service's ledger, balance and
// member record are checked against a small reference model of lots:
//   - balance = sum(ledger) >= 0, sequences 1..n, balance_after the running
//     sum, GetBalance and GetMember agree;
//   - every ledger entry is the one the model expects (kind and points),
//     including expiry (soonest-expiring lots spent first, a return taking
//     the order's own lot first);
//   - no request applied twice: a retry returns the first answer byte for
//     byte and writes nothing;
//   - a return never reverses more than the order earned (and a full return
//     reverses exactly that, the part already spent written off);
//   - amounts past the documented bounds are INVALID_ARGUMENT, never
//     INTERNAL and never a wrapped value.
#include <algorithm>
#include <map>
#include <thread>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/bounds.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/integration/loyalty_fixture.h"
#include "tests/property/property_support.h"

namespace care::testing {
namespace {

using google::protobuf::util::MessageDifferencer;
using property::PropertyRun;
using property::Rng;
using property::St;

constexpr int kMultiplierBps = 12500;  // 1.25 points per 1.00 USD, floor
constexpr int kDefaultSteps = 4000;

// ---------------------------------------------------------------- model
struct Lot {
  int64_t seq;
  absl::Time expire;
  int64_t remaining;
};

struct Expected {
  lv1::LedgerEntryKind kind;
  int64_t delta;
};

struct MemberModel {
  int64_t balance = 0;
  std::vector<Lot> lots;
  std::vector<Expected> ledger;
};

struct OrderModel {
  std::string member;
  int64_t amount = 0;
  int64_t earned = 0;
  int64_t earn_seq = 0;
  int64_t returned = 0;
  int64_t target = 0;       // points due back so far (cumulative)
  int64_t recovered = 0;    // of which taken back
  int64_t unrecovered = 0;  // of which written off
  lv1::RecordPurchaseRequest request;
  lv1::RecordPurchaseResponse answer;
};

struct ReturnModel {
  lv1::RecordReturnRequest request;
  lv1::RecordReturnResponse answer;
};

// The result of one call, whatever it was.
struct Call {
  enum Kind { kPurchase, kReturn, kRedeem, kAdjust };
  explicit Call(Kind k) : kind(k) {}
  Kind kind;
  std::string key;  // idempotency key
  lv1::RecordPurchaseRequest purchase;
  lv1::RecordReturnRequest ret;
  lv1::RedeemPointsRequest redeem;
  lv1::AdjustPointsRequest adjust;
  grpc::Status status;
  lv1::RecordPurchaseResponse purchase_out;
  lv1::RecordReturnResponse return_out;
  lv1::RedeemPointsResponse redeem_out;
  lv1::AdjustPointsResponse adjust_out;

  std::string member() const {
    switch (kind) {
      case kPurchase:
        return purchase.member_id();
      case kReturn:
        return ret.member_id();
      case kRedeem:
        return redeem.member_id();
      case kAdjust:
        return adjust.member_id();
    }
    return "";
  }
  // The first ledger entry the call wrote (for ordering a batch).
  const lv1::LedgerEntry& entry() const {
    switch (kind) {
      case kPurchase:
        return purchase_out.entries(0);
      case kReturn:
        return return_out.entry();
      case kRedeem:
        return redeem_out.entry();
      case kAdjust:
        return adjust_out.entry();
    }
    return redeem_out.entry();
  }
  const google::protobuf::Message& answer() const {
    switch (kind) {
      case kPurchase:
        return purchase_out;
      case kReturn:
        return return_out;
      case kRedeem:
        return redeem_out;
      case kAdjust:
        return adjust_out;
    }
    return redeem_out;
  }
  std::string Text() const {
    switch (kind) {
      case kPurchase:
        return absl::StrCat("RecordPurchase(member=", purchase.member_id(), " order=", purchase.order_id(),
                            " amount=", purchase.amount().amount_minor(),
                            purchase.has_purchase_time() ? " purchase_time=past" : "",
                            purchase.no_points() ? " no_points" : "", ")");
      case kReturn:
        return absl::StrCat("RecordReturn(return=", ret.return_id(), " order=", ret.order_id(),
                            " kind=", ret.kind() == lv1::RETURN_KIND_FULL ? "FULL" : "PARTIAL",
                            " amount=", ret.returned_amount().amount_minor(), ")");
      case kRedeem:
        return absl::StrCat("RedeemPoints(member=", redeem.member_id(), " request=", redeem.request_id(),
                            " points=", redeem.points(), ")");
      case kAdjust:
        return absl::StrCat("AdjustPoints(member=", adjust.member_id(), " request=", adjust.request_id(),
                            " delta=", adjust.points_delta(), ")");
    }
    return "";
  }
};

class LoyaltyPropertyTest : public LoyaltyTest {
 protected:
  void SetUp() override {
    LoyaltyTest::SetUp();
    if (HasFatalFailure()) return;
    lv1::Program p = DefaultProgram();
    p.clear_tiers();
    *p.add_tiers() = MakeTier("member", 0, 0, kMultiplierBps);
    p.clear_visit_reward();
    p.clear_birthday_bonus();
    Configure(p);
    for (int i = 0; i < 4; ++i) {
      std::string id = absl::StrCat("pm", i);
      Enrol(id);
      members_.push_back(id);
      model_[id];
    }
    now_ = Base();
  }

  // ------------------------------------------------------------ calls
  void Issue(Call& c) {
    switch (c.kind) {
      case Call::kPurchase:
        c.status = stub().RecordPurchase(Ctx(svc()).get(), c.purchase, &c.purchase_out);
        break;
      case Call::kReturn:
        c.status = stub().RecordReturn(Ctx(svc()).get(), c.ret, &c.return_out);
        break;
      case Call::kRedeem:
        c.status = stub().RedeemPoints(Ctx(svc()).get(), c.redeem, &c.redeem_out);
        break;
      case Call::kAdjust:
        c.status = stub().AdjustPoints(Ctx(goodwill()).get(), c.adjust, &c.adjust_out);
        break;
    }
  }

  Call NewPurchase(const std::string& member, int64_t amount) {
    Call c{Call::kPurchase};
    c.key = absl::StrCat("o", ++serial_);
    c.purchase.set_request_id("r-" + c.key);
    c.purchase.set_member_id(member);
    c.purchase.set_order_id(c.key);
    *c.purchase.mutable_amount() = Usd(amount);
    if (rng_->Chance(0.2)) {
      *c.purchase.mutable_purchase_time() = ToTimestamp(now_ - absl::Hours(rng_->Uniform(1, 6 * 24)));
    }
    if (rng_->Chance(0.05)) c.purchase.set_no_points(true);
    return c;
  }

  Call NewRedeem(const std::string& member, int64_t points) {
    Call c{Call::kRedeem};
    c.key = absl::StrCat("redeem-", ++serial_);
    c.redeem.set_request_id(c.key);
    c.redeem.set_member_id(member);
    c.redeem.set_points(points);
    return c;
  }

  Call NewAdjust(const std::string& member, int64_t delta) {
    Call c{Call::kAdjust};
    c.key = absl::StrCat("adjust-", ++serial_);
    c.adjust.set_request_id(c.key);
    c.adjust.set_member_id(member);
    c.adjust.set_points_delta(delta);
    c.adjust.set_reason_code(delta > 0 ? "GOODWILL" : "CORRECTION");
    return c;
  }

  // A return of an order with something left (nullopt when there is none).
  std::optional<Call> NewReturn(bool allow_exceed) {
    std::vector<std::string> open;
    for (const auto& [id, o] : orders_) {
      if (o.returned < o.amount) open.push_back(id);
    }
    if (open.empty()) return std::nullopt;
    const std::string& id = rng_->Pick(open);
    const OrderModel& o = orders_[id];
    Call c{Call::kReturn};
    c.key = absl::StrCat("ret", ++serial_);
    c.ret.set_request_id("r-" + c.key);
    c.ret.set_return_id(c.key);
    c.ret.set_order_id(id);
    int64_t left = o.amount - o.returned;
    if (rng_->Chance(0.25)) {
      c.ret.set_kind(lv1::RETURN_KIND_FULL);
    } else {
      c.ret.set_kind(lv1::RETURN_KIND_PARTIAL);
      int64_t amount = rng_->Uniform(1, left);
      if (allow_exceed && rng_->Chance(0.1)) amount = left + rng_->Uniform(1, 500);
      *c.ret.mutable_returned_amount() = Usd(amount);
    }
    c.ret.set_member_id(o.member);
    return c;
  }

  // ------------------------------------------------------- model steps
  static int64_t Earn(int64_t amount) {
    return static_cast<int64_t>(static_cast<__int128>(amount) * kMultiplierBps / (100 * 10000));
  }
  static absl::Time LotExpiry(absl::Time credited) {
    absl::CivilMonth m(absl::UTCTimeZone().At(credited).cs);
    return absl::FromCivil(m + 13, absl::UTCTimeZone());
  }

  // Takes `points` from the member's lots: `first` (a lot seq) first, then
  // the soonest expiring, then the oldest.
  void Consume(MemberModel& m, int64_t points, std::optional<int64_t> first = std::nullopt) {
    std::vector<Lot*> order;
    for (Lot& l : m.lots) {
      if (l.remaining > 0) order.push_back(&l);
    }
    std::stable_sort(order.begin(), order.end(), [](const Lot* a, const Lot* b) {
      return a->expire != b->expire ? a->expire < b->expire : a->seq < b->seq;
    });
    if (first) {
      std::stable_partition(order.begin(), order.end(), [&](const Lot* l) { return l->seq == *first; });
    }
    for (Lot* l : order) {
      int64_t take = std::min(points, l->remaining);
      l->remaining -= take;
      points -= take;
      if (points == 0) break;
    }
    run_->Check(points == 0, "model: lots do not cover the balance (test bug)");
  }

  // Checks the entry the service wrote against the model's expectation and
  // appends it to the model.
  bool Append(const std::string& member, const lv1::LedgerEntry& e, lv1::LedgerEntryKind kind, int64_t delta,
              const std::string& what) {
    MemberModel& m = model_[member];
    int64_t seq = static_cast<int64_t>(m.ledger.size()) + 1;
    if (!run_->Check(e.kind() == kind && e.points_delta() == delta && e.sequence() == seq &&
                         e.balance_after() == m.balance + delta,
                     absl::StrCat(what, ": the service wrote entry seq=", e.sequence(),
                                  " kind=", lv1::LedgerEntryKind_Name(e.kind()), " delta=", e.points_delta(),
                                  " balance_after=", e.balance_after(), "; the model expects seq=", seq,
                                  " kind=", lv1::LedgerEntryKind_Name(kind), " delta=", delta,
                                  " balance_after=", m.balance + delta),
                     member)) {
      return false;
    }
    m.ledger.push_back(Expected{kind, delta});
    ++entries_by_kind_[lv1::LedgerEntryKind_Name(kind)];
    m.balance += delta;
    return true;
  }

  // Applies a successful, first-time call to the model, checking its answer.
  void Apply(const Call& c) {
    const std::string member = c.member();
    MemberModel& m = model_[member];
    switch (c.kind) {
      case Call::kPurchase:
        ApplyPurchase(c, member, m);
        break;
      case Call::kReturn:
        ApplyReturn(c, member, m);
        break;
      case Call::kRedeem:
        ApplyRedeem(c, member, m);
        break;
      case Call::kAdjust:
        ApplyAdjust(c, member, m);
        break;
    }
  }

  // The order earns floor(amount * multiplier) points in a lot expiring 13 months on.
  void ApplyPurchase(const Call& c, const std::string& member, MemberModel& m) {
    const auto& r = c.purchase_out;
    int64_t amount = c.purchase.amount().amount_minor();
    int64_t earned = c.purchase.no_points() ? 0 : Earn(amount);
    if (!run_->Check(r.points_earned() == earned && r.entries_size() >= 1,
                     absl::StrCat(c.Text(), " earned ", r.points_earned(), " points; the model expects ", earned,
                                  " (floor(amount * ", kMultiplierBps, " / 1000000))"),
                     member)) {
      return;
    }
    if (!Append(member, r.entries(0), lv1::LEDGER_ENTRY_KIND_EARN, earned, c.Text())) return;
    absl::Time at = c.purchase.has_purchase_time() ? FromTimestamp(c.purchase.purchase_time()) : now_;
    if (earned > 0) {
      m.lots.push_back(Lot{r.entries(0).sequence(), LotExpiry(at), earned});
      run_->Check(r.entries(0).has_expire_time() && FromTimestamp(r.entries(0).expire_time()) == LotExpiry(at),
                  absl::StrCat(c.Text(), ": EARN entry expires at ",
                               absl::FormatTime(FromTimestamp(r.entries(0).expire_time())), "; the model expects ",
                               absl::FormatTime(LotExpiry(at))),
                  member);
    }
    OrderModel& o = orders_[c.purchase.order_id()];
    o.member = member;
    o.amount = amount;
    o.earned = earned;
    o.earn_seq = r.entries(0).sequence();
    o.request = c.purchase;
    o.answer = r;
  }

  // The return takes back the order's share of its points, from the order's own lot first, as far as the
  // balance allows; the rest is written off.
  void ApplyReturn(const Call& c, const std::string& member, MemberModel& m) {
    const auto& r = c.return_out;
    OrderModel& o = orders_[c.ret.order_id()];
    int64_t amount = c.ret.kind() == lv1::RETURN_KIND_FULL ? o.amount - o.returned
                                                           : c.ret.returned_amount().amount_minor();
    int64_t total = o.returned + amount;
    int64_t target = o.amount == 0 ? o.earned
                                   : static_cast<int64_t>(static_cast<__int128>(o.earned) * total / o.amount);
    int64_t due = std::max<int64_t>(0, target - o.target);
    int64_t recovered = std::min(due, m.balance);
    if (!run_->Check(r.points_reversed() == recovered && r.points_unrecovered() == due - recovered &&
                         r.returned_amount().amount_minor() == amount && r.total_returned().amount_minor() == total &&
                         r.order_fully_returned() == (total == o.amount),
                     absl::StrCat(c.Text(), ": reversed ", r.points_reversed(), " unrecovered ", r.points_unrecovered(),
                                  " returned ", r.returned_amount().amount_minor(), "/",
                                  r.total_returned().amount_minor(), "; the model expects reversed ", recovered,
                                  " unrecovered ", due - recovered, " returned ", amount, "/", total, " (order amount ",
                                  o.amount, ", earned ", o.earned, ")"),
                     c.ret.order_id())) {
      return;
    }
    if (!Append(member, r.entry(), lv1::LEDGER_ENTRY_KIND_REVERSE, -recovered, c.Text())) return;
    Consume(m, recovered, o.earn_seq);
    o.returned = total;
    o.target = target;
    o.recovered += recovered;
    o.unrecovered += due - recovered;
    // A return never reverses more than the order earned; the full
    // return reverses exactly that.
    run_->Check(o.recovered + o.unrecovered <= o.earned &&
                    (total < o.amount || o.recovered + o.unrecovered == o.earned),
                absl::StrCat("order ", c.ret.order_id(), ": reversed+written off ", o.recovered + o.unrecovered, " of ",
                             o.earned, " earned (returned ", total, " of ", o.amount, ")"),
                c.ret.order_id());
    returns_[c.ret.return_id()] = ReturnModel{c.ret, r};
  }

  void ApplyRedeem(const Call& c, const std::string& member, MemberModel& m) {
    if (!Append(member, c.redeem_out.entry(), lv1::LEDGER_ENTRY_KIND_REDEEM, -c.redeem.points(), c.Text())) {
      return;
    }
    Consume(m, c.redeem.points());
  }

  // A credit is a lot of its own; a debit is spent like a redemption.
  void ApplyAdjust(const Call& c, const std::string& member, MemberModel& m) {
    int64_t d = c.adjust.points_delta();
    if (!Append(member, c.adjust_out.entry(), lv1::LEDGER_ENTRY_KIND_ADJUST, d, c.Text())) return;
    if (d > 0) {
      m.lots.push_back(Lot{c.adjust_out.entry().sequence(), LotExpiry(now_), d});
    } else {
      Consume(m, -d);
    }
  }

  // Whether a refused call was right to be refused, given the balances the
  // member had at the points a concurrent batch could have run it at.
  std::string RefusalWrong(const Call& c, const std::vector<int64_t>& balances,
                           const std::vector<int64_t>& order_left) {
    std::string reason = Reason(c.status);
    auto any_below = [&](const std::vector<int64_t>& v, int64_t need) {
      for (int64_t x : v) {
        if (x < need) return true;
      }
      return false;
    };
    switch (c.kind) {
      case Call::kRedeem:
        if (c.status.error_code() == grpc::StatusCode::FAILED_PRECONDITION && reason == "INSUFFICIENT_POINTS" &&
            any_below(balances, c.redeem.points())) {
          return "";
        }
        break;
      case Call::kAdjust:
        if (c.adjust.points_delta() < 0 && c.status.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
            reason == "INSUFFICIENT_POINTS" && any_below(balances, -c.adjust.points_delta())) {
          return "";
        }
        break;
      case Call::kReturn:
        if (c.status.error_code() == grpc::StatusCode::FAILED_PRECONDITION && reason == "RETURN_EXCEEDS_PURCHASE") {
          int64_t need = c.ret.kind() == lv1::RETURN_KIND_FULL ? 1 : c.ret.returned_amount().amount_minor();
          if (any_below(order_left, need)) return "";
        }
        break;
      case Call::kPurchase:
        break;
    }
    return absl::StrCat(c.Text(), " refused with ", St(c.status), " although the model allows it");
  }

  // Answer of a repeated key: must be the first answer, byte for byte.
  bool SameAnswer(const Call& retry, const google::protobuf::Message& first) {
    return run_->Check(retry.status.ok() && MessageDifferencer::Equals(retry.answer(), first),
                       absl::StrCat("retry of ", retry.Text(), " answered ", St(retry.status),
                                    retry.status.ok() ? " with another answer than the first" : "", "\n  first: ",
                                    first.ShortDebugString(), "\n  retry: ", retry.answer().ShortDebugString()),
                       retry.member());
  }

  // ---------------------------------------------------------- checks
  void CheckMember(const std::string& member) {
    if (run_->failed()) return;
    const MemberModel& m = model_[member];
    std::vector<lv1::LedgerEntry> ledger = Ledger(member);
    int64_t sum = 0;
    bool ok = run_->Check(ledger.size() == m.ledger.size(),
                          absl::StrCat("ledger of ", member, " has ", ledger.size(), " entries; the model expects ",
                                       m.ledger.size()),
                          member);
    for (size_t i = 0; ok && i < ledger.size(); ++i) {
      const lv1::LedgerEntry& e = ledger[i];
      sum += e.points_delta();
      ok = run_->Check(e.sequence() == static_cast<int64_t>(i + 1) && e.balance_after() == sum && sum >= 0 &&
                           e.kind() == m.ledger[i].kind && e.points_delta() == m.ledger[i].delta,
                       absl::StrCat("ledger of ", member, " entry ", i + 1, ": seq=", e.sequence(),
                                    " kind=", lv1::LedgerEntryKind_Name(e.kind()), " delta=", e.points_delta(),
                                    " balance_after=", e.balance_after(),
                                    "; expected kind=", lv1::LedgerEntryKind_Name(m.ledger[i].kind),
                                    " delta=", m.ledger[i].delta, " running sum=", sum),
                       member);
    }
    if (!ok) return;
    lv1::PointsBalance b = Balance(member);
    int64_t member_balance = GetMember(member).points_balance();
    int64_t breakdown = b.lifetime_earned() + b.lifetime_bonus() + b.lifetime_adjusted() - b.lifetime_redeemed() -
                        b.lifetime_reversed() - b.lifetime_expired();
    if (!run_->Check(b.balance() == sum && member_balance == sum && sum == m.balance && breakdown == sum,
                     absl::StrCat(member, ": sum(ledger)=", sum, " GetBalance=", b.balance(),
                                  " GetMember=", member_balance, " breakdown=", breakdown, " model=", m.balance),
                     member)) {
      return;
    }
    // Upcoming expiries are the model's open lots grouped by instant.
    std::map<absl::Time, int64_t> due;
    for (const Lot& l : m.lots) {
      if (l.remaining > 0) due[l.expire] += l.remaining;
    }
    std::vector<std::string> want, got;
    for (const auto& [t, p] : due) {
      if (want.size() < 12) want.push_back(absl::StrCat(absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone()), ":", p));
    }
    for (const auto& x : b.upcoming_expiries()) {
      got.push_back(absl::StrCat(absl::FormatTime("%Y-%m-%d", FromTimestamp(x.expire_time()), absl::UTCTimeZone()), ":",
                                 x.points()));
    }
    run_->Check(want == got,
                absl::StrCat(member, ": upcoming expiries [", absl::StrJoin(got, " "), "]; the model's lots give [",
                             absl::StrJoin(want, " "), "]"),
                member);
  }

  void CheckAll() {
    for (const auto& id : members_) CheckMember(id);
  }

  // ------------------------------------------------------ operations
  // One call on its own, then its retry (sometimes): checked and applied.
  void Sequential(Call c, bool retry) {
    run_->Log(c.Text(), {c.member(), c.kind == Call::kReturn ? c.ret.order_id() : c.key});
    // The balances the model allows the call to be judged against.
    std::vector<int64_t> balances{model_[c.member()].balance};
    std::vector<int64_t> left;
    if (c.kind == Call::kReturn) left.push_back(orders_[c.ret.order_id()].amount - orders_[c.ret.order_id()].returned);
    Issue(c);
    if (c.status.ok()) {
      Apply(c);
    } else {
      std::string wrong = RefusalWrong(c, balances, left);
      if (!run_->Check(wrong.empty(), wrong, c.member())) return;
    }
    if (retry && c.status.ok()) {
      Call again = c;
      run_->Log("retry " + c.Text(), {c.member()});
      Issue(again);
      SameAnswer(again, c.answer());
    }
    CheckMember(c.member());
  }

  void HugeAmounts() {
    const std::string& member = rng_->Pick(members_);
    int which = static_cast<int>(rng_->Uniform(0, 3));
    Call c{Call::kPurchase};
    if (which == 0) {
      c = NewPurchase(member, rng_->Chance(0.5) ? INT64_MAX : kMaxMoneyMinor + 1);
      c.purchase.clear_purchase_time();
    } else if (which == 1) {
      c = NewAdjust(member, rng_->Chance(0.5) ? (int64_t{1} << 62) : kMaxPointsPerEntry + 1);
    } else if (which == 2) {
      c = NewAdjust(member, rng_->Chance(0.5) ? INT64_MIN : -(kMaxPointsPerEntry + 1));
    } else {
      c = NewRedeem(member, INT64_MAX);
    }
    run_->Log("huge " + c.Text(), {member});
    Issue(c);
    bool invalid = c.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT;
    bool insufficient = c.status.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
                        Reason(c.status) == "INSUFFICIENT_POINTS";
    // Past the bound: INVALID_ARGUMENT naming the field (a removal or a
    // redemption larger than the balance may say INSUFFICIENT_POINTS).
    bool removal = (c.kind == Call::kAdjust && c.adjust.points_delta() < 0) || c.kind == Call::kRedeem;
    run_->Check(invalid || (removal && insufficient),
                absl::StrCat(c.Text(), " beyond the documented bound answered ", St(c.status),
                             c.status.ok() ? absl::StrCat(" and wrote ", c.answer().ShortDebugString()) : "",
                             "; expected INVALID_ARGUMENT"),
                member);
    CheckMember(member);
  }

  void Advance() {
    absl::Duration d = absl::Hours(rng_->Uniform(1, 100 * 24));
    now_ += d;
    run_->Log(absl::StrCat("advance clock by ", absl::FormatDuration(d), " to ", absl::FormatTime(now_)), {"clock"});
    LoyaltyTest::Advance(d);
    // Expiries now due: one EXPIRE entry per member and instant, oldest first.
    for (const std::string& id : members_) {
      MemberModel& m = model_[id];
      std::map<absl::Time, int64_t> due;
      for (const Lot& l : m.lots) {
        if (l.remaining > 0 && l.expire <= now_) due[l.expire] += l.remaining;
      }
      if (due.empty()) continue;
      size_t want = m.ledger.size() + due.size();
      std::vector<lv1::LedgerEntry> ledger;
      bool done = Eventually([&] {
        ledger = Ledger(id);
        return ledger.size() >= want;
      });
      if (!run_->Check(done && ledger.size() == want,
                       absl::StrCat("expiry at ", absl::FormatTime(now_), ": ", id, " has ", ledger.size(),
                                    " entries; the model expects ", want, " (", due.size(), " EXPIRE entries)"),
                       id)) {
        return;
      }
      size_t i = m.ledger.size();
      for (const auto& [t, points] : due) {
        run_->Log(absl::StrCat("  expect EXPIRE ", id, " ", points, " at ", absl::FormatTime(t)), {id});
        if (!Append(id, ledger[i++], lv1::LEDGER_ENTRY_KIND_EXPIRE, -points, "expiry")) return;
        for (Lot& l : m.lots) {
          if (l.expire == t) l.remaining = 0;
        }
      }
    }
    CheckAll();
  }

  // Several calls at once on one member: new ones, and the same key sent
  // concurrently. Applied to the model in the order of the ledger
  // sequences the service gave them.
  void Batch() {
    const std::string member = rng_->Pick(members_);
    std::vector<Call> calls;
    int n = static_cast<int>(rng_->Uniform(2, 6));
    int64_t balance = model_[member].balance;
    for (int i = 0; i < n; ++i) {
      int kind = static_cast<int>(rng_->Weighted({3, 3, 2, 2, 3}));
      if (kind == 0 && balance > 0) {
        calls.push_back(NewRedeem(member, rng_->Uniform(1, std::max<int64_t>(1, balance * 2 / 3))));
      } else if (kind == 1) {
        calls.push_back(NewPurchase(member, rng_->Uniform(1, 30000)));
      } else if (kind == 2) {
        auto r = NewReturn(false);
        if (r && orders_[r->ret.order_id()].member == member) calls.push_back(*r);
      } else if (kind == 3) {
        calls.push_back(NewAdjust(member, rng_->Chance(0.5) ? rng_->Uniform(1, 500) : -rng_->Uniform(1, 300)));
      } else if (!calls.empty()) {
        Call copy = calls[rng_->Uniform(0, static_cast<int64_t>(calls.size()) - 1)];
        calls.push_back(copy);  // the same key, concurrently
      }
    }
    if (calls.empty()) return;
    std::set<std::string> keys{member};
    std::vector<std::string> texts;
    texts.reserve(calls.size());
    for (const Call& c : calls) texts.push_back(c.Text());
    run_->Log(absl::StrCat("concurrent batch {", absl::StrJoin(texts, " | "), "}"), keys);
    std::vector<std::thread> threads;
    threads.reserve(calls.size());
    for (Call& c : calls) threads.emplace_back([this, &c] { Issue(c); });
    for (auto& t : threads) t.join();

    // One applied call per key; the others must carry the same answer.
    std::map<std::string, const Call*> first;
    std::vector<const Call*> applied, refused;
    for (const Call& c : calls) {
      if (!c.status.ok()) {
        refused.push_back(&c);
        continue;
      }
      auto [it, fresh] = first.emplace(c.key, &c);
      if (fresh) {
        applied.push_back(&c);
      } else if (!SameAnswer(c, it->second->answer())) {
        return;
      }
    }
    // A refused copy of a key another copy applied is fine when it ran
    // first and was right to refuse (a failure is not remembered): it is
    // judged like any refusal below.
    std::sort(applied.begin(), applied.end(),
              [](const Call* a, const Call* b) { return a->entry().sequence() < b->entry().sequence(); });
    std::vector<int64_t> balances{model_[member].balance};
    std::map<std::string, std::vector<int64_t>> left;
    for (const Call* c : refused) {
      if (c->kind == Call::kReturn) {
        const OrderModel& o = orders_[c->ret.order_id()];
        left[c->ret.order_id()].push_back(o.amount - o.returned);
      }
    }
    for (const Call* c : applied) {
      Apply(*c);
      if (run_->failed()) return;
      balances.push_back(model_[member].balance);
      for (auto& [order, v] : left) v.push_back(orders_[order].amount - orders_[order].returned);
    }
    for (const Call* c : refused) {
      std::string wrong = RefusalWrong(*c, balances,
                                       c->kind == Call::kReturn ? left[c->ret.order_id()] : std::vector<int64_t>{});
      if (!run_->Check(wrong.empty(), wrong, member)) return;
    }
    CheckMember(member);
  }

  // An earlier order's key again: the same request must get the first answer back, another body
  // REQUEST_ID_REUSED.
  void LateOrderRetry() {
    if (orders_.empty()) return;
    std::vector<std::string> ids;
    for (const auto& [id, o] : orders_) ids.push_back(id);
    const OrderModel& o = orders_[rng_->Pick(ids)];
    // (CARE_PROPERTY_SKIP=late_retry looks past the back-dated retry
    // refused by the purchase_time window, reported on issue 15.)
    if (property::Skipped("late_retry") && o.request.has_purchase_time()) return;
    Call c{Call::kPurchase};
    c.key = o.request.order_id();
    c.purchase = o.request;
    bool reuse = rng_->Chance(0.3);
    if (reuse) c.purchase.mutable_amount()->set_amount_minor(o.request.amount().amount_minor() + 1);
    run_->Log((reuse ? "reuse order_id with another amount " : "late retry ") + c.Text(), {o.member, c.key});
    Issue(c);
    if (reuse) {
      run_->Check(c.status.error_code() == grpc::StatusCode::ALREADY_EXISTS && Reason(c.status) == "REQUEST_ID_REUSED",
                  absl::StrCat(c.Text(), " reusing order ", c.key, " answered ", St(c.status),
                               "; expected ALREADY_EXISTS/REQUEST_ID_REUSED"),
                  o.member);
    } else {
      SameAnswer(c, o.answer);
    }
    CheckMember(o.member);
  }

  // An earlier return sent again gets the first answer back.
  void LateReturnRetry() {
    if (returns_.empty()) return;
    std::vector<std::string> ids;
    for (const auto& [id, r] : returns_) ids.push_back(id);
    const ReturnModel& r = returns_[rng_->Pick(ids)];
    Call c{Call::kReturn};
    c.key = r.request.return_id();
    c.ret = r.request;
    run_->Log("late retry " + c.Text(), {r.request.member_id(), r.request.order_id()});
    Issue(c);
    SameAnswer(c, r.answer);
    CheckMember(orders_[r.request.order_id()].member);
  }

  void Step() {
    const std::string& member = rng_->Pick(members_);
    int64_t balance = model_[member].balance;
    size_t op = rng_->Weighted({30, 14, 14, 10, 8, 6, 3, 2, 10});
    // The first member mostly saves, so its points live to expire.
    if ((op == 2 || op == 3) && member == members_[0] && rng_->Chance(0.8)) op = 0;
    switch (op) {
      case 0:
        Sequential(NewPurchase(member, rng_->Chance(0.05) ? 0 : rng_->Uniform(1, 40000)), rng_->Chance(0.2));
        break;
      case 1: {
        auto r = NewReturn(true);
        if (r) Sequential(*r, rng_->Chance(0.2));
        break;
      }
      case 2: {
        // Sometimes more than the balance: INSUFFICIENT_POINTS.
        // Mostly small, so some lots live long enough to expire.
        int64_t points = rng_->Chance(0.15) ? balance + rng_->Uniform(1, 100)
                                            : rng_->Uniform(1, std::max<int64_t>(1, balance / 6));
        Sequential(NewRedeem(member, points), rng_->Chance(0.25));
        break;
      }
      case 3: {
        int64_t delta = rng_->Chance(0.6)
                            ? rng_->Uniform(1, 800)
                            : -(rng_->Chance(0.2) ? balance + 1 : rng_->Uniform(1, std::max<int64_t>(1, balance / 6)));
        Sequential(NewAdjust(member, delta), rng_->Chance(0.25));
        break;
      }
      case 4:
        LateOrderRetry();
        break;
      case 5:
        LateReturnRetry();
        break;
      case 6:
        Advance();
        break;
      case 7:
        if (!property::Skipped("huge")) HugeAmounts();
        break;
      default:
        Batch();
        break;
    }
  }

  void RunSeed(const std::string& name, uint64_t seed) {
    PropertyRun run(name, seed, property::Steps(kDefaultSteps));
    Rng rng(seed);
    run_ = &run;
    rng_ = &rng;
    const absl::Duration took = run.Drive(
        100, [&] { Step(); }, [&] { CheckAll(); });
    std::cout << "[property] " << name << " seed=" << seed << ": " << run.step() << " steps in "
              << absl::FormatDuration(took) << run.outcome() << std::endl;
    std::vector<std::string> kinds;
    for (const auto& [k, n] : entries_by_kind_) kinds.push_back(absl::StrCat(k, "=", n));
    std::cout << "[property] entries written: " << absl::StrJoin(kinds, " ") << std::endl;
  }

  PropertyRun* run_ = nullptr;
  Rng* rng_ = nullptr;
  absl::Time now_;
  int serial_ = 0;
  std::vector<std::string> members_;
  std::map<std::string, MemberModel> model_;
  std::map<std::string, OrderModel> orders_;
  std::map<std::string, ReturnModel> returns_;
  std::map<std::string, int> entries_by_kind_;  // what the run exercised
};

// The fixed seed every CI run replays (or CARE_PROPERTY_SEED).
TEST_F(LoyaltyPropertyTest, PointsLedgerMatchesModelFixedSeed) {
  RunSeed("loyalty.points", property::EnvSeed().value_or(20261206));
}

// A fresh seed each run, printed above so a failure replays.
TEST_F(LoyaltyPropertyTest, PointsLedgerMatchesModelFreshSeed) {
  if (property::EnvSeed()) GTEST_SKIP() << "CARE_PROPERTY_SEED replays one seed (the fixed-seed test)";
  RunSeed("loyalty.points", property::FreshSeed());
}

}  // namespace
}  // namespace care::testing
