-- (same as ../0009_campaign_conversions.sql) Alert -> redemption conversion
-- (issue 22, item 8): members of a campaign alerted on a channel who then
-- redeemed it, counted as conversions happen (Delivery.convert_time is set
-- once), so GetCampaignDeliveryStats reads at most (channels x 16) rows.
-- `shard` (from the member id) keeps one campaign's concurrent conversions
-- from conflicting on one row under SERIALIZABLE; queries sum the shards.
-- No member is named here: erasure leaves the counts as they are.
CREATE TABLE campaign_conversions (
  campaign_id TEXT   NOT NULL,
  channel     BIGINT NOT NULL,
  shard       BIGINT NOT NULL,
  members     BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (campaign_id, channel, shard)
);
