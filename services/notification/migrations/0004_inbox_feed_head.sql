-- The inbox feed's positions come from one counter row that every
-- transaction changing the inbox bumps (sql_notification_store.cc), so they
-- follow commit order on engines with concurrent writers too; the store
-- writes the feed rows itself, as it must where there are no triggers.
CREATE TABLE inbox_feed_head (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  last_seq INTEGER NOT NULL
);
INSERT INTO inbox_feed_head (id, last_seq)
VALUES (1, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'inbox_events'), 0));
DROP TRIGGER inbox_created;
DROP TRIGGER inbox_read;
