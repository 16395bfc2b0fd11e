-- Who each stored answer and outbox event is about (common/privacy.h), so an
-- erasure finds and deletes them; '' = nobody (and every row from before).
ALTER TABLE idempotency_records ADD COLUMN subject TEXT NOT NULL DEFAULT '';
CREATE INDEX idempotency_records_subject ON idempotency_records (subject) WHERE subject <> '';
ALTER TABLE outbox ADD COLUMN subject TEXT NOT NULL DEFAULT '';
-- 1: the payload is blanked once delivered (an erasure request names the
-- person it erases; it must travel, not stay).
ALTER TABLE outbox ADD COLUMN scrub_when_delivered INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_subject ON outbox (subject) WHERE subject <> '';
-- People erased here, as the SHA-256 of each subject key: a later event for
-- them is refused instead of re-creating them, and the digest names no one
-- to a reader who does not already know the key.
CREATE TABLE erased_subjects (
  digest    TEXT    NOT NULL PRIMARY KEY,
  erased_at INTEGER NOT NULL  -- unix micros, RecordClock
);
