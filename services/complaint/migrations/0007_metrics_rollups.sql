-- Complaint metrics answered from rollups (issue 22 item 8, issue 19's
-- "< 1 s over 1,000,000 tickets"). metrics_dirty is the queue of what the
-- complaint.metrics_rollup job must roll up again: every write of a ticket
-- adds a marker keyed by the ticket's receive day (UTC day number: unix
-- seconds / 86400) and its id, a key no other ticket shares, so concurrent
-- writers never touch one row. complaint_id '' marks a whole day (the
-- backfill below).
CREATE TABLE metrics_dirty (
  day          INTEGER NOT NULL,
  complaint_id TEXT    NOT NULL,
  PRIMARY KEY (day, complaint_id)
);
-- The job's rollups: one row per day and full group key (channel, category,
-- team, tier, agent, kind), the group's counters and exact time values in
-- `rollup` (care.complaint.internal.MetricRollup). Written only by the job;
-- a day's rows are exact for a day with no marker.
CREATE TABLE metrics_rollup_days (
  day      INTEGER NOT NULL,
  channel  INTEGER NOT NULL,
  category INTEGER NOT NULL,
  team_id  TEXT    NOT NULL,
  tier_id  TEXT    NOT NULL,
  agent_id TEXT    NOT NULL,
  kind     INTEGER NOT NULL,
  rollup   BLOB    NOT NULL,
  PRIMARY KEY (day, channel, category, team_id, tier_id, agent_id, kind)
);
-- Months (`month` = the day number of its first day) aggregate their days'
-- rows, for months that ended; metrics_rollup_months_done lists the months
-- whose rows are current (a day rolled up again removes its month's entry).
CREATE TABLE metrics_rollup_months (
  month    INTEGER NOT NULL,
  channel  INTEGER NOT NULL,
  category INTEGER NOT NULL,
  team_id  TEXT    NOT NULL,
  tier_id  TEXT    NOT NULL,
  agent_id TEXT    NOT NULL,
  kind     INTEGER NOT NULL,
  rollup   BLOB    NOT NULL,
  PRIMARY KEY (month, channel, category, team_id, tier_id, agent_id, kind)
);
CREATE TABLE metrics_rollup_months_done (
  month INTEGER PRIMARY KEY
);
-- Backfill: every day that already has tickets is dirty once (one marker per
-- day, not per ticket), so the first runs of the job roll them all up.
INSERT INTO metrics_dirty (day, complaint_id)
SELECT DISTINCT (receive_time - (((receive_time % 86400000000) + 86400000000) % 86400000000)) / 86400000000, ''
FROM complaints;
