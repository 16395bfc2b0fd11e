-- Named leases that coordinate replicas (common/lease.h): who holds a job
-- or a share of work, until when. Same shape as common/migrations/0003.
CREATE TABLE leases (
  name       TEXT   NOT NULL PRIMARY KEY,  -- "job:loyalty.expire_points", ...
  holder     TEXT   NOT NULL,              -- ReplicaId() of the holder
  expires_at BIGINT NOT NULL               -- unix micros, wall clock
);
