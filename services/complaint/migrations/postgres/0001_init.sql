-- The complaint schema for PostgreSQL 15: the final shape of the SQLite
-- migrations ../0001_init.sql and ../0002_queues.sql in one file (a
-- PostgreSQL database is always new). Times are unix microseconds in BIGINT,
-- enums BIGINT, flags 0/1 in SMALLINT, protos BYTEA, as in SQLite, so the
-- store's SQL is the same on both engines. Tables of one complaint have
-- complaint_id first in their primary key (the distribution key);
-- documents, scripts and survey_tokens are looked up by their own keys.

-- Complaints in their contract form (proto), with the columns that queries,
-- the SLA job and metrics need beside it.
CREATE TABLE complaints (
  complaint_id            TEXT     PRIMARY KEY,
  member_id               TEXT     NOT NULL,
  order_id                TEXT     NOT NULL,
  category                BIGINT   NOT NULL,
  channel                 BIGINT   NOT NULL,
  status                  BIGINT   NOT NULL,
  tier_id                 TEXT     NOT NULL,
  team_id                 TEXT     NOT NULL,
  create_time             BIGINT   NOT NULL,
  sla_check_time          BIGINT,            -- when the SLA job must look next; NULL: nothing pending
  first_response_seconds  BIGINT,            -- business seconds, once known
  resolution_seconds      BIGINT,
  first_response_breached SMALLINT NOT NULL DEFAULT 0,
  resolution_breached     SMALLINT NOT NULL DEFAULT 0,
  reopened                SMALLINT NOT NULL DEFAULT 0,
  survey_score            BIGINT,
  proto                   BYTEA    NOT NULL,
  assignee_agent_id       TEXT     NOT NULL DEFAULT '',
  priority                BIGINT   NOT NULL DEFAULT 0,
  receive_time            BIGINT   NOT NULL DEFAULT 0,
  due_time                BIGINT,            -- NULL: no running clock
  breached                SMALLINT NOT NULL DEFAULT 0,
  calendar_id             TEXT     NOT NULL DEFAULT '',
  survey_sent             SMALLINT NOT NULL DEFAULT 0
);
CREATE INDEX complaints_by_order ON complaints (member_id, order_id, category);
CREATE INDEX complaints_by_sla ON complaints (sla_check_time) WHERE sla_check_time IS NOT NULL;
-- Metrics read only this index (an index-only scan on a vacuumed table).
CREATE INDEX complaints_metrics ON complaints (receive_time, channel, category, team_id, tier_id,
  first_response_seconds, resolution_seconds, first_response_breached, resolution_breached, reopened,
  survey_score, survey_sent);
CREATE INDEX complaints_by_receive ON complaints (receive_time, complaint_id);
CREATE INDEX complaints_by_member ON complaints (member_id, receive_time);
CREATE INDEX complaints_by_assignee ON complaints (assignee_agent_id, receive_time);
CREATE INDEX complaints_by_team ON complaints (team_id, receive_time);
CREATE INDEX complaints_by_calendar ON complaints (calendar_id) WHERE due_time IS NOT NULL;

-- The audit trail: every change, reply, note and escalation, in order.
CREATE TABLE complaint_events (
  complaint_id TEXT   NOT NULL,
  sequence     BIGINT NOT NULL,
  proto        BYTEA  NOT NULL,
  PRIMARY KEY (complaint_id, sequence)
);

-- Configuration documents (calendars, SLA policies, forbidden phrases per
-- locale, settings), each one proto by kind and id.
CREATE TABLE documents (
  kind  TEXT  NOT NULL,
  id    TEXT  NOT NULL,
  proto BYTEA NOT NULL,
  PRIMARY KEY (kind, id)
);

-- Survey tokens handed to the customer through the notification service;
-- the customer's answer comes with the token alone.
CREATE TABLE survey_tokens (
  token        TEXT PRIMARY KEY,
  complaint_id TEXT NOT NULL
);

-- Scripts per category and locale, every version kept.
CREATE TABLE scripts (
  category BIGINT NOT NULL,
  locale   TEXT   NOT NULL,
  version  BIGINT NOT NULL,
  proto    BYTEA  NOT NULL,
  PRIMARY KEY (category, locale, version)
);
