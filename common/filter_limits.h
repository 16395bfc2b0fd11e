#pragma once

#include <initializer_list>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/errors.h"
#include "google/rpc/error_details.pb.h"

// The bound on repeated filter fields of list, search and subscribe requests
// (ListMembersRequest.tier_ids, DeliveryFilter.statuses, ...): every value
// becomes part of a query, so a request with 200,000 of them costs the
// service memory and time out of all proportion to its answer.
// docs/invariants.md lists the fields.

namespace care {

// Values one repeated filter field may carry. An enum filter has fewer
// distinct values than this; an id filter with more belongs in several calls.
inline constexpr int kMaxFilterValues = 100;

// OK when `count` <= `max`; otherwise INVALID_ARGUMENT, reason
// TOO_MANY_VALUES, naming `field` (ErrorInfo metadata "field" and a
// BadRequest violation) with the bound in metadata "max_values". Checked
// before the values are looked at, so an oversized request costs nothing.
inline absl::Status CheckFilterValues(absl::string_view field, int count, int max = kMaxFilterValues) {
  if (count <= max) return absl::OkStatus();
  const std::string description = absl::StrCat("at most ", max, " values, got ", count);
  absl::Status status = Error(absl::StatusCode::kInvalidArgument, "TOO_MANY_VALUES",
                              absl::StrCat(field, ": ", description),
                              {{"field", std::string(field)}, {"max_values", absl::StrCat(max)}});
  google::rpc::BadRequest bad;
  auto* violation = bad.add_field_violations();
  violation->set_field(std::string(field));
  violation->set_description(description);
  status.SetPayload("type.googleapis.com/google.rpc.BadRequest", absl::Cord(bad.SerializeAsString()));
  return status;
}

// A repeated field of a request and how many values it carries.
struct FilterSize {
  absl::string_view field;
  int count;
};

// The first of `fields` over `max`, as above; OK when none is.
inline absl::Status CheckFilterValues(std::initializer_list<FilterSize> fields, int max = kMaxFilterValues) {
  for (const FilterSize& f : fields) {
    if (absl::Status s = CheckFilterValues(f.field, f.count, max); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace care
