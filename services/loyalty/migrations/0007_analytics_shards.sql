-- Analytics rollups spread over rows (issue 22): each (day, tier) of
-- analytics_daily becomes up to 32 rows told apart by `shard`, each writer
-- thread adding to its own, summed on read. One row per (day, tier) made every
-- concurrent enrolment, purchase and ledger entry of the day wait for (on
-- PostgreSQL, conflict with) every other: some ran out of retries (ABORTED).
-- SQLite cannot change a primary key: the table is rebuilt, its rows as shard 0.
CREATE TABLE analytics_daily_sharded (
  day                 INTEGER NOT NULL,
  tier_id             TEXT    NOT NULL,  -- the member's tier when it happened
  shard               INTEGER NOT NULL DEFAULT 0,
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
  PRIMARY KEY (day, tier_id, shard)
);
INSERT INTO analytics_daily_sharded (day, tier_id, shard, members_delta, enrolled, erased, upgraded, downgraded, points_net, points_earned, points_bonus, points_visit, points_adjusted_in, points_adjusted_out, points_redeemed, points_reversed, points_expired, points_forfeited, purchases, purchase_amount, returned_amount, active_day, active_month, repeat_day, repeat_month)
  SELECT day, tier_id, 0, members_delta, enrolled, erased, upgraded, downgraded, points_net, points_earned, points_bonus, points_visit, points_adjusted_in, points_adjusted_out, points_redeemed, points_reversed, points_expired, points_forfeited, purchases, purchase_amount, returned_amount, active_day, active_month, repeat_day, repeat_month FROM analytics_daily;
DROP TABLE analytics_daily;
ALTER TABLE analytics_daily_sharded RENAME TO analytics_daily;
