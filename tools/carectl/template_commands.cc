// carectl notification template ...: the message templates the service
// renders (care.notification.v1, admin to change). A template is keyed by
// kind, channel and locale (plus a key for TRANSACTIONAL ones); it is put
// from its JSON form.

#include "absl/strings/str_cat.h"
#include "care/notification/v1/notification.grpc.pb.h"
#include "tools/carectl/commands.h"

namespace carectl {
namespace {

namespace v1 = care::notification::v1;
using care::common::v1::MessageChannel_descriptor;

std::unique_ptr<v1::NotificationService::Stub> Stub(const Context& c) {
  return v1::NotificationService::NewStub(c.channel());
}

// <kind> <channel> <locale> [--key=]: which template.
v1::TemplateKey Key(Args& a) {
  v1::TemplateKey key;
  key.set_kind(static_cast<v1::MessageKind>(ParseEnum(v1::MessageKind_descriptor(), "<kind>", a.Positional("kind"))));
  key.set_channel(static_cast<care::common::v1::MessageChannel>(ParseEnum(MessageChannel_descriptor(), "<channel>",
                                                                          a.Positional("channel"))));
  key.set_locale(a.Positional("locale"));
  key.set_template_key(a.Flag("key"));
  return key;
}

void PrintTemplate(const v1::Template& t) {
  PrintFields({{"KIND", EnumName(v1::MessageKind_descriptor(), t.kind())},
               {"KEY", t.template_key().empty() ? "-" : t.template_key()},
               {"CHANNEL", EnumName(MessageChannel_descriptor(), t.channel())},
               {"LOCALE", t.locale()},
               {"SUBJECT", t.subject().empty() ? "-" : t.subject()},
               {"VARIABLES", absl::StrCat(t.variables_size())},
               {"VERSION", absl::StrCat(t.version())},
               {"UPDATED", Time(t.update_time())}});
  std::printf("%s\n", t.body().c_str());
}

int List(Context& c, Args& a) {
  v1::ListTemplatesRequest req;
  if (std::string k = a.Flag("kind"); !k.empty()) {
    req.set_kind(static_cast<v1::MessageKind>(ParseEnum(v1::MessageKind_descriptor(), "--kind", k)));
  }
  if (std::string ch = a.Flag("channel"); !ch.empty()) {
    req.set_channel(static_cast<care::common::v1::MessageChannel>(ParseEnum(MessageChannel_descriptor(), "--channel",
                                                                            ch)));
  }
  req.set_template_key(a.Flag("key"));
  req.set_locale(a.Flag("locale"));
  req.set_page_size(static_cast<int32_t>(a.IntFlag("page_size", 50)));
  req.set_page_token(a.Flag("page_token"));
  a.Done();
  v1::ListTemplatesResponse resp;
  return c.Finish(Stub(c)->ListTemplates(c.NewCall().get(), req, &resp), resp, [&] {
    Table t({"KIND", "KEY", "CHANNEL", "LOCALE", "SUBJECT", "VERSION", "UPDATED"});
    for (const auto& tpl : resp.templates()) {
      t.Row({EnumName(v1::MessageKind_descriptor(), tpl.kind()), tpl.template_key().empty() ? "-" : tpl.template_key(),
             EnumName(MessageChannel_descriptor(), tpl.channel()), tpl.locale(),
             tpl.subject().empty() ? "-" : tpl.subject(), absl::StrCat(tpl.version()), Time(tpl.update_time())});
    }
    t.Print("(no templates)");
    PrintNextPage(resp.next_page_token());
  });
}

int Get(Context& c, Args& a) {
  v1::GetTemplateRequest req;
  *req.mutable_key() = Key(a);
  req.set_resolve_fallback(a.BoolFlag("fallback"));
  a.Done();
  v1::Template resp;
  return c.Finish(Stub(c)->GetTemplate(c.NewCall().get(), req, &resp), resp, [&] { PrintTemplate(resp); });
}

int Put(Context& c, Args& a) {
  v1::PutTemplateRequest req;
  std::string file = a.Flag("file");
  if (file.empty()) throw UsageError("--file is required (JSON; \"-\" reads stdin)");
  ReadMessageFile(file, req.mutable_template_());
  req.set_request_id(RequestId(a));
  a.Done();
  v1::Template resp;
  return c.Finish(Stub(c)->PutTemplate(c.NewCall().get(), req, &resp), resp, [&] { PrintTemplate(resp); });
}

int Delete(Context& c, Args& a) {
  v1::DeleteTemplateRequest req;
  *req.mutable_key() = Key(a);
  req.set_version(a.IntFlag("version", 0));
  req.set_request_id(RequestId(a));
  a.Done();
  google::protobuf::Empty resp;
  return c.Finish(Stub(c)->DeleteTemplate(c.NewCall().get(), req, &resp), resp, [&] {
    std::printf("deleted template %s %s %s\n", EnumName(v1::MessageKind_descriptor(), req.key().kind()).c_str(),
                EnumName(MessageChannel_descriptor(), req.key().channel()).c_str(), req.key().locale().c_str());
  });
}

}  // namespace

std::vector<Command> TemplateCommands() {
  const std::string key = "<kind> <channel> <locale> [--key=TEMPLATE_KEY]";
  return {
      {"notification template", "list", "[--kind=] [--key=] [--channel=] [--locale=] [--page-size=50] [--page-token=]",
       "lists templates (ListTemplates)", List},
      {"notification template", "get", key + " [--fallback]",
       "shows a template; --fallback resolves as rendering would (GetTemplate)", Get},
      {"notification template", "put", "--file=TEMPLATE.json [--request-id=ID]",
       "creates or replaces a template from its JSON form (PutTemplate; admin)", Put},
      {"notification template", "delete", key + " [--version=N] [--request-id=ID]",
       "deletes a template; rendering falls back to the default locale (DeleteTemplate; admin)", Delete},
  };
}

}  // namespace carectl
