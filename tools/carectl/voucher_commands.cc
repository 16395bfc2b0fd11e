// carectl promotion campaign list and promotion voucher ...: the campaigns an
// operator runs and the codes they hand out (care.promotion.v1): generate a
// batch for a campaign, issue a goodwill voucher, list, show, revoke.

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "care/promotion/v1/promotion.grpc.pb.h"
#include "common/proto_time.h"
#include "tools/carectl/commands.h"

namespace carectl {
namespace {

namespace v1 = care::promotion::v1;

std::unique_ptr<v1::PromotionService::Stub> Stub(const Context& c) {
  return v1::PromotionService::NewStub(c.channel());
}

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

int CampaignList(Context& c, Args& a) {
  v1::ListCampaignsRequest req;
  for (absl::string_view s : absl::StrSplit(a.Flag("state"), ',', absl::SkipEmpty())) {
    req.add_states(static_cast<v1::CampaignState>(ParseEnum(v1::CampaignState_descriptor(), "--state",
                                                            std::string(s))));
  }
  req.set_tier_id(a.Flag("tier"));
  if (std::string at = a.Flag("active_at"); !at.empty()) *req.mutable_active_at() = ParseTime("active-at", at);
  req.set_page_size(static_cast<int32_t>(a.IntFlag("page_size", 50)));
  req.set_page_token(a.Flag("page_token"));
  a.Done();
  v1::ListCampaignsResponse resp;
  return c.Finish(Stub(c)->ListCampaigns(c.NewCall().get(), req, &resp), resp, [&] {
    Table t({"CAMPAIGN", "NAME", "STATE", "STARTS", "ENDS", "VOUCHER", "VERSION"});
    for (const auto& k : resp.campaigns()) {
      t.Row({k.campaign_id(), k.display_name(), EnumName(v1::CampaignState_descriptor(), k.state()),
             Time(k.starts_at()), Time(k.ends_at()), k.voucher_required() ? "required" : "-",
             absl::StrCat(k.version())});
    }
    t.Print("(no campaigns)");
    PrintNextPage(resp.next_page_token());
  });
}

std::string Value(const v1::DiscountValue& v) {
  if (v.has_amount_off()) return absl::StrCat(Money(v.amount_off()), " off");
  if (v.has_fixed_price()) return absl::StrCat("for ", Money(v.fixed_price()));
  if (v.kind_case() == v1::DiscountValue::kPercentOffBps) return absl::StrCat(v.percent_off_bps() / 100.0, "% off");
  return "-";
}

void VoucherRows(const google::protobuf::RepeatedPtrField<v1::Voucher>& vouchers, const std::string& empty) {
  Table t({"CODE", "KIND", "CAMPAIGN", "MEMBER", "STATE", "USES", "EXPIRES"});
  for (const auto& v : vouchers) {
    t.Row({v.code(), EnumName(v1::VoucherKind_descriptor(), v.kind()), OrDash(v.campaign_id()), OrDash(v.member_id()),
           EnumName(v1::VoucherState_descriptor(), v.state()),
           absl::StrCat(v.uses(), "/", v.max_uses() == 0 ? "unlimited" : absl::StrCat(v.max_uses())),
           Time(v.expire_time())});
  }
  t.Print(empty);
}

void PrintVoucher(const v1::Voucher& v) {
  PrintFields({{"CODE", v.code()},
               {"KIND", EnumName(v1::VoucherKind_descriptor(), v.kind())},
               {"STATE", EnumName(v1::VoucherState_descriptor(), v.state())},
               {"CAMPAIGN", OrDash(v.campaign_id())},
               {"BATCH", OrDash(v.batch_id())},
               {"MEMBER", OrDash(v.member_id())},
               {"VALUE", v.has_goodwill_value() ? Value(v.goodwill_value()) : "the campaign's"},
               {"USES", absl::StrCat(v.uses(), " of ", v.max_uses() == 0 ? "unlimited" : absl::StrCat(v.max_uses()))},
               {"VALID", absl::StrCat(Time(v.start_time()), " to ", Time(v.expire_time()))},
               {"REASON", OrDash(v.reason_code())},
               {"COMPLAINT", OrDash(v.complaint_id())},
               {"REVOKED", OrDash(v.revoke_reason())}});
}

int Generate(Context& c, Args& a) {
  v1::GenerateVouchersRequest req;
  req.set_campaign_id(a.Positional("campaign_id"));
  req.set_count(static_cast<int32_t>(a.IntFlag("count", 0)));
  for (absl::string_view m : absl::StrSplit(a.Flag("members"), ',', absl::SkipEmpty())) {
    req.add_member_ids(std::string(m));
  }
  req.mutable_pattern()->set_prefix(a.Flag("prefix"));
  req.mutable_pattern()->set_length(static_cast<int32_t>(a.IntFlag("length", 0)));
  req.set_max_uses(static_cast<int32_t>(a.IntFlag("max_uses", 0)));
  if (std::string e = a.Flag("expires"); !e.empty()) *req.mutable_expire_time() = ParseTime("expires", e);
  req.set_request_id(RequestId(a));
  a.Done();
  if (req.count() == 0 && req.member_ids().empty()) throw UsageError("give --count=N or --members=M1,M2");
  v1::GenerateVouchersResponse resp;
  return c.Finish(Stub(c)->GenerateVouchers(c.NewCall().get(), req, &resp), resp, [&] {
    std::printf("batch %s: %d voucher(s)\n", resp.batch_id().c_str(), resp.vouchers_size());
    VoucherRows(resp.vouchers(), "(none)");
  });
}

int List(Context& c, Args& a) {
  v1::ListVouchersRequest req;
  req.set_campaign_id(a.Flag("campaign"));
  req.set_batch_id(a.Flag("batch"));
  req.set_member_id(a.Flag("member"));
  req.set_complaint_id(a.Flag("complaint"));
  if (std::string k = a.Flag("kind"); !k.empty()) {
    req.set_kind(static_cast<v1::VoucherKind>(ParseEnum(v1::VoucherKind_descriptor(), "--kind", k)));
  }
  for (absl::string_view s : absl::StrSplit(a.Flag("state"), ',', absl::SkipEmpty())) {
    req.add_states(static_cast<v1::VoucherState>(ParseEnum(v1::VoucherState_descriptor(), "--state", std::string(s))));
  }
  req.set_page_size(static_cast<int32_t>(a.IntFlag("page_size", 50)));
  req.set_page_token(a.Flag("page_token"));
  a.Done();
  v1::ListVouchersResponse resp;
  return c.Finish(Stub(c)->ListVouchers(c.NewCall().get(), req, &resp), resp, [&] {
    VoucherRows(resp.vouchers(), "(no vouchers)");
    PrintNextPage(resp.next_page_token());
  });
}

int Get(Context& c, Args& a) {
  v1::GetVoucherRequest req;
  req.set_code(a.Positional("code"));
  a.Done();
  v1::Voucher resp;
  return c.Finish(Stub(c)->GetVoucher(c.NewCall().get(), req, &resp), resp, [&] { PrintVoucher(resp); });
}

int Issue(Context& c, Args& a) {
  v1::IssueVoucherRequest req;
  req.set_member_id(a.Positional("member_id"));
  std::string amount = a.Flag("amount"), percent = a.Flag("percent");
  if (amount.empty() == percent.empty()) throw UsageError("give --amount=AMOUNT or --percent=P, one of them");
  if (!amount.empty()) *req.mutable_value() = ParseMoney(amount, a.Flag("currency", "USD"));
  double pct = 0;
  if (!percent.empty()) {
    if (!absl::SimpleAtod(percent, &pct) || pct <= 0 || pct > 100) {
      throw UsageError(absl::StrCat("--percent \"", percent, "\" is not a percentage in (0, 100]"));
    }
    req.set_percent_off_bps(static_cast<int32_t>(std::lround(pct * 100)));
  }
  if (std::string valid = a.Flag("valid_for"); !valid.empty()) {
    absl::Duration validity;
    if (!absl::ParseDuration(valid, &validity) || validity <= absl::ZeroDuration()) {
      throw UsageError(absl::StrCat("--valid-for \"", valid, "\" is not a duration like 720h"));
    }
    *req.mutable_validity() = care::ToDurationProto(validity);
  }
  req.set_reason_code(a.Flag("reason_code", "GOODWILL"));
  req.set_complaint_id(a.Flag("complaint"));
  req.set_note(a.Flag("note"));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::Voucher resp;
  return c.Finish(Stub(c)->IssueVoucher(c.NewCall().get(), req, &resp), resp, [&] { PrintVoucher(resp); });
}

int Revoke(Context& c, Args& a) {
  v1::RevokeVoucherRequest req;
  req.set_code(a.Positional("code"));
  req.set_reason(a.Flag("reason"));
  req.set_request_id(RequestId(a));
  a.Done();
  v1::Voucher resp;
  return c.Finish(Stub(c)->RevokeVoucher(c.NewCall().get(), req, &resp), resp, [&] { PrintVoucher(resp); });
}

}  // namespace

std::vector<Command> VoucherCommands() {
  const std::string id = " [--request-id=ID]";
  return {
      {"promotion campaign", "list",
       "[--state=draft,announced,active,ended,cancelled] [--tier=] [--active-at=RFC3339] [--page-size=50] "
       "[--page-token=]",
       "lists campaigns (ListCampaigns)", CampaignList},
      {"promotion voucher", "generate",
       "<campaign_id> (--count=N | --members=M1,M2) [--prefix=] [--length=N] [--max-uses=N] [--expires=RFC3339]" + id,
       "generates a batch of codes for a campaign that requires one (GenerateVouchers)", Generate},
      {"promotion voucher", "list",
       "[--campaign=] [--batch=] [--member=] [--complaint=] [--kind=campaign|goodwill] [--state=] "
       "[--page-size=50] [--page-token=]",
       "lists vouchers (ListVouchers)", List},
      {"promotion voucher", "get", "<code>", "shows a voucher, its uses and validity (GetVoucher)", Get},
      {"promotion voucher", "issue",
       "<member_id> (--amount=AMOUNT [--currency=USD] | --percent=P) [--valid-for=720h (the default)] "
       "[--reason-code=GOODWILL] [--complaint=] [--note=]" +
           id,
       "issues a goodwill voucher to a member (IssueVoucher)", Issue},
      {"promotion voucher", "revoke", "<code> [--reason=]" + id, "revokes a voucher (RevokeVoucher)", Revoke},
  };
}

}  // namespace carectl
