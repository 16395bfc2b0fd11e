#pragma once

// Issue 16, defect 5: what a list, search or subscribe call answers when a
// repeated filter field carries more values than the documented bound
// (common/filter_limits.h: 100 unless stated).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/harness/harness.h"

namespace care::testing {

inline constexpr int kFilterBound = 100;

// INVALID_ARGUMENT, reason TOO_MANY_VALUES, naming `field` in the ErrorInfo
// and as the only BadRequest violation.
inline void ExpectTooManyValues(const grpc::Status& s, const std::string& field) {
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_EQ(Reason(s), "TOO_MANY_VALUES") << Describe(s);
  EXPECT_EQ(ReasonMetadata(s, "field"), field) << Describe(s);
  EXPECT_EQ(BadFields(s), std::vector<std::string>{field}) << Describe(s);
}

}  // namespace care::testing
