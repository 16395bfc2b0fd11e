// A member's preferences and marketing consent: what the member (or an agent
// on their behalf) sets, applied at send time by Check(), so a change also
// reaches messages already scheduled.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/proto_time.h"
#include "common/store.h"
#include "services/notification/notification_service.h"

namespace care::notification {
namespace {

using care::common::v1::MessageChannel;

constexpr char kPreferencesScope[] = "notification.UpdatePreferences";
constexpr char kConsentScope[] = "notification.SetConsent";

// Every (channel, category) pair, the stored switch or the default (on).
void FillChannelPreferences(v1::Preferences& p) {
  v1::Preferences filled;
  for (MessageChannel channel : {care::common::v1::MESSAGE_CHANNEL_IN_APP, care::common::v1::MESSAGE_CHANNEL_WEBHOOK,
                                 care::common::v1::MESSAGE_CHANNEL_EMAIL}) {
    for (v1::MessageCategory category : {v1::MESSAGE_CATEGORY_TRANSACTIONAL, v1::MESSAGE_CATEGORY_MARKETING}) {
      v1::ChannelPreference* out = filled.add_channel_preferences();
      out->set_channel(channel);
      out->set_category(category);
      out->set_enabled(true);
      for (const auto& stored : p.channel_preferences()) {
        if (stored.channel() == channel && stored.category() == category) out->set_enabled(stored.enabled());
      }
    }
  }
  p.mutable_channel_preferences()->Swap(filled.mutable_channel_preferences());
}

absl::StatusOr<v1::Preferences> Load(StoreTxn& tx, const std::string& member_id) {
  auto member = tx.GetMember(member_id);
  if (!member.ok()) return member.status();
  v1::Preferences p;
  if (*member && (*member)->preferences) p = *(*member)->preferences;
  p.set_member_id(member_id);
  FillChannelPreferences(p);
  p.clear_marketing_consents();
  auto consents = tx.Consents(member_id);
  if (!consents.ok()) return consents.status();
  for (const auto& [channel, state] : *consents) {
    v1::MarketingConsent* c = p.add_marketing_consents();
    c->set_channel(static_cast<MessageChannel>(channel));
    c->set_granted(state.granted);
    *c->mutable_update_time() = ToTimestamp(state.effective_at);
  }
  return p;
}

}  // namespace

absl::StatusOr<v1::Preferences> NotificationService::GetPreferences(const std::string& member_id) {
  v1::Preferences out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto p = Load(tx, member_id);
    if (!p.ok()) return p.status();
    out = std::move(*p);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::Preferences> NotificationService::UpdatePreferences(const v1::UpdatePreferencesRequest& req) {
  const absl::Time now = clock_.Now();
  return WriteOnce<v1::Preferences>(store_, kPreferencesScope, req.request_id(), req,
                                    [&](StoreTxn& tx, v1::Preferences& out) -> absl::Status {
    const v1::Preferences& in = req.preferences();
    auto stored = tx.GetMember(in.member_id());
    if (!stored.ok()) return stored.status();
    MemberRow member = stored->value_or(MemberRow{});
    member.member_id = in.member_id();
    v1::Preferences p = member.preferences.value_or(v1::Preferences());
    if (in.version() != 0 && in.version() != p.version()) {
      return Error(absl::StatusCode::kAborted, "VERSION_MISMATCH", "the preferences changed; re-read and retry");
    }
    std::vector<std::string> paths(req.update_mask().paths().begin(), req.update_mask().paths().end());
    if (paths.empty()) paths = {"locale", "time_zone", "send_window", "channel_preferences"};
    for (const std::string& path : paths) {
      if (path == "locale") {
        p.set_locale(in.locale());
      } else if (path == "time_zone") {
        p.set_time_zone(in.time_zone());
      } else if (path == "send_window") {
        if (in.has_send_window()) *p.mutable_send_window() = in.send_window(); else p.clear_send_window();
      } else if (path == "channel_preferences") {
        // Each pair given replaces the stored one; pairs not given stay.
        for (const auto& given : in.channel_preferences()) {
          auto* list = p.mutable_channel_preferences();
          auto same = std::find_if(list->begin(), list->end(), [&](const v1::ChannelPreference& x) {
            return x.channel() == given.channel() && x.category() == given.category();
          });
          if (same != list->end()) *same = given; else *list->Add() = given;
        }
      }
    }
    p.set_member_id(in.member_id());
    p.clear_marketing_consents();
    p.set_version(p.version() + 1);
    *p.mutable_update_time() = ToTimestamp(now);
    member.preferences = p;
    if (absl::Status st = tx.PutMember(member); !st.ok()) return st;
    auto loaded = Load(tx, in.member_id());
    if (!loaded.ok()) return loaded.status();
    out = std::move(*loaded);
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::ConsentRecord> NotificationService::SetConsent(const v1::SetConsentRequest& req,
                                                                  const std::string& actor) {
  const absl::Time now = clock_.Now();
  return WriteOnce<v1::ConsentRecord>(store_, kConsentScope, req.request_id(), req,
                                      [&](StoreTxn& tx, v1::ConsentRecord& out) -> absl::Status {
    const absl::Time effective = req.has_effective_time() ? FromTimestamp(req.effective_time()) : now;
    auto held = tx.GetConsent(req.member_id(), req.channel());
    if (!held.ok()) return held.status();
    // The newest effective time wins; an older change is kept as history only.
    const bool applied = !*held || (*held)->effective_at <= effective;
    if (applied) {
      if (absl::Status st = tx.PutConsent(req.member_id(), req.channel(), ConsentState{req.granted(), effective});
          !st.ok()) {
        return st;
      }
    }
    out.set_consent_id(absl::StrCat("con-", req.member_id(), "-", absl::ToUnixMicros(now), "-", req.channel()));
    out.set_member_id(req.member_id());
    out.set_channel(req.channel());
    out.set_granted(req.granted());
    out.set_source(req.source());
    out.set_legal_basis(req.legal_basis());
    out.set_evidence(req.evidence());
    out.set_actor(actor);
    *out.mutable_effective_time() = ToTimestamp(effective);
    *out.mutable_record_time() = ToTimestamp(now);
    out.set_applied(applied);
    out.set_origin_id(req.request_id());
    return tx.AppendConsentRecord(out);
  });
}

absl::StatusOr<std::vector<std::pair<int64_t, v1::ConsentRecord>>> NotificationService::ConsentHistory(
    const std::string& member_id, int channel, int64_t before_seq, int limit) {
  std::vector<std::pair<int64_t, v1::ConsentRecord>> out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto r = tx.ConsentHistory(member_id, channel, before_seq, limit);
    if (!r.ok()) return r.status();
    out = std::move(*r);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace care::notification
