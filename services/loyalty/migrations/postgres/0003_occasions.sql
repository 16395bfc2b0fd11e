-- Occasions; the SQLite migrations/0003_occasions.sql says why.
ALTER TABLE members ADD COLUMN next_anniversary_at BIGINT;
UPDATE members SET next_anniversary_at = create_time + 363 * 86400000000;
CREATE INDEX members_anniversary ON members (next_anniversary_at) WHERE next_anniversary_at IS NOT NULL;
CREATE INDEX members_zone ON members (time_zone, member_id);

CREATE TABLE occasion_grants (
  occasion_id  TEXT    NOT NULL,
  occurrence   INTEGER NOT NULL,
  member_id    TEXT    NOT NULL,
  grant_time   BIGINT  NOT NULL,
  PRIMARY KEY (occasion_id, occurrence, member_id)
);
CREATE INDEX occasion_grants_member ON occasion_grants (member_id);
