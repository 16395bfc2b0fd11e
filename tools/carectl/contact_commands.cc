// carectl complaint contact ...: people without membership the care desk
// knows (care.complaint.v1 Contact): create, show, update, and list prospects
// for follow-up (only those who consented with --consented).

#include <algorithm>
#include <map>

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

void SetConsents(v1::Contact& ct, absl::string_view channels, bool granted) {
  for (absl::string_view name : absl::StrSplit(channels, ',', absl::SkipEmpty())) {
    const auto channel = static_cast<care::common::v1::MessageChannel>(ParseEnum(
        care::common::v1::MessageChannel_descriptor(), granted ? "--consent" : "--withdraw", std::string(name)));
    auto it = std::find_if(ct.mutable_consents()->begin(), ct.mutable_consents()->end(),
                           [&](const v1::ContactConsent& k) { return k.channel() == channel; });
    v1::ContactConsent* k = it == ct.mutable_consents()->end() ? ct.add_consents() : &*it;
    k->set_channel(channel);
    k->set_granted(granted);
    k->clear_update_time();  // dated by the server, and the same body on a retry
  }
}

// The text fields carectl sets: flag, Contact field.
constexpr std::pair<const char*, const char*> kTextFields[] = {{"name", "display_name"},
                                                               {"email", "email"},
                                                               {"phone", "phone"},
                                                               {"locale", "locale"},
                                                               {"time_zone", "time_zone"}};

// The consent list and the prospect are replaced whole, so they are edited
// on the stored contact. Only the changed fields are sent, so a retry with
// the same --request-id is the same request even after the first landed.
int Update(Context& c, Args& a) {
  v1::UpdateContactRequest req;
  const std::string id = a.Positional("contact_id");
  const std::string consent = a.Flag("consent"), withdraw = a.Flag("withdraw"), follow_up = a.Flag("follow_up");
  const std::string clear = a.Flag("clear"), channel = a.Flag("channel");
  const int64_t version = a.IntFlag("version", 0);
  std::map<std::string, std::string> texts;
  for (const auto& [flag, field] : kTextFields) {
    const std::string value = a.Flag(flag);
    if (!value.empty()) texts[field] = value;
  }
  for (absl::string_view field : absl::StrSplit(clear, ',', absl::SkipEmpty())) {
    if (field != "email" && field != "phone" && field != "locale" && field != "time_zone") {
      throw UsageError("--clear takes email, phone, locale, time_zone");
    }
    texts[std::string(field)] = "";
  }
  req.set_request_id(RequestId(a));
  a.Done();
  v1::Contact stored;
  if (!consent.empty() || !withdraw.empty() || !follow_up.empty()) {
    v1::GetContactRequest get;
    get.set_contact_id(id);
    grpc::Status s = Stub(c)->GetContact(c.NewCall().get(), get, &stored);
    if (!s.ok()) return c.Finish(s, stored, [] {});
  }
  v1::Contact* ct = req.mutable_contact();
  ct->set_contact_id(id);
  for (const auto& [field, value] : texts) {
    ct->GetReflection()->SetString(ct, ct->GetDescriptor()->FindFieldByName(field), value);
    req.mutable_update_mask()->add_paths(field);
  }
  if (!channel.empty()) {
    ct->set_channel(static_cast<care::common::v1::MessageChannel>(
        ParseEnum(care::common::v1::MessageChannel_descriptor(), "--channel", channel)));
    req.mutable_update_mask()->add_paths("channel");
  }
  if (!consent.empty() || !withdraw.empty()) {
    *ct->mutable_consents() = stored.consents();
    SetConsents(*ct, withdraw, false);
    SetConsents(*ct, consent, true);
    req.mutable_update_mask()->add_paths("consents");
  }
  if (!follow_up.empty()) {
    if (!stored.has_prospect()) throw UsageError("--follow-up needs a prospect");
    *ct->mutable_prospect() = stored.prospect();
    ct->mutable_prospect()->set_follow_up(static_cast<v1::FollowUpState>(ParseEnum(v1::FollowUpState_descriptor(),
                                                                                   "--follow-up", follow_up)));
    req.mutable_update_mask()->add_paths("prospect");
  }
  if (req.update_mask().paths().empty()) throw UsageError("name at least one field to change");
  req.set_expected_version(version);
  v1::Contact resp;
  return c.Finish(Stub(c)->UpdateContact(c.NewCall().get(), req, &resp), resp, [&] { PrintContact(resp); });
}

}  // namespace

std::vector<Command> ContactCommands() {
  return {
      {"complaint contact", "create",
       "<name> [--email=] [--phone=] [--locale=] [--time-zone=] [--consent=email,webhook] "
       "[--source=] [--interests=a,b] [--request-id=ID]",
       "records a person without membership; --source makes them a prospect (CreateContact)", Create},
      {"complaint contact", "show", "<contact_id>", "shows a contact (GetContact)", Show},
      {"complaint contact", "update",
       "<contact_id> [--name=] [--email=] [--phone=] [--locale=] [--time-zone=] [--clear=email,phone,locale,time_zone] "
       "[--channel=email|webhook] [--consent=email,webhook] [--withdraw=email] [--follow-up=contacted] "
       "[--version=N] [--request-id=ID]",
       "changes the fields given; consents and the follow-up state are edited on the stored contact; "
       "--version refuses the change if the contact moved on (UpdateContact)",
       Update},
      {"complaint contact", "list",
       "[--prospects] [--source=] [--interest=] [--consented=email] [--page-size=50] [--page-token=]",
       "lists contacts; with --consented only those who consented on that channel: the follow-up export "
       "(ListContacts)",
       List},
  };
}

}  // namespace carectl
