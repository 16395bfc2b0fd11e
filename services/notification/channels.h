#pragma once

// Outbound channels (WEBHOOK, EMAIL): one Send per delivery attempt. Plain
// C++ so the dispatcher does not know the transport; a new provider is one
// class implementing Channel.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "care/notification/v1/notification.pb.h"
#include "common/egress.h"

namespace care::notification {

// A rendered delivery with the member's addresses.
struct OutgoingMessage {
  int channel = 0;  // care.common.v1.MessageChannel
  std::string delivery_id, message_key, member_id;
  std::string kind, category, locale;
  std::string subject, body;
  std::string phone, email, member_name;
  std::string campaign_id, complaint_id;
  // MARKETING e-mail: the signed one-click unsubscribe link (RFC 8058).
  std::string unsubscribe_url;
  int attempt = 0;
  std::map<std::string, std::string> attributes;
};

struct SendResult {
  enum class Outcome { kSent, kTransient, kPermanent };
  Outcome outcome = Outcome::kSent;
  // e.g. "WEBHOOK_HTTP_503", "SMTP_550", "CONNECT_FAILED"; empty when sent.
  std::string error_code;
  std::string error;  // short, no secrets
  // Receiver's message id (X-Message-Id) or the email Message-ID.
  std::string provider_message_id;
};

class Channel {
 public:
  virtual ~Channel() = default;
  // Blocking; called outside any store transaction. One result per message,
  // in order; a transport may send them concurrently (up to its endpoint's
  // max_in_flight) over reused connections.
  virtual std::vector<SendResult> SendAll(const std::vector<OutgoingMessage>& messages) = 0;
  SendResult Send(const OutgoingMessage& message) { return SendAll({message}).front(); }
};

// Where the transports may connect.
struct EgressOptions {
  // Schemes and addresses (common/egress.h), from --egress_allowlist and
  // --egress_cluster_cidrs.
  EgressPolicy policy;
  // --smtp_allow_plaintext (tests, local development): SMTP falls back to
  // plaintext when the server offers no STARTTLS, unless the endpoint sets
  // require_tls. Off: every SMTP session is TLS (smtps, or smtp + STARTTLS).
  bool smtp_allow_plaintext = false;
};

// Transports over libcurl (channels_curl.cc). Each checks its URL against
// the policy before every batch and every address it connects to (after
// DNS, so a name that resolves to a refused address later is refused too);
// a refusal is a permanent failure with error_code EGRESS_REFUSED.
std::unique_ptr<Channel> MakeWebhookChannel(const v1::WebhookEndpoint& endpoint, const EgressOptions& egress);
std::unique_ptr<Channel> MakeEmailChannel(const v1::EmailEndpoint& endpoint, const EgressOptions& egress);

// Longest channel URL accepted.
inline constexpr size_t kMaxChannelUrlBytes = 2048;

// A channel URL (`channel` is care.common.v1.MessageChannel WEBHOOK or EMAIL)
// as libcurl reads it, against the scheme rule and, for an address literal,
// the address rule: OK, or INVALID_ARGUMENT naming `field` with reason
// URL_MALFORMED, URL_CREDENTIALS_NOT_ALLOWED, URL_SCHEME_NOT_ALLOWED or
// EGRESS_ADDRESS_NOT_ALLOWED.
absl::Status CheckChannelUrl(int channel, absl::string_view url, const EgressPolicy& policy, absl::string_view field);

// "scheme://host:port" of `url` as libcurl reads it (default port filled
// in), or `url` itself when it does not parse: a gateway's secret belongs to
// this origin and is dropped when it changes.
std::string UrlOrigin(absl::string_view url);

// The JSON body the proto documents for WEBHOOK.
std::string WebhookJson(const OutgoingMessage& message);

// A receiver's text as kept in a Delivery (last_error, provider_message_id):
// at most `max_chars` code points, as the contract counts, and each byte that
// is not part of valid UTF-8 replaced by U+FFFD, so a cut never splits a
// character and the Delivery always serializes.
std::string ReceiverText(absl::string_view text, size_t max_chars);

}  // namespace care::notification
