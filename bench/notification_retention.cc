// notification_retention: whether notification's database stops growing
// under a steady load once retention deletes what is past its time.
//
// A population of --members receives one in-app message a day (a visit
// reward: an idempotency record, a delivery and an inbox message each)
// through the real NotificationService on a real store, on a manual clock
// moved a day at a time; after each day the jobs that delete run as in
// care_notification until they have nothing left: the common PurgeExpired
// (idempotency records, audit entries), the inbox feed's prune (its replay
// window) and, new with issue 21, NotificationService::RunRetention (inbox
// messages, deliveries). The same load runs twice in one process: with
// RunRetention, and without it (the baseline: the jobs there were before).
//
// Reported: the database size (Database::SizeBytes: pages plus WAL) every
// few days, and at the end as a ratio to the size after the first retention
// period (the longest one, --delivery_retention, plus a day).
//
// SQLite (the embedded default): the file keeps its pages once grown, and
// deleted rows' pages are reused, so its size is what a volume must hold.
//
//   notification_retention [--members=500] [--days=45] [--data_dir=DIR]
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/bench_database.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/privacy.h"
#include "common/proto_time.h"
#include "common/retention.h"
#include "services/notification/event_wire.h"
#include "services/notification/notification_service.h"
#include "services/notification/sql_notification_store.h"

namespace {

namespace v1 = care::notification::v1;

struct Load {
  int64_t members = 500;
  int64_t days = 45;
  absl::Duration in_app = absl::Hours(24 * 7);  // Settings.in_app.retention: hidden after
  absl::Duration inbox = absl::Hours(24);       // --inbox_retention: deleted after expiry
  absl::Duration deliveries = absl::Hours(24 * 14);
  absl::Duration idempotency = absl::Hours(24);
};

absl::Status Ingest(care::notification::NotificationService& service, const v1::IngestEventRequest& req) {
  const care::Once once{"svc:loyalty", "IngestEvent", req.event_id(), care::FingerprintOf(req)};
  return service.Ingest(once, care::notification::EventFromWire(req)).status();
}

absl::Status ShortInbox(care::notification::NotificationService& service, absl::Duration in_app) {
  v1::UpdateSettingsRequest update;
  update.set_request_id("bench-settings");
  *update.mutable_settings()->mutable_in_app()->mutable_retention() = care::ToDurationProto(in_app);
  update.mutable_update_mask()->add_paths("in_app.retention");
  const care::Once once{"bench", "UpdateSettings", update.request_id(), care::FingerprintOf(update)};
  return service.UpdateSettings(once, update.settings(), update.update_mask(), "bench").status();
}

// One day of load: a message to every member, delivered.
absl::Status OneDay(care::notification::NotificationService& service, const Load& load, int64_t day, absl::Time now) {
  for (int64_t i = 0; i < load.members; ++i) {
    const std::string member = absl::StrFormat("m%06d", i);
    v1::IngestEventRequest req;
    req.set_source("loyalty");
    *req.mutable_occurred_at() = care::ToTimestamp(now);
    if (day == 0) {
      req.set_event_id(absl::StrCat("profile-", member));
      req.mutable_member_profile_changed()->set_member_id(member);
      req.mutable_member_profile_changed()->set_name(absl::StrCat("Member ", i));
      req.mutable_member_profile_changed()->set_locale("en");
      if (absl::Status s = Ingest(service, req); !s.ok()) return s;
      req.clear_member_profile_changed();
    }
    req.set_event_id(absl::StrCat("visit-", member, "-", day));
    req.mutable_visit_reward_earned()->set_member_id(member);
    req.mutable_visit_reward_earned()->set_visit_count(static_cast<int32_t>((day + 1) * 10));
    req.mutable_visit_reward_earned()->set_reward("a free coffee at any of our stores");
    if (absl::Status s = Ingest(service, req); !s.ok()) return s;
  }
  while (service.RunDispatch()) {
  }
  return absl::OkStatus();
}

// Runs the load; returns the size at the end of each day.
absl::StatusOr<std::map<int64_t, int64_t>> Run(const std::string& path, const Load& load, bool retention) {
  auto db = care::bench::OpenBenchDatabase(care::bench::BenchDatabase{}, path, care::NotificationSchema());
  if (!db.ok()) return db.status();
  // Tombstones are keyed; the bench erases no one, any key will do.
  const care::SubjectDigests digests(std::vector<care::NamedKey>{{"bench", std::string(32, 'b')}});
  auto store = care::notification::NewSqlNotificationStore(**db, digests);
  // Noon UTC: every member's send window is open, nothing is deferred.
  care::ManualClock clock(absl::FromCivil(absl::CivilSecond(2031, 1, 15, 12, 0, 0), absl::UTCTimeZone()));
  care::SetRecordClock(&clock);  // idempotency records age on it, as in the binary
  care::notification::NotificationOptions options;
  options.inbox_retention = load.inbox;
  options.delivery_retention = load.deliveries;
  care::notification::NotificationService service(*store, clock, nullptr, options);
  if (absl::Status s = ShortInbox(service, load.in_app); !s.ok()) return s;
  care::RetentionOptions common;
  common.idempotency = load.idempotency;
  std::map<int64_t, int64_t> sizes;
  for (int64_t day = 0; day < load.days; ++day) {
    if (absl::Status s = OneDay(service, load, day, clock.Now()); !s.ok()) return s;
    clock.Advance(absl::Hours(24));
    while (retention && service.RunRetention()) {
    }
    while (service.RunInboxFeedPrune()) {
    }
    while (care::PurgeExpired(**db, clock.Now(), common)) {
    }
    auto size = (*db)->SizeBytes();
    if (!size.ok()) return size.status();
    sizes[day + 1] = *size;
  }
  care::SetRecordClock(nullptr);
  return sizes;
}

}  // namespace

int main(int argc, char** argv) {
  care::ConfigReader config(argc, argv, "notification_retention: database size under a steady load, with retention");
  Load load;
  load.members = config.Int("members", load.members, 1, 1000000, "members, one message each a day");
  load.days = config.Int("days", load.days, 20, 3650, "days of load");
  std::string dir = config.String("data_dir", "", "scratch directory (default: a new one under /tmp)");
  config.Finish();
  if (dir.empty()) dir = absl::StrCat(std::filesystem::temp_directory_path().string(), "/retention-", getpid());
  std::filesystem::create_directories(dir);

  auto with = Run(dir + "/with.db", load, true);
  if (!with.ok()) {
    std::fprintf(stderr, "with retention: %s\n", std::string(with.status().message()).c_str());
    return 1;
  }
  auto without = Run(dir + "/without.db", load, false);
  if (!without.ok()) {
    std::fprintf(stderr, "without retention: %s\n", std::string(without.status().message()).c_str());
    return 1;
  }
  const int64_t first = load.deliveries / absl::Hours(24) + 1;  // every kind has been purged once
  std::printf("day  with retention (MB)  without (MB)\n");
  for (const auto& [day, size] : *with) {
    if (day % 5 == 0 || day == first || day == load.days) {
      std::printf("%3lld  %19.2f  %12.2f\n", static_cast<long long>(day), static_cast<double>(size) / 1e6,
                  static_cast<double>(without->at(day)) / 1e6);
    }
  }
  const double ratio_with = static_cast<double>(with->at(load.days)) / static_cast<double>(with->at(first));
  const double ratio_without = static_cast<double>(without->at(load.days)) / static_cast<double>(without->at(first));
  std::printf("size at day %lld / size at day %lld: with retention %.2f, without %.2f\n",
              static_cast<long long>(load.days), static_cast<long long>(first), ratio_with, ratio_without);
  return 0;
}
