#pragma once

// Forbidden-phrase matching that works for Vietnamese and Japanese: both
// sides are NFKC-normalised and case-folded (ICU), so a phrase stored as
// "không thể" matches "KHÔNG THỂ" typed with combining accents, and full-width
// Latin matches its ASCII form. White space is collapsed on both sides, so a
// double space, a tab or a line break inside a phrase does not hide it.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace care::complaint {

// NFKC + case folding, white-space runs as one space, ends trimmed.
std::string FoldForMatch(absl::string_view text);

// The phrases of `phrases` found in `text`, in the list's order.
std::vector<std::string> FindForbidden(const std::vector<std::string>& phrases, absl::string_view text);

}  // namespace care::complaint
