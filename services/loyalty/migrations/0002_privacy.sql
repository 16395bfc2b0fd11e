-- Erasures started here (ErasePerson, docs/privacy.md). The row names no
-- one: body is a care.loyalty.v1.Erasure (id, reason, who asked, each
-- service's part), never the subject.
CREATE TABLE erasures (
  erasure_id   TEXT    PRIMARY KEY,
  create_time  INTEGER NOT NULL,  -- unix micros
  body         BLOB    NOT NULL
);
