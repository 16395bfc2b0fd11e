// carectl loyalty ...: members, points and tiers (care.loyalty.v1).

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "care/loyalty/v1/loyalty.grpc.pb.h"
#include "tools/carectl/commands.h"

namespace carectl {
namespace {

namespace v1 = care::loyalty::v1;

std::unique_ptr<v1::LoyaltyService::Stub> Stub(const Context& c) { return v1::LoyaltyService::NewStub(c.channel()); }

std::string Tier(const v1::TierSnapshot& t) { return absl::StrCat(t.tier_display_name(), " (", t.tier_id(), ")"); }

void PrintMember(const v1::Member& m) {
  PrintFields({{"MEMBER", m.member_id()},
               {"NAME", m.name()},
               {"EMAIL", m.email().empty() ? "-" : m.email()},
               {"TIER", absl::StrCat(m.tier().tier_display_name(), " (", m.tier().tier_id(), "), ",
                                     EnumName(v1::TierState_descriptor(), m.tier().state()))},
               {"POINTS", absl::StrCat(m.points_balance())},
               {"LIFETIME SPEND", Money(m.lifetime_spend())},
               {"VISITS", absl::StrCat(m.visit_count())},
               {"ENROLLED", Time(m.create_time())},
               {"VERSION", absl::StrCat(m.version())}});
}

void PrintEntries(const google::protobuf::RepeatedPtrField<v1::LedgerEntry>& entries) {
  Table t({"SEQ", "KIND", "POINTS", "BALANCE", "EFFECTIVE", "EXPIRES", "ENTRY"});
  for (const auto& e : entries) {
    t.Row({absl::StrCat(e.sequence()), EnumName(v1::LedgerEntryKind_descriptor(), e.kind()),
           absl::StrCat(e.points_delta() > 0 ? "+" : "", e.points_delta()), absl::StrCat(e.balance_after()),
           Time(e.effective_time()), Time(e.expire_time()), e.entry_id()});
  }
  t.Print("(no ledger entries)");
}

int Enrol(Context& c, Args& a) {
  v1::EnrolMemberRequest req;
  req.mutable_member()->set_member_id(a.Positional("member_id"));
  req.mutable_member()->set_name(a.Flag("name"));
  if (req.member().name().empty()) throw UsageError("--name is required");
  req.mutable_member()->set_email(a.Flag("email"));
  req.mutable_member()->set_phone(a.Flag("phone"));
  req.mutable_member()->set_locale(a.Flag("locale"));
  req.mutable_member()->set_time_zone(a.Flag("time_zone"));
  req.mutable_member()->set_segment(a.Flag("segment"));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::Member resp;
  return c.Finish(Stub(c)->EnrolMember(c.NewCall().get(), req, &resp), resp, [&] { PrintMember(resp); });
}

int GetMember(Context& c, Args& a) {
  v1::GetMemberRequest req;
  req.set_member_id(a.Positional("member_id"));
  a.Done();
  v1::Member resp;
  return c.Finish(Stub(c)->GetMember(c.NewCall().get(), req, &resp), resp, [&] { PrintMember(resp); });
}

int Purchase(Context& c, Args& a) {
  v1::RecordPurchaseRequest req;
  req.set_member_id(a.Positional("member_id"));
  req.set_order_id(a.Positional("order_id"));
  std::string amount = a.Positional("amount");
  *req.mutable_amount() = ParseMoney(amount, a.Flag("currency", "USD"));
  if (std::string t = a.Flag("time"); !t.empty()) *req.mutable_purchase_time() = ParseTime("time", t);
  req.set_store_id(a.Flag("store"));
  req.set_no_points(a.BoolFlag("no_points"));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::RecordPurchaseResponse resp;
  return c.Finish(Stub(c)->RecordPurchase(c.NewCall().get(), req, &resp), resp, [&] {
    PrintFields({{"ORDER", resp.order_id()},
                 {"MEMBER", resp.member_id()},
                 {"EARNED", absl::StrCat(resp.points_earned())},
                 {"BALANCE", absl::StrCat(resp.points_balance())},
                 {"TIER", resp.tier_changed() ? absl::StrCat(Tier(resp.tier()), ", was ", resp.previous_tier_id())
                                              : Tier(resp.tier())},
                 {"VISIT", EnumName(v1::VisitOutcome_descriptor(), resp.visit_outcome())}});
  });
}

int Return(Context& c, Args& a) {
  v1::RecordReturnRequest req;
  req.set_member_id(a.Positional("member_id"));
  req.set_order_id(a.Positional("order_id"));
  req.set_return_id(a.Positional("return_id"));
  std::string amount = a.OptionalPositional("amount");
  if (amount.empty()) {
    req.set_kind(v1::RETURN_KIND_FULL);
  } else {
    req.set_kind(v1::RETURN_KIND_PARTIAL);
    *req.mutable_returned_amount() = ParseMoney(amount, a.Flag("currency", "USD"));
  }
  req.set_reason(a.Flag("reason"));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::RecordReturnResponse resp;
  return c.Finish(Stub(c)->RecordReturn(c.NewCall().get(), req, &resp), resp, [&] {
    PrintFields({{"RETURN", resp.return_id()},
                 {"ORDER", resp.order_id()},
                 {"RETURNED", Money(resp.returned_amount())},
                 {"POINTS REVERSED", absl::StrCat(resp.points_reversed())},
                 {"BALANCE", absl::StrCat(resp.points_balance())},
                 {"TIER", Tier(resp.tier())}});
  });
}

template <typename Response>
void PrintPointsChange(const Response& resp) {
  PrintFields({{"ENTRY", resp.entry().entry_id()},
               {"POINTS", absl::StrCat(resp.entry().points_delta())},
               {"BALANCE", absl::StrCat(resp.points_balance())}});
}

int Redeem(Context& c, Args& a) {
  v1::RedeemPointsRequest req;
  req.set_member_id(a.Positional("member_id"));
  req.set_points(a.IntPositional("points"));
  req.set_order_id(a.Flag("order"));
  req.set_description(a.Flag("description"));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::RedeemPointsResponse resp;
  return c.Finish(Stub(c)->RedeemPoints(c.NewCall().get(), req, &resp), resp, [&] { PrintPointsChange(resp); });
}

int Adjust(Context& c, Args& a) {
  v1::AdjustPointsRequest req;
  req.set_member_id(a.Positional("member_id"));
  req.set_points_delta(a.IntPositional("points_delta"));
  req.set_reason_code(a.Flag("reason_code"));
  if (req.reason_code().empty()) throw UsageError("--reason-code is required (e.g. GOODWILL, CORRECTION)");
  req.set_complaint_id(a.Flag("complaint"));
  req.set_note(a.Flag("note"));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::AdjustPointsResponse resp;
  return c.Finish(Stub(c)->AdjustPoints(c.NewCall().get(), req, &resp), resp, [&] { PrintPointsChange(resp); });
}

int GetTier(Context& c, Args& a) {
  v1::GetTierRequest req;
  req.set_member_id(a.Positional("member_id"));
  a.Done();
  v1::TierSnapshot resp;
  return c.Finish(Stub(c)->GetTier(c.NewCall().get(), req, &resp), resp, [&] {
    PrintFields({{"MEMBER", resp.member_id()},
                 {"TIER", Tier(resp)},
                 {"RANK", absl::StrCat(resp.tier_rank())},
                 {"MULTIPLIER", absl::StrCat("x", resp.benefits().points_multiplier_bps() / 10000.0)},
                 {"VERSION", absl::StrCat(resp.version())},
                 {"UPDATED", Time(resp.update_time())}});
  });
}

int Ledger(Context& c, Args& a) {
  v1::ListLedgerEntriesRequest req;
  req.set_member_id(a.Positional("member_id"));
  req.set_order_id(a.Flag("order"));
  req.set_page_size(static_cast<int32_t>(a.IntFlag("page_size", 50)));
  req.set_page_token(a.Flag("page_token"));
  a.Done();
  v1::ListLedgerEntriesResponse resp;
  return c.Finish(Stub(c)->ListLedgerEntries(c.NewCall().get(), req, &resp), resp, [&] {
    PrintEntries(resp.entries());
    PrintNextPage(resp.next_page_token());
  });
}

int Balance(Context& c, Args& a) {
  v1::GetBalanceRequest req;
  req.set_member_id(a.Positional("member_id"));
  a.Done();
  v1::PointsBalance resp;
  return c.Finish(Stub(c)->GetBalance(c.NewCall().get(), req, &resp), resp, [&] {
    PrintFields({{"MEMBER", resp.member_id()},
                 {"BALANCE", absl::StrCat(resp.balance())},
                 {"EARNED", absl::StrCat(resp.lifetime_earned())},
                 {"REDEEMED", absl::StrCat(resp.lifetime_redeemed())},
                 {"EXPIRED", absl::StrCat(resp.lifetime_expired())},
                 {"EXPIRING SOON", absl::StrCat(resp.points_expiring_soon())}});
  });
}

// Audience of an occasion or cadence rule: its tiers and segments.
std::string Audience(const google::protobuf::RepeatedPtrField<std::string>& tiers,
                     const google::protobuf::RepeatedPtrField<std::string>& segments) {
  std::vector<std::string> who(tiers.begin(), tiers.end());
  who.insert(who.end(), segments.begin(), segments.end());
  return who.empty() ? "everyone" : absl::StrJoin(who, ",");
}

std::string Days(const google::protobuf::Duration& d) {
  return d.seconds() % 86400 == 0 ? absl::StrCat(d.seconds() / 86400, "d") : absl::StrCat(d.seconds(), "s");
}

void PrintOccasions(const v1::Program& p) {
  if (p.occasions_size() == 0) return;
  Table o({"OCCASION", "NAME", "WHEN", "POINTS", "REWARD", "FOR"});
  for (const auto& occasion : p.occasions()) {
    std::string when = "anniversary";
    if (occasion.has_membership_anniversary() && occasion.membership_anniversary().years_size() > 0) {
      when = absl::StrCat("anniversary ", absl::StrJoin(occasion.membership_anniversary().years(), ","));
    } else if (occasion.has_date()) {
      const auto& d = occasion.date();
      when = d.year() == 0 ? absl::StrFormat("every %02d-%02d", d.month(), d.day())
                           : absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
    }
    o.Row({occasion.occasion_id(), occasion.display_name(), when, absl::StrCat(occasion.points()),
           occasion.reward_id().empty() ? "-" : occasion.reward_id(),
           Audience(occasion.tier_ids(), occasion.segments())});
  }
  o.Print("");
}

void PrintCadenceRules(const v1::Program& p) {
  if (p.cadence_rules_size() == 0) return;
  Table r({"CADENCE RULE", "NAME", "WHEN", "FOR", "SENDS"});
  for (const auto& rule : p.cadence_rules()) {
    const std::string when = rule.has_since_enrolment()
                                 ? absl::StrCat(Days(rule.since_enrolment()), " after joining, once")
                                 : absl::StrCat("no purchase for ", Days(rule.no_purchase_for()), ", at most every ",
                                                Days(rule.period()));
    // AGENT_TASK: a check-in ticket in complaint, in the team's queue.
    const std::string sends = rule.action() != v1::CADENCE_ACTION_AGENT_TASK ? "message"
                              : rule.team_id().empty()                       ? "agent task"
                                                       : absl::StrCat("agent task (team ", rule.team_id(), ")");
    r.Row({rule.rule_id(), rule.display_name(), when, Audience(rule.tier_ids(), rule.segments()), sends});
  }
  r.Print("");
}

void PrintProgram(const v1::Program& p) {
  PrintFields({{"PROGRAM", p.display_name()},
               {"VERSION", absl::StrCat(p.version())},
               {"CURRENCY", p.currency_code()},
               {"TIME ZONE", p.time_zone()},
               {"EARN",
                absl::StrCat(p.earn_rule().points_per_unit(), " point(s) per ", Money(p.earn_rule().unit_amount()))},
               {"EFFECTIVE", Time(p.effective_time())},
               {"BY", p.actor().empty() ? "-" : p.actor()},
               {"NOTE", p.change_note().empty() ? "-" : p.change_note()}});
  Table t({"RANK", "TIER", "NAME", "QUALIFYING SPEND", "MULTIPLIER"});
  for (const auto& tier : p.tiers()) {
    t.Row({absl::StrCat(tier.rank()), tier.tier_id(), tier.display_name(), Money(tier.qualifying_spend()),
           absl::StrCat("x", tier.benefits().points_multiplier_bps() / 10000.0)});
  }
  t.Print("(no tiers)");
  PrintOccasions(p);
  PrintCadenceRules(p);
}

int ProgramGet(Context& c, Args& a) {
  v1::GetProgramRequest req;
  req.set_version(a.IntFlag("version", 0));
  a.Done();
  v1::Program resp;
  return c.Finish(Stub(c)->GetProgram(c.NewCall().get(), req, &resp), resp, [&] { PrintProgram(resp); });
}

int ProgramSet(Context& c, Args& a) {
  v1::UpdateProgramRequest req;
  std::string file = a.Flag("file");
  if (file.empty()) throw UsageError("--file is required: the program as JSON (carectl loyalty program get -o json)");
  ReadMessageFile(file, req.mutable_program());
  for (absl::string_view path : absl::StrSplit(a.Flag("only"), ',', absl::SkipEmpty())) {
    req.mutable_update_mask()->add_paths(std::string(path));
  }
  req.set_change_note(a.Flag("note"));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::Program resp;
  return c.Finish(Stub(c)->UpdateProgram(c.NewCall().get(), req, &resp), resp, [&] { PrintProgram(resp); });
}

int ProgramVersions(Context& c, Args& a) {
  v1::ListProgramVersionsRequest req;
  req.set_page_size(static_cast<int32_t>(a.IntFlag("page_size", 50)));
  req.set_page_token(a.Flag("page_token"));
  a.Done();
  v1::ListProgramVersionsResponse resp;
  return c.Finish(Stub(c)->ListProgramVersions(c.NewCall().get(), req, &resp), resp, [&] {
    Table t({"VERSION", "EFFECTIVE", "SUPERSEDED", "BY", "NOTE"});
    for (const auto& p : resp.programs()) {
      t.Row({absl::StrCat(p.version()), Time(p.effective_time()), Time(p.superseded_time()),
             p.actor().empty() ? "-" : p.actor(), p.change_note().empty() ? "-" : p.change_note()});
    }
    t.Print("(no program yet)");
    PrintNextPage(resp.next_page_token());
  });
}

int MemberList(Context& c, Args& a) {
  v1::ListMembersRequest req;
  for (absl::string_view t : absl::StrSplit(a.Flag("tier"), ',', absl::SkipEmpty())) req.add_tier_ids(std::string(t));
  for (absl::string_view s : absl::StrSplit(a.Flag("segment"), ',', absl::SkipEmpty())) {
    req.add_segments(std::string(s));
  }
  req.set_email(a.Flag("email"));
  req.set_phone(a.Flag("phone"));
  req.set_page_size(static_cast<int32_t>(a.IntFlag("page_size", 50)));
  req.set_page_token(a.Flag("page_token"));
  a.Done();
  v1::ListMembersResponse resp;
  return c.Finish(Stub(c)->ListMembers(c.NewCall().get(), req, &resp), resp, [&] {
    Table t({"MEMBER", "NAME", "TIER", "POINTS", "SEGMENT", "ENROLLED"});
    for (const auto& m : resp.members()) {
      t.Row({m.member_id(), m.name(), m.tier().tier_id(), absl::StrCat(m.points_balance()),
             m.segment().empty() ? "-" : m.segment(), Time(m.create_time())});
    }
    t.Print("(no members)");
    PrintNextPage(resp.next_page_token());
  });
}

v1::LocalDate DateArg(Args& a, const std::string& name) {
  absl::CivilDay day;
  const std::string text = a.Positional(name);
  if (!absl::ParseCivilTime(text, &day)) throw UsageError(absl::StrCat(name, " must be YYYY-MM-DD, got ", text));
  v1::LocalDate d;
  d.set_year(static_cast<int32_t>(day.year()));
  d.set_month(day.month());
  d.set_day(day.day());
  return d;
}

std::string DateText(const v1::LocalDate& d) {
  return absl::StrCat(d.year(), "-", d.month() < 10 ? "0" : "", d.month(), "-", d.day() < 10 ? "0" : "", d.day());
}

std::string Percent(int32_t bps) { return absl::StrCat(bps / 100, ".", bps % 100 < 10 ? "0" : "", bps % 100, "%"); }

int Analytics(Context& c, Args& a) {
  v1::GetLoyaltyAnalyticsRequest req;
  *req.mutable_start_date() = DateArg(a, "start_date");
  *req.mutable_end_date() = DateArg(a, "end_date");
  const std::string by = a.Flag("by");
  if (by == "month") {
    req.set_granularity(v1::GetLoyaltyAnalyticsRequest::MONTH);
  } else if (by.empty() || by == "day") {
    req.set_granularity(v1::GetLoyaltyAnalyticsRequest::DAY);
  } else {
    throw UsageError("--by must be day or month");
  }
  a.Done();
  v1::LoyaltyAnalytics resp;
  return c.Finish(Stub(c)->GetLoyaltyAnalytics(c.NewCall().get(), req, &resp), resp, [&] {
    Table t({"PERIOD", "MEMBERS", "JOINED", "LEFT", "UP", "DOWN", "ACTIVE", "ACTIVE%", "REPEAT%", "PURCHASES", "ISSUED",
             "REDEEMED", "EXPIRED", "OUTSTANDING", "LIABILITY"});
    for (const auto& p : resp.periods()) {
      t.Row({by == "month" ? DateText(p.start_date()).substr(0, 7) : DateText(p.start_date()),
             absl::StrCat(p.members()), absl::StrCat(p.enrolled()), absl::StrCat(p.erased()),
             absl::StrCat(p.upgrades()), absl::StrCat(p.downgrades()), absl::StrCat(p.active_members()),
             Percent(p.active_rate_bps()), Percent(p.repeat_rate_bps()), absl::StrCat(p.purchases()),
             absl::StrCat(p.points().issued()), absl::StrCat(p.points().redeemed()), absl::StrCat(p.points().expired()),
             absl::StrCat(p.outstanding_points()),
             p.has_outstanding_liability() ? Money(p.outstanding_liability()) : "-"});
    }
    t.Print("(no periods)");
  });
}

}  // namespace

std::vector<Command> LoyaltyCommands() {
  const std::string id = " [--request-id=ID]";
  return {
      {"loyalty", "enrol", "<member_id> --name=NAME [--email=] [--phone=] [--locale=] [--time-zone=] [--segment=]" + id,
       "enrols a member (EnrolMember)", Enrol},
      {"loyalty", "get-member", "<member_id>", "shows a member's profile, tier and points (GetMember)", GetMember},
      {"loyalty", "purchase",
       "<member_id> <order_id> <amount> [--currency=USD] [--time=RFC3339] [--store=] [--no-points]" + id,
       "records a purchase; amount in major units, e.g. 125.50 (RecordPurchase)", Purchase},
      {"loyalty", "return", "<member_id> <order_id> <return_id> [<amount>] [--currency=USD] [--reason=]" + id,
       "records a return: full without an amount, partial with one (RecordReturn)", Return},
      {"loyalty", "redeem", "<member_id> <points> [--order=] [--description=]" + id, "spends points (RedeemPoints)",
       Redeem},
      {"loyalty", "adjust", "<member_id> <points_delta> --reason-code=CODE [--complaint=] [--note=]" + id,
       "adds (> 0) or removes (< 0) points, e.g. goodwill (AdjustPoints; a supervisor or admin token)", Adjust},
      {"loyalty", "tier", "<member_id>", "shows the member's tier snapshot (GetTier)", GetTier},
      {"loyalty", "balance", "<member_id>", "shows the points balance and lifetime totals (GetBalance)", Balance},
      {"loyalty", "ledger", "<member_id> [--order=] [--page-size=50] [--page-token=]",
       "lists ledger entries, newest first (ListLedgerEntries)", Ledger},
      {"loyalty member", "list",
       "[--tier=T1,T2] [--segment=S1,S2] [--email=] [--phone=] [--page-size=50] [--page-token=]",
       "lists members, filtered by tier, segment, email or phone (ListMembers)", MemberList},
      {"loyalty", "analytics", "<start_date> <end_date> [--by=day|month]",
       "the program's figures per local day or month, from the rollups: members and movements, active and "
       "repeat rates, points issued/redeemed/expired, the outstanding liability (GetLoyaltyAnalytics; admin)",
       Analytics},
      {"loyalty program", "get", "[--version=N]", "shows the program in force, or an earlier version (GetProgram)",
       ProgramGet},
      {"loyalty program", "set", "--file=PROGRAM.json [--only=PATH,...] [--note=]" + id,
       "sets the program from its JSON form; its version must be the one in force (0 for the first); --only "
       "takes just those fields, e.g. earn_rule,tiers (UpdateProgram; admin)",
       ProgramSet},
      {"loyalty program", "versions", "[--page-size=50] [--page-token=]",
       "lists the program's versions, newest first (ListProgramVersions)", ProgramVersions},
  };
}

}  // namespace carectl
