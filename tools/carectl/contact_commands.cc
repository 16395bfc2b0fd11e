// carectl complaint contact ...: people without membership the care desk
// knows (care.complaint.v1 Contact): create, show, and list prospects for
// follow-up (only those who consented with --consented).

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "care/complaint/v1/complaint.grpc.pb.h"
#include "tools/carectl/commands.h"

namespace carectl {
namespace {

namespace v1 = care::complaint::v1;

std::unique_ptr<v1::ComplaintService::Stub> Stub(const Context& c) {
  return v1::ComplaintService::NewStub(c.channel());
}

std::string Consents(const v1::Contact& c) {
  std::vector<std::string> granted;
  for (const auto& k : c.consents()) {
    if (k.granted()) granted.push_back(EnumName(care::common::v1::MessageChannel_descriptor(), k.channel()));
  }
  return granted.empty() ? "-" : absl::StrJoin(granted, ",");
}

std::string ProspectText(const v1::Contact& c) {
  if (!c.has_prospect()) return "-";
  return absl::StrCat(c.prospect().source(), " (", absl::StrJoin(c.prospect().interests(), ", "), ") ",
                      EnumName(v1::FollowUpState_descriptor(), c.prospect().follow_up()));
}

void PrintContact(const v1::Contact& c) {
  PrintFields({{"CONTACT", c.contact_id()},
               {"NAME", c.display_name()},
               {"EMAIL", c.email().empty() ? "-" : c.email()},
               {"PHONE", c.phone().empty() ? "-" : c.phone()},
               {"LOCALE", c.locale().empty() ? "-" : c.locale()},
               {"CHANNEL", EnumName(care::common::v1::MessageChannel_descriptor(), c.channel())},
               {"CONSENTS", Consents(c)},
               {"PROSPECT", ProspectText(c)},
               {"MEMBER", c.member_id().empty() ? "-" : c.member_id()}});
}

int Create(Context& c, Args& a) {
  v1::CreateContactRequest req;
  v1::Contact* ct = req.mutable_contact();
  ct->set_display_name(a.Positional("name"));
  ct->set_email(a.Flag("email"));
  ct->set_phone(a.Flag("phone"));
  ct->set_locale(a.Flag("locale"));
  ct->set_time_zone(a.Flag("time_zone"));
  for (absl::string_view channel : absl::StrSplit(a.Flag("consent"), ',', absl::SkipEmpty())) {
    v1::ContactConsent* k = ct->add_consents();
    k->set_channel(static_cast<care::common::v1::MessageChannel>(
        ParseEnum(care::common::v1::MessageChannel_descriptor(), "--consent", std::string(channel))));
    k->set_granted(true);
  }
  const std::string source = a.Flag("source");
  const std::string interests = a.Flag("interests");
  if (!source.empty()) {
    ct->mutable_prospect()->set_source(source);
    for (absl::string_view i : absl::StrSplit(interests, ',', absl::SkipEmpty())) {
      ct->mutable_prospect()->add_interests(std::string(i));
    }
  } else if (!interests.empty()) {
    throw UsageError("--interests needs --source (a prospect's)");
  }
  req.set_request_id(RequestId(a));
  a.Done();
  v1::Contact resp;
  return c.Finish(Stub(c)->CreateContact(c.NewCall().get(), req, &resp), resp, [&] { PrintContact(resp); });
}

int Show(Context& c, Args& a) {
  v1::GetContactRequest req;
  req.set_contact_id(a.Positional("contact_id"));
  a.Done();
  v1::Contact resp;
  return c.Finish(Stub(c)->GetContact(c.NewCall().get(), req, &resp), resp, [&] { PrintContact(resp); });
}

int List(Context& c, Args& a) {
  v1::ListContactsRequest req;
  req.set_prospects_only(a.BoolFlag("prospects"));
  req.set_source(a.Flag("source"));
  req.set_interest(a.Flag("interest"));
  const std::string consented = a.Flag("consented");
  if (!consented.empty()) {
    req.set_consented_channel(static_cast<care::common::v1::MessageChannel>(
        ParseEnum(care::common::v1::MessageChannel_descriptor(), "--consented", consented)));
  }
  req.set_page_size(static_cast<int32_t>(a.IntFlag("page_size", 50)));
  req.set_page_token(a.Flag("page_token"));
  a.Done();
  v1::ListContactsResponse resp;
  return c.Finish(Stub(c)->ListContacts(c.NewCall().get(), req, &resp), resp, [&] {
    Table t({"CONTACT", "NAME", "EMAIL", "PHONE", "CONSENTS", "PROSPECT", "MEMBER"});
    for (const auto& ct : resp.contacts()) {
      t.Row({ct.contact_id(), ct.display_name(), ct.email().empty() ? "-" : ct.email(),
             ct.phone().empty() ? "-" : ct.phone(), Consents(ct), ProspectText(ct),
             ct.member_id().empty() ? "-" : ct.member_id()});
    }
    t.Print("(no contacts)");
    PrintNextPage(resp.next_page_token());
  });
}

}  // namespace

std::vector<Command> ContactCommands() {
  return {
      {"complaint contact", "create",
       "<name> [--email=] [--phone=] [--locale=] [--time-zone=] [--consent=email,webhook] "
       "[--source=] [--interests=a,b] [--request-id=ID]",
       "records a person without membership; --source makes them a prospect (CreateContact)", Create},
      {"complaint contact", "show", "<contact_id>", "shows a contact (GetContact)", Show},
      {"complaint contact", "list",
       "[--prospects] [--source=] [--interest=] [--consented=email] [--page-size=50] [--page-token=]",
       "lists contacts; with --consented only those who consented on that channel: the follow-up export "
       "(ListContacts)",
       List},
  };
}

}  // namespace carectl
