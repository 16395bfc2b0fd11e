-- Analytics rollups (GetLoyaltyAnalytics, issue 22): counters per local day
-- of the program's time zone and tier, added to in the transaction of every
-- ledger entry, tier change, enrolment, erasure, purchase and return, so a
-- query reads at most (days x tiers) rows however many members there are.
-- Day = days since 1970-01-01 in the program's zone at the time of the
-- change. Day -1 is the opening row: what the members held when this
-- migration ran (members per tier, their balances); no flows before it.
CREATE TABLE analytics_daily (
  day                 INTEGER NOT NULL,
  tier_id             TEXT    NOT NULL,  -- the member's tier when it happened
  members_delta       INTEGER NOT NULL DEFAULT 0,  -- +enrolled +moved in -moved out -erased
  enrolled            INTEGER NOT NULL DEFAULT 0,
  erased              INTEGER NOT NULL DEFAULT 0,
  upgraded            INTEGER NOT NULL DEFAULT 0,  -- moved into this tier from a lower one
  downgraded          INTEGER NOT NULL DEFAULT 0,  -- moved into this tier from a higher one
  points_net          INTEGER NOT NULL DEFAULT 0,  -- signed sum of every entry
  points_earned       INTEGER NOT NULL DEFAULT 0,
  points_bonus        INTEGER NOT NULL DEFAULT 0,
  points_visit        INTEGER NOT NULL DEFAULT 0,
  points_adjusted_in  INTEGER NOT NULL DEFAULT 0,
  points_adjusted_out INTEGER NOT NULL DEFAULT 0,
  points_redeemed     INTEGER NOT NULL DEFAULT 0,
  points_reversed     INTEGER NOT NULL DEFAULT 0,
  points_expired      INTEGER NOT NULL DEFAULT 0,
  points_forfeited    INTEGER NOT NULL DEFAULT 0,
  purchases           INTEGER NOT NULL DEFAULT 0,
  purchase_amount     INTEGER NOT NULL DEFAULT 0,
  returned_amount     INTEGER NOT NULL DEFAULT 0,
  active_day          INTEGER NOT NULL DEFAULT 0,  -- members' first purchase of the day
  active_month        INTEGER NOT NULL DEFAULT 0,  -- members' first purchase of the month
  repeat_day          INTEGER NOT NULL DEFAULT 0,  -- members' second purchase of the day
  repeat_month        INTEGER NOT NULL DEFAULT 0,  -- members' second purchase of the month
  PRIMARY KEY (day, tier_id)
);
INSERT INTO analytics_daily (day, tier_id, members_delta, points_net)
  SELECT -1, tier_id, COUNT(*), SUM(points_balance) FROM members GROUP BY tier_id;

-- A member's purchases in the current local day and month (program zone):
-- what makes a purchase the member's first or second of the period.
ALTER TABLE members ADD COLUMN activity_day INTEGER NOT NULL DEFAULT -1;
ALTER TABLE members ADD COLUMN activity_day_purchases INTEGER NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN activity_month INTEGER NOT NULL DEFAULT -1;
ALTER TABLE members ADD COLUMN activity_month_purchases INTEGER NOT NULL DEFAULT 0;
