#pragma once

// AIP-158 pagination shared by every List method: page sizes, and opaque
// page tokens bound to the filters they were issued for.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/errors.h"
#include "common/idempotency.h"
#include "google/protobuf/message.h"

namespace care {

// Default 50, larger than `max_size` lowered to it, negative INVALID_FIELD
// "page_size".
inline int PageSize(int64_t requested, FieldErrors& errors, int default_size = 50, int max_size = 1000) {
  if (requested < 0) {
    errors.Add("page_size", "must be >= 0");
    return default_size;
  }
  if (requested == 0) return default_size;
  return requested > max_size ? max_size : static_cast<int>(requested);
}

// A fingerprint of `request` without its page_size and page_token fields:
// what a page token is bound to.
inline int64_t PageFilterFingerprint(const google::protobuf::Message& request) {
  std::unique_ptr<google::protobuf::Message> copy(request.New());
  copy->CopyFrom(request);
  const auto* descriptor = copy->GetDescriptor();
  for (const char* name : {"page_size", "page_token"}) {
    if (const auto* field = descriptor->FindFieldByName(name)) copy->GetReflection()->ClearField(copy.get(), field);
  }
  return StableMessageHash(*copy);
}

// An opaque token: where the next page starts (`cursor`), bound to the
// filters of `request`.
inline std::string EncodePageToken(const google::protobuf::Message& request, absl::string_view cursor) {
  return absl::WebSafeBase64Escape(absl::StrCat(static_cast<uint64_t>(PageFilterFingerprint(request)), ":", cursor));
}

// INVALID_ARGUMENT / INVALID_PAGE_TOKEN.
inline absl::Status InvalidPageToken() {
  return Error(absl::StatusCode::kInvalidArgument, "INVALID_PAGE_TOKEN",
               "page_token is malformed or was issued for other filters", {{"field", "page_token"}});
}

// The cursor of `token` ("" for an empty token); InvalidPageToken() when it
// is malformed or was issued for other filters.
inline absl::StatusOr<std::string> DecodePageToken(const google::protobuf::Message& request, absl::string_view token) {
  if (token.empty()) return std::string();
  auto bad = [] { return InvalidPageToken(); };
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw)) return bad();
  auto colon = raw.find(':');
  uint64_t fingerprint = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(absl::string_view(raw).substr(0, colon), &fingerprint) ||
      fingerprint != static_cast<uint64_t>(PageFilterFingerprint(request))) {
    return bad();
  }
  return raw.substr(colon + 1);
}

// A List request's page size and numeric cursor (0 = from the start), with
// INVALID_ARGUMENT for a bad size or a token not issued for these filters.
struct PageRequest {
  int size = 50;
  int64_t cursor = 0;
};
inline absl::StatusOr<PageRequest> ReadPageRequest(const google::protobuf::Message& request, int64_t page_size,
                                                   absl::string_view page_token) {
  FieldErrors errors;
  PageRequest out;
  out.size = PageSize(page_size, errors);
  if (!errors.empty()) return errors.ToStatus();
  auto cursor = DecodePageToken(request, page_token);
  if (!cursor.ok()) return cursor.status();
  if (!cursor->empty() && !absl::SimpleAtoi(*cursor, &out.cursor)) return InvalidPageToken();
  return out;
}

// The same with the cursor as the text it was encoded from ("" = from the
// start), for lists ordered by a key that is not a number.
struct PageCursor {
  int size = 50;
  std::string cursor;
};
inline absl::StatusOr<PageCursor> ReadPageCursor(const google::protobuf::Message& request, int64_t page_size,
                                                 absl::string_view page_token) {
  FieldErrors errors;
  PageCursor out;
  out.size = PageSize(page_size, errors);
  if (!errors.empty()) return errors.ToStatus();
  auto cursor = DecodePageToken(request, page_token);
  if (!cursor.ok()) return cursor.status();
  out.cursor = std::move(*cursor);
  return out;
}

// `rows` were read with one more than `size` to learn whether more follow:
// drops the extra row and returns the token of the next page, made from
// `cursor_of(last row kept)` (anything absl::StrCat takes); "" when there is
// no more.
template <typename T, typename CursorOf>
std::string TrimPage(std::vector<T>& rows, int size, const google::protobuf::Message& request, CursorOf cursor_of) {
  if (static_cast<int>(rows.size()) <= size) return std::string();
  rows.resize(size);
  if (rows.empty()) return std::string();
  return EncodePageToken(request, absl::StrCat(cursor_of(rows.back())));
}

// The token of the page after `cursor`; empty when `cursor` is 0 (the last page).
inline std::string NextPageToken(const google::protobuf::Message& request, int64_t cursor) {
  return cursor == 0 ? std::string() : EncodePageToken(request, absl::StrCat(cursor));
}

// One page of the items that pass `keep`, read newest first in chunks:
// `fetch(before_seq, limit)` returns up to `limit` (seq, item) pairs with seq
// below `before_seq` (0 = from the newest), seq descending. Returns the page
// and the seq to continue before (0 = nothing more). Reads at most
// `max_scan` rows per call: a very selective filter gets a short page with a
// cursor rather than an unbounded scan.
template <typename T, typename Fetch, typename Keep>
absl::StatusOr<std::pair<std::vector<T>, int64_t>> FilteredPage(int64_t before_seq, int page_size, Fetch fetch,
                                                                Keep keep, int max_scan = 20000) {
  std::vector<T> page;
  int64_t cursor = before_seq;
  int scanned = 0;
  const int chunk = page_size + 1;
  while (scanned < max_scan) {
    absl::StatusOr<std::vector<std::pair<int64_t, T>>> rows = fetch(cursor, chunk);
    if (!rows.ok()) return rows.status();
    for (auto& [seq, item] : *rows) {
      if (static_cast<int>(page.size()) == page_size) return std::make_pair(std::move(page), cursor);
      cursor = seq;
      ++scanned;
      if (keep(item)) page.push_back(std::move(item));
    }
    if (static_cast<int>(rows->size()) < chunk) return std::make_pair(std::move(page), int64_t{0});
  }
  return std::make_pair(std::move(page), cursor);
}

}  // namespace care
