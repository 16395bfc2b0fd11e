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

}  // namespace

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
