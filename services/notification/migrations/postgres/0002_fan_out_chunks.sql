-- The fan-out's leased member-id ranges: see ../0005_fan_out_chunks.sql.
CREATE TABLE fan_out_chunks (
  schedule_id     TEXT   NOT NULL,
  chunk           BIGINT NOT NULL,
  lo              TEXT   NOT NULL,
  hi              TEXT   NOT NULL,
  after_member_id TEXT   NOT NULL DEFAULT '',
  done            BIGINT NOT NULL DEFAULT 0,
  holder          TEXT   NOT NULL DEFAULT '',
  lease_until     BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (schedule_id, chunk)
);
