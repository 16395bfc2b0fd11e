-- Columns for the work queues (ListComplaints): who holds a ticket, its
-- priority, when the customer contacted us, and the earliest running SLA due
-- time; the calendar its clocks count in (re-timed when the calendar changes).
-- Metrics count complaints by receive_time.
ALTER TABLE complaints ADD COLUMN assignee_agent_id TEXT NOT NULL DEFAULT '';
ALTER TABLE complaints ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE complaints ADD COLUMN receive_time INTEGER NOT NULL DEFAULT 0;   -- unix microseconds
ALTER TABLE complaints ADD COLUMN due_time INTEGER;                          -- NULL: no running clock
ALTER TABLE complaints ADD COLUMN breached INTEGER NOT NULL DEFAULT 0;
ALTER TABLE complaints ADD COLUMN calendar_id TEXT NOT NULL DEFAULT '';
ALTER TABLE complaints ADD COLUMN survey_sent INTEGER NOT NULL DEFAULT 0;
UPDATE complaints SET receive_time = create_time;
-- Metrics read only this index (a covering index: no table row is touched).
DROP INDEX complaints_by_create;
CREATE INDEX complaints_metrics ON complaints (receive_time, channel, category, team_id, tier_id,
  first_response_seconds, resolution_seconds, first_response_breached, resolution_breached, reopened,
  survey_score, survey_sent);
CREATE INDEX complaints_by_receive ON complaints (receive_time, complaint_id);
CREATE INDEX complaints_by_member ON complaints (member_id, receive_time);
CREATE INDEX complaints_by_assignee ON complaints (assignee_agent_id, receive_time);
CREATE INDEX complaints_by_team ON complaints (team_id, receive_time);
CREATE INDEX complaints_by_calendar ON complaints (calendar_id) WHERE due_time IS NOT NULL;

-- Scripts per category and locale, every version kept.
CREATE TABLE scripts (
  category INTEGER NOT NULL,
  locale TEXT NOT NULL,
  version INTEGER NOT NULL,
  proto BLOB NOT NULL,
  PRIMARY KEY (category, locale, version)
);
