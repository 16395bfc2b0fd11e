-- The rewards catalogue (issue 22): body is the whole care.loyalty.v1.Reward
-- (its stock included: RedeemReward reads and writes it in the member's
-- transaction, one writer, so it never goes below 0).
CREATE TABLE rewards (
  reward_id  TEXT    PRIMARY KEY,
  archived   INTEGER NOT NULL DEFAULT 0,
  body       BLOB    NOT NULL
);

-- What members bought with points; body is a care.loyalty.v1.RewardRedemption.
-- seq is the member's REWARD ledger entry (newest first by it); member-owned
-- (erased with the member, docs/privacy.md).
CREATE TABLE reward_redemptions (
  redemption_id  TEXT    PRIMARY KEY,
  member_id      TEXT    NOT NULL,
  seq            INTEGER NOT NULL,
  body           BLOB    NOT NULL
);
CREATE UNIQUE INDEX reward_redemptions_member ON reward_redemptions (member_id, seq);
