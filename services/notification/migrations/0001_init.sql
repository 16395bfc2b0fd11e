-- Notification schema. Times are unix microseconds (UTC). Full resources are
-- kept as serialized care.notification.v1 messages in `proto`; the columns
-- beside them are what queries filter, order and join on.

-- Durable, timed fan-outs: one per campaign (promotion alerts) or one per
-- proactive check-in. A cancellation for a campaign never seen is stored as a
-- CANCELLED row so a late alert cannot revive it.
CREATE TABLE schedules (
  schedule_id      TEXT    PRIMARY KEY,
  kind             INTEGER NOT NULL,          -- MessageKind
  campaign_id      TEXT    UNIQUE,            -- NULL for check-ins
  member_id        TEXT,                      -- check-ins only
  state            INTEGER NOT NULL,          -- ScheduleState
  campaign_version INTEGER NOT NULL DEFAULT 0,
  due_at           INTEGER NOT NULL,
  fan_out_at       INTEGER NOT NULL,
  -- Fan-out cursor: the last loyalty member_id whose deliveries are stored.
  -- Written in the same transaction as those deliveries, so a restart
  -- resumes after it (and the unique key below absorbs any overlap).
  after_member_id  TEXT    NOT NULL DEFAULT '',
  retry_at         INTEGER NOT NULL DEFAULT 0,  -- wall clock: backoff after a loyalty failure
  proto            BLOB    NOT NULL           -- care.notification.v1.Schedule
);
CREATE INDEX schedules_due ON schedules (state, fan_out_at);
CREATE INDEX schedules_list ON schedules (due_at, schedule_id);

-- One delivery per (member, message key, channel): the exactly-once key.
CREATE TABLE deliveries (
  seq                INTEGER PRIMARY KEY AUTOINCREMENT,
  delivery_id        TEXT    NOT NULL UNIQUE,
  member_id          TEXT    NOT NULL,
  message_key        TEXT    NOT NULL,
  channel            INTEGER NOT NULL,
  kind               INTEGER NOT NULL,
  category           INTEGER NOT NULL,
  schedule_id        TEXT    NOT NULL DEFAULT '',
  campaign_id        TEXT    NOT NULL DEFAULT '',
  complaint_id       TEXT    NOT NULL DEFAULT '',
  status             INTEGER NOT NULL,          -- DeliveryStatus
  suppression_reason INTEGER NOT NULL DEFAULT 0,
  send_after         INTEGER NOT NULL,          -- next time the dispatcher may try it
  create_at          INTEGER NOT NULL,
  proto              BLOB    NOT NULL,          -- care.notification.v1.Delivery
  UNIQUE (member_id, message_key, channel)
);
CREATE INDEX deliveries_due ON deliveries (send_after) WHERE status = 1;
CREATE INDEX deliveries_campaign ON deliveries (campaign_id, channel, status, suppression_reason);
CREATE INDEX deliveries_member ON deliveries (member_id, seq);

-- What this service knows of a member: loyalty's profile (from
-- MemberProfileChanged or the audience export) and the member's own
-- preferences.
CREATE TABLE members (
  member_id       TEXT    PRIMARY KEY,
  name            TEXT    NOT NULL DEFAULT '',
  email           TEXT    NOT NULL DEFAULT '',
  phone           TEXT    NOT NULL DEFAULT '',
  profile_locale  TEXT    NOT NULL DEFAULT '',
  profile_zone    TEXT    NOT NULL DEFAULT '',
  profile_at      INTEGER NOT NULL DEFAULT 0,   -- occurred_at of the profile held
  preferences     BLOB                          -- care.notification.v1.Preferences, NULL = defaults
);

-- Current marketing consent per (member, channel): newest effective time wins.
CREATE TABLE consents (
  member_id    TEXT    NOT NULL,
  channel      INTEGER NOT NULL,
  granted      INTEGER NOT NULL,
  effective_at INTEGER NOT NULL,
  PRIMARY KEY (member_id, channel)
);

-- Every consent change, append-only (data protection, seed 004).
CREATE TABLE consent_history (
  seq       INTEGER PRIMARY KEY AUTOINCREMENT,
  member_id TEXT    NOT NULL,
  channel   INTEGER NOT NULL,
  record_at INTEGER NOT NULL,
  proto     BLOB    NOT NULL                    -- care.notification.v1.ConsentRecord
);
CREATE INDEX consent_history_member ON consent_history (member_id, seq);

-- The IN_APP channel's store.
CREATE TABLE inbox (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id  TEXT    NOT NULL UNIQUE,
  member_id   TEXT    NOT NULL,
  delivery_id TEXT    NOT NULL UNIQUE,
  kind        INTEGER NOT NULL,
  created_at  INTEGER NOT NULL,
  expire_at   INTEGER NOT NULL,
  read_at     INTEGER,
  proto       BLOB    NOT NULL                  -- care.notification.v1.InboxMessage (read_time kept in read_at)
);
CREATE INDEX inbox_member ON inbox (member_id, seq);

-- Templates by (kind, template_key, channel, locale).
CREATE TABLE templates (
  kind         INTEGER NOT NULL,
  template_key TEXT    NOT NULL,
  channel      INTEGER NOT NULL,
  locale       TEXT    NOT NULL,
  version      INTEGER NOT NULL,
  proto        BLOB    NOT NULL,                -- care.notification.v1.Template
  PRIMARY KEY (kind, template_key, channel, locale)
);

-- Service-wide settings: one row.
CREATE TABLE settings (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  proto BLOB    NOT NULL                        -- care.notification.v1.Settings, secrets included
);
