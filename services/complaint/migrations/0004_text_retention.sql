-- Retention of a closed ticket's free texts (--closed_complaint_text_retention,
-- docs/privacy.md). close_time: when the ticket became CLOSED (unix
-- microseconds; NULL while it is not: CLOSED is terminal). texts_removed_time:
-- when its texts were blanked (NULL: kept), so the job never takes it again.
ALTER TABLE complaints ADD COLUMN close_time INTEGER;
ALTER TABLE complaints ADD COLUMN texts_removed_time INTEGER;
-- Backfill of tickets already CLOSED: their exact closing time is inside the
-- proto, which SQL cannot read, so they are dated by their creation (a ticket
-- closes after it is filed: never later than the truth). The job reads the
-- exact time from the ticket (close_time, else its last change) before it
-- removes anything, and re-dates a ticket that is not due yet.
UPDATE complaints SET close_time = create_time WHERE status = 6;
-- What the job walks: closed tickets with their texts, by closing time.
CREATE INDEX complaints_texts_kept ON complaints (close_time)
  WHERE close_time IS NOT NULL AND texts_removed_time IS NULL;
