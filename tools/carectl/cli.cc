#include "tools/carectl/cli.h"

#include <unicode/ucurr.h>

#include <algorithm>
#include <array>
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

namespace {

// Flags are looked up by their kebab-case name; `request_id` and `request-id` are one flag.
std::string FlagKey(std::string name) {
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

}  // namespace

Args::Args(std::vector<std::string> positionals, const std::map<std::string, std::string>& flags)
    : positionals_(std::move(positionals)) {
  for (const auto& [name, value] : flags) flags_[FlagKey(name)] = value;
}

std::string Args::Positional(const std::string& name) {
  if (next_ >= positionals_.size()) throw UsageError(absl::StrCat("missing <", name, ">"));
  return positionals_[next_++];
}

std::string Args::OptionalPositional(const std::string& name, const std::string& fallback) {
  (void)name;
  return next_ < positionals_.size() ? positionals_[next_++] : fallback;
}

std::vector<std::string> Args::RestPositionals() {
  std::vector<std::string> rest(positionals_.begin() + static_cast<std::ptrdiff_t>(next_), positionals_.end());
  next_ = positionals_.size();
  return rest;
}

int64_t Args::IntPositional(const std::string& name) {
  std::string text = Positional(name);
  int64_t v;
  if (!absl::SimpleAtoi(text, &v))
    throw UsageError(absl::StrCat("<", name, "> must be an integer, not \"", text, "\""));
  return v;
}

std::string Args::Flag(const std::string& name, const std::string& fallback) {
  std::string key = FlagKey(name);
  used_.insert(key);
  auto it = flags_.find(key);
  if (it == flags_.end()) return fallback;
  if (it->second.empty()) throw UsageError(absl::StrCat("--", key, " needs a value (--", key, " VALUE)"));
  return it->second;
}

int64_t Args::IntFlag(const std::string& name, int64_t fallback) {
  std::string text = Flag(name);
  if (text.empty()) return fallback;
  int64_t v;
  if (!absl::SimpleAtoi(text, &v))
    throw UsageError(absl::StrCat("--", FlagKey(name), " must be an integer, not \"", text, "\""));
  return v;
}

bool Args::BoolFlag(const std::string& name) {
  std::string key = FlagKey(name);
  used_.insert(key);
  auto it = flags_.find(key);
  return it != flags_.end() && it->second == "true";
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
  if (options_.output == Output::kTable) {
    human();
  } else {
    PrintMessage(response, options_.output);
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
  if (!next_page_token.empty()) std::printf("more: --page-token=%s\n", next_page_token.c_str());
}

std::string Time(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return google::protobuf::util::TimeUtil::ToString(t);
}

int CurrencyDigits(const std::string& currency) {
  if (currency.size() != 3) return 2;  // the service refuses it; show the amount as cents meanwhile
  std::array<UChar, 4> code = {static_cast<UChar>(currency[0]), static_cast<UChar>(currency[1]),
                               static_cast<UChar>(currency[2]), 0};
  UErrorCode status = U_ZERO_ERROR;
  int32_t digits = ucurr_getDefaultFractionDigits(code.data(), &status);
  return U_SUCCESS(status) && digits >= 0 && digits <= 4 ? digits : 2;
}

namespace {

int64_t Pow10(int digits) {
  int64_t p = 1;
  for (int i = 0; i < digits; ++i) p *= 10;
  return p;
}

}  // namespace

std::string Money(const care::common::v1::Money& m) {
  int e = CurrencyDigits(m.currency_code());
  int64_t a = m.amount_minor();
  std::string sign = a < 0 ? "-" : "";
  uint64_t abs = a < 0 ? 0 - static_cast<uint64_t>(a) : static_cast<uint64_t>(a);
  auto unit = static_cast<uint64_t>(Pow10(e));
  if (e == 0) return absl::StrCat(sign, abs, " ", m.currency_code());
  return absl::StrFormat("%s%d.%0*d %s", sign, abs / unit, e, abs % unit, m.currency_code());
}

care::common::v1::Money ParseMoney(const std::string& text, const std::string& currency) {
  int e = CurrencyDigits(currency);
  std::vector<std::string> parts = absl::StrSplit(text, '.');
  int64_t major = 0, minor = 0;
  auto digits = [](const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isdigit(c); });
  };
  // At most 12 major digits, so that major * 10^e cannot overflow.
  bool ok = parts.size() <= 2 && digits(parts[0]) && parts[0].size() <= 12 && absl::SimpleAtoi(parts[0], &major);
  if (ok && parts.size() == 2) {
    ok = digits(parts[1]) && static_cast<int>(parts[1].size()) <= e && absl::SimpleAtoi(parts[1], &minor);
    if (ok) minor *= Pow10(e - static_cast<int>(parts[1].size()));
  }
  if (!ok) {
    std::string example = e == 0 ? "1500" : absl::StrCat("125.5", std::string(static_cast<size_t>(e - 1), '0'));
    throw UsageError(absl::StrCat("amount \"", text, "\" is not a ", currency, " amount like ", example));
  }
  care::common::v1::Money m;
  m.set_amount_minor(major * Pow10(e) + minor);
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
