// carectl promotion ...: campaigns and checkout for operators and support
// (care.promotion.v1): create from a JSON file, show, announce, reschedule,
// cancel, report, quote a cart, redeem, cancel a redemption, show it.

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "care/promotion/v1/promotion.grpc.pb.h"
#include "tools/carectl/commands.h"

namespace carectl {
namespace {

namespace v1 = care::promotion::v1;

std::unique_ptr<v1::PromotionService::Stub> Stub(const Context& c) {
  return v1::PromotionService::NewStub(c.channel());
}

// The locales the campaign's title is translated into, sorted ("-": none).
std::string Languages(const v1::Campaign& c) {
  std::vector<std::string> locales;
  for (const auto& [locale, title] : c.localized_display_names()) locales.push_back(locale);
  std::sort(locales.begin(), locales.end());
  return locales.empty() ? "-" : absl::StrJoin(locales, ", ");
}

void PrintCampaign(const v1::Campaign& c) {
  PrintFields({{"CAMPAIGN", c.campaign_id()},
               {"NAME", c.display_name()},
               {"STATE", EnumName(v1::CampaignState_descriptor(), c.state())},
               {"VERSION", absl::StrCat(c.version())},
               {"STARTS", Time(c.starts_at())},
               {"ENDS", Time(c.ends_at())},
               {"TIME ZONE", c.time_zone().empty() ? "-" : c.time_zone()},
               {"LANGUAGES", Languages(c)},
               {"RULES", absl::StrCat(c.rules_size())},
               {"ALERT DUE", Time(c.alert_due_time())}});
}

int Create(Context& c, Args& a) {
  v1::CreateCampaignRequest req;
  ReadMessageFile(a.Positional("campaign.json"), req.mutable_campaign());
  req.set_campaign_id(a.Flag("id"));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::Campaign resp;
  return c.Finish(Stub(c)->CreateCampaign(c.NewCall().get(), req, &resp), resp, [&] { PrintCampaign(resp); });
}

int Show(Context& c, Args& a) {
  v1::GetCampaignRequest req;
  req.set_campaign_id(a.Positional("campaign_id"));
  req.set_version(a.IntFlag("version", 0));
  a.Done();
  v1::Campaign resp;
  return c.Finish(Stub(c)->GetCampaign(c.NewCall().get(), req, &resp), resp, [&] { PrintCampaign(resp); });
}

int Announce(Context& c, Args& a) {
  v1::AnnounceCampaignRequest req;
  req.set_campaign_id(a.Positional("campaign_id"));
  req.set_allow_short_notice(a.BoolFlag("short_notice"));
  req.set_expected_version(a.IntFlag("expected_version", 0));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::Campaign resp;
  return c.Finish(Stub(c)->AnnounceCampaign(c.NewCall().get(), req, &resp), resp, [&] { PrintCampaign(resp); });
}

int Reschedule(Context& c, Args& a) {
  v1::RescheduleCampaignRequest req;
  req.set_campaign_id(a.Positional("campaign_id"));
  *req.mutable_starts_at() = ParseTime("--starts", a.Flag("starts"));
  if (std::string ends = a.Flag("ends"); !ends.empty()) *req.mutable_ends_at() = ParseTime("--ends", ends);
  req.set_allow_short_notice(a.BoolFlag("short_notice"));
  req.set_expected_version(a.IntFlag("expected_version", 0));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::Campaign resp;
  return c.Finish(Stub(c)->RescheduleCampaign(c.NewCall().get(), req, &resp), resp, [&] { PrintCampaign(resp); });
}

int Cancel(Context& c, Args& a) {
  v1::CancelCampaignRequest req;
  req.set_campaign_id(a.Positional("campaign_id"));
  req.set_reason(a.Flag("reason"));
  req.set_expected_version(a.IntFlag("expected_version", 0));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::Campaign resp;
  return c.Finish(Stub(c)->CancelCampaign(c.NewCall().get(), req, &resp), resp, [&] { PrintCampaign(resp); });
}

int Report(Context& c, Args& a) {
  v1::GetCampaignReportRequest req;
  req.set_campaign_id(a.Positional("campaign_id"));
  a.Done();
  v1::CampaignReport resp;
  return c.Finish(Stub(c)->GetCampaignReport(c.NewCall().get(), req, &resp), resp, [&] {
    PrintFields({{"CAMPAIGN", resp.campaign_id()},
                 {"STATE", EnumName(v1::CampaignState_descriptor(), resp.state())},
                 {"REDEMPTIONS", absl::StrCat(resp.redemptions())},
                 {"CANCELLED", absl::StrCat(resp.cancelled_redemptions())},
                 {"CUSTOMERS", absl::StrCat(resp.unique_customers())},
                 {"DISCOUNT GIVEN", Money(resp.discount_given())},
                 {"BUDGET LEFT", resp.has_budget_left() ? Money(resp.budget_left()) : "-"},
                 {"REDEMPTIONS LEFT", resp.has_redemptions_left() ? absl::StrCat(resp.redemptions_left()) : "-"}});
  });
}

// "SKU:CATEGORY:QTY:PRICE" (category may be empty: "SKU::2:9.99").
v1::CartLine ParseLine(const std::string& text, const std::string& currency, int n) {
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  int qty = 0;
  if (parts.size() != 4 || parts[0].empty() || !absl::SimpleAtoi(parts[2], &qty)) {
    throw UsageError(absl::StrCat("line \"", text, "\" must be SKU:CATEGORY:QTY:PRICE"));
  }
  v1::CartLine line;
  line.set_line_id(absl::StrCat("l", n));
  line.set_sku(parts[0]);
  line.set_category(parts[1]);
  line.set_quantity(qty);
  *line.mutable_unit_price() = ParseMoney(parts[3], currency);
  return line;
}

int QuoteCart(Context& c, Args& a) {
  v1::QuoteRequest req;
  std::string member = a.Flag("member"), guest = a.Flag("guest");
  if (member.empty() == guest.empty()) throw UsageError("give exactly one of --member=ID and --guest=KEY");
  if (!member.empty()) req.mutable_customer()->set_member_id(member);
  if (!guest.empty()) req.mutable_customer()->mutable_guest()->set_guest_key(guest);
  req.set_currency_code(a.Flag("currency", "USD"));
  if (std::string shipping = a.Flag("shipping"); !shipping.empty()) {
    *req.mutable_shipping() = ParseMoney(shipping, req.currency_code());
  }
  if (std::string voucher = a.Flag("voucher"); !voucher.empty()) req.add_voucher_codes(voucher);
  // --explain: every campaign's verdict and every adjustment, for an agent
  // explaining a price.
  if (a.BoolFlag("explain")) {
    req.set_explain_all(true);
    req.set_view(v1::QUOTE_VIEW_FULL);
  }
  for (std::string line = a.Positional("SKU:CATEGORY:QTY:PRICE"); !line.empty(); line = a.OptionalPositional("line")) {
    *req.add_lines() = ParseLine(line, req.currency_code(), req.lines_size() + 1);
  }
  a.Done();
  v1::QuoteResponse resp;
  return c.Finish(Stub(c)->Quote(c.NewCall().get(), req, &resp), resp, [&] {
    Table lines({"LINE", "SKU", "QTY", "SUBTOTAL", "DISCOUNT", "TOTAL"});
    for (const auto& l : resp.lines()) {
      lines.Row({l.line_id(), l.sku(), absl::StrCat(l.quantity()), Money(l.subtotal()), Money(l.discount()),
                 Money(l.total())});
    }
    lines.Print();
    if (req.view() == v1::QUOTE_VIEW_FULL) {  // which rule took what off which line
      Table adjustments({"LINE", "SOURCE", "CAMPAIGN", "RULE", "UNITS", "AMOUNT"});
      auto add = [&](const std::string& line, const v1::Adjustment& adj) {
        adjustments.Row({line, EnumName(v1::AdjustmentSource_descriptor(), adj.source()), adj.campaign_id(),
                         adj.rule_id(), absl::StrCat(adj.units()), Money(adj.amount())});
      };
      for (const auto& l : resp.lines()) {
        for (const auto& adj : l.adjustments()) add(l.line_id(), adj);
      }
      for (const auto& adj : resp.shipping().adjustments()) add("shipping", adj);
      adjustments.Print("(no adjustment)");
    }
    Table applied({"CAMPAIGN", "VERSION", "DISCOUNT", "FREE SHIPPING", "FREE RETURNS"});
    for (const auto& ac : resp.applied_campaigns()) {
      applied.Row({ac.campaign_id(), absl::StrCat(ac.campaign_version()), Money(ac.discount()),
                   ac.free_shipping() ? "yes" : "no", ac.free_returns() ? "yes" : "no"});
    }
    applied.Print("(no campaign applies)");
    for (const auto& r : resp.rejected_campaigns()) {
      std::printf("not applied: %s (%s)\n", r.campaign_id().c_str(),
                  EnumName(v1::RejectionReason_descriptor(), r.reason()).c_str());
    }
    PrintFields({{"TOTAL", Money(resp.totals().total())},
                 {"DISCOUNT", Money(resp.totals().total_discount())},
                 {"EARNS POINTS", resp.earns_points() ? "yes" : "no"},
                 {"BONUS POINTS", absl::StrCat(resp.bonus_points())},
                 {"EXPIRES", Time(resp.expire_time())},
                 {"QUOTE TOKEN", resp.quote_token()}});
  });
}

void PrintRedemption(const v1::Redemption& r) {
  PrintFields({{"ORDER", r.order_id()},
               {"STATE", EnumName(v1::RedemptionState_descriptor(), r.state())},
               {"TOTAL", Money(r.totals().total())},
               {"DISCOUNT", Money(r.totals().total_discount())},
               {"CAMPAIGNS", absl::StrCat(r.campaigns_size())},
               {"BONUS", absl::StrCat(r.bonus_points(), " points")},
               {"RELEASED", r.has_discount_released() ? Money(r.discount_released()) : "-"}});
}

int Redeem(Context& c, Args& a) {
  v1::RedeemQuoteRequest req;
  req.set_order_id(a.Positional("order_id"));
  req.set_quote_token(a.Positional("quote_token"));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::Redemption resp;
  return c.Finish(Stub(c)->RedeemQuote(c.NewCall().get(), req, &resp), resp, [&] { PrintRedemption(resp); });
}

int CancelRedemption(Context& c, Args& a) {
  v1::CancelRedemptionRequest req;
  req.set_order_id(a.Positional("order_id"));
  req.set_reason(a.Flag("reason"));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::Redemption resp;
  return c.Finish(Stub(c)->CancelRedemption(c.NewCall().get(), req, &resp), resp, [&] { PrintRedemption(resp); });
}

int ShowRedemption(Context& c, Args& a) {
  v1::GetRedemptionRequest req;
  req.set_order_id(a.Positional("order_id"));
  a.Done();
  v1::Redemption resp;
  return c.Finish(Stub(c)->GetRedemption(c.NewCall().get(), req, &resp), resp, [&] { PrintRedemption(resp); });
}

}  // namespace

std::vector<Command> PromotionCommands() {
  return {
      {"promotion", "create", "<campaign.json|-> [--id=] [--request-id=ID]",
       "creates a DRAFT campaign from its JSON form (CreateCampaign)", Create},
      {"promotion", "show", "<campaign_id> [--version=N]", "shows a campaign, or one of its versions (GetCampaign)",
       Show},
      {"promotion", "announce", "<campaign_id> [--short-notice] [--expected-version=N] [--request-id=ID]",
       "announces a campaign; its alert is scheduled the notice period before it starts (AnnounceCampaign)", Announce},
      {"promotion", "reschedule",
       "<campaign_id> --starts=RFC3339 [--ends=RFC3339] [--short-notice] [--expected-version=N] [--request-id=ID]",
       "moves a campaign's dates; its alert moves too (RescheduleCampaign)", Reschedule},
      {"promotion", "cancel", "<campaign_id> [--reason=] [--expected-version=N] [--request-id=ID]",
       "cancels a campaign and its alert (CancelCampaign)", Cancel},
      {"promotion", "report", "<campaign_id>", "redemptions, discount given, budget left (GetCampaignReport)", Report},
      {"promotion", "quote",
       "(--member=ID | --guest=KEY) [--currency=USD] [--shipping=AMOUNT] [--voucher=CODE] [--explain] "
       "SKU:CATEGORY:QTY:PRICE...",
       "prices a cart: applied and rejected campaigns, totals and a quote token; --explain adds every live "
       "campaign's verdict and each line's adjustments (Quote)",
       QuoteCart},
      {"promotion", "redeem", "<order_id> <quote_token> [--request-id=ID]",
       "redeems a quote for an order, consuming budgets and limits (RedeemQuote)", Redeem},
      {"promotion", "cancel-redemption", "<order_id> [--reason=] [--request-id=ID]",
       "cancels an order's redemption and releases what it held (CancelRedemption)", CancelRedemption},
      {"promotion", "redemption", "<order_id>", "shows an order's redemption (GetRedemption)", ShowRedemption},
  };
}

}  // namespace carectl
