#pragma once

// Content in the reader's language: BCP 47 tags, the one fallback chain along
// which every service picks a localized text (campaign titles, tier names,
// templates, scripts), and the bounds of a map of texts by locale.

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "common/errors.h"

namespace care {

// Locales one map of texts may hold (a campaign's titles, a tier's names).
inline constexpr size_t kMaxLocalizedTexts = 32;
// Longest tag accepted (the longest registered BCP 47 forms are shorter).
inline constexpr size_t kMaxLocaleTagLength = 35;

// A well-formed BCP 47 tag in the form the suite uses: a language of 2-3 or
// 5-8 letters, then subtags of 1-8 letters or digits joined by '-', at most
// kMaxLocaleTagLength characters ("ja", "vi-VN", "zh-Hant-TW"); any case.
bool IsLocaleTag(absl::string_view tag);

// The locales to try, most specific first, for a reader in `locale`: the tag
// and each shorter prefix of it by subtag (RFC 4647 lookup: "zh-Hant-TW",
// "zh-Hant", "zh"), then `default_locale` and its prefixes. Empty tags are
// skipped; a tag already listed (compared without case) is not repeated.
std::vector<std::string> LocaleFallbackChain(absl::string_view locale, absl::string_view default_locale);

// The text `texts` holds for the first locale of `chain` (keys compared
// without case), or `plain` when it holds none of them. `Map` is any map of
// std::string to std::string (std::map, google::protobuf::Map).
template <typename Map>
const std::string& PickLocalized(const Map& texts, const std::vector<std::string>& chain, const std::string& plain) {
  for (const std::string& locale : chain) {
    for (const auto& [tag, text] : texts) {
      if (absl::EqualsIgnoreCase(tag, locale)) return text;
    }
  }
  return plain;
}

namespace localized_internal {
// Checks one entry; `field` already names it.
void CheckEntry(FieldErrors& errors, const std::string& field, absl::string_view tag, absl::string_view text,
                size_t max_chars);
// "<field>[<tag>]", the tag cut short when it is long.
std::string EntryField(absl::string_view field, absl::string_view tag);
}  // namespace localized_internal

// Adds a violation for each bad part of `texts`, a map from locale to text
// named `field`: more than kMaxLocalizedTexts entries (named `field`), and
// per entry (named `field[tag]`) a tag that is not IsLocaleTag, a tag equal
// to another but for case, an empty text, or one over `max_chars` code points.
template <typename Map>
void ValidateLocalizedTexts(FieldErrors& errors, absl::string_view field, const Map& texts, size_t max_chars) {
  if (texts.size() > kMaxLocalizedTexts) {
    errors.Add(field, "at most " + std::to_string(kMaxLocalizedTexts) + " locales");
    return;
  }
  // Sorted, so the violations come in the same order whatever the map's.
  std::vector<std::pair<std::string, const std::string*>> entries;
  entries.reserve(texts.size());
  for (const auto& [tag, text] : texts) entries.emplace_back(tag, &text);
  std::sort(entries.begin(), entries.end());
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string f = localized_internal::EntryField(field, entries[i].first);
    localized_internal::CheckEntry(errors, f, entries[i].first, *entries[i].second, max_chars);
    for (size_t j = 0; j < i; ++j) {
      if (absl::EqualsIgnoreCase(entries[i].first, entries[j].first)) {
        errors.Add(f, "the same locale as " + entries[j].first + " (tags are compared without case)");
      }
    }
  }
}

}  // namespace care
