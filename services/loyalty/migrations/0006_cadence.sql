-- Care cadence (care.loyalty.v1.CadenceRule): proactive check-ins, at most
-- once per member and rule per period.

-- When the cadence job looks at a member next: the earliest a rule could
-- reach them (a lower bound; a purchase does not touch it, the job finds
-- the rule not due and moves it). No row: no rule can reach the member
-- until their tier or segment changes or the rules do. One row per member,
-- written only for that member: no row every writer shares.
CREATE TABLE cadence_due (
  member_id  TEXT    PRIMARY KEY,
  due_at     INTEGER NOT NULL  -- unix micros
) WITHOUT ROWID;
CREATE INDEX cadence_due_at ON cadence_due (due_at);

-- What each member had from each rule: the once per period. A check-in is
-- recorded here in the transaction of its outbox event, by a conditional
-- upsert on this key.
CREATE TABLE cadence_contacts (
  member_id        TEXT    NOT NULL,
  rule_id          TEXT    NOT NULL,
  contacts         INTEGER NOT NULL,
  last_contact_at  INTEGER NOT NULL,  -- unix micros
  PRIMARY KEY (member_id, rule_id)
) WITHOUT ROWID;
