-- Complaints in their contract form (proto), with the columns that queries,
-- the SLA job and metrics need beside it.
CREATE TABLE complaints (
  complaint_id TEXT PRIMARY KEY,
  member_id TEXT NOT NULL,
  order_id TEXT NOT NULL,
  category INTEGER NOT NULL,
  channel INTEGER NOT NULL,
  status INTEGER NOT NULL,
  tier_id TEXT NOT NULL,
  team_id TEXT NOT NULL,
  create_time INTEGER NOT NULL,          -- unix microseconds
  sla_check_time INTEGER,                -- when the SLA job must look next; NULL: nothing pending
  first_response_seconds INTEGER,        -- business seconds, once known
  resolution_seconds INTEGER,
  first_response_breached INTEGER NOT NULL DEFAULT 0,
  resolution_breached INTEGER NOT NULL DEFAULT 0,
  reopened INTEGER NOT NULL DEFAULT 0,
  survey_score INTEGER,
  proto BLOB NOT NULL
);
CREATE INDEX complaints_by_order ON complaints (member_id, order_id, category);
CREATE INDEX complaints_by_sla ON complaints (sla_check_time) WHERE sla_check_time IS NOT NULL;
CREATE INDEX complaints_by_create ON complaints (create_time);

-- The audit trail: every change, reply, note and escalation, in order.
CREATE TABLE complaint_events (
  complaint_id TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  proto BLOB NOT NULL,
  PRIMARY KEY (complaint_id, sequence)
);

-- Configuration documents (calendars, SLA policies, forbidden phrases per
-- locale, settings), each one proto by kind and id.
CREATE TABLE documents (
  kind TEXT NOT NULL,
  id TEXT NOT NULL,
  proto BLOB NOT NULL,
  PRIMARY KEY (kind, id)
);

-- Survey tokens handed to the customer through the notification service.
CREATE TABLE survey_tokens (
  token TEXT PRIMARY KEY,
  complaint_id TEXT NOT NULL
);
