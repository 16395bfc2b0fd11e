#include "services/complaint/phrases.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

namespace care::complaint {

std::string FoldForMatch(absl::string_view text) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfkc_cf = icu::Normalizer2::getNFKCCasefoldInstance(status);
  icu::UnicodeString in = icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(),
                                                                        static_cast<int32_t>(text.size())));
  std::string out;
  if (U_FAILURE(status)) return std::string(text);
  icu::UnicodeString folded = nfkc_cf->normalize(in, status);
  if (U_FAILURE(status)) return std::string(text);
  // Every run of white space (spaces, tabs, newlines, NBSP, ideographic
  // space...) becomes one space and the ends are trimmed, so "calm  down"
  // or "calm\ndown" matches the phrase "calm down".
  icu::UnicodeString collapsed;
  bool pending_space = false;
  for (int32_t i = 0; i < folded.length();) {
    UChar32 ch = folded.char32At(i);
    i += U16_LENGTH(ch);
    if (u_isUWhiteSpace(ch)) {
      pending_space = !collapsed.isEmpty();
      continue;
    }
    if (pending_space) collapsed.append(static_cast<UChar>(0x20));
    pending_space = false;
    collapsed.append(ch);
  }
  collapsed.toUTF8String(out);
  return out;
}

std::vector<std::string> FindForbidden(const std::vector<std::string>& phrases, absl::string_view text) {
  std::vector<std::string> found;
  std::string haystack = FoldForMatch(text);
  for (const std::string& phrase : phrases) {
    std::string needle = FoldForMatch(phrase);
    if (!needle.empty() && haystack.find(needle) != std::string::npos) found.push_back(phrase);
  }
  return found;
}

}  // namespace care::complaint
