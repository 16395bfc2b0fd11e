#include "common/sql.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/message.h"

namespace care {

namespace {

void AppendJsonString(absl::string_view value, std::string* out) {
  out->push_back('"');
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (u < 0x20) {
      absl::StrAppend(out, "\\u00", absl::Hex(u, absl::kZeroPad2));
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

void AppendInt32(uint32_t v, std::string* out) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

// Element type oids (pg_type.h): int8, text, bytea.
uint32_t ElementOid(SqlArray::Type type) {
  switch (type) {
    case SqlArray::Type::kInt8:
      return 20;
    case SqlArray::Type::kText:
      return 25;
    case SqlArray::Type::kBytea:
      return 17;
  }
  return 0;
}

}  // namespace

void SqlArray::Put(int64_t v) {
  ++size_;
  AppendInt32(8, &elements_);
  const auto u = static_cast<uint64_t>(v);
  AppendInt32(static_cast<uint32_t>(u >> 32), &elements_);
  AppendInt32(static_cast<uint32_t>(u & 0xffffffffU), &elements_);
}

void SqlArray::Put(absl::string_view v) {
  ++size_;
  AppendInt32(static_cast<uint32_t>(v.size()), &elements_);
  elements_.append(v.data(), v.size());
}

void SqlArray::Put(std::nullptr_t) {
  ++size_;
  nulls_ = true;
  AppendInt32(0xffffffffU, &elements_);  // length -1
}

std::string SqlArray::Wire() const {
  std::string out;
  out.reserve(20 + elements_.size());
  AppendInt32(size_ > 0 ? 1 : 0, &out);  // dimensions: an empty array has none
  AppendInt32(nulls_ ? 1 : 0, &out);
  AppendInt32(ElementOid(type_), &out);
  if (size_ > 0) {
    AppendInt32(static_cast<uint32_t>(size_), &out);
    AppendInt32(1, &out);  // lower bound
  }
  out += elements_;
  return out;
}

std::string JsonArray(const std::vector<std::string>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ",";
    AppendJsonString(values[i], &out);
  }
  return out + "]";
}

std::string JsonArray(const std::vector<int>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) absl::StrAppend(&out, i ? "," : "", values[i]);
  return out + "]";
}

absl::Status ParseBlob(const Statement& s, int col, google::protobuf::Message& out, absl::string_view what) {
  if (!out.ParseFromString(s.Bytes(col))) return absl::DataLossError(absl::StrCat("stored ", what, " is unreadable"));
  return absl::OkStatus();
}

}  // namespace care
