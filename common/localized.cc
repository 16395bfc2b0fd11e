#include "common/localized.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace care {

bool IsLocaleTag(absl::string_view tag) {
  if (tag.empty() || tag.size() > kMaxLocaleTagLength) return false;
  bool first = true;
  for (absl::string_view subtag : absl::StrSplit(tag, '-')) {
    if (subtag.empty() || subtag.size() > 8) return false;
    for (char c : subtag) {
      const auto u = static_cast<unsigned char>(c);
      if (first ? !absl::ascii_isalpha(u) : !absl::ascii_isalnum(u)) return false;
    }
    // The language: ISO 639 (2-3 letters) or a registered 5-8 letter one.
    if (first && (subtag.size() < 2 || subtag.size() == 4)) return false;
    first = false;
  }
  return true;
}

std::vector<std::string> LocaleFallbackChain(absl::string_view locale, absl::string_view default_locale) {
  std::vector<std::string> chain;
  auto add_with_prefixes = [&chain](absl::string_view tag) {
    while (!tag.empty()) {
      const bool listed = std::any_of(chain.begin(), chain.end(),
                                      [&](const std::string& c) { return absl::EqualsIgnoreCase(c, tag); });
      if (!listed) chain.emplace_back(tag);
      const size_t dash = tag.rfind('-');
      tag = dash == absl::string_view::npos ? absl::string_view() : tag.substr(0, dash);
    }
  };
  add_with_prefixes(locale);
  add_with_prefixes(default_locale);
  return chain;
}

namespace localized_internal {

void CheckEntry(FieldErrors& errors, const std::string& field, absl::string_view tag, absl::string_view text,
                size_t max_chars) {
  if (!IsLocaleTag(tag)) errors.Add(field, "the key must be a BCP 47 locale such as \"ja\" or \"vi-VN\"");
  if (errors.RequireNonEmpty(field, text)) errors.RequireMaxLength(field, text, max_chars);
}

std::string EntryField(absl::string_view field, absl::string_view tag) {
  return absl::StrCat(field, "[", TruncateUtf8(tag, kMaxLocaleTagLength + 5), "]");
}

}  // namespace localized_internal
}  // namespace care
