#include "tools/carectl/cli.h"

#include <algorithm>
#include <cstdio>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace carectl {

Args::Args(std::vector<std::string> raw) {
  for (auto& a : raw) {
    if (absl::StartsWith(a, "--") && a.size() > 2) {
      size_t eq = a.find('=');
      flags_[a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2)] = eq == std::string::npos
                                                                                      ? ""
                                                                                      : a.substr(eq + 1);
    } else {
      positionals_.push_back(std::move(a));
    }
  }
}

std::string Args::Positional(const std::string& name) {
  if (next_ >= positionals_.size()) throw UsageError(absl::StrCat("missing <", name, ">"));
  return positionals_[next_++];
}

std::string Args::OptionalPositional(const std::string& name, const std::string& fallback) {
  (void)name;
  return next_ < positionals_.size() ? positionals_[next_++] : fallback;
}

int64_t Args::IntPositional(const std::string& name) {
  std::string text = Positional(name);
  int64_t v;
  if (!absl::SimpleAtoi(text, &v))
    throw UsageError(absl::StrCat("<", name, "> must be an integer, not \"", text, "\""));
  return v;
}

std::string Args::Flag(const std::string& name, const std::string& fallback) {
  used_.insert(name);
  auto it = flags_.find(name);
  if (it == flags_.end()) return fallback;
  if (it->second.empty()) throw UsageError(absl::StrCat("--", name, " needs a value (--", name, "=...)"));
  return it->second;
}

int64_t Args::IntFlag(const std::string& name, int64_t fallback) {
  std::string text = Flag(name);
  if (text.empty()) return fallback;
  int64_t v;
  if (!absl::SimpleAtoi(text, &v))
    throw UsageError(absl::StrCat("--", name, " must be an integer, not \"", text, "\""));
  return v;
}

bool Args::BoolFlag(const std::string& name) {
  used_.insert(name);
  auto it = flags_.find(name);
  if (it == flags_.end()) return false;
  if (it->second.empty() || it->second == "true") return true;
  if (it->second == "false") return false;
  throw UsageError(absl::StrCat("--", name, " is true or false, not \"", it->second, "\""));
}

void Args::Done() {
  for (const auto& [name, value] : flags_) {
    if (!used_.count(name)) throw UsageError(absl::StrCat("unknown flag --", name));
  }
  if (next_ < positionals_.size()) throw UsageError(absl::StrCat("unexpected argument \"", positionals_[next_], "\""));
}

std::unique_ptr<grpc::ClientContext> Context::NewCall() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!options_.token.empty()) ctx->AddMetadata("authorization", absl::StrCat("Bearer ", options_.token));
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(options_.timeout));
  return ctx;
}

namespace {

// "NOT_FOUND" for grpc::StatusCode::NOT_FOUND.
std::string CodeName(grpc::StatusCode code) {
  static const char* kNames[] =
      {"OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
       "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
       "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
       "DATA_LOSS", "UNAUTHENTICATED"};
  int i = static_cast<int>(code);
  return i >= 0 && i <= 16 ? kNames[i] : absl::StrCat("CODE_", i);
}

}  // namespace

int Context::Finish(const grpc::Status& status, const google::protobuf::Message& response,
                    const std::function<void()>& human) const {
  if (!status.ok()) {
    std::string reason;
    std::vector<std::string> fields;
    google::rpc::Status details;
    if (!status.error_details().empty() && details.ParseFromString(status.error_details())) {
      for (const auto& any : details.details()) {
        google::rpc::ErrorInfo info;
        google::rpc::BadRequest bad;
        if (any.UnpackTo(&info)) reason = info.reason();
        if (any.UnpackTo(&bad)) {
          for (const auto& v : bad.field_violations()) fields.push_back(absl::StrCat(v.field(), ": ", v.description()));
        }
      }
    }
    std::fprintf(stderr, "error: %s: %s\n", CodeName(status.error_code()).c_str(), status.error_message().c_str());
    if (!reason.empty()) std::fprintf(stderr, "reason: %s\n", reason.c_str());
    for (const auto& f : fields) std::fprintf(stderr, "field %s\n", f.c_str());
    return kRpcError;
  }
  if (options_.json) {
    std::string out;
    google::protobuf::util::JsonPrintOptions json;
    json.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(response, &out, json);
    std::printf("%s\n", out.c_str());
  } else {
    human();
  }
  return kOk;
}

std::string RequestId(Args& args) {
  std::string given = args.Flag("request_id");
  if (!given.empty()) return given;
  std::random_device rd;
  return absl::StrFormat("carectl-%016x%08x", (uint64_t{rd()} << 32) | rd(), rd());
}

void Table::Print(const std::string& empty) const {
  if (rows_.empty()) {
    std::printf("%s\n", empty.c_str());
    return;
  }
  std::vector<size_t> width(headers_.size());
  for (size_t i = 0; i < headers_.size(); ++i) width[i] = headers_[i].size();
  for (const auto& r : rows_) {
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < headers_.size(); ++i) {
      std::string cell = i < cells.size() ? cells[i] : "";
      if (i + 1 < headers_.size()) cell.resize(width[i] + 2, ' ');
      out += cell;
    }
    std::printf("%s\n", out.c_str());
  };
  line(headers_);
  for (const auto& r : rows_) line(r);
}

void PrintFields(const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t width = 0;
  for (const auto& [k, v] : fields) width = std::max(width, k.size());
  for (const auto& [k, v] : fields) std::printf("%-*s  %s\n", static_cast<int>(width), k.c_str(), v.c_str());
}

void PrintNextPage(const std::string& next_page_token) {
  if (!next_page_token.empty()) std::printf("more: --page_token=%s\n", next_page_token.c_str());
}

std::string Time(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return google::protobuf::util::TimeUtil::ToString(t);
}

namespace {

// Minor-unit digits of a currency: the few without cents, else two.
int Exponent(const std::string& currency) {
  static const std::set<std::string> kZero = {"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"};
  return kZero.count(currency) ? 0 : 2;
}

}  // namespace

std::string Money(const care::common::v1::Money& m) {
  int e = Exponent(m.currency_code());
  if (e == 0) return absl::StrCat(m.amount_minor(), " ", m.currency_code());
  int64_t a = m.amount_minor();
  std::string sign = a < 0 ? "-" : "";
  a = a < 0 ? -a : a;
  return absl::StrFormat("%s%d.%02d %s", sign, a / 100, a % 100, m.currency_code());
}

care::common::v1::Money ParseMoney(const std::string& text, const std::string& currency) {
  int e = Exponent(currency);
  std::vector<std::string> parts = absl::StrSplit(text, '.');
  int64_t major = 0, minor = 0;
  bool ok = parts.size() <= 2 && !parts[0].empty() && absl::SimpleAtoi(parts[0], &major) && major >= 0;
  if (ok && parts.size() == 2) {
    ok = !parts[1].empty() && static_cast<int>(parts[1].size()) <= e && absl::SimpleAtoi(parts[1], &minor);
    if (ok && parts[1].size() == 1) minor *= 10;
  }
  if (!ok) {
    throw UsageError(absl::StrCat("amount \"", text, "\" is not a ", currency, " amount like ",
                                  e == 0 ? "1500" : "125.50"));
  }
  care::common::v1::Money m;
  m.set_amount_minor(e == 0 ? major : major * 100 + minor);
  m.set_currency_code(currency);
  return m;
}

google::protobuf::Timestamp ParseTime(const std::string& flag, const std::string& text) {
  google::protobuf::Timestamp t;
  if (!google::protobuf::util::TimeUtil::FromString(text, &t)) {
    throw UsageError(absl::StrCat("--", flag, " \"", text, "\" is not an RFC 3339 time like 2031-01-15T10:00:00Z"));
  }
  return t;
}

namespace {

std::string Prefix(const google::protobuf::EnumDescriptor* type) {
  const auto* unspecified = type->FindValueByNumber(0);
  if (unspecified && absl::EndsWith(unspecified->name(), "UNSPECIFIED")) {
    return unspecified->name().substr(0, unspecified->name().size() - std::string("UNSPECIFIED").size());
  }
  return "";
}

}  // namespace

std::string EnumName(const google::protobuf::EnumDescriptor* type, int value) {
  const auto* v = type->FindValueByNumber(value);
  if (v == nullptr) return absl::StrCat(value);
  std::string prefix = Prefix(type);
  return absl::StartsWith(v->name(), prefix) ? v->name().substr(prefix.size()) : v->name();
}

int ParseEnum(const google::protobuf::EnumDescriptor* type, const std::string& flag, const std::string& text) {
  std::string upper = absl::AsciiStrToUpper(text);
  std::string prefix = Prefix(type);
  std::vector<std::string> choices;
  for (int i = 0; i < type->value_count(); ++i) {
    const auto* v = type->value(i);
    if (v->number() == 0) continue;
    if (v->name() == upper || v->name() == prefix + upper) return v->number();
    choices.push_back(absl::AsciiStrToLower(EnumName(type, v->number())));
  }
  throw UsageError(absl::StrCat(flag, " \"", text, "\" is not one of: ", absl::StrJoin(choices, ", ")));
}

}  // namespace carectl
