-- Alert -> redemption conversion (issue 22, item 8): members of a campaign
-- alerted on a channel who then redeemed it, counted as conversions happen
-- (CampaignRedeemed marks the member's delivery, Delivery.convert_time, once)
-- so GetCampaignDeliveryStats reads at most (channels x 16) rows however
-- many members converted. `shard` (from the member id) spreads one
-- campaign's concurrent conversions over rows, so they do not all wait on
-- (on PostgreSQL, conflict with) one; queries sum the shards. No member is
-- named here: erasure leaves the counts as they are.
CREATE TABLE campaign_conversions (
  campaign_id TEXT    NOT NULL,
  channel     INTEGER NOT NULL,
  shard       INTEGER NOT NULL,
  members     INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (campaign_id, channel, shard)
);
