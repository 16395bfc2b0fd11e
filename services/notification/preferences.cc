// A member's preferences and marketing consent: what the member (or an agent
// on their behalf) sets, applied at send time by Check(), so a change also
// reaches messages already scheduled.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/privacy.h"
#include "common/proto_time.h"
#include "common/store.h"
#include "services/notification/notification_internal.h"
#include "services/notification/notification_service.h"

namespace care::notification {
namespace {

using care::common::v1::MessageChannel;

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

// One path of an update mask from `in` into `p`.
void MergePath(v1::Preferences& p, const v1::Preferences& in, const std::string& path) {
  if (path == "locale") {
    p.set_locale(in.locale());
  } else if (path == "time_zone") {
    p.set_time_zone(in.time_zone());
  } else if (path == "send_window") {
    if (in.has_send_window()) {
      *p.mutable_send_window() = in.send_window();
    } else {
      p.clear_send_window();
    }
  } else if (path == "channel_preferences") {
    // Each pair given replaces the stored one; pairs not given stay.
    for (const auto& given : in.channel_preferences()) {
      auto* list = p.mutable_channel_preferences();
      auto same = std::find_if(list->begin(), list->end(), [&](const v1::ChannelPreference& x) {
        return x.channel() == given.channel() && x.category() == given.category();
      });
      if (same != list->end()) {
        *same = given;
      } else {
        *list->Add() = given;
      }
    }
  }
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

absl::StatusOr<v1::Preferences> NotificationService::UpdatePreferences(const Once& once, const v1::Preferences& in,
                                                                       std::vector<std::string> paths) {
  const absl::Time now = clock_.Now();
  if (paths.empty()) paths = {"locale", "time_zone", "send_window", "channel_preferences"};
  Once tagged = once;
  tagged.subject = MemberSubject(in.member_id());
  return WriteOnce<v1::Preferences>(store_, tagged, [&](StoreTxn& tx, v1::Preferences& out) -> absl::Status {
    if (absl::Status st = RefuseErasedMember(tx, in.member_id()); !st.ok()) return st;
    auto stored = tx.GetMember(in.member_id());
    if (!stored.ok()) return stored.status();
    MemberRow member = stored->value_or(MemberRow{});
    member.member_id = in.member_id();
    v1::Preferences p = member.preferences.value_or(v1::Preferences());
    if (in.version() != 0 && in.version() != p.version()) {
      return Error(absl::StatusCode::kAborted, "VERSION_MISMATCH", "the preferences changed; re-read and retry");
    }
    for (const std::string& path : paths) MergePath(p, in, path);
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

absl::StatusOr<v1::ConsentRecord> NotificationService::SetConsent(const Once& once, const ConsentChange& change,
                                                                  const std::string& actor) {
  const absl::Time now = clock_.Now();
  Once tagged = once;
  tagged.subject = MemberSubject(change.member_id);
  return WriteOnce<v1::ConsentRecord>(store_, tagged, [&](StoreTxn& tx, v1::ConsentRecord& out) -> absl::Status {
    if (absl::Status st = RefuseErasedMember(tx, change.member_id); !st.ok()) return st;
    const absl::Time effective = change.effective_time.value_or(now);
    auto held = tx.GetConsent(change.member_id, change.channel);
    if (!held.ok()) return held.status();
    // The newest effective time wins; an older change is kept as history only.
    const bool applied = !*held || (*held)->effective_at <= effective;
    if (applied) {
      if (absl::Status st = tx.PutConsent(change.member_id, change.channel, ConsentState{change.granted, effective});
          !st.ok()) {
        return st;
      }
    }
    out.set_consent_id(absl::StrCat("con-", change.member_id, "-", absl::ToUnixMicros(now), "-", change.channel));
    out.set_member_id(change.member_id);
    out.set_channel(static_cast<MessageChannel>(change.channel));
    out.set_granted(change.granted);
    out.set_source(change.source);
    out.set_legal_basis(change.legal_basis);
    out.set_evidence(change.evidence);
    out.set_actor(actor);
    *out.mutable_effective_time() = ToTimestamp(effective);
    *out.mutable_record_time() = ToTimestamp(now);
    out.set_applied(applied);
    out.set_origin_id(change.origin_id);
    return tx.AppendConsentRecord(out);
  });
}

absl::StatusOr<ConsentChange> NotificationService::UnsubscribeChange(absl::string_view token,
                                                                     absl::string_view evidence) const {
  if (!options_.unsubscribe) {
    return FailedPrecondition("UNSUBSCRIBE_KEY_NOT_CONFIGURED",
                              "this service signs no unsubscribe links (no --unsubscribe_key_file)");
  }
  auto claim = options_.unsubscribe->Verify(token, clock_.Now());
  if (!claim.ok()) return claim.status();
  ConsentChange change;
  change.member_id = claim->member_id;
  change.channel = claim->channel;
  change.granted = false;
  change.source = v1::CONSENT_SOURCE_UNSUBSCRIBE_REQUEST;
  change.legal_basis = v1::LEGAL_BASIS_CONSENT;
  change.evidence = absl::StrCat("List-Unsubscribe one-click, delivery ", claim->delivery_id,
                                 evidence.empty() ? "" : "; ", evidence);
  change.origin_id = absl::StrCat("unsubscribe/", claim->delivery_id);
  return change;
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
