#pragma once

// Forbidden-phrase matching that works for Vietnamese and Japanese: both
// sides are NFKC-normalised and case-folded (ICU), so a phrase stored as
// "không thể" matches "KHÔNG THỂ" typed with combining accents, and full-width
// Latin matches its ASCII form.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace care::complaint {

std::string FoldForMatch(absl::string_view text);

// The phrases of `phrases` found in `text`, in the list's order.
std::vector<std::string> FindForbidden(const std::vector<std::string>& phrases, absl::string_view text);

}  // namespace care::complaint
