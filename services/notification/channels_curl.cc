// WEBHOOK and EMAIL over libcurl. Each Send is one blocking easy-handle
// transfer; the dispatcher calls it outside any store transaction.
#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/hmac.h"
#include "common/proto_time.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "services/notification/channels.h"

namespace care::notification {
namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t Collect(char* data, size_t size, size_t n, void* out) {
  std::string* s = static_cast<std::string*>(out);
  if (s->size() < 4096) s->append(data, size * n);
  return size * n;
}

size_t Header(char* data, size_t size, size_t n, void* out) {
  absl::string_view line(data, size * n);
  if (absl::StartsWithIgnoreCase(line, "x-message-id:")) {
    line.remove_prefix(13);
    *static_cast<std::string*>(out) = std::string(absl::StripAsciiWhitespace(line));
  }
  return size * n;
}

long TimeoutMs(const google::protobuf::Duration& d, absl::Duration fallback) {
  absl::Duration t = d.seconds() > 0 || d.nanos() > 0 ? FromDurationProto(d) : fallback;
  return static_cast<long>(absl::ToInt64Milliseconds(t));
}

// Connection-level failures are always worth retrying.
SendResult CurlFailure(CURLcode rc, absl::string_view prefix) {
  SendResult r;
  r.outcome = SendResult::Outcome::kTransient;
  r.error_code = rc == CURLE_OPERATION_TIMEDOUT ? absl::StrCat(prefix, "_TIMEOUT")
                 : rc == CURLE_COULDNT_CONNECT   ? std::string("CONNECT_FAILED")
                                                 : absl::StrCat(prefix, "_CURL_", static_cast<int>(rc));
  r.error = curl_easy_strerror(rc);
  return r;
}

class WebhookChannel final : public Channel {
 public:
  explicit WebhookChannel(v1::WebhookEndpoint endpoint) : endpoint_(std::move(endpoint)) { GlobalInit(); }

  SendResult Send(const OutgoingMessage& m) override {
    const std::string body = WebhookJson(m);
    const std::string ts = absl::StrCat(absl::ToUnixSeconds(absl::Now()));
    const std::string sig = "v1=" + HmacSha256Hex(endpoint_.signing_secret(), absl::StrCat(ts, ".", body));
    CURL* curl = curl_easy_init();
    if (curl == nullptr) return CurlFailure(CURLE_FAILED_INIT, "WEBHOOK");
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, ("X-Care-Delivery-Id: " + m.delivery_id).c_str());
    headers = curl_slist_append(headers, ("X-Care-Timestamp: " + ts).c_str());
    headers = curl_slist_append(headers, ("X-Care-Signature: " + sig).c_str());
    std::string response, message_id;
    curl_easy_setopt(curl, CURLOPT_URL, endpoint_.url().c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, TimeoutMs(endpoint_.timeout(), absl::Seconds(10)));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, Header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &message_id);
    CURLcode rc = curl_easy_perform(curl);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) return CurlFailure(rc, "WEBHOOK");
    SendResult r;
    if (code >= 200 && code < 300) {
      r.provider_message_id = message_id;
      return r;
    }
    r.outcome = code == 408 || code == 429 || code >= 500 ? SendResult::Outcome::kTransient
                                                          : SendResult::Outcome::kPermanent;
    r.error_code = absl::StrCat("WEBHOOK_HTTP_", code);
    r.error = response.substr(0, 200);
    return r;
  }

 private:
  v1::WebhookEndpoint endpoint_;
};

struct Upload {
  std::string data;
  size_t pos = 0;
};

size_t ReadUpload(char* buf, size_t size, size_t n, void* in) {
  Upload* u = static_cast<Upload*>(in);
  size_t len = std::min(size * n, u->data.size() - u->pos);
  memcpy(buf, u->data.data() + u->pos, len);
  u->pos += len;
  return len;
}

// Header values are single-line: a subject with CR/LF must not inject headers.
std::string OneLine(std::string s) {
  for (char& c : s) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return s;
}

class EmailChannel final : public Channel {
 public:
  explicit EmailChannel(v1::EmailEndpoint endpoint) : endpoint_(std::move(endpoint)) { GlobalInit(); }

  SendResult Send(const OutgoingMessage& m) override {
    std::string domain(absl::StrContains(endpoint_.from_address(), '@')
                           ? endpoint_.from_address().substr(endpoint_.from_address().find('@') + 1)
                           : "caresuite.local");
    const std::string message_id = absl::StrCat("<", m.delivery_id, ".", m.attempt, "@", domain, ">");
    Upload upload;
    upload.data = absl::StrCat(
        "Date: ", absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", absl::Now(), absl::UTCTimeZone()), "\r\n",
        "From: ", endpoint_.from_name().empty() ? "" : absl::StrCat("\"", OneLine(endpoint_.from_name()), "\" "),
        "<", endpoint_.from_address(), ">\r\n", "To: <", OneLine(m.email), ">\r\n", "Subject: ", OneLine(m.subject),
        "\r\n", "Message-ID: ", message_id, "\r\n", "MIME-Version: 1.0\r\n",
        "Content-Type: text/plain; charset=UTF-8\r\n", "Content-Transfer-Encoding: 8bit\r\n", "\r\n", m.body, "\r\n");
    CURL* curl = curl_easy_init();
    if (curl == nullptr) return CurlFailure(CURLE_FAILED_INIT, "SMTP");
    curl_slist* rcpt = curl_slist_append(nullptr, ("<" + m.email + ">").c_str());
    curl_easy_setopt(curl, CURLOPT_URL, endpoint_.smtp_url().c_str());
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, ("<" + endpoint_.from_address() + ">").c_str());
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
    if (!endpoint_.username().empty()) {
      curl_easy_setopt(curl, CURLOPT_USERNAME, endpoint_.username().c_str());
      curl_easy_setopt(curl, CURLOPT_PASSWORD, endpoint_.password().c_str());
    }
    curl_easy_setopt(curl, CURLOPT_USE_SSL, endpoint_.require_tls() ? CURLUSESSL_ALL : CURLUSESSL_TRY);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadUpload);
    curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, TimeoutMs(endpoint_.timeout(), absl::Seconds(30)));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(curl);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(curl);
    SendResult r;
    if (rc == CURLE_OK) {
      r.provider_message_id = message_id;
      return r;
    }
    if (code >= 400) {
      // SMTP 4xx is a temporary refusal, 5xx a permanent one (RFC 5321).
      r.outcome = code < 500 ? SendResult::Outcome::kTransient : SendResult::Outcome::kPermanent;
      r.error_code = absl::StrCat("SMTP_", code);
      r.error = curl_easy_strerror(rc);
      return r;
    }
    return CurlFailure(rc, "SMTP");
  }

 private:
  v1::EmailEndpoint endpoint_;
};

}  // namespace

std::string WebhookJson(const OutgoingMessage& m) {
  google::protobuf::Struct s;
  auto& f = *s.mutable_fields();
  f["delivery_id"].set_string_value(m.delivery_id);
  f["message_key"].set_string_value(m.message_key);
  f["member_id"].set_string_value(m.member_id);
  f["kind"].set_string_value(m.kind);
  f["category"].set_string_value(m.category);
  f["locale"].set_string_value(m.locale);
  f["subject"].set_string_value(m.subject);
  f["body"].set_string_value(m.body);
  f["phone"].set_string_value(m.phone);
  f["email"].set_string_value(m.email);
  f["campaign_id"].set_string_value(m.campaign_id);
  f["complaint_id"].set_string_value(m.complaint_id);
  f["attempt"].set_number_value(m.attempt);
  auto& attrs = *f["attributes"].mutable_struct_value()->mutable_fields();
  for (const auto& [k, v] : m.attributes) attrs[k].set_string_value(v);
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(s, &out);
  return out;
}

std::unique_ptr<Channel> MakeWebhookChannel(const v1::WebhookEndpoint& endpoint) {
  return std::make_unique<WebhookChannel>(endpoint);
}

std::unique_ptr<Channel> MakeEmailChannel(const v1::EmailEndpoint& endpoint) {
  return std::make_unique<EmailChannel>(endpoint);
}

}  // namespace care::notification
