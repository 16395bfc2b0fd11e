// The fan-out job: a due promotion alert's audience, streamed from loyalty,
// becomes one delivery per member and channel, batch by batch, resumable
// after the stored cursor.
#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/jobs.h"
#include "common/proto_time.h"
#include "services/notification/notification_internal.h"
#include "services/notification/notification_service.h"

namespace care::notification {
namespace {

using care::common::v1::MessageChannel;

constexpr char kFanOutJob[] = "notification.fan_out";
// Due schedules looked at per run: those whose chunks are all held by other
// replicas are passed over.
constexpr int kDueSchedulesLooked = 8;

// True when the alert's due time is a promise to keep (starts_at - notice):
// nothing is sent after it. Not after short notice or an event that came
// after its due time: then due is the ingest time and the alert goes at
// once, within the member's window.
bool KeepsNotice(const v1::Schedule& s) {
  const v1::PromotionAlert& a = s.promotion_alert();
  return s.has_promotion_alert() && !a.short_notice() &&
         FromTimestamp(s.due_time()) == FromTimestamp(a.starts_at()) - FromDurationProto(a.notice());
}

MarketingDue DueOf(const v1::Schedule& s, const v1::Settings& settings) {
  MarketingDue due;
  due.due = FromTimestamp(s.due_time());
  due.keep_notice = KeepsNotice(s);
  due.margin = FromDurationProto(settings.quiet_hours_margin());
  if (s.promotion_alert().has_ends_at()) due.ends_at = FromTimestamp(s.promotion_alert().ends_at());
  due.grace = kFanOutGrace;
  return due;
}

// Loyalty's profile as of now; the member's own preferences stay.
absl::StatusOr<MemberRow> UpsertAudienceMember(StoreTxn& tx, const AudienceMember& m, absl::Time now) {
  auto stored = tx.GetMember(m.member_id);
  if (!stored.ok()) return stored.status();
  MemberRow member = stored->value_or(MemberRow{});
  member.member_id = m.member_id;
  member.name = m.name;
  member.email = m.email;
  member.phone = m.phone;
  member.profile_locale = m.locale;
  member.profile_zone = m.time_zone;
  member.profile_at = now;
  if (absl::Status st = tx.PutMember(member); !st.ok()) return st;
  return member;
}

// The alert's delivery to one member on one channel, PENDING at the
// member's send time or SUPPRESSED when there is none.
v1::Delivery AlertDelivery(const v1::Schedule& s, const std::string& member_id, int channel, const SendTime& when,
                           absl::Time now) {
  v1::Delivery d;
  d.set_delivery_id(NotificationService::DeliveryId(member_id, s.message_key(), channel));
  d.set_member_id(member_id);
  d.set_message_key(s.message_key());
  d.set_channel(static_cast<MessageChannel>(channel));
  d.set_kind(v1::MESSAGE_KIND_PROMOTION_ALERT);
  d.set_category(v1::MESSAGE_CATEGORY_MARKETING);
  d.set_event_id(s.last_event_id());
  d.set_schedule_id(s.schedule_id());
  d.set_campaign_id(s.campaign_id());
  d.set_source("promotion");
  d.set_status(v1::DELIVERY_STATUS_PENDING);
  *d.mutable_send_after() = ToTimestamp(when.send_after);
  d.set_quiet_hours_adjusted(when.adjusted);
  if (when.suppress != NoSendTime::kNone) {
    d.set_status(v1::DELIVERY_STATUS_SUPPRESSED);
    d.set_suppression_reason(when.suppress == NoSendTime::kExpired ? v1::SUPPRESSION_REASON_EXPIRED
                                                                   : v1::SUPPRESSION_REASON_NO_WINDOW_BEFORE_DUE);
  }
  *d.mutable_create_time() = ToTimestamp(now);
  *d.mutable_update_time() = ToTimestamp(now);
  return d;
}

}  // namespace

std::vector<FanOutChunk> SplitAudience(const std::string& schedule_id, const std::string& after, int count) {
  // Loyalty's generated ids are "m-" and hex digits: cuts after "m-" at
  // evenly spaced leading digits give ranges of about equal size; any other
  // id falls in the first range or the last.
  count = std::clamp(count, 1, 16);
  std::vector<FanOutChunk> chunks(count);
  for (int i = 0; i < count; ++i) {
    FanOutChunk& c = chunks[i];
    c.schedule_id = schedule_id;
    c.chunk = i;
    if (i > 0) c.lo = absl::StrCat("m-", absl::Hex(i * 16 / count));
    if (i + 1 < count) c.hi = absl::StrCat("m-", absl::Hex((i + 1) * 16 / count));
    // Members up to `after` were stored before the ranges existed.
    if (after > c.lo) c.after_member_id = after;
    c.done = !c.hi.empty() && after >= c.hi;
  }
  return chunks;
}

bool NotificationService::RunFanOut() {
  if (audience_ == nullptr) return false;
  auto settings = CurrentSettings();
  if (!settings.ok()) {
    LogJobFailure(kFanOutJob, settings.status());
    return false;
  }
  std::vector<ScheduleRow> due;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto rows = tx.DueSchedules(clock_.Now(), absl::Now(), kDueSchedulesLooked);
    if (!rows.ok()) return rows.status();
    due = std::move(*rows);
    return absl::OkStatus();
  });
  if (!s.ok()) LogJobFailure(kFanOutJob, s);
  if (!s.ok()) return false;
  // The first due schedule with a chunk for this replica: the others' chunks
  // are held by replicas that are alive (their leases run).
  for (const ScheduleRow& row : due) {
    const std::string& id = row.schedule.schedule_id();
    auto chunk = ClaimChunk(id);
    if (!chunk.ok()) {
      LogJobFailure(kFanOutJob, chunk.status());
      return false;
    }
    if (!chunk->has_value()) continue;
    absl::Status done = RunChunk(**chunk, *settings);
    if (done.ok() || absl::IsAborted(done)) return true;  // Aborted: another replica took the chunk over
    LogJobFailure(kFanOutJob,
                  absl::Status(done.code(), absl::StrCat("fan-out of schedule ", id, " stopped: ", done.message())));
    PauseFanOut(id, absl::IsCancelled(done) ? "" : "loyalty unavailable, retrying");
    return false;
  }
  return false;
}

void NotificationService::PauseFanOut(const std::string& schedule_id, const std::string& error) {
  absl::Status s = store_.Write([&](StoreTxn& tx) -> absl::Status {
    auto row = tx.GetSchedule(schedule_id);
    if (!row.ok() || !*row) return row.status();
    if ((*row)->schedule.state() != v1::SCHEDULE_STATE_RUNNING) return absl::OkStatus();
    (*row)->schedule.set_last_error(error);
    (*row)->retry_at = absl::Now() + options_.fan_out_retry;
    return tx.PutSchedule(**row);
  });
  if (!s.ok()) LogJobFailure(kFanOutJob, s);
}

void NotificationService::SetScheduleState(ScheduleRow& row, v1::ScheduleState to) {
  v1::Schedule& s = row.schedule;
  s.set_state(to);
  if (to == v1::SCHEDULE_STATE_RUNNING) *s.mutable_start_time() = ToTimestamp(clock_.Now());
  if (to == v1::SCHEDULE_STATE_COMPLETED) {
    s.clear_last_error();
    *s.mutable_complete_time() = ToTimestamp(clock_.Now());
  }
  s.set_version(s.version() + 1);
}

absl::StatusOr<std::optional<FanOutChunk>> NotificationService::ClaimChunk(const std::string& schedule_id) {
  std::optional<FanOutChunk> claimed;
  absl::Status s = store_.Write([&](StoreTxn& tx) -> absl::Status {
    claimed.reset();
    auto row = tx.GetSchedule(schedule_id);
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
    const v1::ScheduleState state = (*row)->schedule.state();
    if (state != v1::SCHEDULE_STATE_SCHEDULED && state != v1::SCHEDULE_STATE_RUNNING) return absl::OkStatus();
    auto chunks = tx.Chunks(schedule_id);
    if (!chunks.ok()) return chunks.status();
    if (chunks->empty()) {
      // RUNNING (durably) before the audience is read; the ranges keep the
      // cursor of a fan-out that started before they existed.
      if (state == v1::SCHEDULE_STATE_SCHEDULED) SetScheduleState(**row, v1::SCHEDULE_STATE_RUNNING);
      *chunks = SplitAudience(schedule_id, (*row)->after_member_id, options_.fan_out_chunks);
      for (const FanOutChunk& c : *chunks) {
        if (absl::Status st = tx.PutChunk(c); !st.ok()) return st;
      }
    }
    const absl::Time wall_now = absl::Now();
    auto chunk = tx.ClaimableChunk(schedule_id, options_.replica_id, wall_now);
    if (!chunk.ok()) return chunk.status();
    if (!*chunk) {
      if (std::all_of(chunks->begin(), chunks->end(), [](const FanOutChunk& c) { return c.done; })) {
        SetScheduleState(**row, v1::SCHEDULE_STATE_COMPLETED);
        return tx.PutSchedule(**row);
      }
      return state == v1::SCHEDULE_STATE_SCHEDULED ? tx.PutSchedule(**row) : absl::OkStatus();
    }
    (*chunk)->holder = options_.replica_id;
    (*chunk)->lease_until = wall_now + options_.fan_out_lease;
    if (absl::Status st = tx.PutChunk(**chunk); !st.ok()) return st;
    claimed = **chunk;
    return state == v1::SCHEDULE_STATE_SCHEDULED ? tx.PutSchedule(**row) : absl::OkStatus();
  });
  if (!s.ok()) return s;
  return claimed;
}

absl::Status NotificationService::RunChunk(const FanOutChunk& chunk, const v1::Settings& settings) {
  auto schedule = GetScheduleRow(chunk.schedule_id);
  if (!schedule.ok()) return schedule.status();
  AudienceQuery query;
  const v1::PromotionAlert& alert = schedule->schedule.promotion_alert();
  query.tier_ids.assign(alert.target_tier_ids().begin(), alert.target_tier_ids().end());
  query.segments.assign(alert.target_segments().begin(), alert.target_segments().end());
  query.after_member_id = std::max(chunk.lo, chunk.after_member_id);
  // The audience comes in member-id order: the chunk ends at the first
  // member after `hi`.
  bool past_end = false;
  absl::Status stored = absl::OkStatus();
  auto store = [&](std::vector<AudienceMember> batch) -> absl::Status {
    auto end = std::find_if(batch.begin(), batch.end(),
                            [&](const AudienceMember& m) { return !chunk.hi.empty() && m.member_id > chunk.hi; });
    past_end = end != batch.end();
    batch.erase(end, batch.end());
    if (!batch.empty()) stored = StoreBatch(chunk, batch, settings);
    if (!stored.ok()) return stored;
    return past_end ? absl::CancelledError("past the chunk's last member") : absl::OkStatus();
  };
  absl::Status streamed = audience_->Stream(query, options_.fan_out_batch, store);
  if (!stored.ok()) return stored;
  if (!streamed.ok() && !past_end) return streamed;
  return store_.Write([&](StoreTxn& tx) -> absl::Status {
    auto current = tx.GetChunk(chunk.schedule_id, chunk.chunk);
    if (!current.ok()) return current.status();
    if (!*current || (*current)->done || (*current)->holder != options_.replica_id) return absl::OkStatus();
    (*current)->done = true;
    (*current)->holder.clear();
    (*current)->lease_until = absl::InfinitePast();
    return tx.PutChunk(**current);
  });
}

absl::StatusOr<ScheduleRow> NotificationService::GetScheduleRow(const std::string& schedule_id) {
  ScheduleRow out;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto row = tx.GetSchedule(schedule_id);
    if (!row.ok()) return row.status();
    if (!*row) return absl::CancelledError("schedule gone");
    out = std::move(**row);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status NotificationService::StoreMember(StoreTxn& tx, ScheduleRow& row, const AudienceMember& m,
                                              const v1::Settings& settings, absl::Time now, BatchOutcome& outcome) {
  v1::Schedule& s = row.schedule;
  const v1::PromotionAlert& alert = s.promotion_alert();
  auto member = UpsertAudienceMember(tx, m, now);
  if (!member.ok()) return member.status();
  if (absl::Status st = ApplyLoyaltyConsents(tx, m.member_id, m.consents, s.schedule_id(), now); !st.ok()) return st;
  // The member's own zone first, then the campaign's.
  const std::string zone = MemberZone(*member, !alert.campaign_time_zone().empty() ? alert.campaign_time_zone()
                                                                                   : settings.default_time_zone());
  SendTime when = MarketingSendTime(DueOf(s, settings), now, ZoneOrUtc(zone),
                                    MemberWindow(member->preferences, settings));
  for (int channel : s.channels()) {
    v1::Delivery d = AlertDelivery(s, m.member_id, channel, when, now);
    if (d.status() == v1::DELIVERY_STATUS_PENDING && channel == care::common::v1::MESSAGE_CHANNEL_IN_APP &&
        when.send_after <= now) {
      // Due already: delivered here, in the transaction that creates it,
      // exactly as the dispatcher would at once; a million-member fan-out
      // then writes each delivery once instead of twice.
      auto existing = tx.GetDeliveryByKey(d.member_id(), d.message_key(), channel);
      if (!existing.ok()) return existing.status();
      if (*existing) continue;
      std::vector<OutgoingMessage> none;  // IN_APP claims nothing
      if (absl::Status st = Attempt(tx, d, settings, now, none); !st.ok()) return st;
      ++outcome.outcomes[{channel, d.status()}];
      if (!d.inbox_message_id().empty() && d.status() == v1::DELIVERY_STATUS_SENT) {
        outcome.inboxes.push_back(m.member_id);
      }
    }
    auto inserted = tx.InsertDelivery(d);
    if (!inserted.ok()) return inserted.status();
    if (*inserted) s.set_deliveries_created(s.deliveries_created() + 1);
  }
  s.set_members_resolved(s.members_resolved() + 1);
  return absl::OkStatus();
}

absl::Status NotificationService::StoreBatch(const FanOutChunk& chunk, const std::vector<AudienceMember>& batch,
                                             const v1::Settings& settings) {
  const absl::Time now = clock_.Now();
  BatchOutcome outcome;
  absl::Status stored = store_.Write([&](StoreTxn& tx) -> absl::Status {
    outcome = BatchOutcome{};
    auto row = tx.GetSchedule(chunk.schedule_id);
    if (!row.ok()) return row.status();
    if (!*row || (*row)->schedule.state() != v1::SCHEDULE_STATE_RUNNING) {
      return absl::CancelledError("schedule no longer running");
    }
    // Only while this replica holds the chunk: after its lease ended another
    // may have claimed it, and that one goes on from the stored cursor.
    auto held = tx.GetChunk(chunk.schedule_id, chunk.chunk);
    if (!held.ok()) return held.status();
    if (!*held || (*held)->done || (*held)->holder != options_.replica_id) {
      return absl::AbortedError("the fan-out chunk was taken over by another replica");
    }
    FanOutChunk& cursor = **held;
    std::vector<std::string> ids;
    for (const AudienceMember& m : batch) {
      if (m.member_id > cursor.after_member_id) ids.push_back(m.member_id);  // else stored before a restart
    }
    if (absl::Status st = tx.PrefetchMembers(ids); !st.ok()) return st;
    if (absl::Status st = tx.PrefetchDeliveries(ids, (*row)->schedule.message_key()); !st.ok()) return st;
    // Erased members get nothing (loyalty may still list one whose erasure
    // has not reached it); the cursor moves past them all the same.
    auto erased = tx.ErasedMembers(ids);
    if (!erased.ok()) return erased.status();
    for (const AudienceMember& m : batch) {
      if (m.member_id <= cursor.after_member_id) continue;
      if (erased->contains(m.member_id)) {
        cursor.after_member_id = m.member_id;
        continue;
      }
      if (absl::Status st = StoreMember(tx, **row, m, settings, now, outcome); !st.ok()) return st;
      cursor.after_member_id = m.member_id;
    }
    cursor.lease_until = absl::Now() + options_.fan_out_lease;
    if (absl::Status st = tx.PutChunk(cursor); !st.ok()) return st;
    (*row)->schedule.clear_last_error();
    *(*row)->schedule.mutable_update_time() = ToTimestamp(now);
    return tx.PutSchedule(**row);
  });
  if (stored.ok()) {
    ExportOutcomes(outcome.outcomes);
    inbox_watch_.Changed(outcome.inboxes);  // committed: their subscribers read now
  }
  return stored;
}

}  // namespace care::notification
