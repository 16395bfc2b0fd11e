-- Transactional outbox: events written in the same transaction as the state
-- change they announce, delivered by the relay in order per destination.
CREATE TABLE outbox (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id        TEXT    NOT NULL UNIQUE,  -- the receiver deduplicates on it
  destination     TEXT    NOT NULL,         -- "notification", "loyalty", ...
  method          TEXT    NOT NULL,         -- full gRPC method, "/pkg.Service/Method"
  payload         BLOB    NOT NULL,         -- serialized request message
  created_at      INTEGER NOT NULL,         -- unix micros
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,  -- unix micros, wall clock
  last_error      TEXT,
  delivered_at    INTEGER,
  dead            INTEGER NOT NULL DEFAULT 0   -- refused for good by the receiver
);
CREATE INDEX outbox_pending ON outbox (destination, seq) WHERE delivered_at IS NULL AND dead = 0;

-- First answers to mutations, by request id (AIP-155) or event id, so a
-- retry or a redelivered event gets the same answer and changes nothing.
CREATE TABLE idempotency (
  scope        TEXT    NOT NULL,  -- usually the method name
  key          TEXT    NOT NULL,  -- request id, event id or natural key
  request_hash INTEGER NOT NULL,  -- a reused key with another request is refused
  response     BLOB    NOT NULL,
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (scope, key)
);
