#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/jobs.h"
#include "common/sql.h"

namespace care {

// Leases coordinate replicas through rows (no advisory locks, no leader): a
// named lease is held by one holder until it expires, so work spreads over
// replicas and a dead replica's work is picked up once its lease runs out.
// A lease only avoids duplicate work: every write a job makes is still
// conditional on the state it changes, because a holder paused past its
// expiry may overlap the next one for a moment. Expiry is wall-clock time
// (coordination, not business time): replicas' clocks must agree to well
// within the lease's ttl, which NTP does.

// Claims `name` for `holder` until now + ttl when it is free, expired or
// already this holder's (a renewal). True when `holder` holds it now.
absl::StatusOr<bool> AcquireLease(Txn& txn, const std::string& name, const std::string& holder, absl::Time now,
                                  absl::Duration ttl);
// Gives `name` up if `holder` holds it, so another replica may take it at once.
absl::Status ReleaseLease(Txn& txn, const std::string& name, const std::string& holder);

// Makes `jobs` run each JobScope::kOneReplica job only while `holder` (this
// replica) holds its lease "job:<name>" in `db`. A lease lasts the job's interval
// plus `ttl`, so the holder keeps it from one run to the next (and renews it
// every third of that during a backlog); a dead holder's jobs move after at
// most that long, a stopped one's at once (Stop releases them).
void LeaseJobs(JobRunner& jobs, Database& db, const std::string& holder, absl::Duration ttl);

// This process among the replicas: --replica_id when set, otherwise
// <hostname>-<pid>-<random> (a restarted pod is a new holder).
const std::string& ReplicaId();
void SetReplicaId(std::string id);  // at start-up, before any lease is taken

}  // namespace care
