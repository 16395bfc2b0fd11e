#include "services/loyalty/request_checks.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/bounds.h"
#include "common/proto_time.h"
#include "google/protobuf/util/field_mask_util.h"
#include "services/loyalty/loyalty_service.h"

namespace care::loyalty {

namespace {

bool ValidDay(int year, int month, int day) {
  if (month < 1 || month > 12 || day < 1) return false;
  int y = year == 0 ? 2000 : year;  // without a year, 29 February is allowed
  absl::CivilDay d(y, month, day);
  return d.month() == month && d.day() == day;
}

bool IsLocale(const std::string& s) {
  if (s.size() > 35) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
  }
  return !s.empty() && s.front() != '-' && s.back() != '-';
}

}  // namespace

bool IsSlug(const std::string& s) {  // [a-z0-9_-]{1,32}
  if (s.empty() || s.size() > 32) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

void OptionalId(FieldErrors& errors, const std::string& field, const std::string& value) {
  if (!value.empty()) errors.RequireId(field, value);
}

// A Money that must be present, non-negative and in a valid currency.
void RequireAmount(FieldErrors& errors, const std::string& field, bool present, const care::common::v1::Money& m,
                   bool positive) {
  if (!present) {
    errors.Add(field, "required");
    return;
  }
  if (positive ? m.amount_minor() <= 0 : m.amount_minor() < 0) {
    errors.Add(field + ".amount_minor", positive ? "must be > 0" : "must be >= 0");
  } else {
    errors.RequireMoney(field + ".amount_minor", m.amount_minor());
  }
  errors.RequireCurrency(field + ".currency_code", m.currency_code());
}

// A business timestamp sent by a caller, when present and valid.
std::optional<absl::Time> BusinessTime(FieldErrors& errors, const std::string& field, bool present,
                                       const google::protobuf::Timestamp& t) {
  CheckOptionalTimestamp(errors, field, present, t);
  if (!present || !ValidTimestamp(t)) return std::nullopt;
  return FromTimestamp(t);
}

void ValidateProfile(FieldErrors& errors, const v1::Member& m, const std::set<std::string>* paths, absl::Time now) {
  auto want = [&](const char* f) { return paths == nullptr || paths->count(f) > 0; };
  if (want("name") && errors.RequireNonEmpty("member.name", m.name())) {
    errors.RequireMaxLength("member.name", m.name(), 200);
  }
  if (want("email") && !m.email().empty() && !IsEmail(m.email())) {
    errors.Add("member.email", "must be an e-mail address");
  }
  if (want("phone") && !m.phone().empty() && !IsE164(m.phone())) {
    errors.Add("member.phone", "must be an E.164 number such as +84901234567");
  }
  if (want("locale") && !m.locale().empty() && !IsLocale(m.locale())) {
    errors.Add("member.locale", "must be a BCP 47 tag such as \"vi-VN\"");
  }
  if (want("time_zone") && !m.time_zone().empty()) errors.RequireTimeZone("member.time_zone", m.time_zone());
  if (want("birthday") && m.has_birthday()) {
    const auto& b = m.birthday();
    int this_year = static_cast<int>(absl::ToCivilDay(now, absl::UTCTimeZone()).year());
    if (b.year() != 0 && (b.year() < 1900 || b.year() > this_year)) {
      errors.Add("member.birthday.year", "must be 0 or between 1900 and this year");
    }
    if (!ValidDay(b.year(), b.month(), b.day())) errors.Add("member.birthday", "is not a calendar date");
  }
  if (want("segment") && !m.segment().empty() && !IsSlug(m.segment())) {
    errors.Add("member.segment", "must match [a-z0-9_-]{1,32}");
  }
  if (want("gender") && !v1::Gender_IsValid(m.gender())) errors.Add("member.gender", "unknown value");
  if (want("age_band") && !v1::AgeBand_IsValid(m.age_band())) errors.Add("member.age_band", "unknown value");
  if (want("occupation")) errors.RequireMaxLength("member.occupation", m.occupation(), 100);
  if (want("marketing_consents")) {
    std::set<int> channels;
    for (int i = 0; i < m.marketing_consents_size(); ++i) {
      int channel = m.marketing_consents(i).channel();
      std::string f = absl::StrCat("member.marketing_consents[", i, "].channel");
      if (channel == 0 || !care::common::v1::MessageChannel_IsValid(channel)) {
        errors.Add(f, "required: a known channel");
      } else if (!channels.insert(channel).second) {
        errors.Add(f, "at most one entry per channel");
      }
    }
  }
}

absl::StatusOr<std::set<std::string>> MemberMaskPaths(const google::protobuf::FieldMask& mask) {
  FieldErrors errors;
  std::set<std::string> paths;
  if (mask.paths().empty()) errors.Add("update_mask", "required: the fields to update");
  for (const std::string& p : mask.paths()) {
    if (UpdatableProfileFields().count(p) == 0) {
      errors.Add("update_mask", absl::StrCat(EchoValue(p), " cannot be updated"));
    } else {
      paths.insert(p);
    }
  }
  if (!errors.empty()) return errors.ToStatus();
  return paths;
}

void ValidateMemberFilter(FieldErrors& errors, const google::protobuf::RepeatedPtrField<std::string>& tiers,
                          const google::protobuf::RepeatedPtrField<std::string>& segments, MemberFilter* filter) {
  for (int i = 0; i < tiers.size(); ++i) {
    if (!IsSlug(tiers[i])) errors.Add(absl::StrCat("tier_ids[", i, "]"), "must match [a-z0-9_-]{1,32}");
    filter->tier_ids.push_back(tiers[i]);
  }
  for (int i = 0; i < segments.size(); ++i) {
    if (!IsSlug(segments[i])) errors.Add(absl::StrCat("segments[", i, "]"), "must match [a-z0-9_-]{1,32}");
    filter->segments.push_back(segments[i]);
  }
}

std::optional<absl::Time> CheckPurchase(FieldErrors& errors, const v1::RecordPurchaseRequest* req) {
  OptionalId(errors, "request_id", req->request_id());
  errors.RequireId("member_id", req->member_id());
  errors.RequireId("order_id", req->order_id());
  RequireAmount(errors, "amount", req->has_amount(), req->amount());
  auto purchase_time = BusinessTime(errors, "purchase_time", req->has_purchase_time(), req->purchase_time());
  // Checked sums: a wrapped total must not match `amount`.
  std::optional<int64_t> lines_total = 0;
  std::set<std::string> line_ids;
  for (int i = 0; i < req->lines_size(); ++i) {
    const v1::PurchaseLine& l = req->lines(i);
    std::string at = absl::StrCat("lines[", i, "]");
    if (!l.line_id().empty() && !line_ids.insert(l.line_id()).second) errors.Add(at + ".line_id", "duplicate");
    errors.RequireMaxLength(at + ".line_id", l.line_id(), 128);
    errors.RequireMaxLength(at + ".sku", l.sku(), 128);
    errors.RequireMaxLength(at + ".category", l.category(), 128);
    errors.RequireRange(at + ".quantity", l.quantity(), 1, kMaxLineQuantity);
    if (l.amount().amount_minor() < 0) {
      errors.Add(at + ".amount.amount_minor", "must be >= 0");
    } else {
      errors.RequireMoney(at + ".amount.amount_minor", l.amount().amount_minor());
    }
    if (l.amount().currency_code() != req->amount().currency_code()) {
      errors.Add(at + ".amount.currency_code", "must be the currency of amount");
    }
    if (lines_total) lines_total = CheckedAdd(*lines_total, l.amount().amount_minor());
  }
  if (req->lines_size() > 0 && lines_total != req->amount().amount_minor()) {
    errors.Add("lines", lines_total ? "line amounts must add up to amount"
                                    : absl::StrCat("line amounts add up to more than ", kMaxMoneyMinor));
  }
  if (req->lines_size() > 500) errors.Add("lines", "at most 500 lines");
  if (req->campaign_ids_size() > 50) errors.Add("campaign_ids", "at most 50");
  for (int i = 0; i < req->campaign_ids_size(); ++i) {
    errors.RequireId(absl::StrCat("campaign_ids[", i, "]"), req->campaign_ids(i));
  }
  errors.RequireMaxLength("store_id", req->store_id(), 128);
  if (!req->promotion_redemption_id().empty())
    errors.RequireId("promotion_redemption_id", req->promotion_redemption_id());
  errors.RequireMaxLength("promotion_redemption_id", req->promotion_redemption_id(), 64);
  return purchase_time;
}

bool CheckProgramMask(FieldErrors& errors, const v1::UpdateProgramRequest& req) {
  using google::protobuf::util::FieldMaskUtil;
  static const std::set<std::string> kTop = {"display_name", "currency_code", "time_zone",    "tiers",
                                             "earn_rule",    "points_expiry", "visit_reward", "birthday_bonus",
                                             "occasions",    "point_value",   "cadence_rules"};
  static const std::set<std::string> kNested = {"earn_rule", "points_expiry", "visit_reward", "birthday_bonus",
                                                "point_value"};
  bool replace_all = req.update_mask().paths().empty();
  for (const std::string& path : req.update_mask().paths()) {
    if (path == "*") {
      replace_all = true;
      continue;
    }
    std::string head = path.substr(0, path.find('.'));
    bool ok = path.find('.') == std::string::npos
                  ? kTop.count(path) > 0
                  : kNested.count(head) > 0 &&
                        FieldMaskUtil::GetFieldDescriptors(v1::Program::descriptor(), path, nullptr);
    if (!ok) errors.Add("update_mask", absl::StrCat(EchoValue(path), " is not an updatable program field"));
  }
  return replace_all;
}

std::optional<absl::Time> CheckReturn(FieldErrors& errors, const v1::RecordReturnRequest& req) {
  OptionalId(errors, "request_id", req.request_id());
  errors.RequireId("return_id", req.return_id());
  errors.RequireId("order_id", req.order_id());
  OptionalId(errors, "member_id", req.member_id());
  if (req.kind() != v1::RETURN_KIND_FULL && req.kind() != v1::RETURN_KIND_PARTIAL) {
    errors.Add("kind", "required: FULL or PARTIAL");
  }
  if (req.kind() == v1::RETURN_KIND_PARTIAL || req.has_returned_amount()) {
    RequireAmount(errors, "returned_amount", req.has_returned_amount(), req.returned_amount(),
                  req.kind() == v1::RETURN_KIND_PARTIAL);
  }
  auto return_time = BusinessTime(errors, "return_time", req.has_return_time(), req.return_time());
  std::optional<int64_t> lines_total = 0;
  for (int i = 0; i < req.lines_size(); ++i) {
    const v1::ReturnLine& l = req.lines(i);
    std::string at = absl::StrCat("lines[", i, "]");
    errors.RequireRange(at + ".quantity", l.quantity(), 1, kMaxLineQuantity);
    if (l.amount().amount_minor() < 0) {
      errors.Add(at + ".amount.amount_minor", "must be >= 0");
    } else {
      errors.RequireMoney(at + ".amount.amount_minor", l.amount().amount_minor());
    }
    if (lines_total) lines_total = CheckedAdd(*lines_total, l.amount().amount_minor());
  }
  if (req.lines_size() > 0 && !lines_total) {
    errors.Add("lines", absl::StrCat("line amounts add up to more than ", kMaxMoneyMinor));
  } else if (req.lines_size() > 0 && req.has_returned_amount() && lines_total != req.returned_amount().amount_minor()) {
    errors.Add("lines", "line amounts must add up to returned_amount");
  }
  errors.RequireMaxLength("reason", req.reason(), 500);
  return return_time;
}

void CheckAdjust(FieldErrors& errors, const v1::AdjustPointsRequest& req) {
  errors.RequireId("request_id", req.request_id());
  errors.RequireId("member_id", req.member_id());
  if (req.points_delta() == 0) {
    errors.Add("points_delta", "must not be 0");
  } else {
    errors.RequireRange("points_delta", req.points_delta(), -kMaxPointsPerEntry, kMaxPointsPerEntry);
  }
  bool code_ok = !req.reason_code().empty() && req.reason_code().size() <= 64;
  for (char c : req.reason_code()) {
    code_ok = code_ok && ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
  }
  if (!code_ok) errors.Add("reason_code", "must match [A-Z0-9_]{1,64}");
  OptionalId(errors, "complaint_id", req.complaint_id());
  errors.RequireMaxLength("note", req.note(), 500);
}

EntryFilter LedgerFilter(FieldErrors& errors, const v1::ListLedgerEntriesRequest& req) {
  EntryFilter filter;
  errors.RequireId("member_id", req.member_id());
  filter.member_id = req.member_id();
  for (int i = 0; i < req.kinds_size(); ++i) {
    int k = req.kinds(i);
    if (k <= 0 || !v1::LedgerEntryKind_IsValid(k)) {
      errors.Add(absl::StrCat("kinds[", i, "]"), "unknown kind");
    } else {
      filter.kinds.push_back(static_cast<EntryKind>(k));
    }
  }
  OptionalId(errors, "order_id", req.order_id());
  filter.order_id = req.order_id();
  CheckOptionalTimestamp(errors, "start_time", req.has_start_time(), req.start_time());
  CheckOptionalTimestamp(errors, "end_time", req.has_end_time(), req.end_time());
  if (req.has_start_time()) filter.start_time = FromTimestamp(req.start_time());
  if (req.has_end_time()) filter.end_time = FromTimestamp(req.end_time());
  if (filter.start_time && filter.end_time && *filter.end_time <= *filter.start_time) {
    errors.Add("end_time", "must be after start_time");
  }
  return filter;
}

namespace {

// A real civil date from 1970-01-01 to 9999-12-31, or nullopt (and an error).
std::optional<absl::CivilDay> RequireDate(FieldErrors& errors, const std::string& field, bool present,
                                          const v1::LocalDate& d) {
  if (!present) {
    errors.Add(field, "required");
    return std::nullopt;
  }
  const absl::CivilDay day(d.year(), d.month(), d.day());
  if (d.year() < 1970 || d.year() > 9999 || day.year() != d.year() || day.month() != d.month() ||
      day.day() != d.day()) {
    errors.Add(field, "must be a real date from 1970-01-01 to 9999-12-31");
    return std::nullopt;
  }
  return day;
}

}  // namespace

AnalyticsQuery CheckAnalytics(FieldErrors& errors, const v1::GetLoyaltyAnalyticsRequest& req) {
  AnalyticsQuery q;
  auto start = RequireDate(errors, "start_date", req.has_start_date(), req.start_date());
  auto end = RequireDate(errors, "end_date", req.has_end_date(), req.end_date());
  if (!v1::GetLoyaltyAnalyticsRequest::Granularity_IsValid(req.granularity())) {
    errors.Add("granularity", "must be DAY or MONTH");
  }
  q.monthly = req.granularity() == v1::GetLoyaltyAnalyticsRequest::MONTH;
  errors.RequireMaxLength("time_zone", req.time_zone(), 64);
  q.time_zone = req.time_zone();
  if (!start || !end) return q;
  if (*end < *start) {
    errors.Add("end_date", "must not be before start_date");
  } else if (!q.monthly && *end - *start >= 366) {
    errors.Add("end_date", "a DAY period is at most 366 days");
  } else if (q.monthly && absl::CivilMonth(*end) - absl::CivilMonth(*start) >= 36) {
    errors.Add("end_date", "a MONTH period touches at most 36 months");
  }
  q.start_day = *start;
  q.end_day = *end;
  return q;
}

}  // namespace care::loyalty
