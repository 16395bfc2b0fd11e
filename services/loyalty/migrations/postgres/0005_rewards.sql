-- The rewards catalogue (issue 22); the SQLite migrations/0005_rewards.sql.
CREATE TABLE rewards (
  reward_id  TEXT   PRIMARY KEY,
  archived   BIGINT NOT NULL DEFAULT 0,
  body       BYTEA  NOT NULL
);

CREATE TABLE reward_redemptions (
  redemption_id  TEXT   PRIMARY KEY,
  member_id      TEXT   NOT NULL,
  seq            BIGINT NOT NULL,
  body           BYTEA  NOT NULL
);
CREATE UNIQUE INDEX reward_redemptions_member ON reward_redemptions (member_id, seq);
