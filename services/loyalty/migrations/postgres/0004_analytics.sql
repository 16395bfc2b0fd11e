-- Analytics rollups on PostgreSQL: the SQLite migrations/0004_analytics.sql
-- (GetLoyaltyAnalytics, issue 22): counters per local day of the program's
-- time zone and tier, added to in the transaction of every
-- ledger entry, tier change, enrolment, erasure, purchase and return, so a
-- query reads at most (days x tiers) rows however many members there are.
-- Day = days since 1970-01-01 in the program's zone at the time of the
-- change. Day -1 is the opening row: what the members held when this
-- migration ran (members per tier, their balances); no flows before it.
CREATE TABLE analytics_daily (
  day                 BIGINT NOT NULL,
  tier_id             TEXT    NOT NULL,  -- the member's tier when it happened
  members_delta       BIGINT NOT NULL DEFAULT 0,  -- +enrolled +moved in -moved out -erased
  enrolled            BIGINT NOT NULL DEFAULT 0,
  erased              BIGINT NOT NULL DEFAULT 0,
  upgraded            BIGINT NOT NULL DEFAULT 0,  -- moved into this tier from a lower one
  downgraded          BIGINT NOT NULL DEFAULT 0,  -- moved into this tier from a higher one
  points_net          BIGINT NOT NULL DEFAULT 0,  -- signed sum of every entry
  points_earned       BIGINT NOT NULL DEFAULT 0,
  points_bonus        BIGINT NOT NULL DEFAULT 0,
  points_visit        BIGINT NOT NULL DEFAULT 0,
  points_adjusted_in  BIGINT NOT NULL DEFAULT 0,
  points_adjusted_out BIGINT NOT NULL DEFAULT 0,
  points_redeemed     BIGINT NOT NULL DEFAULT 0,
  points_reversed     BIGINT NOT NULL DEFAULT 0,
  points_expired      BIGINT NOT NULL DEFAULT 0,
  points_forfeited    BIGINT NOT NULL DEFAULT 0,
  purchases           BIGINT NOT NULL DEFAULT 0,
  purchase_amount     BIGINT NOT NULL DEFAULT 0,
  returned_amount     BIGINT NOT NULL DEFAULT 0,
  active_day          BIGINT NOT NULL DEFAULT 0,  -- members' first purchase of the day
  active_month        BIGINT NOT NULL DEFAULT 0,  -- members' first purchase of the month
  repeat_day          BIGINT NOT NULL DEFAULT 0,  -- members' second purchase of the day
  repeat_month        BIGINT NOT NULL DEFAULT 0,  -- members' second purchase of the month
  PRIMARY KEY (day, tier_id)
);
INSERT INTO analytics_daily (day, tier_id, members_delta, points_net)
  SELECT -1, tier_id, COUNT(*), SUM(points_balance) FROM members GROUP BY tier_id;

-- A member's purchases in the current local day and month (program zone):
-- what makes a purchase the member's first or second of the period.
ALTER TABLE members ADD COLUMN activity_day BIGINT NOT NULL DEFAULT -1;
ALTER TABLE members ADD COLUMN activity_day_purchases BIGINT NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN activity_month BIGINT NOT NULL DEFAULT -1;
ALTER TABLE members ADD COLUMN activity_month_purchases BIGINT NOT NULL DEFAULT 0;
