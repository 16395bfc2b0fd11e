// WEBHOOK and EMAIL over libcurl's multi interface: a batch is sent
// concurrently over reused connections; the dispatcher calls it outside any
// store transaction. Egress: libcurl speaks only the
// URL's allowed scheme, follows no redirect, uses no proxy from the
// environment, and every socket it opens is checked against the policy
// first, with the address it is about to connect to.
#include <curl/curl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/errors.h"
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

// A receiver's body is read and dropped: nothing remote is ever stored.
size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

size_t Header(char* data, size_t size, size_t n, void* out) {
  absl::string_view line(data, size * n);
  if (absl::StartsWithIgnoreCase(line, "x-message-id:")) {
    line.remove_prefix(13);
    *static_cast<std::string*>(out) = ReceiverText(absl::StripAsciiWhitespace(line), 200);
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
                 : rc == CURLE_COULDNT_CONNECT  ? std::string("CONNECT_FAILED")
                 : rc == CURLE_USE_SSL_FAILED   ? absl::StrCat(prefix, "_TLS_UNAVAILABLE")
                                                : absl::StrCat(prefix, "_CURL_", static_cast<int>(rc));
  r.error = curl_easy_strerror(rc);
  return r;
}

SendResult Refused(absl::string_view why) {
  SendResult r;
  r.outcome = SendResult::Outcome::kPermanent;
  r.error_code = "EGRESS_REFUSED";
  r.error = absl::StrCat("egress refused: ", why);
  return r;
}

// A channel URL as libcurl reads it.
struct ParsedUrl {
  std::string scheme, host;
  bool credentials = false;  // user or password in the URL
};

std::string UrlPart(CURLU* h, CURLUPart part, unsigned flags = 0) {
  char* value = nullptr;
  if (curl_url_get(h, part, &value, flags) != CURLUE_OK || value == nullptr) return "";
  std::string out(value);
  curl_free(value);
  return out;
}

using UrlHandle = std::unique_ptr<CURLU, void (*)(CURLU*)>;

// Parses with libcurl itself, so what is checked is what it would fetch.
absl::StatusOr<ParsedUrl> ParseUrl(absl::string_view url, UrlHandle* keep = nullptr) {
  if (url.size() > kMaxChannelUrlBytes) {
    return absl::InvalidArgumentError(absl::StrCat("is over ", kMaxChannelUrlBytes, " bytes"));
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError("holds a space or a control character");
    }
  }
  UrlHandle h(curl_url(), curl_url_cleanup);
  if (!h || curl_url_set(h.get(), CURLUPART_URL, std::string(url).c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    return absl::InvalidArgumentError("is not an absolute URL");
  }
  ParsedUrl p;
  p.scheme = absl::AsciiStrToLower(UrlPart(h.get(), CURLUPART_SCHEME));
  p.host = UrlPart(h.get(), CURLUPART_HOST);
  p.credentials = !UrlPart(h.get(), CURLUPART_USER).empty() || !UrlPart(h.get(), CURLUPART_PASSWORD).empty();
  if (keep != nullptr) *keep = std::move(h);
  return p;
}

// Why `url` may not be used by `kind`, or nullopt: the URL-level rules
// shared by configuration and send time.
std::optional<EgressRefusal> UrlRefusal(EgressUrlKind kind, absl::string_view url, const EgressPolicy& policy,
                                        UrlHandle* keep = nullptr) {
  auto parsed = ParseUrl(url, keep);
  if (!parsed.ok()) return EgressRefusal{"URL_MALFORMED", std::string(parsed.status().message())};
  if (parsed->credentials) {
    // They would be stored and shown with the settings; secrets have their own fields.
    return EgressRefusal{"URL_CREDENTIALS_NOT_ALLOWED", "must not hold a user or password"};
  }
  return policy.CheckUrl(kind, parsed->scheme, parsed->host);
}

// One message in flight: the easy handle and every buffer it points into,
// alive until the transfer completes.
struct Transfer {
  const OutgoingMessage* message = nullptr;
  size_t index = 0;
  CURL* easy = nullptr;
  curl_slist* list = nullptr;  // headers (webhook) or recipients (email)
  std::string body, message_id;
  struct {
    std::string data;
    size_t pos = 0;
  } upload;
  // The egress check of every socket: the policy, the URL's host, and why
  // an address was refused (the outcome then says so instead of "connect failed").
  const EgressPolicy* policy = nullptr;
  const std::string* host = nullptr;
  std::string refused;
};

// CURLOPT_OPENSOCKETFUNCTION: called with each address curl is about to
// connect to, after its own DNS lookup, so a name re-pointed at an internal
// address (DNS rebinding) is checked with the address actually used.
curl_socket_t OpenSocket(void* clientp, curlsocktype, curl_sockaddr* address) {
  auto* t = static_cast<Transfer*>(clientp);
  auto ip = IpAddress::FromSockaddr(&address->addr);
  if (!ip) {
    t->refused = "not an IP address";
    return CURL_SOCKET_BAD;
  }
  if (auto refusal = t->policy->CheckAddress(*ip, *t->host)) {
    t->refused = refusal->message;
    return CURL_SOCKET_BAD;
  }
  return socket(address->family, address->socktype, address->protocol);
}

size_t ReadUpload(char* buf, size_t size, size_t n, void* in) {
  auto* u = &static_cast<Transfer*>(in)->upload;
  size_t len = std::min(size * n, u->data.size() - u->pos);
  memcpy(buf, u->data.data() + u->pos, len);
  u->pos += len;
  return len;
}

// Runs transfers on one curl multi handle: up to `max_in_flight` at once
// over a shared connection cache, so a batch to one receiver costs a few
// connections and no thread per request. Subclasses set a transfer up and
// read its outcome.
class CurlChannel : public Channel {
 public:
  // `keep_connections`: idle connections stay open between batches (HTTP
  // keep-alive); otherwise they are closed after each batch (SMTP sessions
  // end with QUIT instead of idling on the server).
  CurlChannel(int max_in_flight, bool keep_connections, EgressUrlKind kind, const std::string& url,
              const EgressPolicy& policy)
      : max_in_flight_(std::max(1, max_in_flight)),
        keep_connections_(keep_connections),
        policy_(policy),
        url_(nullptr, curl_url_cleanup) {
    GlobalInit();
    multi_ = curl_multi_init();
    // The URL is checked again here, not only when configured: a row stored
    // before the rules existed (file://, gopher://) must never be fetched.
    refusal_ = UrlRefusal(kind, url, policy_, &url_);
    if (!refusal_) {
      scheme_ = absl::AsciiStrToLower(UrlPart(url_.get(), CURLUPART_SCHEME));
      host_ = UrlPart(url_.get(), CURLUPART_HOST);
    }
  }
  ~CurlChannel() override { CloseConnections(); }

  std::vector<SendResult> SendAll(const std::vector<OutgoingMessage>& messages) override {
    if (refusal_) return std::vector<SendResult>(messages.size(), Refused(refusal_->message));
    std::vector<SendResult> results(messages.size());
    std::vector<std::unique_ptr<Transfer>> running;
    size_t next = 0;
    auto start = [&] {
      while (next < messages.size() && running.size() < static_cast<size_t>(max_in_flight_)) {
        auto t = std::make_unique<Transfer>();
        t->message = &messages[next];
        t->index = next++;
        t->easy = idle_.empty() ? curl_easy_init() : idle_.back();
        if (!idle_.empty()) idle_.pop_back();
        if (t->easy == nullptr) {
          results[t->index] = CurlFailure(CURLE_FAILED_INIT, Prefix());
          continue;
        }
        curl_easy_reset(t->easy);
        curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t.get());
        Restrict(*t);
        Setup(*t);
        if (curl_multi_add_handle(multi_, t->easy) != CURLM_OK) {
          results[t->index] = CurlFailure(CURLE_FAILED_INIT, Prefix());
          curl_slist_free_all(t->list);
          idle_.push_back(t->easy);
          continue;
        }
        running.push_back(std::move(t));
      }
    };
    start();
    while (!running.empty()) {
      int active = 0;
      curl_multi_perform(multi_, &active);
      int queued = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
        if (msg->msg != CURLMSG_DONE) continue;
        Transfer* t = nullptr;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
        long code = 0;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
        results[t->index] = msg->data.result != CURLE_OK && !t->refused.empty() ? Refused(t->refused)
                                                                                : Outcome(*t, msg->data.result, code);
        curl_multi_remove_handle(multi_, t->easy);
        curl_slist_free_all(t->list);
        idle_.push_back(t->easy);  // keeps its connection for the next message
        std::erase_if(running, [t](const std::unique_ptr<Transfer>& r) { return r.get() == t; });
      }
      start();
      if (!running.empty()) curl_multi_poll(multi_, nullptr, 0, 100, nullptr);
    }
    if (!keep_connections_) {
      CloseConnections();
      multi_ = curl_multi_init();
    }
    return results;
  }

 protected:
  virtual const char* Prefix() const = 0;
  virtual void Setup(Transfer& t) = 0;
  virtual SendResult Outcome(Transfer& t, CURLcode rc, long code) = 0;

 private:
  // What every transfer may do, whatever Setup adds: the checked URL
  // (CURLOPT_CURLU, the very parse that was checked), its one scheme, no
  // redirects, no proxy taken from the environment (its address would be
  // the one checked), and the socket check.
  void Restrict(Transfer& t) {
    CURL* curl = t.easy;
    t.policy = &policy_;
    t.host = &host_;
    curl_easy_setopt(curl, CURLOPT_CURLU, url_.get());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, scheme_.c_str());
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, scheme_.c_str());
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 0L);
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, OpenSocket);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &t);
  }

  void CloseConnections() {
    for (CURL* e : idle_) curl_easy_cleanup(e);
    idle_.clear();
    curl_multi_cleanup(multi_);
    multi_ = nullptr;
  }

  int max_in_flight_;
  bool keep_connections_;
  EgressPolicy policy_;
  UrlHandle url_;
  std::optional<EgressRefusal> refusal_;
  std::string scheme_, host_;
  CURLM* multi_ = nullptr;
  std::vector<CURL*> idle_;
};

class WebhookChannel final : public CurlChannel {
 public:
  WebhookChannel(v1::WebhookEndpoint endpoint, const EgressOptions& egress)
      : CurlChannel(endpoint.max_in_flight() > 0 ? std::min(endpoint.max_in_flight(), 1024) : 64, true,
                    EgressUrlKind::kWebhook, endpoint.url(), egress.policy),
        endpoint_(std::move(endpoint)) {}

 protected:
  const char* Prefix() const override { return "WEBHOOK"; }

  void Setup(Transfer& t) override {
    const OutgoingMessage& m = *t.message;
    t.body = WebhookJson(m);
    const std::string ts = absl::StrCat(absl::ToUnixSeconds(absl::Now()));
    const std::string sig = "v1=" + HmacSha256Hex(endpoint_.signing_secret(), absl::StrCat(ts, ".", t.body));
    t.list = curl_slist_append(t.list, "Content-Type: application/json");
    t.list = curl_slist_append(t.list, ("X-Care-Delivery-Id: " + m.delivery_id).c_str());
    t.list = curl_slist_append(t.list, ("X-Care-Timestamp: " + ts).c_str());
    t.list = curl_slist_append(t.list, ("X-Care-Signature: " + sig).c_str());
    CURL* curl = t.easy;
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, t.list);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, t.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(t.body.size()));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, TimeoutMs(endpoint_.timeout(), absl::Seconds(10)));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Discard);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, Header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t.message_id);
  }

  SendResult Outcome(Transfer& t, CURLcode rc, long code) override {
    if (rc != CURLE_OK) return CurlFailure(rc, "WEBHOOK");
    SendResult r;
    if (code >= 200 && code < 300) {
      r.provider_message_id = t.message_id;
      return r;
    }
    // The status alone: a receiver's body (or anything else it sends) is
    // never kept, so last_error cannot carry remote content.
    r.outcome = code == 408 || code == 429 || code >= 500 ? SendResult::Outcome::kTransient
                                                          : SendResult::Outcome::kPermanent;
    r.error_code = absl::StrCat("WEBHOOK_HTTP_", code);
    r.error = code > 0 ? absl::StrCat("HTTP ", code) : "no HTTP status";
    return r;
  }

 private:
  v1::WebhookEndpoint endpoint_;
};

// Header values are single-line: a subject with CR/LF must not inject headers.
std::string OneLine(std::string s) {
  for (char& c : s) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return s;
}

// RFC 8058 one-click unsubscribe: the POST variant lets mail providers offer
// a button without following the link themselves on a scan.
std::string UnsubscribeHeaders(const OutgoingMessage& m) {
  if (m.unsubscribe_url.empty()) return "";
  return absl::StrCat("List-Unsubscribe: <", OneLine(m.unsubscribe_url), ">\r\n",
                      "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
}

class EmailChannel final : public CurlChannel {
 public:
  EmailChannel(v1::EmailEndpoint endpoint, const EgressOptions& egress)
      : CurlChannel(endpoint.max_in_flight() > 0 ? std::min(endpoint.max_in_flight(), 256) : 8, false,
                    EgressUrlKind::kSmtp, endpoint.smtp_url(), egress.policy),
        endpoint_(std::move(endpoint)),
        require_tls_(endpoint_.require_tls() || !egress.smtp_allow_plaintext) {}

 protected:
  const char* Prefix() const override { return "SMTP"; }

  void Setup(Transfer& t) override {
    const OutgoingMessage& m = *t.message;
    const std::string& from = endpoint_.from_address();
    std::string domain(absl::StrContains(from, '@') ? from.substr(from.find('@') + 1) : "caresuite.local");
    t.message_id = absl::StrCat("<", m.delivery_id, ".", m.attempt, "@", domain, ">");
    t.upload.data = absl::StrCat(
        "Date: ", absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", absl::Now(), absl::UTCTimeZone()), "\r\n",
        "From: ", endpoint_.from_name().empty() ? "" : absl::StrCat("\"", OneLine(endpoint_.from_name()), "\" "), "<",
        from, ">\r\n", "To: <", OneLine(m.email), ">\r\n", "Subject: ", OneLine(m.subject), "\r\n",
        "Message-ID: ", t.message_id, "\r\n", UnsubscribeHeaders(m), "MIME-Version: 1.0\r\n",
        "Content-Type: text/plain; charset=UTF-8\r\n", "Content-Transfer-Encoding: 8bit\r\n", "\r\n", m.body, "\r\n");
    t.body = "<" + from + ">";  // the envelope sender, kept alive with the transfer
    t.list = curl_slist_append(t.list, ("<" + m.email + ">").c_str());
    CURL* curl = t.easy;
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, t.body.c_str());
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, t.list);
    if (!endpoint_.username().empty()) {
      curl_easy_setopt(curl, CURLOPT_USERNAME, endpoint_.username().c_str());
      curl_easy_setopt(curl, CURLOPT_PASSWORD, endpoint_.password().c_str());
    }
    // TLS for the whole session (smtps, or STARTTLS before AUTH and the
    // message) unless plaintext was allowed for development.
    curl_easy_setopt(curl, CURLOPT_USE_SSL, require_tls_ ? CURLUSESSL_ALL : CURLUSESSL_TRY);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadUpload);
    curl_easy_setopt(curl, CURLOPT_READDATA, &t);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, TimeoutMs(endpoint_.timeout(), absl::Seconds(30)));
  }

  SendResult Outcome(Transfer& t, CURLcode rc, long code) override {
    SendResult r;
    if (rc == CURLE_OK) {
      r.provider_message_id = t.message_id;
      return r;
    }
    if (code >= 400) {
      // SMTP 4xx is a temporary refusal, 5xx a permanent one (RFC 5321).
      r.outcome = code < 500 ? SendResult::Outcome::kTransient : SendResult::Outcome::kPermanent;
      r.error_code = absl::StrCat("SMTP_", code);
      r.error = absl::StrCat("SMTP ", code);
      return r;
    }
    return CurlFailure(rc, "SMTP");
  }

 private:
  v1::EmailEndpoint endpoint_;
  bool require_tls_;
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

std::string ReceiverText(absl::string_view text, size_t max_chars) {
  std::string out;
  size_t i = 0;
  for (size_t chars = 0; i < text.size() && chars < max_chars; ++chars) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const size_t len = lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    const absl::string_view one = text.substr(i, len);
    if (one.size() == len && CodePoints(one) == 1u) {
      out.append(one.data(), one.size());
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD for one stray byte
      ++i;
    }
  }
  return out;
}

std::unique_ptr<Channel> MakeWebhookChannel(const v1::WebhookEndpoint& endpoint, const EgressOptions& egress) {
  return std::make_unique<WebhookChannel>(endpoint, egress);
}

std::unique_ptr<Channel> MakeEmailChannel(const v1::EmailEndpoint& endpoint, const EgressOptions& egress) {
  return std::make_unique<EmailChannel>(endpoint, egress);
}

absl::Status CheckChannelUrl(int channel, absl::string_view url, const EgressPolicy& policy, absl::string_view field) {
  GlobalInit();
  const EgressUrlKind kind = channel == care::common::v1::MESSAGE_CHANNEL_EMAIL ? EgressUrlKind::kSmtp
                                                                                : EgressUrlKind::kWebhook;
  auto refusal = UrlRefusal(kind, url, policy);
  if (!refusal) return absl::OkStatus();
  // The field as a BadRequest violation, like every INVALID_ARGUMENT, with
  // the rule that refused it as the reason.
  absl::Status field_error = InvalidField(field, refusal->message);
  absl::Status out = Error(absl::StatusCode::kInvalidArgument, refusal->reason, field_error.message(),
                           {{"field", std::string(field)}});
  constexpr char kBadRequestUrl[] = "type.googleapis.com/google.rpc.BadRequest";
  if (auto details = field_error.GetPayload(kBadRequestUrl)) out.SetPayload(kBadRequestUrl, *details);
  return out;
}

std::string UrlOrigin(absl::string_view url) {
  GlobalInit();
  UrlHandle h(nullptr, curl_url_cleanup);
  if (!ParseUrl(url, &h).ok()) return std::string(url);
  return absl::StrCat(absl::AsciiStrToLower(UrlPart(h.get(), CURLUPART_SCHEME)), "://",
                      absl::AsciiStrToLower(UrlPart(h.get(), CURLUPART_HOST)), ":",
                      UrlPart(h.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT));
}

}  // namespace care::notification
