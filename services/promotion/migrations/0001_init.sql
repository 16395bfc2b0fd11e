-- Campaigns: every version kept; `campaigns` points at the current one.
-- Campaign bodies are the serialized care.promotion.v1.Campaign: the
-- contract already defines every field, and quotes need the whole message.
CREATE TABLE campaigns (
  campaign_id TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  state INTEGER NOT NULL,
  body BLOB NOT NULL
) STRICT;

CREATE TABLE campaign_versions (
  campaign_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  change INTEGER NOT NULL,
  body BLOB NOT NULL,
  PRIMARY KEY (campaign_id, version)
) STRICT;

-- One row per order: the redemption as returned (serialized Redemption) and
-- the digest of the quote token it was made with (idempotency by order_id).
CREATE TABLE redemptions (
  order_id TEXT PRIMARY KEY,
  token_digest TEXT NOT NULL,
  state INTEGER NOT NULL,
  body BLOB NOT NULL
) STRICT;

-- What live redemptions hold of each campaign's limits.
CREATE TABLE campaign_usage (
  campaign_id TEXT PRIMARY KEY,
  redemptions INTEGER NOT NULL DEFAULT 0,
  discount INTEGER NOT NULL DEFAULT 0,
  cancelled INTEGER NOT NULL DEFAULT 0,
  returned INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE customer_usage (
  campaign_id TEXT NOT NULL,
  customer_key TEXT NOT NULL,
  redemptions INTEGER NOT NULL,
  PRIMARY KEY (campaign_id, customer_key)
) STRICT;
