-- Erasures started here (ErasePerson, docs/privacy.md); the SQLite
-- migrations/0002_privacy.sql. The row names no one: body is a
-- care.loyalty.v1.Erasure, never the subject.
CREATE TABLE erasures (
  erasure_id   TEXT   PRIMARY KEY,
  create_time  BIGINT NOT NULL,
  body         BYTEA  NOT NULL
);
