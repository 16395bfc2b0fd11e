-- One row per replica that readiness rewrites every few seconds
-- (common/ops_data.h); same shape as common/migrations/0004.
CREATE TABLE write_probe (
  replica TEXT   NOT NULL PRIMARY KEY,  -- ReplicaId() of the writer
  at      BIGINT NOT NULL               -- unix micros, wall clock
);
