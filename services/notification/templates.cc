#include "services/notification/templates.h"

#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"

namespace care::notification {
namespace v1 = ::care::notification::v1;
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

std::vector<std::string> LocaleChain(const std::string& locale, const std::string& default_locale) {
  std::vector<std::string> chain;
  auto add = [&](const std::string& l) {
    if (l.empty()) return;
    for (const auto& c : chain) {
      if (absl::EqualsIgnoreCase(c, l)) return;
    }
    chain.push_back(l);
  };
  add(locale);
  add(locale.substr(0, locale.find('-')));
  add(default_locale);
  return chain;
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
  // Complaint messages: {subject, body} per language.
  struct Text {
    const char* subject;
    const char* body;
  };
  static const std::map<std::pair<int, std::string>, Text> kComplaint = {
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
      {{v1::MESSAGE_KIND_PROACTIVE_CHECK_IN, "en"},
       {"Is everything all right now?", "Hi {{member_name}}, we wanted to check that all is well since we resolved your complaint."}},
      {{v1::MESSAGE_KIND_PROACTIVE_CHECK_IN, "vi"},
       {"Mọi việc đã ổn chưa?", "Chào {{member_name}}, chúng tôi muốn hỏi thăm sau khi đã giải quyết khiếu nại của bạn."}},
      {{v1::MESSAGE_KIND_PROACTIVE_CHECK_IN, "ja"},
       {"その後いかがですか?", "{{member_name}}様、お問い合わせ解決後のご様子をお伺いします。"}},
  };
  auto it = kComplaint.find({kind, lang});
  if (it != kComplaint.end()) return Make(kind, lang, it->second.subject, it->second.body);
  return std::nullopt;
}

}  // namespace care::notification
