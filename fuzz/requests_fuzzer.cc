// Request validation of every service: the first byte picks a request type,
// the rest is parsed as that message (as the gRPC server would) and handed
// to the adapter's check. Every check must answer OK or INVALID_ARGUMENT
// with a reason, never crash or overflow; and what a check accepts must be
// within the documented bounds (common/bounds.h) the rest of the service
// relies on: a quote's subtotal and shipping, a purchase's amount and the
// sum of its lines; and a valid program earns points without wrapping.

#include <string>

#include "common/bounds.h"
#include "common/errors.h"
#include "fuzz/fuzz_support.h"
#include "fuzz/money_bounds.h"
#include "services/complaint/request_checks.h"
#include "services/loyalty/loyalty_proto.h"
#include "services/loyalty/program.h"
#include "services/loyalty/request_checks.h"
#include "services/notification/request_checks.h"
#include "services/promotion/campaign_validation.h"
#include "services/promotion/pricing.h"
#include "services/promotion/request_checks.h"

namespace {

using care::fuzz::CheckValidationStatus;

// The server clock of every check: fixed, so a crash replays.
const absl::Time kNow = absl::FromUnixSeconds(1780000000);  // 2026-05-28

template <typename Message>
bool Parse(const std::string& bytes, Message* m) {
  return m->ParseFromString(bytes);
}

void Quote(const std::string& bytes) {
  care::promotion::v1::QuoteRequest req;
  if (!Parse(bytes, &req)) return;
  const absl::Status s = care::promotion::CheckQuoteRequest(&req);
  CheckValidationStatus(s, "CheckQuoteRequest");
  if (!s.ok()) return;
  // The sums are checked by the domain before pricing (CheckCartBounds).
  std::vector<care::promotion::Line> lines;
  for (const auto& l : req.lines()) {
    lines.push_back({l.line_id(), l.sku(), l.category(), l.quantity(), l.unit_price().amount_minor()});
  }
  const absl::Status bounds = care::promotion::CheckCartBounds(lines, req.shipping().amount_minor());
  CheckValidationStatus(bounds, "CheckCartBounds");
  if (!bounds.ok()) return;
  __int128 subtotal = 0;
  for (const auto& l : req.lines()) subtotal += static_cast<__int128>(l.unit_price().amount_minor()) * l.quantity();
  CARE_FUZZ_CHECK(subtotal <= care::kMaxMoneyMinor, "an accepted cart's subtotal is beyond the money bound");
  CARE_FUZZ_CHECK(req.shipping().amount_minor() <= care::kMaxMoneyMinor, "accepted shipping beyond the money bound");
  CARE_FUZZ_CHECK(subtotal + req.shipping().amount_minor() <= care::kMaxMoneyMinor,
                  "an accepted quote's total is beyond the money bound");
}

void Campaign(const std::string& bytes) {
  care::promotion::v1::CreateCampaignRequest req;
  if (!Parse(bytes, &req)) return;
  const absl::Status s = care::promotion::ValidateCampaign(req.campaign());
  CheckValidationStatus(s, "ValidateCampaign");
  if (!s.ok()) return;
  // Every amount of an accepted campaign is within the money bound and in
  // the campaign's currency (issue 15: CURRENCY_MISMATCH otherwise).
  const std::string bad = care::fuzz::MoneyOutOfBounds(req.campaign(), req.campaign().currency_code(), "campaign");
  CARE_FUZZ_CHECK(bad.empty(), "an accepted campaign has " + bad + " out of bounds");
}

void Purchase(const std::string& bytes) {
  care::loyalty::v1::RecordPurchaseRequest req;
  if (!Parse(bytes, &req)) return;
  care::FieldErrors errors;
  auto at = care::loyalty::CheckPurchase(errors, &req);
  CheckValidationStatus(errors.ToStatus(), "CheckPurchase");
  if (!errors.empty()) return;
  CARE_FUZZ_CHECK(req.amount().amount_minor() <= care::kMaxMoneyMinor, "an accepted purchase beyond the money bound");
  __int128 lines = 0;
  for (const auto& l : req.lines()) lines += l.amount().amount_minor();
  CARE_FUZZ_CHECK(req.lines().empty() || lines == req.amount().amount_minor(), "accepted lines do not add up");
  CARE_FUZZ_CHECK(!at || req.has_purchase_time(), "a purchase_time nobody sent");
}

void Member(const std::string& bytes) {
  care::loyalty::v1::Member m;
  if (!Parse(bytes, &m)) return;
  care::FieldErrors errors;
  care::loyalty::ValidateProfile(errors, m, nullptr, kNow);
  CheckValidationStatus(errors.ToStatus(), "ValidateProfile");
}

void Program(const std::string& bytes) {
  care::loyalty::v1::Program proto;
  if (!Parse(bytes, &proto)) return;
  care::FieldErrors errors;
  care::loyalty::Program p = care::loyalty::ProgramFromProto(proto, errors);
  CheckValidationStatus(errors.ToStatus(), "ProgramFromProto");
  if (!errors.empty()) return;
  care::loyalty::ValidateProgram(p, errors);
  CheckValidationStatus(errors.ToStatus(), "ValidateProgram");
  if (!errors.empty()) return;
  // A valid program earns on any accepted amount without overflow (UBSan)
  // or a wrapped, negative result.
  for (const care::loyalty::Tier& t : p.tiers) {
    for (int64_t amount : {int64_t{0}, int64_t{1}, int64_t{999'999}, care::kMaxMoneyMinor}) {
      // nullopt: beyond the points bound, which the caller refuses.
      const std::optional<int64_t> points = care::loyalty::EarnPoints(amount, p.earn_rule,
                                                                      t.benefits.points_multiplier_bps);
      CARE_FUZZ_CHECK(!points || *points >= 0,
                      "a valid program earns " + std::to_string(*points) + " points on " + std::to_string(amount));
    }
  }
}

void Complaint(const std::string& bytes) {
  care::complaint::v1::CreateComplaintRequest req;
  if (!Parse(bytes, &req)) return;
  CheckValidationStatus(care::complaint::CheckCreateComplaint(&req), "CheckCreateComplaint");
}

void Calendar(const std::string& bytes) {
  care::complaint::v1::BusinessCalendar c;
  if (!Parse(bytes, &c)) return;
  care::FieldErrors errors;
  care::complaint::ValidateCalendar(errors, c);
  CheckValidationStatus(errors.ToStatus(), "ValidateCalendar");
}

void Policy(const std::string& bytes) {
  care::complaint::v1::SlaPolicy p;
  if (!Parse(bytes, &p)) return;
  care::FieldErrors errors;
  care::complaint::ValidatePolicy(errors, p);
  CheckValidationStatus(errors.ToStatus(), "ValidatePolicy");
}

void Ingest(const std::string& bytes) {
  care::notification::v1::IngestEventRequest req;
  if (!Parse(bytes, &req)) return;
  CheckValidationStatus(care::notification::ValidateIngest(req, kNow), "ValidateIngest");
}

void Preferences(const std::string& bytes) {
  care::notification::v1::UpdatePreferencesRequest req;
  if (!Parse(bytes, &req)) return;
  CheckValidationStatus(care::notification::ValidatePreferences(req), "ValidatePreferences");
}

void Consent(const std::string& bytes) {
  care::notification::v1::SetConsentRequest req;
  if (!Parse(bytes, &req)) return;
  CheckValidationStatus(care::notification::ValidateConsent(req, kNow), "ValidateConsent");
}

// Selector byte (modulo the count) -> request type. Seeds in
// fuzz/corpus/requests are named after the type.
void (*const kChecks[])(const std::string&) = {
    Quote, Campaign, Purchase, Member, Program, Complaint, Calendar, Policy, Ingest, Preferences, Consent,
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  kChecks[data[0] % std::size(kChecks)](std::string(reinterpret_cast<const char*>(data + 1), size - 1));
  return 0;
}
