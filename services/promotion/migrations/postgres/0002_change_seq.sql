-- The campaign change sequence that keeps every replica's quote index
-- current: each campaign write bumps the one counter row and stamps the
-- campaign with the new value. Writers of the row are serialized (a
-- SERIALIZABLE write that loses it runs again), so the stamps commit in
-- order: a reader that sees counter N also sees every campaign stamped up
-- to N, and reloads only those stamped after what it last saw.
CREATE TABLE campaign_change_seq (
  id  INTEGER PRIMARY KEY CHECK (id = 1),
  seq BIGINT  NOT NULL
);
INSERT INTO campaign_change_seq (id, seq) VALUES (1, 0);
ALTER TABLE campaigns ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX campaigns_change_seq ON campaigns (change_seq);
