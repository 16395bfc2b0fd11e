-- Who changed or read personal data and settings, when and why (common/audit.h).
-- Written in the transaction of the change it records; deleted after
-- --audit_retention. No personal data beyond the target's id.
CREATE TABLE audit_log (
  id        INTEGER PRIMARY KEY,
  at        INTEGER NOT NULL,  -- unix micros, RecordClock
  principal TEXT    NOT NULL,
  action    TEXT    NOT NULL,  -- full gRPC method
  target    TEXT    NOT NULL,  -- "member:<id>", "template:<key>"...
  reason    TEXT    NOT NULL,
  detail    TEXT    NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_target ON audit_log (target, id);
