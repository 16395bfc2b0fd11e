-- Lists page newest-first by an explicit `seq` column instead of the
-- implicit rowid (which PostgreSQL does not have): each table is rebuilt
-- with `seq` as its INTEGER PRIMARY KEY, so seq IS the rowid (same storage,
-- same order, existing page tokens stay valid), and the natural key becomes
-- a UNIQUE constraint (the upserts' ON CONFLICT targets are unchanged).
CREATE TABLE campaigns_new (
  seq INTEGER PRIMARY KEY,
  campaign_id TEXT NOT NULL UNIQUE,
  version INTEGER NOT NULL,
  state INTEGER NOT NULL,
  body BLOB NOT NULL
) STRICT;
INSERT INTO campaigns_new (seq, campaign_id, version, state, body)
  SELECT rowid, campaign_id, version, state, body FROM campaigns;
DROP TABLE campaigns;
ALTER TABLE campaigns_new RENAME TO campaigns;

CREATE TABLE redemptions_new (
  seq INTEGER PRIMARY KEY,
  order_id TEXT NOT NULL UNIQUE,
  token_digest TEXT NOT NULL,
  state INTEGER NOT NULL,
  body BLOB NOT NULL
) STRICT;
INSERT INTO redemptions_new (seq, order_id, token_digest, state, body)
  SELECT rowid, order_id, token_digest, state, body FROM redemptions;
DROP TABLE redemptions;
ALTER TABLE redemptions_new RENAME TO redemptions;
-- Still not UNIQUE here: see 0005.
CREATE INDEX redemptions_token ON redemptions (token_digest);

CREATE TABLE vouchers_new (
  seq INTEGER PRIMARY KEY,
  code TEXT NOT NULL UNIQUE,
  kind INTEGER NOT NULL,
  campaign_id TEXT NOT NULL,
  member_id TEXT NOT NULL,
  batch_id TEXT NOT NULL,
  body BLOB NOT NULL
) STRICT;
INSERT INTO vouchers_new (seq, code, kind, campaign_id, member_id, batch_id, body)
  SELECT rowid, code, kind, campaign_id, member_id, batch_id, body FROM vouchers;
DROP TABLE vouchers;
ALTER TABLE vouchers_new RENAME TO vouchers;
CREATE INDEX vouchers_campaign ON vouchers (campaign_id, batch_id);
CREATE INDEX vouchers_member ON vouchers (member_id);
