// Notification rules that need no server: recipient time (quiet hours across
// zones and daylight-saving changes), template text, ids derived from
// natural keys and the event's wire form.
#include "absl/time/civil_time.h"
#include "common/proto_time.h"
#include "gtest/gtest.h"
#include "services/notification/event_wire.h"
#include "services/notification/notification_service.h"
#include "services/notification/recipient_time.h"
#include "services/notification/templates.h"

namespace care::notification {
namespace {

absl::TimeZone Zone(const char* name) {
  absl::TimeZone z;
  EXPECT_TRUE(absl::LoadTimeZone(name, &z)) << name;
  return z;
}

absl::Time At(const absl::TimeZone& z, int y, int mo, int d, int h, int mi) {
  return absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi), z);
}

TEST(RecipientTime, MarketingDueInTokyoQuietHoursGoesAtEndOfPreviousWindow) {
  absl::TimeZone tokyo = Zone("Asia/Tokyo");
  Window w;                                       // 08:00-21:00
  absl::Time due = At(tokyo, 2031, 3, 10, 3, 0);  // 03:00 local: quiet
  absl::Time now = due - absl::Hours(24);
  SendTime t = MarketingSendTime(MarketingDue{due}, now, tokyo, w);
  EXPECT_TRUE(t.adjusted);
  EXPECT_EQ(t.send_after, At(tokyo, 2031, 3, 9, 20, 45));
  EXPECT_LE(t.send_after, due);  // never less notice
  // Inside the window: unchanged.
  SendTime in = MarketingSendTime(MarketingDue{At(tokyo, 2031, 3, 10, 12, 0)}, now, tokyo, w);
  EXPECT_FALSE(in.adjusted);
  EXPECT_EQ(in.send_after, At(tokyo, 2031, 3, 10, 12, 0));
}

TEST(RecipientTime, NewYorkAcrossDaylightSavingChange) {
  absl::TimeZone ny = Zone("America/New_York");
  Window w;
  // 2031-03-09 is the spring-forward Sunday in the US; due at 06:00 local
  // that day: the previous window ended at 21:00 EST the day before.
  absl::Time due = At(ny, 2031, 3, 9, 6, 0);
  SendTime t = MarketingSendTime(MarketingDue{due}, due - absl::Hours(48), ny, w);
  EXPECT_EQ(t.send_after, At(ny, 2031, 3, 8, 20, 45));
  EXPECT_EQ(due - t.send_after, absl::Hours(8) + absl::Minutes(15));  // one hour lost in the night
  // A window starting at a non-existent local time (02:30 on that day)
  // starts at the first valid instant after it.
  Window night{150, 240};
  EXPECT_EQ(NextWindowStart(At(ny, 2031, 3, 9, 1, 0), ny, night), At(ny, 2031, 3, 9, 3, 0));
}

TEST(RecipientTime, PassedEarlierMomentIsSuppressedOrWithoutNoticeGoesAtNextWindow) {
  absl::TimeZone utc = absl::UTCTimeZone();
  Window w;
  absl::Time due = At(utc, 2031, 1, 2, 3, 0);
  absl::Time now = At(utc, 2031, 1, 1, 22, 0);  // past the previous window's end
  // With notice: 08:00 would be after due, so nothing is sent.
  SendTime t = MarketingSendTime(MarketingDue{due}, now, utc, w);
  EXPECT_EQ(t.suppress, NoSendTime::kNoWindowBeforeDue);
  // Still inside the previous window: at once.
  t = MarketingSendTime(MarketingDue{due}, At(utc, 2031, 1, 1, 20, 50), utc, w);
  EXPECT_EQ(t.suppress, NoSendTime::kNone);
  EXPECT_EQ(t.send_after, At(utc, 2031, 1, 1, 20, 50));
  // Short notice: the start of the next window, unless the campaign ended.
  t = MarketingSendTime(MarketingDue{now, false}, now, utc, w);
  EXPECT_EQ(t.send_after, At(utc, 2031, 1, 2, 8, 0));
  EXPECT_EQ(t.suppress, NoSendTime::kNone);
  EXPECT_EQ(
      MarketingSendTime(MarketingDue{now, false, absl::Minutes(15), At(utc, 2031, 1, 2, 7, 0)}, now, utc, w).suppress,
      NoSendTime::kExpired);
  // Wrapping window 22:00-06:00 and no quiet hours at all.
  Window wrap{22 * 60, 6 * 60};
  EXPECT_TRUE(InWindow(At(utc, 2031, 1, 2, 23, 0), utc, wrap));
  EXPECT_TRUE(InWindow(At(utc, 2031, 1, 2, 5, 59), utc, wrap));
  EXPECT_FALSE(InWindow(At(utc, 2031, 1, 2, 12, 0), utc, wrap));
  EXPECT_TRUE(InWindow(At(utc, 2031, 1, 2, 3, 0), utc, Window{0, 0}));
  EXPECT_EQ(QuietSpan(w), absl::Hours(11));
  SendTime deferred = DeferredSendTime(At(utc, 2031, 1, 2, 23, 0), now, utc, w);
  EXPECT_EQ(deferred.send_after, At(utc, 2031, 1, 3, 8, 0));
}

TEST(Templates, RenderFallbackAndSyntax) {
  auto out = RenderText("Hi {{name}}, {{{{literal}} {{ missing }}!", {{"name", "An"}});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "Hi An, {{literal}} !");
  EXPECT_FALSE(RenderText("Hi {{name", {}).ok());
  EXPECT_FALSE(RenderText("Hi {{Bad-Name}}", {}).ok());
  for (const char* l : {"en", "vi", "ja"}) {
    EXPECT_TRUE(BuiltInTemplate(care::notification::v1::MESSAGE_KIND_PROMOTION_ALERT, l).has_value()) << l;
  }
}

// Stored rows and tests hold these ids: they must never change.
TEST(Ids, DeliveryIdIsStable) {
  EXPECT_EQ(NotificationService::DeliveryId("m-1", "promotion-alert/c-1", 1), "dlv-348f306ba37d0abe-m-1");
}

// A delivery's event is stored in IngestEventRequest's form and read back.
TEST(EventWire, RoundTripKeepsEnvelopeAndPayload) {
  v1::IngestEventRequest request;
  request.set_event_id("loyalty-42");
  request.set_source("loyalty");
  *request.mutable_occurred_at() = ToTimestamp(absl::FromUnixSeconds(1900000000));
  request.mutable_tier_changed()->set_member_id("m-1");
  request.mutable_tier_changed()->set_new_tier_id("gold");
  Event event = EventFromWire(request);
  EXPECT_EQ(event.event_id, "loyalty-42");
  EXPECT_EQ(event.source, "loyalty");
  EXPECT_EQ(event.occurred_at, absl::FromUnixSeconds(1900000000));
  ASSERT_TRUE(std::holds_alternative<v1::TierChanged>(event.payload));
  EXPECT_EQ(std::get<v1::TierChanged>(event.payload).new_tier_id(), "gold");
  EXPECT_EQ(EventToWire(event).SerializeAsString(), request.SerializeAsString());
  EXPECT_TRUE(std::holds_alternative<std::monostate>(EventFromWire(v1::IngestEventRequest()).payload));
}

}  // namespace
}  // namespace care::notification
