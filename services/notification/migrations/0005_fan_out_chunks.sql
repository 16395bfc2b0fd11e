-- A fan-out's audience in member-id ranges that replicas claim one at a
-- time with a lease, so several replicas share a large alert and another
-- resumes a crashed one's range once its lease ends. Each range keeps its
-- own cursor, written in the transaction that stores its members.
CREATE TABLE fan_out_chunks (
  schedule_id     TEXT    NOT NULL,
  chunk           INTEGER NOT NULL,
  lo              TEXT    NOT NULL,             -- members after lo ('' = from the first)
  hi              TEXT    NOT NULL,             -- through hi ('' = to the last)
  after_member_id TEXT    NOT NULL DEFAULT '',  -- last member whose deliveries are stored
  done            INTEGER NOT NULL DEFAULT 0,
  holder          TEXT    NOT NULL DEFAULT '',  -- the replica working on it
  lease_until     INTEGER NOT NULL DEFAULT 0,   -- wall clock, unix microseconds
  PRIMARY KEY (schedule_id, chunk)
);
