-- One row per process that readiness rewrites every few seconds
-- (common/ops_data.h): a read cannot tell a database that no longer takes
-- writes (a full volume, a read-only standby) from a healthy one.
CREATE TABLE write_probe (
  replica TEXT    NOT NULL PRIMARY KEY,  -- ReplicaId() of the writer
  at      INTEGER NOT NULL               -- unix micros, wall clock
);
