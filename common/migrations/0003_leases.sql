-- Named leases that coordinate replicas (common/lease.h): who holds a job
-- or a share of work, until when. On SQLite one process owns the file, so
-- leases are taken only where several replicas share a database; the table
-- exists on both engines so the same code and tests run on each.
CREATE TABLE leases (
  name       TEXT    NOT NULL PRIMARY KEY,  -- "job:loyalty.expire_points", ...
  holder     TEXT    NOT NULL,              -- ReplicaId() of the holder
  expires_at INTEGER NOT NULL               -- unix micros, wall clock
);
