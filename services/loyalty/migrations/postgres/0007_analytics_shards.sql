-- Analytics rollups spread over rows (issue 22): the SQLite
-- migrations/0007_analytics_shards.sql. Each (day, tier) of analytics_daily
-- becomes up to 32 rows told apart by `shard`, each writer thread adding to
-- its own, summed on read: one row per (day, tier) made every concurrent
-- enrolment, purchase and ledger entry of the day conflict with every other
-- under SERIALIZABLE, and some ran out of retries (ABORTED).
ALTER TABLE analytics_daily ADD COLUMN shard BIGINT NOT NULL DEFAULT 0;
ALTER TABLE analytics_daily DROP CONSTRAINT analytics_daily_pkey;
ALTER TABLE analytics_daily ADD PRIMARY KEY (day, tier_id, shard);
