// The dispatch job: due deliveries are checked again at send time, then
// suppressed, stored in the inbox (IN_APP) or claimed and sent (WEBHOOK,
// EMAIL) outside the write transaction, with retries and dead letters.
#include <algorithm>
#include <map>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/jobs.h"
#include "common/metrics.h"
#include "common/proto_time.h"
#include "services/notification/notification_internal.h"
#include "services/notification/notification_service.h"
#include "services/notification/prometheus.h"
#include "services/notification/unsubscribe.h"

namespace care::notification {

absl::StatusOr<std::optional<v1::StaffAlert>> StaffAlertOf(StoreTxn& tx, const v1::Delivery& d) {
  auto event = tx.GetDeliveryEvent(d.delivery_id());
  if (!event.ok()) return event.status();
  if (!*event) return std::nullopt;
  const auto* alert = std::get_if<v1::StaffAlert>(&(*event)->payload);
  if (alert == nullptr) return std::nullopt;
  return *alert;
}

const v1::ContactRecipient* ContactRecipientOf(const Event::Payload& p) {
  const v1::ContactRecipient* c = nullptr;
  if (const auto* u = std::get_if<v1::ComplaintUpdate>(&p)) c = u->has_contact() ? &u->contact() : nullptr;
  if (const auto* s = std::get_if<v1::SatisfactionSurvey>(&p)) c = s->has_contact() ? &s->contact() : nullptr;
  if (const auto* k = std::get_if<v1::ProactiveCheckIn>(&p)) c = k->has_contact() ? &k->contact() : nullptr;
  return c;
}

absl::StatusOr<std::optional<v1::ContactRecipient>> ContactOf(StoreTxn& tx, const v1::Delivery& d) {
  auto event = tx.GetDeliveryEvent(d.delivery_id());
  if (!event.ok()) return event.status();
  if (!*event) return std::nullopt;
  const v1::ContactRecipient* c = ContactRecipientOf((*event)->payload);
  if (c == nullptr) return std::nullopt;
  return *c;
}

namespace {

// A contact (no membership) is reached at the address their event carries:
// like staff, no member record, preferences or consent (complaint messages
// are transactional).
absl::StatusOr<v1::SuppressionReason> CheckContact(StoreTxn& tx, const v1::Delivery& d, const v1::Settings& settings) {
  auto contact = ContactOf(tx, d);
  if (!contact.ok()) return contact.status();
  if (!*contact) return v1::SUPPRESSION_REASON_NO_ADDRESS;
  if (d.channel() == care::common::v1::MESSAGE_CHANNEL_WEBHOOK) {
    if (settings.webhook().url().empty()) return v1::SUPPRESSION_REASON_CHANNEL_NOT_CONFIGURED;
    if ((*contact)->phone().empty()) return v1::SUPPRESSION_REASON_NO_ADDRESS;
  }
  if (d.channel() == care::common::v1::MESSAGE_CHANNEL_EMAIL) {
    if (settings.email().smtp_url().empty()) return v1::SUPPRESSION_REASON_CHANNEL_NOT_CONFIGURED;
    if ((*contact)->email().empty()) return v1::SUPPRESSION_REASON_NO_ADDRESS;
  }
  return v1::SUPPRESSION_REASON_UNSPECIFIED;
}

// A staff alert goes to an employee: no member record, preferences, consent
// or frequency cap; only the channel and the address it names.
absl::StatusOr<v1::SuppressionReason> CheckStaff(StoreTxn& tx, const v1::Delivery& d, const v1::Settings& settings) {
  auto alert = StaffAlertOf(tx, d);
  if (!alert.ok()) return alert.status();
  if (!*alert) return v1::SUPPRESSION_REASON_NO_ADDRESS;
  if (d.channel() == care::common::v1::MESSAGE_CHANNEL_WEBHOOK && settings.webhook().url().empty()) {
    return v1::SUPPRESSION_REASON_CHANNEL_NOT_CONFIGURED;
  }
  if (d.channel() == care::common::v1::MESSAGE_CHANNEL_EMAIL) {
    if (settings.email().smtp_url().empty()) return v1::SUPPRESSION_REASON_CHANNEL_NOT_CONFIGURED;
    if ((*alert)->recipient().email().empty()) return v1::SUPPRESSION_REASON_NO_ADDRESS;
  }
  return v1::SUPPRESSION_REASON_UNSPECIFIED;
}

}  // namespace

absl::StatusOr<v1::SuppressionReason> Check(StoreTxn& tx, const v1::Delivery& d, const v1::Settings& settings,
                                            absl::Time now, bool unsubscribe) {
  if (!d.staff_id().empty()) return CheckStaff(tx, d, settings);
  if (!d.contact_id().empty()) return CheckContact(tx, d, settings);
  if (!d.schedule_id().empty()) {
    auto sched = tx.GetSchedule(d.schedule_id());
    if (!sched.ok()) return sched.status();
    if (*sched) {
      const v1::Schedule& s = (*sched)->schedule;
      if (s.state() == v1::SCHEDULE_STATE_CANCELLED) return v1::SUPPRESSION_REASON_CAMPAIGN_CANCELLED;
      if (s.has_promotion_alert() && s.promotion_alert().has_ends_at() &&
          now >= FromTimestamp(s.promotion_alert().ends_at())) {
        return v1::SUPPRESSION_REASON_EXPIRED;
      }
    }
  }
  auto member = tx.GetMember(d.member_id());
  if (!member.ok()) return member.status();
  std::optional<v1::Preferences> prefs = *member ? (*member)->preferences : std::nullopt;
  if (!PreferenceEnabled(prefs, d.channel(), d.category())) return v1::SUPPRESSION_REASON_OPTED_OUT;
  if (d.category() == v1::MESSAGE_CATEGORY_MARKETING) {
    auto consent = tx.GetConsent(d.member_id(), d.channel());
    if (!consent.ok()) return consent.status();
    if (!*consent || !(*consent)->granted) return v1::SUPPRESSION_REASON_NO_CONSENT;
  }
  switch (d.channel()) {
    case care::common::v1::MESSAGE_CHANNEL_WEBHOOK:
      if (settings.webhook().url().empty()) return v1::SUPPRESSION_REASON_CHANNEL_NOT_CONFIGURED;
      if (!*member || (*member)->phone.empty()) return v1::SUPPRESSION_REASON_NO_ADDRESS;
      break;
    case care::common::v1::MESSAGE_CHANNEL_EMAIL:
      if (settings.email().smtp_url().empty()) return v1::SUPPRESSION_REASON_CHANNEL_NOT_CONFIGURED;
      // Marketing e-mail goes out only with a working unsubscribe link.
      if (d.category() == v1::MESSAGE_CATEGORY_MARKETING &&
          (settings.email().unsubscribe_url().empty() || !unsubscribe)) {
        return v1::SUPPRESSION_REASON_CHANNEL_NOT_CONFIGURED;
      }
      if (!*member || (*member)->email.empty()) return v1::SUPPRESSION_REASON_NO_ADDRESS;
      break;
    default:
      break;
  }
  if (d.category() == v1::MESSAGE_CATEGORY_MARKETING && settings.frequency_cap().max_messages() > 0) {
    auto sent = tx.MarketingSentSince(d.member_id(), now - FromDurationProto(settings.frequency_cap().window()));
    if (!sent.ok()) return sent.status();
    if (*sent >= settings.frequency_cap().max_messages()) {
      // The same message already sent on another channel does not count twice.
      bool counted = false;
      for (int c : {1, 2, 3}) {
        if (c == d.channel()) continue;
        auto other = tx.GetDeliveryByKey(d.member_id(), d.message_key(), c);
        if (!other.ok()) return other.status();
        if (*other && (*other)->status() == v1::DELIVERY_STATUS_SENT) counted = true;
      }
      if (!counted) return v1::SUPPRESSION_REASON_FREQUENCY_CAP;
    }
  }
  return v1::SUPPRESSION_REASON_UNSPECIFIED;
}

namespace {

constexpr char kDispatchJob[] = "notification.dispatch";

absl::Duration ChannelTimeout(const v1::Settings& settings, int channel) {
  const google::protobuf::Duration& t = channel == care::common::v1::MESSAGE_CHANNEL_EMAIL
                                            ? settings.email().timeout()
                                            : settings.webhook().timeout();
  absl::Duration d = FromDurationProto(t);
  return d > absl::ZeroDuration() ? d : absl::Seconds(30);
}

// Exponential backoff with jitter: uniform in [delay/2, delay], delay =
// initial * multiplier^(attempts-1) capped at max, so retries of one
// receiver outage spread out instead of arriving together.
absl::Duration RetryDelay(const v1::RetryPolicy& p, int attempts) {
  absl::Duration initial = FromDurationProto(p.initial_backoff());
  if (initial <= absl::ZeroDuration()) initial = absl::Seconds(10);
  absl::Duration cap = FromDurationProto(p.max_backoff());
  if (cap < initial) cap = std::max(initial, absl::Minutes(15));
  const double multiplier = p.multiplier() >= 1.0 ? p.multiplier() : 2.0;
  absl::Duration delay = initial;
  for (int i = 1; i < attempts && delay < cap; ++i) delay = delay * multiplier;
  delay = std::min(delay, cap);
  thread_local absl::BitGen gen;
  return delay * absl::Uniform(gen, 0.5, 1.0);
}

// Applies one attempt's result to a claimed delivery.
void ApplySendResult(v1::Delivery& d, const SendResult& r, const v1::RetryPolicy& policy, absl::Time now) {
  *d.mutable_update_time() = ToTimestamp(now);
  d.clear_next_attempt_time();
  if (r.outcome == SendResult::Outcome::kSent) {
    d.set_status(v1::DELIVERY_STATUS_SENT);
    d.set_provider_message_id(r.provider_message_id);
    d.clear_last_error_code();
    d.clear_last_error();
    *d.mutable_sent_time() = ToTimestamp(now);
    return;
  }
  d.set_last_error_code(r.error_code);
  d.set_last_error(ReceiverText(r.error, 200));
  const int max_attempts = policy.max_attempts() > 0 ? policy.max_attempts() : 8;
  if (r.outcome == SendResult::Outcome::kPermanent) {
    d.set_status(v1::DELIVERY_STATUS_FAILED);
  } else if (d.attempts() >= max_attempts) {
    d.set_status(v1::DELIVERY_STATUS_DEAD_LETTER);
    *d.mutable_dead_letter_time() = ToTimestamp(now);
  } else {
    *d.mutable_next_attempt_time() = ToTimestamp(now + RetryDelay(policy, d.attempts()));
  }
}

}  // namespace

absl::Status NotificationService::SendInApp(StoreTxn& tx, v1::Delivery& d, const v1::Settings& settings,
                                            absl::Time now) {
  OutgoingMessage rendered;
  auto ok = Render(tx, d, settings, rendered);
  if (!ok.ok()) return ok.status();
  if (!*ok) return absl::OkStatus();
  v1::InboxMessage msg;
  msg.set_message_id("msg-" + d.delivery_id().substr(4));
  msg.set_member_id(d.member_id());
  msg.set_delivery_id(d.delivery_id());
  msg.set_message_key(d.message_key());
  msg.set_kind(d.kind());
  msg.set_category(d.category());
  msg.set_subject(rendered.subject);
  msg.set_body(rendered.body);
  msg.set_locale(rendered.locale);
  for (const auto& [k, v] : rendered.attributes) (*msg.mutable_attributes())[k] = v;
  *msg.mutable_create_time() = ToTimestamp(now);
  *msg.mutable_expire_time() = ToTimestamp(now + FromDurationProto(settings.in_app().retention()));
  if (absl::Status st = tx.InsertInbox(msg); !st.ok()) return st;
  d.set_status(v1::DELIVERY_STATUS_SENT);
  d.set_inbox_message_id(msg.message_id());
  *d.mutable_sent_time() = ToTimestamp(now);
  return absl::OkStatus();
}

Channel* NotificationService::TransportFor(int channel, const v1::Settings& settings) {
  const std::string config = channel == care::common::v1::MESSAGE_CHANNEL_EMAIL
                                 ? settings.email().SerializeAsString()
                                 : settings.webhook().SerializeAsString();
  Transport& t = transports_[channel];
  if (!t.channel || t.config != config) {
    t.channel = options_.channels(channel, settings);
    t.config = config;
  }
  return t.channel.get();
}

void NotificationService::SendClaimed(const v1::Settings& settings, const std::vector<OutgoingMessage>& claimed,
                                      std::map<std::pair<int, int>, int64_t>& outcomes) {
  // Each channel's messages go out together (concurrently, over reused
  // connections), then every outcome is recorded in one short transaction.
  std::map<int, std::vector<OutgoingMessage>> by_channel;
  for (const OutgoingMessage& m : claimed) by_channel[m.channel].push_back(m);
  std::vector<std::pair<const OutgoingMessage*, SendResult>> sent;
  for (const auto& [channel_id, messages] : by_channel) {
    Channel* channel = TransportFor(channel_id, settings);
    std::vector<SendResult> results;
    if (channel) {
      results = channel->SendAll(messages);
    } else {
      SendResult unavailable;
      unavailable.outcome = SendResult::Outcome::kTransient;
      unavailable.error_code = "CHANNEL_UNAVAILABLE";
      results.assign(messages.size(), unavailable);
    }
    for (size_t i = 0; i < messages.size(); ++i) sent.emplace_back(&messages[i], std::move(results[i]));
  }
  const absl::Time now = clock_.Now();
  std::map<std::pair<int, int>, int64_t> recorded;
  absl::Status s = store_.Write([&](StoreTxn& tx) -> absl::Status {
    recorded.clear();
    for (const auto& [m, r] : sent) {
      auto current = tx.GetDelivery(m->delivery_id);
      if (!current.ok()) return current.status();
      // Only the claim that made this attempt records it: a replay or a
      // re-claim after an expired lease owns the delivery now.
      if (!*current || (*current)->status() != v1::DELIVERY_STATUS_PENDING || (*current)->attempts() != m->attempt) {
        continue;
      }
      v1::Delivery d = **current;
      ApplySendResult(d, r, settings.retry_policy(), now);
      if (absl::Status st = tx.UpdateDelivery(d); !st.ok()) return st;
      if (d.status() != v1::DELIVERY_STATUS_PENDING) ++recorded[{m->channel, d.status()}];
    }
    return absl::OkStatus();
  });
  if (!s.ok()) {
    // The leases make them due again; receivers deduplicate on the id.
    LogJobFailure(kDispatchJob, absl::Status(s.code(), absl::StrCat("recording sends failed: ", s.message())));
    return;
  }
  for (const auto& [key, n] : recorded) outcomes[key] += n;
}

absl::Status NotificationService::Attempt(StoreTxn& tx, v1::Delivery& d, const v1::Settings& settings, absl::Time now,
                                          std::vector<OutgoingMessage>& claimed) {
  auto reason = Check(tx, d, settings, now, options_.unsubscribe != nullptr);
  if (!reason.ok()) return reason.status();
  d.set_attempts(d.attempts() + 1);
  *d.mutable_last_attempt_time() = ToTimestamp(now);
  *d.mutable_update_time() = ToTimestamp(now);
  d.clear_next_attempt_time();
  if (*reason != v1::SUPPRESSION_REASON_UNSPECIFIED) {
    d.set_status(v1::DELIVERY_STATUS_SUPPRESSED);
    d.set_suppression_reason(*reason);
  } else if (d.channel() == care::common::v1::MESSAGE_CHANNEL_IN_APP) {
    return SendInApp(tx, d, settings, now);
  } else if (!options_.channels) {
    d.set_status(v1::DELIVERY_STATUS_SUPPRESSED);
    d.set_suppression_reason(v1::SUPPRESSION_REASON_CHANNEL_NOT_CONFIGURED);
  } else {
    OutgoingMessage m;
    auto rendered = Render(tx, d, settings, m);
    if (!rendered.ok()) return rendered.status();
    if (*rendered) {
      // Claimed: still PENDING but not due again until the lease ends, so
      // no other dispatch sends it meanwhile and a crash mid-send retries.
      m.channel = d.channel();
      if (m.channel == care::common::v1::MESSAGE_CHANNEL_EMAIL && d.category() == v1::MESSAGE_CATEGORY_MARKETING) {
        m.unsubscribe_url = UnsubscribeLink(settings.email().unsubscribe_url(),
                                            options_.unsubscribe->Mint({d.member_id(), d.delivery_id(), d.channel(),
                                                                        FromTimestamp(d.create_time())}));
      }
      *d.mutable_next_attempt_time() = ToTimestamp(now + options_.send_lease + ChannelTimeout(settings, d.channel()));
      claimed.push_back(std::move(m));
    }
  }
  return absl::OkStatus();
}

void NotificationService::ExportOutcomes(const std::map<std::pair<int, int>, int64_t>& outcomes) {
  for (const auto& [key, n] : outcomes) {
    std::string channel(
        care::common::v1::MessageChannel_Name(static_cast<care::common::v1::MessageChannel>(key.first)));
    std::string status(v1::DeliveryStatus_Name(static_cast<v1::DeliveryStatus>(key.second)));
    DeliveriesMetric().Inc({std::string(absl::StripPrefix(channel, "MESSAGE_CHANNEL_")),
                            std::string(absl::StripPrefix(status, "DELIVERY_STATUS_"))},
                           static_cast<double>(n));
  }
}

bool NotificationService::RunDispatch() {
  auto settings = CurrentSettings();
  if (!settings.ok()) {
    LogJobFailure(kDispatchJob, settings.status());
    return false;
  }
  const absl::Time now = clock_.Now();
  size_t handled = 0;
  // Outcomes by (channel, status), exported once the batch has committed.
  std::map<std::pair<int, int>, int64_t> outcomes;
  std::vector<OutgoingMessage> claimed;
  std::vector<std::string> inboxes;  // members with a new inbox message
  absl::Status s = store_.Write([&](StoreTxn& tx) -> absl::Status {
    outcomes.clear();
    claimed.clear();
    inboxes.clear();
    auto due = tx.DueDeliveries(now, options_.dispatch_batch);
    if (!due.ok()) return due.status();
    handled = due->size();
    for (v1::Delivery& d : *due) {
      if (absl::Status st = Attempt(tx, d, *settings, now, claimed); !st.ok()) return st;
      if (absl::Status st = tx.UpdateDelivery(d); !st.ok()) return st;
      if (d.status() != v1::DELIVERY_STATUS_PENDING) ++outcomes[{d.channel(), d.status()}];
      if (!d.inbox_message_id().empty() && d.status() == v1::DELIVERY_STATUS_SENT) inboxes.push_back(d.member_id());
    }
    return absl::OkStatus();
  });
  if (!s.ok()) {
    LogJobFailure(kDispatchJob, s);
    return false;
  }
  // Committed: subscribers of these inboxes read the feed now.
  inbox_watch_.Changed(inboxes);
  if (!claimed.empty()) SendClaimed(*settings, claimed, outcomes);
  ExportOutcomes(outcomes);
  return handled == static_cast<size_t>(options_.dispatch_batch);
}

}  // namespace care::notification
