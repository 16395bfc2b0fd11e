// carectl's machine-readable forms: -o json and -o yaml of a response, and
// resources read from JSON files (`... create --file policy.json`). Files are
// JSON only: YAML input would need yaml-cpp at run time, one more library in
// the image for a convenience (`yq -o json` converts).

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "tools/carectl/cli.h"

namespace carectl {
namespace {

using nlohmann::json;

// A string YAML reads back as the same string without quotes: starts with a
// letter, holds no indicator that could start a comment, a mapping or a flow,
// and is not one of YAML 1.1's booleans or nulls.
bool PlainSafe(const std::string& s) {
  if (s.empty() || !absl::ascii_isalpha(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && std::string(" _-./@+()").find(c) == std::string::npos)
      return false;
  }
  if (s.back() == ' ') return false;
  static const char* kWords[] = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"};
  std::string lower = absl::AsciiStrToLower(s);
  for (const char* w : kWords) {
    if (lower == w) return false;
  }
  return true;
}

std::string Scalar(const json& v) {
  if (v.is_object()) return "{}";
  if (v.is_array()) return "[]";
  if (v.is_string() && PlainSafe(v.get<std::string>())) return v.get<std::string>();
  return v.dump();  // a JSON string is a valid YAML double-quoted scalar
}

bool Nested(const json& v) { return (v.is_object() || v.is_array()) && !v.empty(); }

// The entries of a non-empty object or array, one per line at `indent`; the
// first one continues the current line when `inline_first` (after "- ").
void Block(const json& v, size_t indent, bool inline_first, std::string& out) {
  std::string pad(indent, ' ');
  bool first = true;
  auto lead = [&] {
    if (!(first && inline_first)) out += pad;
    first = false;
  };
  auto value = [&](const json& item, size_t deeper) {
    if (Nested(item)) {
      out += "\n";
      Block(item, deeper, false, out);
    } else {
      out += " " + Scalar(item) + "\n";
    }
  };
  if (v.is_object()) {
    for (const auto& [key, item] : v.items()) {
      lead();
      out += Scalar(json(key)) + ":";
      value(item, item.is_array() ? indent : indent + 2);
    }
    return;
  }
  for (const auto& item : v) {
    lead();
    out += "-";
    if (item.is_object() && !item.empty()) {
      out += " ";
      Block(item, indent + 2, true, out);
    } else {
      value(item, indent + 2);
    }
  }
}

}  // namespace

std::string JsonToYaml(const std::string& text) {
  json v = json::parse(text);
  std::string out;
  if (Nested(v)) {
    Block(v, 0, false, out);
  } else {
    out = Scalar(v) + "\n";
  }
  return out;
}

void PrintMessage(const google::protobuf::Message& response, Output output) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  // An operator reading `"points_balance": 0` learns the balance; an absent field says nothing.
  options.always_print_primitive_fields = true;
  options.add_whitespace = output == Output::kJson;
  (void)google::protobuf::util::MessageToJsonString(response, &out, options);
  if (output == Output::kYaml) {
    std::fputs(JsonToYaml(out).c_str(), stdout);
  } else {
    // add_whitespace already ends the text with a newline.
    std::fputs(out.c_str(), stdout);
    if (out.empty() || out.back() != '\n') std::fputc('\n', stdout);
  }
}

void ReadMessageFile(const std::string& path, google::protobuf::Message* message) {
  std::stringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(path);
    if (!in) throw UsageError(absl::StrCat("cannot read ", path));
    text << in.rdbuf();
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // a misspelt field is an error, not a silent default
  auto status = google::protobuf::util::JsonStringToMessage(text.str(), message, options);
  if (!status.ok()) {
    throw UsageError(absl::StrCat(path, " is not a ", message->GetDescriptor()->name(), ": ",
                                  status.message().ToString()));
  }
}

std::vector<std::string> SetFieldPaths(const google::protobuf::Message& message, const std::set<std::string>& skip) {
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  message.GetReflection()->ListFields(message, &fields);
  std::vector<std::string> paths;
  for (const auto* f : fields) {
    if (!skip.count(f->name())) paths.push_back(f->name());
  }
  return paths;
}

}  // namespace carectl
