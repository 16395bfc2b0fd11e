#pragma once

// Outbound channels (WEBHOOK, EMAIL): one Send per delivery attempt. Plain
// C++ so the dispatcher does not know the transport; a new provider is one
// class implementing Channel.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "care/notification/v1/notification.pb.h"

namespace care::notification {

// A rendered delivery with the member's addresses.
struct OutgoingMessage {
  int channel = 0;  // care.common.v1.MessageChannel
  std::string delivery_id, message_key, member_id;
  std::string kind, category, locale;
  std::string subject, body;
  std::string phone, email, member_name;
  std::string campaign_id, complaint_id;
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

// Transports over libcurl (channels_curl.cc).
std::unique_ptr<Channel> MakeWebhookChannel(const v1::WebhookEndpoint& endpoint);
std::unique_ptr<Channel> MakeEmailChannel(const v1::EmailEndpoint& endpoint);

// The JSON body the proto documents for WEBHOOK.
std::string WebhookJson(const OutgoingMessage& message);

// A receiver's text as kept in a Delivery (last_error, provider_message_id):
// at most `max_chars` code points, as the contract counts, and each byte that
// is not part of valid UTF-8 replaced by U+FFFD, so a cut never splits a
// character and the Delivery always serializes.
std::string ReceiverText(absl::string_view text, size_t max_chars);

}  // namespace care::notification
