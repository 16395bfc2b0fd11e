-- Contacts and inquiries on PostgreSQL (the SQLite migrations/0006_contacts.sql;
-- issue 22 item 1): people without membership who
-- file tickets or are followed up as prospects, each in its contract form
-- (proto) with the columns lookups need: by address (linking a contact who
-- enrols), by member once linked, prospects by source.
CREATE TABLE contacts (
  contact_id      TEXT    PRIMARY KEY,
  email           TEXT    NOT NULL DEFAULT '',
  phone           TEXT    NOT NULL DEFAULT '',
  member_id       TEXT    NOT NULL DEFAULT '',
  prospect_source TEXT,                       -- NULL: not a prospect
  proto           BYTEA   NOT NULL
);
CREATE INDEX contacts_by_email ON contacts (email) WHERE email <> '';
CREATE INDEX contacts_by_phone ON contacts (phone) WHERE phone <> '';
CREATE INDEX contacts_prospects ON contacts (prospect_source, contact_id) WHERE prospect_source IS NOT NULL;
-- A ticket's filer when it is a contact, and its kind (1 complaint, 2
-- inquiry; 0 for tickets stored before, read as complaints), kept in the
-- metrics index so metrics by kind read no table row.
ALTER TABLE complaints ADD COLUMN contact_id TEXT NOT NULL DEFAULT '';
ALTER TABLE complaints ADD COLUMN kind BIGINT NOT NULL DEFAULT 0;
CREATE INDEX complaints_by_contact ON complaints (contact_id, receive_time) WHERE contact_id <> '';
DROP INDEX complaints_metrics;
CREATE INDEX complaints_metrics ON complaints (receive_time, channel, category, team_id, tier_id,
  first_response_seconds, resolution_seconds, first_response_breached, resolution_breached, reopened,
  survey_score, survey_sent, assignee_agent_id, consultation_seconds, kind);
