-- campaign_usage split by the customer's tier at quote time ('' = guest) and
-- by the campaign version quoted: the report's by_tier and by_version. Written
-- in the same transactions as campaign_usage; counts redemptions made since
-- this table exists.
CREATE TABLE campaign_usage_by (
  campaign_id TEXT NOT NULL,
  tier_id TEXT NOT NULL,
  campaign_version INTEGER NOT NULL,
  redemptions INTEGER NOT NULL DEFAULT 0,
  discount INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (campaign_id, tier_id, campaign_version)
) STRICT;
