#pragma once

// Vouchers issued through promotion's IssueVoucher (goodwill from complaint,
// rewards bought with points from loyalty): the request a service sends
// promotion through its outbox, and what it reads back from the event and promotion's
// answer (OutboxRelay::OnOutcome).

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/store.h"  // OutboxEvent

namespace care::clients::promotion {

inline constexpr char kIssueVoucherMethod[] = "/care.promotion.v1.PromotionService/IssueVoucher";

struct GoodwillVoucher {
  std::string request_id;  // promotion issues one voucher per request id
  std::string member_id;
  // Exactly one benefit: a voucher of this campaign (when set: loyalty's
  // rewards catalogue), else an amount off (when set), else a percentage.
  std::string campaign_id;
  struct Amount {
    int64_t amount_minor = 0;
    std::string currency_code;
  };
  std::optional<Amount> value;
  int32_t percent_off_bps = 0;
  std::optional<absl::Duration> validity;  // nullopt: promotion's default
  std::string reason_code;
  std::string complaint_id;
  std::string note;
  std::string issued_by;
};

// The outbox event (destination "promotion") carrying `voucher`.
OutboxEvent IssueVoucherEvent(std::string event_id, const GoodwillVoucher& voucher);
// The voucher an IssueVoucher event's payload carries; nullopt when it does
// not parse.
std::optional<GoodwillVoucher> ParseGoodwillVoucher(absl::string_view payload);
// The code of promotion's issued Voucher; nullopt when it does not parse.
std::optional<std::string> IssuedVoucherCode(absl::string_view response);

}  // namespace care::clients::promotion
