-- Care cadence; the SQLite migrations/0006_cadence.sql says why.
CREATE TABLE cadence_due (
  member_id  TEXT   PRIMARY KEY,
  due_at     BIGINT NOT NULL
);
CREATE INDEX cadence_due_at ON cadence_due (due_at);

CREATE TABLE cadence_contacts (
  member_id        TEXT    NOT NULL,
  rule_id          TEXT    NOT NULL,
  contacts         INTEGER NOT NULL,
  last_contact_at  BIGINT  NOT NULL,
  PRIMARY KEY (member_id, rule_id)
);
