// The metrics rollup job (`complaint.metrics_rollup`) and the metrics read
// that uses its rows. A ticket's write marks its receive day dirty
// (StoreTxn::PutComplaint); the job takes the dirty days oldest first and,
// per day in one transaction, reads the day's metric rows, replaces the
// day's rollup rows (one per full group key, with every time value) and
// deletes the markers it read, not one added since. Months that ended are
// then rolled up from their days. GetComplaintMetrics reads month and day
// rows where they are exact (no marker) and the raw rows everywhere else,
// so its answer is the raw computation's whatever the state of the queue.
// The rows are written only here, off the write path: a row every ticket
// write updated would make concurrent writes conflict on PostgreSQL.

#include <future>
#include <limits>
#include <set>

#include "common/jobs.h"
#include "common/log.h"
#include "common/proto_time.h"
#include "services/complaint/complaint_service.h"
#include "services/complaint/desk_metrics.h"
#include "services/complaint/service_internal.h"

namespace care::complaint {
namespace {

constexpr char kRollupJob[] = "complaint.metrics_rollup";
// Days per run, each its own transaction; a backlog runs again at once.
constexpr int kRollupDays = 16;
constexpr int64_t kAllDaysFrom = -1000000000, kAllDaysTo = 1000000000;

// The intervals cut into `n` slices of about equal duration.
std::vector<std::vector<std::pair<absl::Time, absl::Time>>> Slices(
    const std::vector<std::pair<absl::Time, absl::Time>>& raw, int n) {
  absl::Duration total;
  for (const auto& [a, b] : raw) total += b - a;
  std::vector<std::vector<std::pair<absl::Time, absl::Time>>> out(static_cast<size_t>(n));
  const absl::Duration share = total / n;
  absl::Duration taken;
  size_t slice = 0;
  for (auto [a, b] : raw) {
    while (slice + 1 < out.size() && taken + (b - a) > share * static_cast<int64_t>(slice + 1)) {
      const absl::Time cut = a + (share * static_cast<int64_t>(slice + 1) - taken);
      if (cut > a) out[slice].emplace_back(a, cut);
      taken += cut - a;
      a = cut;
      ++slice;
    }
    if (b > a) out[slice].emplace_back(a, b);
    taken += b - a;
  }
  return out;
}

}  // namespace

absl::Status ComplaintService::RollUpDay(int64_t day) {
  return store_.Write([&](StoreTxn& tx) -> absl::Status {
    auto markers = tx.DayMarkers(day);
    if (!markers.ok()) return markers.status();
    if (markers->empty()) return absl::OkStatus();  // another replica's run took it
    auto rows = tx.MetricRows(DayStart(day), DayStart(day + 1));
    if (!rows.ok()) return rows.status();
    if (absl::Status s = tx.PutDayRollups(day, MonthOf(day), RollUp(*rows)); !s.ok()) return s;
    return tx.DeleteMarkers(day, *markers);
  });
}

absl::Status ComplaintService::RollUpMonth(int64_t month) {
  return store_.Write([&](StoreTxn& tx) -> absl::Status {
    const int64_t next = NextMonth(month);
    // A dirty day: its day rows are not current; the month waits for it.
    auto dirty = tx.DirtyDays(month, next, 1);
    if (!dirty.ok()) return dirty.status();
    if (!dirty->empty()) return absl::OkStatus();
    auto current = tx.CurrentMonths(month, month + 1);
    if (!current.ok()) return current.status();
    if (!current->empty()) return absl::OkStatus();
    auto days = tx.DayRollups(month, next);
    if (!days.ok()) return days.status();
    std::vector<MetricGroup> groups;
    groups.reserve(days->size());
    for (auto& [day, group] : *days) groups.push_back(std::move(group));
    return tx.PutMonthRollups(month, MergeGroups(groups));
  });
}

bool ComplaintService::RunMetricsRollup() {
  std::vector<int64_t> days;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    auto d = tx.DirtyDays(kAllDaysFrom, kAllDaysTo, kRollupDays + 1);
    if (!d.ok()) return d.status();
    days = *std::move(d);
    return absl::OkStatus();
  });
  const bool more = s.ok() && static_cast<int>(days.size()) > kRollupDays;
  if (more) days.pop_back();
  // The months of the days rolled up, and the last month (it may have ended
  // since its days were rolled up); only months that ended get rows.
  const int64_t today = DayNumber(Now());
  std::set<int64_t> months = {MonthOf(MonthOf(today) - 1)};
  for (int64_t day : days) {
    if (s.ok()) s = RollUpDay(day);
    months.insert(MonthOf(day));
  }
  for (int64_t month : months) {
    if (s.ok() && NextMonth(month) <= today) s = RollUpMonth(month);
  }
  if (!s.ok()) {
    LogJobFailure(kRollupJob, s);
    return false;
  }
  return more;
}

absl::StatusOr<std::vector<MetricGroup>> ComplaintService::RolledUpGroups(absl::Time from, absl::Time to,
                                                                          MetricsPlan& plan) {
  std::vector<MetricGroup> groups;
  absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
    groups.clear();
    const auto [first, end] = WholeDays(from, to);
    std::vector<int64_t> dirty, months;
    if (first < end) {
      auto d = tx.DirtyDays(first, end, std::numeric_limits<int>::max());
      if (!d.ok()) return d.status();
      dirty = *std::move(d);
      auto m = tx.CurrentMonths(first, end);
      if (!m.ok()) return m.status();
      months = *std::move(m);
    }
    plan = PlanMetricsRead(from, to, dirty, months);
    for (int64_t month : plan.months) {
      auto rows = tx.MonthRollups(month);
      if (!rows.ok()) return rows.status();
      for (MetricGroup& g : *rows) groups.push_back(std::move(g));
    }
    for (const auto& [a, b] : plan.day_spans) {
      auto rows = tx.DayRollups(a, b);
      if (!rows.ok()) return rows.status();
      for (auto& [day, g] : *rows) groups.push_back(std::move(g));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return groups;
}

absl::StatusOr<std::vector<std::vector<MetricRow>>> ComplaintService::RawMetricRows(
    const std::vector<std::pair<absl::Time, absl::Time>>& raw) {
  using Part = absl::StatusOr<std::vector<MetricRow>>;
  std::vector<std::future<Part>> parts;
  for (auto& slice : Slices(raw, kMetricSlices)) {
    if (slice.empty()) continue;
    auto task = std::make_shared<std::packaged_task<Part()>>([this, slice = std::move(slice)]() -> Part {
      std::vector<MetricRow> rows;
      absl::Status s = store_.Read([&](StoreTxn& tx) -> absl::Status {
        rows.clear();
        for (const auto& [a, b] : slice) {
          auto r = tx.MetricRows(a, b);
          if (!r.ok()) return r.status();
          if (rows.empty()) {
            rows = *std::move(r);
          } else {
            rows.insert(rows.end(), r->begin(), r->end());
          }
        }
        return absl::OkStatus();
      });
      if (!s.ok()) return s;
      return rows;
    });
    parts.push_back(task->get_future());
    // The queue holds every slice of the admitted computations; should it
    // refuse anyway (stopping), the slice runs here.
    if (!metrics_pool_->TrySubmit([task] { (*task)(); })) (*task)();
  }
  // Every slice ends before this call does (they use the slot it holds).
  for (auto& part : parts) part.wait();
  std::vector<std::vector<MetricRow>> slices;
  for (auto& part : parts) {
    auto r = part.get();
    if (!r.ok()) return r.status();
    slices.push_back(*std::move(r));
  }
  return slices;
}

}  // namespace care::complaint
