-- The campaign change sequence that keeps every replica's quote index
-- current: each campaign write bumps the one counter row and stamps the
-- campaign with the new value, so a reader that sees counter N also sees
-- every campaign stamped up to N (the row serializes the writes), and
-- reloads only those stamped after what it last saw.
CREATE TABLE campaign_change_seq (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  seq INTEGER NOT NULL
) STRICT;
INSERT INTO campaign_change_seq (id, seq) VALUES (1, 0);
ALTER TABLE campaigns ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX campaigns_change_seq ON campaigns (change_seq);
