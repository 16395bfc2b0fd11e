#include "common/lease.h"

#include <unistd.h>

#include <map>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/random.h"

namespace care {

absl::StatusOr<bool> AcquireLease(Txn& txn, const std::string& name, const std::string& holder, absl::Time now,
                                  absl::Duration ttl) {
  // One statement on both engines: insert, or take over only when the lease
  // is this holder's or has expired. No row changed = someone else holds it.
  auto stmt = txn.Exec(
      "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
      "WHERE leases.holder = excluded.holder OR leases.expires_at <= ?4",
      name, holder, absl::ToUnixMicros(now + ttl), absl::ToUnixMicros(now));
  if (!stmt.ok()) return stmt.status();
  return *stmt > 0;
}

absl::Status ReleaseLease(Txn& txn, const std::string& name, const std::string& holder) {
  return txn.Exec("DELETE FROM leases WHERE name = ?1 AND holder = ?2", name, holder).status();
}

void LeaseJobs(JobRunner& jobs, Database& db, const std::string& holder, absl::Duration ttl) {
  // When each job renews next; the gate runs on the job thread only.
  auto renew_at = std::make_shared<std::map<std::string, absl::Time>>();
  jobs.SetGate(
      [&db, holder, ttl, renew_at](const std::string& job, absl::Duration interval) {
        absl::Time now = absl::Now();
        auto it = renew_at->find(job);
        if (it != renew_at->end() && now < it->second) return true;
        absl::Duration lease = interval + ttl;
        bool mine = false;
        absl::Status s = db.Write([&](Txn& txn) -> absl::Status {
          auto held = AcquireLease(txn, absl::StrCat("job:", job), holder, now, lease);
          if (!held.ok()) return held.status();
          mine = *held;
          return absl::OkStatus();
        });
        if (!s.ok()) LogJobFailure(job, s);
        if (s.ok() && mine) {
          (*renew_at)[job] = now + lease / 3;
        } else {
          renew_at->erase(job);
        }
        return s.ok() && mine;
      },
      [&db, holder, renew_at](const std::string& job) {
        renew_at->erase(job);
        absl::Status s = db.Write([&](Txn& txn) { return ReleaseLease(txn, absl::StrCat("job:", job), holder); });
        if (!s.ok()) LogJobFailure(job, s);
      });
}

namespace {
std::mutex& ReplicaMutex() {
  static std::mutex mu;
  return mu;
}
std::string& ReplicaSlot() {
  static std::string id;
  return id;
}
}  // namespace

const std::string& ReplicaId() {
  std::lock_guard lock(ReplicaMutex());
  std::string& id = ReplicaSlot();
  if (id.empty()) {
    char host[256] = {};
    if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
    id = absl::StrCat(host[0] != '\0' ? host : "replica", "-", getpid(), "-", RandomToken(6, kLowerHex));
  }
  return id;
}

void SetReplicaId(std::string id) {
  std::lock_guard lock(ReplicaMutex());
  ReplicaSlot() = std::move(id);
}

}  // namespace care
