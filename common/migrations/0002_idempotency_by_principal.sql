-- Issue 16, defect 4: first answers filed by (owner, scope, key), owner the
-- principal whose request id or event id it is ('' for natural keys such as
-- an order id, shared by every caller), fingerprinted with SHA-256, and
-- purged after --idempotency_retention (natural keys are kept for good).
CREATE TABLE idempotency_records (
  owner        TEXT    NOT NULL,  -- principal name; '' = shared natural key
  scope        TEXT    NOT NULL,  -- usually the method name
  key          TEXT    NOT NULL,  -- request id, event id or natural key
  request_sha256 BLOB,            -- SHA-256 of the request; NULL on pre-upgrade rows
  legacy_hash  INTEGER,           -- pre-upgrade rows only: their 64-bit FNV fingerprint
  response     BLOB    NOT NULL,
  created_at   INTEGER NOT NULL,  -- unix micros, RecordClock
  PRIMARY KEY (owner, scope, key)
);
-- What the retention purge walks: principal-owned rows by age.
CREATE INDEX idempotency_records_age ON idempotency_records (created_at) WHERE owner != '';

-- Pre-upgrade rows do not say whose they were: they move to the shared
-- namespace and stay readable, so a retry of a request made before the
-- upgrade is answered, not applied twice (see Replay). They are kept like
-- natural keys (some are natural keys); no new ones are written.
INSERT INTO idempotency_records (owner, scope, key, request_sha256, legacy_hash, response, created_at)
  SELECT '', scope, key, NULL, request_hash, response, created_at FROM idempotency;
DROP TABLE idempotency;

-- What the retention purge walks: delivered events by age (pending and dead
-- ones are never purged).
CREATE INDEX outbox_delivered_age ON outbox (delivered_at) WHERE delivered_at IS NOT NULL AND dead = 0;
