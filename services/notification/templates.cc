#include "services/notification/templates.h"

#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"

namespace care::notification {
namespace {

bool ValidName(const std::string& s) {
  if (s.empty() || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

absl::Status SyntaxError(const std::string& field, size_t pos, absl::string_view what) {
  return Error(absl::StatusCode::kInvalidArgument, "TEMPLATE_SYNTAX_ERROR",
               absl::StrCat(field, ": ", what, " at position ", pos),
               {{"field", field}, {"position", absl::StrCat(pos)}});
}

// Walks `text`, calling `literal` and `var` in order.
template <typename Lit, typename Var>
absl::Status Walk(const std::string& text, const std::string& field, Lit literal, Var var) {
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 4, "{{{{") == 0) {
      literal("{{");
      i += 4;
      continue;
    }
    if (text.compare(i, 2, "{{") == 0) {
      size_t close = text.find("}}", i + 2);
      if (close == std::string::npos) return SyntaxError(field, i, "unclosed \"{{\"");
      std::string name(absl::StripAsciiWhitespace(text.substr(i + 2, close - i - 2)));
      if (!ValidName(name)) return SyntaxError(field, i, "placeholder must be {{name}} with name [a-z][a-z0-9_]*");
      var(name);
      i = close + 2;
      continue;
    }
    literal(std::string(1, text[i]));
    ++i;
  }
  return absl::OkStatus();
}

v1::Template Make(v1::MessageKind kind, const std::string& locale, const std::string& subject,
                  const std::string& body) {
  v1::Template t;
  t.set_kind(kind);
  t.set_locale(locale);
  t.set_subject(subject);
  t.set_body(body);
  return t;
}

// A built-in text: {subject, body} by (kind, language).
struct Text {
  const char* subject;
  const char* body;
};
using Texts = std::map<std::pair<int, std::string>, Text>;

// Staff alerts, to an employee (StaffAlert).
const Texts& StaffTexts() {
  static const Texts kStaff = {
      {{v1::MESSAGE_KIND_STAFF_ESCALATION, "en"},
       {"Escalation: complaint {{complaint_id}}",
        "{{staff_name}}, complaint {{complaint_id}} reached escalation level {{level}} on its {{sla_target}} SLA "
        "(priority {{priority}})."}},
      {{v1::MESSAGE_KIND_STAFF_ESCALATION, "vi"},
       {"Leo thang: khiếu nại {{complaint_id}}",
        "{{staff_name}}, khiếu nại {{complaint_id}} đã lên cấp leo thang {{level}} theo SLA {{sla_target}} "
        "(mức ưu tiên {{priority}})."}},
      {{v1::MESSAGE_KIND_STAFF_ESCALATION, "ja"},
       {"エスカレーション: 苦情 {{complaint_id}}",
        "{{staff_name}}さん、苦情 {{complaint_id}} が {{sla_target}} SLA のエスカレーションレベル {{level}} "
        "に達しました(優先度 {{priority}})。"}},
      {{v1::MESSAGE_KIND_STAFF_BREACH_WARNING, "en"},
       {"SLA breach soon: complaint {{complaint_id}}",
        "{{staff_name}}, the {{sla_target}} SLA of complaint {{complaint_id}} is breached at {{due_time}}."}},
      {{v1::MESSAGE_KIND_STAFF_BREACH_WARNING, "vi"},
       {"Sắp vi phạm SLA: khiếu nại {{complaint_id}}",
        "{{staff_name}}, SLA {{sla_target}} của khiếu nại {{complaint_id}} sẽ bị vi phạm lúc {{due_time}}."}},
      {{v1::MESSAGE_KIND_STAFF_BREACH_WARNING, "ja"},
       {"SLA違反間近: 苦情 {{complaint_id}}",
        "{{staff_name}}さん、苦情 {{complaint_id}} の {{sla_target}} SLA は {{due_time}} に期限切れになります。"}},
      {{v1::MESSAGE_KIND_STAFF_COMPENSATION_APPROVAL, "en"},
       {"Approval needed: complaint {{complaint_id}}",
        "{{staff_name}}, compensation {{compensation_id}} ({{compensation}}) on complaint {{complaint_id}} "
        "waits for your approval."}},
      {{v1::MESSAGE_KIND_STAFF_COMPENSATION_APPROVAL, "vi"},
       {"Cần phê duyệt: khiếu nại {{complaint_id}}",
        "{{staff_name}}, khoản bồi thường {{compensation_id}} ({{compensation}}) của khiếu nại {{complaint_id}} "
        "đang chờ bạn phê duyệt."}},
      {{v1::MESSAGE_KIND_STAFF_COMPENSATION_APPROVAL, "ja"},
       {"承認が必要です: 苦情 {{complaint_id}}",
        "{{staff_name}}さん、苦情 {{complaint_id}} の補償 {{compensation_id}}({{compensation}})が承認待ちです。"}},
      {{v1::MESSAGE_KIND_STAFF_REOPENED, "en"},
       {"Reopened: complaint {{complaint_id}}",
        "{{staff_name}}, the customer reopened complaint {{complaint_id}} (reopened {{reopen_count}} times)."}},
      {{v1::MESSAGE_KIND_STAFF_REOPENED, "vi"},
       {"Mở lại: khiếu nại {{complaint_id}}",
        "{{staff_name}}, khách hàng đã mở lại khiếu nại {{complaint_id}} (lần {{reopen_count}})."}},
      {{v1::MESSAGE_KIND_STAFF_REOPENED, "ja"},
       {"再開: 苦情 {{complaint_id}}",
        "{{staff_name}}さん、お客様が苦情 {{complaint_id}} を再開しました(再開 {{reopen_count}} 回目)。"}},
  };
  return kStaff;
}

// Care cadence check-ins (loyalty's CadenceRule): the rule's name is the
// subject, the body fits both a quiet member and a new one.
const Texts& CareCheckInTexts() {
  static const Texts kCheckIn = {
      {{v1::MESSAGE_KIND_CARE_CHECK_IN, "en"},
       {"{{rule_name}}",
        "Hi {{member_name}}, we are checking in: how is everything going? If we can help with anything, just "
        "reply."}},
      {{v1::MESSAGE_KIND_CARE_CHECK_IN, "vi"},
       {"{{rule_name}}",
        "Chào {{member_name}}, chúng tôi muốn hỏi thăm: mọi việc của bạn thế nào? Nếu cần hỗ trợ, hãy trả lời "
        "chúng tôi."}},
      {{v1::MESSAGE_KIND_CARE_CHECK_IN, "ja"},
       {"{{rule_name}}",
        "{{member_name}}様、その後お変わりありませんか?お困りのことがあれば、お気軽にご返信ください。"}},
  };
  return kCheckIn;
}

}  // namespace

absl::StatusOr<std::string> RenderText(const std::string& text, const std::map<std::string, std::string>& vars,
                                       const std::string& field) {
  std::string out;
  absl::Status s = Walk(
      text, field, [&](const std::string& lit) { out += lit; },
      [&](const std::string& name) {
        auto it = vars.find(name);
        if (it != vars.end()) out += it->second;
      });
  if (!s.ok()) return s;
  return out;
}

std::vector<std::string> Placeholders(const std::string& text) {
  std::vector<std::string> names;
  (void)Walk(
      text, "text", [](const std::string&) {}, [&](const std::string& name) { names.push_back(name); });
  return names;
}

std::map<std::string, v1::VariableType> SuppliedVariables(v1::MessageKind kind) {
  using T = v1::VariableType;
  const T kString = v1::VARIABLE_TYPE_STRING, kInt = v1::VARIABLE_TYPE_INTEGER, kTime = v1::VARIABLE_TYPE_TIMESTAMP;
  std::map<std::string, T> out = {{"member_id", kString}, {"member_name", kString}};
  auto add = [&](std::initializer_list<std::pair<const char*, T>> vars) {
    for (const auto& [name, type] : vars) out[name] = type;
  };
  switch (kind) {
    case v1::MESSAGE_KIND_PROMOTION_ALERT:
      add({{"campaign_id", kString},
           {"campaign_title", kString},
           {"campaign_description", kString},
           {"starts_at", kTime},
           {"ends_at", kTime}});
      break;
    case v1::MESSAGE_KIND_TIER_CHANGED:
      add({{"old_tier_id", kString}, {"new_tier_id", kString}, {"tier_display_name", kString}});
      break;
    case v1::MESSAGE_KIND_POINTS_EXPIRING:
      add({{"points", kInt}, {"expire_time", kTime}});
      break;
    case v1::MESSAGE_KIND_BIRTHDAY_REWARD:
      add({{"points", kInt}});
      break;
    case v1::MESSAGE_KIND_VISIT_REWARD:
      add({{"visit_count", kInt}, {"reward", kString}});
      break;
    case v1::MESSAGE_KIND_OCCASION_REWARD:
      add({{"occasion_name", kString},
           {"points", kInt},
           {"occurrence", kInt},
           {"reward_name", kString},
           {"gift", kString}});
      break;
    case v1::MESSAGE_KIND_CARE_CHECK_IN:
      add({{"rule_name", kString}, {"contact", kInt}});
      break;
    case v1::MESSAGE_KIND_COMPLAINT_ACKNOWLEDGED:
    case v1::MESSAGE_KIND_COMPLAINT_UPDATED:
    case v1::MESSAGE_KIND_COMPLAINT_RESOLVED:
      add({{"complaint_id", kString}, {"message", kString}});
      break;
    case v1::MESSAGE_KIND_SATISFACTION_SURVEY:
      add({{"complaint_id", kString}, {"survey_token", kString}, {"expire_time", kTime}});
      break;
    case v1::MESSAGE_KIND_PROACTIVE_CHECK_IN:
      add({{"complaint_id", kString}, {"due_time", kTime}});
      break;
    case v1::MESSAGE_KIND_STAFF_ESCALATION:
    case v1::MESSAGE_KIND_STAFF_BREACH_WARNING:
    case v1::MESSAGE_KIND_STAFF_COMPENSATION_APPROVAL:
    case v1::MESSAGE_KIND_STAFF_REOPENED:
      add({{"staff_id", kString}, {"staff_name", kString}, {"complaint_id", kString}});
      if (kind == v1::MESSAGE_KIND_STAFF_ESCALATION) {
        add({{"level", kInt}, {"sla_target", kString}, {"priority", kString}});
      } else if (kind == v1::MESSAGE_KIND_STAFF_BREACH_WARNING) {
        add({{"sla_target", kString}, {"due_time", kTime}});
      } else if (kind == v1::MESSAGE_KIND_STAFF_COMPENSATION_APPROVAL) {
        add({{"compensation_id", kString}, {"compensation", kString}});
      } else {
        add({{"reopen_count", kInt}});
      }
      break;
    default:
      break;
  }
  return out;
}

absl::Status ValidateTemplate(const v1::Template& t) {
  FieldErrors errors;
  if (t.kind() == v1::MESSAGE_KIND_UNSPECIFIED || !v1::MessageKind_IsValid(t.kind())) {
    errors.Add("template.kind", "required");
  }
  if (t.kind() == v1::MESSAGE_KIND_TRANSACTIONAL) {
    bool ok = !t.template_key().empty() && t.template_key().size() <= 100;
    for (char c : t.template_key()) {
      ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-');
    }
    if (!ok) errors.Add("template.template_key", "required for TRANSACTIONAL: [a-z0-9][a-z0-9_.-]*, max 100");
  } else if (!t.template_key().empty()) {
    errors.Add("template.template_key", "only TRANSACTIONAL templates have a key");
  }
  if (t.channel() == 0 || !care::common::v1::MessageChannel_IsValid(t.channel())) {
    errors.Add("template.channel", "required");
  }
  errors.RequireId("template.locale", t.locale());
  if (errors.RequireNonEmpty("template.subject", t.subject()))
    errors.RequireMaxLength("template.subject", t.subject(), 200);
  if (errors.RequireNonEmpty("template.body", t.body())) errors.RequireMaxLength("template.body", t.body(), 16384);
  if (!t.html_body().empty() && t.channel() != care::common::v1::MESSAGE_CHANNEL_EMAIL) {
    errors.Add("template.html_body", "only EMAIL templates have an HTML body");
  }
  if (!errors.empty()) return errors.ToStatus();
  for (const auto& [field, text] : {std::pair<const char*, const std::string*>{"template.subject", &t.subject()},
                                    {"template.body", &t.body()},
                                    {"template.html_body", &t.html_body()}}) {
    if (absl::StatusOr<std::string> r = RenderText(*text, {}, field); !r.ok()) return r.status();
  }
  const auto supplied = SuppliedVariables(t.kind());
  std::map<std::string, v1::VariableType> declared;
  for (int i = 0; i < t.variables_size(); ++i) {
    const v1::TemplateVariable& v = t.variables(i);
    std::string f = absl::StrCat("template.variables[", i, "]");
    if (!ValidName(v.name())) errors.Add(f + ".name", "must match [a-z][a-z0-9_]*");
    if (v.type() == v1::VARIABLE_TYPE_UNSPECIFIED || !v1::VariableType_IsValid(v.type()))
      errors.Add(f + ".type", "required");
    if (!declared.emplace(v.name(), v.type()).second) errors.Add(f + ".name", "declared twice");
    auto it = supplied.find(v.name());
    // Promotion alerts carry their own extra variables; transactional
    // templates declare theirs freely.
    bool open_kind = t.kind() == v1::MESSAGE_KIND_PROMOTION_ALERT || t.kind() == v1::MESSAGE_KIND_TRANSACTIONAL;
    if (it == supplied.end() && !open_kind) {
      errors.Add(f + ".name", absl::StrCat("\"", v.name(), "\" is not supplied by ", v1::MessageKind_Name(t.kind())));
    } else if (it != supplied.end() && it->second != v.type()) {
      errors.Add(f + ".type", absl::StrCat("\"", v.name(), "\" is ", v1::VariableType_Name(it->second)));
    }
  }
  for (const std::string* text : {&t.subject(), &t.body(), &t.html_body()}) {
    for (const std::string& name : Placeholders(*text)) {
      if (!declared.count(name)) {
        errors.Add("template.variables", absl::StrCat("placeholder {{", name, "}} is not declared"));
      }
    }
  }
  return errors.ToStatus();
}

std::optional<v1::Template> BuiltInTemplate(v1::MessageKind kind, const std::string& locale) {
  const std::string lang = absl::AsciiStrToLower(locale);
  if (kind == v1::MESSAGE_KIND_PROMOTION_ALERT) {
    if (lang == "en") {
      return Make(kind, "en", "Coming soon: {{campaign_title}}",
                  "Hi {{member_name}}, {{campaign_title}} starts {{starts_at}}. {{campaign_description}}");
    }
    if (lang == "vi") {
      return Make(kind, "vi", "Sắp diễn ra: {{campaign_title}}",
                  "Chào {{member_name}}, {{campaign_title}} bắt đầu lúc {{starts_at}}. {{campaign_description}}");
    }
    if (lang == "ja") {
      return Make(kind, "ja", "まもなく開始: {{campaign_title}}",
                  "{{member_name}}様、{{campaign_title}}は{{starts_at}}に始まります。{{campaign_description}}");
    }
  }
  // Messages to one member: {subject, body} per kind and language.
  static const Texts kDirect = {
      {{v1::MESSAGE_KIND_COMPLAINT_ACKNOWLEDGED, "en"}, {"We received your complaint", "{{message}}"}},
      {{v1::MESSAGE_KIND_COMPLAINT_ACKNOWLEDGED, "vi"}, {"Chúng tôi đã nhận được khiếu nại của bạn", "{{message}}"}},
      {{v1::MESSAGE_KIND_COMPLAINT_ACKNOWLEDGED, "ja"}, {"お問い合わせを受け付けました", "{{message}}"}},
      {{v1::MESSAGE_KIND_COMPLAINT_UPDATED, "en"}, {"An update on your complaint", "{{message}}"}},
      {{v1::MESSAGE_KIND_COMPLAINT_UPDATED, "vi"}, {"Cập nhật về khiếu nại của bạn", "{{message}}"}},
      {{v1::MESSAGE_KIND_COMPLAINT_UPDATED, "ja"}, {"お問い合わせの進捗", "{{message}}"}},
      {{v1::MESSAGE_KIND_COMPLAINT_RESOLVED, "en"}, {"Your complaint is resolved", "{{message}}"}},
      {{v1::MESSAGE_KIND_COMPLAINT_RESOLVED, "vi"}, {"Khiếu nại của bạn đã được giải quyết", "{{message}}"}},
      {{v1::MESSAGE_KIND_COMPLAINT_RESOLVED, "ja"}, {"お問い合わせは解決しました", "{{message}}"}},
      {{v1::MESSAGE_KIND_SATISFACTION_SURVEY, "en"},
       {"How did we do?", "Tell us how satisfied you are (1 to 5) with survey code {{survey_token}}."}},
      {{v1::MESSAGE_KIND_SATISFACTION_SURVEY, "vi"},
       {"Bạn có hài lòng không?", "Hãy chấm điểm (1 đến 5) với mã khảo sát {{survey_token}}."}},
      {{v1::MESSAGE_KIND_SATISFACTION_SURVEY, "ja"},
       {"ご満足いただけましたか?", "アンケートコード {{survey_token}} で満足度(1〜5)をお聞かせください。"}},
      {{v1::MESSAGE_KIND_TIER_CHANGED, "en"},
       {"Welcome to {{tier_display_name}}", "Hi {{member_name}}, you are now a {{tier_display_name}} member."}},
      {{v1::MESSAGE_KIND_TIER_CHANGED, "vi"},
       {"Chào mừng bạn đến hạng {{tier_display_name}}",
        "Chào {{member_name}}, bạn đã lên hạng {{tier_display_name}}."}},
      {{v1::MESSAGE_KIND_TIER_CHANGED, "ja"},
       {"{{tier_display_name}}へようこそ", "{{member_name}}様、{{tier_display_name}}会員になりました。"}},
      {{v1::MESSAGE_KIND_POINTS_EXPIRING, "en"},
       {"Your points expire soon", "{{points}} points expire on {{expire_time}}. Use them before then."}},
      {{v1::MESSAGE_KIND_POINTS_EXPIRING, "vi"},
       {"Điểm của bạn sắp hết hạn", "{{points}} điểm sẽ hết hạn vào {{expire_time}}. Hãy dùng trước thời hạn."}},
      {{v1::MESSAGE_KIND_POINTS_EXPIRING, "ja"},
       {"ポイントの有効期限が近づいています", "{{points}}ポイントが{{expire_time}}に失効します。"}},
      {{v1::MESSAGE_KIND_BIRTHDAY_REWARD, "en"},
       {"Happy birthday!", "Happy birthday, {{member_name}}! We added {{points}} points to your account."}},
      {{v1::MESSAGE_KIND_BIRTHDAY_REWARD, "vi"},
       {"Chúc mừng sinh nhật!", "Chúc mừng sinh nhật {{member_name}}! Chúng tôi tặng bạn {{points}} điểm."}},
      {{v1::MESSAGE_KIND_BIRTHDAY_REWARD, "ja"},
       {"お誕生日おめでとうございます",
        "{{member_name}}様、お誕生日おめでとうございます。{{points}}ポイントを進呈しました。"}},
      {{v1::MESSAGE_KIND_VISIT_REWARD, "en"}, {"Thanks for visit {{visit_count}}", "Your reward: {{reward}}."}},
      {{v1::MESSAGE_KIND_VISIT_REWARD, "vi"},
       {"Cảm ơn bạn đã ghé lần thứ {{visit_count}}", "Phần thưởng của bạn: {{reward}}."}},
      {{v1::MESSAGE_KIND_VISIT_REWARD, "ja"}, {"{{visit_count}}回目のご来店ありがとうございます", "特典: {{reward}}"}},
      {{v1::MESSAGE_KIND_OCCASION_REWARD, "en"},
       {"{{occasion_name}}",
        "{{member_name}}, to celebrate {{occasion_name}} we added {{points}} points to your account.{{gift}}"}},
      {{v1::MESSAGE_KIND_OCCASION_REWARD, "vi"},
       {"{{occasion_name}}",
        "Chào {{member_name}}, nhân dịp {{occasion_name}} chúng tôi tặng bạn {{points}} điểm.{{gift}}"}},
      {{v1::MESSAGE_KIND_OCCASION_REWARD, "ja"},
       {"{{occasion_name}}",
        "{{member_name}}様、{{occasion_name}}を記念して{{points}}ポイントを進呈しました。{{gift}}"}},
      {{v1::MESSAGE_KIND_PROACTIVE_CHECK_IN, "en"},
       {"Is everything all right now?",
        "Hi {{member_name}}, we wanted to check that all is well since we resolved your complaint."}},
      {{v1::MESSAGE_KIND_PROACTIVE_CHECK_IN, "vi"},
       {"Mọi việc đã ổn chưa?",
        "Chào {{member_name}}, chúng tôi muốn hỏi thăm sau khi đã giải quyết khiếu nại của bạn."}},
      {{v1::MESSAGE_KIND_PROACTIVE_CHECK_IN, "ja"},
       {"その後いかがですか?", "{{member_name}}様、お問い合わせ解決後のご様子をお伺いします。"}},
  };
  for (const Texts* texts : {&kDirect, &StaffTexts(), &CareCheckInTexts()}) {
    auto it = texts->find({kind, lang});
    if (it != texts->end()) return Make(kind, lang, it->second.subject, it->second.body);
  }
  return std::nullopt;
}

}  // namespace care::notification
