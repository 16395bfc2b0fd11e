-- SubscribeInbox's feed: one row per inbox change, in commit order. Written
-- by triggers so no code path can change the inbox without the feed seeing
-- it; `seq` is the subscriber's cursor. Rows older than the replay window
-- are pruned from the head.
CREATE TABLE inbox_events (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  type       INTEGER NOT NULL,                  -- InboxEventType
  message_id TEXT    NOT NULL,
  member_id  TEXT    NOT NULL,
  kind       INTEGER NOT NULL,
  at         INTEGER NOT NULL
);

CREATE TRIGGER inbox_created AFTER INSERT ON inbox BEGIN
  INSERT INTO inbox_events (type, message_id, member_id, kind, at)
  VALUES (1, NEW.message_id, NEW.member_id, NEW.kind, NEW.created_at);
END;

CREATE TRIGGER inbox_read AFTER UPDATE OF read_at ON inbox
WHEN OLD.read_at IS NULL AND NEW.read_at IS NOT NULL BEGIN
  INSERT INTO inbox_events (type, message_id, member_id, kind, at)
  VALUES (2, NEW.message_id, NEW.member_id, NEW.kind, NEW.read_at);
END;
