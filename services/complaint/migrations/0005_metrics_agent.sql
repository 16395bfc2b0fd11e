-- Per-agent metrics and consultation time (GetComplaintMetrics, issue 22):
-- the metrics index covers the assignee and the complaint's total
-- consultation time too, so grouping by agent still reads no table row.
-- Complaints stored before this migration count no consultation time (it
-- lives only in their proto); the next write of each fills it in.
ALTER TABLE complaints ADD COLUMN consultation_seconds INTEGER NOT NULL DEFAULT 0;
DROP INDEX complaints_metrics;
CREATE INDEX complaints_metrics ON complaints (receive_time, channel, category, team_id, tier_id,
  first_response_seconds, resolution_seconds, first_response_breached, resolution_breached, reopened,
  survey_score, survey_sent, assignee_agent_id, consultation_seconds);
