-- Loyalty on PostgreSQL 15: the final shape of migrations/0001_init.sql
-- (SQLite) in one file, as a PostgreSQL database is always new. Same tables,
-- columns, UNIQUE constraints and indexes; INTEGER -> BIGINT (flags stay
-- 0/1 BIGINT, which the shared SQL compares with 0/1), BLOB -> BYTEA.
-- Member-owned tables are keyed by member_id first (the distribution key);
-- purchases keep the global order_id key the service relies on (an order is
-- recorded once, whoever it names). Times are unix microseconds (UTC).
-- Portable SQL only: no triggers, no PL/pgSQL, no advisory locks.

-- Every program version ever in force; body is a care.loyalty.v1.Program.
CREATE TABLE program_versions (
  version        BIGINT PRIMARY KEY,
  effective_at   BIGINT NOT NULL,
  superseded_at  BIGINT,
  body           BYTEA  NOT NULL
);
CREATE INDEX program_versions_effective ON program_versions (effective_at);

CREATE TABLE members (
  member_id            TEXT   PRIMARY KEY,
  name                 TEXT   NOT NULL,
  email                TEXT   NOT NULL DEFAULT '',
  email_lc             TEXT   NOT NULL DEFAULT '',  -- for case-insensitive lookups
  phone                TEXT   NOT NULL DEFAULT '',
  locale               TEXT   NOT NULL DEFAULT '',
  time_zone            TEXT   NOT NULL DEFAULT '',
  birth_year           BIGINT NOT NULL DEFAULT 0,
  birth_month          BIGINT NOT NULL DEFAULT 0,   -- 0: no birthday given
  birth_day            BIGINT NOT NULL DEFAULT 0,
  segment              TEXT   NOT NULL,
  gender               BIGINT NOT NULL DEFAULT 0,
  age_band             BIGINT NOT NULL DEFAULT 0,
  occupation           TEXT   NOT NULL DEFAULT '',
  consents             TEXT   NOT NULL DEFAULT '',  -- "channel:granted:micros;..."
  consent_mask         BIGINT NOT NULL DEFAULT 0,   -- bit per channel with consent granted
  tier_id              TEXT   NOT NULL,
  tier_in_grace        BIGINT NOT NULL DEFAULT 0,
  tier_achieved_at     BIGINT NOT NULL,
  tier_review_at       BIGINT,
  tier_grace_end_at    BIGINT,
  tier_due_at          BIGINT,                      -- review or grace end: when the tier job looks
  tier_version         BIGINT NOT NULL,
  tier_program_version BIGINT NOT NULL,
  tier_snapshot_at     BIGINT NOT NULL,
  points_balance       BIGINT NOT NULL DEFAULT 0 CHECK (points_balance >= 0),
  ledger_seq           BIGINT NOT NULL DEFAULT 0,   -- the member's ledger counter (commit order)
  visit_count          BIGINT NOT NULL DEFAULT 0,
  visits_since_reward  BIGINT NOT NULL DEFAULT 0,
  last_visit_at        BIGINT,
  lifetime_spend       BIGINT NOT NULL DEFAULT 0,
  create_time          BIGINT NOT NULL,
  update_time          BIGINT NOT NULL,
  version              BIGINT NOT NULL,
  next_birthday_at     BIGINT,
  birthday_bonus_year  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX members_tier ON members (tier_id, member_id);
CREATE INDEX members_email ON members (email_lc) WHERE email_lc != '';
CREATE INDEX members_phone ON members (phone) WHERE phone != '';
CREATE INDEX members_tier_due ON members (tier_due_at) WHERE tier_due_at IS NOT NULL;
CREATE INDEX members_birthday ON members (next_birthday_at) WHERE next_birthday_at IS NOT NULL;

-- Recorded orders: the base of qualifying spend and of return reversals.
CREATE TABLE purchases (
  order_id         TEXT   PRIMARY KEY,
  member_id        TEXT   NOT NULL,
  amount           BIGINT NOT NULL,
  purchase_at      BIGINT NOT NULL,
  returned         BIGINT NOT NULL DEFAULT 0,
  earn_seq         BIGINT NOT NULL,
  points_earned    BIGINT NOT NULL,
  rounding         BIGINT NOT NULL,
  points_reversed  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX purchases_member_time ON purchases (member_id, purchase_at);

-- One row per member and local day with a counted visit.
CREATE TABLE visits (
  member_id  TEXT   NOT NULL,
  day        BIGINT NOT NULL,
  PRIMARY KEY (member_id, day)
);

-- The ledger; body is the whole care.loyalty.v1.LedgerEntry.
CREATE TABLE ledger (
  member_id      TEXT   NOT NULL,
  seq            BIGINT NOT NULL,
  kind           BIGINT NOT NULL,
  delta          BIGINT NOT NULL,
  balance_after  BIGINT NOT NULL CHECK (balance_after >= 0),
  create_time    BIGINT NOT NULL,
  order_id       TEXT,
  body           BYTEA  NOT NULL,
  PRIMARY KEY (member_id, seq)
);

-- What is left of each positive entry; a balance is the sum of its lots.
CREATE TABLE lots (
  member_id  TEXT   NOT NULL,
  seq        BIGINT NOT NULL,
  expire_at  BIGINT,
  remaining  BIGINT NOT NULL CHECK (remaining >= 0),
  warned     BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (member_id, seq)
);
CREATE INDEX lots_expiry ON lots (expire_at) WHERE remaining > 0 AND expire_at IS NOT NULL;
CREATE INDEX lots_warning ON lots (expire_at) WHERE remaining > 0 AND warned = 0 AND expire_at IS NOT NULL;

CREATE TABLE expiry_warnings (
  member_id  TEXT   NOT NULL,
  expire_at  BIGINT NOT NULL,
  PRIMARY KEY (member_id, expire_at)
);

-- Tier snapshots that may not have reached Redis yet (written with the
-- change, cleared once the cache holds them).
CREATE TABLE tier_cache_dirty (
  member_id  TEXT   PRIMARY KEY,
  version    BIGINT NOT NULL
);

CREATE TABLE job_state (
  name   TEXT PRIMARY KEY,
  value  TEXT NOT NULL
);
