-- Occasions (care.loyalty.v1.Occasion): membership anniversaries and dated
-- gifts, each granted once per member and occurrence.

-- The local start of the member's next anniversary. Members enrolled before
-- this migration get an estimate two days early; the job computes the exact
-- local start and waits for it.
ALTER TABLE members ADD COLUMN next_anniversary_at INTEGER;
UPDATE members SET next_anniversary_at = create_time + 363 * 86400000000;
CREATE INDEX members_anniversary ON members (next_anniversary_at) WHERE next_anniversary_at IS NOT NULL;
-- Dated occasions walk the members of one time zone at a time.
CREATE INDEX members_zone ON members (time_zone, member_id);

-- Who got which occurrence (a year, or an anniversary number): the once.
CREATE TABLE occasion_grants (
  occasion_id  TEXT    NOT NULL,
  occurrence   INTEGER NOT NULL,
  member_id    TEXT    NOT NULL,
  grant_time   INTEGER NOT NULL,  -- unix micros
  PRIMARY KEY (occasion_id, occurrence, member_id)
) WITHOUT ROWID;
CREATE INDEX occasion_grants_member ON occasion_grants (member_id);
