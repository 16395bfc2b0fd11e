// Notification templates (services/notification/templates.h). By the first
// byte:
//  - even: text and variables from the bytes. RenderText answers the text or
//    INVALID_ARGUMENT / TEMPLATE_SYNTAX_ERROR; text without "{{" renders as
//    itself; an escaped literal renders back to the literal; a value is
//    inserted verbatim, never expanded again; Placeholders names only valid
//    names; LocaleChain has no repeats.
//  - odd: the rest is a Template message; ValidateTemplate answers OK or
//    INVALID_ARGUMENT with a reason, and a valid template renders.
// Built-in templates are well-formed and use only variables their kind
// supplies.

#include <algorithm>
#include <map>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/localized.h"
#include "fuzz/fuzz_support.h"
#include "services/notification/templates.h"

namespace {

namespace v1 = ::care::notification::v1;
using care::fuzz::ByteReader;

// "{{{{" is a literal "{{".
std::string Escape(const std::string& literal) {
  std::string out;
  for (size_t i = 0; i < literal.size(); ++i) {
    if (literal.compare(i, 2, "{{") == 0) {
      out += "{{{{";
      ++i;
    } else {
      out += literal[i];
    }
  }
  return out;
}

// Built-in templates (used when an admin stored none) are well-formed and
// use only variables their kind supplies, so none renders a hole.
void CheckBuiltIns() {
  static const bool checked = [] {
    for (int k = v1::MessageKind_MIN; k <= v1::MessageKind_MAX; ++k) {
      if (!v1::MessageKind_IsValid(k)) continue;
      const auto kind = static_cast<v1::MessageKind>(k);
      const auto supplied = care::notification::SuppliedVariables(kind);
      for (const char* locale : {"en", "vi", "ja"}) {
        auto t = care::notification::BuiltInTemplate(kind, locale);
        if (!t) continue;
        for (const std::string* text : {&t->subject(), &t->body(), &t->html_body()}) {
          auto out = care::notification::RenderText(*text, {}, "built-in");
          CARE_FUZZ_CHECK(out.ok(), std::string("built-in template ") + locale + ": " + out.status().ToString());
          for (const std::string& name : care::notification::Placeholders(*text)) {
            CARE_FUZZ_CHECK(supplied.count(name), std::string("built-in template ") + locale + " uses {{" + name +
                                                      "}}, which its kind does not supply");
          }
        }
      }
    }
    return true;
  }();
  (void)checked;
}

void TextCase(ByteReader& r) {
  const std::string text = r.String(3000);
  std::map<std::string, std::string> vars;
  const int n = static_cast<int>(r.Range(0, 6));
  for (int i = 0; i < n; ++i) {
    std::string name = r.String(12);
    vars[name] = r.String(200);
  }
  auto out = care::notification::RenderText(text, vars, "body");
  if (!out.ok()) {
    CARE_FUZZ_CHECK(out.status().code() == absl::StatusCode::kInvalidArgument, out.status().ToString());
    CARE_FUZZ_CHECK(care::ErrorReason(out.status()) == "TEMPLATE_SYNTAX_ERROR", out.status().ToString());
  } else {
    for (const std::string& name : care::notification::Placeholders(text)) {
      CARE_FUZZ_CHECK(!name.empty() && absl::ascii_islower(name[0]), "placeholder name \"" + name + "\"");
    }
    // Values go in verbatim: rendering with every value "" gives the same
    // text as rendering with no values at all.
    std::map<std::string, std::string> empty_values;
    for (const auto& [k, v] : vars) empty_values[k] = "";
    auto plain = care::notification::RenderText(text, {}, "body");
    auto blank = care::notification::RenderText(text, empty_values, "body");
    CARE_FUZZ_CHECK(plain.ok() && blank.ok() && *plain == *blank, "unknown and empty values render alike");
  }
  if (!absl::StrContains(text, "{{")) {
    CARE_FUZZ_CHECK(out.ok() && *out == text, "text without placeholders renders as itself");
  }
  auto literal = care::notification::RenderText(Escape(text), {}, "body");
  CARE_FUZZ_CHECK(literal.ok() && *literal == text, "an escaped literal renders back to itself");

  // A value holding placeholder syntax is inserted, not expanded again.
  const std::string value = r.String(100);
  auto one = care::notification::RenderText("<{{v}}>", {{"v", value}}, "body");
  CARE_FUZZ_CHECK(one.ok() && *one == "<" + value + ">", "a value is inserted verbatim");

  const std::string locale = r.String(20), fallback = r.String(8);
  auto chain = care::LocaleFallbackChain(locale, fallback);
  // At most every subtag prefix of each tag.
  const auto subtags = [](const std::string& tag) {
    return static_cast<size_t>(std::count(tag.begin(), tag.end(), '-')) + 1;
  };
  CARE_FUZZ_CHECK(chain.size() <= subtags(locale) + subtags(fallback), "locale chain length");
  for (size_t i = 0; i < chain.size(); ++i) {
    CARE_FUZZ_CHECK(!chain[i].empty(), "empty locale in chain");
    for (size_t j = 0; j < i; ++j) CARE_FUZZ_CHECK(!absl::EqualsIgnoreCase(chain[i], chain[j]), "repeat in chain");
  }
}

void TemplateCase(const std::string& bytes) {
  v1::Template t;
  if (!t.ParseFromString(bytes)) return;
  const absl::Status s = care::notification::ValidateTemplate(t);
  care::fuzz::CheckValidationStatus(s, "ValidateTemplate");
  if (!s.ok()) return;
  std::map<std::string, std::string> values;
  for (const auto& [name, type] : care::notification::SuppliedVariables(t.kind())) values[name] = "x";
  for (const std::string* text : {&t.subject(), &t.body(), &t.html_body()}) {
    auto out = care::notification::RenderText(*text, values, "body");
    CARE_FUZZ_CHECK(out.ok(), "a valid template does not render: " + out.status().ToString());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  CheckBuiltIns();
  ByteReader r(data, size);
  if (r.Byte() & 1) {
    TemplateCase(r.Rest());
  } else {
    TextCase(r);
  }
  return 0;
}
